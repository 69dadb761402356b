//! The report reads on a hand-built database: what each figure counts, the range and test
//! exclusions, and plans that read indexes only.

use super::super::pull::tests::Fixture;
use super::{
    buyer_pings_sql, buyer_posts_sql, buyer_report, buyer_sales_sql, publisher_leads_sql, publisher_report,
    publisher_sales_sql,
};
use crate::store::reports::{BuyerFigures, PublisherFigures, ReportQuery};

fn range(since: i64, until: i64, only: Option<&str>) -> ReportQuery {
    ReportQuery { since, until, only: only.map(str::to_owned) }
}

/// Leads at 100..: a sold by A after B's rejection, one sold by B with a timeout of C, one
/// unsold, one duplicate, one test lead and one outside the range.
fn fixture() -> Fixture {
    let f = Fixture::new();
    f.lead("ld_1", "p1", 100, "sold", Some("A"), 5_000_000);
    f.ping("ld_1", 0, "A", "bid");
    f.ping("ld_1", 1, "B", "bid");
    f.ping("ld_1", 2, "C", "timeout");
    f.post("ld_1", 1, "A", "accepted");
    f.lead("ld_2", "p1", 101, "sold", Some("B"), 3_000_000);
    f.ping("ld_2", 0, "A", "bid");
    f.ping("ld_2", 1, "B", "bid");
    f.post("ld_2", 1, "A", "rejected");
    f.post("ld_2", 2, "B", "accepted");
    f.lead("ld_3", "p2", 102, "unsold", None, 0);
    f.ping("ld_3", 0, "A", "no_bid");
    f.ping("ld_3", 1, "C", "invalid");
    f.lead("ld_4", "p2", 103, "duplicate", None, 0);
    f.lead("ld_5", "p2", 104, "sold", Some("A"), 7_000_000);
    f.ping("ld_5", 0, "A", "bid");
    f.post("ld_5", 1, "A", "accepted");
    f.returned("ld_5", Some(2_000_000));
    f.lead_in("ld_test", "p1", "auto_insurance", true, 105, "sold", Some("A"), 9_000_000);
    f.ping("ld_test", 0, "A", "bid");
    f.lead("ld_late", "p1", 200, "sold", Some("A"), 9_000_000);
    f.ping("ld_late", 0, "A", "bid");
    f
}

#[test]
fn buyer_figures_count_pings_bids_timeouts_wins_rejections_and_returns_of_the_range() {
    let f = fixture();
    let rows = buyer_report(&f.conn, &range(100, 200, None)).expect("report");
    let a = BuyerFigures {
        buyer_id: "A".into(),
        pings: 4,
        bids: 3,
        timeouts: 0,
        fixed_offers: 0,
        wins: 2,
        total_price: 12_000_000,
        payout: 5_000_000,
        post_rejections: 1,
        returns: 1,
        returned_amount: 2_000_000,
    };
    let b = BuyerFigures {
        buyer_id: "B".into(),
        pings: 2,
        bids: 2,
        wins: 1,
        total_price: 3_000_000,
        payout: 3_000_000,
        ..BuyerFigures::default()
    };
    let c = BuyerFigures { buyer_id: "C".into(), pings: 2, timeouts: 1, ..BuyerFigures::default() };
    assert_eq!(rows, [a.clone(), b, c], "test leads and leads outside [since, until) are left out");
    // A's 7.00 sale was returned: it pays its publisher nothing, so A's payout is the 5.00 kept.
    assert_eq!(buyer_report(&f.conn, &range(100, 200, Some("A"))).expect("one"), [a]);
    assert!(buyer_report(&f.conn, &range(300, 400, None)).expect("none").is_empty());
}

#[test]
fn a_return_without_a_recorded_credit_credits_the_whole_price() {
    let f = fixture();
    f.returned("ld_2", None);
    let rows = buyer_report(&f.conn, &range(100, 200, Some("B"))).expect("report");
    assert_eq!((rows[0].returns, rows[0].returned_amount), (1, 3_000_000));
}

#[test]
fn publisher_figures_count_outcomes_and_money_of_the_range() {
    let f = fixture();
    let rows = publisher_report(&f.conn, &range(100, 200, None)).expect("report");
    let p1 = PublisherFigures {
        publisher_id: "p1".into(),
        leads: 2,
        sold: 2,
        sales: 2,
        total_price: 8_000_000,
        payout: 8_000_000,
        ..PublisherFigures::default()
    };
    let p2 = PublisherFigures {
        publisher_id: "p2".into(),
        leads: 3,
        sold: 1,
        unsold: 1,
        duplicates: 1,
        sales: 1,
        total_price: 7_000_000,
        payout: 0,
        returns: 1,
        returned_amount: 2_000_000,
    };
    assert_eq!(rows, [p1, p2.clone()]);
    assert_eq!(publisher_report(&f.conn, &range(100, 200, Some("p2"))).expect("one"), [p2]);
}

