//! The pull reads on a hand-built database: the plans walk an index in key order, cursors
//! are checked, filters select what they say, and a page that ends exactly at the end says so.
//! [`Fixture`] builds leads, auctions, sales, pings and posts for the report tests too.

use rusqlite::{Connection, params};

use super::{SALES_SQL, buyer_sql, decode_cursor, encode_cursor, first_key_sql, leads, leads_sql, sale_rows};
use crate::store::migrations;
use crate::store::pull::{LeadQuery, LeadScope};
use crate::store::{PageRequest, StoreError, UnixMs};

/// A migrated in-memory database and builders of its rows.
pub(in crate::store::sqlite) struct Fixture {
    pub conn: Connection,
}

impl Fixture {
    pub fn new() -> Fixture {
        let mut conn = Connection::open_in_memory().expect("open");
        migrations::migrate(&mut conn).expect("migrate");
        Fixture { conn }
    }

    /// A lead with its auction in `status` (`duplicate` stands for unsold with that reason);
    /// a `sold` one gets its sale to `buyer` at `price` micros, sold at `at + 1`.
    pub fn lead(&self, id: &str, publisher: &str, at: UnixMs, status: &str, buyer: Option<&str>, price: i64) {
        self.lead_in(id, publisher, "auto_insurance", false, at, status, buyer, price);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn lead_in(
        &self,
        id: &str,
        publisher: &str,
        vertical: &str,
        test: bool,
        at: UnixMs,
        status: &str,
        buyer: Option<&str>,
        price: i64,
    ) {
        let json = r#"{"vertical":"auto_insurance","attributes":{"zip":"98004"},"contact":{"email":"jane@example.com"},"source":{"sub_id":"s1"},"test":false}"#;
        self.conn
            .execute(
                "INSERT INTO leads (id, publisher_id, vertical, test, received_at, lead_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, publisher, vertical, test, at, json.as_bytes()],
            )
            .expect("lead");
        let (status, reason) = if status == "duplicate" { ("unsold", Some("duplicate")) } else { (status, None) };
        self.conn
            .execute(
                "INSERT INTO auctions (lead_id, status, reason, buyer_id, price_micros, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, status, reason, buyer, (status == "sold").then_some(price), at],
            )
            .expect("auction");
        if status == "sold"
            && let Some(buyer) = buyer
        {
            self.sale(id, buyer, price, price);
        }
    }

    /// A lead sold to every buyer of `sales` (buyer, price, payout): the auction's buyer is the
    /// first, its price the sum (as a shared lead is recorded).
    pub fn shared(&self, id: &str, publisher: &str, at: UnixMs, sales: &[(&str, i64, i64)]) {
        let total = sales.iter().map(|(_, price, _)| price).sum();
        self.lead(id, publisher, at, "sold", None, total);
        self.conn
            .execute("UPDATE auctions SET buyer_id = ?2 WHERE lead_id = ?1", params![id, sales[0].0])
            .expect("auction buyer");
        for (buyer, price, payout) in sales {
            self.sale(id, buyer, *price, *payout);
        }
    }

    /// A sale of lead `id` (already there) to `buyer`, sold a millisecond after it arrived.
    pub fn sale(&self, id: &str, buyer: &str, price: i64, payout: i64) {
        self.conn
            .execute(
                "INSERT INTO sales (lead_id, buyer_id, publisher_id, vertical, test, price_micros, payout_micros, \
                 margin_micros, sold_at) \
                 SELECT id, ?2, publisher_id, vertical, test, ?3, ?4, ?5, received_at + 1 FROM leads WHERE id = ?1",
                params![id, buyer, price, payout, price - payout],
            )
            .expect("sale");
    }

    pub fn ping(&self, lead: &str, position: i64, buyer: &str, result: &str) {
        self.conn
            .execute(
                "INSERT INTO pings (lead_id, position, buyer_id, ping_id, result) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![lead, position, buyer, format!("pg_{lead}_{position}"), result],
            )
            .expect("ping");
    }

    pub fn post(&self, lead: &str, attempt: i64, buyer: &str, result: &str) {
        self.conn
            .execute(
                "INSERT INTO post_attempts (lead_id, attempt, buyer_id, ping_id, price_micros, result) \
                 VALUES (?1, ?2, ?3, 'pg', 1, ?4)",
                params![lead, attempt, buyer, result],
            )
            .expect("post");
    }

    /// Sets a sale's disposition, as the feedback API would.
    pub fn disposition(&self, lead: &str, status: &str) {
        self.conn
            .execute("UPDATE sales SET status = ?2, status_at = 1 WHERE lead_id = ?1", params![lead, status])
            .expect("status");
    }

    /// Returns a sale with `credit` micros credited (`None`: no credit recorded).
    pub fn returned(&self, lead: &str, credit: Option<i64>) {
        self.conn
            .execute(
                "UPDATE sales SET returned_at = 2, return_reason = 'fraud', credit_micros = ?2 WHERE lead_id = ?1",
                params![lead, credit],
            )
            .expect("return");
    }

    /// Returns `buyer`'s sale of a (shared) lead, credited its price.
    pub fn returned_by(&self, lead: &str, buyer: &str) {
        let returned = self
            .conn
            .execute(
                "UPDATE sales SET returned_at = 2, return_reason = 'fraud', credit_micros = price_micros \
                 WHERE lead_id = ?1 AND buyer_id = ?2",
                params![lead, buyer],
            )
            .expect("return");
        assert_eq!(returned, 1, "{lead} was sold to {buyer}");
    }

    /// The query plan of `sql`, one detail line per step.
    pub fn plan(&self, sql: &str) -> String {
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
        let count = stmt.parameter_count();
        let nulls = vec![rusqlite::types::Null; count];
        let rows = stmt.query_map(rusqlite::params_from_iter(nulls), |row| row.get::<_, String>(3)).expect("plan");
        rows.collect::<Result<Vec<_>, _>>().expect("plan").join("\n")
    }
}

fn query(scope: LeadScope) -> LeadQuery {
    LeadQuery {
        scope,
        since: None,
        until: None,
        vertical: None,
        outcome: None,
        status: None,
        page: PageRequest { after: None, limit: 50 },
    }
}

fn ids(fixture: &Fixture, query: &LeadQuery) -> Vec<String> {
    leads(&fixture.conn, query).expect("page").data.into_iter().map(|row| row.lead_id).collect()
}

#[test]
fn every_walk_reads_its_index_in_key_order_without_sorting() {
    let fixture = Fixture::new();
    let buyer = fixture.plan(&buyer_sql());
    assert!(buyer.contains("USING INDEX sales_by_buyer (buyer_id=? AND seq>?)"), "{buyer}");
    let publisher = fixture.plan(&leads_sql(true));
    assert!(publisher.contains("USING INDEX leads_by_publisher_seq (publisher_id=? AND rowid>?)"), "{publisher}");
    let all = fixture.plan(&leads_sql(false));
    assert!(all.contains("SEARCH l USING INTEGER PRIMARY KEY (rowid>?)"), "{all}");
    for plan in [&buyer, &publisher, &all] {
        assert!(!plan.contains("TEMP B-TREE"), "a page is read in key order, never sorted:\n{plan}");
    }
    for plan in [&publisher, &all] {
        assert!(
            plan.contains("SEARCH x USING INDEX sqlite_autoindex_sales_1 (lead_id=?)"),
            "the disposition filter looks a lead's sales up by lead:\n{plan}"
        );
    }
    let sales = fixture.plan(SALES_SQL);
    assert!(sales.contains("SEARCH sales USING INDEX sqlite_autoindex_sales_1 (lead_id=?)"), "{sales}");
    let owner = |scope: &LeadScope| fixture.plan(first_key_sql(scope));
    assert!(owner(&LeadScope::Buyer("b".into())).contains("USING INDEX sales_by_time (sold_at>?)"));
    assert!(owner(&LeadScope::Publisher("p".into())).contains("USING COVERING INDEX leads_by_publisher"));
    assert!(owner(&LeadScope::All).contains("USING COVERING INDEX leads_by_time (received_at>?)"));
}

#[test]
fn cursors_of_another_walk_or_not_issued_are_refused() {
    assert_eq!(decode_cursor(&encode_cursor("lead", 42), "lead").expect("issued"), 42);
    let forged = ["", "42", "bGVhZDo", "!!!", &encode_cursor("sale", 42)];
    for cursor in forged {
        assert!(matches!(decode_cursor(cursor, "lead"), Err(StoreError::BadCursor)), "{cursor:?}");
    }
    for text in ["lead:", "lead:-1", "lead:+1", "lead: 1", "lead:99999999999999999999", "lead:1x"] {
        let cursor = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, text);
        assert!(matches!(decode_cursor(&cursor, "lead"), Err(StoreError::BadCursor)), "{text:?}");
    }
}

