//! The post phase: the full lead to the best bid, then down the ranking on rejection, error or
//! timeout (and, for a shared lead, on acceptance too, until it has its sales), one buyer at a
//! time, within the total budget. Each sale's price is cut into the publisher's payout and the
//! broker's margin. A buyer posted to from a tie of equal bids has had its turn in the round
//! robin. The order comes from
//! [`Cascade`], the price from [`pricing`](super::pricing); this file does the I/O. Before a
//! post the buyer's caps are reserved (a buyer whose cap filled during the auction is skipped)
//! and the post's intent is journaled (when there is a journal: if that write fails, no more
//! posts are sent); a sale commits the reservation, anything else releases it.

use std::sync::Arc;

use tokio::time::{Instant, timeout};

use super::cascade::{Cascade, MIN_POST_BUDGET, Step};
use super::rank::{self, Candidate};
use super::record::{BuyerEvent, PingRecord, PingResult, PostRecord, PostResult, Sale};
use super::{Auctioneer, pricing};
use crate::buyers::{PostView, Skip, rotation};
use crate::config::Payout;
use crate::protocol::ids;
use crate::protocol::lead::Lead;
use crate::protocol::money::Micros;
use crate::protocol::post::PostVerdict;
use crate::transport::{Exchange, ExchangeKind, Transport};

/// The ping phase's result, as the post phase reads it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bids<'a> {
    /// Every ping of the auction.
    pub pings: &'a [PingRecord],
    /// The valid bids, best first.
    pub ranked: &'a [Candidate],
    /// The lead's vertical floor.
    pub floor: Micros,
    /// How many sales the lead may have.
    pub want: usize,
}

/// What the post phase produced (over every tier posted to).
#[derive(Debug, Default)]
pub(super) struct Posted {
    /// Every post sent, in cascade order.
    pub posts: Vec<PostRecord>,
    /// The sales, in the order made.
    pub sales: Vec<Sale>,
    /// The cap events the sales crossed.
    pub cap_events: Vec<BuyerEvent>,
    /// Bids skipped because their buyer's cap filled during the auction.
    pub capped: usize,
    /// Time spent waiting on buyers' posts.
    pub waited: std::time::Duration,
}

impl<T: Transport> Auctioneer<T> {
    /// Posts down the ranked candidates until `want` buyers accept or the budget (counted from
    /// `start`) runs out, adding to `posted`.
    #[allow(clippy::too_many_arguments)] // One call site; a struct of them would only rename them.
    pub(super) async fn post_cascade(
        &self,
        lead: &Lead,
        lead_id: &str,
        publisher_id: &str,
        bids: Bids<'_>,
        payout: Payout,
        start: Instant,
        posted: &mut Posted,
    ) {
        let (transport, journal, settings) = (&self.transport, self.journal.as_ref(), &self.settings);
        let Bids { pings, ranked, floor, want } = bids;
        let mut cascade = Cascade::seeking(ranked.len(), want);
        let post_timeout = |rank: usize| pings[ranked[rank].ping].buyer.post_timeout;
        while let Step::Post { rank, timeout: limit } =
            cascade.next(start.elapsed(), settings.total_timeout, post_timeout)
        {
            let candidate = ranked[rank];
            let ping = &pings[candidate.ping];
            let buyer = &ping.buyer;
            let price = pricing::price_at(settings, ranked, rank, buyer, floor);
            // Taken before the lead leaves, so two auctions cannot both sell a cap's last lead.
            // Test leads never count.
            let hold = match buyer.caps.as_ref().filter(|_| !lead.test) {
                None => None,
                Some(caps) => match caps.reserve(publisher_id, price, crate::store::now_ms()) {
                    Some(hold) => Some(hold),
                    None => {
                        buyer.metrics.skipped(Skip::Capped);
                        posted.capped += 1;
                        cascade.record(false);
                        continue;
                    }
                },
            };
            let mut limit = limit;
            if let Some(journal) = journal {
                let attempt = posted.posts.len() as u32 + 1;
                let writing = Instant::now();
                let intent = journal.post_starting(lead_id, attempt, &buyer.id, &ping.ping_id, price);
                match timeout(limit, intent).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::error!(lead_id, %error, "post not sent: its intent could not be stored");
                        break;
                    }
                    Err(_) => {
                        tracing::error!(lead_id, "post not sent: storing its intent took the post's whole time");
                        break;
                    }
                }
                // The commit wait comes out of this post's time, so the budget still holds; a
                // post left with too little time is not sent.
                limit = limit.saturating_sub(writing.elapsed());
                if limit < MIN_POST_BUDGET {
                    break;
                }
            }
            let bid_id = match &ping.result {
                PingResult::Bid { bid_id, .. } => bid_id.as_deref(),
                _ => None,
            };
            let view = PostView { ping_id: &ping.ping_id, bid_id, price, lead_id, lead };
            let exchange = Exchange {
                endpoint: Arc::clone(&ping.buyer.endpoint),
                kind: ExchangeKind::Post,
                message_id: ids::post_message_id().into(),
                body: ping.buyer.post_body(&view),
            };
            let sent = Instant::now();
            let result = match timeout(limit, transport.exchange(exchange)).await {
                Ok(Ok(reply)) => match ping.buyer.judge_post(reply.status, &reply.body) {
                    PostVerdict::Accepted { buyer_lead_id } => PostResult::Accepted { buyer_lead_id },
                    PostVerdict::Rejected(why) => PostResult::Rejected(why),
                },
                Ok(Err(error)) => PostResult::Failed(error),
                Err(_) => PostResult::Timeout,
            };
            let latency = sent.elapsed();
            posted.waited += latency;
            let stride = |c: &Candidate| rotation::stride(pings[c.ping].buyer.round_robin_weight);
            if let Some(floor) = rank::tie_floor(ranked, rank, stride) {
                buyer.turns.advance(&lead.vertical, buyer.round_robin_weight, floor);
            }
            let metrics = &ping.buyer.metrics;
            metrics.post_seconds.record(latency.as_secs_f64());
            let accepted = matches!(result, PostResult::Accepted { .. });
            if accepted {
                metrics.posts_accepted.increment(1);
            } else {
                metrics.posts_rejected.increment(1);
            }
            cascade.record(accepted);
            posted.posts.push(PostRecord { ping: candidate.ping, price, result, latency });
            if accepted {
                if let Some(hold) = hold {
                    let mut crossed = Vec::new();
                    hold.commit(crate::store::now_ms(), &mut crossed);
                    posted.cap_events.extend(crossed.into_iter().map(BuyerEvent::Cap));
                }
                let (buyer_id, bid, split) = (Arc::clone(&buyer.id), candidate.price, payout.split(price));
                posted.sales.push(Sale { ping: candidate.ping, buyer_id, price, bid, split });
            }
        }
    }
}
