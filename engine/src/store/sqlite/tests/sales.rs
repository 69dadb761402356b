//! Sales as the auction writes them: one row per buyer of a lead (several for a shared lead),
//! each with price = payout + margin to the micro-unit, and what caps are rebuilt from at
//! start: every sale of a non-test lead, and every post a crash left in doubt.

use super::*;
use crate::store::{NewSale, SaleRow};

/// The auction of `lead_id` finished `sold` to every buyer of `sales`.
fn finished(lead_id: &str, sales: Vec<NewSale>, at: UnixMs) -> Write {
    finished_as(lead_id, "sold", sales, at)
}

fn finished_as(lead_id: &str, outcome: &'static str, sales: Vec<NewSale>, at: UnixMs) -> Write {
    Write::AuctionFinished(Box::new(AuctionFinished {
        lead_id: lead_id.to_owned(),
        outcome,
        buyer_id: sales.first().map(|s| s.buyer_id.clone()),
        price: (!sales.is_empty()).then(|| sales.iter().map(|s| s.price).sum()),
        sales,
        finished_at: at,
        ping_ms: 1.0,
        post_ms: 1.0,
        total_ms: 2.0,
        pings: Vec::new(),
        posts: Vec::new(),
        events: vec![event(EventType::LeadSold, Some(lead_id), at)],
        answer: answer(lead_id, "sold"),
    }))
}

fn sale(buyer: &str, price: i64, payout: i64, margin: i64) -> NewSale {
    NewSale { buyer_id: buyer.to_owned(), price, payout, margin }
}

fn test_lead(lead_id: &str, at: UnixMs) -> Write {
    let Write::LeadReceived(mut lead) = lead_received(lead_id, None, at) else { panic!("lead_received builds a lead") };
    lead.test = true;
    Write::LeadReceived(lead)
}

#[tokio::test]
async fn a_shared_lead_s_sales_land_one_per_buyer_with_price_equal_to_payout_plus_margin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    // 80% revenue share: 12.50 -> 10.00 + 2.50; 3.333333 -> 2.666666 + 0.666667 (payout rounded down).
    let sales = vec![sale("acme", 12_500_000, 10_000_000, 2_500_000), sale("zeta", 3_333_333, 2_666_666, 666_667)];
    commit(&store, vec![lead_received("ld_1", None, T0), finished("ld_1", sales, T0 + 5)]).await;

    let lead = store.lead("ld_1").await.expect("read").expect("lead");
    assert_eq!((lead.buyer_id.as_deref(), lead.price), (Some("acme"), Some(15_833_333)), "first buyer, total price");
    let stored: Vec<_> =
        lead.sales.iter().map(|s| (s.buyer_id.as_str(), s.price, s.payout, s.margin, s.sold_at)).collect();
    assert_eq!(
        stored,
        [("acme", 12_500_000, 10_000_000, 2_500_000, T0 + 5), ("zeta", 3_333_333, 2_666_666, 666_667, T0 + 5)],
        "in the order they were made"
    );
    assert!(lead.sales.iter().all(|s| s.price == s.payout + s.margin));
    for buyer in ["acme", "zeta"] {
        let own = store.sale("ld_1", buyer).await.expect("read").expect("each buyer has its sale");
        assert_eq!((own.publisher_id.as_str(), own.test), ("pub1", false));
    }
    assert_eq!(store.sale("ld_1", "other").await.expect("read"), None);
}

#[tokio::test]
async fn a_sale_that_does_not_add_up_or_an_outcome_that_does_not_match_the_sales_is_refused_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    commit(&store, vec![lead_received("ld_1", None, T0)]).await;
    let bad = finished("ld_1", vec![sale("acme", 5_000_000, 4_000_000, 0)], T0 + 5);
    let err = store.write(vec![bad]).expect("queued").await.expect_err("payout + margin != price");
    assert!(err.to_string().contains("insert sale"), "{err}");
    let unsold = finished_as("ld_1", "unsold", vec![sale("acme", 5_000_000, 5_000_000, 0)], T0 + 5);
    let err = store.write(vec![unsold]).expect("queued").await.expect_err("unsold with sales");
    assert!(err.to_string().contains("unsold with 1 sales"), "{err}");
    let err = store.write(vec![finished("ld_1", Vec::new(), T0 + 5)]).expect("queued").await.expect_err("no sale");
    assert!(err.to_string().contains("sold with 0 sales"), "{err}");
    let lead = store.lead("ld_1").await.expect("read").expect("lead");
    assert_eq!((lead.status.as_str(), lead.sales.len()), ("running", 0), "nothing of any of them was written");
}

/// Caps are rebuilt from these at start: a shared lead counts once for each of its buyers, a
/// test lead never, a sale before `since` not, and every post a crash left in doubt does (any of
/// them may have sold: a shared lead goes on posting after a sale).
#[tokio::test]
async fn caps_are_rebuilt_from_every_sale_of_a_real_lead_and_every_post_left_in_doubt() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        commit(&store, vec![lead_received("ld_old", None, T0), finished("ld_old", vec![sale("acme", 1, 1, 0)], T0)])
            .await;
        let shared = vec![sale("acme", 5_000_000, 4_000_000, 1_000_000), sale("zeta", 3_000_000, 2_400_000, 600_000)];
        commit(&store, vec![lead_received("ld_shared", None, T0 + 10), finished("ld_shared", shared, T0 + 11)]).await;
        let test = vec![sale("acme", 9_000_000, 9_000_000, 0), sale("zeta", 9_000_000, 9_000_000, 0)];
        commit(&store, vec![test_lead("ld_test", T0 + 20), finished("ld_test", test, T0 + 21)]).await;
        commit(&store, vec![lead_received("ld_crash", None, T0 + 30)]).await;
        commit(
            &store,
            vec![post_started("ld_crash", 1, "acme", T0 + 31), post_started("ld_crash", 2, "zeta", T0 + 32)],
        )
        .await;
        commit(&store, vec![test_lead("ld_test_crash", T0 + 40), post_started("ld_test_crash", 1, "acme", T0 + 41)])
            .await;
        // The process dies with two auctions running.
    }
    let store = open(&dir);
    store.recover(T0 + 60_000).await.expect("recover");
    let mut rows = store.sales_since(T0 + 1).await.expect("sales");
    rows.sort_by_key(|r| (r.at, r.buyer_id.clone()));
    let row = |buyer: &str, price: i64, at: UnixMs| SaleRow {
        buyer_id: buyer.to_owned(),
        publisher_id: "pub1".to_owned(),
        price,
        at,
    };
    assert_eq!(
        rows,
        [
            row("acme", 5_000_000, T0 + 11),
            row("zeta", 3_000_000, T0 + 11),
            row("acme", 12_500_000, T0 + 31),
            row("zeta", 12_500_000, T0 + 32)
        ]
    );
}
