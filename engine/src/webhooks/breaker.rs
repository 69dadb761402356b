//! A per-endpoint circuit breaker, as plain state with `now` as input. Closed: every delivery
//! goes. After `failures` consecutive failed attempts (see
//! [`Outcome::is_endpoint_failure`](super::retry::Outcome::is_endpoint_failure)) it opens:
//! deliveries to the endpoint are held (not sent, and not counted as attempts, so a dead
//! endpoint does not burn through its retry schedule). After `cooloff_ms` one probe goes through
//! (half-open) while the rest stay held; its success closes the breaker, its failure re-opens it
//! for another cool-off.
//!
//! The caller remembers which attempt in flight is the probe (the one admitted with
//! [`Admission::Probe`]) and says so when its result comes: once the breaker has opened, only
//! the probe moves it. Late results of attempts started before it opened change nothing (a
//! late failure neither extends the cool-off nor re-opens a half-open breaker, a late success
//! does not close it: it says how the endpoint was, not how it is), and only the probe's being
//! abandoned lets another probe go.

use crate::store::UnixMs;

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failed attempts that open it (at least 1).
    pub failures: u32,
    /// How long it stays open before a probe.
    pub cooloff_ms: u64,
}

/// Whether a delivery may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it.
    Go,
    /// Send it as the half-open probe: the only attempt until its result is recorded.
    Probe,
    /// Hold it: the breaker is open until this time, or (`None`) a probe is in flight.
    Hold(Option<UnixMs>),
}

/// What a recorded result changed, for metrics and logs.
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

/// One endpoint's breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    state: State,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker { state: State::Closed { failures: 0 } }
    }
}

impl Breaker {
    /// Asks to send one delivery at `now`. A [`Admission::Probe`] must be followed by
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
    /// success resets the count of consecutive failures and a failure counts towards opening.
    /// Half-open, the probe's success closes it and its failure re-opens it for another
    /// cool-off. Any other result while open or half-open is late and changes nothing.
    pub fn record(&mut self, failed: bool, probe: bool, now: UnixMs, settings: BreakerSettings) -> Transition {
        let before = self.state;
        let open = State::Open { until: now.saturating_add(i64::try_from(settings.cooloff_ms).unwrap_or(i64::MAX)) };
        self.state = match (before, failed) {
            (State::Closed { .. }, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures.saturating_add(1) >= settings.failures.max(1) => open,
            (State::Closed { failures }, true) => State::Closed { failures: failures.saturating_add(1) },
            (State::HalfOpen, false) if probe => State::Closed { failures: 0 },
            (State::HalfOpen, true) if probe => open,
            (State::HalfOpen | State::Open { .. }, _) => before,
        };
        match (before, self.state) {
            (State::Closed { .. } | State::HalfOpen, State::Open { .. }) => Transition::Opened,
            (State::Open { .. } | State::HalfOpen, State::Closed { .. }) => Transition::Closed,
            _ => Transition::None,
        }
    }

    /// An attempt ended without being sent (shutdown, say; `probe`: it was the probe). Only
    /// the probe's matters: the next admission may probe again.
    pub fn abandoned(&mut self, probe: bool, now: UnixMs) {
        if probe && self.state == State::HalfOpen {
            self.state = State::Open { until: now };
        }
    }

    /// Whether deliveries are being held (open or half-open).
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

    const SETTINGS: BreakerSettings = BreakerSettings { failures: 3, cooloff_ms: 30_000 };

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
        let one = BreakerSettings { failures: 1, cooloff_ms: 10 };
        assert_eq!(breaker.record(true, false, 0, one), Transition::Opened);
        assert_eq!(breaker.admit(5), Admission::Hold(Some(10)));
    }
}
