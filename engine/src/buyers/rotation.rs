//! Weighted round robin among equal offers, by stride scheduling: each buyer has a `pass` per
//! vertical (a buyer tying one set of buyers on one vertical does not lose its turns on
//! another); among bids of equal score the lowest pass ranks first, and a buyer that got its
//! turn (was posted to from a tie) advances its pass by its stride, `UNIT / round_robin_weight`.
//! Over many ties, buyers weighted 3 and 1 get three turns to one, in a fixed interleaving
//! rather than by chance.
//!
//! A buyer far behind the others (new, or back from a pause or its schedule) would take every
//! tie until it caught up; so on its turn its pass is first raised to no further behind the
//! next buyer of the tie than one stride of the slowest: it gets its turn, not a burst of them.
//! The passes are carried across registry swaps like the buyer's metrics.

use dashmap::DashMap;

/// The pass a weight-1 buyer advances per turn (weights up to 1,000 give strides within 0.1%
/// of exact).
const UNIT: u64 = 1_000_000;

/// How far a buyer of `weight` advances per turn.
pub fn stride(weight: u32) -> u64 {
    UNIT / u64::from(weight.max(1))
}

/// A buyer's places in the rotation, per vertical.
#[derive(Debug, Default)]
pub struct Turns {
    passes: DashMap<Box<str>, u64>,
}

impl Turns {
    /// Where the buyer stands on `vertical`: lower goes first among equal offers.
    pub fn pass(&self, vertical: &str) -> u64 {
        self.passes.get(vertical).map_or(0, |pass| *pass)
    }

    /// The buyer had its turn on `vertical`: its pass, raised to at least `floor` (see the
    /// module's doc), advances by its stride.
    pub fn advance(&self, vertical: &str, weight: u32, floor: u64) {
        let step = |pass: &mut u64| *pass = (*pass).max(floor).saturating_add(stride(weight));
        match self.passes.get_mut(vertical) {
            Some(mut pass) => step(&mut pass),
            None => step(&mut self.passes.entry(vertical.into()).or_insert(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buyers always tied on `vertical`: the lowest pass (then the first) takes the turn, its
    /// floor the next buyer's pass less the slowest stride.
    fn turns(buyers: &[(&Turns, u32)], vertical: &str, rounds: usize) -> Vec<usize> {
        let slowest = buyers.iter().map(|(_, w)| stride(*w)).max().unwrap_or(0);
        (0..rounds)
            .map(|_| {
                let passes: Vec<u64> = buyers.iter().map(|(t, _)| t.pass(vertical)).collect();
                let winner = (0..buyers.len()).min_by_key(|&i| (passes[i], i)).unwrap_or(0);
                let next = (0..buyers.len()).filter(|&i| i != winner).map(|i| passes[i]).min().unwrap_or(0);
                buyers[winner].0.advance(vertical, buyers[winner].1, next.saturating_sub(slowest));
                winner
            })
            .collect()
    }

    #[test]
    fn turns_follow_the_weights_in_a_fixed_interleaving() {
        let (heavy, light) = (Turns::default(), Turns::default());
        let order = turns(&[(&heavy, 3), (&light, 1)], "auto", 8);
        assert_eq!(order, [0, 1, 0, 0, 0, 1, 0, 0], "three turns to one");
    }

    #[test]
    fn a_buyer_far_behind_gets_one_turn_not_a_burst() {
        let (a, b, late) = (Turns::default(), Turns::default(), Turns::default());
        turns(&[(&a, 1), (&b, 1)], "auto", 1_000);
        let order = turns(&[(&a, 1), (&b, 1), (&late, 1)], "auto", 6);
        assert_eq!(order.iter().filter(|&&w| w == 2).count(), 2, "a fair third, from its first turn: {order:?}");
        assert_eq!(order[0], 2, "its first turn comes at once");
    }

    #[test]
    fn turns_on_one_vertical_leave_another_alone() {
        let (a, b) = (Turns::default(), Turns::default());
        turns(&[(&a, 1), (&b, 1)], "home", 100);
        assert_eq!(a.pass("auto"), 0);
        assert_eq!(turns(&[(&a, 1), (&b, 1)], "auto", 2), [0, 1]);
    }
}
