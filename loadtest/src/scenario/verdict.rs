//! The SLO arithmetic, as plain functions of the step figures: whether a step held, when a
//! ramp stops, the highest sustained rate, and the engine-to-baseline ratios.

use serde::Serialize;

use super::config::Slo;
use crate::report::Report;

/// What the verdict needs from one step's report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepFigures {
    /// The step's target rate, per second.
    pub rate: f64,
    /// Client-side p99 latency, ms.
    pub p99_ms: f64,
    /// Leads sent.
    pub sent: u64,
    /// Leads answered (any status).
    pub answered: u64,
    /// Non-200 answers, client timeouts and connection errors.
    pub errors: u64,
    /// 200 answers (`sold`, `unsold`, `duplicate`, ...).
    pub outcomes: u64,
    /// 200 answers that sold.
    pub sold: u64,
}

impl From<&Report> for StepFigures {
    fn from(report: &Report) -> StepFigures {
        StepFigures {
            rate: report.target_rate,
            p99_ms: report.latency_ms.p99,
            sent: report.sent,
            answered: report.latency_ms.count,
            errors: report.errors_by_status.values().sum::<u64>() + report.client_timeouts + report.connection_errors,
            outcomes: report.outcomes.values().sum(),
            sold: report.outcomes.get("sold").copied().unwrap_or(0),
        }
    }
}

impl StepFigures {
    /// Errors over leads sent (0 for a step that sent nothing).
    pub fn error_rate(&self) -> f64 {
        if self.sent == 0 { 0.0 } else { self.errors as f64 / self.sent as f64 }
    }
}

/// Why a step did not hold the SLO.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "miss")]
pub enum Miss {
    /// Not one answer: nothing to judge, and certainly not sustained.
    NoAnswers,
    /// Too many errors (checked first: a failing engine can answer errors fast).
    ErrorRate {
        /// Measured.
        error_rate: f64,
        /// The SLO's limit.
        limit: f64,
    },
    /// p99 over the limit.
    P99 {
        /// Measured.
        p99_ms: f64,
        /// The SLO's limit.
        limit: f64,
    },
    /// Too few leads sold.
    SoldShare {
        /// Measured.
        share: f64,
        /// The SLO's limit.
        limit: f64,
    },
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::NoAnswers => write!(f, "no answers"),
            Miss::ErrorRate { error_rate, limit } => {
                write!(f, "error rate {:.3}% > {:.3}%", error_rate * 100.0, limit * 100.0)
            }
            Miss::P99 { p99_ms, limit } => write!(f, "p99 {p99_ms:.1} ms > {limit} ms"),
            Miss::SoldShare { share, limit } => {
                write!(f, "sold {:.1}% < {:.1}%", share * 100.0, limit * 100.0)
            }
        }
    }
}

/// Whether a step held the SLO: answers came, the error rate is at most the limit, the p99 is
/// at most the limit, and (if the SLO sets one) enough of the answers sold.
pub fn check(slo: &Slo, step: &StepFigures) -> Result<(), Miss> {
    if step.answered == 0 {
        return Err(Miss::NoAnswers);
    }
    let error_rate = step.error_rate();
    if error_rate > slo.max_error_rate {
        return Err(Miss::ErrorRate { error_rate, limit: slo.max_error_rate });
    }
    if step.p99_ms > slo.p99_ms {
        return Err(Miss::P99 { p99_ms: step.p99_ms, limit: slo.p99_ms });
    }
    if let Some(limit) = slo.min_sold_share
        && step.outcomes > 0
    {
        let share = step.sold as f64 / step.outcomes as f64;
        if share < limit {
            return Err(Miss::SoldShare { share, limit });
        }
    }
    Ok(())
}

/// Whether to stop after the steps judged so far: the last `stop_after` steps all failed.
pub fn should_stop(held: &[bool], stop_after: usize) -> bool {
    stop_after > 0 && held.len() >= stop_after && held[held.len() - stop_after..].iter().all(|h| !h)
}

/// The verdict over one side's steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The highest target rate whose step held the SLO (`None`: not even the first).
    pub max_sustainable_rate: Option<f64>,
    /// Steps run.
    pub steps_run: usize,
    /// Steps in the scenario.
    pub steps_planned: usize,
    /// Why the run stopped early, if it did.
    pub stopped_early: Option<String>,
}

/// The verdict: the highest rate among the steps that held. A held step above a failed one
/// still counts (the failure was a hiccup); [`should_stop`] ends a ramp at a real limit.
pub fn verdict(steps: &[(StepFigures, bool)], planned: usize, stop_after: usize) -> Verdict {
    let max = steps
        .iter()
        .filter(|(_, held)| *held)
        .map(|(f, _)| f.rate)
        .fold(None, |max: Option<f64>, r| Some(max.map_or(r, |m| m.max(r))));
    let stopped_early = (steps.len() < planned).then(|| {
        let last = steps.last().map_or(0.0, |(f, _)| f.rate);
        format!("stopped after {stop_after} failing step(s) in a row, the last at {last}/s")
    });
    Verdict { max_sustainable_rate: max, steps_run: steps.len(), steps_planned: planned, stopped_early }
}

