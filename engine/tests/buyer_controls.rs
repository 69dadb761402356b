//! Buyer controls from the outside: a paused buyer and a buyer outside its hours are not
//! pinged; a failing buyer's circuit opens (and says so in an event) and it stops being pinged.
//! The breaker's cool-off, probe and close run on a simulated clock in `breaker.rs` and
//! `buyers/circuit.rs`; the schedule's instants in `buyers/schedule/tests.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use chrono::Timelike;
use common::{Behavior, Engine, FakeBuyers, LEAD, config};

fn store_line(path: &Path) -> String {
    format!("store = {}\n", toml::Value::from(path.to_string_lossy().into_owned()))
}

fn event_types(path: &Path) -> Vec<(String, serde_json::Value)> {
    let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = db.prepare("SELECT type, body FROM events WHERE lead_id IS NULL ORDER BY seq").unwrap();
    let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))).unwrap();
    rows.map(|r| {
        let (kind, body) = r.unwrap();
        (kind, serde_json::from_str(&body).unwrap())
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_and_closed_buyers_are_not_pinged() {
    let fake = FakeBuyers::start(&[
        ("open", Behavior::bid("5.00")),
        ("paused", Behavior::bid("9.00")),
        ("closed", Behavior::bid("9.00")),
    ])
    .await;
    // Open two hours from now, for an hour, in UTC: closed for the length of this test.
    let later = (chrono::Utc::now().hour() + 2) % 24;
    let hours = format!("{later:02}:00-{:02}:00", (later + 1) % 24);
    let buyers = fake.buyer_toml("open", "")
        + &fake.buyer_toml("paused", "paused = true")
        + &fake.buyer_toml("closed", &format!("schedule = {{ timezone = \"UTC\", hours = \"{hours}\" }}"));
    let engine = Engine::start(&config(&buyers)).await;
    let answer = engine.lead(LEAD).await.json();
    assert_eq!(answer["buyer_id"], "open");
    assert_eq!(fake.pings_to("paused").len(), 0);
    assert_eq!(fake.pings_to("closed").len(), 0);
    let metrics = engine.send("GET", "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body);
    for (buyer, reason) in [("paused", "paused"), ("closed", "schedule")] {
        let line = format!("engine_buyer_skipped_total{{buyer=\"{buyer}\",reason=\"{reason}\"}} 1");
        assert!(text.contains(&line), "{line} in /metrics");
    }
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_buyer_trips_its_circuit_and_stops_being_pinged() {
    let fake = FakeBuyers::start(&[
        ("steady", Behavior::bid("5.00")),
        // Answers 500 to every ping: an outage, not a business answer.
        ("broken", Behavior::ping(common::PingReply::Raw(500, "oops"))),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.db");
    let buyers = fake.buyer_toml("steady", "")
        + &fake.buyer_toml("broken", "breaker = { failures = 3, rate = 0, cooloff_ms = 3600000 }");
    let engine = Engine::start(&format!("{}{}", store_line(&path), config(&buyers))).await;
    for _ in 0..5 {
        assert_eq!(engine.lead(LEAD).await.json()["buyer_id"], "steady");
    }
    assert_eq!(fake.pings_to("broken").len(), 3, "open after 3 failures: not pinged for the cool-off");
    let metrics = engine.send("GET", "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("engine_buyer_circuit_state{buyer=\"broken\"} 1"), "state in /metrics");
    assert!(text.contains("engine_buyer_skipped_total{buyer=\"broken\",reason=\"circuit_open\"} 2"));
    engine.stop().await.unwrap();
    let events = event_types(&path);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "buyer.circuit_opened");
    assert_eq!(events[0].1["data"]["buyer_id"], "broken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_every_buyer_shares_do_not_trip_their_circuits() {
    // Three buyers all answer after the deadline, as they would all seem to if this engine were
    // overloaded: their circuits must stay closed (a breaker that trips on the engine's own
    // trouble would turn an overload into an outage).
    let slow = || Behavior::bid("5.00").ping_after(std::time::Duration::from_millis(150));
    let fake = FakeBuyers::start(&[("a", slow()), ("b", slow()), ("c", slow())]).await;
    let breaker = "breaker = { failures = 2, rate = 0 }";
    let buyers = fake.buyer_toml("a", breaker) + &fake.buyer_toml("b", breaker) + &fake.buyer_toml("c", breaker);
    let engine = Engine::start(&config(&format!("[auction]\nping_timeout_ms = 30\n{buyers}"))).await;
    for _ in 0..4 {
        assert_eq!(engine.lead(LEAD).await.json()["outcome"], "unsold");
    }
    for buyer in ["a", "b", "c"] {
        assert_eq!(fake.pings_to(buyer).len(), 4, "{buyer} was pinged for every lead");
    }
    engine.stop().await.unwrap();
}
