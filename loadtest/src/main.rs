//! The `loadtest` command: `run` drives an engine at a fixed rate and reports what it measured;
//! `scenario` starts bidder-sim and the engine from a scenario file, ramps the rate, finds the
//! highest rate that holds the SLO and compares it with the bare-hyper baseline; `baseline`
//! serves that baseline on its own. A bad scenario file exits with code 64 (EX_USAGE).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use loadtest::runner::{Progress, RunOptions, run};
use loadtest::scenario::children::sibling_binary;
use loadtest::scenario::services::{BASELINE_LISTENING, Launch};
use loadtest::scenario::summary::Side;
use loadtest::scenario::{self, ScenarioOptions};
use loadtest::schedule::Arrivals;

/// Exit code for a bad scenario file or missing binaries (sysexits EX_USAGE).
const EX_USAGE: u8 = 64;

#[derive(Parser)]
#[command(name = "loadtest", version, about = "Open-loop load generator for the lead auction engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send synthetic leads at a fixed rate and report latency (from each lead's intended send
    /// time) and outcomes.
    Run {
        /// Base URL of the engine, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        target: http::Uri,
        /// Publisher key.
        #[arg(long)]
        key: String,
        /// Leads per second.
        #[arg(long)]
        rate: f64,
        /// Seconds to send for.
        #[arg(long)]
        duration: f64,
        /// Requests in flight at most.
        #[arg(long, default_value_t = 256)]
        connections: usize,
        /// Arrival spacing.
        #[arg(long, value_enum, default_value_t = Arrivals::Poisson)]
        arrivals: Arrivals,
        /// A lead with no answer after this many milliseconds is a client timeout.
        #[arg(long, default_value_t = 5_000)]
        timeout_ms: u64,
        /// Seed of the arrivals and leads.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Start bidder-sim and the engine from a scenario file, run its rate steps (then the same
    /// steps against the bare-hyper baseline), find the highest rate that holds its SLO, and
    /// write report.json, report.md and latency.svg.
    Scenario {
        /// The scenario file (see loadtest/scenarios/).
        file: PathBuf,
        /// Report directory [default: target/loadtest/<scenario name>/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The engine binary [default: `engine` next to this executable].
        #[arg(long)]
        engine_bin: Option<PathBuf>,
        /// The bidder-sim binary [default: `bidder-sim` next to this executable].
        #[arg(long)]
        sim_bin: Option<PathBuf>,
        /// Run the engine, bidder-sim and the baseline inside this process instead of as child
        /// processes (no binaries needed; they then share this process's runtime with the
        /// generator, so the figures are only indicative).
        #[arg(long, conflicts_with_all = ["engine_bin", "sim_bin"])]
        in_process: bool,
    },
    /// Serve the bare-hyper baseline for the buyers and `[auction]` deadlines of an engine
    /// config (e.g. the engine.toml a scenario wrote), for `loadtest run --target` against it.
    Baseline {
        /// The engine config whose buyers the baseline pings.
        #[arg(long)]
        engine_config: PathBuf,
        /// Address to listen on; port 0 picks a free port (the real address is printed).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { target, key, rate, duration, connections, arrivals, timeout_ms, seed, json } => {
            if !(rate.is_finite() && rate > 0.0 && duration.is_finite() && duration > 0.0) {
                eprintln!("error: --rate and --duration must be positive numbers");
                return ExitCode::from(2);
            }
            let options = RunOptions {
                target,
                key,
                rate,
                duration: Duration::from_secs_f64(duration),
                connections,
                arrivals,
                timeout: Duration::from_millis(timeout_ms),
                seed,
            };
            run_once(&options, json)
        }
        Command::Scenario { file, out, engine_bin, sim_bin, in_process } => {
            let launch = if in_process {
                Launch::InProcess
            } else {
                let engine_bin = engine_bin.unwrap_or_else(|| sibling_binary("engine"));
                let sim_bin = sim_bin.unwrap_or_else(|| sibling_binary("bidder-sim"));
                if let Some(missing) = [&engine_bin, &sim_bin].into_iter().find(|bin| !bin.is_file()) {
                    eprintln!(
                        "error: no binary at {}: build them with `cargo build --release -p engine -p bidder-sim -p loadtest`, \
                         pass --engine-bin/--sim-bin, or use --in-process",
                        missing.display()
                    );
                    return ExitCode::from(EX_USAGE);
                }
                let baseline_bin = match std::env::current_exe() {
                    Ok(exe) => exe,
                    Err(error) => {
                        eprintln!("error: cannot find this executable for the baseline: {error}");
                        return ExitCode::FAILURE;
                    }
                };
                Launch::Processes { engine_bin, sim_bin, baseline_bin }
            };
            run_scenario(ScenarioOptions { file, out, launch })
        }
        Command::Baseline { engine_config, listen } => baseline(&engine_config, listen),
    }
}

