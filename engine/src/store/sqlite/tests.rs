//! Tests of the SQLite store, on temporary files: durability across reopen, the group-commit
//! writer, recovery, the outbox and deliveries, sales. Shared builders live here.

mod deliveries;
mod durability;
mod recovery;
mod sales;
mod writer;

use std::path::PathBuf;

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tempfile::TempDir;

use super::{SqliteOptions, SqliteStore};
use crate::protocol::event::EventType;
use crate::store::{
    AuctionFinished, IdempotencyKey, LeadReceived, NewEvent, PingRow, PostRow, PostStarted, Store, Subscription,
    UnixMs, Write,
};

/// A fixed "now": 2026-11-23T12:00:00Z.
const T0: UnixMs = 1_795_435_200_000;

/// The store file, in a directory `open` must create.
fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("data").join("engine.db")
}

fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&db_path(dir), SqliteOptions::default()).expect("open store")
}

fn open_with(dir: &TempDir, options: SqliteOptions) -> SqliteStore {
    SqliteStore::open(&db_path(dir), options).expect("open store")
}

async fn commit(store: &SqliteStore, writes: Vec<Write>) -> u64 {
    store.write(writes).expect("queued").await.expect("committed")
}

fn event(kind: EventType, lead_id: Option<&str>, at: UnixMs) -> NewEvent {
    let mut data = Map::new();
    if let Some(lead) = lead_id {
        data.insert("lead_id".into(), lead.into());
    }
    NewEvent { id: crate::protocol::ids::event_id(), kind, lead_id: lead_id.map(str::to_owned), at, data }
}

/// The PII a lead carries, to check it survives byte for byte.
fn lead_json(lead_id: &str) -> Bytes {
    Bytes::from(
        json!({"lead_id": lead_id, "contact": {"first_name": "Jane", "email": "jane@example.com", "phone": "+12065550100"}})
            .to_string(),
    )
}

fn lead_received(lead_id: &str, key: Option<&str>, at: UnixMs) -> Write {
    Write::LeadReceived(Box::new(LeadReceived {
        lead_id: lead_id.to_owned(),
        publisher_id: "pub1".to_owned(),
        vertical: "auto_insurance".to_owned(),
        test: false,
        received_at: at,
        lead_json: lead_json(lead_id),
        idempotency: key.map(|k| IdempotencyKey {
            publisher_id: "pub1".to_owned(),
            key: k.to_owned(),
            fingerprint: [7; 32],
        }),
        contacts: Vec::new(),
        event: event(EventType::LeadReceived, Some(lead_id), at),
    }))
}

fn post_started(lead_id: &str, attempt: u32, buyer: &str, at: UnixMs) -> Write {
    Write::PostStarted(PostStarted {
        lead_id: lead_id.to_owned(),
        attempt,
        buyer_id: buyer.to_owned(),
        ping_id: format!("pg_{buyer}"),
        price: 12_500_000,
        at,
    })
}

fn answer(lead_id: &str, outcome: &str) -> Bytes {
    Bytes::from(json!({"lead_id": lead_id, "outcome": outcome}).to_string())
}

/// A sold auction: `pings` buyers pinged, the first post rejected when `rejected_first`, the
/// last accepted; events `lead.post_rejected` (if any) then `lead.sold`.
fn sold(lead_id: &str, pings: usize, rejected_first: bool, at: UnixMs) -> Write {
    let pings = (0..pings)
        .map(|i| PingRow {
            score: None,
            buyer_id: format!("b{i}"),
            ping_id: format!("pg_{i}"),
            result: if i % 3 == 2 { "no_bid" } else { "bid" },
            price: (i % 3 != 2).then_some(10_000_000 + i as i64),
            bid_id: Some(format!("bid{i}")),
            reason: None,
            latency_us: Some(1_000 + i as i64),
        })
        .collect();
    let post = |attempt: u32, buyer: &str, result: &'static str| PostRow {
        attempt,
        buyer_id: buyer.to_owned(),
        ping_id: format!("pg_{buyer}"),
        price: 12_500_000,
        result,
        reason: (result == "rejected").then(|| "duplicate".to_owned()),
        buyer_lead_id: (result == "accepted").then(|| "acme-1".to_owned()),
        latency_us: 2_000,
    };
    let mut posts = Vec::new();
    let mut events = Vec::new();
    if rejected_first {
        posts.push(post(1, "b0", "rejected"));
        events.push(event(EventType::LeadPostRejected, Some(lead_id), at));
    }
    posts.push(post(posts.len() as u32 + 1, "b1", "accepted"));
    events.push(event(EventType::LeadSold, Some(lead_id), at));
    Write::AuctionFinished(Box::new(AuctionFinished {
        lead_id: lead_id.to_owned(),
        outcome: "sold",
        buyer_id: Some("b1".to_owned()),
        price: Some(12_500_000),
        sales: vec![crate::store::NewSale { buyer_id: "b1".into(), price: 12_500_000, payout: 12_500_000, margin: 0 }],
        finished_at: at,
        ping_ms: 40.0,
        post_ms: 20.0,
        total_ms: 65.5,
        pings,
        posts,
        events,
        answer: answer(lead_id, "sold"),
    }))
}

fn subscription(id: &str, events: &[&str], enabled: bool) -> Subscription {
    Subscription {
        id: id.to_owned(),
        url: format!("https://hooks.example.com/{id}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()],
        secrets_rotated_until: None,
        headers: vec![("x-team".to_owned(), "growth".to_owned())],
        payload: None,
        enabled,
        disabled_reason: None,
        source: "api",
        created_at: T0,
    }
}

fn put(subscription: Subscription) -> Write {
    Write::PutSubscription(Box::new(subscription))
}

/// The stored envelope of an event, parsed.
fn envelope(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("envelope is JSON")
}
