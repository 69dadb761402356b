//! The services a scenario measures: bidder-sim, the engine and the bare-hyper baseline,
//! started as child processes (the default: as an operator runs them, each with its own
//! runtime, none sharing the generator's) or as tasks of this process (`--in-process`: what
//! the CI test uses, where the sibling binaries may not be built). Each is a [`Service`] whose
//! drop stops it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bidder_sim::SimConfig;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::children::ChildGuard;
use super::config::Scenario;
use super::error::ScenarioError;
use crate::baseline::Baseline;

/// The publisher key the generator sends; the engine config holds only its SHA-256.
pub const PUBLISHER_KEY: &str = "loadtest-scenario-publisher-key";

/// The start of the line `loadtest baseline` prints when it listens.
pub const BASELINE_LISTENING: &str = "baseline listening on";

/// Where services listen: loopback, a port the system picks.
const LOOPBACK_ANY_PORT: &str = "127.0.0.1:0";

/// How long an in-process service gets to drain when stopped: the engine's auctions end
/// within its 1 s budget, so anything left after this is stuck.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How the simulator and the engine are run.
#[derive(Debug, Clone)]
pub enum Launch {
    /// Child processes from these binaries.
    Processes {
        /// The `engine` binary.
        engine_bin: PathBuf,
        /// The `bidder-sim` binary.
        sim_bin: PathBuf,
        /// The `loadtest` binary, for `loadtest baseline` (normally this very executable).
        baseline_bin: PathBuf,
    },
    /// Tasks of this process, from the libraries.
    InProcess,
}

impl Launch {
    /// `processes` or `in-process`, for the report.
    pub fn name(&self) -> &'static str {
        match self {
            Launch::Processes { .. } => "processes",
            Launch::InProcess => "in-process",
        }
    }
}

/// A running service; dropping it stops it (a child is killed, a task told to stop and
/// aborted).
#[derive(Debug)]
pub struct Service {
    /// Where it listens.
    pub addr: SocketAddr,
    running: Running,
}

#[derive(Debug)]
enum Running {
    Child(ChildGuard),
    Task(TaskGuard),
}

/// An in-process server: its stop signal and its task.
#[derive(Debug)]
struct TaskGuard {
    service: &'static str,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.stop.take();
        self.task.abort();
    }
}

impl Service {
    /// An error if the service died.
    pub fn check_alive(&mut self) -> Result<(), ScenarioError> {
        match &mut self.running {
            Running::Child(child) => child.check_alive(),
            Running::Task(task) if task.task.is_finished() => {
                Err(ScenarioError::Launch { service: task.service, message: "stopped during the run".into() })
            }
            Running::Task(_) => Ok(()),
        }
    }

    /// Resident memory of a child process in KiB; `None` for a task of this process (its
    /// memory is the generator's too) or where the system does not tell.
    pub fn rss_kib(&self) -> Option<u64> {
        match &self.running {
            Running::Child(child) => child.rss_kib(),
            Running::Task(_) => None,
        }
    }

    /// Stops it: a child is killed; a task is told to stop and gets [`STOP_GRACE`] to drain.
    pub async fn stop(mut self) {
        if let Running::Task(task) = &mut self.running {
            task.stop.take();
            let _ = tokio::time::timeout(STOP_GRACE, &mut task.task).await;
        }
    }

    /// Runs `serve` as a task on a loopback listener; it stops when its shutdown future
    /// resolves (on [`Service::stop`] or drop).
    async fn task<F>(
        service: &'static str,
        serve: impl FnOnce(TcpListener, oneshot::Receiver<()>) -> F,
    ) -> Result<Service, ScenarioError>
    where
        F: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let launch = |message: String| ScenarioError::Launch { service, message };
        let listener = TcpListener::bind(LOOPBACK_ANY_PORT).await.map_err(|e| launch(format!("cannot listen: {e}")))?;
        let addr = listener.local_addr().map_err(|e| launch(format!("cannot listen: {e}")))?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, stopped));
        Ok(Service { addr, running: Running::Task(TaskGuard { service, stop: Some(stop), task }) })
    }
}

/// A shutdown future for an in-process server: resolves when the sender is used or dropped.
async fn stopped(receiver: oneshot::Receiver<()>) {
    let _ = receiver.await;
}

/// Starts bidder-sim with `sim` (written to `out/sim.toml` for the child, and as a record).
pub async fn start_sim(launch: &Launch, sim: &SimConfig, out: &Path) -> Result<Service, ScenarioError> {
    let path = out.join("sim.toml");
    let text = toml::to_string(sim)
        .map_err(|e| ScenarioError::Write { path: path.clone(), source: std::io::Error::other(e) })?;
    write(&path, &text)?;
    match launch {
        Launch::Processes { sim_bin, .. } => {
            let mut command = std::process::Command::new(sim_bin);
            command.arg("serve").arg("--listen").arg(LOOPBACK_ANY_PORT).arg("--config").arg(&path);
            let (child, addr) =
                ChildGuard::start("bidder-sim", command, &out.join("bidder-sim.log"), "listening on").await?;
            Ok(Service { addr, running: Running::Child(child) })
        }
        Launch::InProcess => {
            let sim = sim.clone();
            Service::task("bidder-sim", |listener, stop| bidder_sim::serve(sim, listener, stopped(stop))).await
        }
    }
}

