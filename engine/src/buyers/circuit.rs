//! A buyer's circuit breaker at run time: the shared [`Breaker`] state machine behind a short
//! lock, plus an atomic "open" flag so the check before every ping costs one load while the
//! circuit is closed (the usual case). A buyer that times out or errors too often is not
//! pinged for a cool-off, then one probe ping decides.
//!
//! What counts as a failure is the auction's call (`PingResult::health`, `PostResult::health`):
//! transport errors, answers not in the contract's shape, 5xx are failures; timeouts are
//! failures for the rate rule and for a probe only ([`Breaker::record_timeout`]). No-bids,
//! declined posts and bids with a bad price are business, not outages.

use std::sync::atomic::{AtomicBool, Ordering};

use metrics::Gauge;
use parking_lot::Mutex;

use super::Skip;
use crate::breaker::{Admission, Breaker, BreakerSettings, Transition};
use crate::store::UnixMs;

/// What one ping or post says about a buyer's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It answered (whatever it answered).
    Ok,
    /// It failed: no connection, a broken exchange, a 5xx, an answer not in the contract's shape.
    Failed,
    /// It did not answer in time.
    TimedOut,
}

/// Whether a ping may go, and whether it is the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Ping it.
    Go,
    /// Ping it: the one probe of a half-open circuit; its result must be recorded as such.
    Probe,
}

/// One buyer's circuit.
#[derive(Debug)]
pub struct Circuit {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
    /// Open or half-open: the lock must be taken to decide. Written only under the lock, so
    /// it always agrees with the breaker.
    tripped: AtomicBool,
    /// `engine_buyer_circuit_state`: 0 closed, 1 open, 2 half-open.
    state: Gauge,
}

#[derive(Debug, Default)]
struct Inner {
    breaker: Breaker,
    /// When the probe in flight was handed out: a probe never recorded (its auction failed)
    /// is given up after a cool-off, so the circuit cannot stay half-open forever.
    probe_since: Option<UnixMs>,
}

impl Circuit {
    /// A closed circuit with these settings, reporting its state to `state`.
    pub fn new(settings: BreakerSettings, state: Gauge) -> Circuit {
        state.set(0.0);
        Circuit { settings, inner: Mutex::default(), tripped: AtomicBool::new(false), state }
    }

    /// Whether the circuit is open or half-open (a read, handing out no probe).
    pub fn is_open(&self) -> bool {
        self.tripped.load(Ordering::Acquire)
    }

    /// Whether the buyer may be pinged at `now`.
    pub fn admit(&self, now: UnixMs) -> Result<Admit, Skip> {
        if !self.tripped.load(Ordering::Acquire) {
            return Ok(Admit::Go);
        }
        let mut inner = self.inner.lock();
        let cooloff = i64::try_from(self.settings.cooloff_ms).unwrap_or(i64::MAX);
        if let Some(since) = inner.probe_since
            && now.saturating_sub(since) >= cooloff
        {
            inner.breaker.abandoned(true, now);
            inner.probe_since = None;
        }
        match inner.breaker.admit(now) {
            Admission::Go => Ok(Admit::Go),
            Admission::Probe => {
                inner.probe_since = Some(now);
                self.state.set(2.0);
                Ok(Admit::Probe)
            }
            Admission::Hold(_) => Err(Skip::CircuitOpen),
        }
    }

