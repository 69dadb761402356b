//! Buyer feedback end to end, over HTTP against a real engine and fake buyers: dispositions
//! walk the pipeline forward only, a return credits the sale once, a buyer sees only the leads
//! it bought, concurrent requests on one lead apply once, and every change writes its event
//! (seen by a webhook receiver, and in the store file).
//!
//! `acme` bids and buys every lead; `zeta` has a key too but never bids.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::receiver::{Receiver, Reply};
use common::{ADMIN_KEY, Answer, Behavior, Engine, FakeBuyers, KEY, PingReply, admin_toml, buyer_key, buyer_key_toml};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// A webhook signing secret (the Standard Webhooks example).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The price `acme` bids and pays.
const PRICE: &str = "5.00";

struct Setup {
    engine: Engine,
    _buyers: FakeBuyers,
}

/// An engine with `acme` (and `acme_extra` in its table) and `zeta`; `extra` adds top-level
/// tables (a `[[webhooks]]`, `[returns]`).
async fn setup(acme_extra: &str, extra: &str) -> Setup {
    let buyers =
        FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\"")), ("zeta", Behavior::ping(PingReply::NoBid))]).await;
    let acme = buyers.buyer_toml("acme", &format!("{}{acme_extra}", buyer_key_toml("acme")));
    let zeta = buyers.buyer_toml("zeta", &buyer_key_toml("zeta"));
    let toml = common::config(&format!(
        "[delivery]\nallow_private_targets = true\nretry_schedule_ms = [0, 10, 10]\n{extra}\n{}{acme}{zeta}",
        admin_toml()
    ));
    Setup { engine: Engine::start(&toml).await, _buyers: buyers }
}

/// A `[[webhooks]]` table sending the feedback events to `receiver`.
fn feedback_hook(receiver: &Receiver) -> String {
    format!(
        "[[webhooks]]\nid = \"crm\"\nurl = \"{}\"\nevents = [\"lead.status_changed\", \"lead.returned\"]\nsecret = \"{SECRET}\"\n",
        receiver.url()
    )
}

