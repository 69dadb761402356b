//! What can stop a scenario, by whose fault: the file (fix it), the services it starts
//! (read their logs in the output directory), the disk, or the operator's Ctrl-C.

use std::path::PathBuf;

/// A scenario that could not run to its end. Every child it started is stopped by then.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key of the scenario file (or of the config built from it) has a bad value.
    #[error("scenario {path}: key `{key}`: {message}")]
    Config {
        /// The scenario file.
        path: PathBuf,
        /// Dotted path of the key, e.g. `slo.p99_ms`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The engine, the simulator or the baseline did not start, or died.
    #[error("{service}: {message}")]
    Launch {
        /// Which one.
        service: &'static str,
        /// What happened, and where its log is.
        message: String,
    },
    /// Writing the report or the configs failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// What was being written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Ctrl-C (or SIGTERM) arrived.
    #[error("interrupted; every service started was stopped")]
    Interrupted,
}

impl ScenarioError {
    /// Whether the fault is in the scenario file (exit code 64, like the engine's bad config).
    pub fn is_usage(&self) -> bool {
        matches!(self, ScenarioError::Read { .. } | ScenarioError::Config { .. })
    }
}
