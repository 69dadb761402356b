//! Feeding buyers' circuit breakers from an auction: every ping's and post's result, after the
//! cascade (the breaker's lock is never taken between the pings and the posts). A circuit
//! that opens or closes becomes a `buyer.circuit_opened` / `buyer.circuit_closed` event of
//! this auction.

use std::sync::Arc;

use super::record::{BuyerEvent, PingRecord, PingResult, PostRecord};

/// What the auction knows beyond the records.
#[derive(Debug, Clone, Copy)]
pub struct Outcomes<'a> {
    /// `eligible[i]` is the registry index of the buyer of ping `i`.
    pub eligible: &'a [u32],
    /// Those pinged as their circuit's probe.
    pub probes: &'a [u32],
    /// False when the engine was too starved for its timeouts to mean anything.
    pub count_timeouts: bool,
}

/// Records every ping's and post's result; returns the circuits' transitions as events.
pub fn record(pings: &[PingRecord], posts: &[PostRecord], outcomes: Outcomes<'_>) -> Vec<BuyerEvent> {
    let now = crate::store::now_ms();
    let mut events = Vec::new();
    let mut push = |ping: &PingRecord, opened: Option<bool>| {
        if let Some(opened) = opened {
            events.push(BuyerEvent::Circuit { buyer_id: Arc::clone(&ping.buyer.id), opened });
        }
    };
    for (ping, index) in pings.iter().zip(outcomes.eligible) {
        let probe = outcomes.probes.contains(index);
        let Some(circuit) = &ping.buyer.circuit else { continue };
        if ping.result == PingResult::Timeout && !outcomes.count_timeouts {
            // Not counted; a probe among them is given up after a cool-off (`Circuit::admit`).
            continue;
        }
        push(ping, circuit.record(ping.result.is_outage(), probe, now));
    }
    for post in posts {
        let ping = &pings[post.ping];
        if let Some(circuit) = &ping.buyer.circuit {
            push(ping, circuit.record(post.result.is_outage(), false, now));
        }
    }
    events
}
