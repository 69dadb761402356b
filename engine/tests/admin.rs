//! The admin API from the outside: buyers and publishers created, read, listed, replaced,
//! patched, paused, resumed and deleted; every body checked by the config file's rules with
//! the field at fault named; admin keys only; changes in force for the next lead without a
//! restart and seen whole by every auction; kept across restarts; every change audited with
//! its secrets redacted.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{ADMIN_KEY, Answer, Behavior, Engine, FakeBuyers, KEY, LEAD, admin_toml, buyer_key, buyer_key_toml};
use serde_json::{Value, json};
use tokio::task::JoinSet;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HEADER_VALUE: &str = "buyer-api-key-123";

fn store_line(path: &Path) -> String {
    format!("store = {}\n", toml::Value::from(path.to_string_lossy().into_owned()))
}

/// A config with the admin `ops`, publisher `pub1` and `extra`.
fn admin_config(extra: &str) -> String {
    common::config(&format!("{}{extra}", admin_toml()))
}

/// A buyer entry as JSON, pinged and posted at fake buyer `path`.
fn buyer(fake: &FakeBuyers, id: &str, path: &str) -> Value {
    json!({
        "id": id,
        "ping_url": format!("http://{}/{path}/ping", fake.addr),
        "post_url": format!("http://{}/{path}/post", fake.addr),
        "verticals": ["auto_insurance"],
    })
}

async fn admin(engine: &Engine, method: &str, path: &str, body: &Value) -> Answer {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    engine.call(method, path, ADMIN_KEY, &body).await
}

/// A lead sent with publisher key `key`.
async fn lead_with_key(engine: &Engine, key: &str) -> Answer {
    let auth = format!("Bearer {key}");
    engine.send("POST", "/v1/leads", &[("authorization", &auth), ("content-type", "application/json")], LEAD).await
}

