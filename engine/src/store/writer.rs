//! The group-commit writer: one thread owns the SQLite write connection and commits queued
//! writes in batches.
//!
//! Callers hand a [`Job`] to a bounded queue and wait on a oneshot reply; they never touch the
//! connection. The thread blocks for the first job, then takes more until the batch holds
//! `max_items` writes or `max_wait` has passed since the first, and runs them all in ONE
//! transaction: the cost of a commit (the WAL append, and the fsync with `synchronous=FULL`)
//! is paid once per batch instead of once per write. Each job runs inside its own SAVEPOINT,
//! so a job that fails (a duplicate id, a broken constraint) rolls back alone and gets its own
//! error while the rest of the batch commits. Replies are sent only after the COMMIT returns:
//! an `Ok` means durable.
//!
//! When the queue's senders are gone (the store dropped), the thread drains what is queued,
//! commits it, and exits; the connection closes with it (checkpointing the WAL).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{Notify, oneshot};

use super::sqlite::writes;
use super::{Recovery, StoreError, UnixMs, Write};

/// What a job asks the writer to do.
#[derive(Debug)]
pub(crate) enum Work {
    /// Writes of one [`super::Store::write`] call.
    Writes(Vec<Write>),
    /// Close the auctions a crash interrupted (see [`super::Store::recover`]).
    Recover(UnixMs),
}

/// Where a job's outcome goes.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Rows changed, for [`Work::Writes`].
    Rows(oneshot::Sender<Result<u64, StoreError>>),
    /// What recovery did, for [`Work::Recover`].
    Recovery(oneshot::Sender<Result<Recovery, StoreError>>),
}

/// One queued request.
#[derive(Debug)]
pub(crate) struct Job {
    /// What to do.
    pub(crate) work: Work,
    /// Where to answer.
    pub(crate) reply: Reply,
}

/// The successful outcome of a job.
#[derive(Debug)]
pub(crate) enum Done {
    /// Rows changed.
    Rows(u64),
    /// Recovery's report.
    Recovered(Recovery),
}

impl Job {
    /// Its weight against the batch's `max_items`: one per write.
    fn items(&self) -> usize {
        match &self.work {
            Work::Writes(writes) => writes.len().max(1),
            Work::Recover(_) => 1,
        }
    }

    /// Sends the outcome; a caller that stopped waiting is not an error (its writes stand).
    fn answer(self, outcome: Result<Done, StoreError>) {
        match (self.reply, outcome) {
            (Reply::Rows(tx), Ok(Done::Rows(n))) => drop(tx.send(Ok(n))),
            (Reply::Recovery(tx), Ok(Done::Recovered(r))) => drop(tx.send(Ok(r))),
            (Reply::Rows(tx), Err(e)) => drop(tx.send(Err(e))),
            (Reply::Recovery(tx), Err(e)) => drop(tx.send(Err(e))),
            (Reply::Rows(tx), Ok(Done::Recovered(_))) => {
                drop(tx.send(Err(StoreError::Backend("writer: a write was answered with a recovery".into()))))
            }
            (Reply::Recovery(tx), Ok(Done::Rows(_))) => {
                drop(tx.send(Err(StoreError::Backend("writer: a recovery was answered with rows".into()))))
            }
        }
    }
}

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    /// Close the batch at this many writes.
    pub(crate) max_items: usize,
    /// Close the batch this long after its first job arrived.
    pub(crate) max_wait: Duration,
}

/// What the writer shares with the store.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Transactions committed (tests read it to see group commit at work).
    pub(crate) commits: AtomicU64,
    /// The dispatcher's wake-up.
    pub(crate) deliveries_changed: Notify,
}