#[test]
fn a_walk_returns_each_lead_once_and_a_page_ending_exactly_at_the_end_has_no_next_cursor() {
    let fixture = Fixture::new();
    for n in 0..6 {
        fixture.lead(&format!("ld_{n}"), "p1", 100 + n, "sold", Some("b1"), 1_000_000);
    }
    for scope in [LeadScope::All, LeadScope::Publisher("p1".into()), LeadScope::Buyer("b1".into())] {
        let mut q = query(scope.clone());
        q.page.limit = 3;
        let first = leads(&fixture.conn, &q).expect("first");
        assert_eq!(first.data.len(), 3);
        q.page.after = Some(first.next_cursor.clone().expect("more"));
        let second = leads(&fixture.conn, &q).expect("second");
        let seen: Vec<_> = first.data.iter().chain(&second.data).map(|r| r.lead_id.clone()).collect();
        assert_eq!(seen, (0..6).map(|n| format!("ld_{n}")).collect::<Vec<_>>(), "{scope:?}");
        assert_eq!(second.next_cursor, None, "{scope:?}: six leads in two pages of three");
        // The last row's cursor, kept for later, finds only what came after.
        q.page.after = second.data.last().map(|r| r.cursor.clone());
        assert!(leads(&fixture.conn, &q).expect("after the end").data.is_empty());
    }
}

