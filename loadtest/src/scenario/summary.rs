//! What a scenario measured, as written to `report.json`: each side's steps (the engine's,
//! and the baseline's when it ran) with their full [`Report`], the verdict against the SLO,
//! and the engine-to-baseline ratios.

use serde::Serialize;

use super::config::{Scenario, Slo, Step};
use super::verdict::{self, Miss, StepFigures, Verdict};
use crate::report::Report;

/// The whole scenario report.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// The scenario as loaded (the ramp expanded).
    pub scenario: Scenario,
    /// `processes` or `in-process`.
    pub launch: &'static str,
    /// Cores this machine offers; the engine, bidder-sim and the generator share them.
    pub cores: usize,
    /// The engine's steps and verdict.
    pub engine: Side,
    /// The baseline's, when `baseline = true`.
    pub baseline: Option<Side>,
    /// Engine against baseline, when the baseline ran.
    pub comparison: Option<Comparison>,
}

/// One side's run: its steps in order, and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// The steps run (a ramp stops early at its limit).
    pub steps: Vec<StepResult>,
    /// The highest rate that held the SLO, and whether the ramp stopped early.
    pub verdict: Verdict,
}

/// One step: what was asked, what was measured, and whether it held the SLO.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// The step as planned.
    pub step: Step,
    /// Whether it held the SLO.
    pub held: bool,
    /// Errors over leads sent.
    pub error_rate: f64,
    /// Why it did not hold.
    pub miss: Option<Miss>,
    /// Everything the generator measured.
    pub report: Report,
    /// Resident memory of the server under test at the end of the step, KiB (child processes
    /// only): a soak's steps show whether it grows.
    pub rss_kib: Option<u64>,
}

/// The engine as a ratio of the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Engine max sustainable rate / baseline max sustainable rate.
    pub max_rate_ratio: Option<f64>,
    /// The p99s at each step both sides ran.
    pub steps: Vec<StepComparison>,
}

/// Both sides' client-side p99 at one step.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StepComparison {
    /// The step's target rate.
    pub rate: f64,
    /// Engine p99, ms.
    pub engine_p99_ms: f64,
    /// Baseline p99, ms.
    pub baseline_p99_ms: f64,
    /// Engine / baseline.
    pub p99_ratio: Option<f64>,
    /// Engine minus baseline: what the auction adds at the tail.
    pub p99_extra_ms: f64,
}

impl StepResult {
    /// Judges a step's report against the SLO.
    pub fn judge(step: Step, report: Report, slo: &Slo, rss_kib: Option<u64>) -> StepResult {
        let figures = StepFigures::from(&report);
        let checked = verdict::check(slo, &figures);
        StepResult {
            step,
            held: checked.is_ok(),
            error_rate: figures.error_rate(),
            miss: checked.err(),
            report,
            rss_kib,
        }
    }
}

/// How the resident memory of the server under test moved over a side's steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RssGrowth {
    /// At the end of the first step, KiB (after warm-up: pools and buffers filled).
    pub first_kib: u64,
    /// At the end of the last step, KiB.
    pub last_kib: u64,
    /// `last / first - 1`, as a percentage.
    pub percent: f64,
}

impl Side {
    /// Resident memory at the end of the first and the last step, when both were read and
    /// there are two steps or more.
    pub fn rss_growth(&self) -> Option<RssGrowth> {
        let first = self.steps.first()?.rss_kib?;
        let last = self.steps.last()?.rss_kib?;
        (self.steps.len() >= 2 && first > 0).then(|| RssGrowth {
            first_kib: first,
            last_kib: last,
            percent: (last as f64 / first as f64 - 1.0) * 100.0,
        })
    }

    /// The side's verdict over the steps it ran out of `planned`.
    pub fn new(steps: Vec<StepResult>, planned: usize, stop_after: usize) -> Side {
        let judged: Vec<(StepFigures, bool)> = steps.iter().map(|s| (StepFigures::from(&s.report), s.held)).collect();
        Side { verdict: verdict::verdict(&judged, planned, stop_after), steps }
    }

    /// The step nearest half the max sustainable rate (the operating point), if any
    /// step held.
    pub fn at_half_max(&self) -> Option<&StepResult> {
        let half = self.verdict.max_sustainable_rate? / 2.0;
        self.steps.iter().min_by(|a, b| (a.step.rate - half).abs().total_cmp(&(b.step.rate - half).abs()))
    }
}

impl Comparison {
    /// Engine against baseline, step by step (both ran the same list, each as far as it got).
    pub fn new(engine: &Side, baseline: &Side) -> Comparison {
        let steps = engine
            .steps
            .iter()
            .zip(&baseline.steps)
            .map(|(e, b)| {
                let (engine_p99_ms, baseline_p99_ms) = (e.report.latency_ms.p99, b.report.latency_ms.p99);
                StepComparison {
                    rate: e.step.rate,
                    engine_p99_ms,
                    baseline_p99_ms,
                    p99_ratio: verdict::ratio(Some(engine_p99_ms), Some(baseline_p99_ms)),
                    p99_extra_ms: engine_p99_ms - baseline_p99_ms,
                }
            })
            .collect();
        Comparison {
            max_rate_ratio: verdict::ratio(engine.verdict.max_sustainable_rate, baseline.verdict.max_sustainable_rate),
            steps,
        }
    }
}
