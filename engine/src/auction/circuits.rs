//! Feeding buyers' circuit breakers from an auction: every ping's and post's result, after the
//! phase (the breaker's lock is never taken while waiting on a buyer). A circuit that opens or
//! closes becomes a `buyer.circuit_opened` / `buyer.circuit_closed` event of this auction.

use std::sync::Arc;

use super::record::{BuyerEvent, PingRecord, PostRecord};

/// Records each ping's result (`eligible[i]` is the buyer of `pings[i]`; those in `probes` were
/// their circuit's probe).
pub fn after_pings(pings: &[PingRecord], eligible: &[u32], probes: &[u32]) -> Vec<BuyerEvent> {
    let now = crate::store::now_ms();
    let mut events = Vec::new();
    for (ping, index) in pings.iter().zip(eligible) {
        if let Some(circuit) = &ping.buyer.circuit
            && let Some(opened) = circuit.record(ping.result.is_outage(), probes.contains(index), now)
        {
            events.push(BuyerEvent::Circuit { buyer_id: Arc::clone(&ping.buyer.id), opened });
        }
    }
    events
}

/// Records each post's result.
pub fn after_posts(pings: &[PingRecord], posts: &[PostRecord]) -> Vec<BuyerEvent> {
    let now = crate::store::now_ms();
    let mut events = Vec::new();
    for post in posts {
        let buyer = &pings[post.ping].buyer;
        if let Some(circuit) = &buyer.circuit
            && let Some(opened) = circuit.record(post.result.is_outage(), false, now)
        {
            events.push(BuyerEvent::Circuit { buyer_id: Arc::clone(&buyer.id), opened });
        }
    }
    events
}