/// The writer thread's loop: runs until every sender is dropped and the queue is empty.
pub(crate) fn run(mut conn: Connection, jobs: Receiver<Job>, batching: Batching, shared: Arc<Shared>) {
    let max_items = batching.max_items.max(1);
    let mut batch = Vec::new();
    while let Ok(first) = jobs.recv() {
        let deadline = Instant::now() + batching.max_wait;
        let mut items = first.items();
        batch.push(first);
        // `recv_deadline` takes a queued job even once the deadline has passed, so with a
        // zero wait the batch is exactly what was queued during the previous commit.
        while items < max_items {
            match jobs.recv_deadline(deadline) {
                Ok(job) => {
                    items += job.items();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        metrics::gauge!("store_queue_depth").set(jobs.len() as f64);
        commit(&mut conn, &mut batch, items, &shared);
    }
}

/// Runs one batch in one transaction, each job in its own savepoint, and answers every job.
fn commit(conn: &mut Connection, batch: &mut Vec<Job>, items: usize, shared: &Shared) {
    let started = Instant::now();
    let (outcomes, wake) = match execute(conn, batch) {
        Ok(done) => done,
        Err(err) => {
            tracing::error!(error = %err, jobs = batch.len(), "store batch failed; nothing of it committed");
            for job in batch.drain(..) {
                job.answer(Err(err.clone()));
            }
            return;
        }
    };
    shared.commits.fetch_add(1, Ordering::Relaxed);
    // Looked up per batch rather than registered once: a commit costs far more than the
    // lookup, and the handles then work whenever the recorder was installed.
    metrics::counter!("store_commits_total").increment(1);
    metrics::histogram!("store_batch_size").record(items as f64);
    metrics::histogram!("store_commit_seconds").record(started.elapsed().as_secs_f64());
    if wake {
        // `notify_one` stores a permit when the dispatcher is not waiting at this instant
        // (busy sending, or between its query and its `notified().await`), so its next wait
        // returns at once: a wake-up is never lost. `notify_waiters` would drop it, and the
        // new deliveries would wait for the dispatcher's next timer. Permits do not stack:
        // many commits while it is busy cost it one extra query, not one per commit. It wakes
        // one waiter: the store has one dispatcher.
        shared.deliveries_changed.notify_one();
    }
    for (job, outcome) in batch.drain(..).zip(outcomes) {
        job.answer(outcome);
    }
}

/// The transaction: per-job outcomes (valid only once committed) and whether any committed job
/// created deliveries or made some due. An `Err` means nothing of the batch committed.
#[allow(clippy::type_complexity)]
fn execute(conn: &mut Connection, batch: &mut [Job]) -> Result<(Vec<Result<Done, StoreError>>, bool), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| StoreError::Backend(format!("begin: {e}")))?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut wake = false;
    for job in batch.iter_mut() {
        // The work is taken (its writes are consumed); the reply stays for `answer`.
        let work = std::mem::replace(&mut job.work, Work::Writes(Vec::new()));
        // Savepoints by cached statements: parsed once per connection, not once per job.
        step(&tx, "SAVEPOINT job")?;
        let mut job_wake = false;
        match writes::apply(&tx, work, &mut job_wake) {
            Ok(done) => {
                step(&tx, "RELEASE job")?;
                wake |= job_wake;
                outcomes.push(Ok(done));
            }
            Err(err) => {
                // Back to where the job started.
                let undone = step(&tx, "ROLLBACK TO job").and_then(|()| step(&tx, "RELEASE job"));
                // Some errors (disk full, I/O) make SQLite roll back the whole transaction:
                // then the jobs before this one are gone too, and the batch has failed.
                if tx.is_autocommit() {
                    return Err(StoreError::Backend(format!("transaction aborted: {err}")));
                }
                undone?;
                outcomes.push(Err(err));
            }
        }
    }
    tx.commit().map_err(|e| StoreError::Backend(format!("commit: {e}")))?;
    Ok((outcomes, wake))
}

/// Runs one statement that returns no rows, from the connection's statement cache.
fn step(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(drop)
        .map_err(|e| StoreError::Backend(format!("{sql}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_weighs_its_writes_and_an_empty_one_still_counts() {
        let (tx, _rx) = oneshot::channel();
        let empty = Job { work: Work::Writes(Vec::new()), reply: Reply::Rows(tx) };
        assert_eq!(empty.items(), 1);
        let (tx, _rx) = oneshot::channel();
        let replay = Write::ReplayDelivery { delivery_id: 1, now: 0 };
        let two = Job { work: Work::Writes(vec![replay.clone(), replay]), reply: Reply::Rows(tx) };
        assert_eq!(two.items(), 2);
    }

    #[test]
    fn a_mismatched_outcome_is_an_error_not_a_panic() {
        let (tx, mut rx) = oneshot::channel();
        let job = Job { work: Work::Recover(0), reply: Reply::Recovery(tx) };
        job.answer(Ok(Done::Rows(3)));
        assert!(matches!(rx.try_recv(), Ok(Err(StoreError::Backend(_)))));
    }
}
