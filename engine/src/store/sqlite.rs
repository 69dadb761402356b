//! The SQLite store: the embedded default behind [`Store`].
//!
//! One file in WAL mode. Writes go through one thread that owns the write connection and
//! commits them in groups (see [`super::writer`]); reads run on a small pool of read-only
//! connections on tokio's blocking threads, and in WAL mode they never wait for the writer nor
//! it for them. Submodules: `writes` (the lead and auction writes), `events` (the outbox and
//! its fan-out to subscriptions), `webhook_writes` (subscriptions, delivery attempts,
//! replays), `recovery` (closing interrupted auctions at start), `directory` (the admin API's
//! entries and audit log), `reads` and `webhook_reads`; `feedback` (a sale read, dispositions
//! and returns); `pull` and `reports` (the lead API's pages and the reports' figures); `keys`
//! (issued API keys, also used by `engine keys`).

mod directory;
mod events;
mod feedback;
pub mod keys;
mod pull;
mod reads;
mod recovery;
mod reports;
mod webhook_reads;
mod webhook_writes;
pub(crate) mod writes;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Notify, oneshot};

use super::migrations;
use super::writer::{self, Batching, Job, Reply, Shared, Work};
use super::{AuditQuery, AuditRow, DirectoryEntry};
use super::{
    Commit, DeliveryQuery, DeliveryView, DueDelivery, Page, PageRequest, Recovery, SaleRow, Store, StoreError,
    StoreFuture, StoredContact, StoredIdempotency, StoredLead, Subscription, UnixMs, Write,
};

/// Jobs queued before [`Store::write`] answers `Busy`: several seconds of intake at a few
/// thousand leads per second (three jobs each). Past that the disk is not keeping up, and a
/// fast 503 is better than a queue that grows memory and latency without bound. A new lead
/// (`LeadReceived`) is refused once the queue is half full: the other half is kept for the
/// writes of auctions already running (a post intent, an outcome), which must never be
/// refused for room; intake runs at most `max_in_flight` (10,000 by default) auctions, each
/// with at most one such write queued.
pub const DEFAULT_QUEUE_CAPACITY: usize = 32_768;

/// Writes per transaction at most. Bounds how long one commit holds the writer (and so the
/// wait of the batch's first write) to a few milliseconds, while 64 concurrent auctions'
/// writes still fit in one batch several times over.
pub const DEFAULT_BATCH_MAX_ITEMS: usize = 512;

/// How long the writer waits after a batch's first write for others to join it: not at all.
/// Batches form anyway from what queues while the previous commit runs, and that is the whole
/// of the gain: in the store bench (`benches/benches/store.rs`) a 1 ms linger tripled a lone
/// lead's commit latency (0.9 to 3.3 ms for its two commits) and cut 64 concurrent writers'
/// throughput by a third (the writer sat idle while they were all already queued).
pub const DEFAULT_BATCH_MAX_WAIT: Duration = Duration::ZERO;

/// Read-only connections. Reads are off the hot path (the webhook dispatcher, the admin API);
/// two match the two cores the engine is sized for, and a third would only queue for a core.
pub const DEFAULT_READERS: usize = 4;

/// How long a statement waits for a lock held by another process (a backup, the `sqlite3`
/// shell) before it fails. Within the engine the one writer never waits on itself.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes the WAL file is truncated to after a checkpoint (`journal_size_limit`): a burst does
/// not leave a file of its size behind, and a WAL this size is reused without growing.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Prepared statements kept per connection. The writer uses about 35 distinct ones and the
/// readers about 30 (pulls and reports included); rusqlite's default of 16 would evict and
/// re-parse some on every batch.
const STATEMENT_CACHE: usize = 64;

