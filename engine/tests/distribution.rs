//! How a lead is distributed among buyers (issue 8): shared and mixed leads, margins and
//! payouts, priority tiers, fixed-price buyers, weighted round robin among equal offers, test
//! leads. Real sockets: the engine on 127.0.0.1:0 and fake buyers on another port.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Behavior, Engine, FakeBuyers, PingReply, PostReply, config, lead_numbered};
use serde_json::Value;

/// A config whose publisher `pub1` has `terms` (TOML keys of its `[[publishers]]` table).
fn with_terms(extra: &str, terms: &str) -> String {
    // `config` ends with pub1's table: the terms land in it.
    format!("{}{terms}\n", config(extra))
}

/// A fixed-price buyer of the fake buyers (no ping URL: it is never pinged).
fn fixed_buyer(fake: &FakeBuyers, id: &str, price: &str, extra: &str) -> String {
    format!(
        "[[buyers]]\nid = \"{id}\"\npost_url = \"http://{}/{id}/post\"\nverticals = [\"auto_insurance\"]\nfixed_price = \"{price}\"\n{extra}\n",
        fake.addr
    )
}

fn buyers_posted(fake: &FakeBuyers) -> Vec<String> {
    fake.posts().iter().map(|p| p.buyer.clone()).collect()
}

