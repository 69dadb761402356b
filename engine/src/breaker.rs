//! A circuit breaker, as plain state with `now` as input: one per webhook endpoint (the
//! dispatcher) and one per buyer (the auction). Closed: every request goes. It opens on either
//! of two rules of [`BreakerSettings`]: `failures` consecutive failed attempts, or (the optional
//! [`RateRule`]) a failure ratio of at least `rate` among at least `min_requests` results of
//! the last `window_ms`. Open, requests are held (not sent). After `cooloff_ms` one probe goes
//! through (half-open) while the rest stay held; its success closes the breaker, its failure
//! re-opens it for another cool-off. What counts as a failure is the caller's business (for a
//! webhook, [`Outcome::is_endpoint_failure`](crate::webhooks::retry::Outcome::is_endpoint_failure);
//! for a buyer, `PingResult::health` and `PostResult::health`: transport errors, bad statuses
//! and malformed answers fail, timeouts go through [`Breaker::record_timeout`], and a no-bid or
//! a declined post is a success).
//!
//! The caller remembers which attempt in flight is the probe (the one admitted with
//! [`Admission::Probe`]) and says so when its result comes: once the breaker has opened, only
//! the probe moves it. Late results of attempts started before it opened change nothing (a
//! late failure neither extends the cool-off nor re-opens a half-open breaker, a late success
//! does not close it: it says how the endpoint was, not how it is), and only the probe's being
//! abandoned lets another probe go.
//!
//! The rate window is a ring of [`WINDOW_BUCKETS`] buckets of `window_ms / WINDOW_BUCKETS`
//! each, counting successes and failures: recording is a few integer operations, with no
//! allocation. The window seen at `now` is the current bucket and the ones before it, so a
//! result ages out between `window_ms - window_ms / WINDOW_BUCKETS` and `window_ms` after it
//! was recorded. The window starts empty whenever the breaker opens or closes.

use crate::store::UnixMs;

/// Buckets of the rate window: ten gives the window a resolution of a tenth of its length,
/// and keeps a breaker small (the window is about 160 bytes).
pub const WINDOW_BUCKETS: usize = 10;

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Consecutive failed attempts that open it; 0: no such rule.
    pub failures: u32,
    /// How long it stays open before a probe.
    pub cooloff_ms: u64,
    /// The failure-rate rule, if any.
    pub rate: Option<RateRule>,
}

/// Opens the breaker when, among the results of the last `window_ms`, there are at least
/// `min_requests` and the failed ones are at least `rate` of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateRule {
    /// Failure ratio that opens it, in `(0, 1]`.
    pub rate: f64,
    /// Fewest results in the window for the ratio to count (a few failures of few requests
    /// say little).
    pub min_requests: u32,
    /// Length of the window (at least [`WINDOW_BUCKETS`] ms).
    pub window_ms: u64,
}

impl RateRule {
    /// Length of one bucket of the window.
    fn bucket_ms(&self) -> i64 {
        let per_bucket = self.window_ms / WINDOW_BUCKETS as u64;
        i64::try_from(per_bucket).unwrap_or(i64::MAX).max(1)
    }
}

/// Whether a request may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it.
    Go,
    /// Send it as the half-open probe: the only attempt until its result is recorded.
    Probe,
    /// Hold it: the breaker is open until this time, or (`None`) a probe is in flight.
    Hold(Option<UnixMs>),
}

/// What a recorded result changed, for metrics, logs and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing visible.
    None,
    /// The breaker opened (or re-opened after a failed probe).
    Opened,
    /// The breaker closed.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: UnixMs },
    HalfOpen,
}

/// One bucket of the rate window: the results recorded during bucket number `index` (time
/// divided by the bucket length).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bucket {
    index: i64,
    ok: u32,
    failed: u32,
}

/// The rate window: a ring of buckets, bucket number `i` in slot `i % WINDOW_BUCKETS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Window {
    buckets: [Bucket; WINDOW_BUCKETS],
}

impl Window {
    /// Counts one result at `now`, reusing the slot of a bucket that has aged out.
    fn record(&mut self, failed: bool, now: UnixMs, rule: &RateRule) {
        let index = now.div_euclid(rule.bucket_ms());
        let bucket = &mut self.buckets[index.rem_euclid(WINDOW_BUCKETS as i64) as usize];
        if bucket.index != index {
            *bucket = Bucket { index, ok: 0, failed: 0 };
        }
        if failed {
            bucket.failed = bucket.failed.saturating_add(1);
        } else {
            bucket.ok = bucket.ok.saturating_add(1);
        }
    }

