//! The store on the lead's path (strict durability): the lead is on disk before any buyer
//! hears of it, the outcome and its events before the publisher gets the answer, and
//! idempotency keys survive a restart (invariants 4 and 6).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Behavior, Engine, FakeBuyers, LEAD, config};
use engine::store::Store;
use engine::store::sqlite::{SqliteOptions, SqliteStore};

/// Failure guard for awaited steps.
const GUARD: Duration = Duration::from_secs(30);

fn store_line(path: &Path) -> String {
    format!("store = {}\n", toml::Value::from(path.to_string_lossy().into_owned()))
}

/// A second handle on the engine's store file (WAL: readers see every committed write).
fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, SqliteOptions::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariant_6_the_lead_is_stored_before_any_ping_and_the_outcome_before_the_answer() {
    // The buyer holds its ping answer long enough for the test to look at the store.
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"7.25\"").ping_after(Duration::from_millis(60)))]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.db");
    let engine = Engine::start(&format!("{}{}", store_line(&path), config(&fake.buyer_toml("acme", "")))).await;
    let send = {
        let body = LEAD.to_owned();
        let engine = &engine;
        async move { engine.lead(&body).await }
    };
    let look = async {
        tokio::time::timeout(GUARD, fake.wait_for_pings(1)).await.unwrap();
        // The ping is out and unanswered: the lead must already be on disk, its auction
        // running. (Read straight from the file: the lead id is not known until the answer.)
        let db = rusqlite::Connection::open(&path).unwrap();
        db.query_row("SELECT a.status, l.lead_json FROM leads l JOIN auctions a ON a.lead_id = l.id", [], |row| {
            let json: Vec<u8> = row.get(1)?;
            Ok((row.get::<_, String>(0)?, String::from_utf8_lossy(&json).contains("+12065550100")))
        })
        .ok()
    };
    let (answer, during) = tokio::join!(send, look);
    assert_eq!(during, Some(("running".to_owned(), true)), "stored with its contact data before the ping");
    assert_eq!(answer.status, 200);
    let lead_id = answer.json()["lead_id"].as_str().unwrap().to_owned();
    // The answer is out: the outcome is already committed (read from the file while the
    // engine still holds the store).
    let db = rusqlite::Connection::open(&path).unwrap();
    let (status, buyer, price, stored_answer): (String, String, i64, Vec<u8>) = db
        .query_row("SELECT status, buyer_id, price_micros, answer FROM auctions WHERE lead_id = ?1", [&lead_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!((status.as_str(), buyer.as_str(), price), ("sold", "acme", 7_250_000));
    assert_eq!(stored_answer, answer.body.to_vec(), "the answer given is the answer stored");
    engine.stop().await.unwrap();
    let store = open(&path);
    let stored = store.lead(&lead_id).await.unwrap().unwrap();
    let events: Vec<(&str, i64)> = stored.events.iter().map(|(_, kind, seq)| (kind.as_str(), *seq)).collect();
    assert_eq!(events, [("lead.received", 1), ("lead.sold", 2)]);
    assert_eq!(stored.pings.len(), 1);
    // One engine per store: a second one is refused while the first holds it.
    let second = SqliteStore::open(&path, SqliteOptions::default()).err().map(|e| e.to_string());
    assert!(second.as_deref().is_some_and(|e| e.contains("in use by another engine")), "{second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariant_4_an_idempotent_retry_after_a_restart_replays_without_a_second_auction() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"7.25\""))]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.db");
    let toml = format!("{}{}", store_line(&path), config(&fake.buyer_toml("acme", "")));
    let engine = Engine::start(&toml).await;
    let first = engine.lead_with(LEAD, &[("idempotency-key", "order-77")]).await;
    assert_eq!(first.status, 200);
    engine.stop().await.unwrap();

    let engine = Engine::start(&toml).await;
    let retry = engine.lead_with(LEAD, &[("idempotency-key", "order-77")]).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body, first.body, "the first answer, byte for byte");
    assert_eq!(retry.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(fake.pings().len(), 1, "no second auction");
    let other_body = engine.lead_with(&LEAD.replace("Jane", "Joan"), &[("idempotency-key", "order-77")]).await;
    assert_eq!((other_body.status.as_u16(), other_body.code()), (409, "idempotency_key_reused".to_owned()));
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_after_its_ttl_runs_a_new_auction() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"7.25\""))]).await;
    let engine =
        Engine::start(&config(&format!("[intake]\nidempotency_ttl_s = 1\n{}", fake.buyer_toml("acme", "")))).await;
    let first = engine.lead_with(LEAD, &[("idempotency-key", "order-9")]).await;
    assert_eq!(first.status, 200);
    // The TTL is the condition under test: wait it out.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = engine.lead_with(LEAD, &[("idempotency-key", "order-9")]).await;
    assert_eq!(again.status, 200, "the stored key is replaced, not a conflict: {:?}", again.body);
    assert_ne!(again.json()["lead_id"], first.json()["lead_id"], "a new auction");
    assert_eq!(fake.pings().len(), 2);
    engine.stop().await.unwrap();
}
