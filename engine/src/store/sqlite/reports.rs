//! Reads of the reports: counts and sums per buyer and per publisher over the non-test leads
//! received in a time range, each report read in one snapshot. Money is summed per sale (a
//! shared lead has one per buyer): the buyer's price, what returns credited back, and the
//! publisher's payout of the sales that were kept.
//!
//! Plans (checked by the tests below): the leads of the range come from `leads_by_time` (or
//! `leads_by_publisher` for one publisher's row); each lead's pings and post attempts from
//! their primary keys (`lead_id` first), its auction from its primary key, its sales from the
//! `UNIQUE (lead_id, buyer_id)` index. Nothing scans a whole table: `CROSS JOIN` keeps the
//! leads of the range the outer loop and `INDEXED BY` keeps them on their time index (without
//! statistics SQLite would rather scan all sales, or a whole index in `GROUP BY` order).

use std::collections::BTreeMap;

use rusqlite::{Connection, Params, Row, params};

use super::super::StoreError;
use super::super::reports::{BuyerFigures, PublisherFigures, ReportQuery};
use super::Context;

/// The leads of a report: `?1` since, `?2` until, no test leads.
const IN_RANGE: &str = "l.received_at >= ?1 AND l.received_at < ?2 AND l.test = 0";

/// The leads of the range, read on their time index: without statistics SQLite would rather
/// scan a whole index in the `GROUP BY` order than sort the groups of the range.
const LEADS_BY_TIME: &str = "leads l INDEXED BY leads_by_time";

/// What a returned sale credited back: the recorded credit, or the whole price when none was
/// recorded.
const CREDIT: &str = "CASE WHEN s.returned_at IS NOT NULL THEN coalesce(s.credit_micros, s.price_micros) ELSE 0 END";

/// What the sale `s` pays its publisher: its payout, nothing once returned.
const PAYOUT: &str = "CASE WHEN s.returned_at IS NULL THEN s.payout_micros ELSE 0 END";

/// Pings per buyer: (buyer, pings, bids, timeouts, fixed-price offers); `?3` one buyer or all.
/// A fixed-price buyer's offer is recorded as a ping row (`fixed`) but was never sent.
fn buyer_pings_sql() -> String {
    format!(
        "SELECT p.buyer_id, sum(p.result <> 'fixed'), sum(p.result = 'bid'), sum(p.result = 'timeout'), \
         sum(p.result = 'fixed') \
         FROM {LEADS_BY_TIME} CROSS JOIN pings p ON p.lead_id = l.id \
         WHERE {IN_RANGE} AND (?3 IS NULL OR p.buyer_id = ?3) GROUP BY p.buyer_id"
    )
}

/// Posts per buyer: (buyer, attempts that did not sell).
fn buyer_posts_sql() -> String {
    format!(
        "SELECT p.buyer_id, sum(p.result IN ('rejected', 'timeout', 'failed')) \
         FROM {LEADS_BY_TIME} CROSS JOIN post_attempts p ON p.lead_id = l.id \
         WHERE {IN_RANGE} AND (?3 IS NULL OR p.buyer_id = ?3) GROUP BY p.buyer_id"
    )
}

/// Sales per buyer: (buyer, sales, total price, returns, credited, payout).
fn buyer_sales_sql() -> String {
    format!(
        "SELECT s.buyer_id, count(*), sum(s.price_micros), sum(s.returned_at IS NOT NULL), sum({CREDIT}), \
         sum({PAYOUT}) \
         FROM {LEADS_BY_TIME} CROSS JOIN sales s ON s.lead_id = l.id \
         WHERE {IN_RANGE} AND (?3 IS NULL OR s.buyer_id = ?3) GROUP BY s.buyer_id"
    )
}

/// The leads of one publisher `?3` (on `leads_by_publisher`) or of all (`?3` is NULL): the
/// table and the condition.
fn publisher_scope(one: bool) -> (&'static str, &'static str) {
    if one { ("leads l", "AND l.publisher_id = ?3") } else { (LEADS_BY_TIME, "AND ?3 IS NULL") }
}

