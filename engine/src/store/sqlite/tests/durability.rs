//! Invariant 6, "nothing accepted is lost": what a commit acknowledged is there after the store
//! is dropped and opened again; and the schema is versioned.

use super::*;
use crate::store::StoreError;

#[tokio::test]
async fn reopening_keeps_every_committed_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        commit(&store, vec![lead_received("ld_1", Some("order-1"), T0)]).await;
        commit(&store, vec![post_started("ld_1", 1, "b0", T0 + 10), post_started("ld_1", 2, "b1", T0 + 20)]).await;
        commit(&store, vec![sold("ld_1", 10, true, T0 + 30)]).await;
    }
    let store = open(&dir);
    let lead = store.lead("ld_1").await.expect("read").expect("the lead is there");
    assert_eq!(lead.publisher_id, "pub1");
    assert_eq!(lead.lead_json, lead_json("ld_1"), "the PII is kept byte for byte");
    assert_eq!(lead.status, "sold");
    assert_eq!(lead.buyer_id.as_deref(), Some("b1"));
    assert_eq!(lead.price, Some(12_500_000));
    assert_eq!(lead.answer, Some(answer("ld_1", "sold")));
    assert_eq!(lead.pings.len(), 10);
    assert_eq!(lead.pings[2].result, "no_bid");
    assert_eq!(lead.pings[0].latency_us, Some(1_000));
    let posts: Vec<_> = lead.posts.iter().map(|p| (p.attempt, p.buyer_id.as_str(), p.result.as_str())).collect();
    assert_eq!(posts, [(1, "b0", "rejected"), (2, "b1", "accepted")], "the sending rows were updated");
    let events: Vec<_> = lead.events.iter().map(|(_, kind, seq)| (kind.as_str(), *seq)).collect();
    assert_eq!(events, [("lead.received", 1), ("lead.post_rejected", 2), ("lead.sold", 3)]);
    let keys = store.idempotency_keys(0).await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].answer, Some(answer("ld_1", "sold")));
}

/// Set in the child process of [`committed_writes_survive_kill_9`]: the store's path.
const KILL_CHILD: &str = "ENGINE_STORE_KILL_CHILD";

/// The child: commits a lead and a post start, says so, then writes leads until it is killed.
fn kill_child(path: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(std::path::Path::new(path), SqliteOptions::default()).expect("open");
        commit(&store, vec![lead_received("ld_sent", Some("order-1"), T0)]).await;
        commit(&store, vec![post_started("ld_sent", 1, "b0", T0 + 1)]).await;
        println!("COMMITTED");
        for i in 0.. {
            commit(&store, vec![lead_received(&format!("ld_more_{i}"), None, T0 + 2)]).await;
        }
    });
}

#[test]
fn committed_writes_survive_kill_9() {
    use std::io::BufRead;
    if let Ok(path) = std::env::var(KILL_CHILD) {
        return kill_child(&path);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "store::sqlite::tests::durability::committed_writes_survive_kill_9", "--nocapture"])
        .env(KILL_CHILD, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("child");
    let stdout = child.stdout.take().expect("stdout");
    let said = std::io::BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line == "COMMITTED");
    assert!(said, "the child never committed");
    std::thread::sleep(std::time::Duration::from_millis(50));
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(&path, SqliteOptions::default()).expect("reopen after kill -9");
        let recovery = store.recover(T0 + 60_000).await.expect("recover");
        assert_eq!(recovery.in_doubt, ["ld_sent"], "the post in flight is in doubt, never lost");
        let lead = store.lead("ld_sent").await.expect("read").expect("acknowledged lead kept");
        assert_eq!(lead.lead_json, lead_json("ld_sent"));
        // Whatever else made it is whole: every lead has its auction and its event.
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect("count") };
        let leads = count("SELECT count(*) FROM leads");
        assert!(leads >= 1);
        assert_eq!(count("SELECT count(*) FROM auctions"), leads);
        assert_eq!(count("SELECT count(*) FROM events WHERE type = 'lead.received'"), leads);
        assert_eq!(count("SELECT count(*) FROM auctions WHERE status = 'running'"), 0, "recovery closed them all");
    });
}

#[tokio::test]
async fn dropping_the_store_commits_what_is_queued() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        // Queued, never awaited: the drop must still commit them all.
        for i in 0..300 {
            drop(store.write(vec![lead_received(&format!("ld_{i}"), None, T0)]).expect("queued"));
        }
    }
    let store = open(&dir);
    for i in [0, 150, 299] {
        assert!(store.lead(&format!("ld_{i}")).await.expect("read").is_some(), "ld_{i} was committed at drop");
    }
}

#[tokio::test]
async fn idempotency_keys_are_restored_with_their_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        commit(&store, vec![lead_received("ld_old", Some("k-old"), T0 - 60_000)]).await;
        commit(&store, vec![lead_received("ld_done", Some("k-done"), T0)]).await;
        commit(&store, vec![sold("ld_done", 1, false, T0 + 5)]).await;
        commit(&store, vec![lead_received("ld_running", Some("k-running"), T0 + 1)]).await;
        commit(&store, vec![lead_received("ld_nokey", None, T0 + 2)]).await;
    }
    let store = open(&dir);
    let keys = store.idempotency_keys(T0).await.expect("keys");
    let seen: Vec<_> = keys.iter().map(|k| (k.key.key.as_str(), k.answer.clone(), k.created_at)).collect();
    // Answered keys only (recovery answers the running ones at start), newest first.
    assert_eq!(seen, [("k-done", Some(answer("ld_done", "sold")), T0)]);
    assert_eq!(keys[0].key.publisher_id, "pub1");
    assert_eq!(keys[0].key.fingerprint, [7; 32]);
}

#[tokio::test]
async fn a_store_from_a_newer_engine_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(&dir));
    {
        let conn = rusqlite::Connection::open(db_path(&dir)).expect("raw open");
        let next = i64::from(crate::store::migrations::latest()) + 1;
        conn.pragma_update(None, "user_version", next).expect("bump");
    }
    let err = SqliteStore::open(&db_path(&dir), SqliteOptions::default()).expect_err("refused");
    assert!(matches!(&err, StoreError::Backend(m) if m.contains("newer than this engine")), "{err}");
}

#[tokio::test]
async fn opening_an_existing_store_applies_no_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(&dir));
    let store = open(&dir);
    commit(&store, vec![lead_received("ld_1", None, T0)]).await;
    drop(store);
    let conn = rusqlite::Connection::open(db_path(&dir)).expect("raw open");
    assert_eq!(crate::store::migrations::version(&conn).expect("version"), crate::store::migrations::latest());
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("mode");
    assert_eq!(mode, "wal");
}

/// The WAL stays bounded under a steady stream of commits from many auctions at once: its
/// checkpoints must complete and the WAL start over (a checkpointer that never caught up once
/// let it grow to 24 GB in a soak).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_a_steady_stream_of_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(open(&dir));
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..250 {
                    let id = format!("ld_{task}_{n}");
                    commit(&store, vec![lead_received(&id, None, T0)]).await;
                    commit(&store, vec![post_started(&id, 1, "b0", T0 + 1)]).await;
                    commit(&store, vec![sold(&id, 10, false, T0 + 2)]).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
    // 4,000 leads write well over 100 MiB of WAL frames in all; SQLite's automatic checkpoints
    // (every 1,000 pages, about 4 MiB) keep restarting it.
    let wal = std::fs::metadata(db_path(&dir).with_extension("db-wal")).map(|m| m.len()).unwrap_or(0);
    assert!(wal < 32 * 1024 * 1024, "the WAL grew to {wal} bytes");
}
