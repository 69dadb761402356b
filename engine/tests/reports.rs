//! Reports from the outside (`GET /v1/reports/buyers`, `GET /v1/reports/publishers`): exact
//! figures of a controlled run, returns netted out of revenue and payout, margins that follow a
//! publisher's revenue share, each key limited to its own row (a publisher sees its payout,
//! never buyer prices or margins), and bad ranges refused with their field.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    ADMIN_KEY, Behavior, Engine, FakeBuyers, KEY, PostReply, admin_toml, buyer_key, buyer_key_toml, config, digest,
};
use serde_json::{Value, json};

/// The second publisher's key.
const KEY2: &str = "test-publisher-key-2";

/// A controlled run. Buyers: `a` bids 5.00, `b` 3.00, `c` answers after the ping deadline
/// (its breaker off, so it is pinged every time). Leads, all auto insurance:
/// 1. pub1: a wins (a accepts).
/// 2. pub1: a rejects the post, b wins.
/// 3. pub2: a and b do not bid: unsold.
/// 4. pub2: lead 3 again: a duplicate, nobody pinged.
/// 5. pub1: a test lead, sold to `sandbox` (the one buyer in test mode): in no figure.
///
/// Returns the engine and the ids of leads 1 and 2.
async fn controlled_run(fake: &FakeBuyers) -> (Engine, String, String) {
    let auction = "[auction]\nping_timeout_ms = 400\ntotal_timeout_ms = 3000\n[dedupe]\n";
    let buyers = fake.buyer_toml("a", &buyer_key_toml("a"))
        + &fake.buyer_toml("b", &buyer_key_toml("b"))
        + &fake.buyer_toml("sandbox", "test_mode = true")
        + &fake.buyer_toml("c", "breaker = { enabled = false }");
    let pub2 = format!("[[publishers]]\nid = \"pub2\"\nkey_sha256 = \"{}\"\n", digest(KEY2));
    let engine = Engine::start(&config(&format!("{auction}{buyers}{pub2}{}", admin_toml()))).await;

    let first = engine.lead(&lead_numbered(1)).await.json();
    assert_eq!(first["buyer_id"], "a");
    fake.set("a", Behavior::bid("\"5.00\"").post(PostReply::Reject));
    let second = engine.lead(&lead_numbered(2)).await.json();
    assert_eq!(second["buyer_id"], "b");
    fake.set("a", Behavior::ping(common::PingReply::NoBid));
    fake.set("b", Behavior::ping(common::PingReply::NoBid));
    let third = engine.call("POST", "/v1/leads", KEY2, &lead_numbered(3)).await.json();
    assert_eq!(third["outcome"], "unsold");
    let fourth = engine.call("POST", "/v1/leads", KEY2, &lead_numbered(3)).await.json();
    assert_eq!(fourth["outcome"], "duplicate");
    fake.set("a", Behavior::bid("\"5.00\""));
    let test = lead_numbered(5).replace("\"test\": false", "\"test\": true");
    assert_eq!(engine.lead(&test).await.json()["buyer_id"], "sandbox");
    let id = |answer: &Value| answer["lead_id"].as_str().unwrap().to_owned();
    (engine, id(&first), id(&second))
}

/// Lead `n`, with its own email and phone (dedupe is on).
fn lead_numbered(n: usize) -> String {
    common::lead_numbered(n).replace("+12065550100", &format!("+120655501{n:02}"))
}

async fn buyers() -> FakeBuyers {
    FakeBuyers::start(&[
        ("a", Behavior::bid("\"5.00\"")),
        ("b", Behavior::bid("\"3.00\"")),
        ("c", Behavior::bid("\"9.00\"").ping_after(Duration::from_millis(1_500))),
        ("sandbox", Behavior::bid("\"5.00\"")),
    ])
    .await
}

async fn get(engine: &Engine, path: &str, key: &str) -> Value {
    let answer = engine.call("GET", path, key, "").await;
    assert_eq!(answer.status, 200, "GET {path}: {:?}", answer.body);
    answer.json()
}

