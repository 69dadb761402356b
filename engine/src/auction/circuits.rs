//! Feeding buyers' circuit breakers from an auction: every ping's result once its round's pings
//! are in, every post's once the cascade is over (the breaker's lock is never taken while a
//! buyer is being waited for). A fixed-price buyer's offer was no ping and says nothing. A
//! circuit that opens or closes becomes a `buyer.circuit_opened` / `buyer.circuit_closed` event
//! of this auction.
//!
//! Timeouts that most buyers of an auction share are not held against them: when the engine
//! (or its network) is the one falling behind, every buyer misses the deadline at once, and
//! opening every circuit would turn an overload into an outage (a load test found exactly
//! that: past its limit the engine tripped all ten buyers and answered `unsold` to everything).
//! A buyer that times out while the others answer is still counted.

use std::sync::Arc;

use super::record::{BuyerEvent, PingRecord, PingResult, PostRecord};

/// Whether `timeouts` of `pinged` buyers timing out in one auction is a common-mode failure
/// (the engine's or the network's, not the buyers'): more than half of at least three.
pub fn common_mode(timeouts: usize, pinged: usize) -> bool {
    pinged >= 3 && timeouts * 2 > pinged
}

/// Records one round's ping results into `events` (the circuits' transitions);
/// `count_timeouts` is false when the engine was too starved for its timeouts to mean anything.
pub fn record_pings(pings: &[PingRecord], mut count_timeouts: bool, events: &mut Vec<BuyerEvent>) {
    let now = crate::store::now_ms();
    let sent = pings.iter().filter(|p| p.buyer.fixed_price.is_none()).count();
    let timeouts = pings.iter().filter(|p| p.result == PingResult::Timeout).count();
    count_timeouts &= !common_mode(timeouts, sent);
    for ping in pings.iter().filter(|p| p.buyer.fixed_price.is_none()) {
        let Some(circuit) = &ping.buyer.circuit else { continue };
        if ping.result == PingResult::Timeout && !count_timeouts {
            // Not counted; a probe among them is given up after a cool-off (`Circuit::admit`).
            continue;
        }
        push(events, ping, circuit.record(ping.result.health(), ping.probe, now));
    }
}

/// Records every post's result into `events`. A fixed-price buyer admitted as its circuit's
/// probe was not pinged: its post is the probe.
pub fn record_posts(pings: &[PingRecord], posts: &[PostRecord], events: &mut Vec<BuyerEvent>) {
    let now = crate::store::now_ms();
    for post in posts {
        let ping = &pings[post.ping];
        if let Some(circuit) = &ping.buyer.circuit {
            let probe = ping.probe && ping.buyer.fixed_price.is_some();
            push(events, ping, circuit.record(post.result.health(), probe, now));
        }
    }
}

fn push(events: &mut Vec<BuyerEvent>, ping: &PingRecord, opened: Option<bool>) {
    if let Some(opened) = opened {
        events.push(BuyerEvent::Circuit { buyer_id: Arc::clone(&ping.buyer.id), opened });
    }
}

#[cfg(test)]
mod tests {
    use super::common_mode;

    #[test]
    fn timeouts_most_buyers_share_are_the_engines() {
        assert!(!common_mode(1, 1), "a lone buyer's timeout counts");
        assert!(!common_mode(2, 2), "two buyers: too few to tell");
        assert!(!common_mode(1, 10), "one slow buyer among ten counts");
        assert!(!common_mode(5, 10), "half is not most");
        assert!(common_mode(6, 10));
        assert!(common_mode(3, 3));
    }
}