    /// `(results, failed)` of the buckets within the window at `now`.
    fn counts(&self, now: UnixMs, rule: &RateRule) -> (u64, u64) {
        let current = now.div_euclid(rule.bucket_ms());
        let oldest = current.saturating_sub(WINDOW_BUCKETS as i64 - 1);
        self.buckets
            .iter()
            .filter(|b| (oldest..=current).contains(&b.index))
            .fold((0, 0), |(all, bad), b| (all + u64::from(b.ok) + u64::from(b.failed), bad + u64::from(b.failed)))
    }

    /// Whether the rule trips at `now`.
    fn trips(&self, now: UnixMs, rule: &RateRule) -> bool {
        let (all, failed) = self.counts(now, rule);
        all > 0 && all >= u64::from(rule.min_requests) && failed as f64 >= rule.rate * all as f64
    }
}

/// One endpoint's (or buyer's) breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    state: State,
    /// Results while closed, for the rate rule (left empty without one).
    window: Window,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker { state: State::Closed { failures: 0 }, window: Window::default() }
    }
}

impl Breaker {
    /// Asks to send one request at `now`. A [`Admission::Probe`] must be followed by
    /// [`Breaker::record`] (or [`Breaker::abandoned`]) with `probe` set, or the endpoint stays
    /// held.
    pub fn admit(&mut self, now: UnixMs) -> Admission {
        match self.state {
            State::Closed { .. } => Admission::Go,
            State::Open { until } if now < until => Admission::Hold(Some(until)),
            State::Open { .. } => {
                self.state = State::HalfOpen;
                Admission::Probe
            }
            State::HalfOpen => Admission::Hold(None),
        }
    }

    /// Records an attempt's result; `probe`: it is the attempt admitted as the probe. Closed, a
    /// success resets the count of consecutive failures and a failure counts towards opening;
    /// both count in the rate window. Half-open, the probe's success closes it and its failure
    /// re-opens it for another cool-off. Any other result while open or half-open is late and
    /// changes nothing.
    pub fn record(&mut self, failed: bool, probe: bool, now: UnixMs, settings: BreakerSettings) -> Transition {
        self.apply(failed, failed, probe, now, settings)
    }

    /// Records a timeout: a failure for the rate rule and for a probe, but not one of the
    /// consecutive failures (nor a success that resets them). Timeouts are the noisiest sign of
    /// trouble, and the one most often caused by the caller's own load: a run of them trips
    /// the breaker only through the rate rule, over a whole window.
    pub fn record_timeout(&mut self, probe: bool, now: UnixMs, settings: BreakerSettings) -> Transition {
        self.apply(true, false, probe, now, settings)
    }

    /// `failed` counts in the rate window and for a probe; `consecutive` also in the count of
    /// consecutive failures (a success, `!failed`, resets it).
    fn apply(
        &mut self,
        failed: bool,
        consecutive: bool,
        probe: bool,
        now: UnixMs,
        settings: BreakerSettings,
    ) -> Transition {
        let before = self.state;
        if let State::Closed { .. } = before
            && let Some(rule) = &settings.rate
        {
            self.window.record(failed, now, rule);
        }
        let open = State::Open { until: now.saturating_add(i64::try_from(settings.cooloff_ms).unwrap_or(i64::MAX)) };
        self.state = match (before, failed) {
            (State::Closed { .. }, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) => {
                let failures = if consecutive { failures.saturating_add(1) } else { failures };
                let in_a_row = consecutive && settings.failures > 0 && failures >= settings.failures;
                let rate = settings.rate.as_ref().is_some_and(|rule| self.window.trips(now, rule));
                if in_a_row || rate { open } else { State::Closed { failures } }
            }
            (State::HalfOpen, false) if probe => State::Closed { failures: 0 },
            (State::HalfOpen, true) if probe => open,
            (State::HalfOpen | State::Open { .. }, _) => before,
        };
        let transition = match (before, self.state) {
            (State::Closed { .. } | State::HalfOpen, State::Open { .. }) => Transition::Opened,
            (State::Open { .. } | State::HalfOpen, State::Closed { .. }) => Transition::Closed,
            _ => Transition::None,
        };
        if transition != Transition::None {
            self.window = Window::default();
        }
        transition
    }

    /// An attempt ended without being sent (shutdown, say; `probe`: it was the probe). Only
    /// the probe's matters: the next admission may probe again.
    pub fn abandoned(&mut self, probe: bool, now: UnixMs) {
        if probe && self.state == State::HalfOpen {
            self.state = State::Open { until: now };
        }
    }