/// `loadtest run`.
fn run_once(options: &RunOptions, json: Option<PathBuf>) -> ExitCode {
    let Some(runtime) = engine::ops::process::runtime() else { return ExitCode::FAILURE };
    let terminal = std::io::stderr().is_terminal();
    let report = runtime.block_on(run(options, |p| {
        if terminal {
            draw(p)
        }
    }));
    if terminal {
        eprintln!();
    }
    println!("{report}");
    if let Some(path) = json {
        let written =
            serde_json::to_vec_pretty(&report).map_err(std::io::Error::other).and_then(|b| std::fs::write(&path, b));
        if let Err(error) = written {
            eprintln!("error: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// `loadtest scenario`: step lines on standard error, the verdict on standard output.
fn run_scenario(options: ScenarioOptions) -> ExitCode {
    let Some(runtime) = engine::ops::process::runtime() else { return ExitCode::FAILURE };
    match runtime.block_on(scenario::run(&options, engine::ops::process::shutdown_signal(), |line| eprintln!("{line}")))
    {
        Ok(finished) => {
            let max = |side: &Side| {
                side.verdict.max_sustainable_rate.map_or("no step held the SLO".to_owned(), |r| format!("{r}/s"))
            };
            println!("engine max sustainable rate: {}", max(&finished.report.engine));
            if let Some(baseline) = &finished.report.baseline {
                println!("baseline max sustainable rate: {}", max(baseline));
            }
            if let Some(ratio) = finished.report.comparison.as_ref().and_then(|c| c.max_rate_ratio) {
                println!("engine / baseline: {ratio:.2}");
            }
            println!("report: {}", finished.out.join("report.md").display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            if error.is_usage() { ExitCode::from(EX_USAGE) } else { ExitCode::FAILURE }
        }
    }
}

/// `loadtest baseline`: serves until Ctrl-C or SIGTERM.
fn baseline(engine_config: &Path, listen: SocketAddr) -> ExitCode {
    let config = match engine::config::Config::load(engine_config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let Some(runtime) = engine::ops::process::runtime() else { return ExitCode::FAILURE };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("error: cannot listen on {listen}: {error}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().unwrap_or(listen);
        // The first line on stdout, for scripts that start it on port 0.
        println!("{BASELINE_LISTENING} {addr} ({} buyers)", config.buyers.len());
        let _ = std::io::stdout().flush();
        match loadtest::baseline::Baseline::from_engine_config(&config)
            .serve(listener, engine::ops::process::shutdown_signal())
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

/// A one-line progress bar on standard error.
fn draw(p: Progress) {
    const WIDTH: usize = 30;
    let done = (p.elapsed.as_secs_f64() / p.duration.as_secs_f64().max(1e-9)).clamp(0.0, 1.0);
    let filled = (done * WIDTH as f64) as usize;
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[{}{}] {:>5.1}/{:.1} s  sent {}  answered {}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        p.elapsed.as_secs_f64(),
        p.duration.as_secs_f64(),
        p.sent,
        p.answered
    );
    let _ = err.flush();
}