/// The `(status, code, field)` of an error answer.
fn error(answer: &Answer) -> (u16, String, Option<String>) {
    (answer.status.as_u16(), answer.code(), answer.field())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_are_created_read_listed_replaced_patched_paused_resumed_and_deleted() {
    let fake = FakeBuyers::start(&[]).await;
    let engine = Engine::start(&admin_config(&fake.buyer_toml("file", "floor = \"1.00\""))).await;

    let mut new = buyer(&fake, "acme", "acme");
    new["caps"] = json!({"daily": 10});
    let created = admin(&engine, "POST", "/v1/buyers", &new).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.json(), new, "the answer is the entry as configured");
    assert_eq!(created.headers["location"], "/v1/buyers/acme");
    assert_eq!(
        error(&admin(&engine, "POST", "/v1/buyers", &new).await),
        (409, "already_exists".into(), Some("id".into()))
    );

    let read = admin(&engine, "GET", "/v1/buyers/acme", &Value::Null).await;
    assert_eq!((read.status.as_u16(), read.json()), (200, new.clone()));
    let file = admin(&engine, "GET", "/v1/buyers/file", &Value::Null).await.json();
    assert_eq!(file["floor"], "1.00", "file entries are shown as written");

    let page = admin(&engine, "GET", "/v1/buyers?limit=1", &Value::Null).await.json();
    assert_eq!((page["data"][0]["id"].clone(), page["next_cursor"].clone()), (json!("acme"), json!("acme")));
    let page = admin(&engine, "GET", "/v1/buyers?limit=1&cursor=acme", &Value::Null).await.json();
    assert_eq!((page["data"][0]["id"].clone(), page["next_cursor"].clone()), (json!("file"), Value::Null));

    let mut replacement = buyer(&fake, "acme", "acme2");
    replacement.as_object_mut().unwrap().remove("id");
    let replaced = admin(&engine, "PUT", "/v1/buyers/acme", &replacement).await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(replaced.json()["ping_url"], format!("http://{}/acme2/ping", fake.addr));
    assert_eq!(replaced.json().get("caps"), None, "a PUT replaces the whole entry");
    let renamed = admin(&engine, "PUT", "/v1/buyers/acme", &buyer(&fake, "other", "x")).await;
    assert_eq!(error(&renamed), (400, "invalid_config".into(), Some("id".into())));

    let patch = json!({"floor": "2.50", "states": ["WA"], "verticals": null});
    let patched = admin(&engine, "PATCH", "/v1/buyers/acme", &patch).await;
    assert_eq!(error(&patched).2.as_deref(), Some("verticals"), "removing a required key is refused");
    let patched = admin(&engine, "PATCH", "/v1/buyers/acme", &json!({"floor": "2.50", "states": ["WA"]})).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!((patched.json()["floor"].clone(), patched.json()["states"].clone()), (json!("2.50"), json!(["WA"])));
    assert_eq!(patched.json()["verticals"], json!(["auto_insurance"]), "a merge patch keeps what it leaves out");
    let renamed = admin(&engine, "PATCH", "/v1/buyers/acme", &json!({"id": "other"})).await;
    assert_eq!(error(&renamed), (400, "invalid_config".into(), Some("id".into())));

    let paused = admin(&engine, "POST", "/v1/buyers/acme/pause", &Value::Null).await;
    assert_eq!((paused.status.as_u16(), paused.json()["paused"].clone()), (200, json!(true)));
    let resumed = admin(&engine, "POST", "/v1/buyers/acme/resume", &Value::Null).await;
    assert_eq!((resumed.status.as_u16(), resumed.json().get("paused").cloned()), (200, None));

    let deleted = admin(&engine, "DELETE", "/v1/buyers/acme", &Value::Null).await;
    assert_eq!((deleted.status.as_u16(), deleted.body.len()), (204, 0));
    for (method, path) in [
        ("GET", "/v1/buyers/acme"),
        ("DELETE", "/v1/buyers/acme"),
        ("PATCH", "/v1/buyers/acme"),
        ("POST", "/v1/buyers/acme/pause"),
    ] {
        let body = if method == "PATCH" { json!({"floor": "1.00"}) } else { Value::Null };
        assert_eq!(
            error(&admin(&engine, method, path, &body).await),
            (404, "not_found".into(), None),
            "{method} {path}"
        );
    }
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_are_created_read_listed_replaced_patched_paused_resumed_and_deleted() {
    let engine = Engine::start(&admin_config("")).await;
    let new = json!({"id": "pub2", "key_sha256": common::digest("pub2-key")});
    let created = admin(&engine, "POST", "/v1/publishers", &new).await;
    assert_eq!((created.status.as_u16(), created.json()), (201, new.clone()));
    let list = admin(&engine, "GET", "/v1/publishers", &Value::Null).await.json();
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pub1", "pub2"]);
    assert_eq!(admin(&engine, "GET", "/v1/publishers/pub2", &Value::Null).await.json(), new);

    let replaced = admin(&engine, "PUT", "/v1/publishers/pub2", &json!({"key_sha256": common::digest("k2")})).await;
    assert_eq!(replaced.json()["key_sha256"], common::digest("k2"));
    let patched = admin(&engine, "PATCH", "/v1/publishers/pub2", &json!({"enabled": false})).await;
    assert_eq!(patched.json()["enabled"], false);
    let resumed = admin(&engine, "POST", "/v1/publishers/pub2/resume", &Value::Null).await;
    assert_eq!(resumed.json().get("enabled"), None, "resuming goes back to the default");
    let paused = admin(&engine, "POST", "/v1/publishers/pub2/pause", &Value::Null).await;
    assert_eq!(paused.json()["enabled"], false);
    let deleted = admin(&engine, "DELETE", "/v1/publishers/pub2", &Value::Null).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(admin(&engine, "GET", "/v1/publishers/pub2", &Value::Null).await.status, 404);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_name_the_field_at_fault() {
    let fake = FakeBuyers::start(&[]).await;
    let engine = Engine::start(&admin_config(&fake.buyer_toml("file", ""))).await;
    let with = |key: &str, value: Value| {
        let mut entry = buyer(&fake, "acme", "acme");
        entry[key] = value;
        entry
    };
    let cases = [
        (with("ping_url", json!("ftp://nowhere")), "ping_url"),
        (with("colour", json!("red")), "colour"),
        (with("caps", json!({"daily": -1})), "caps.daily"),
        (with("caps", json!({"budget_daily": 1500})), "caps.budget_daily"),
        (with("states", json!(["WA", "XX"])), "states[1]"),
        (with("caps", json!({"publishers": {"nobody": {"daily": 1}}})), "caps"),
        (with("schedule", json!({"timezone": "Mars/Olympus"})), "schedule.timezone"),
        (with("secret", json!("<redacted>")), "secret"),
        (json!({"ping_url": "http://x/p"}), "id"),
        (json!({"id": "bad id!"}), "id"),
        (json!({"id": "acme", "post_url": "http://x/p", "verticals": ["v"]}), "ping_url"),
    ];
    for (body, field) in cases {
        let answer = admin(&engine, "POST", "/v1/buyers", &body).await;
        assert_eq!(error(&answer), (400, "invalid_config".into(), Some(field.into())), "{body}: {:?}", answer.body);
        assert!(!answer.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    let duplicate = admin(&engine, "POST", "/v1/buyers", &buyer(&fake, "file", "file")).await;
    assert_eq!(error(&duplicate), (409, "already_exists".into(), Some("id".into())));
    let not_json = engine.call("POST", "/v1/buyers", ADMIN_KEY, "{not json").await;
    assert_eq!(error(&not_json).1, "invalid_json");
    let not_an_object = admin(&engine, "POST", "/v1/buyers", &json!([1])).await;
    assert_eq!(error(&not_an_object).1, "invalid_type");
    let huge = format!("{{\"id\": \"x\", \"pad\": \"{}\"}}", "a".repeat(70 * 1024));
    assert_eq!(engine.call("POST", "/v1/buyers", ADMIN_KEY, &huge).await.status, 413);

    // A publisher a buyer's caps name cannot go while they do; nor can a key be shared.
    let pub2 = json!({"id": "pub2", "key_sha256": common::digest("pub2-key")});
    assert_eq!(admin(&engine, "POST", "/v1/publishers", &pub2).await.status, 201);
    let capped = with("caps", json!({"publishers": {"pub2": {"daily": 1}}}));
    assert_eq!(admin(&engine, "POST", "/v1/buyers", &capped).await.status, 201);
    let in_use = admin(&engine, "DELETE", "/v1/publishers/pub2", &Value::Null).await;
    assert_eq!(error(&in_use), (409, "in_use".into(), None));
    assert!(in_use.json()["error"]["message"].as_str().unwrap().contains("buyer `acme`"), "{:?}", in_use.body);
    let shared =
        admin(&engine, "POST", "/v1/publishers", &json!({"id": "pub3", "key_sha256": common::digest(KEY)})).await;
    assert_eq!(error(&shared), (400, "invalid_config".into(), Some("key_sha256".into())));
    // Nothing refused was put in force.
    let ids = admin(&engine, "GET", "/v1/buyers", &Value::Null).await.json()["data"].as_array().unwrap().len();
    assert_eq!(ids, 2, "file and acme only");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_keys_get_in_buyer_and_publisher_keys_get_403_and_no_key_401() {
    let fake = FakeBuyers::start(&[]).await;
    let engine = Engine::start(&admin_config(&fake.buyer_toml("acme", &buyer_key_toml("acme")))).await;
    let paths = [
        ("GET", "/v1/buyers"),
        ("POST", "/v1/buyers"),
        ("GET", "/v1/buyers/acme"),
        ("PATCH", "/v1/buyers/acme"),
        ("DELETE", "/v1/publishers/pub1"),
        ("POST", "/v1/publishers/pub1/pause"),
        ("GET", "/v1/audit"),
    ];
    for (method, path) in paths {
        for key in [KEY.to_owned(), buyer_key("acme")] {
            let answer = engine.call(method, path, &key, "{}").await;
            assert_eq!(error(&answer).0, 403, "{method} {path}");
        }
        assert_eq!(engine.send(method, path, &[], "").await.status, 401, "{method} {path}");
    }
    // Nothing changed.
    assert_eq!(admin(&engine, "GET", "/v1/publishers/pub1", &Value::Null).await.json().get("enabled"), None);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_buyer_is_pinged_by_the_next_lead_a_paused_one_and_a_deleted_one_are_not() {
    let fake = FakeBuyers::start(&[("file", Behavior::bid("\"2.00\"")), ("acme", Behavior::bid("\"5.00\""))]).await;
    let engine = Engine::start(&admin_config(&fake.buyer_toml("file", ""))).await;
    assert_eq!(engine.lead(LEAD).await.json()["buyer_id"], "file");

    let mut acme = buyer(&fake, "acme", "acme");
    acme["headers"] = json!({"x-api-key": HEADER_VALUE});
    acme["secret"] = json!(SECRET);
    assert_eq!(admin(&engine, "POST", "/v1/buyers", &acme).await.status, 201);
    assert_eq!(engine.lead(LEAD).await.json()["buyer_id"], "acme", "the next lead, no restart");
    let ping = fake.pings_to("acme").pop().unwrap();
    assert_eq!(ping.headers["x-api-key"], HEADER_VALUE);
    assert!(ping.headers.contains_key("webhook-signature"), "signed with its secret");

    // A patch that leaves the secrets out keeps them.
    assert_eq!(admin(&engine, "PATCH", "/v1/buyers/acme", &json!({"floor": "1.00"})).await.status, 200);
    assert_eq!(engine.lead(LEAD).await.json()["buyer_id"], "acme");
    let ping = fake.pings_to("acme").pop().unwrap();
    assert_eq!(ping.headers["x-api-key"], HEADER_VALUE);
    assert!(ping.headers.contains_key("webhook-signature"));

    assert_eq!(admin(&engine, "POST", "/v1/buyers/acme/pause", &Value::Null).await.status, 200);
    let pinged = fake.pings_to("acme").len();
    assert_eq!(engine.lead(LEAD).await.json()["buyer_id"], "file");
    assert_eq!(fake.pings_to("acme").len(), pinged, "a paused buyer is not pinged");

    assert_eq!(admin(&engine, "POST", "/v1/buyers/acme/resume", &Value::Null).await.status, 200);
    assert_eq!(engine.lead(LEAD).await.json()["buyer_id"], "acme");

    assert_eq!(admin(&engine, "DELETE", "/v1/buyers/acme", &Value::Null).await.status, 204);
    let pinged = fake.pings_to("acme").len();
    assert_eq!(engine.lead(LEAD).await.json()["buyer_id"], "file");
    assert_eq!(fake.pings_to("acme").len(), pinged, "a deleted buyer is not pinged");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_or_deleted_publishers_key_is_refused_at_once() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\""))]).await;
    let engine = Engine::start(&admin_config(&fake.buyer_toml("acme", ""))).await;
    let pub2 = json!({"id": "pub2", "key_sha256": common::digest("pub2-key")});
    assert_eq!(lead_with_key(&engine, "pub2-key").await.status, 401, "not a publisher yet");
    assert_eq!(admin(&engine, "POST", "/v1/publishers", &pub2).await.status, 201);
    assert_eq!(lead_with_key(&engine, "pub2-key").await.status, 200, "a publisher at once");

    assert_eq!(admin(&engine, "POST", "/v1/publishers/pub2/pause", &Value::Null).await.status, 200);
    let refused = lead_with_key(&engine, "pub2-key").await;
    assert_eq!((refused.status.as_u16(), refused.code()), (403, "forbidden".into()));
    assert_eq!(admin(&engine, "POST", "/v1/publishers/pub2/resume", &Value::Null).await.status, 200);
    assert_eq!(lead_with_key(&engine, "pub2-key").await.status, 200);

    // A new key replaces the old one at once.
    let rekeyed = json!({"key_sha256": common::digest("pub2-new")});
    assert_eq!(admin(&engine, "PATCH", "/v1/publishers/pub2", &rekeyed).await.status, 200);
    assert_eq!(lead_with_key(&engine, "pub2-key").await.status, 401);
    assert_eq!(lead_with_key(&engine, "pub2-new").await.status, 200);

    assert_eq!(admin(&engine, "DELETE", "/v1/publishers/pub2", &Value::Null).await.status, 204);
    assert_eq!(lead_with_key(&engine, "pub2-new").await.status, 401);
    assert_eq!(lead_with_key(&engine, KEY).await.status, 200, "other publishers are untouched");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_survive_a_restart_on_the_same_store_and_a_file_they_no_longer_fit_stops_the_start() {
    let fake = FakeBuyers::start(&[("file", Behavior::bid("\"2.00\"")), ("late", Behavior::bid("\"5.00\""))]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_line(&dir.path().join("engine.db"));
    let old = "[[publishers]]\nid = \"old\"\nkey_sha256 = \"".to_owned() + &common::digest("old-key") + "\"\n";
    let toml = store.clone() + &admin_config(&(fake.buyer_toml("file", "") + &old));

    let engine = Engine::start(&toml).await;
    let mut late = buyer(&fake, "late", "late");
    late["floor"] = json!("4.00");
    assert_eq!(admin(&engine, "POST", "/v1/buyers", &late).await.status, 201);
    assert_eq!(admin(&engine, "PATCH", "/v1/buyers/file", &json!({"verticals": ["home"]})).await.status, 200);
    assert_eq!(admin(&engine, "DELETE", "/v1/publishers/old", &Value::Null).await.status, 204);
    engine.stop().await.unwrap();

    let engine = Engine::start(&toml).await;
    assert_eq!(admin(&engine, "GET", "/v1/buyers/late", &Value::Null).await.json(), late);
    assert_eq!(admin(&engine, "GET", "/v1/buyers/file", &Value::Null).await.json()["verticals"], json!(["home"]));
    assert_eq!(admin(&engine, "GET", "/v1/publishers/old", &Value::Null).await.status, 404);
    assert_eq!(lead_with_key(&engine, "old-key").await.status, 401, "the deleted publisher stays deleted");
    let pinged = fake.pings_to("file").len();
    assert_eq!(engine.lead(LEAD).await.json()["buyer_id"], "late", "the created buyer is in the auction");
    assert_eq!(fake.pings_to("file").len(), pinged, "the patched file buyer no longer wants auto_insurance");
    engine.stop().await.unwrap();

    // The file now caps every bid below the stored buyer's floor: the start names that buyer.
    let stricter = toml.replace("[[admins]]", "[auction]\nmax_bid = \"3.00\"\n[[admins]]");
    let engine = Engine::start(&stricter).await;
    let refused = engine.stop().await.expect_err("the stored buyer no longer fits");
    let message = refused.to_string();
    assert!(message.contains("buyer `late`") && message.contains("floor"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_has_its_audit_row_with_secrets_redacted() {
    let fake = FakeBuyers::start(&[]).await;
    let config = admin_config("[delivery]\nallow_private_targets = true\n");
    let engine = Engine::start(&config).await;
    let mut acme = buyer(&fake, "acme", "acme");
    acme["secret"] = json!(SECRET);
    acme["headers"] = json!({"x-api-key": HEADER_VALUE});
    let created = admin(&engine, "POST", "/v1/buyers", &acme).await;
    assert_eq!(created.json()["secret"], "<redacted>");
    assert_eq!(created.json()["headers"], json!({"x-api-key": "<redacted>"}));
    let mut shown = admin(&engine, "GET", "/v1/buyers/acme", &Value::Null).await.json();
    assert_eq!(shown, created.json());
    // What was read, edited and sent back keeps its secrets.
    shown["floor"] = json!("3.00");
    assert_eq!(admin(&engine, "PUT", "/v1/buyers/acme", &shown).await.status, 200);
    admin(&engine, "PATCH", "/v1/buyers/acme", &json!({"timeout_ms": 50})).await;
    admin(&engine, "POST", "/v1/buyers/acme/pause", &Value::Null).await;
    admin(&engine, "POST", "/v1/buyers/acme/resume", &Value::Null).await;
    admin(&engine, "DELETE", "/v1/buyers/acme", &Value::Null).await;
    admin(&engine, "POST", "/v1/publishers", &json!({"id": "pub2", "key_sha256": common::digest("k")})).await;
    admin(&engine, "POST", "/v1/publishers/pub2/pause", &Value::Null).await;
    admin(&engine, "DELETE", "/v1/publishers/pub2", &Value::Null).await;
    let hook =
        json!({"id": "crm", "url": "http://127.0.0.1:9/hooks", "events": ["lead.sold"], "headers": {"x-k": "v"}});
    assert_eq!(admin(&engine, "POST", "/v1/webhooks", &hook).await.status, 201);
    admin(&engine, "PATCH", "/v1/webhooks/crm", &json!({"events": ["*"]})).await;
    admin(&engine, "POST", "/v1/webhooks/crm/rotate-secret", &Value::Null).await;
    admin(&engine, "DELETE", "/v1/webhooks/crm", &Value::Null).await;
    // A change that changes nothing writes nothing.
    admin(&engine, "POST", "/v1/publishers/pub1/resume", &Value::Null).await;

    let log = admin(&engine, "GET", "/v1/audit?limit=500", &Value::Null).await;
    assert_eq!(log.status, 200);
    let text = String::from_utf8_lossy(&log.body).into_owned();
    assert!(!text.contains("whsec_") && !text.contains(HEADER_VALUE), "no secret in the audit log: {text}");
    let rows = log.json()["data"].as_array().unwrap().clone();
    let actions: Vec<(&str, &str)> =
        rows.iter().rev().map(|r| (r["action"].as_str().unwrap(), r["target"].as_str().unwrap())).collect();
    assert_eq!(
        actions,
        [
            ("buyer.create", "acme"),
            ("buyer.replace", "acme"),
            ("buyer.update", "acme"),
            ("buyer.pause", "acme"),
            ("buyer.resume", "acme"),
            ("buyer.delete", "acme"),
            ("publisher.create", "pub2"),
            ("publisher.pause", "pub2"),
            ("publisher.delete", "pub2"),
            ("webhook.create", "crm"),
            ("webhook.update", "crm"),
            ("webhook.rotate_secret", "crm"),
            ("webhook.delete", "crm"),
        ],
        "every change, newest first"
    );
    assert!(rows.iter().all(|r| r["actor"] == "admin:ops" && r["at"].as_str().is_some_and(|t| t.ends_with('Z'))));
    let seqs: Vec<i64> = rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    let update = &rows[rows.len() - 3]["detail"];
    assert_eq!((update["before"].get("timeout_ms"), update["after"]["timeout_ms"].clone()), (None, json!(50)));
    assert_eq!(update["after"]["secret"], "<redacted>");
    assert_eq!(rows[rows.len() - 1]["detail"]["before"], Value::Null, "a create has nothing before");
    assert_eq!(rows[rows.len() - 6]["detail"]["after"], Value::Null, "a delete has nothing after");

    // Filters and pages.
    let buyers = admin(&engine, "GET", "/v1/audit?action=buyer", &Value::Null).await.json();
    assert_eq!(buyers["data"].as_array().unwrap().len(), 6);
    let pauses = admin(&engine, "GET", "/v1/audit?action=publisher.pause&target=pub2", &Value::Null).await.json();
    assert_eq!(pauses["data"].as_array().unwrap().len(), 1);
    let first = admin(&engine, "GET", "/v1/audit?limit=5", &Value::Null).await.json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = admin(&engine, "GET", &format!("/v1/audit?limit=500&cursor={cursor}"), &Value::Null).await.json();
    assert_eq!(second["data"].as_array().unwrap().len(), rows.len() - 5, "the rest, no row twice");
    assert_eq!(second["data"][0]["seq"], rows[5]["seq"]);
    let future = admin(&engine, "GET", "/v1/audit?since=2100-01-01T00:00:00Z", &Value::Null).await.json();
    assert_eq!(future["data"], json!([]));
    let bad = admin(&engine, "GET", "/v1/audit?cursor=abc", &Value::Null).await;
    assert_eq!(error(&bad), (400, "invalid_cursor".into(), Some("cursor".into())));
    engine.stop().await.unwrap();
}

/// The test. One registry entry, `switch`, is moved back and forth between two fake
/// buyers (`/a1/ping` + `/a1/post`, `/a2/ping` + `/a2/post`) by PATCHes of both URLs at once
/// while many leads run. An auction that read the registry twice could ping one fake buyer and
/// post to the other; every post must go where its ping went.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_change_in_the_middle_of_a_load_is_seen_whole_by_every_auction() {
    // A slow ping keeps every auction open across the PATCHes that land meanwhile.
    let slow = |price| Behavior::bid(price).ping_after(std::time::Duration::from_millis(20));
    let fake = Arc::new(FakeBuyers::start(&[("a1", slow("\"5.00\"")), ("a2", slow("\"5.00\""))]).await);
    let entry = format!(
        "[[buyers]]\nid = \"switch\"\nping_url = \"http://{a}/a1/ping\"\npost_url = \"http://{a}/a1/post\"\nverticals = [\"auto_insurance\"]\n",
        a = fake.addr
    );
    let auction = "[auction]\nping_timeout_ms = 2000\ntotal_timeout_ms = 10000\n";
    let engine = Arc::new(Engine::start(&admin_config(&format!("{auction}{entry}"))).await);

    // The admin flips the entry after every few pings, until the load is done.
    let (done, mut stop) = tokio::sync::oneshot::channel::<()>();
    let flipper = {
        let (engine, fake) = (Arc::clone(&engine), Arc::clone(&fake));
        tokio::spawn(async move {
            let mut flips = 0usize;
            loop {
                tokio::select! {
                    _ = &mut stop => return flips,
                    () = fake.wait_for_pings(flips * 7 + 7) => {}
                }
                flips += 1;
                let to = if flips % 2 == 1 { "a2" } else { "a1" };
                let patch = json!({
                    "ping_url": format!("http://{}/{to}/ping", fake.addr),
                    "post_url": format!("http://{}/{to}/post", fake.addr),
                });
                assert_eq!(admin(&engine, "PATCH", "/v1/buyers/switch", &patch).await.status, 200);
            }
        })
    };
    const LEADS: usize = 200;
    const AT_ONCE: usize = 25;
    for wave in 0..LEADS / AT_ONCE {
        let mut leads = JoinSet::new();
        for n in 0..AT_ONCE {
            let engine = Arc::clone(&engine);
            leads.spawn(async move { engine.lead(&common::lead_numbered(wave * AT_ONCE + n)).await });
        }
        while let Some(answer) = leads.join_next().await {
            let answer = answer.unwrap();
            assert_eq!(answer.json()["outcome"], "sold", "{:?}", answer.body);
        }
    }
    done.send(()).unwrap();
    let flips = flipper.await.unwrap();
    assert!(flips >= 10, "the entry changed many times during the load ({flips})");

    let pings = fake.pings();
    let posts = fake.posts();
    assert_eq!(posts.len(), LEADS, "one post per lead");
    for post in &posts {
        let ping_id = post.json()["ping_id"].as_str().unwrap().to_owned();
        let ping = pings.iter().find(|p| p.json()["ping_id"] == ping_id.as_str()).unwrap();
        assert_eq!(
            ping.buyer,
            post.buyer,
            "lead {}: pinged at {}, posted to {}",
            post.json()["lead_id"],
            ping.buyer,
            post.buyer
        );
    }
    let (a1, a2) = (fake.posts_to("a1").len(), fake.posts_to("a2").len());
    assert!(a1 > 0 && a2 > 0, "both versions were used: a1 {a1}, a2 {a2}");
    Arc::into_inner(engine).unwrap().stop().await.unwrap();
}
