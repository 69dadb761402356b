//! Auction options from the outside: second price, quality weights, per-vertical floors.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Behavior, Engine, FakeBuyers, LEAD, config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_price_charges_the_next_bid_plus_the_step_and_posts_that_price() {
    let fake = FakeBuyers::start(&[("high", Behavior::bid("20.00")), ("low", Behavior::bid("12.00"))]).await;
    let auction = "[auction]\npricing = \"second\"\nprice_step = \"0.05\"\n";
    let engine =
        Engine::start(&config(&format!("{auction}{}{}", fake.buyer_toml("high", ""), fake.buyer_toml("low", ""))))
            .await;
    let answer = engine.lead(LEAD).await.json();
    assert_eq!((answer["buyer_id"].as_str(), answer["price"].as_str()), (Some("high"), Some("12.05")));
    let post = fake.posts_to("high")[0].json();
    assert_eq!(post["price"], "12.05", "the buyer is posted the price it pays");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quality_weight_ranks_a_lower_bid_first_and_it_pays_its_own_bid() {
    let fake = FakeBuyers::start(&[("plain", Behavior::bid("10.00")), ("trusted", Behavior::bid("9.00"))]).await;
    let buyers = fake.buyer_toml("plain", "") + &fake.buyer_toml("trusted", "quality_weight = 1.2");
    let engine = Engine::start(&config(&buyers)).await;
    let answer = engine.lead(LEAD).await.json();
    assert_eq!((answer["buyer_id"].as_str(), answer["price"].as_str()), (Some("trusted"), Some("9.00")));
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vertical_floor_makes_lower_bids_invalid() {
    let fake = FakeBuyers::start(&[("cheap", Behavior::bid("4.00")), ("fair", Behavior::bid("6.00"))]).await;
    let auction = "[auction]\nfloor = \"1.00\"\n[auction.floors]\nauto_insurance = \"5.00\"\n";
    let buyers = fake.buyer_toml("cheap", "") + &fake.buyer_toml("fair", "");
    let engine = Engine::start(&config(&format!("{auction}{buyers}"))).await;
    let answer = engine.lead(LEAD).await.json();
    assert_eq!(answer["buyer_id"], "fair");
    // With the fair buyer declining, the cheap bid stays invalid: unsold, not sold at 4.00.
    fake.set("fair", Behavior::bid("4.50"));
    let answer = engine.lead(LEAD).await.json();
    assert_eq!(answer["outcome"], "unsold");
    assert!(fake.posts_to("cheap").is_empty());
    engine.stop().await.unwrap();
}