/// How long dropping the store waits for the writer to commit what is queued and exit: a full
/// queue drains in well under this on any disk that kept up with it.
const WRITER_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Writes queued at most ([`DEFAULT_QUEUE_CAPACITY`]); then [`StoreError::Busy`].
    pub queue_capacity: usize,
    /// Writes per group commit at most ([`DEFAULT_BATCH_MAX_ITEMS`]).
    pub batch_max_items: usize,
    /// How long a group commit waits for more writes after its first
    /// ([`DEFAULT_BATCH_MAX_WAIT`]); zero takes only what is already queued.
    pub batch_max_wait: Duration,
    /// Read-only connections ([`DEFAULT_READERS`]).
    pub readers: usize,
    /// `synchronous = FULL` instead of `NORMAL`: every commit is fsynced, so it survives an OS
    /// crash or a power cut too, at the cost of an fsync per group commit.
    pub synchronous_full: bool,
    /// Lock wait for statements ([`DEFAULT_BUSY_TIMEOUT`]).
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_max_items: DEFAULT_BATCH_MAX_ITEMS,
            batch_max_wait: DEFAULT_BATCH_MAX_WAIT,
            readers: DEFAULT_READERS,
            synchronous_full: false,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    /// The writer's queue; `None` once dropping.
    jobs: Option<Sender<Job>>,
    /// Disconnects when the writer thread ends.
    writer_done: crossbeam_channel::Receiver<()>,
    writer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    readers: Arc<Readers>,
    /// The exclusive lock on `<store>.lock`, released last.
    _lock: std::fs::File,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("queued", &self.queue_depth())
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates, with its parent directory) the store at `path`, brings its schema
    /// up to date and starts the writer thread. Fails on a database from a newer engine.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).context(&format!("creating {}", parent.display()))?;
        }
        let lock = lock(path)?;
        let mut conn = Connection::open(path).context(&format!("opening {}", path.display()))?;
        conn.busy_timeout(options.busy_timeout).context("busy_timeout")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).context("journal_mode")?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("{} cannot use WAL mode (got {mode})", path.display())));
        }
        // In WAL mode a commit is in the WAL file before COMMIT returns, so it survives a
        // crash or `kill -9` of the process whatever this setting; with NORMAL the WAL is
        // fsynced only at checkpoints, so an OS crash or a power cut can lose the last
        // commits (never corrupt the file). FULL fsyncs the WAL at every (group) commit.
        let synchronous = if options.synchronous_full { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", synchronous).context("synchronous")?;
        conn.pragma_update(None, "foreign_keys", true).context("foreign_keys")?;
        // Each job of a group commit runs in a savepoint, whose undo pages (the statement
        // journal) spill past 64 KiB to a temporary file: without this, that file took 95% of
        // the writer's `pwrite` calls in the store bench. In memory they are a few hundred KiB
        // at most, emptied at every job's RELEASE.
        conn.pragma_update(None, "temp_store", "MEMORY").context("temp_store")?;
        // After a burst, a checkpoint truncates the WAL back to this size instead of leaving it
        // at its largest.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT).context("journal_size_limit")?;
        // Checkpoints stay SQLite's automatic ones, run by the writer right after a commit
        // (every 1,000 WAL pages): with no write in progress they copy the whole WAL, and the
        // next transaction starts it over, so it stays a few MiB. A checkpointer thread of its
        // own was tried: under a constant stream of commits its PASSIVE checkpoints never
        // caught up with the last frame, the WAL was never restarted, and the soak test watched
        // it reach 24 GB in eight minutes.
        migrations::migrate(&mut conn)?;

        let readers = Arc::new(Readers::open(path, &options)?);
        let (jobs, queue) = crossbeam_channel::bounded(options.queue_capacity.max(1));
        let (done, writer_done) = crossbeam_channel::bounded::<()>(0);
        let shared = Arc::new(Shared::default());
        let batching = Batching { max_items: options.batch_max_items, max_wait: options.batch_max_wait };
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                // Dropped after `run` has closed the connection: the store's drop waits on it.
                let _done = done;
                writer::run(conn, queue, batching, writer_shared);
            })
            .context("starting the writer thread")?;
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs: Some(jobs),
            writer_done,
            writer: Some(writer),
            shared,
            readers,
            _lock: lock,
        })
    }

    /// Transactions committed so far (each holds one or more queued writes).
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Jobs waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.jobs.as_ref().map_or(0, Sender::len)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.try_send(job).map_err(|err| match err {
            TrySendError::Full(_) => StoreError::Busy(jobs.len()),
            TrySendError::Disconnected(_) => StoreError::Closed,
        })
    }

    /// Runs `read` on a read connection on tokio's blocking pool.
    fn read<T, F>(&self, read: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        Box::pin(async move { tokio::task::spawn_blocking(move || readers.with(read)).await.context("read task")? })
    }
}