fn sold_to(answer: &Value) -> Vec<String> {
    answer["sales"]
        .as_array()
        .map_or_else(Vec::new, |s| s.iter().map(|s| s["buyer_id"].as_str().unwrap().to_owned()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_lead_reaches_exactly_n_distinct_buyers_at_their_own_bids() {
    let fake = FakeBuyers::start(&[
        ("s1", Behavior::bid("\"5.00\"")),
        ("s2", Behavior::bid("\"4.00\"").post(PostReply::Reject)),
        ("s3", Behavior::bid("\"3.00\"")),
        ("s4", Behavior::bid("\"2.00\"")),
        ("excl", Behavior::bid("\"50.00\"")),
    ])
    .await;
    let shared = "lead_types = [\"shared\"]";
    let buyers: String = ["s1", "s2", "s3", "s4"].iter().map(|id| fake.buyer_toml(id, shared)).collect::<String>()
        + &fake.buyer_toml("excl", "");
    let terms = "sharing = { \"*\" = { mode = \"shared\", max_buyers = 2 } }";
    let engine = Engine::start(&with_terms(&buyers, terms)).await;

    let answer = engine.lead(&lead_numbered(1)).await.json();
    assert_eq!(answer["outcome"], "sold");
    assert_eq!(sold_to(&answer), ["s1", "s3"], "two sales, down the ranking past the rejection");
    assert_eq!(buyers_posted(&fake), ["s1", "s2", "s3"], "one at a time, in rank order, none after the second sale");
    let prices: Vec<String> = fake.posts().iter().map(|p| p.json()["price"].as_str().unwrap().to_owned()).collect();
    assert_eq!(prices, ["5.00", "4.00", "3.00"], "each at its own bid");
    assert_eq!(answer["price"], "8.00", "the publisher is paid for both sales");
    assert!(fake.pings_to("excl").is_empty(), "a buyer of exclusive leads only is not offered a shared one");
    let distinct: BTreeSet<String> = sold_to(&answer).into_iter().collect();
    assert_eq!(distinct.len(), 2, "never twice to the same buyer");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_mode_sells_exclusive_or_shared_whichever_earns_more() {
    let fake = FakeBuyers::start(&[
        ("excl", Behavior::bid("\"9.00\"")),
        ("s1", Behavior::bid("\"5.00\"")),
        ("s2", Behavior::bid("\"3.00\"")),
    ])
    .await;
    let buyers = fake.buyer_toml("excl", "")
        + &fake.buyer_toml("s1", "lead_types = [\"shared\"]")
        + &fake.buyer_toml("s2", "lead_types = [\"shared\"]");
    let terms = "sharing = { auto_insurance = { mode = \"mixed\", max_buyers = 2 } }";
    let engine = Engine::start(&with_terms(&buyers, terms)).await;

    // 9.00 exclusive against 5.00 + 3.00 shared: exclusive.
    let first = engine.lead(&lead_numbered(1)).await.json();
    assert_eq!(sold_to(&first), ["excl"]);
    assert_eq!(first["price"], "9.00");
    // 7.00 exclusive against 8.00 shared: shared, to both.
    fake.set("excl", Behavior::bid("\"7.00\""));
    let second = engine.lead(&lead_numbered(2)).await.json();
    assert_eq!(sold_to(&second), ["s1", "s2"]);
    assert_eq!(second["price"], "8.00");
    assert_eq!(fake.posts_to("excl").len(), 1, "the exclusive bidder lost the second lead without a post");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn margins_add_up_buyer_price_is_payout_plus_margin_to_the_micro_unit() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"12.345677\""))]).await;
    let engine = Engine::start(&with_terms(&fake.buyer_toml("acme", ""), "payout = { revenue_share = 72.5 }")).await;
    let answer = engine.lead(&lead_numbered(1)).await.json();
    // 72.5% of 12.345677 is 8.950615825: the publisher is paid 8.950615, the broker keeps 3.395062.
    assert_eq!(answer["price"], "8.950615");
    assert_eq!(fake.posts()[0].json()["price"], "12.345677", "the buyer is posted its own price");
    // The sale is stored before the answer (strict durability): read it from the store.
    let conn = rusqlite::Connection::open(engine.dir.path().join("engine.db")).unwrap();
    let (price, payout, margin): (i64, i64, i64) = conn
        .query_row("SELECT price_micros, payout_micros, margin_micros FROM sales", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((price, payout, margin), (12_345_677, 8_950_615, 3_395_062));
    assert_eq!(price, payout + margin);
    drop(conn);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_margin_is_kept_from_each_sale() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let engine = Engine::start(&with_terms(&fake.buyer_toml("acme", ""), "payout = { margin = \"2.50\" }")).await;
    assert_eq!(engine.lead(&lead_numbered(1)).await.json()["price"], "7.50");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_two_is_pinged_only_when_tier_one_does_not_sell() {
    let fake = FakeBuyers::start(&[("first", Behavior::bid("\"5.00\"")), ("second", Behavior::bid("\"50.00\""))]).await;
    let buyers = fake.buyer_toml("first", "") + &fake.buyer_toml("second", "tier = 2");
    let engine = Engine::start(&config(&buyers)).await;

    let sold = engine.lead(&lead_numbered(1)).await.json();
    assert_eq!(sold["buyer_id"], "first", "tier 1 first, though tier 2 would pay more");
    assert!(fake.pings_to("second").is_empty(), "tier 2 never heard of a lead tier 1 bought");

    fake.set("first", Behavior::bid("\"5.00\"").post(PostReply::Reject));
    let rejected = engine.lead(&lead_numbered(2)).await.json();
    assert_eq!(rejected["buyer_id"], "second", "unsold in tier 1: tier 2's auction");
    assert_eq!(fake.pings_to("second").len(), 1);

    fake.set("first", Behavior::ping(PingReply::NoBid));
    let no_bid = engine.lead(&lead_numbered(3)).await.json();
    assert_eq!(no_bid["buyer_id"], "second");
    let pings_first: Vec<_> = fake.pings_to("first").iter().map(|p| p.at).collect();
    let pings_second: Vec<_> = fake.pings_to("second").iter().map(|p| p.at).collect();
    assert!(pings_first[2] < pings_second[1], "tier 2 pinged after tier 1's auction");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_price_buyer_is_never_pinged_and_wins_over_lower_bids() {
    let fake = FakeBuyers::start(&[("fixed", Behavior::bid("\"0.01\"")), ("bidder", Behavior::bid("\"6.00\""))]).await;
    let buyers = fixed_buyer(&fake, "fixed", "8.00", "") + &fake.buyer_toml("bidder", "");
    let engine = Engine::start(&config(&buyers)).await;

    let first = engine.lead(&lead_numbered(1)).await.json();
    assert_eq!(first["buyer_id"], "fixed");
    assert_eq!(first["price"], "8.00", "ranked and paid at its fixed price");
    let post = fake.posts_to("fixed")[0].json();
    assert_eq!(post["price"], "8.00");
    assert_eq!(post["contact"]["email"], "jane1@example.com", "it takes the post with the lead");

    fake.set("bidder", Behavior::bid("\"9.00\""));
    assert_eq!(engine.lead(&lead_numbered(2)).await.json()["buyer_id"], "bidder", "a higher bid beats it");
    assert!(fake.pings_to("fixed").is_empty(), "a fixed-price buyer is never pinged");
    assert_eq!(fake.pings_to("bidder").len(), 2);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_offers_take_turns_by_weight() {
    let fake = FakeBuyers::start(&[("heavy", Behavior::bid("\"1.00\"")), ("light", Behavior::bid("\"1.00\""))]).await;
    let buyers =
        fixed_buyer(&fake, "heavy", "5.00", "round_robin_weight = 3") + &fixed_buyer(&fake, "light", "5.00", "");
    let engine = Engine::start(&config(&buyers)).await;
    let mut order = String::new();
    for n in 0..8 {
        let answer = engine.lead(&lead_numbered(n)).await.json();
        order.push(if answer["buyer_id"] == "heavy" { 'h' } else { 'l' });
    }
    assert_eq!(order, "hlhhhlhh", "three turns to one, interleaved");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_leads_reach_only_test_mode_buyers_and_never_touch_caps() {
    let fake = FakeBuyers::start(&[("live", Behavior::bid("\"5.00\"")), ("sandbox", Behavior::bid("\"5.00\""))]).await;
    let buyers = fake.buyer_toml("live", "caps = { daily = 1 }")
        + &fake.buyer_toml("sandbox", "test_mode = true\ncaps = { daily = 1 }");
    let engine = Engine::start(&config(&buyers)).await;
    let test_lead = |n| lead_numbered(n).replace("\"test\": false", "\"test\": true");

    for n in 0..3 {
        let answer = engine.lead(&test_lead(n)).await.json();
        assert_eq!(answer["buyer_id"], "sandbox", "test lead {n}: a daily cap of 1 is not touched by test leads");
        assert_eq!(answer["test"], true, "marked test in the answer");
        assert_eq!(fake.pings_to("sandbox").last().unwrap().json()["test"], true, "and in the ping");
    }
    assert!(fake.pings_to("live").is_empty(), "a test lead reaches only buyers in test mode");

    let real = engine.lead(&lead_numbered(10)).await.json();
    assert_eq!(real["buyer_id"], "live", "a real lead only buyers out of test mode");
    assert!(real.get("test").is_none());
    assert_eq!(fake.pings_to("sandbox").len(), 3);
    assert_eq!(
        engine.lead(&lead_numbered(11)).await.json()["outcome"],
        "unsold",
        "live's cap of 1 counted the real lead"
    );
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publishers_new_terms_apply_from_the_next_lead() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"10.00\""))]).await;
    let engine = Engine::start(&config(&(fake.buyer_toml("acme", "") + &common::admin_toml()))).await;
    assert_eq!(engine.lead(&lead_numbered(1)).await.json()["price"], "10.00", "no margin configured: all of it");
    let patch = r#"{"payout": {"revenue_share": 60}}"#;
    let changed = engine.call("PATCH", "/v1/publishers/pub1", common::ADMIN_KEY, patch).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(engine.lead(&lead_numbered(2)).await.json()["price"], "6.00");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_and_dedupe_count_each_sale_of_a_shared_lead() {
    let fake = FakeBuyers::start(&[
        ("s1", Behavior::bid("\"5.00\"")),
        ("s2", Behavior::bid("\"4.00\"")),
        ("s3", Behavior::bid("\"3.00\"")),
    ])
    .await;
    let shared = "lead_types = [\"shared\"]";
    let buyers = fake.buyer_toml("s1", &format!("{shared}\ncaps = {{ daily = 1 }}"))
        + &fake.buyer_toml("s2", shared)
        + &fake.buyer_toml("s3", shared);
    let dedupe = "[dedupe]\nmode = \"exclude_buyers\"\n";
    let terms = "sharing = { \"*\" = { mode = \"shared\", max_buyers = 2 } }";
    let engine = Engine::start(&with_terms(&format!("{dedupe}{buyers}"), terms)).await;

    // Person `n`: their own email and phone (dedupe matches either).
    let person = |n: usize| lead_numbered(n).replace("+12065550100", &format!("+120655501{n:02}"));
    assert_eq!(sold_to(&engine.lead(&person(1)).await.json()), ["s1", "s2"]);
    // Another person: s1's daily cap of 1 is spent by its share of the first lead.
    assert_eq!(sold_to(&engine.lead(&person(2)).await.json()), ["s2", "s3"]);
    // The first person again: s1 and s2 bought them; only s3 may.
    assert_eq!(sold_to(&engine.lead(&person(1)).await.json()), ["s3"]);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_price_buyer_pays_its_fixed_price_under_second_price_too() {
    let fake = FakeBuyers::start(&[("fixed", Behavior::bid("\"0.01\"")), ("bidder", Behavior::bid("\"12.00\""))]).await;
    let buyers = fixed_buyer(&fake, "fixed", "15.00", "") + &fake.buyer_toml("bidder", "");
    let engine = Engine::start(&config(&format!("[auction]\npricing = \"second\"\n{buyers}"))).await;
    assert_eq!(engine.lead(&lead_numbered(1)).await.json()["price"], "15.00");
    assert_eq!(fake.posts_to("fixed")[0].json()["price"], "15.00", "not the next bid plus a step");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_price_buyers_circuit_closes_again_on_a_good_post() {
    let fake = FakeBuyers::start(&[
        ("fixed", Behavior::bid("\"0.01\"").post(PostReply::Raw(503, "{}"))),
        ("bidder", Behavior::bid("\"1.00\"")),
    ])
    .await;
    let breaker = "breaker = { failures = 2, rate = 0, cooloff_ms = 200 }";
    let buyers = fixed_buyer(&fake, "fixed", "5.00", breaker) + &fake.buyer_toml("bidder", "");
    let engine = Engine::start(&config(&buyers)).await;
    for n in 0..2 {
        assert_eq!(engine.lead(&lead_numbered(n)).await.json()["buyer_id"], "bidder", "posts to fixed fail");
    }
    assert_eq!(fake.posts_to("fixed").len(), 2);
    assert_eq!(engine.lead(&lead_numbered(2)).await.json()["buyer_id"], "bidder");
    assert_eq!(fake.posts_to("fixed").len(), 2, "its circuit is open: not offered");
    fake.set("fixed", Behavior::bid("\"0.01\""));
    // The cool-off is the breaker's own clock: nothing signals its end.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(engine.lead(&lead_numbered(3)).await.json()["buyer_id"], "fixed", "the probe: its post");
    assert_eq!(engine.lead(&lead_numbered(4)).await.json()["buyer_id"], "fixed", "closed again by the probe's post");
    engine.stop().await.unwrap();
}