/// Outcomes per publisher: (publisher, leads, sold, unsold, duplicates).
fn publisher_leads_sql(one: bool) -> String {
    let (leads, scope) = publisher_scope(one);
    format!(
        "SELECT l.publisher_id, count(*), sum(a.status = 'sold'), \
         sum(a.status = 'unsold' AND coalesce(a.reason, '') <> 'duplicate'), \
         sum(a.status = 'unsold' AND a.reason = 'duplicate') \
         FROM {leads} CROSS JOIN auctions a ON a.lead_id = l.id \
         WHERE {IN_RANGE} {scope} GROUP BY l.publisher_id",
    )
}

/// Sales per publisher: (publisher, sales, total price, returns, credited, payout).
fn publisher_sales_sql(one: bool) -> String {
    let (leads, scope) = publisher_scope(one);
    format!(
        "SELECT l.publisher_id, count(*), sum(s.price_micros), sum(s.returned_at IS NOT NULL), sum({CREDIT}), \
         sum({PAYOUT}) \
         FROM {leads} CROSS JOIN sales s ON s.lead_id = l.id \
         WHERE {IN_RANGE} {scope} GROUP BY l.publisher_id",
    )
}

/// Per-buyer figures, by buyer id.
pub(super) fn buyer_report(conn: &Connection, query: &ReportQuery) -> Result<Vec<BuyerFigures>, StoreError> {
    let snapshot = conn.unchecked_transaction().context("buyer report")?;
    let args = params![query.since, query.until, query.only];
    let mut figures = BTreeMap::new();
    let new = |buyer_id| BuyerFigures { buyer_id, ..Default::default() };
    each_row(conn, &buyer_pings_sql(), args, |row| {
        let f = entry(&mut figures, row.get(0)?, new);
        (f.pings, f.bids, f.timeouts, f.fixed_offers) =
            (count(row, 1)?, count(row, 2)?, count(row, 3)?, count(row, 4)?);
        Ok(())
    })?;
    each_row(conn, &buyer_posts_sql(), args, |row| {
        entry(&mut figures, row.get(0)?, new).post_rejections = count(row, 1)?;
        Ok(())
    })?;
    each_row(conn, &buyer_sales_sql(), args, |row| {
        let f = entry(&mut figures, row.get(0)?, new);
        (f.wins, f.total_price, f.returns, f.returned_amount, f.payout) =
            (count(row, 1)?, row.get(2)?, count(row, 3)?, row.get(4)?, row.get(5)?);
        Ok(())
    })?;
    snapshot.finish().context("buyer report")?;
    Ok(figures.into_values().collect())
}

/// Per-publisher figures, by publisher id.
pub(super) fn publisher_report(conn: &Connection, query: &ReportQuery) -> Result<Vec<PublisherFigures>, StoreError> {
    let snapshot = conn.unchecked_transaction().context("publisher report")?;
    let one = query.only.is_some();
    let args = params![query.since, query.until, query.only];
    let mut figures = BTreeMap::new();
    let new = |publisher_id| PublisherFigures { publisher_id, ..Default::default() };
    each_row(conn, &publisher_leads_sql(one), args, |row| {
        let f = entry(&mut figures, row.get(0)?, new);
        (f.leads, f.sold, f.unsold, f.duplicates) = (count(row, 1)?, count(row, 2)?, count(row, 3)?, count(row, 4)?);
        Ok(())
    })?;
    each_row(conn, &publisher_sales_sql(one), args, |row| {
        let f = entry(&mut figures, row.get(0)?, new);
        (f.sales, f.total_price, f.returns, f.returned_amount, f.payout) =
            (count(row, 1)?, row.get(2)?, count(row, 3)?, row.get(4)?, row.get(5)?);
        Ok(())
    })?;
    snapshot.finish().context("publisher report")?;
    Ok(figures.into_values().collect())
}

/// The figures of `id`, new ones made by `new`.
fn entry<T>(figures: &mut BTreeMap<String, T>, id: String, new: fn(String) -> T) -> &mut T {
    figures.entry(id.clone()).or_insert_with(|| new(id))
}

/// Runs `sql` and hands each row to `each`.
fn each_row(
    conn: &Connection,
    sql: &str,
    args: impl Params,
    mut each: impl FnMut(&Row<'_>) -> rusqlite::Result<()>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(sql).context("report")?;
    let mut rows = stmt.query(args).context("report")?;
    while let Some(row) = rows.next().context("report")? {
        each(row).context("report")?;
    }
    Ok(())
}

/// A count (never negative) at column `index`.
fn count(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let n: i64 = row.get(index)?;
    u64::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(index, n))
}

#[cfg(test)]
mod tests;
