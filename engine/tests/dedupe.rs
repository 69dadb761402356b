//! Dedupe end to end: a lead whose phone or email was seen in its vertical within the window
//! is answered `duplicate` without a ping (or, in `exclude_buyers` mode, offered only to the
//! buyers that have not bought that person), across a restart, and stored like any lead that
//! got a 2xx (invariant 6).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{Behavior, Engine, FakeBuyers, LEAD, config};
use engine::store::Store;
use engine::store::sqlite::{SqliteOptions, SqliteStore};

/// A lead for this person in this vertical (the rest as in [`LEAD`]).
fn lead(vertical: &str, phone: &str, email: &str) -> String {
    LEAD.replace("auto_insurance", vertical).replace("+12065550100", phone).replace("jane@example.com", email)
}

fn toml(path: &Path, dedupe: &str, buyers: &str) -> String {
    let store = toml::Value::from(path.to_string_lossy().into_owned());
    format!("store = {store}\n{}", config(&format!("[dedupe]\n{dedupe}\n{buyers}")))
}

fn outcome(answer: &common::Answer) -> String {
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.json()["outcome"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_is_caught_across_a_restart_and_stored_with_its_events() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"7.25\""))]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.db");
    let toml = toml(&path, "", &fake.buyer_toml("acme", ""));
    let engine = Engine::start(&toml).await;
    let first = engine.lead(&lead("auto_insurance", "+12065550100", "jane@example.com")).await;
    assert_eq!(outcome(&first), "sold");
    engine.stop().await.unwrap();

    let engine = Engine::start(&toml).await;
    // Same phone, another email, after the restart: the index was rebuilt from the store.
    let again = engine.lead(&lead("auto_insurance", "+12065550100", "jane.s@example.com")).await;
    assert_eq!(outcome(&again), "duplicate");
    let body = again.json();
    assert_eq!((body["price"].clone(), body["buyer_id"].clone()), (serde_json::Value::Null, serde_json::Value::Null));
    assert!(body["timings_ms"]["total"].is_number());
    assert_eq!(fake.pings().len(), 1, "no buyer heard of the duplicate");
    engine.stop().await.unwrap();

    // Invariant 6: the duplicate got a 2xx, so it is in the store, closed, with its events.
    let lead_id = body["lead_id"].as_str().unwrap().to_owned();
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let stored = store.lead(&lead_id).await.unwrap().unwrap();
    assert_eq!((stored.status.as_str(), stored.reason.as_deref()), ("unsold", Some("duplicate")));
    assert_eq!(stored.answer.as_deref(), Some(&again.body[..]), "the answer given is the answer stored");
    let events: Vec<&str> = stored.events.iter().map(|(_, kind, _)| kind.as_str()).collect();
    assert_eq!(events, ["lead.received", "lead.unsold"]);
    drop(store);
    let db = rusqlite::Connection::open(&path).unwrap();
    let unsold: String = db
        .query_row("SELECT body FROM events WHERE lead_id = ?1 AND type = 'lead.unsold'", [&lead_id], |r| r.get(0))
        .unwrap();
    let unsold: serde_json::Value = serde_json::from_str(&unsold).unwrap();
    assert_eq!(unsold["data"]["reason"], "duplicate");
    // Only hashes are stored for dedupe: the first lead's two keys, none for the duplicate.
    let keys: i64 = db.query_row("SELECT count(*) FROM lead_contacts", [], |r| r.get(0)).unwrap();
    assert_eq!(keys, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_email_with_another_phone_is_a_duplicate_and_another_vertical_is_not() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"7.25\""))]).await;
    let dir = tempfile::tempdir().unwrap();
    let buyers = fake.buyer_toml("acme", "verticals = [\"auto_insurance\", \"mortgage\"]");
    let engine = Engine::start(&toml(&dir.path().join("engine.db"), "", &buyers)).await;
    assert_eq!(outcome(&engine.lead(&lead("auto_insurance", "+12065550100", "jane@example.com")).await), "sold");
    let same_email = lead("auto_insurance", "+12065550111", "Jane@Example.com");
    assert_eq!(outcome(&engine.lead(&same_email).await), "duplicate");
    let other_vertical = lead("mortgage", "+12065550100", "jane@example.com");
    assert_eq!(outcome(&engine.lead(&other_vertical).await), "sold");
    assert_eq!(fake.pings().len(), 2, "the duplicate pinged nobody");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_buyers_mode_offers_a_repeat_only_to_buyers_that_have_not_bought_the_person() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"9.00\"")), ("bolt", Behavior::bid("\"5.00\""))]).await;
    let dir = tempfile::tempdir().unwrap();
    let buyers = format!("{}{}", fake.buyer_toml("acme", ""), fake.buyer_toml("bolt", ""));
    let toml = toml(&dir.path().join("engine.db"), "mode = \"exclude_buyers\"", &buyers);
    let engine = Engine::start(&toml).await;
    let first = engine.lead(&lead("auto_insurance", "+12065550100", "jane@example.com")).await;
    assert_eq!((outcome(&first), first.json()["buyer_id"].clone()), ("sold".to_owned(), "acme".into()));
    let second = engine.lead(&lead("auto_insurance", "+12065550100", "other@example.com")).await;
    assert_eq!((outcome(&second), second.json()["buyer_id"].clone()), ("sold".to_owned(), "bolt".into()));
    assert_eq!((fake.pings_to("acme").len(), fake.pings_to("bolt").len()), (1, 2), "acme was left out");
    engine.stop().await.unwrap();

    // Who bought the person survives a restart too: both are left out now.
    let engine = Engine::start(&toml).await;
    let third = engine.lead(&lead("auto_insurance", "+12065550100", "third@example.com")).await;
    assert_eq!(outcome(&third), "unsold");
    assert_eq!(fake.pings().len(), 3, "nobody left to ping");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_leads_with_the_same_phone_get_exactly_one_auction() {
    // The buyer answers after a while, so the leads overlap (its behaviour, not a sync point).
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"7.25\"").ping_after(Duration::from_millis(50)))]).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::start(&toml(&dir.path().join("engine.db"), "", &fake.buyer_toml("acme", ""))).await);
    let mut leads = tokio::task::JoinSet::new();
    for n in 0..16 {
        let engine = Arc::clone(&engine);
        leads.spawn(async move {
            outcome(&engine.lead(&lead("auto_insurance", "+12065550100", &format!("p{n}@example.com"))).await)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = leads.join_next().await {
        outcomes.push(outcome.unwrap());
    }
    outcomes.sort();
    let sold = outcomes.iter().filter(|o| *o == "sold").count();
    let duplicates = outcomes.iter().filter(|o| *o == "duplicate").count();
    assert_eq!((sold, duplicates), (1, 15), "{outcomes:?}");
    assert_eq!(fake.pings().len(), 1, "exactly one auction");
    Arc::into_inner(engine).unwrap().stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_replays_its_answer_and_test_leads_are_not_deduped() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"7.25\"")), ("sandbox", Behavior::bid("\"1.00\""))]).await;
    let dir = tempfile::tempdir().unwrap();
    let buyers = fake.buyer_toml("acme", "") + &fake.buyer_toml("sandbox", "test_mode = true");
    let engine = Engine::start(&toml(&dir.path().join("engine.db"), "", &buyers)).await;
    let body = lead("auto_insurance", "+12065550100", "jane@example.com");
    let first = engine.lead_with(&body, &[("idempotency-key", "k1")]).await;
    let retry = engine.lead_with(&body, &[("idempotency-key", "k1")]).await;
    assert_eq!(outcome(&retry), "sold", "a retry is its own first answer, not a duplicate");
    assert_eq!(retry.body, first.body);
    let test = body.replace("\"test\": false", "\"test\": true");
    assert_eq!(outcome(&engine.lead(&test).await), "sold", "test leads are not checked");
    assert_eq!(outcome(&engine.lead(&test).await), "sold", "nor registered");
    assert_eq!(outcome(&engine.lead(&body).await), "duplicate");
    engine.stop().await.unwrap();
}