#[test]
fn filters_select_outcomes_dispositions_verticals_and_times() {
    let fixture = Fixture::new();
    fixture.lead("ld_sold", "p1", 100, "sold", Some("b1"), 1);
    fixture.lead("ld_unsold", "p1", 101, "unsold", None, 0);
    fixture.lead("ld_dup", "p1", 102, "duplicate", None, 0);
    fixture.lead("ld_doubt", "p1", 103, "in_doubt", Some("b1"), 0);
    fixture.lead("ld_run", "p2", 104, "running", None, 0);
    fixture.lead("ld_new", "p1", 105, "sold", Some("b1"), 1);
    fixture.lead("ld_ret", "p1", 106, "sold", Some("b1"), 1);
    fixture.lead_in("ld_home", "p1", "home_services", false, 107, "sold", Some("b1"), 1);
    fixture.disposition("ld_sold", "contacted");
    fixture.disposition("ld_ret", "invalid");
    fixture.returned("ld_ret", Some(1));

    let by = |outcome: Option<&str>, status: Option<&str>, scope: LeadScope| {
        let mut q = query(scope);
        q.outcome = outcome.map(str::to_owned);
        q.status = status.map(str::to_owned);
        ids(&fixture, &q)
    };
    assert_eq!(by(Some("unsold"), None, LeadScope::All), ["ld_unsold"], "duplicates are not plain unsold");
    assert_eq!(by(Some("duplicate"), None, LeadScope::All), ["ld_dup"]);
    assert_eq!(by(Some("in_doubt"), None, LeadScope::All), ["ld_doubt"]);
    assert_eq!(by(Some("running"), None, LeadScope::All), ["ld_run"]);
    assert_eq!(by(Some("running"), None, LeadScope::Publisher("p1".into())), Vec::<String>::new());
    assert_eq!(by(None, Some("contacted"), LeadScope::All), ["ld_sold"]);
    assert_eq!(by(None, Some("new"), LeadScope::All), ["ld_new", "ld_home"], "sold, no disposition, no return");
    assert_eq!(by(None, Some("new"), LeadScope::Buyer("b1".into())), ["ld_new", "ld_home"]);
    assert_eq!(by(None, Some("returned"), LeadScope::Buyer("b1".into())), ["ld_ret"]);
    assert_eq!(by(None, Some("invalid"), LeadScope::Buyer("b1".into())), ["ld_ret"], "a return keeps its disposition");

    let mut q = query(LeadScope::Buyer("b1".into()));
    q.vertical = Some("home_services".into());
    assert_eq!(ids(&fixture, &q), ["ld_home"]);
    // Buyers' times are sale times (received + 1 here); the others' are received times.
    let mut q = query(LeadScope::Buyer("b1".into()));
    (q.since, q.until) = (Some(106), Some(107));
    assert_eq!(ids(&fixture, &q), ["ld_new"]);
    let mut q = query(LeadScope::All);
    (q.since, q.until) = (Some(103), Some(105));
    assert_eq!(ids(&fixture, &q), ["ld_doubt", "ld_run"]);
    q.since = Some(1_000);
    let empty = leads(&fixture.conn, &q).expect("empty range");
    assert!(empty.data.is_empty() && empty.next_cursor.is_none());
}

