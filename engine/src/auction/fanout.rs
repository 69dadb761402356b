//! Ping fan-out: every eligible buyer at once, one deadline. A fixed-price buyer is not
//! pinged: its fixed price stands as its bid (selection left it out if that is below the
//! lead's floor).
//!
//! Each ping runs as its own task so that, at the deadline, the auction simply stops waiting
//! while a late answer is still read to the end off the auction's path: the HTTP/1.1
//! connection then goes back to the pool instead of being torn down, and the late answer is
//! counted. Answers that arrive after a buyer's cutoff are timeouts, never bids.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

use super::rank::{self, Candidate};
use super::record::{PingRecord, PingResult};
use crate::buyers::{Buyer, PingView, Registry};
use crate::protocol::bid::{BidVerdict, PriceLimits};
use crate::protocol::ids;
use crate::protocol::lead::Profile;
use crate::protocol::money::Micros;
use crate::protocol::ping::PingTemplate;
use crate::transport::{Exchange, ExchangeKind, Reply, Transport, TransportError};

/// tokio timers fire up to a millisecond or two late, so every cutoff is set this much
/// before the real deadline: the auction is over by the deadline, not just after it.
pub const TIMER_SLACK: Duration = Duration::from_millis(2);

/// A late answer is still read for this long past its cutoff, to keep its connection
/// reusable; after that the connection is dropped.
const LATE_DRAIN: Duration = Duration::from_secs(2);

/// What the ping phase produced.
#[derive(Debug)]
pub struct PingPhase {
    /// One record per buyer pinged.
    pub records: Vec<PingRecord>,
    /// The valid bids, unranked.
    pub candidates: Vec<Candidate>,
    /// Time spent waiting on buyers: the slowest in-time answer, or the deadline.
    pub waited: Duration,
}

type Answer = (usize, Result<Result<Reply, TransportError>, tokio::time::error::Elapsed>, Instant);

/// Pings `eligible` buyers for `lead` and collects their answers until every buyer has
/// answered or `deadline` (minus [`TIMER_SLACK`]) passes. Candidates' `ping` indices count from
/// `first` (the pings of earlier rounds come before).
#[allow(clippy::too_many_arguments)] // One call site; a struct of them would only rename them.
pub async fn ping_all<T: Transport>(
    transport: &T,
    registry: &Registry,
    eligible: &[u32],
    lead: Profile<'_>,
    floor: Micros,
    start: Instant,
    deadline: Instant,
    first: usize,
) -> PingPhase {
    let template = PingTemplate::new(lead.vertical, lead.attributes, lead.test);
    let wait_until = deadline.checked_sub(TIMER_SLACK).unwrap_or(deadline).max(start);
    let mut records = Vec::with_capacity(eligible.len());
    let mut cutoffs = Vec::with_capacity(eligible.len());
    let mut tasks = JoinSet::new();
    let mut candidates = Vec::new();
    let mut pending = 0;
    for (slot, &index) in eligible.iter().enumerate() {
        let buyer = registry.buyer(index);
        if let Some(price) = buyer.fixed_price {
            let (score, turn) = (rank::score(price, buyer.weight), buyer.turns.pass(lead.vertical));
            candidates.push(Candidate { price, score, answered_at: Duration::ZERO, ping: first + slot, turn });
            let (ping_id, result) = (ids::ping_id().into(), PingResult::Fixed { price });
            records.push(PingRecord { buyer: Arc::clone(buyer), ping_id, result, latency: None, probe: false });
            cutoffs.push(wait_until);
            continue;
        }
        pending += 1;
        let cutoff = buyer.ping_timeout.map_or(wait_until, |t| wait_until.min(start + t));
        // At least 1: a buyer told `0` would be told it has already lost.
        let tmax_ms = cutoff.saturating_duration_since(Instant::now()).as_millis().clamp(1, u32::MAX.into()) as u32;
        let ping_id: Arc<str> = ids::ping_id().into();
        let exchange = Exchange {
            endpoint: Arc::clone(&buyer.endpoint),
            kind: ExchangeKind::Ping,
            message_id: Arc::clone(&ping_id),
            body: buyer.ping_body(
                &template,
                &PingView {
                    ping_id: &ping_id,
                    tmax_ms,
                    vertical: lead.vertical,
                    attributes: lead.attributes,
                    test: lead.test,
                },
            ),
        };
        let answer = transport.exchange(exchange);
        let late_answers = buyer.metrics.late_answers.clone();
        tasks.spawn(async move {
            let result = timeout(cutoff.saturating_duration_since(Instant::now()) + LATE_DRAIN, answer).await;
            let at = Instant::now();
            if at > cutoff && matches!(result, Ok(Ok(_))) {
                late_answers.increment(1);
            }
            (slot, result, at)
        });
        let result = PingResult::Timeout;
        records.push(PingRecord { buyer: Arc::clone(buyer), ping_id, result, latency: None, probe: false });
        cutoffs.push(cutoff);
    }

    let mut slowest = Duration::ZERO;
    while pending > 0 {
        let (slot, result, at): Answer = match timeout_at(wait_until, tasks.join_next()).await {
            Ok(Some(Ok(answer))) => answer,
            // A panicking transport: that buyer stays a timeout.
            Ok(Some(Err(_))) => {
                pending -= 1;
                continue;
            }
            Ok(None) | Err(_) => break,
        };
        pending -= 1;
        if at > cutoffs[slot] {
            continue; // Late: stays a timeout.
        }
        let record = &mut records[slot];
        let latency = at.saturating_duration_since(start);
        slowest = slowest.max(latency);
        record.latency = Some(latency);
        record.result = match result {
            Ok(Ok(reply)) => match record.buyer.judge_bid(reply.status, &reply.body, limits(&record.buyer, floor)) {
                BidVerdict::Bid { price, bid_id } => {
                    let score = rank::score(price, record.buyer.weight);
                    let turn = record.buyer.turns.pass(lead.vertical);
                    candidates.push(Candidate { price, score, answered_at: latency, ping: first + slot, turn });
                    PingResult::Bid { price, bid_id }
                }
                BidVerdict::NoBid => PingResult::NoBid,
                BidVerdict::Invalid(reason) => PingResult::Invalid(reason),
            },
            Ok(Err(error)) => PingResult::Failed(error),
            Err(_) => PingResult::Timeout,
        };
    }
    // Unfinished pings keep running to drain their connections; nobody waits for them.
    tasks.detach_all();
    count(&records);
    let waited = if pending > 0 { wait_until.saturating_duration_since(start) } else { slowest };
    PingPhase { records, candidates, waited }
}

/// A buyer's price limits for a lead whose vertical's floor is `floor`.
pub fn limits(buyer: &Buyer, floor: Micros) -> PriceLimits {
    PriceLimits { floor: buyer.limits.floor.max(floor), max: buyer.limits.max }
}

/// Per-buyer metrics for one auction's pings.
fn count(records: &[PingRecord]) {
    for record in records {
        let m = &record.buyer.metrics;
        if let Some(latency) = record.latency {
            m.ping_seconds.record(latency.as_secs_f64());
        }
        match &record.result {
            PingResult::Bid { .. } => m.bids.increment(1),
            PingResult::Fixed { .. } => {}
            PingResult::NoBid => m.no_bids.increment(1),
            PingResult::Invalid(reason) => m.invalid(*reason),
            PingResult::Timeout => m.timeouts.increment(1),
            PingResult::Failed(_) => m.errors.increment(1),
        }
    }
}