/// Margins, shared leads and fixed-price buyers: a lead shared by A (5.00, payout 4.00) and
/// the fixed-price buyer F (3.00, payout 2.40), whose sale is returned; a lead sold to A alone
/// (2.00, payout 1.60) with F's fixed offer losing; a shared test lead counted nowhere.
#[test]
fn shared_sales_and_fixed_offers_count_per_sale_and_payouts_are_net_of_returns() {
    let f = Fixture::new();
    f.shared("ld_s", "p1", 100, &[("A", 5_000_000, 4_000_000), ("F", 3_000_000, 2_400_000)]);
    f.ping("ld_s", 0, "A", "bid");
    f.ping("ld_s", 1, "F", "fixed");
    f.returned_by("ld_s", "F");
    f.lead("ld_e", "p1", 101, "sold", None, 2_000_000);
    f.sale("ld_e", "A", 2_000_000, 1_600_000);
    f.ping("ld_e", 0, "A", "bid");
    f.ping("ld_e", 1, "F", "fixed");
    f.lead_in("ld_t", "p1", "auto_insurance", true, 102, "sold", None, 0);
    f.sale("ld_t", "A", 9_000_000, 1_000_000);
    f.sale("ld_t", "F", 9_000_000, 1_000_000);
    f.ping("ld_t", 0, "F", "fixed");

    let a = BuyerFigures {
        buyer_id: "A".into(),
        pings: 2,
        bids: 2,
        wins: 2,
        total_price: 7_000_000,
        payout: 5_600_000,
        ..BuyerFigures::default()
    };
    let fixed = BuyerFigures {
        buyer_id: "F".into(),
        fixed_offers: 2,
        wins: 1,
        total_price: 3_000_000,
        payout: 0,
        returns: 1,
        returned_amount: 3_000_000,
        ..BuyerFigures::default()
    };
    assert_eq!(buyer_report(&f.conn, &range(100, 200, None)).expect("buyers"), [a, fixed], "F was never pinged");
    let p1 = PublisherFigures {
        publisher_id: "p1".into(),
        leads: 2,
        sold: 2,
        sales: 3,
        total_price: 10_000_000,
        payout: 5_600_000,
        returns: 1,
        returned_amount: 3_000_000,
        ..PublisherFigures::default()
    };
    for only in [None, Some("p1")] {
        let rows = publisher_report(&f.conn, &range(100, 200, only)).expect("publishers");
        assert_eq!(rows, std::slice::from_ref(&p1), "{only:?}");
    }
}

#[test]
fn every_report_query_reads_the_range_on_an_index_and_each_leads_rows_by_key() {
    let f = Fixture::new();
    for sql in [
        buyer_pings_sql(),
        buyer_posts_sql(),
        buyer_sales_sql(),
        publisher_leads_sql(false),
        publisher_sales_sql(false),
    ] {
        let plan = f.plan(&sql);
        assert!(plan.contains("SEARCH l USING INDEX leads_by_time (received_at>? AND received_at<?)"), "{sql}\n{plan}");
        assert!(!plan.contains("SCAN"), "no full scan:\n{plan}");
    }
    for sql in [publisher_leads_sql(true), publisher_sales_sql(true)] {
        let plan = f.plan(&sql);
        assert!(
            plan.contains("USING INDEX leads_by_publisher (publisher_id=? AND received_at>? AND received_at<?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN"), "no full scan:\n{plan}");
    }
    let joins = [
        (buyer_pings_sql(), "SEARCH p USING PRIMARY KEY (lead_id=?)"),
        (buyer_posts_sql(), "SEARCH p USING PRIMARY KEY (lead_id=?)"),
        (buyer_sales_sql(), "SEARCH s USING INDEX sqlite_autoindex_sales_1 (lead_id=?)"),
        (publisher_leads_sql(false), "SEARCH a USING INDEX sqlite_autoindex_auctions_1 (lead_id=?)"),
    ];
    for (sql, step) in joins {
        let plan = f.plan(&sql);
        assert!(plan.contains(step), "{sql}\n{plan}");
    }
}
