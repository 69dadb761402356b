//! The group-commit writer: batching, a failing write alone in its batch, back-pressure, the
//! dispatcher's wake-up.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::store::StoreError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(&dir));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { commit(&store, vec![lead_received(&format!("ld_{i}"), None, T0)]).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("task") >= 3, "lead, auction and event written");
    }
    let commits = store.commits();
    assert!(commits < 200, "200 writes took {commits} transactions: no group commit");
    assert!(store.lead("ld_199").await.expect("read").is_some());
}

#[tokio::test]
async fn a_failing_write_rolls_back_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A long linger so the three writes surely share one transaction.
    let store =
        open_with(&dir, SqliteOptions { batch_max_wait: Duration::from_millis(300), ..SqliteOptions::default() });
    let first = store.write(vec![lead_received("ld_1", None, T0)]).expect("queued");
    // Its first write would commit alone; the duplicate after it fails the whole call.
    let failing = store.write(vec![lead_received("ld_2", None, T0), lead_received("ld_1", None, T0)]).expect("queued");
    let last = store.write(vec![lead_received("ld_3", None, T0)]).expect("queued");
    assert!(first.await.is_ok());
    let err = failing.await.expect_err("duplicate lead id");
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    assert!(last.await.is_ok());
    assert_eq!(store.commits(), 1, "all three were in one batch");
    assert!(store.lead("ld_2").await.expect("read").is_none(), "the failing call's first write was rolled back");
    assert!(store.lead("ld_3").await.expect("read").is_some());
    let ld1 = store.lead("ld_1").await.expect("read").expect("ld_1");
    assert_eq!(ld1.events.len(), 1, "the duplicate's event was rolled back too");
}

#[tokio::test]
async fn a_full_queue_is_busy_at_once_and_the_queued_writes_still_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with(
        &dir,
        SqliteOptions { queue_capacity: 2, batch_max_wait: Duration::ZERO, ..SqliteOptions::default() },
    );
    // Another connection holds the write lock: the writer blocks in BEGIN (busy timeout).
    let blocker = rusqlite::Connection::open(db_path(&dir)).expect("raw open");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let mut queued = vec![store.write(vec![lead_received("ld_0", None, T0)]).expect("queued")];
    while store.queue_depth() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut busy = None;
    for i in 1..10 {
        match store.write(vec![lead_received(&format!("ld_{i}"), None, T0)]) {
            Ok(commit) => queued.push(commit),
            Err(err) => {
                busy = Some(err);
                break;
            }
        }
    }
    assert!(matches!(busy, Some(StoreError::Busy(1))), "{busy:?}");
    assert!(queued.len() <= 3, "a queue of two (one for new leads) held {} writes", queued.len());
    blocker.execute_batch("ROLLBACK").expect("unlock");
    for commit in queued {
        assert!(commit.await.is_ok(), "a write accepted before the Busy commits");
    }
}

/// New leads get half the queue: with it half full, a lead is refused while a running
/// auction's post intent still gets in.
#[tokio::test]
async fn half_the_queue_is_kept_for_running_auctions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with(
        &dir,
        SqliteOptions { queue_capacity: 4, batch_max_wait: Duration::ZERO, ..SqliteOptions::default() },
    );
    let blocker = rusqlite::Connection::open(db_path(&dir)).expect("raw open");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let mut queued = Vec::new();
    // The writer takes one job and blocks on the lock; then the queue fills up to 2 leads.
    let mut refused = None;
    for i in 0..10 {
        match store.write(vec![lead_received(&format!("ld_{i}"), None, T0)]) {
            Ok(commit) => queued.push(commit),
            Err(err) => {
                refused = Some(err);
                break;
            }
        }
        while i == 0 && store.queue_depth() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(matches!(refused, Some(StoreError::Busy(2))), "{refused:?}");
    // Running auctions' writes still fit in the other half.
    for attempt in 1..=2 {
        queued.push(store.write(vec![post_started("ld_1", attempt, "acme", T0)]).expect("room kept for it"));
    }
    assert!(matches!(store.write(vec![post_started("ld_1", 3, "acme", T0)]), Err(StoreError::Busy(4))));
    blocker.execute_batch("ROLLBACK").expect("unlock");
    for commit in queued {
        assert!(commit.await.is_ok());
    }
}

#[tokio::test]
async fn new_deliveries_wake_the_dispatcher_even_if_it_was_not_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let quiet = Duration::from_millis(50);
    commit(&store, vec![lead_received("ld_1", None, T0)]).await;
    let woke = tokio::time::timeout(quiet, store.deliveries_changed().notified()).await;
    assert!(woke.is_err(), "no subscriber, no delivery, no wake-up");
    commit(&store, vec![put(subscription("all", &["*"], true))]).await;
    // Drain the subscription's own wake-up, then nobody waits while the event commits.
    let _ = tokio::time::timeout(quiet, store.deliveries_changed().notified()).await;
    commit(&store, vec![lead_received("ld_2", None, T0)]).await;
    let woke = tokio::time::timeout(quiet, store.deliveries_changed().notified()).await;
    assert!(woke.is_ok(), "the wake-up was kept for the next wait");
}