/// The rows of a report, by the id in `field`.
fn rows(report: &Value) -> Vec<Value> {
    report["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controlled_run_gives_exact_buyer_and_publisher_figures_net_of_returns() {
    let fake = buyers().await;
    let (engine, _, second) = controlled_run(&fake).await;

    let report = get(&engine, "/v1/reports/buyers", ADMIN_KEY).await;
    assert!(report["since"].is_string() && report["until"].is_string());
    // Publishers on the default terms are paid the whole price: the broker's margin is 0.
    let a = json!({"buyer_id": "a", "pings": 3, "bids": 2, "bid_rate": 0.6667, "timeouts": 0, "fixed_offers": 0,
        "wins": 1, "win_rate": 0.5, "average_price": "5.00", "total_price": "5.00", "post_rejections": 1, "returns": 0,
        "returned_amount": "0.00", "revenue": "5.00", "payout": "5.00", "margin": "0.00"});
    let b = json!({"buyer_id": "b", "pings": 3, "bids": 2, "bid_rate": 0.6667, "timeouts": 0, "fixed_offers": 0,
        "wins": 1, "win_rate": 0.5, "average_price": "3.00", "total_price": "3.00", "post_rejections": 0, "returns": 0,
        "returned_amount": "0.00", "revenue": "3.00", "payout": "3.00", "margin": "0.00"});
    let c = json!({"buyer_id": "c", "pings": 3, "bids": 0, "bid_rate": 0.0, "timeouts": 3, "fixed_offers": 0,
        "wins": 0, "win_rate": 0.0, "average_price": "0.00", "total_price": "0.00", "post_rejections": 0, "returns": 0,
        "returned_amount": "0.00", "revenue": "0.00", "payout": "0.00", "margin": "0.00"});
    assert_eq!(rows(&report), [a, b.clone(), c], "the test lead and the duplicate count nowhere");

    let report = get(&engine, "/v1/reports/publishers", ADMIN_KEY).await;
    let pub1 = json!({"publisher_id": "pub1", "leads": 2, "sold": 2, "unsold": 0, "duplicates": 0, "sell_rate": 1.0,
        "sales": 2, "average_price": "4.00", "revenue": "8.00", "margin": "0.00", "returns": 0, "payout": "8.00"});
    let pub2 = json!({"publisher_id": "pub2", "leads": 2, "sold": 0, "unsold": 1, "duplicates": 1, "sell_rate": 0.0,
        "sales": 0, "average_price": "0.00", "revenue": "0.00", "margin": "0.00", "returns": 0, "payout": "0.00"});
    assert_eq!(rows(&report), [pub1, pub2]);

    // b returns lead 2 for a credit of 2.50 (the feedback API's columns, set by hand here).
    let db = rusqlite::Connection::open(engine.dir.path().join("engine.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let returned = db
        .execute(
            "UPDATE sales SET returned_at = ?2, return_reason = 'invalid_phone', credit_micros = 2500000 \
             WHERE lead_id = ?1 AND buyer_id = 'b'",
            rusqlite::params![second, engine::store::now_ms()],
        )
        .unwrap();
    assert_eq!(returned, 1);
    let report = get(&engine, "/v1/reports/buyers?buyer_id=b", ADMIN_KEY).await;
    let mut b_returned = b;
    b_returned["returns"] = 1.into();
    b_returned["returned_amount"] = "2.50".into();
    b_returned["revenue"] = "0.50".into();
    // A returned sale pays its publisher nothing; the broker keeps what was not credited back.
    b_returned["payout"] = "0.00".into();
    b_returned["margin"] = "0.50".into();
    assert_eq!(rows(&report), [b_returned]);
    let report = get(&engine, "/v1/reports/publishers?publisher_id=pub1", ADMIN_KEY).await;
    let row = &rows(&report)[0];
    assert_eq!(
        (row["returns"].as_u64(), row["revenue"].as_str(), row["payout"].as_str(), row["margin"].as_str()),
        (Some(1), Some("5.50"), Some("5.00"), Some("0.50"))
    );

    // A range with no leads: no rows.
    let old = "since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z";
    assert!(rows(&get(&engine, &format!("/v1/reports/buyers?{old}"), ADMIN_KEY).await).is_empty());
    assert!(rows(&get(&engine, &format!("/v1/reports/publishers?{old}"), ADMIN_KEY).await).is_empty());
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_reads_only_its_own_row_and_the_other_report_is_forbidden() {
    let fake = buyers().await;
    let (engine, _, _) = controlled_run(&fake).await;
    let ids = |report: &Value, field: &str| -> Vec<String> {
        rows(report).iter().map(|r| r[field].as_str().unwrap().to_owned()).collect()
    };
    let a = buyer_key("a");
    let own = get(&engine, "/v1/reports/buyers", &a).await;
    assert_eq!(ids(&own, "buyer_id"), ["a"]);
    let own = &rows(&own)[0];
    assert!(own["revenue"].is_string() && own.get("payout").is_none() && own.get("margin").is_none(), "{own}");
    assert_eq!(ids(&get(&engine, "/v1/reports/buyers?buyer_id=a", &a).await, "buyer_id"), ["a"]);
    assert_eq!(ids(&get(&engine, "/v1/reports/publishers", KEY2).await, "publisher_id"), ["pub2"]);
    // A publisher sees its payout, not what buyers paid; the admin sees both.
    let own = get(&engine, "/v1/reports/publishers", KEY2).await;
    let own = &rows(&own)[0];
    for hidden in ["revenue", "average_price", "margin"] {
        assert!(own.get(hidden).is_none(), "a publisher's own row has no {hidden}: {own}");
    }
    assert!(own["payout"].is_string(), "{own}");
    let admin = get(&engine, "/v1/reports/publishers?publisher_id=pub2", ADMIN_KEY).await;
    assert!(rows(&admin)[0]["revenue"].is_string() && rows(&admin)[0]["margin"].is_string());
    let admin = get(&engine, "/v1/reports/buyers?buyer_id=a", ADMIN_KEY).await;
    assert!(rows(&admin)[0]["payout"].is_string() && rows(&admin)[0]["margin"].is_string());
    assert_eq!(ids(&get(&engine, "/v1/reports/buyers?buyer_id=c", ADMIN_KEY).await, "buyer_id"), ["c"]);
    // A named buyer without activity still gets its row, of zeros.
    let idle = get(&engine, "/v1/reports/buyers?buyer_id=idle", ADMIN_KEY).await;
    assert_eq!((rows(&idle)[0]["buyer_id"].as_str(), rows(&idle)[0]["pings"].as_u64()), (Some("idle"), Some(0)));

    for (path, key) in [
        ("/v1/reports/buyers?buyer_id=b", a.as_str()),
        ("/v1/reports/buyers", KEY),
        ("/v1/reports/publishers", a.as_str()),
        ("/v1/reports/publishers?publisher_id=pub1", KEY2),
    ] {
        let answer = engine.call("GET", path, key, "").await;
        assert_eq!((answer.status.as_u16(), answer.code()), (403, "forbidden".to_owned()), "{path}");
    }
    engine.stop().await.unwrap();
}

/// Margins end to end: pub1 is paid 80% of each sale (`payout = { revenue_share = 80 }`).
/// Lead 1 sells to a at 5.00 (payout 4.00, margin 1.00); lead 2 to b at 3.00 after a rejects
/// (payout 2.40, margin 0.60); then b returns lead 2 through the API (credited 3.00): it pays
/// pub1 nothing and leaves the broker nothing. Every figure to the cent, and the pull views of
/// the same sales: the admin sees each sale's split, the publisher its payout, the buyer its
/// price only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn margins_follow_the_publisher_s_revenue_share_and_a_return_takes_back_payout_and_margin() {
    let fake = FakeBuyers::start(&[("a", Behavior::bid("\"5.00\"")), ("b", Behavior::bid("\"3.00\""))]).await;
    let buyers = fake.buyer_toml("a", &buyer_key_toml("a")) + &fake.buyer_toml("b", &buyer_key_toml("b"));
    // `config` puts pub1's table last: the line lands in it.
    let toml = config(&format!("[auction]\nping_timeout_ms = 400\ntotal_timeout_ms = 3000\n{buyers}{}", admin_toml()))
        + "payout = { revenue_share = 80 }\n";
    let engine = Engine::start(&toml).await;
    let first = engine.lead(&lead_numbered(1)).await.json();
    assert_eq!((first["buyer_id"].as_str(), first["price"].as_str()), (Some("a"), Some("4.00")), "paid its payout");
    fake.set("a", Behavior::bid("\"5.00\"").post(PostReply::Reject));
    let second = engine.lead(&lead_numbered(2)).await.json();
    assert_eq!((second["buyer_id"].as_str(), second["price"].as_str()), (Some("b"), Some("2.40")));
    let (first, second) = (first["lead_id"].as_str().unwrap(), second["lead_id"].as_str().unwrap());

    let publisher = |revenue: &str, margin: &str, returns: u64, payout: &str| {
        json!({"publisher_id": "pub1", "leads": 2, "sold": 2, "unsold": 0, "duplicates": 0, "sell_rate": 1.0,
            "sales": 2, "average_price": "4.00", "revenue": revenue, "margin": margin, "returns": returns,
            "payout": payout})
    };
    let report = get(&engine, "/v1/reports/publishers", ADMIN_KEY).await;
    assert_eq!(rows(&report), [publisher("8.00", "1.60", 0, "6.40")]);
    let report = get(&engine, "/v1/reports/buyers", ADMIN_KEY).await;
    let money: Vec<_> = rows(&report)
        .iter()
        .map(|r| (r["buyer_id"].clone(), r["revenue"].clone(), r["payout"].clone(), r["margin"].clone()))
        .collect();
    assert_eq!(
        money,
        [
            (json!("a"), json!("5.00"), json!("4.00"), json!("1.00")),
            (json!("b"), json!("3.00"), json!("2.40"), json!("0.60"))
        ]
    );

    // The pull views of lead 1: each role its own part of the same sale.
    let admin = get(&engine, &format!("/v1/leads/{first}"), ADMIN_KEY).await;
    assert_eq!(
        (admin["price"].as_str(), admin["payout"].as_str(), admin["margin"].as_str()),
        (Some("5.00"), Some("4.00"), Some("1.00"))
    );
    let sale = &admin["sales"][0];
    assert_eq!(
        (sale["buyer_id"].as_str(), sale["price"].as_str(), sale["payout"].as_str(), sale["margin"].as_str()),
        (Some("a"), Some("5.00"), Some("4.00"), Some("1.00"))
    );
    let listed = get(&engine, "/v1/leads", ADMIN_KEY).await;
    let item = &listed["data"][0];
    assert_eq!((item["payout"].as_str(), item["margin"].as_str()), (Some("4.00"), Some("1.00")));
    assert_eq!(item["sales"][0]["margin"], "1.00");
    let own = get(&engine, &format!("/v1/leads/{first}"), KEY).await;
    assert_eq!(own["payout"], "4.00");
    assert_eq!(get(&engine, "/v1/leads", KEY).await["data"][0]["payout"], "4.00");
    let bought = get(&engine, &format!("/v1/leads/{first}"), &buyer_key("a")).await;
    assert_eq!(bought["sale"]["price"], "5.00");
    let text = bought.to_string();
    assert!(!text.contains("payout") && !text.contains("margin"), "a buyer sees its price only: {text}");

    let returned = engine
        .call(
            "POST",
            &format!("/v1/leads/{second}/return"),
            &buyer_key("b"),
            &json!({"reason_code": "fraud"}).to_string(),
        )
        .await;
    assert_eq!(returned.status, 200, "{:?}", returned.body);
    let report = get(&engine, "/v1/reports/publishers", ADMIN_KEY).await;
    assert_eq!(rows(&report), [publisher("5.00", "1.00", 1, "4.00")], "lead 2 pays pub1 nothing now");
    let own = get(&engine, "/v1/reports/publishers", KEY).await;
    assert_eq!(rows(&own)[0]["payout"], "4.00");
    let report = get(&engine, "/v1/reports/buyers?buyer_id=b", ADMIN_KEY).await;
    let b = &rows(&report)[0];
    assert_eq!(
        (b["returned_amount"].as_str(), b["revenue"].as_str(), b["payout"].as_str(), b["margin"].as_str()),
        (Some("3.00"), Some("0.00"), Some("0.00"), Some("0.00"))
    );
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ranges_and_parameters_are_400s_that_name_their_field() {
    let fake = buyers().await;
    let engine = Engine::start(&config(&format!("{}{}", fake.buyer_toml("a", ""), admin_toml()))).await;
    for (query, code, field) in [
        ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "invalid_range", "since"),
        ("since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "invalid_range", "since"),
        ("since=2024-01-01T00:00:00Z&until=2025-06-01T00:00:00Z", "invalid_range", "until"),
        ("since=2999-01-01T00:00:00Z", "invalid_range", "since"),
        ("since=yesterday", "invalid_time", "since"),
        ("until=2026-13-01T00:00:00Z", "invalid_time", "until"),
        ("buyer_id=a%20b", "invalid_id", "buyer_id"),
        ("publisher_id=pub1", "unknown_parameter", "publisher_id"),
    ] {
        let answer = engine.call("GET", &format!("/v1/reports/buyers?{query}"), ADMIN_KEY, "").await;
        assert_eq!(
            (answer.status.as_u16(), answer.code(), answer.field()),
            (400, code.to_owned(), Some(field.to_owned())),
            "{query}"
        );
    }
    let answer = engine.call("GET", "/v1/reports/publishers?buyer_id=a", ADMIN_KEY, "").await;
    assert_eq!((answer.status.as_u16(), answer.field()), (400, Some("buyer_id".to_owned())));
    engine.stop().await.unwrap();
}
