//! A buyer's circuit breaker at run time: the shared [`Breaker`] state machine behind a short
//! lock, plus an atomic "open" flag so the check before every ping costs one load while the
//! circuit is closed (the usual case). A buyer that times out or errors too often is not
//! pinged for a cool-off, then one probe ping decides.
//!
//! What counts as a failure is the auction's call (`PingResult::is_outage`,
//! `PostResult::is_outage`): timeouts, transport errors, answers not in the contract's shape,
//! 5xx. No-bids, declined posts and bids with a bad price are business, not outages.

use std::sync::atomic::{AtomicBool, Ordering};

use metrics::Gauge;
use parking_lot::Mutex;

use super::Skip;
use crate::breaker::{Admission, Breaker, BreakerSettings, Transition};
use crate::store::UnixMs;

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
    breaker: Mutex<Breaker>,
    /// Open or half-open: the lock must be taken to decide.
    tripped: AtomicBool,
    /// `engine_buyer_circuit_state`: 0 closed, 1 open, 2 half-open.
    state: Gauge,
}

impl Circuit {
    /// A closed circuit with these settings, reporting its state to `state`.
    pub fn new(settings: BreakerSettings, state: Gauge) -> Circuit {
        state.set(0.0);
        Circuit { settings, breaker: Mutex::new(Breaker::default()), tripped: AtomicBool::new(false), state }
    }

    /// Whether the buyer may be pinged at `now`.
    pub fn admit(&self, now: UnixMs) -> Result<Admit, Skip> {
        if !self.tripped.load(Ordering::Acquire) {
            return Ok(Admit::Go);
        }
        let admission = self.breaker.lock().admit(now);
        match admission {
            Admission::Go => Ok(Admit::Go),
            Admission::Probe => {
                self.state.set(2.0);
                Ok(Admit::Probe)
            }
            Admission::Hold(_) => Err(Skip::CircuitOpen),
        }
    }

    /// Records a result (`probe`: of the ping admitted as the probe); `Some(opened)` when the
    /// circuit opened or closed.
    pub fn record(&self, failed: bool, probe: bool, now: UnixMs) -> Option<bool> {
        let transition = self.breaker.lock().record(failed, probe, now, self.settings);
        match transition {
            Transition::None => None,
            Transition::Opened => {
                self.tripped.store(true, Ordering::Release);
                self.state.set(1.0);
                Some(true)
            }
            Transition::Closed => {
                self.tripped.store(false, Ordering::Release);
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
        assert_eq!(circuit.record(false, false, 0), None);
        assert_eq!(circuit.record(true, false, 1), None);
        assert_eq!(circuit.record(true, false, 2), None);
        assert_eq!(circuit.admit(2), Ok(Admit::Go), "still closed");
        assert_eq!(circuit.record(true, false, 3), Some(true));
        assert_eq!(circuit.admit(500), Err(Skip::CircuitOpen), "held during the cool-off");
        assert_eq!(circuit.admit(1_003), Ok(Admit::Probe), "one probe after it");
        assert_eq!(circuit.admit(1_004), Err(Skip::CircuitOpen), "only one");
        assert_eq!(circuit.record(true, false, 1_010), None, "a late result of an older ping moves nothing");
        assert_eq!(circuit.record(false, true, 1_050), Some(false), "the probe closes it");
        assert_eq!(circuit.admit(1_051), Ok(Admit::Go));
    }

    #[test]
    fn a_failed_probe_reopens_for_a_fresh_cooloff() {
        let circuit = Circuit::new(SETTINGS, Gauge::noop());
        for now in 0..3 {
            circuit.record(true, false, now);
        }
        assert_eq!(circuit.admit(2_000), Ok(Admit::Probe));
        assert_eq!(circuit.record(true, true, 2_002), Some(true), "a failed probe re-opens");
        assert_eq!(circuit.admit(2_500), Err(Skip::CircuitOpen));
        assert_eq!(circuit.admit(3_002), Ok(Admit::Probe), "a fresh cool-off from the failed probe");
    }
}