/// Sells lead `n` to `acme`; its id.
async fn sell(engine: &Engine, n: usize) -> String {
    let answer = engine.lead(&common::lead_numbered(n)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let json = answer.json();
    assert_eq!((json["outcome"].as_str(), json["buyer_id"].as_str()), (Some("sold"), Some("acme")), "{json}");
    json["lead_id"].as_str().unwrap().to_owned()
}

async fn status(engine: &Engine, lead_id: &str, key: &str, status: &str) -> Answer {
    engine.call("POST", &format!("/v1/leads/{lead_id}/status"), key, &json!({"status": status}).to_string()).await
}

async fn return_lead(engine: &Engine, lead_id: &str, key: &str, body: Value) -> Answer {
    engine.call("POST", &format!("/v1/leads/{lead_id}/return"), key, &body.to_string()).await
}

/// `(status, error code)` of an answer.
fn refused(answer: &Answer) -> (u16, String) {
    (answer.status.as_u16(), answer.code())
}

fn store_path(engine: &Engine) -> PathBuf {
    engine.dir.path().join("engine.db")
}

/// One value of the store file, read-only while the engine runs.
fn query<T: rusqlite::types::FromSql>(engine: &Engine, sql: &str, lead_id: &str) -> T {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(store_path(engine), flags).unwrap();
    db.query_row(sql, [lead_id], |row| row.get(0)).unwrap()
}

/// Events of `kind` about `lead_id` in the store.
fn events(engine: &Engine, kind: &str, lead_id: &str) -> i64 {
    query(engine, &format!("SELECT count(*) FROM events WHERE type = '{kind}' AND lead_id = ?1"), lead_id)
}

/// The `data` of every request the receiver got, in the lead's event order.
fn delivered(receiver: &Receiver) -> Vec<Value> {
    let mut data: Vec<Value> = receiver.got().iter().map(|g| g.json()["data"].clone()).collect();
    data.sort_by_key(|d| d["sequence"].as_i64());
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sold_lead_walks_the_pipeline_forward_never_back_and_each_step_is_an_event() {
    let receiver = Receiver::start(vec![Reply::Status(200)]).await;
    let Setup { engine, _buyers } = setup("", &feedback_hook(&receiver)).await;
    let lead = sell(&engine, 1).await;
    let acme = buyer_key("acme");

    let mut previous = Value::Null;
    for step in ["contacted", "qualified", "converted", "closed_won"] {
        let answer = status(&engine, &lead, &acme, step).await;
        assert_eq!(answer.status, 200, "{step}: {:?}", answer.body);
        let json = answer.json();
        assert_eq!((&json["lead_id"], &json["buyer_id"]), (&json!(lead), &json!("acme")));
        assert_eq!(
            (&json["status"], &json["previous_status"], &json["changed"]),
            (&json!(step), &previous, &json!(true))
        );
        assert!(json["updated_at"].as_str().unwrap().ends_with('Z'), "RFC 3339 UTC: {json}");
        previous = json!(step);
    }
    // A step back, and a status after a final one: refused, naming both statuses.
    let back = status(&engine, &lead, &acme, "qualified").await;
    assert_eq!(refused(&back), (409, "invalid_transition".to_owned()));
    let message = back.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("`closed_won`") && message.contains("`qualified`"), "{message}");
    assert_eq!(refused(&status(&engine, &lead, &acme, "closed_lost").await), (409, "invalid_transition".to_owned()));
    // The same status again is a retry: no change, no history row, no event.
    let again = status(&engine, &lead, &acme, "closed_won").await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    let json = again.json();
    assert_eq!(
        (&json["changed"], &json["status"], &json["previous_status"]),
        (&json!(false), &json!("closed_won"), &json!("closed_won"))
    );

    // A converted lead cannot be returned.
    let late = return_lead(&engine, &lead, &acme, json!({"reason_code": "fraud"})).await;
    assert_eq!(refused(&late), (409, "lead_converted".to_owned()));

    receiver.wait_for(4).await;
    let data = delivered(&receiver);
    let moves: Vec<(Value, Value)> = data.iter().map(|d| (d["previous_status"].clone(), d["status"].clone())).collect();
    assert_eq!(
        moves,
        [
            (Value::Null, json!("contacted")),
            (json!("contacted"), json!("qualified")),
            (json!("qualified"), json!("converted")),
            (json!("converted"), json!("closed_won")),
        ]
    );
    for d in &data {
        assert_eq!((&d["lead_id"], &d["buyer_id"], &d["publisher_id"]), (&json!(lead), &json!("acme"), &json!("pub1")));
    }
    assert_eq!(events(&engine, "lead.status_changed", &lead), 4, "the retry wrote no event");
    let history: i64 = query(
        &engine,
        "SELECT count(*) FROM sale_statuses s JOIN sales ON sales.seq = s.sale_seq \
         WHERE sales.lead_id = ?1 AND s.key_id = 'config.buyer.acme'",
        &lead,
    );
    assert_eq!(history, 4, "one history row per change, with the reporting key");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_credits_the_price_once_and_freezes_the_status() {
    let receiver = Receiver::start(vec![Reply::Status(200)]).await;
    let Setup { engine, _buyers } = setup("", &feedback_hook(&receiver)).await;
    let lead = sell(&engine, 1).await;
    let acme = buyer_key("acme");
    assert_eq!(status(&engine, &lead, &acme, "contacted").await.status, 200);

    let body = json!({"reason_code": "invalid_phone", "note": "number disconnected"});
    let returned = return_lead(&engine, &lead, &acme, body).await;
    assert_eq!(returned.status, 200, "{:?}", returned.body);
    let json = returned.json();
    assert_eq!((&json["lead_id"], &json["buyer_id"]), (&json!(lead), &json!("acme")));
    assert_eq!((&json["reason_code"], &json["credit"]), (&json!("invalid_phone"), &json!(PRICE)));
    assert!(json["returned_at"].as_str().unwrap().ends_with('Z'), "{json}");
    let credit: i64 = query(&engine, "SELECT credit_micros FROM sales WHERE lead_id = ?1", &lead);
    assert_eq!(credit, 5_000_000);

    let second = return_lead(&engine, &lead, &acme, json!({"reason_code": "fraud"})).await;
    assert_eq!(refused(&second), (409, "already_returned".to_owned()));
    assert_eq!(refused(&status(&engine, &lead, &acme, "qualified").await), (409, "lead_returned".to_owned()));

    receiver.wait_for(2).await;
    let data = delivered(&receiver);
    let event = &data[1];
    assert_eq!((&event["reason_code"], &event["note"]), (&json!("invalid_phone"), &json!("number disconnected")));
    assert_eq!((&event["credit"], &event["buyer_id"]), (&json!(PRICE), &json!("acme")));
    assert!(event["sold_at"].as_str().unwrap().ends_with('Z'), "{event}");
    assert_eq!(events(&engine, "lead.returned", &lead), 1);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_buyer_that_bought_a_lead_may_report_on_it_or_return_it() {
    let Setup { engine, _buyers } = setup("", "").await;
    let lead = sell(&engine, 1).await;
    let zeta = buyer_key("zeta");

    // Another buyer's lead and an unknown lead answer alike: nothing is revealed.
    let theirs = status(&engine, &lead, &zeta, "contacted").await;
    assert_eq!(refused(&theirs), (404, "not_found".to_owned()));
    assert_eq!(
        theirs.json()["error"]["message"].as_str(),
        Some(format!("no lead `{lead}` bought by buyer `zeta`").as_str())
    );
    let body = json!({"reason_code": "fraud"});
    assert_eq!(refused(&return_lead(&engine, &lead, &zeta, body.clone()).await), (404, "not_found".to_owned()));
    let unknown = "ld_0193a5c2e4f67b8c9d0e1f2a3b4c5d6e";
    assert_eq!(
        refused(&status(&engine, unknown, &buyer_key("acme"), "contacted").await),
        (404, "not_found".to_owned())
    );
    assert_eq!(refused(&return_lead(&engine, unknown, &buyer_key("acme"), body.clone()).await).0, 404);

    // Publisher and admin keys are not buyer keys.
    for key in [KEY, ADMIN_KEY] {
        assert_eq!(refused(&status(&engine, &lead, key, "contacted").await), (403, "forbidden".to_owned()), "{key}");
        assert_eq!(refused(&return_lead(&engine, &lead, key, body.clone()).await), (403, "forbidden".to_owned()));
    }
    let sale: (Option<String>, Option<i64>) = {
        let db = rusqlite::Connection::open_with_flags(store_path(&engine), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
        db.query_row("SELECT status, returned_at FROM sales WHERE lead_id = ?1", [&lead], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    };
    assert_eq!(sale, (None, None), "nothing refused changed the sale");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_the_field_at_fault() {
    let Setup { engine, _buyers } = setup("", "[returns]\nreasons = [\"bad_zip\", \"fraud\"]\n").await;
    let lead = sell(&engine, 1).await;
    let acme = buyer_key("acme");
    let path = format!("/v1/leads/{lead}/status");

    let unknown_status = status(&engine, &lead, &acme, "won").await;
    assert_eq!((unknown_status.status.as_u16(), unknown_status.field().as_deref()), (400, Some("status")));
    let message = unknown_status.json()["error"]["message"].as_str().unwrap().to_owned();
    for name in ["contacted", "qualified", "converted", "closed_won", "closed_lost", "invalid"] {
        assert!(message.contains(name), "{message} lists {name}");
    }
    let extra = engine.call("POST", &path, &acme, r#"{"status": "contacted", "at": "now"}"#).await;
    assert_eq!((refused(&extra), extra.field().as_deref()), ((400, "unknown_field".to_owned()), Some("at")));
    let missing = engine.call("POST", &path, &acme, "{}").await;
    assert_eq!((refused(&missing), missing.field().as_deref()), ((400, "missing_field".to_owned()), Some("status")));
    assert_eq!(refused(&engine.call("POST", &path, &acme, "[\"contacted\"]").await), (400, "invalid_type".to_owned()));
    assert_eq!(refused(&engine.call("POST", &path, &acme, "{\"status\": ").await), (400, "invalid_json".to_owned()));
    let auth = format!("Bearer {acme}");
    let text = engine.send("POST", &path, &[("authorization", &auth)], r#"{"status": "contacted"}"#).await;
    assert_eq!(text.status, 415);

    // The reasons are the configured ones, not the defaults.
    let bad_reason = return_lead(&engine, &lead, &acme, json!({"reason_code": "invalid_phone"})).await;
    assert_eq!((bad_reason.status.as_u16(), bad_reason.field().as_deref()), (400, Some("reason_code")));
    assert!(bad_reason.json()["error"]["message"].as_str().unwrap().contains("bad_zip, fraud"));
    let long = return_lead(&engine, &lead, &acme, json!({"reason_code": "fraud", "note": "x".repeat(1001)})).await;
    assert_eq!((long.status.as_u16(), long.field().as_deref()), (400, Some("note")));
    let extra = return_lead(&engine, &lead, &acme, json!({"reason_code": "fraud", "credit": "9.00"})).await;
    assert_eq!((extra.status.as_u16(), extra.field().as_deref()), (400, Some("credit")));
    let huge = engine.call("POST", &path, &acme, &format!(r#"{{"status": "{}"}}"#, "x".repeat(17 * 1024))).await;
    assert_eq!(huge.status, 413);

    // None of it was recorded; a note of exactly 1,000 characters is fine.
    let fine = return_lead(&engine, &lead, &acme, json!({"reason_code": "bad_zip", "note": "é".repeat(1000)})).await;
    assert_eq!(fine.status, 200, "{:?}", fine.body);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_with_a_zero_hour_window_cannot_return_leads() {
    let Setup { engine, _buyers } = setup("return_window_hours = 0\n", "").await;
    let lead = sell(&engine, 1).await;
    let answer = return_lead(&engine, &lead, &buyer_key("acme"), json!({"reason_code": "duplicate"})).await;
    assert_eq!(refused(&answer), (409, "return_window_closed".to_owned()));
    let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("was sold at") && message.contains("return_window_hours = 0"), "{message}");
    assert_eq!(events(&engine, "lead.returned", &lead), 0);
    engine.stop().await.unwrap();
}

/// Sends `n` copies of one request at once; the answers.
async fn all_at_once(engine: &Arc<Engine>, n: usize, path: String, body: Value) -> Vec<Answer> {
    let mut calls = JoinSet::new();
    for _ in 0..n {
        let (engine, path, body) = (Arc::clone(engine), path.clone(), body.to_string());
        calls.spawn(async move { engine.call("POST", &path, &buyer_key("acme"), &body).await });
    }
    let mut answers = Vec::new();
    while let Some(answer) = calls.join_next().await {
        answers.push(answer.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_returns_of_one_lead_credit_it_exactly_once() {
    let Setup { engine, _buyers } = setup("", "").await;
    let lead = sell(&engine, 1).await;
    let engine = Arc::new(engine);
    let answers = all_at_once(&engine, 10, format!("/v1/leads/{lead}/return"), json!({"reason_code": "fraud"})).await;
    let won = answers.iter().filter(|a| a.status == 200).count();
    let lost = answers.iter().filter(|a| refused(a) == (409, "already_returned".to_owned())).count();
    assert_eq!((won, lost), (1, 9), "{answers:?}");
    assert_eq!(events(&engine, "lead.returned", &lead), 1);
    Arc::try_unwrap(engine).ok().unwrap().stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_of_one_status_record_it_once() {
    let Setup { engine, _buyers } = setup("", "").await;
    let lead = sell(&engine, 1).await;
    let engine = Arc::new(engine);
    let answers = all_at_once(&engine, 10, format!("/v1/leads/{lead}/status"), json!({"status": "contacted"})).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let changed = answers.iter().filter(|a| a.json()["changed"] == json!(true)).count();
    assert_eq!(changed, 1, "the others found it contacted already: {answers:?}");
    let history: i64 = query(
        &engine,
        "SELECT count(*) FROM sale_statuses s JOIN sales ON sales.seq = s.sale_seq WHERE sales.lead_id = ?1",
        &lead,
    );
    assert_eq!((history, events(&engine, "lead.status_changed", &lead)), (1, 1));
    Arc::try_unwrap(engine).ok().unwrap().stop().await.unwrap();
}
