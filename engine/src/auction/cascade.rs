//! The cascade: which ranked bid to post to next, and for how long, given the time already
//! spent and the total budget, until the lead has all the sales it may have (one when
//! exclusive; up to N when shared, each to a different bid). A plain state machine of its
//! inputs; the auction does the I/O.

use std::time::Duration;

/// Below this much budget a post is not attempted: it could not complete, and a post that
/// times out may still have reached the buyer (a sale the engine cannot know about).
pub const MIN_POST_BUDGET: Duration = Duration::from_millis(5);

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Post to the bid at this rank, waiting at most `timeout`.
    Post {
        /// Position in the ranked list.
        rank: usize,
        /// Time allowed for this post.
        timeout: Duration,
    },
    /// Stop.
    Stop(StopReason),
}

/// Why the cascade ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Buyers accepted as many sales as the lead may have.
    Sold,
    /// Every bid was tried.
    Exhausted,
    /// The total budget ran out.
    OutOfBudget,
}

/// Cascade state over `len` ranked bids.
#[derive(Debug, Clone)]
pub struct Cascade {
    len: usize,
    next: usize,
    sales: usize,
    want: usize,
}

impl Cascade {
    /// A cascade over `len` ranked bids seeking up to `want` sales (a shared lead).
    pub fn seeking(len: usize, want: usize) -> Cascade {
        Cascade { len, next: 0, sales: 0, want: want.max(1) }
    }

    /// The next step, given the time since the auction started, the total budget, and the
    /// post timeout of the buyer at a rank (None: only the budget bounds it).
    pub fn next(
        &mut self,
        elapsed: Duration,
        budget: Duration,
        post_timeout: impl Fn(usize) -> Option<Duration>,
    ) -> Step {
        if self.sales >= self.want {
            return Step::Stop(StopReason::Sold);
        }
        if self.next >= self.len {
            return Step::Stop(StopReason::Exhausted);
        }
        let remaining = budget.saturating_sub(elapsed);
        if remaining < MIN_POST_BUDGET {
            return Step::Stop(StopReason::OutOfBudget);
        }
        let rank = self.next;
        self.next += 1;
        let timeout = post_timeout(rank).map_or(remaining, |t| t.min(remaining));
        Step::Post { rank, timeout }
    }

    /// Records the result of the last post.
    pub fn record(&mut self, accepted: bool) {
        self.sales += usize::from(accepted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn posts_in_rank_order_until_one_accepts() {
        let mut cascade = Cascade::seeking(3, 1);
        assert_eq!(cascade.next(MS(100), MS(1000), |_| None), Step::Post { rank: 0, timeout: MS(900) });
        cascade.record(false);
        assert_eq!(cascade.next(MS(200), MS(1000), |_| Some(MS(50))), Step::Post { rank: 1, timeout: MS(50) });
        cascade.record(true);
        assert_eq!(cascade.next(MS(250), MS(1000), |_| None), Step::Stop(StopReason::Sold));
    }

    #[test]
    fn stops_when_bids_or_budget_run_out() {
        let mut cascade = Cascade::seeking(1, 1);
        assert!(matches!(cascade.next(MS(0), MS(1000), |_| None), Step::Post { rank: 0, .. }));
        cascade.record(false);
        assert_eq!(cascade.next(MS(10), MS(1000), |_| None), Step::Stop(StopReason::Exhausted));
        let mut late = Cascade::seeking(2, 1);
        assert_eq!(late.next(MS(998), MS(1000), |_| None), Step::Stop(StopReason::OutOfBudget));
    }

    #[test]
    fn a_shared_lead_goes_down_the_ranking_until_it_has_its_sales() {
        let mut cascade = Cascade::seeking(4, 2);
        assert!(matches!(cascade.next(MS(0), MS(1000), |_| None), Step::Post { rank: 0, .. }));
        cascade.record(true);
        assert!(matches!(cascade.next(MS(10), MS(1000), |_| None), Step::Post { rank: 1, .. }));
        cascade.record(false);
        assert!(matches!(cascade.next(MS(20), MS(1000), |_| None), Step::Post { rank: 2, .. }));
        cascade.record(true);
        assert_eq!(cascade.next(MS(30), MS(1000), |_| None), Step::Stop(StopReason::Sold));
    }

    proptest! {
        /// Any sequence of answers: posts go to ranks 0, 1, 2... once each, nothing after an
        /// acceptance, no post outlives the budget.
        #[test]
        fn cascade_order_and_budget(
            len in 0usize..12,
            answers in prop::collection::vec((any::<bool>(), 0u64..300), 12),
            post_timeouts in prop::collection::vec(prop::option::of(1u64..400), 12),
        ) {
            let budget = MS(1000);
            let mut elapsed = MS(100);
            let mut cascade = Cascade::seeking(len, 1);
            let mut posted = Vec::new();
            let mut accepted_at = None;
            for (accept, took) in answers {
                match cascade.next(elapsed, budget, |r| post_timeouts[r].map(MS)) {
                    Step::Post { rank, timeout } => {
                        prop_assert!(accepted_at.is_none(), "posted after a sale");
                        prop_assert!(elapsed + timeout <= budget, "post may outlive the budget");
                        prop_assert!(timeout >= MIN_POST_BUDGET.min(post_timeouts[rank].map_or(timeout, MS)));
                        posted.push(rank);
                        elapsed += MS(took).min(timeout);
                        cascade.record(accept);
                        if accept { accepted_at = Some(rank); }
                    }
                    Step::Stop(reason) => {
                        match reason {
                            StopReason::Sold => prop_assert!(accepted_at.is_some()),
                            StopReason::Exhausted => prop_assert_eq!(posted.len(), len),
                            StopReason::OutOfBudget => prop_assert!(budget - elapsed < MIN_POST_BUDGET),
                        }
                        break;
                    }
                }
            }
            prop_assert_eq!(posted.clone(), (0..posted.len()).collect::<Vec<_>>(), "rank order, each once");
        }
    }
}