/// Takes the exclusive lock on `<path>.lock`: one engine per store. A second one (a
/// misconfigured node, a restart overlapping the old process) would run recovery and close the
/// first one's running auctions. The operating system releases the lock when the process
/// ends, `kill -9` included.
fn lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .context(&format!("opening {}", lock_path.display()))?;
    file.try_lock().map_err(|_| {
        StoreError::Backend(format!(
            "{} is in use by another engine (its lock {} is held)",
            path.display(),
            lock_path.display()
        ))
    })?;
    Ok(file)
}

impl Drop for SqliteStore {
    /// Closes the queue, lets the writer commit what is queued, and waits for it (bounded).
    fn drop(&mut self) {
        drop(self.jobs.take());
        match self.writer_done.recv_timeout(WRITER_EXIT_TIMEOUT) {
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(path = %self.path.display(), "store writer still busy at drop; detached");
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(Err(_)) = self.writer.take().map(JoinHandle::join) {
                    tracing::error!(path = %self.path.display(), "store writer panicked");
                }
            }
        }
    }
}

impl Store for SqliteStore {
    fn write(&self, writes: Vec<Write>) -> Result<Commit, StoreError> {
        // New leads get half the queue; the rest is kept for running auctions' writes.
        if writes.iter().any(|w| matches!(w, Write::LeadReceived(_)))
            && let Some(jobs) = &self.jobs
            && jobs.len() >= jobs.capacity().unwrap_or(usize::MAX) / 2
        {
            return Err(StoreError::Busy(jobs.len()));
        }
        let (reply, commit) = oneshot::channel();
        self.submit(Job { work: Work::Writes(writes), reply: Reply::Rows(reply) })?;
        Ok(Commit::new(commit))
    }

    fn deliveries_changed(&self) -> &Notify {
        &self.shared.deliveries_changed
    }

