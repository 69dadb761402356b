//! `loadtest scenario FILE`: from one scenario file, start bidder-sim and the engine, run the
//! rate steps against the engine, then (with `baseline = true`) the same steps against the
//! bare-hyper [`baseline`](crate::baseline) on the same simulator, find the highest rate that
//! holds the SLO on each side, stop everything started, and write `report.json`, `report.md`
//! and `latency.svg`.
//!
//! - [`config`]: the scenario file.
//! - [`services`] and [`children`]: starting and always stopping what is measured.
//! - [`verdict`]: the SLO arithmetic, plain functions.
//! - [`summary`] and [`markdown`]: the report, and its Markdown.

pub mod children;
pub mod config;
pub mod error;
pub mod markdown;
pub mod services;
pub mod summary;
pub mod verdict;

use std::path::{Path, PathBuf};
use std::time::Duration;

use config::Scenario;
use error::ScenarioError;
use services::{Launch, Service};
use summary::{Comparison, ScenarioReport, Side, StepResult};

use crate::plot::{self, Axes, Line, Stroke};
use crate::runner::{self, RunOptions};

/// What to run and where to write.
#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    /// The scenario file.
    pub file: PathBuf,
    /// Report directory (default `target/loadtest/<name>/`).
    pub out: Option<PathBuf>,
    /// How the engine and the simulator run.
    pub launch: Launch,
}

/// A finished scenario: the report, and the directory it was written to.
#[derive(Debug)]
pub struct Finished {
    /// What was measured.
    pub report: ScenarioReport,
    /// Where `report.json`, `report.md` and the plot are.
    pub out: PathBuf,
}

/// Runs the scenario until it ends or `interrupt` resolves (Ctrl-C); every service started is
/// stopped on every path. `progress` gets a line per step.
pub async fn run(
    options: &ScenarioOptions,
    interrupt: impl Future<Output = ()>,
    mut progress: impl FnMut(&str),
) -> Result<Finished, ScenarioError> {
    let scenario = Scenario::load(&options.file)?;
    let out = options.out.clone().unwrap_or_else(|| Path::new("target").join("loadtest").join(&scenario.name));
    std::fs::create_dir_all(&out).map_err(|source| ScenarioError::Write { path: out.clone(), source })?;
    let report = tokio::select! {
        report = measure(&scenario, &options.launch, &out, &mut progress) => report?,
        () = interrupt => return Err(ScenarioError::Interrupted),
    };
    write_report(&report, &out)?;
    Ok(Finished { report, out })
}