/// `engine / baseline`, when both are known and the baseline is not zero.
pub fn ratio(engine: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    match (engine, baseline) {
        (Some(e), Some(b)) if b > 0.0 => Some(e / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLO: Slo = Slo { p99_ms: 150.0, max_error_rate: 0.001, min_sold_share: None };

    fn step(rate: f64, p99_ms: f64, sent: u64, errors: u64) -> StepFigures {
        StepFigures {
            rate,
            p99_ms,
            sent,
            answered: sent - errors,
            errors,
            outcomes: sent - errors,
            sold: sent - errors,
        }
    }

    #[test]
    fn a_step_holds_at_the_limits_and_fails_just_past_them() {
        assert_eq!(check(&SLO, &step(100.0, 150.0, 1000, 1)), Ok(()), "p99 at the limit, 0.1% errors");
        assert!(matches!(check(&SLO, &step(100.0, 150.1, 1000, 0)), Err(Miss::P99 { .. })));
        assert!(matches!(check(&SLO, &step(100.0, 10.0, 1000, 2)), Err(Miss::ErrorRate { .. })));
        let none = StepFigures { rate: 100.0, p99_ms: 0.0, sent: 100, answered: 0, errors: 100, outcomes: 0, sold: 0 };
        assert_eq!(check(&SLO, &none), Err(Miss::NoAnswers));
        // Errors are checked first: fast 503s are not a pass.
        let fast_errors = step(100.0, 1.0, 1000, 500);
        assert!(
            matches!(check(&SLO, &fast_errors), Err(Miss::ErrorRate { error_rate, .. }) if (error_rate - 0.5).abs() < 1e-12)
        );
    }

    #[test]
    fn a_step_that_stopped_selling_did_not_hold() {
        // Fast and error-free, but almost nothing sold (every buyer skipped, say).
        let unsold = StepFigures { sold: 10, ..step(2000.0, 9.0, 10_000, 0) };
        assert_eq!(check(&SLO, &unsold), Ok(()), "without min_sold_share the SLO does not look");
        let slo = Slo { min_sold_share: Some(0.9), ..SLO };
        assert!(matches!(check(&slo, &unsold), Err(Miss::SoldShare { .. })));
        let mostly_sold = StepFigures { sold: 9_000, ..step(2000.0, 9.0, 10_000, 0) };
        assert_eq!(check(&slo, &mostly_sold), Ok(()), "90% is enough");
        assert_eq!(Miss::SoldShare { share: 0.001, limit: 0.9 }.to_string(), "sold 0.1% < 90.0%");
    }

    #[test]
    fn error_rate_counts_every_kind_over_sent() {
        let mut report = crate::report::Recorder::new().report(
            10.0,
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(1),
        );
        report.sent = 200;
        report.errors_by_status.insert(503, 3);
        report.errors_by_status.insert(400, 1);
        report.client_timeouts = 2;
        report.connection_errors = 4;
        let figures = StepFigures::from(&report);
        assert_eq!(figures.errors, 10);
        assert!((figures.error_rate() - 0.05).abs() < 1e-12);
    }

    #[test]
    fn the_ramp_stops_after_the_configured_failures_in_a_row() {
        assert!(!should_stop(&[], 1));
        assert!(!should_stop(&[true, true], 1));
        assert!(should_stop(&[true, false], 1));
        assert!(!should_stop(&[true, false], 2));
        assert!(!should_stop(&[false, true, false], 2), "not in a row");
        assert!(should_stop(&[true, false, false], 2));
    }

    #[test]
    fn the_max_rate_is_the_highest_step_that_held() {
        let steps = [
            (step(100.0, 20.0, 500, 0), true),
            (step(200.0, 30.0, 1000, 0), true),
            (step(300.0, 400.0, 1500, 0), false),
            (step(400.0, 140.0, 2000, 0), true),
            (step(500.0, 900.0, 2500, 0), false),
            (step(600.0, 900.0, 3000, 0), false),
        ];
        let v = verdict(&steps, 10, 2);
        assert_eq!(v.max_sustainable_rate, Some(400.0));
        assert_eq!((v.steps_run, v.steps_planned), (6, 10));
        assert!(v.stopped_early.as_deref().is_some_and(|s| s.contains("2 failing") && s.contains("600")), "{v:?}");
        let none = verdict(&[(step(100.0, 999.0, 10, 0), false)], 1, 2);
        assert_eq!(none.max_sustainable_rate, None);
        assert_eq!(none.stopped_early, None, "it ran every step");
    }

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(700.0), Some(1000.0)), Some(0.7));
        assert_eq!(ratio(None, Some(1000.0)), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
    }
}
