//! Ranking valid bids: highest score first (the price times the buyer's quality weight; the
//! price itself for the default weight 1); equal scores by the buyers' places in the weighted
//! round robin ([`crate::buyers::rotation`]), then by earlier answer, then by ping order so the
//! result never depends on sort stability. A plain function of its input.

use std::time::Duration;

use crate::protocol::money::Micros;

/// A valid bid waiting to be ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Price bid.
    pub price: Micros,
    /// What it ranks by: the price times the buyer's quality weight.
    pub score: Micros,
    /// When the answer arrived, from the start of the auction.
    pub answered_at: Duration,
    /// Index of the ping in the auction record.
    pub ping: usize,
    /// The buyer's place in the round robin when the bid came (lower first among equal scores).
    pub turn: u64,
}

/// The score of a bid at `price` from a buyer weighted `weight` (rounded to the micro-unit).
pub fn score(price: Micros, weight: f64) -> Micros {
    if weight == 1.0 { price } else { Micros((price.0 as f64 * weight).round() as i64) }
}

/// Sorts candidates best first.
pub fn rank(candidates: &mut [Candidate]) {
    candidates.sort_unstable_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.turn.cmp(&b.turn))
            .then(a.answered_at.cmp(&b.answered_at))
            .then(a.ping.cmp(&b.ping))
    });
}

/// For the bid at `rank` of `ranked` (sorted) that ties others on score (it got its place by its
/// turn in the round robin), the floor its buyer's pass is raised to before it advances: the
/// lowest pass among the others of the tie less the longest stride among them all
/// (`stride` of a candidate's buyer). `None`: no tie.
pub fn tie_floor(ranked: &[Candidate], rank: usize, stride: impl Fn(&Candidate) -> u64) -> Option<u64> {
    let score = ranked[rank].score;
    let tie = ranked.iter().enumerate().filter(|(_, c)| c.score == score);
    let next = tie.clone().filter(|(i, _)| *i != rank).map(|(_, c)| c.turn).min()?;
    let slowest = tie.map(|(_, c)| stride(c)).max().unwrap_or(0);
    Some(next.saturating_sub(slowest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidate(price: i64, at_ms: u64, ping: usize) -> Candidate {
        Candidate {
            price: Micros(price),
            score: Micros(price),
            answered_at: Duration::from_millis(at_ms),
            ping,
            turn: 0,
        }
    }

    #[test]
    fn highest_price_wins_and_ties_go_to_the_earlier_answer() {
        let mut bids = [candidate(10, 5, 0), candidate(12, 30, 1), candidate(12, 20, 2), candidate(3, 1, 3)];
        rank(&mut bids);
        let order: Vec<usize> = bids.iter().map(|c| c.ping).collect();
        assert_eq!(order, [2, 1, 0, 3]);
    }

    #[test]
    fn a_quality_weight_can_outrank_a_higher_price() {
        let mut bids = [candidate(10_000_000, 5, 0), candidate(9_000_000, 5, 1)];
        bids[1].score = score(bids[1].price, 1.2); // 10.80
        bids[0].score = score(bids[0].price, 1.0);
        rank(&mut bids);
        assert_eq!(bids[0].ping, 1);
        assert_eq!(bids[0].score, Micros(10_800_000));
        assert_eq!(bids[0].price, Micros(9_000_000), "the raw bid is kept next to the score");
    }

    #[test]
    fn equal_scores_go_to_the_buyer_whose_turn_it_is_before_the_earlier_answer() {
        let mut bids = [candidate(10, 5, 0), candidate(10, 30, 1), candidate(9, 1, 2)];
        bids[0].turn = 2_000;
        bids[1].turn = 1_000;
        rank(&mut bids);
        assert_eq!(bids.map(|c| c.ping), [1, 0, 2]);
        assert_eq!(tie_floor(&bids, 0, |_| 300), Some(1_700), "the other's pass less the longest stride");
        assert_eq!(tie_floor(&bids, 2, |_| 300), None, "no tie");
    }

    proptest! {
        #[test]
        fn ranking_is_a_sorted_permutation(raw in prop::collection::vec((0i64..50, 0u64..100), 0..40)) {
            let input: Vec<Candidate> = raw.iter().enumerate().map(|(i, (p, t))| candidate(*p, *t, i)).collect();
            let mut ranked = input.clone();
            rank(&mut ranked);
            // A permutation: every ping exactly once.
            let mut pings: Vec<usize> = ranked.iter().map(|c| c.ping).collect();
            pings.sort_unstable();
            prop_assert_eq!(pings, (0..input.len()).collect::<Vec<_>>());
            // Sorted: score never rises; at equal score, answer time never goes back.
            for pair in ranked.windows(2) {
                prop_assert!(pair[0].score >= pair[1].score);
                if pair[0].score == pair[1].score {
                    prop_assert!(pair[0].answered_at <= pair[1].answered_at);
                }
            }
            // The winner is a highest bid.
            if let Some(best) = input.iter().map(|c| c.price).max() {
                prop_assert_eq!(ranked[0].price, best);
            }
        }
    }
}
