//! API keys end to end: roles and scopes, keys issued by the admin API and by `engine keys
//! create`, revocation that applies to the next request, per-key rate limits with their
//! headers, use counts that survive a restart.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ADMIN_KEY, Engine, FakeBuyers, KEY, admin_toml, buyer_key, buyer_key_toml, config};
use serde_json::{Value, json};

async fn engine_with(extra: &str) -> (FakeBuyers, Engine) {
    let fake = FakeBuyers::start(&[("acme", common::Behavior::bid("\"5.00\""))]).await;
    let toml = config(&format!("{}{}{extra}", admin_toml(), fake.buyer_toml("acme", &buyer_key_toml("acme"))));
    let engine = Engine::start(&toml).await;
    (fake, engine)
}

async fn issue(engine: &Engine, body: Value) -> Value {
    let made = engine.call("POST", "/v1/keys", ADMIN_KEY, &body.to_string()).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    made.json()
}

#[tokio::test]
async fn each_role_reaches_only_its_endpoints() {
    let (_fake, engine) = engine_with("").await;
    // A publisher key cannot manage keys, read webhooks or report a disposition.
    for (method, path) in [("GET", "/v1/keys"), ("GET", "/v1/webhooks"), ("POST", "/v1/leads/ld_1/status")] {
        let answer = engine.call(method, path, KEY, if method == "POST" { "{}" } else { "" }).await;
        assert_eq!((answer.status.as_u16(), answer.code().as_str()), (403, "forbidden"), "{method} {path}");
    }
    // A buyer key cannot send leads or manage keys.
    let buyer = buyer_key("acme");
    let lead = engine.call("POST", "/v1/leads", &buyer, common::LEAD).await;
    assert_eq!(lead.status, 403);
    assert_eq!(engine.call("POST", "/v1/keys", &buyer, "{}").await.status, 403);
    // The admin key can.
    assert_eq!(engine.call("GET", "/v1/keys", ADMIN_KEY, "").await.status, 200);
    // No key, or an unknown one: 401.
    assert_eq!(engine.send("GET", "/v1/keys", &[], "").await.status, 401);
    assert_eq!(engine.call("GET", "/v1/keys", "no-such-key", "").await.status, 401);
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn an_issued_key_is_shown_once_scoped_and_revoked_at_once() {
    let (_fake, engine) = engine_with("").await;
    let made = issue(&engine, json!({"role": "buyer", "owner_id": "acme", "scopes": ["read"], "label": "crm"})).await;
    let (id, key) = (made["id"].as_str().unwrap().to_owned(), made["key"].as_str().unwrap().to_owned());
    assert!(key.starts_with("lk_buy_"), "{key}");
    assert_eq!(made["scopes"], json!(["read"]));

    // Listed without the key; the config's keys are listed too.
    let listed = engine.call("GET", "/v1/keys?role=buyer", ADMIN_KEY, "").await.json();
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["config.buyer.acme", id.as_str()]);
    assert!(!listed.to_string().contains(&key[7..]), "the key is never shown again");

    // Read scope: reading passes authentication, writing is refused for the scope.
    let read = engine.call("GET", "/v1/leads", &key, "").await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let write = engine.call("POST", "/v1/leads/ld_1/status", &key, r#"{"status":"contacted"}"#).await;
    assert_eq!(write.status, 403);
    assert!(write.json()["error"]["message"].as_str().unwrap().contains("write"));

    // Revoked: refused on the very next request.
    let revoked = engine.call("DELETE", &format!("/v1/keys/{id}"), ADMIN_KEY, "").await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.json()["revoked_at"].is_string());
    assert_eq!(engine.call("GET", "/v1/leads", &key, "").await.status, 401);
    // Config keys are not revoked through the API.
    let config_key = engine.call("DELETE", "/v1/keys/config.buyer.acme", ADMIN_KEY, "").await;
    assert_eq!((config_key.status.as_u16(), config_key.code().as_str()), (409, "config_key"));
    // Revoking again changes nothing and is not audited twice.
    assert_eq!(engine.call("DELETE", &format!("/v1/keys/{id}"), ADMIN_KEY, "").await.status, 200);

    // Both changes are in the audit log, by whom, without the key.
    let audit = engine.call("GET", "/v1/audit?action=key", ADMIN_KEY, "").await.json();
    let rows: Vec<(&str, &str, &str)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["actor"].as_str().unwrap(), r["target"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("key.revoke", "admin:ops", id.as_str()), ("key.create", "admin:ops", id.as_str())]);
    assert!(!audit.to_string().contains(&key[7..]));
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn a_bad_key_request_names_its_field() {
    let (_fake, engine) = engine_with("").await;
    for (body, field) in [
        (json!({"role": "owner", "owner_id": "acme"}), "role"),
        (json!({"role": "buyer", "owner_id": "nobody"}), "owner_id"),
        (json!({"role": "publisher", "owner_id": "acme"}), "owner_id"),
        (json!({"role": "buyer", "owner_id": "acme", "scopes": ["delete"]}), "scopes"),
        (
            json!({"role": "buyer", "owner_id": "acme", "rate_limit": {"per_second": 0, "burst": 1}}),
            "rate_limit.per_second",
        ),
        (json!({"role": "buyer", "owner_id": "acme", "extra": 1}), "extra"),
    ] {
        let answer = engine.call("POST", "/v1/keys", ADMIN_KEY, &body.to_string()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.field().as_deref(), Some(field), "{body}: {:?}", answer.body);
    }
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn over_its_rate_limit_a_key_gets_429_with_retry_after_and_every_answer_has_the_headers() {
    let (_fake, engine) = engine_with("[rate_limits]\nadmin = { per_second = 0.01, burst = 3 }\n").await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let answer = engine.call("GET", "/v1/keys", ADMIN_KEY, "").await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["x-ratelimit-limit"], "3");
        remaining.push(answer.headers["x-ratelimit-remaining"].to_str().unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let refused = engine.call("GET", "/v1/keys", ADMIN_KEY, "").await;
    assert_eq!((refused.status.as_u16(), refused.code().as_str()), (429, "rate_limited"));
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((90..=100).contains(&retry), "one token per 100 s: {retry}");
    assert_eq!(refused.headers["x-ratelimit-remaining"], "0");
    let reset: u64 = refused.headers["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!(reset >= retry, "full again no sooner than one token is back: {reset} {retry}");
    // Other keys have their own buckets.
    let lead = engine.lead(common::LEAD).await;
    assert_eq!(lead.status, 200);
    assert_eq!(lead.headers["x-ratelimit-limit"], "2000");
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn an_issued_key_with_its_own_limit_is_held_to_it() {
    let (_fake, engine) = engine_with("").await;
    let body = json!({"role": "buyer", "owner_id": "acme", "rate_limit": {"per_second": 0.01, "burst": 1}});
    let key = issue(&engine, body).await["key"].as_str().unwrap().to_owned();
    assert_ne!(engine.call("GET", "/v1/leads", &key, "").await.status, 429);
    assert_eq!(engine.call("GET", "/v1/leads", &key, "").await.status, 429);
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn keys_from_the_command_line_reach_a_running_engine_and_uses_are_counted_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("engine.db");
    let fake = FakeBuyers::start(&[("acme", common::Behavior::bid("\"5.00\""))]).await;
    let toml = config(&format!(
        "store = {:?}\n{}{}",
        store.to_string_lossy(),
        admin_toml(),
        fake.buyer_toml("acme", &buyer_key_toml("acme"))
    ));
    let config_path = dir.path().join("engine.toml");
    std::fs::write(&config_path, &toml).unwrap();
    let engine = Engine::start(&toml).await;

    let output = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["keys", "create", "--role", "buyer", "--buyer", "acme", "--scope", "read", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |name: &str| {
        stdout.lines().find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix("= ")).unwrap().to_owned()
    };
    let (id, key) = (field("id"), field("key"));

    // The engine polls the store's keys every second: the new key works within a few.
    let mut status = 0;
    for _ in 0..50 {
        status = engine.call("GET", "/v1/leads", &key, "").await.status.as_u16();
        if status != 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    for _ in 0..4 {
        engine.call("GET", "/v1/leads", &key, "").await;
    }
    let shown = engine.call("GET", &format!("/v1/keys/{id}"), ADMIN_KEY, "").await.json();
    assert_eq!(shown["uses"], 5, "{shown}");
    assert_eq!(shown["created_by"], "cli");

    // A wrong flag for the role is refused before anything is written.
    let wrong = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["keys", "create", "--role", "buyer", "--publisher", "pub1", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(64));

    // Use counts are stored at shutdown and read back at start.
    engine.stop().await.unwrap();
    let engine = Engine::start(&toml).await;
    let shown = engine.call("GET", &format!("/v1/keys/{id}"), ADMIN_KEY, "").await.json();
    assert_eq!(shown["uses"], 5, "{shown}");

    // Revoked from the command line: refused within a second or so.
    let output = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["keys", "revoke", "--config"])
        .arg(&config_path)
        .arg(&id)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut status = 0;
    for _ in 0..50 {
        status = engine.call("GET", "/v1/leads", &key, "").await.status.as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401);
    let listed = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["keys", "list", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn a_deleted_buyers_issued_keys_do_not_come_back_with_a_new_buyer_of_the_same_id() {
    let (fake, engine) = engine_with("").await;
    let key = issue(&engine, json!({"role": "buyer", "owner_id": "acme"})).await["key"].as_str().unwrap().to_owned();
    assert_eq!(engine.call("GET", "/v1/leads", &key, "").await.status, 200);
    assert_eq!(engine.call("DELETE", "/v1/buyers/acme", ADMIN_KEY, "").await.status, 204);
    assert_eq!(engine.call("GET", "/v1/leads", &key, "").await.status, 401, "gone with its buyer");
    let again = json!({
        "id": "acme",
        "ping_url": format!("http://{}/acme/ping", fake.addr),
        "post_url": format!("http://{}/acme/post", fake.addr),
        "verticals": ["auto_insurance"],
    });
    assert_eq!(engine.call("POST", "/v1/buyers", ADMIN_KEY, &again.to_string()).await.status, 201);
    assert_eq!(engine.call("GET", "/v1/leads", &key, "").await.status, 401, "revoked with the deletion");
    let shown = engine.call("GET", "/v1/keys?role=buyer", ADMIN_KEY, "").await.json();
    assert!(shown["data"].as_array().unwrap().iter().any(|k| k["source"] == "issued" && k["revoked_at"].is_string()));
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn an_admin_key_is_issued_only_to_an_admin_and_never_with_more_scope_than_its_maker() {
    let (_fake, engine) = engine_with("").await;
    let stranger =
        engine.call("POST", "/v1/keys", ADMIN_KEY, &json!({"role": "admin", "owner_id": "eve"}).to_string()).await;
    assert_eq!((stranger.status.as_u16(), stranger.field().as_deref()), (400, Some("owner_id")));
    let writer = issue(&engine, json!({"role": "admin", "owner_id": "ops", "scopes": ["write"]})).await;
    let writer_key = writer["key"].as_str().unwrap();
    let wider = json!({"role": "admin", "owner_id": "ops", "scopes": ["read", "write"]});
    let refused = engine.call("POST", "/v1/keys", writer_key, &wider.to_string()).await;
    assert_eq!((refused.status.as_u16(), refused.field().as_deref()), (400, Some("scopes")));
    // What an issued admin key does is audited under its key id.
    let made = engine
        .call(
            "POST",
            "/v1/keys",
            writer_key,
            &json!({"role": "buyer", "owner_id": "acme", "scopes": ["write"]}).to_string(),
        )
        .await;
    assert_eq!(made.status, 201);
    let audit = engine.call("GET", "/v1/audit?action=key.create", ADMIN_KEY, "").await.json();
    let actor = audit["data"][0]["actor"].as_str().unwrap().to_owned();
    assert_eq!(actor, format!("admin:ops/{}", writer["id"].as_str().unwrap()));
    engine.stop().await.unwrap();
}
