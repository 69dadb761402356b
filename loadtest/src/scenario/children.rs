//! Child processes: started with their output going to a log file, ready when their stdout
//! says where they listen, and killed when their [`ChildGuard`] is dropped, whatever path the
//! scenario leaves by (an error, a panic, Ctrl-C).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::sync::oneshot;

use super::error::ScenarioError;

/// How long a child may take to say where it listens. Both start in well under a second; a
/// debug build on a busy two-core machine takes a few; past this it is stuck.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Lines of a child's log quoted in an error about it.
const LOG_TAIL_LINES: usize = 8;

/// A running child; dropping it kills the child and reaps it.
#[derive(Debug)]
pub struct ChildGuard {
    service: &'static str,
    child: Child,
    /// Copies the child's stdout into its log; ends when the child's stdout closes.
    copier: Option<std::thread::JoinHandle<()>>,
}

impl ChildGuard {
    /// Starts `command` (named `service` in messages) with stdout and stderr going to `log`,
    /// and waits until a stdout line containing `marker` names its listening address.
    pub async fn start(
        service: &'static str,
        mut command: Command,
        log: &Path,
        marker: &'static str,
    ) -> Result<(ChildGuard, SocketAddr), ScenarioError> {
        let launch = |message: String| ScenarioError::Launch { service, message };
        let write_err = |source| ScenarioError::Write { path: log.to_owned(), source };
        let log_file = File::create(log).map_err(write_err)?;
        let stderr = log_file.try_clone().map_err(write_err)?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| launch(format!("cannot start {:?}: {e}", command.get_program())))?;
        let stdout = child.stdout.take();
        let (ready_tx, ready) = oneshot::channel();
        let copier =
            stdout.map(|stdout| std::thread::spawn(move || copy_until_closed(stdout, log_file, marker, ready_tx)));
        // From here on the guard owns the child: any early return kills it.
        let guard = ChildGuard { service, child, copier };
        match tokio::time::timeout(STARTUP_TIMEOUT, ready).await {
            Ok(Ok(addr)) => Ok((guard, addr)),
            Ok(Err(_)) => Err(launch(format!("exited before listening; its log {}:\n{}", log.display(), tail(log)))),
            Err(_) => Err(launch(format!(
                "did not say where it listens within {STARTUP_TIMEOUT:?}; its log {}:\n{}",
                log.display(),
                tail(log)
            ))),
        }
    }

    /// The child's resident memory in KiB (`VmRSS` in `/proc/<pid>/status`), where the system
    /// tells it (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        rss_kib_of(&status)
    }

    /// Whether the child is still running (a child that died mid-run spoils the figures).
    pub fn check_alive(&mut self) -> Result<(), ScenarioError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(ScenarioError::Launch {
                service: self.service,
                message: format!("exited during the run ({status})"),
            }),
            Err(e) => Err(ScenarioError::Launch { service: self.service, message: format!("cannot be watched: {e}") }),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Killing a child that already exited fails harmlessly; waiting reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(copier) = self.copier.take() {
            let _ = copier.join();
        }
    }
}

/// Copies `stdout` line by line into `log`; the first line containing `marker` with an
/// address in it is sent on `ready`. Dropping `ready` unsent tells the waiter the child closed
/// its stdout (exited) first.
fn copy_until_closed(stdout: impl std::io::Read, mut log: File, marker: &str, ready: oneshot::Sender<SocketAddr>) {
    let mut ready = Some(ready);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if ready.is_some()
            && let Some(addr) = listen_addr(&line, marker)
            && let Some(ready) = ready.take()
        {
            let _ = ready.send(addr);
        }
        // A full disk loses log lines, not the run.
        let _ = writeln!(log, "{line}");
    }
}

/// The address in a line that contains `marker`: the first word that reads as one, after an
/// optional `key=` and `http://` (`engine listening listen=127.0.0.1:4100 buyers=10`,
/// `listening on 127.0.0.1:4101`).
pub fn listen_addr(line: &str, marker: &str) -> Option<SocketAddr> {
    if !line.contains(marker) {
        return None;
    }
    line.split_whitespace().find_map(|word| {
        let value = word.rsplit_once('=').map_or(word, |(_, value)| value);
        value.trim_matches('"').trim_start_matches("http://").trim_end_matches('/').parse().ok()
    })
}

/// `VmRSS` of a `/proc/<pid>/status` text, in KiB.
fn rss_kib_of(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last lines of a log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// The default path of a sibling binary: next to the running executable (`target/release/`
/// after `cargo build --release --workspace`).
pub fn sibling_binary(name: &str) -> PathBuf {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    match std::env::current_exe() {
        Ok(exe) => exe.parent().map_or_else(|| PathBuf::from(&file), |dir| dir.join(&file)),
        Err(_) => PathBuf::from(file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_lines_of_the_engine_and_the_simulator_are_read() {
        let engine =
            "2026-01-01T00:00:00.000Z  INFO engine: engine listening listen=127.0.0.1:41873 buyers=3 publishers=1";
        assert_eq!(listen_addr(engine, "engine listening"), "127.0.0.1:41873".parse().ok());
        assert_eq!(listen_addr("listening on 127.0.0.1:9001", "listening on"), "127.0.0.1:9001".parse().ok());
        assert_eq!(listen_addr("listening on http://[::1]:9001/", "listening on"), "[::1]:9001".parse().ok());
        assert_eq!(listen_addr("engine stopped", "engine listening"), None);
        assert_eq!(listen_addr("engine listening soon", "engine listening"), None);
    }

    #[test]
    fn resident_memory_is_read_from_proc_status() {
        let status = "Name:\tengine\nVmPeak:\t  90000 kB\nVmRSS:\t   41236 kB\nThreads:\t3\n";
        assert_eq!(rss_kib_of(status), Some(41_236));
        assert_eq!(rss_kib_of("Name:\tkthreadd\n"), None);
    }

    /// A child that exits before listening is an error quoting its log; one that never says
    /// where it listens is not waited on forever (a `sh` stands in for the services).
    #[cfg(unix)]
    #[tokio::test]
    async fn a_child_that_dies_first_is_reported_with_its_log() {
        let dir = std::env::temp_dir().join(format!("loadtest-children-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("dies.log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo starting; echo broken config >&2; exit 3"]);
        let error = ChildGuard::start("engine", command, &log, "engine listening").await.err();
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("exited before listening") && message.contains("broken config"), "{message}");

        let mut command = Command::new("sh");
        command.args(["-c", "echo engine listening listen=127.0.0.1:5999; exec sleep 30"]);
        let (mut guard, addr) = ChildGuard::start("engine", command, &dir.join("ok.log"), "engine listening")
            .await
            .expect("it says where it listens");
        assert_eq!(addr, "127.0.0.1:5999".parse().expect("addr"));
        assert!(guard.check_alive().is_ok());
        #[cfg(target_os = "linux")]
        assert!(guard.rss_kib().is_some_and(|kib| kib > 0), "a running child has resident memory");
        let pid = guard.child.id();
        drop(guard);
        // Killed and reaped: no such process any more.
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "child {pid} still there");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