    fn recover(&self, now: UnixMs) -> StoreFuture<'_, Recovery> {
        let (reply, done) = oneshot::channel();
        let sent = self.submit(Job { work: Work::Recover(now), reply: Reply::Recovery(reply) });
        Box::pin(async move {
            sent?;
            done.await.unwrap_or(Err(StoreError::Closed))
        })
    }

    fn idempotency_keys(&self, since: UnixMs) -> StoreFuture<'_, Vec<StoredIdempotency>> {
        self.read(move |conn| reads::idempotency_keys(conn, since))
    }

    fn sales_since(&self, since: UnixMs) -> StoreFuture<'_, Vec<SaleRow>> {
        self.read(move |conn| reads::sales_since(conn, since))
    }

    fn contacts(&self, since: UnixMs, limit: usize) -> StoreFuture<'_, Vec<StoredContact>> {
        self.read(move |conn| reads::contacts(conn, since, limit))
    }

    fn lead(&self, lead_id: &str) -> StoreFuture<'_, Option<StoredLead>> {
        let lead_id = lead_id.to_owned();
        self.read(move |conn| reads::lead(conn, &lead_id))
    }

    fn due_deliveries(&self, now: UnixMs, limit: usize, skip: Vec<i64>) -> StoreFuture<'_, Vec<DueDelivery>> {
        self.read(move |conn| webhook_reads::due_deliveries(conn, now, limit, &skip))
    }

    fn next_due(&self) -> StoreFuture<'_, Option<UnixMs>> {
        self.read(webhook_reads::next_due)
    }

    fn subscriptions(&self, page: PageRequest) -> StoreFuture<'_, Page<Subscription>> {
        self.read(move |conn| webhook_reads::subscriptions(conn, &page))
    }

    fn subscription(&self, id: &str) -> StoreFuture<'_, Option<Subscription>> {
        let id = id.to_owned();
        self.read(move |conn| webhook_reads::subscription(conn, &id))
    }

    fn deliveries(&self, query: DeliveryQuery) -> StoreFuture<'_, Page<DeliveryView>> {
        self.read(move |conn| webhook_reads::deliveries(conn, &query))
    }

    fn dead_letters(&self, page: PageRequest) -> StoreFuture<'_, Page<DeliveryView>> {
        self.read(move |conn| webhook_reads::dead_letters(conn, &page))
    }

    // -- Feedback: dispositions and returns. --

    fn sale(&self, lead_id: &str, buyer_id: &str) -> StoreFuture<'_, Option<super::feedback::Sale>> {
        let (lead_id, buyer_id) = (lead_id.to_owned(), buyer_id.to_owned());
        self.read(move |conn| feedback::sale(conn, &lead_id, &buyer_id))
    }

    // -- Pull and reports. --

    fn leads(&self, query: super::pull::LeadQuery) -> StoreFuture<'_, Page<super::pull::LeadRow>> {
        self.read(move |conn| pull::leads(conn, &query))
    }

    fn buyer_report(&self, query: super::reports::ReportQuery) -> StoreFuture<'_, Vec<super::reports::BuyerFigures>> {
        self.read(move |conn| reports::buyer_report(conn, &query))
    }

    fn publisher_report(
        &self,
        query: super::reports::ReportQuery,
    ) -> StoreFuture<'_, Vec<super::reports::PublisherFigures>> {
        self.read(move |conn| reports::publisher_report(conn, &query))
    }

    // -- Directory (admin API) and audit log. --

    fn directory(&self) -> StoreFuture<'_, Vec<DirectoryEntry>> {
        self.read(directory::entries)
    }

    fn audit(&self, query: AuditQuery) -> StoreFuture<'_, Page<AuditRow>> {
        self.read(move |conn| directory::audit_page(conn, &query))
    }

    // -- API keys. --

    fn api_keys(&self) -> StoreFuture<'_, Vec<super::StoredKey>> {
        self.read(keys::all)
    }

    fn api_keys_stamp(&self) -> StoreFuture<'_, (i64, i64)> {
        self.read(keys::stamp)
    }
}

/// The read-only connections. A read takes a free one, or waits for one in turn; the lock is
/// held on a blocking thread for one read, never across an `.await`.
struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    fn open(path: &Path, options: &SqliteOptions) -> Result<Readers, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conns = (0..options.readers.max(1))
            .map(|_| {
                let conn = Connection::open_with_flags(path, flags).context("opening a read connection")?;
                conn.busy_timeout(options.busy_timeout).context("busy_timeout")?;
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Readers { conns, next: AtomicUsize::new(0) })
    }

    fn with<T>(&self, read: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        if let Some(conn) = self.conns.iter().find_map(|c| c.try_lock()) {
            return read(&conn);
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len().max(1);
        let conn = self.conns.get(turn).ok_or(StoreError::Closed)?;
        read(&conn.lock())
    }
}

/// Maps any error to [`StoreError::Backend`] with what was being done.
pub(crate) trait Context<T> {
    /// `Err(e)` becomes `Backend("{what}: {e}")`.
    fn context(self, what: &str) -> Result<T, StoreError>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(format!("{what}: {e}")))
    }
}
