//! The WAL checkpointer: a thread of its own that copies committed pages from the WAL into the
//! database file (and fsyncs both) every [`CHECKPOINT_EVERY`], so the writer thread never
//! does it inside a commit.
//!
//! By default SQLite checkpoints on the committing connection once the WAL passes 1,000 pages:
//! with the writer doing it, every commit queued behind that one waited for two fsyncs and a
//! page copy (the loadtest showed it as auction latency climbing with the rate). The writer's
//! connection turns automatic checkpoints off; this thread runs `PASSIVE` checkpoints, which
//! never block writers or readers. Once a checkpoint has copied the whole WAL, the writer's
//! next transaction starts the WAL over from its beginning, so the file stays bounded while
//! checkpoints keep up (and `journal_size_limit` truncates it after a burst).

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;

use super::StoreError;

/// How often the WAL is checkpointed: often enough that it stays a few MiB at thousands of
/// leads per second, rarely enough that its fsyncs are a small share of the disk's time.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The running checkpointer; dropping it runs a last checkpoint and joins the thread.
#[derive(Debug)]
pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (its own connection, `busy_timeout` for
    /// the moments the writer holds the lock).
    pub fn start(path: &Path, busy_timeout: Duration) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path).map_err(|e| StoreError::Backend(format!("checkpointer: {e}")))?;
        conn.busy_timeout(busy_timeout).map_err(|e| StoreError::Backend(format!("checkpointer: {e}")))?;
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| StoreError::Backend(format!("starting the checkpointer: {e}")))?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, stopped: &Receiver<()>) {
    loop {
        let last = matches!(stopped.recv_timeout(CHECKPOINT_EVERY), Err(RecvTimeoutError::Disconnected) | Ok(()));
        // (busy, WAL frames, frames checkpointed); a busy or partial checkpoint is simply
        // retried on the next round.
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match result {
            Ok((_, frames, done)) => metrics::gauge!("store_wal_frames").set((frames - done).max(0) as f64),
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed; retrying"),
        }
        if last {
            return;
        }
    }
}
