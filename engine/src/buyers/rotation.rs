//! Weighted round robin among equal offers, by stride scheduling: each buyer has a `pass`; among
//! bids of equal score the lowest pass ranks first, and a buyer that got its turn (was posted to
//! from a tie) advances its pass by its stride, `UNIT / round_robin_weight`. Over many ties,
//! buyers weighted 3 and 1 get three turns to one, in a fixed interleaving rather than by
//! chance. The pass is one atomic, carried across registry swaps like the buyer's metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// The pass a weight-1 buyer advances per turn (every weight up to 1,000 divides evenly
/// enough: strides differ by under 0.1%).
const UNIT: u64 = 1_000_000;

/// A buyer's place in the rotation.
#[derive(Debug, Default)]
pub struct Turns {
    pass: AtomicU64,
}

impl Turns {
    /// A rotation place starting at `pass` (a buyer added later starts at the back, not ahead
    /// of every buyer that already had turns).
    pub fn starting_at(pass: u64) -> Turns {
        Turns { pass: AtomicU64::new(pass) }
    }

    /// Where the buyer stands: lower goes first among equal offers.
    pub fn pass(&self) -> u64 {
        self.pass.load(Ordering::Relaxed)
    }

    /// The buyer had its turn.
    pub fn advance(&self, weight: u32) {
        self.pass.fetch_add(UNIT / u64::from(weight.max(1)), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two buyers always tied, weighted 3 and 1: whoever has the lower pass (then the first)
    /// takes the turn.
    #[test]
    fn turns_follow_the_weights_in_a_fixed_interleaving() {
        let (a, b) = (Turns::default(), Turns::default());
        let mut order = String::new();
        for _ in 0..8 {
            if a.pass() <= b.pass() {
                a.advance(3);
                order.push('a');
            } else {
                b.advance(1);
                order.push('b');
            }
        }
        assert_eq!(order, "abaaabaa");
        assert_eq!(order.matches('a').count(), 6, "three turns to one");
    }
}