/// Writes `out/engine.toml` for the scenario with the simulator at `sim`, and returns it
/// parsed (a key the engine refuses is an error here, before it starts). The store of a
/// previous run in `out` is removed: every run starts from an empty store (a store grown by
/// earlier runs, with its circuit, cap and dedupe history, would make runs incomparable).
pub fn engine_config(
    scenario: &Scenario,
    sim: SocketAddr,
    out: &Path,
) -> Result<engine::config::Config, ScenarioError> {
    for leftover in ["engine.db", "engine.db-wal", "engine.db-shm", "engine.db.lock"] {
        match std::fs::remove_file(out.join(leftover)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(ScenarioError::Write { path: out.join(leftover), source: error });
            }
            _ => {}
        }
    }
    let mut buyers = bidder_sim::engine_buyers_toml(&scenario.sim, &format!("http://{sim}"));
    if !scenario.buyer_breakers {
        // Each generated `[[buyers]]` header opens a buyer's table: its first key turns its
        // circuit breaker off.
        buyers = buyers.replace("[[buyers]]\n", "[[buyers]]\nbreaker = { enabled = false }\n");
    }
    let path = out.join("engine.toml");
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    let text = format!(
        "# Written by `loadtest scenario` for scenario \"{name}\".\n\
         listen = \"{LOOPBACK_ANY_PORT}\"\n\
         store = {store}\n\n\
         [auction]\n\
         ping_timeout_ms = {ping}\n\
         total_timeout_ms = {total}\n\n\
         # The generator's one key sends the whole load: its rate limit is lifted so the run\n\
         # measures the engine, not the limiter.\n\
         [rate_limits]\n\
         publisher = {{ per_second = 1000000, burst = 1000000 }}\n\n\
         [[publishers]]\n\
         id = \"loadtest\"\n\
         key_sha256 = \"{key}\"\n\n\
         {buyers}",
        name = scenario.name,
        store = quote(&out.join("engine.db").to_string_lossy()),
        ping = scenario.ping_timeout_ms,
        total = scenario.total_timeout_ms,
        key = hex::encode(Sha256::digest(PUBLISHER_KEY)),
        buyers = buyers,
    );
    write(&path, &text)?;
    engine::config::Config::from_toml(&text).map_err(|error| {
        let (key, message) = match error {
            engine::config::ConfigError::Key { key, message } => (key, message),
            other => (String::new(), other.to_string()),
        };
        ScenarioError::Config { path, key, message: format!("{message} (the engine config built from the scenario)") }
    })
}

/// Starts the engine with `config` (already written to `out/engine.toml`).
pub async fn start_engine(
    launch: &Launch,
    config: &engine::config::Config,
    out: &Path,
) -> Result<Service, ScenarioError> {
    match launch {
        Launch::Processes { engine_bin, .. } => {
            let mut command = std::process::Command::new(engine_bin);
            command.arg("serve").arg("--config").arg(out.join("engine.toml")).arg("--listen").arg(LOOPBACK_ANY_PORT);
            // The listening line is logged at `info`: keep it whatever RUST_LOG the shell has.
            command.env("RUST_LOG", "info");
            let (child, addr) =
                ChildGuard::start("engine", command, &out.join("engine.log"), "engine listening").await?;
            Ok(Service { addr, running: Running::Child(child) })
        }
        Launch::InProcess => {
            let config = config.clone();
            Service::task("engine", |listener, stop| engine::run(config, listener, stopped(stop))).await
        }
    }
}

/// Starts the bare-hyper baseline for the buyers and deadlines of `config` (already written
/// to `out/engine.toml`).
pub async fn start_baseline(
    launch: &Launch,
    config: &engine::config::Config,
    out: &Path,
) -> Result<Service, ScenarioError> {
    match launch {
        Launch::Processes { baseline_bin, .. } => {
            let mut command = std::process::Command::new(baseline_bin);
            command
                .arg("baseline")
                .arg("--engine-config")
                .arg(out.join("engine.toml"))
                .arg("--listen")
                .arg(LOOPBACK_ANY_PORT);
            let (child, addr) =
                ChildGuard::start("baseline", command, &out.join("baseline.log"), BASELINE_LISTENING).await?;
            Ok(Service { addr, running: Running::Child(child) })
        }
        Launch::InProcess => {
            let baseline = Baseline::from_engine_config(config);
            Service::task("baseline", |listener, stop| baseline.serve(listener, stopped(stop))).await
        }
    }
}

fn write(path: &Path, text: &str) -> Result<(), ScenarioError> {
    std::fs::write(path, text).map_err(|source| ScenarioError::Write { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buyer_breakers_off_reaches_every_buyer_and_a_run_starts_from_an_empty_store() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let slo = "slo = { p99_ms = 150, max_error_rate = 0.001 }\nsteps = [{ rate = 10, seconds = 1 }]\n";
        let load = |extra: &str| {
            Scenario::from_toml(&format!("buyers = 3\n{slo}{extra}"), "s", dir.path())
                .unwrap_or_else(|e| panic!("{e:?}"))
        };
        let sim: SocketAddr = ([127, 0, 0, 1], 9).into();
        std::fs::write(dir.path().join("engine.db"), b"an earlier run").unwrap_or_else(|e| panic!("{e}"));
        let on = engine_config(&load(""), sim, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(on.buyers.iter().all(|b| b.breaker.enabled), "on by default");
        assert!(!dir.path().join("engine.db").exists(), "the earlier run's store is gone");
        let off = engine_config(&load("buyer_breakers = false\n"), sim, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(off.buyers.len(), 3);
        assert!(off.buyers.iter().all(|b| !b.breaker.enabled));
    }
}
