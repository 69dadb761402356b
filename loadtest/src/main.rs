//! The `loadtest` command: `run` drives an engine at a fixed rate and reports what it measured.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use loadtest::runner::{Progress, RunOptions, run};
use loadtest::schedule::Arrivals;

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
}

fn main() -> ExitCode {
    let Command::Run { target, key, rate, duration, connections, arrivals, timeout_ms, seed, json } =
        Cli::parse().command;
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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let report = runtime.block_on(run(&options, |p| {
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
