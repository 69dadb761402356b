//! The `bidder-sim` command: `serve` runs simulated buyers from a sim.toml or a generated mix;
//! `check` checks a buyer's own endpoints. A bad config exits with code 64 (EX_USAGE) before
//! any port is bound (a bad command line exits 2, as clap does).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use bidder_sim::config::MAX_BUYERS;
use bidder_sim::{SimConfig, Simulator, engine_buyers_toml};
use clap::builder::RangedU64ValueParser;
use clap::{ArgGroup, Args, Parser, Subcommand};

/// Exit code for a bad config (sysexits EX_USAGE).
const EX_USAGE: u8 = 64;

/// Most runtime worker threads: past the cores of any machine this runs on.
const MAX_THREADS: u64 = 1_024;

#[derive(Parser)]
#[command(
    name = "bidder-sim",
    version,
    about = "Simulated buyers for the lead auction engine, and a buyer endpoint checker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve simulated buyers at /{buyer_id}/ping and /{buyer_id}/post (HTTP/1.1 and h2c).
    Serve(ServeArgs),
    #[command(name = "check")]
    Check(bidder_sim::check::CheckArgs),
}

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["config", "buyers"])))]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the real address is printed).
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// sim.toml: the buyers and their profiles.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Instead of a config, this many generated buyers (a mix of fast, slow, picky and flaky).
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_BUYERS as u64))]
    buyers: Option<usize>,
    /// Seed of the buyers' random streams and of a generated mix (overrides the config's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Runtime worker threads (default: one per core); 1 runs everything on one thread.
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_THREADS))]
    threads: Option<usize>,
    /// Print the `[[buyers]]` blocks of an engine config that reaches these buyers, and exit.
    #[arg(long)]
    print_engine_config: bool,
    /// Print the sim.toml of these buyers (a generated mix, to edit), and exit.
    #[arg(long, conflicts_with = "print_engine_config")]
    print_sim_config: bool,
    /// The URL the engine reaches this simulator at, for --print-engine-config
    /// (default: http://LISTEN, with 0.0.0.0 or [::] read as loopback).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(args),
        Command::Check(args) => bidder_sim::check::run(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let config = match load(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if args.print_engine_config {
        let Some(base_url) = args.base_url.clone().or_else(|| default_base_url(args.listen)) else {
            eprintln!("error: --print-engine-config needs a fixed --listen port, or --base-url");
            return ExitCode::from(EX_USAGE);
        };
        print!("{}", engine_buyers_toml(&config, &base_url));
        return ExitCode::SUCCESS;
    }
    if args.print_sim_config {
        return match toml::to_string(&config) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: cannot write the config: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let simulator = match Simulator::new(config) {
        Ok(simulator) => simulator,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EX_USAGE);
        }
    };
    init_logging();
    let runtime = match args.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(threads) => tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build(),
        None => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("error: cannot listen on {}: {error}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let listen = listener.local_addr().unwrap_or(args.listen);
        // The first line on stdout, for scripts and tests that start it on port 0.
        println!("listening on {listen}");
        let _ = std::io::stdout().flush();
        tracing::info!(%listen, buyers = simulator.config().buyers.len(), "bidder-sim serving");
        match simulator.serve(listener, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(%error, "bidder-sim failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// The config from `--config` or `--buyers`, with `--seed` applied and validated.
fn load(args: &ServeArgs) -> Result<SimConfig, String> {
    let mut config = match (&args.config, args.buyers) {
        (Some(path), _) => SimConfig::load(path).map_err(|e| e.to_string())?,
        (None, Some(n)) => SimConfig::generate(n, args.seed.unwrap_or(0)),
        (None, None) => return Err("give --config FILE or --buyers N".into()),
    };
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// `http://LISTEN`, reading an unspecified address as loopback; `None` for port 0.
fn default_base_url(listen: SocketAddr) -> Option<String> {
    if listen.port() == 0 {
        return None;
    }
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Some(format!("http://{}", SocketAddr::new(ip, listen.port())))
}

/// Logs to standard error; `RUST_LOG` filters (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested; draining");
}