/// Starts the services, runs both sides, stops the services.
async fn measure(
    scenario: &Scenario,
    launch: &Launch,
    out: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<ScenarioReport, ScenarioError> {
    let mut sim = services::start_sim(launch, &scenario.sim, out).await?;
    progress(&format!("bidder-sim: {} buyers on {}", scenario.sim.buyers.len(), sim.addr));
    let config = services::engine_config(scenario, sim.addr, out)?;
    let mut engine = services::start_engine(launch, &config, out).await?;
    progress(&format!("engine on {} ({})", engine.addr, launch.name()));
    let engine_side = run_side("engine", scenario, &mut engine, &mut sim, progress).await?;
    engine.stop().await;

    let baseline_side = if scenario.baseline {
        let mut baseline = services::start_baseline(launch, &config, out).await?;
        progress(&format!("baseline on {}", baseline.addr));
        let side = run_side("baseline", scenario, &mut baseline, &mut sim, progress).await?;
        baseline.stop().await;
        Some(side)
    } else {
        None
    };
    sim.stop().await;
    let comparison = baseline_side.as_ref().map(|baseline| Comparison::new(&engine_side, baseline));
    Ok(ScenarioReport {
        scenario: scenario.clone(),
        launch: launch.name(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        engine: engine_side,
        baseline: baseline_side,
        comparison,
    })
}

/// Runs the steps in order against `target` until they end or the ramp's stop rule says so.
async fn run_side(
    name: &str,
    scenario: &Scenario,
    target: &mut Service,
    sim: &mut Service,
    progress: &mut impl FnMut(&str),
) -> Result<Side, ScenarioError> {
    let mut results: Vec<StepResult> = Vec::with_capacity(scenario.steps.len());
    for (i, step) in scenario.steps.iter().enumerate() {
        let options = RunOptions {
            target: format!("http://{}", target.addr)
                .parse()
                .map_err(|e| ScenarioError::Launch { service: "loadtest", message: format!("bad target URL: {e}") })?,
            key: services::PUBLISHER_KEY.to_owned(),
            rate: step.rate,
            duration: Duration::from_secs_f64(step.seconds),
            connections: scenario.connections,
            arrivals: scenario.arrivals,
            timeout: Duration::from_millis(scenario.client_timeout_ms),
            seed: scenario.seed.wrapping_add(i as u64),
        };
        let report = runner::run(&options, |_| {}).await;
        // A service that died mid-step spoils the figures: say so instead of reporting them.
        target.check_alive()?;
        sim.check_alive()?;
        let result = StepResult::judge(*step, report, &scenario.slo, target.rss_kib());
        progress(&format!(
            "{name} step {}/{}: {}/s for {} s: achieved {:.1}/s, p50 {:.2} ms, p99 {:.2} ms, server ping p99 {:.2} ms, errors {:.3}%{}: {}",
            i + 1,
            scenario.steps.len(),
            step.rate,
            step.seconds,
            result.report.achieved_rate,
            result.report.latency_ms.p50,
            result.report.latency_ms.p99,
            result.report.engine_ping_ms.p99,
            result.error_rate * 100.0,
            result.rss_kib.map_or(String::new(), |kib| format!(", RSS {:.1} MiB", kib as f64 / 1024.0)),
            result.miss.map_or("held".to_owned(), |m| format!("missed ({m})")),
        ));
        results.push(result);
        let held: Vec<bool> = results.iter().map(|r| r.held).collect();
        if verdict::should_stop(&held, scenario.stop_after_failures) {
            break;
        }
    }
    Ok(Side::new(results, scenario.steps.len(), scenario.stop_after_failures))
}

/// Writes `report.json`, `report.md` and the plot into `out`.
fn write_report(report: &ScenarioReport, out: &Path) -> Result<(), ScenarioError> {
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|source| ScenarioError::Write { path, source })
    };
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| ScenarioError::Write { path: out.join("report.json"), source: std::io::Error::other(e) })?;
    write("report.json", &json)?;
    write("report.md", markdown::render(report).as_bytes())?;
    let plot_path = out.join(markdown::PLOT_FILE);
    let axes = Axes {
        title: &format!("{}: client latency by rate step", report.scenario.name),
        x: "target rate (leads/s)",
        y: "latency (ms, log scale)",
        log_y: true,
    };
    plot::line_chart(&plot_path, axes, &plot_lines(report))
        .map_err(|e| ScenarioError::Write { path: plot_path, source: std::io::Error::other(e) })
}

/// Colours of p50, p99 and p99.9, the same for both sides (the baseline's lines are dashed).
const PERCENTILE_COLORS: [(u8, u8, u8); 3] = [(31, 119, 180), (255, 127, 14), (214, 39, 40)];

/// Colour of the SLO line.
const SLO_COLOR: (u8, u8, u8) = (110, 110, 110);

/// The plot's lines: p50, p99 and p99.9 of each side, and the SLO's p99 limit.
fn plot_lines(report: &ScenarioReport) -> Vec<Line> {
    type Pick = fn(&crate::report::Percentiles) -> f64;
    let percentiles: [(&str, Pick); 3] = [("p50", |l| l.p50), ("p99", |l| l.p99), ("p99.9", |l| l.p99_9)];
    let mut lines = Vec::new();
    let sides = std::iter::once(("engine", &report.engine, Stroke::Solid))
        .chain(report.baseline.as_ref().map(|b| ("baseline", b, Stroke::Dashed)));
    for (name, side, stroke) in sides {
        for ((label, pick), color) in percentiles.iter().zip(PERCENTILE_COLORS) {
            lines.push(Line {
                label: format!("{name} {label}"),
                points: side.steps.iter().map(|s| (s.step.rate, pick(&s.report.latency_ms))).collect(),
                color,
                stroke,
            });
        }
    }
    // Across the steps that ran, not the planned ramp: a ramp that stopped early keeps its scale.
    let ran = std::iter::once(&report.engine).chain(report.baseline.as_ref());
    let rates = ran.flat_map(|side| side.steps.iter().map(|s| s.step.rate));
    let (lo, hi) = rates.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| (lo.min(r), hi.max(r)));
    if lo <= hi {
        let limit = report.scenario.slo.p99_ms;
        lines.push(Line {
            label: format!("SLO p99 {limit} ms"),
            points: vec![(lo, limit), (hi, limit)],
            color: SLO_COLOR,
            stroke: Stroke::Dotted,
        });
    }
    lines
}
