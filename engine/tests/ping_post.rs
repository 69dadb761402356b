//! Publishers' ping/post from the outside (`POST /v1/ping`, then `POST /v1/post`), with fake
//! buyers on real sockets: the held winner buys at the offered payout, a ping sells at most
//! once, expired and unknown pings are refused, the ping's data wins over the post's, the ping
//! shield answers from its cache, and the per-publisher ping limit, the hold's bound and the
//! PII rule hold. The held map's and the shield's own rules run on a paused clock in
//! `api/ping_post/held/tests.rs` and `shield.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{ADMIN_KEY, Answer, Behavior, CONTACT_VALUES, Engine, FakeBuyers, KEY, PostReply, admin_toml, config};
use serde_json::{Value, json};

/// The DESIGN.md example lead without its contact and consent.
const PING: &str = r#"{"vertical": "auto_insurance",
 "attributes": {"zip": "98004", "state": "WA", "credit_tier": "good", "age": 42},
 "source": {"sub_id": "s1"}}"#;

/// The contact and consent a post adds.
fn post_body(ping_id: &str) -> Value {
    json!({
        "ping_id": ping_id,
        "contact": {"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com",
                    "phone": "+12065550100", "address": "1 Main St", "city": "Bellevue"},
        "consent": {"trustedform_cert_url": "https://cert.trustedform.com/abc", "ip": "203.0.113.9"},
    })
}

async fn ping(engine: &Engine, body: &str) -> Answer {
    engine.call("POST", "/v1/ping", KEY, body).await
}

async fn post(engine: &Engine, body: &Value) -> Answer {
    engine.call("POST", "/v1/post", KEY, &body.to_string()).await
}

/// A ping that must bring a bid: its `ping_id` and whole answer.
async fn held_ping(engine: &Engine, body: &str) -> (String, Value) {
    let answer = ping(engine, body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let answer = answer.json();
    assert!(answer["bid"].is_string(), "a bid is held: {answer}");
    (answer["ping_id"].as_str().unwrap().to_owned(), answer)
}

/// The value of the sample `name` (with its labels) in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    let line = text.lines().find(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ')));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or_else(|| panic!("{name} not in /metrics"))
}

