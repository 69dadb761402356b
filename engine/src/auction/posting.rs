//! The post phase: the full lead to the best bid, then down the ranking on rejection, error or
//! timeout, one buyer at a time, within the total budget. The order comes from
//! [`Cascade`]; this file does the I/O. Each post's intent is journaled before the lead leaves
//! (when there is a journal): if that write fails, no more posts are sent.

use std::sync::Arc;

use tokio::time::{Instant, timeout};

use super::Auctioneer;
use super::cascade::{Cascade, MIN_POST_BUDGET, Step};
use super::rank::Candidate;
use super::record::{PingRecord, PingResult, PostRecord, PostResult, Sale};
use crate::buyers::PostView;
use crate::protocol::ids;
use crate::protocol::lead::Lead;
use crate::protocol::post::PostVerdict;
use crate::transport::{Exchange, ExchangeKind, Transport};

impl<T: Transport> Auctioneer<T> {
    /// Posts down the ranked candidates until one buyer accepts or the budget (counted from
    /// `start`) runs out.
    pub(super) async fn post_cascade(
        &self,
        lead: &Lead,
        lead_id: &str,
        pings: &[PingRecord],
        ranked: &[Candidate],
        start: Instant,
    ) -> (Vec<PostRecord>, Option<Sale>) {
        let (transport, journal, budget) = (&self.transport, self.journal.as_ref(), self.settings.total_timeout);
        let mut posts = Vec::new();
        let mut cascade = Cascade::new(ranked.len());
        let post_timeout = |rank: usize| pings[ranked[rank].ping].buyer.post_timeout;
        while let Step::Post { rank, timeout: limit } = cascade.next(start.elapsed(), budget, post_timeout) {
            let candidate = ranked[rank];
            let ping = &pings[candidate.ping];
            let mut limit = limit;
            if let Some(journal) = journal {
                let attempt = posts.len() as u32 + 1;
                let writing = Instant::now();
                let intent = journal.post_starting(lead_id, attempt, &ping.buyer.id, &ping.ping_id, candidate.price);
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
            let view = PostView { ping_id: &ping.ping_id, bid_id, price: candidate.price, lead_id, lead };
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
            let metrics = &ping.buyer.metrics;
            metrics.post_seconds.record(latency.as_secs_f64());
            let accepted = matches!(result, PostResult::Accepted { .. });
            if accepted {
                metrics.posts_accepted.increment(1);
            } else {
                metrics.posts_rejected.increment(1);
            }
            cascade.record(accepted);
            posts.push(PostRecord { ping: candidate.ping, result, latency });
            if accepted {
                let sale = Sale { ping: candidate.ping, buyer_id: Arc::clone(&ping.buyer.id), price: candidate.price };
                return (posts, Some(sale));
            }
        }
        (posts, None)
    }
}