/// A lead shared by two buyers: in each buyer's walk once, at its own price; once in a
/// publisher's or admin's walk, with both sales (price, payout and margin each) in the order
/// they were made.
#[test]
fn a_shared_lead_is_once_in_each_buyers_walk_and_once_with_every_sale_in_a_lead_walk() {
    let fixture = Fixture::new();
    fixture.lead("ld_1", "p1", 100, "sold", Some("b1"), 2_000_000);
    fixture.shared("ld_shared", "p1", 101, &[("b2", 5_000_000, 4_000_000), ("b1", 3_000_000, 2_400_000)]);
    fixture.lead("ld_unsold", "p1", 102, "unsold", None, 0);

    for (buyer, price) in [("b1", 3_000_000), ("b2", 5_000_000)] {
        let page = leads(&fixture.conn, &query(LeadScope::Buyer(buyer.into()))).expect("page");
        let shared: Vec<_> = page.data.iter().filter(|row| row.lead_id == "ld_shared").collect();
        assert_eq!(shared.len(), 1, "{buyer}");
        assert_eq!((shared[0].buyer_id.as_deref(), shared[0].price), (Some(buyer), Some(price)), "its own price");
        assert!(shared[0].sales.is_empty(), "a buyer's row is its sale: no other buyer's sale on it");
    }
    for scope in [LeadScope::All, LeadScope::Publisher("p1".into())] {
        let page = leads(&fixture.conn, &query(scope.clone())).expect("page");
        assert_eq!(
            page.data.iter().map(|row| row.lead_id.as_str()).collect::<Vec<_>>(),
            ["ld_1", "ld_shared", "ld_unsold"],
            "{scope:?}"
        );
        let shared = &page.data[1];
        assert_eq!((shared.buyer_id.as_deref(), shared.price), (Some("b2"), Some(8_000_000)), "first buyer, total");
        let sales: Vec<_> = shared.sales.iter().map(|s| (s.buyer_id.as_str(), s.price, s.payout, s.margin)).collect();
        assert_eq!(sales, [("b2", 5_000_000, 4_000_000, 1_000_000), ("b1", 3_000_000, 2_400_000, 600_000)]);
        assert_eq!(page.data[0].sales.len(), 1);
        assert!(page.data[2].sales.is_empty(), "an unsold lead has no sales");
    }
}

#[test]
fn a_disposition_filter_finds_a_shared_lead_by_any_of_its_sales() {
    let fixture = Fixture::new();
    fixture.shared("ld_shared", "p1", 100, &[("b1", 5_000_000, 5_000_000), ("b2", 3_000_000, 3_000_000)]);
    fixture.returned_by("ld_shared", "b2");
    let by = |status: &str, scope: LeadScope| {
        let mut q = query(scope);
        q.status = Some(status.to_owned());
        ids(&fixture, &q)
    };
    assert_eq!(by("returned", LeadScope::All), ["ld_shared"], "the second buyer's return");
    assert_eq!(by("new", LeadScope::All), ["ld_shared"], "the first buyer's sale is still new");
    assert_eq!(by("returned", LeadScope::Buyer("b2".into())), ["ld_shared"]);
    assert!(by("returned", LeadScope::Buyer("b1".into())).is_empty(), "b1's sale of it was not returned");
    assert_eq!(sale_rows(&fixture.conn, "ld_shared").expect("sales")[0].returned_at, None);
}