fn store_line(path: &Path) -> String {
    format!("store = {}\n", toml::Value::from(path.to_string_lossy().into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_then_post_sells_to_the_held_winner_at_the_offered_payout() {
    let fake = FakeBuyers::start(&[("high", Behavior::bid("\"20.00\"")), ("low", Behavior::bid("\"12.00\""))]).await;
    let buyers = fake.buyer_toml("high", "") + &fake.buyer_toml("low", "");
    // The publisher is paid 80% of what the buyer pays.
    let engine = Engine::start(&(config(&buyers) + "payout = { revenue_share = 80 }\n")).await;
    let (ping_id, answer) = held_ping(&engine, PING).await;
    assert!(ping_id.starts_with("pp_"), "{ping_id}");
    assert_eq!(answer["bid"], "16.00", "80% of the best bid");
    let expires_at = chrono::DateTime::parse_from_rfc3339(answer["expires_at"].as_str().unwrap()).unwrap();
    let left = expires_at.signed_duration_since(chrono::Utc::now()).num_milliseconds();
    assert!((50_000..=60_000).contains(&left), "held for [ping_post] hold_ms (60 s by default): {left} ms left");
    assert_eq!(fake.pings().len(), 2, "both buyers pinged");
    assert!(fake.posts().is_empty(), "nothing posted before the post");
    for seen in fake.pings() {
        let text = String::from_utf8_lossy(&seen.body);
        for value in CONTACT_VALUES {
            assert!(!text.contains(value), "a ping carries no contact data: {value} in {text}");
        }
    }

    let sold = post(&engine, &post_body(&ping_id)).await;
    assert_eq!(sold.status, 200, "{:?}", sold.body);
    let sold = sold.json();
    assert_eq!((sold["outcome"].as_str(), sold["buyer_id"].as_str()), (Some("sold"), Some("high")));
    assert_eq!(sold["price"], answer["bid"], "the post pays what the ping offered");
    assert_eq!((sold["ping_id"].as_str(), sold["ignored"].clone()), (Some(ping_id.as_str()), json!([])));
    assert_eq!(fake.pings().len(), 2, "the post pings nobody again");
    let posts = fake.posts();
    assert_eq!(posts.len(), 1, "only the held winner is posted to");
    let lead = posts[0].json();
    assert_eq!((lead["price"].as_str(), lead["contact"]["phone"].as_str()), (Some("20.00"), Some("+12065550100")));
    let pinged = fake.pings_to("high")[0].json();
    assert_eq!(lead["ping_id"], pinged["ping_id"], "posted on the bid its ping brought");
    assert_eq!(lead["bid_id"], format!("bid-{}", pinged["ping_id"].as_str().unwrap()));
    // The lead is stored like any other: the publisher reads it back.
    let lead_id = sold["lead_id"].as_str().unwrap();
    let read = engine.call("GET", &format!("/v1/leads/{lead_id}"), KEY, "").await;
    assert_eq!((read.status.as_u16(), read.json()["outcome"].as_str()), (200, Some("sold")));
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_bid_holds_nothing_and_its_post_is_404() {
    let fake = FakeBuyers::start(&[("shy", Behavior::ping(common::PingReply::NoBid))]).await;
    let engine = Engine::start(&config(&fake.buyer_toml("shy", ""))).await;
    let answer = ping(&engine, PING).await.json();
    assert_eq!((answer["bid"].clone(), answer["expires_at"].clone()), (Value::Null, Value::Null));
    let refused = post(&engine, &post_body(answer["ping_id"].as_str().unwrap())).await;
    assert_eq!((refused.status.as_u16(), refused.code().as_str()), (404, "unknown_ping"));
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_ping_is_refused_410_and_an_unknown_one_404() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    // The buyer honours its bids for 400 ms: the hold is that, not [ping_post] hold_ms.
    let engine = Engine::start(&config(&fake.buyer_toml("acme", "bid_ttl_ms = 400"))).await;
    let (ping_id, answer) = held_ping(&engine, PING).await;
    let expires_at = chrono::DateTime::parse_from_rfc3339(answer["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires_at.signed_duration_since(chrono::Utc::now()).num_milliseconds() <= 400, "bounded by bid_ttl_ms");
    // Poll with a post that fails validation: it is refused (400) without using the ping up
    // while the bids are held, and gets 410 once they are not.
    let mut bad = post_body(&ping_id);
    bad["contact"]["phone"] = json!("12");
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let answer = post(&engine, &bad).await;
            if answer.status != 400 {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("the ping expires");
    assert_eq!((gone.status.as_u16(), gone.code().as_str()), (410, "ping_expired"));
    // `expires_at` is to the millisecond: allow for its rounding.
    let now = chrono::Utc::now() + chrono::Duration::milliseconds(2);
    assert!(now >= expires_at, "not before its expires_at");
    let late = post(&engine, &post_body(&ping_id)).await;
    assert_eq!((late.status.as_u16(), late.code().as_str()), (410, "ping_expired"));
    assert!(fake.posts().is_empty(), "an expired ping is never posted");
    for unknown in ["pp_0193f6a3c2b07d51a4e1f0c9d2b8e7a6", "ld_x", ""] {
        let answer = post(&engine, &post_body(unknown)).await;
        assert_eq!((answer.status.as_u16(), answer.code().as_str()), (404, "unknown_ping"), "{unknown:?}");
    }
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_post_sells_once() {
    // The buyer takes 300 ms over a post: the second post arrives while the first runs.
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\"").post_after(Duration::from_millis(300)))]).await;
    let engine = Engine::start(&config(&fake.buyer_toml("acme", ""))).await;
    let (ping_id, _) = held_ping(&engine, PING).await;
    let body = post_body(&ping_id);
    let (first, second) = tokio::join!(post(&engine, &body), post(&engine, &body));
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    // The sale is the answer that is not a 409 and not a replay.
    let replay_or_409 = |a: &Answer| a.status != 200 || a.headers.contains_key("idempotent-replayed");
    let (sold, other) = if replay_or_409(&first) { (&second, &first) } else { (&first, &second) };
    match statuses {
        [200, 409] => assert_eq!(other.code(), "post_in_progress"),
        [200, 200] => {
            assert_eq!(other.headers["idempotent-replayed"], "true", "the second replays the first");
            assert_eq!(other.json()["lead_id"], sold.json()["lead_id"]);
        }
        other => panic!("one sale and a 409 or a replay, got {other:?}"),
    }
    assert_eq!(sold.json()["outcome"], "sold");
    assert_eq!(fake.posts().len(), 1, "exactly one post reached the buyer");
    // Done: the same body gets the first answer, another body a 409.
    let again = post(&engine, &body).await;
    assert_eq!((again.status.as_u16(), again.headers["idempotent-replayed"].to_str().ok()), (200, Some("true")));
    assert_eq!(again.body, sold.body);
    let mut other_body = body.clone();
    other_body["contact"]["email"] = json!("someone@example.com");
    let conflict = post(&engine, &other_body).await;
    assert_eq!((conflict.status.as_u16(), conflict.code().as_str()), (409, "ping_already_posted"));
    assert_eq!(fake.posts().len(), 1);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_while_another_runs_is_409_post_in_progress() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\"").post_after(Duration::from_millis(500)))]).await;
    let engine = std::sync::Arc::new(Engine::start(&config(&fake.buyer_toml("acme", ""))).await);
    let (ping_id, _) = held_ping(&engine, PING).await;
    let body = post_body(&ping_id);
    let first = tokio::spawn({
        let (engine, body) = (std::sync::Arc::clone(&engine), body.clone());
        async move { post(&engine, &body).await }
    });
    fake.wait_for_posts(1).await;
    let second = post(&engine, &body).await;
    assert_eq!((second.status.as_u16(), second.code().as_str()), (409, "post_in_progress"));
    assert_eq!(first.await.unwrap().json()["outcome"], "sold");
    assert_eq!(fake.posts().len(), 1);
    let Ok(engine) = std::sync::Arc::try_unwrap(engine) else { panic!("the first post is done with the engine") };
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_changed_at_post_are_ignored_and_reported() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let engine = Engine::start(&config(&fake.buyer_toml("acme", ""))).await;
    let (ping_id, _) = held_ping(&engine, PING).await;
    let mut body = post_body(&ping_id);
    // `state` is the same state written another way; `zip` and `age` differ; `vertical` too.
    body["attributes"] = json!({"zip": "10001", "state": "Washington", "credit_tier": "good", "age": 43});
    body["vertical"] = json!("home_services");
    let sold = post(&engine, &body).await;
    assert_eq!(sold.status, 200, "{:?}", sold.body);
    let sold = sold.json();
    assert_eq!(sold["outcome"], "sold");
    assert_eq!(sold["ignored"], json!(["age", "vertical", "zip"]));
    let posted = fake.posts()[0].json();
    assert_eq!(posted["vertical"], "auto_insurance", "the ping's data wins");
    assert_eq!((posted["attributes"]["zip"].as_str(), posted["attributes"]["age"].as_i64()), (Some("98004"), Some(42)));
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_refused_for_its_body_leaves_the_ping_to_post_again() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let engine = Engine::start(&config(&fake.buyer_toml("acme", ""))).await;
    let (ping_id, _) = held_ping(&engine, PING).await;
    let mut bad = post_body(&ping_id);
    bad["contact"]["email"] = json!("not an email");
    let refused = post(&engine, &bad).await;
    assert_eq!((refused.status.as_u16(), refused.field().as_deref()), (400, Some("contact.email")));
    assert_eq!(post(&engine, &post_body(&ping_id)).await.json()["outcome"], "sold");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_shield_answers_from_cache_without_pinging() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let engine = Engine::start(&config(&fake.buyer_toml("acme", ""))).await;
    let first = ping(&engine, PING).await;
    // The same ping, written another way (attribute order, state name, spacing).
    let same = r#"{"attributes": {"age": 42, "credit_tier": "good", "state": "Washington", "zip": " 98004"},
        "vertical": "auto_insurance", "source": {"sub_id": "s1"}}"#;
    let again = ping(&engine, same).await;
    assert_eq!((again.status.as_u16(), &again.body), (200, &first.body), "the cached answer, same ping_id and expiry");
    assert_eq!(fake.pings().len(), 1, "no buyer pinged again");
    // Another source, or other attributes, is another ping.
    ping(&engine, &PING.replace("\"s1\"", "\"s2\"")).await;
    ping(&engine, &PING.replace("\"good\"", "\"fair\"")).await;
    assert_eq!(fake.pings().len(), 3);
    // Once posted, the ping's bids are spent: the same ping again pings the buyers anew.
    let ping_id = first.json()["ping_id"].as_str().unwrap().to_owned();
    assert_eq!(post(&engine, &post_body(&ping_id)).await.json()["outcome"], "sold");
    let fresh = ping(&engine, PING).await.json();
    assert_ne!(fresh["ping_id"].as_str(), Some(ping_id.as_str()));
    assert_eq!(fake.pings().len(), 4);
    // Metrics are process-wide and other tests run alongside: at least this test's counts.
    let metrics = engine.send("GET", "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(metric(&text, "engine_ping_shield_hits_total") >= 1.0, "shield hits counted");
    assert!(metric(&text, "engine_publisher_posts_total{result=\"sold\"}") >= 1.0, "posts counted by result");
    assert!(text.contains("engine_pings_held "), "held pings gauged");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_pings_at_once_ping_the_buyers_once() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\"").ping_after(Duration::from_millis(50)))]).await;
    let engine = Engine::start(&config(&fake.buyer_toml("acme", ""))).await;
    let (a, b, c) = tokio::join!(ping(&engine, PING), ping(&engine, PING), ping(&engine, PING));
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    assert_eq!((a.status, &a.body), (c.status, &c.body));
    assert_eq!(fake.pings().len(), 1, "the later ones waited for the first's answer");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shield_window_is_per_publisher_and_zero_turns_it_off() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let engine = Engine::start(&(config(&fake.buyer_toml("acme", "")) + "ping_shield_ms = 0\n")).await;
    let (first, _) = held_ping(&engine, PING).await;
    let (second, _) = held_ping(&engine, PING).await;
    assert_ne!(first, second);
    assert_eq!(fake.pings().len(), 2);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_publisher_ping_limit_gives_429_with_retry_after() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let limit = "ping_rate_limit = { per_second = 0.01, burst = 2 }\nping_shield_ms = 0\n";
    let engine = Engine::start(&(config(&format!("{}{}", admin_toml(), fake.buyer_toml("acme", ""))) + limit)).await;
    // A second key of the same publisher shares the publisher's bucket.
    let made = engine.call("POST", "/v1/keys", ADMIN_KEY, r#"{"role": "publisher", "owner_id": "pub1"}"#).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let other_key = made.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(ping(&engine, PING).await.status, 200);
    assert_eq!(engine.call("POST", "/v1/ping", &other_key, PING).await.status, 200);
    let limited = ping(&engine, PING).await;
    assert_eq!((limited.status.as_u16(), limited.code().as_str()), (429, "rate_limited"));
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=100).contains(&retry_after), "{retry_after}");
    assert_eq!(engine.call("POST", "/v1/ping", &other_key, PING).await.status, 429, "all its keys");
    assert_eq!(fake.pings().len(), 2, "a refused ping pings nobody");
    // Only pings are limited: the publisher's leads still go through.
    assert_eq!(engine.lead(common::LEAD).await.status, 200);
    // A new limit from the admin API applies to the next ping.
    let patch = json!({"ping_rate_limit": {"per_second": 0.01, "burst": 5}});
    let patched = engine.call("PATCH", "/v1/publishers/pub1", ADMIN_KEY, &patch.to_string()).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(ping(&engine, PING).await.status, 200);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_publishers_ping_id_is_404() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let other = format!("[[publishers]]\nid = \"pub2\"\nkey_sha256 = \"{}\"\n", common::digest("other-publisher-key"));
    let engine = Engine::start(&(config(&fake.buyer_toml("acme", "")) + &other)).await;
    let (ping_id, _) = held_ping(&engine, PING).await;
    let body = post_body(&ping_id).to_string();
    let theirs = engine.call("POST", "/v1/post", "other-publisher-key", &body).await;
    assert_eq!((theirs.status.as_u16(), theirs.code().as_str()), (404, "unknown_ping"));
    assert!(fake.posts().is_empty());
    assert_eq!(post(&engine, &post_body(&ping_id)).await.json()["outcome"], "sold", "still the owner's to post");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_with_contact_data_is_400() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let engine = Engine::start(&config(&fake.buyer_toml("acme", ""))).await;
    let mut with_contact: Value = serde_json::from_str(PING).unwrap();
    with_contact["contact"] = post_body("x")["contact"].clone();
    let refused = ping(&engine, &with_contact.to_string()).await;
    assert_eq!((refused.status.as_u16(), refused.code().as_str()), (400, "contact_in_ping"));
    assert_eq!(refused.field().as_deref(), Some("contact"));
    let mut with_consent: Value = serde_json::from_str(PING).unwrap();
    with_consent["consent"] = json!({"ip": "203.0.113.9"});
    assert_eq!(ping(&engine, &with_consent.to_string()).await.field().as_deref(), Some("consent"));
    let mut pii: Value = serde_json::from_str(PING).unwrap();
    pii["attributes"]["email"] = json!("jane@example.com");
    assert_eq!(ping(&engine, &pii.to_string()).await.code(), "pii_in_attributes");
    assert!(fake.pings().is_empty(), "no buyer hears of a refused ping");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_held_full_is_503() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let settings = "[ping_post]\nmax_held = 1\nshield_ms = 0\n";
    let engine = Engine::start(&config(&format!("{settings}{}", fake.buyer_toml("acme", "")))).await;
    held_ping(&engine, PING).await;
    let full = ping(&engine, PING).await;
    assert_eq!((full.status.as_u16(), full.code().as_str()), (503, "overloaded"));
    assert_eq!(full.headers["retry-after"], "1");
    assert_eq!(fake.pings().len(), 1, "a refused ping pings nobody");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_opened_by_pings_alone_is_stored_though_nothing_is_posted() {
    let fake = FakeBuyers::start(&[
        ("steady", Behavior::bid("\"5.00\"")),
        ("broken", Behavior::ping(common::PingReply::Raw(500, "oops"))),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.db");
    let buyers = fake.buyer_toml("steady", "")
        + &fake.buyer_toml("broken", "breaker = { failures = 3, rate = 0, cooloff_ms = 3600000 }");
    let engine = Engine::start(&format!("{}{}", store_line(&path), config(&buyers))).await;
    for age in 40..43 {
        held_ping(&engine, &PING.replace("42", &age.to_string())).await;
    }
    assert_eq!(fake.pings_to("broken").len(), 3);
    engine.stop().await.unwrap();
    let db = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let events: Vec<String> = db
        .prepare("SELECT type FROM events WHERE lead_id IS NULL")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(events, ["buyer.circuit_opened"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_rejected_by_the_held_winner_cascades_to_the_next_held_bid() {
    let fake = FakeBuyers::start(&[
        ("high", Behavior::bid("\"20.00\"").post(PostReply::Reject)),
        ("low", Behavior::bid("\"12.00\"")),
    ])
    .await;
    let engine = Engine::start(&config(&(fake.buyer_toml("high", "") + &fake.buyer_toml("low", "")))).await;
    let (ping_id, answer) = held_ping(&engine, PING).await;
    assert_eq!(answer["bid"], "20.00");
    let sold = post(&engine, &post_body(&ping_id)).await.json();
    assert_eq!(
        (sold["buyer_id"].as_str(), sold["price"].as_str()),
        (Some("low"), Some("12.00")),
        "never more than offered"
    );
    assert_eq!(fake.pings().len(), 2, "the cascade uses the held bids");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_winner_paused_before_the_post_is_skipped_and_the_next_held_bid_buys() {
    let fake = FakeBuyers::start(&[("high", Behavior::bid("\"20.00\"")), ("low", Behavior::bid("\"12.00\""))]).await;
    let buyers = fake.buyer_toml("high", "") + &fake.buyer_toml("low", "");
    let engine = Engine::start(&(config(&(buyers + &admin_toml())))).await;
    let (ping_id, answer) = held_ping(&engine, PING).await;
    assert_eq!(answer["bid"], "20.00");
    let paused = engine.call("POST", "/v1/buyers/high/pause", ADMIN_KEY, "").await;
    assert_eq!(paused.status, 200, "{:?}", paused.body);
    let sold = post(&engine, &post_body(&ping_id)).await.json();
    assert_eq!(sold["buyer_id"], "low", "posted through the buyers as they are now: {sold}");
    assert!(fake.posts_to("high").is_empty(), "a paused buyer gets no lead, held bid or not");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_bid_past_its_own_lifetime_is_not_posted_to() {
    let fake = FakeBuyers::start(&[
        ("high", Behavior::bid("\"20.00\"").post(PostReply::Reject)),
        ("low", Behavior::bid("\"12.00\"")),
    ])
    .await;
    // Only the winner's lifetime bounds the hold; `low` honours its bid for 300 ms.
    let buyers = fake.buyer_toml("high", "") + &fake.buyer_toml("low", "bid_ttl_ms = 300");
    let engine = Engine::start(&config(&buyers)).await;
    let (ping_id, _) = held_ping(&engine, PING).await;
    // The bid's lifetime is the buyer's clock: nothing signals its end.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let answer = post(&engine, &post_body(&ping_id)).await.json();
    assert_eq!(answer["outcome"], "unsold", "{answer}");
    assert_eq!(fake.posts_to("high").len(), 1, "the winner was posted to and rejected");
    assert!(fake.posts_to("low").is_empty(), "a bid past its lifetime gets no lead");
    engine.stop().await.unwrap();
}
