//! The `engine` command: `serve` runs the auction engine from a config file; `demo` runs it
//! with simulated buyers and synthetic leads; `keys` makes, hashes, issues, lists and revokes
//! API keys. A bad config exits with code 64 (EX_USAGE) before any port is bound
//! (a bad command line exits 2, as clap does).

mod demo;
mod keys;

/// mimalloc instead of the system allocator (measured in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};

/// Exit code for a bad config or command line (sysexits EX_USAGE).
const EX_USAGE: u8 = 64;

#[derive(Parser)]
#[command(name = "engine", version, about = "Ping/post lead auction engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine.
    Serve {
        /// Path of engine.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// Override the config's listen address.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Log JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Run the engine with 20 simulated buyers and a gentle stream of synthetic leads, showing
    /// live figures until Ctrl-C.
    Demo(demo::DemoArgs),
    /// API keys: only their SHA-256 goes in the config.
    #[command(subcommand)]
    Keys(Keys),
}

#[derive(Subcommand)]
enum Keys {
    /// Make a new random key and print it with its `key_sha256` (for the config file).
    Generate,
    /// Print the `key_sha256` of a key read from standard input.
    Hash,
    /// Issue a key in the store (a running engine picks it up within a second); the key is
    /// printed once and kept only as its SHA-256.
    Create(CreateKey),
    /// List the store's issued keys (never the keys themselves).
    List {
        /// Path of engine.toml (names the store).
        #[arg(long, short, default_value = "engine.toml")]
        config: PathBuf,
    },
    /// Revoke an issued key (a running engine refuses it within a second; the admin API's
    /// `DELETE /v1/keys/{id}` at once).
    Revoke {
        /// Path of engine.toml (names the store).
        #[arg(long, short, default_value = "engine.toml")]
        config: PathBuf,
        /// The key's id (`key_...`).
        id: String,
    },
}

#[derive(clap::Args)]
struct CreateKey {
    /// Path of engine.toml (names the store; owners are checked against it).
    #[arg(long, short, default_value = "engine.toml")]
    config: PathBuf,
    /// What the key acts as.
    #[arg(long, value_parser = ["publisher", "buyer", "admin"])]
    role: String,
    /// The buyer it acts for (with `--role buyer`).
    #[arg(long, conflicts_with_all = ["publisher", "admin"])]
    buyer: Option<String>,
    /// The publisher it acts for (with `--role publisher`).
    #[arg(long, conflicts_with = "admin")]
    publisher: Option<String>,
    /// The operator's name (with `--role admin`).
    #[arg(long)]
    admin: Option<String>,
    /// Scopes: `read`, `write`, or both (repeat the flag or comma-separate); default both.
    #[arg(long, value_delimiter = ',')]
    scope: Vec<String>,
    /// A note for people.
    #[arg(long)]
    label: Option<String>,
    /// Its own rate limit, requests per second (with `--burst`); default its role's.
    #[arg(long, requires = "burst")]
    rate: Option<f64>,
    /// Its own burst (with `--rate`).
    #[arg(long, requires = "rate")]
    burst: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen, log_json } => serve(config, listen, log_json),
        Command::Demo(args) => demo(args),
        Command::Keys(Keys::Generate) => {
            let mut bytes = [0u8; 24];
            if getrandom::fill(&mut bytes).is_err() {
                eprintln!("error: no randomness available from the operating system");
                return ExitCode::FAILURE;
            }
            let key = format!("sk_{}", hex::encode(bytes));
            println!("key        = {key}\nkey_sha256 = \"{}\"", hex::encode(Sha256::digest(&key)));
            ExitCode::SUCCESS
        }
        Command::Keys(Keys::Create(args)) => keys::create(args),
        Command::Keys(Keys::List { config }) => keys::list(&config),
        Command::Keys(Keys::Revoke { config, id }) => keys::revoke(&config, &id),
        Command::Keys(Keys::Hash) => {
            let mut key = String::new();
            if std::io::stdin().read_line(&mut key).is_err() {
                return ExitCode::from(EX_USAGE);
            }
            println!("{}", hex::encode(Sha256::digest(key.trim())));
            ExitCode::SUCCESS
        }
    }
}

fn serve(path: PathBuf, listen: Option<std::net::SocketAddr>, log_json: bool) -> ExitCode {
    let mut config = match engine::config::Config::load(&path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if let Some(listen) = listen {
        config.listen = listen;
    }
    let _log = engine::ops::logging::init(log_json);
    let Some(runtime) = engine::ops::process::runtime() else { return ExitCode::FAILURE };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(listen = %config.listen, %error, "cannot listen");
                return ExitCode::FAILURE;
            }
        };
        // The store is opened and recovered before the engine says it listens: a client that
        // waits for that line finds it ready.
        let started = match engine::Engine::start(&config, engine::transport::HttpTransport::new()).await {
            Ok(started) => started,
            Err(error) => {
                tracing::error!(store = %config.store.display(), %error, "cannot open the store");
                return ExitCode::FAILURE;
            }
        };
        let listen = listener.local_addr().map_or(config.listen, |addr| addr);
        tracing::info!(%listen, buyers = config.buyers.len(), publishers = config.publishers.len(), "engine listening");
        match started.serve(listener, engine::ops::process::shutdown_signal()).await {
            Ok(()) => {
                tracing::info!("engine stopped");
                ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!(%error, "engine failed");
                ExitCode::FAILURE
            }
        }
    })
}

fn demo(args: demo::DemoArgs) -> ExitCode {
    let Some(runtime) = engine::ops::process::runtime() else { return ExitCode::FAILURE };
    match runtime.block_on(demo::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