    /// Whether requests are being held (open or half-open).
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }

    /// Until when it is open, if it is (and no probe is in flight).
    pub fn open_until(&self) -> Option<UnixMs> {
        match self.state {
            State::Open { until } => Some(until),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: BreakerSettings = BreakerSettings { failures: 3, cooloff_ms: 30_000, rate: None };

    #[test]
    fn opens_after_n_consecutive_failures_and_holds_until_the_cooloff() {
        let mut breaker = Breaker::default();
        let mut now = 1_000;
        for _ in 0..2 {
            assert_eq!(breaker.admit(now), Admission::Go);
            assert_eq!(breaker.record(true, false, now, SETTINGS), Transition::None);
            now += 10;
        }
        assert_eq!(breaker.admit(now), Admission::Go);
        assert_eq!(breaker.record(true, false, now, SETTINGS), Transition::Opened);
        let until = now + 30_000;
        assert!(breaker.is_open());
        assert_eq!(breaker.admit(now), Admission::Hold(Some(until)));
        assert_eq!(breaker.admit(until - 1), Admission::Hold(Some(until)));
    }

    #[test]
    fn a_success_resets_the_count_of_consecutive_failures() {
        let mut breaker = Breaker::default();
        for round in 0..5 {
            assert_eq!(breaker.record(true, false, round, SETTINGS), Transition::None);
            assert_eq!(breaker.record(true, false, round, SETTINGS), Transition::None);
            assert_eq!(breaker.record(false, false, round, SETTINGS), Transition::None);
        }
        assert_eq!(breaker.admit(10), Admission::Go);
    }

    #[test]
    fn after_the_cooloff_one_probe_goes_and_its_success_closes() {
        let mut breaker = Breaker::default();
        for _ in 0..3 {
            breaker.record(true, false, 0, SETTINGS);
        }
        assert_eq!(breaker.admit(30_000), Admission::Probe);
        assert_eq!(breaker.admit(30_001), Admission::Hold(None), "one probe at a time");
        assert_eq!(breaker.record(false, true, 30_050, SETTINGS), Transition::Closed);
        assert!(!breaker.is_open());
        assert_eq!(breaker.admit(30_051), Admission::Go);
    }

    #[test]
    fn a_failed_probe_reopens_for_another_cooloff() {
        let mut breaker = Breaker::default();
        for _ in 0..3 {
            breaker.record(true, false, 0, SETTINGS);
        }
        assert_eq!(breaker.admit(40_000), Admission::Probe);
        assert_eq!(breaker.record(true, true, 40_100, SETTINGS), Transition::Opened);
        assert_eq!(breaker.admit(40_200), Admission::Hold(Some(70_100)));
        assert_eq!(breaker.admit(70_100), Admission::Probe);
    }

    #[test]
    fn late_results_while_open_change_nothing() {
        let mut breaker = Breaker::default();
        for _ in 0..3 {
            breaker.record(true, false, 0, SETTINGS);
        }
        assert_eq!(breaker.record(true, false, 5_000, SETTINGS), Transition::None, "the cool-off is not extended");
        assert_eq!(breaker.open_until(), Some(30_000));
        assert_eq!(breaker.record(false, false, 6_000, SETTINGS), Transition::None, "a late success does not close");
        assert_eq!(breaker.admit(6_001), Admission::Hold(Some(30_000)));
        assert_eq!(breaker.admit(30_000), Admission::Probe);
    }

    #[test]
    fn while_half_open_only_the_probe_s_result_counts() {
        let mut breaker = Breaker::default();
        for _ in 0..3 {
            breaker.record(true, false, 0, SETTINGS);
        }
        assert_eq!(breaker.admit(30_000), Admission::Probe);
        // Attempts started before it opened end while the probe is out.
        assert_eq!(breaker.record(true, false, 30_010, SETTINGS), Transition::None, "a late failure");
        assert_eq!(breaker.admit(30_011), Admission::Hold(None), "still half-open");
        assert_eq!(breaker.record(false, false, 30_020, SETTINGS), Transition::None, "a late success");
        assert_eq!(breaker.admit(30_021), Admission::Hold(None), "still half-open");
        breaker.abandoned(false, 30_030);
        assert_eq!(breaker.admit(30_031), Admission::Hold(None), "another attempt's abandon is not the probe's");
        assert_eq!(breaker.record(true, true, 30_040, SETTINGS), Transition::Opened, "the probe failed");
        assert_eq!(breaker.admit(30_041), Admission::Hold(Some(60_040)));
        assert_eq!(breaker.admit(60_040), Admission::Probe);
        assert_eq!(breaker.record(false, true, 60_050, SETTINGS), Transition::Closed, "the probe succeeded");
        assert_eq!(breaker.admit(60_051), Admission::Go);
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_admission_probe() {
        let mut breaker = Breaker::default();
        for _ in 0..3 {
            breaker.record(true, false, 0, SETTINGS);
        }
        assert_eq!(breaker.admit(30_000), Admission::Probe);
        breaker.abandoned(true, 30_010);
        assert_eq!(breaker.admit(30_020), Admission::Probe);
    }

    #[test]
    fn a_threshold_of_one_opens_on_the_first_failure() {
        let mut breaker = Breaker::default();
        let one = BreakerSettings { failures: 1, cooloff_ms: 10, rate: None };
        assert_eq!(breaker.record(true, false, 0, one), Transition::Opened);
        assert_eq!(breaker.admit(5), Admission::Hold(Some(10)));
    }

    /// Buyers' defaults: 10 consecutive, or half of at least 20 in 10 s; 30 s cool-off.
    const RATE: BreakerSettings = BreakerSettings {
        failures: 10,
        cooloff_ms: 30_000,
        rate: Some(RateRule { rate: 0.5, min_requests: 20, window_ms: 10_000 }),
    };

    /// Records `ok` successes then `failed` failures at `now`, none of which may open it.
    fn feed(breaker: &mut Breaker, ok: u32, failed: u32, now: UnixMs, settings: BreakerSettings) {
        for _ in 0..ok {
            assert_eq!(breaker.record(false, false, now, settings), Transition::None);
        }
        for _ in 0..failed {
            assert_eq!(breaker.record(true, false, now, settings), Transition::None);
        }
    }

    #[test]
    fn the_rate_rule_opens_on_the_failure_ratio_over_the_window() {
        let mut breaker = Breaker::default();
        // Alternating results never make 10 consecutive failures; 10 of 20 is the ratio.
        for i in 0..19 {
            let failed = i % 2 == 0;
            assert_eq!(breaker.record(failed, false, 1_000 + i, RATE), Transition::None, "result {i}");
        }
        // 19 results, 10 failed: below min_requests, so still closed.
        assert_eq!(breaker.admit(1_100), Admission::Go);
        assert_eq!(breaker.record(false, false, 1_100, RATE), Transition::None, "a success never opens it");
        // 21 results, 11 failed.
        assert_eq!(breaker.record(true, false, 1_200, RATE), Transition::Opened);
        assert_eq!(breaker.admit(1_201), Admission::Hold(Some(31_200)));
    }

    #[test]
    fn the_rate_rule_needs_min_requests() {
        let mut breaker = Breaker::default();
        // All 9 failed (below the consecutive 10), but only 9 results: under min_requests.
        feed(&mut breaker, 0, 9, 0, RATE);
        assert_eq!(breaker.admit(1), Admission::Go);
        // A success resets the consecutive count; 10 results, 90% failed, still under 20.
        feed(&mut breaker, 1, 0, 1, RATE);
        feed(&mut breaker, 9, 0, 2, RATE);
        // 19 results, 9 failed: below the ratio; another failure makes 10 of 20.
        assert_eq!(breaker.record(true, false, 3, RATE), Transition::Opened);
    }

    #[test]
    fn below_the_rate_it_stays_closed() {
        let mut breaker = Breaker::default();
        for round in 0..50 {
            // 40% failed, at any volume.
            feed(&mut breaker, 3, 2, round * 100, RATE);
        }
        assert!(!breaker.is_open());
    }

    #[test]
    fn old_buckets_age_out_of_the_window() {
        let mut breaker = Breaker::default();
        // 9 failures at t = 0 (bucket 0 of 1 s buckets), then 11 successes later.
        feed(&mut breaker, 0, 9, 0, RATE);
        feed(&mut breaker, 11, 0, 5_000, RATE);
        // 10 failed of 21: not yet half.
        feed(&mut breaker, 0, 1, 9_000, RATE);
        assert_eq!(breaker.record(true, false, 9_999, RATE), Transition::Opened, "11 of 22 within the window");

        let mut breaker = Breaker::default();
        feed(&mut breaker, 0, 9, 0, RATE);
        feed(&mut breaker, 11, 0, 5_000, RATE);
        feed(&mut breaker, 0, 1, 9_000, RATE);
        // At 10 s bucket 0 (t in 0..1 s) has aged out: 2 failures of 13.
        assert_eq!(breaker.record(true, false, 10_000, RATE), Transition::None, "bucket 0 aged out");
        assert!(!breaker.is_open());
    }

    #[test]
    fn a_slot_reused_after_a_long_pause_starts_from_zero() {
        let mut breaker = Breaker::default();
        feed(&mut breaker, 0, 9, 0, RATE);
        feed(&mut breaker, 10, 0, 1_000, RATE);
        // 100 s later (bucket 100, in slot 0 again): bucket 0's 9 failures are gone, so 9
        // failures of 20 (counting them, 18 of 29 would open it at the second failure).
        feed(&mut breaker, 11, 0, 100_000, RATE);
        feed(&mut breaker, 0, 9, 100_500, RATE);
        assert!(!breaker.is_open());
    }

    #[test]
    fn consecutive_failures_still_open_with_a_rate_rule() {
        let mut breaker = Breaker::default();
        feed(&mut breaker, 100, 9, 0, RATE);
        assert_eq!(breaker.record(true, false, 1, RATE), Transition::Opened, "10 in a row, at 9% of the window");
    }

    #[test]
    fn no_consecutive_rule_when_failures_is_zero() {
        let rate_only = BreakerSettings { failures: 0, ..RATE };
        let mut breaker = Breaker::default();
        feed(&mut breaker, 0, 19, 0, rate_only);
        assert_eq!(breaker.record(true, false, 1, rate_only), Transition::Opened, "the rate rule alone");
    }

    #[test]
    fn with_a_rate_rule_the_probe_and_late_results_work_the_same() {
        let mut breaker = Breaker::default();
        feed(&mut breaker, 0, 9, 0, RATE);
        assert_eq!(breaker.record(true, false, 0, RATE), Transition::Opened);
        // Late results of attempts started before it opened: nothing moves, nothing counts.
        for _ in 0..30 {
            assert_eq!(breaker.record(false, false, 10, RATE), Transition::None);
            assert_eq!(breaker.record(true, false, 10, RATE), Transition::None);
        }
        assert_eq!(breaker.open_until(), Some(30_000));
        assert_eq!(breaker.admit(29_999), Admission::Hold(Some(30_000)));
        assert_eq!(breaker.admit(30_000), Admission::Probe);
        assert_eq!(breaker.admit(30_000), Admission::Hold(None), "exactly one probe");
        assert_eq!(breaker.admit(30_001), Admission::Hold(None), "exactly one probe");
        assert_eq!(breaker.record(true, true, 30_050, RATE), Transition::Opened, "the probe failed");
        assert_eq!(breaker.admit(30_051), Admission::Hold(Some(60_050)), "a fresh cool-off");
        assert_eq!(breaker.admit(60_050), Admission::Probe);
        assert_eq!(breaker.record(false, true, 60_060, RATE), Transition::Closed, "the probe succeeded");
        // The window starts empty on closing: 9 failures of 9 do not open it again.
        feed(&mut breaker, 0, 9, 60_070, RATE);
        assert_eq!(breaker.admit(60_080), Admission::Go);
    }

    #[test]
    fn timeouts_trip_only_through_the_rate_rule() {
        let rate = RateRule { rate: 0.5, min_requests: 20, window_ms: 10_000 };
        let settings = BreakerSettings { failures: 3, cooloff_ms: 1_000, rate: Some(rate) };
        let mut breaker = Breaker::default();
        // Timeouts mixed with successes, a third of the results: never opens, however long.
        for i in 0..300 {
            let t = if i % 3 == 0 {
                breaker.record_timeout(false, i * 10, settings)
            } else {
                breaker.record(false, false, i * 10, settings)
            };
            assert_eq!(t, Transition::None, "result {i}");
        }
        let mut breaker = Breaker::default();
        for i in 0..10 {
            assert_eq!(
                breaker.record_timeout(false, i, settings),
                Transition::None,
                "ten in a row: not consecutive failures"
            );
        }
        // Hard failures still count in a row, timeouts neither add to nor reset the count.
        let mut breaker = Breaker::default();
        assert_eq!(breaker.record(true, false, 0, settings), Transition::None);
        assert_eq!(breaker.record_timeout(false, 1, settings), Transition::None);
        assert_eq!(breaker.record(true, false, 2, settings), Transition::None);
        assert_eq!(breaker.record(true, false, 3, settings), Transition::Opened);
        // Timeouts alone: open once the window holds 20 results, half of them failed.
        let mut breaker = Breaker::default();
        let opened = (0..40).map(|i| breaker.record_timeout(false, i, settings)).position(|t| t == Transition::Opened);
        assert_eq!(opened, Some(19), "the 20th result trips the rate rule");
        // A probe that times out re-opens.
        assert_eq!(breaker.admit(2_000), Admission::Probe);
        assert_eq!(breaker.record_timeout(true, 2_001, settings), Transition::Opened);
    }
}