    /// Records a result (`probe`: of the ping admitted as the probe); `Some(opened)` when the
    /// circuit opened (from closed) or closed. A failed probe re-opens it for another
    /// cool-off without a second "opened".
    pub fn record(&self, health: Health, probe: bool, now: UnixMs) -> Option<bool> {
        let mut inner = self.inner.lock();
        let transition = match health {
            Health::Ok => inner.breaker.record(false, probe, now, self.settings),
            Health::Failed => inner.breaker.record(true, probe, now, self.settings),
            Health::TimedOut => inner.breaker.record_timeout(probe, now, self.settings),
        };
        if probe {
            inner.probe_since = None;
        }
        self.tripped.store(inner.breaker.is_open(), Ordering::Release);
        match transition {
            Transition::None => None,
            Transition::Opened => {
                self.state.set(1.0);
                (!probe).then_some(true)
            }
            Transition::Closed => {
                self.state.set(0.0);
                Some(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: BreakerSettings = BreakerSettings { failures: 3, cooloff_ms: 1_000, rate: None };

    #[test]
    fn opens_on_failures_holds_for_the_cooloff_probes_once_and_closes() {
        let circuit = Circuit::new(SETTINGS, Gauge::noop());
        assert_eq!(circuit.record(Health::Ok, false, 0), None);
        assert_eq!(circuit.record(Health::Failed, false, 1), None);
        assert_eq!(circuit.record(Health::Failed, false, 2), None);
        assert_eq!(circuit.admit(2), Ok(Admit::Go), "still closed");
        assert_eq!(circuit.record(Health::Failed, false, 3), Some(true));
        assert_eq!(circuit.admit(500), Err(Skip::CircuitOpen), "held during the cool-off");
        assert_eq!(circuit.admit(1_003), Ok(Admit::Probe), "one probe after it");
        assert_eq!(circuit.admit(1_004), Err(Skip::CircuitOpen), "only one");
        assert_eq!(circuit.record(Health::Failed, false, 1_010), None, "a late result of an older ping moves nothing");
        assert_eq!(circuit.record(Health::Ok, true, 1_050), Some(false), "the probe closes it");
        assert_eq!(circuit.admit(1_051), Ok(Admit::Go));
    }

    #[test]
    fn a_failed_probe_reopens_for_a_fresh_cooloff() {
        let circuit = Circuit::new(SETTINGS, Gauge::noop());
        for now in 0..3 {
            circuit.record(Health::Failed, false, now);
        }
        assert_eq!(circuit.admit(2_000), Ok(Admit::Probe));
        assert_eq!(
            circuit.record(Health::Failed, true, 2_002),
            None,
            "a failed probe re-opens, without a second event"
        );
        assert_eq!(circuit.admit(2_500), Err(Skip::CircuitOpen));
        assert_eq!(circuit.admit(3_002), Ok(Admit::Probe), "a fresh cool-off from the failed probe");
        assert_eq!(circuit.record(Health::Ok, true, 3_010), Some(false), "closed: one event");
    }

    #[test]
    fn a_probe_never_recorded_is_given_up_after_a_cooloff() {
        let circuit = Circuit::new(SETTINGS, Gauge::noop());
        for now in 0..3 {
            circuit.record(Health::Failed, false, now);
        }
        assert_eq!(circuit.admit(1_002), Ok(Admit::Probe));
        // Its auction never records it (a failed task, say).
        assert_eq!(circuit.admit(1_500), Err(Skip::CircuitOpen), "the probe is still out");
        assert_eq!(circuit.admit(2_002), Ok(Admit::Probe), "given up: another probe goes");
    }

    #[test]
    fn the_fast_flag_always_agrees_with_the_breaker_under_concurrency() {
        // Threads race opening (failures) and closing (probes) the circuit; afterwards the
        // lock-free flag must say what the breaker says.
        let circuit = Circuit::new(BreakerSettings { failures: 1, cooloff_ms: 0, rate: None }, Gauge::noop());
        std::thread::scope(|s| {
            for t in 0..4 {
                let circuit = &circuit;
                s.spawn(move || {
                    for i in 0..2_000 {
                        let now = i64::from(i);
                        match circuit.admit(now) {
                            Ok(Admit::Probe) => {
                                let health = if (i + t) % 2 == 0 { Health::Failed } else { Health::Ok };
                                circuit.record(health, true, now);
                            }
                            _ => {
                                circuit.record(Health::Failed, false, now);
                            }
                        }
                    }
                });
            }
        });
        let inner = circuit.inner.lock();
        assert_eq!(circuit.tripped.load(Ordering::Acquire), inner.breaker.is_open());
    }
}
