//! What a round's bids are for, from the publisher's sharing rule: which bids compete and how
//! many sales the lead may have. Exclusive: one sale among buyers of exclusive leads. Shared: up
//! to N sales among buyers of shared leads. Mixed: whichever earns more, the best exclusive bid
//! or the sum of the best N shared bids (raw bids; a tie goes to exclusive). A plain function
//! of its inputs.

use super::rank::Candidate;
use crate::config::{Sharing, SharingMode};

/// The bids a lead's posts go down, best first, and how many of them may buy it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Ranked bids.
    pub ranked: Vec<Candidate>,
    /// Most sales.
    pub want: usize,
}

/// The plan for ranked bids under `sharing`; `buys(c)` says whether the bidder of `c` buys
/// exclusive leads and whether it buys shared ones (the selection already left out buyers of
/// neither kind on offer).
pub fn plan(sharing: Sharing, ranked: Vec<Candidate>, buys: impl Fn(&Candidate) -> (bool, bool)) -> Plan {
    match sharing.mode {
        SharingMode::Exclusive => Plan { ranked, want: 1 },
        SharingMode::Shared => Plan { ranked, want: sharing.max_buyers },
        SharingMode::Mixed => {
            let (exclusive, shared): (Vec<Candidate>, Vec<Candidate>) = (
                ranked.iter().filter(|c| buys(c).0).copied().collect(),
                ranked.iter().filter(|c| buys(c).1).copied().collect(),
            );
            let best_exclusive = exclusive.first().map_or(0, |c| c.price.0);
            let best_shared: i64 = shared.iter().take(sharing.max_buyers).map(|c| c.price.0).sum();
            if best_shared > best_exclusive {
                Plan { ranked: shared, want: sharing.max_buyers }
            } else {
                Plan { ranked: exclusive, want: 1 }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::protocol::money::Micros;

    fn bid(units: i64, ping: usize) -> Candidate {
        let price = Micros::from_units(units);
        Candidate { price, score: price, answered_at: Duration::ZERO, ping, turn: 0 }
    }

    const MIXED: Sharing = Sharing { mode: SharingMode::Mixed, max_buyers: 2 };

    /// Pings 0 and 1 buy exclusive leads, 2, 3 and 4 shared ones.
    fn kinds(c: &Candidate) -> (bool, bool) {
        (c.ping < 2, c.ping >= 2)
    }

    #[test]
    fn mixed_picks_the_larger_total() {
        // Exclusive 30 against shared 12 + 10 = 22: exclusive.
        let exclusive = plan(MIXED, vec![bid(30, 0), bid(12, 2), bid(10, 3), bid(8, 1), bid(5, 4)], kinds);
        assert_eq!(exclusive.want, 1);
        assert_eq!(exclusive.ranked.iter().map(|c| c.ping).collect::<Vec<_>>(), [0, 1]);
        // Exclusive 20 against shared 12 + 10 = 22: shared, to the best two shared bids.
        let shared = plan(MIXED, vec![bid(20, 0), bid(12, 2), bid(10, 3), bid(5, 4)], kinds);
        assert_eq!(shared.want, 2);
        assert_eq!(shared.ranked.iter().map(|c| c.ping).collect::<Vec<_>>(), [2, 3, 4]);
        // A tie goes to exclusive.
        assert_eq!(plan(MIXED, vec![bid(22, 0), bid(12, 2), bid(10, 3)], kinds).want, 1);
    }

    #[test]
    fn exclusive_wants_one_sale_and_shared_up_to_n() {
        let bids = vec![bid(3, 2), bid(2, 3)];
        assert_eq!(plan(Sharing::EXCLUSIVE, bids.clone(), kinds).want, 1);
        let shared = Sharing { mode: SharingMode::Shared, max_buyers: 3 };
        assert_eq!(plan(shared, bids.clone(), kinds), Plan { ranked: bids, want: 3 });
    }
}
