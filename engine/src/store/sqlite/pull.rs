//! Reads of the pull API: keyset pages of leads as a buyer, a publisher or an admin sees them,
//! and a lead's sales with their status history.
//!
//! A buyer's walk is keyed on `sales.seq` (a shared lead is in each of its buyers' walks, once),
//! the others on the lead's rowid (once per lead, with every sale of it). Both are assigned
//! by the one writer in commit order (`INTEGER PRIMARY KEY`, rows never deleted), and a read
//! sees a prefix of the commits, so no row can later appear behind a key already handed out:
//! a page after a cursor holds exactly the matching rows past it. The cursor is
//! `base64url("<walk>:<key>")`, the walk being `sale` or `lead`; one of the other walk, or
//! anything else, is [`StoreError::BadCursor`].
//!
//! Plans (checked by the tests below): a buyer's page reads `sales_by_buyer` from its cursor;
//! a publisher's `leads_by_publisher_seq` (publisher, then rowid) from its cursor; an admin's
//! the leads table by rowid. Filters are checked on the rows the walk reads (the disposition
//! filter of a lead walk on the lead's sales, by the `UNIQUE (lead_id, buyer_id)` index), and
//! a sold lead's sales are read by that index too. The first page of a walk with `since`
//! starts at the first key in the time range, found on `leads_by_time`, `leads_by_publisher`
//! or `sales_by_time`, instead of at the start of history.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::super::pull::{LeadQuery, LeadRow, LeadScope, StatusChange, StoredSale};
use super::super::{Page, StoreError};
use super::Context;

/// Largest page: bounds one read's memory and time whatever the caller asks (the API clamps
/// to 500 already).
const MAX_PAGE: usize = 1_000;

/// The walk over a buyer's sales.
const SALE_WALK: &str = "sale";

/// The walk over leads.
const LEAD_WALK: &str = "lead";

/// Sale `alias` matches the disposition filter `?6` (when there is one): a disposition, `new`
/// (neither a disposition nor a return) or `returned`.
fn sale_matches(alias: &str) -> String {
    format!(
        "({alias}.status = ?6 OR (?6 = 'new' AND {alias}.status IS NULL AND {alias}.returned_at IS NULL) \
         OR (?6 = 'returned' AND {alias}.returned_at IS NOT NULL))"
    )
}

/// A buyer's sales after `?2`, with their leads.
fn buyer_sql() -> String {
    format!(
        "SELECT s.seq, s.lead_id, l.publisher_id, s.vertical, s.test, l.received_at, 'sold', NULL, s.buyer_id, \
         s.price_micros, s.sold_at, s.status, s.returned_at, l.lead_json \
         FROM sales s JOIN leads l ON l.id = s.lead_id \
         WHERE s.buyer_id = ?1 AND s.seq > ?2 \
         AND (?3 IS NULL OR s.sold_at >= ?3) AND (?4 IS NULL OR s.sold_at < ?4) \
         AND (?5 IS NULL OR s.vertical = ?5) AND (?6 IS NULL OR {}) \
         ORDER BY s.seq LIMIT ?8",
        sale_matches("s")
    )
}

/// Leads after rowid `?2` with their auction and the sale to the auction's (first) buyer;
/// `scope` narrows to publisher `?1`. The disposition filter matches a lead when any of its
/// sales does (a shared lead has several).
fn leads_sql(by_publisher: bool) -> String {
    let scope = if by_publisher { "l.publisher_id = ?1 AND" } else { "" };
    format!(
        "SELECT l.rowid, l.id, l.publisher_id, l.vertical, l.test, l.received_at, a.status, a.reason, a.buyer_id, \
         a.price_micros, s.sold_at, s.status, s.returned_at, l.lead_json \
         FROM leads l JOIN auctions a ON a.lead_id = l.id \
         LEFT JOIN sales s ON s.lead_id = l.id AND s.buyer_id = a.buyer_id \
         WHERE {scope} l.rowid > ?2 \
         AND (?3 IS NULL OR l.received_at >= ?3) AND (?4 IS NULL OR l.received_at < ?4) \
         AND (?5 IS NULL OR l.vertical = ?5) \
         AND (?6 IS NULL OR EXISTS (SELECT 1 FROM sales x WHERE x.lead_id = l.id AND {})) \
         AND (?7 IS NULL OR ?7 = CASE WHEN a.status = 'unsold' AND a.reason = 'duplicate' THEN 'duplicate' \
         ELSE a.status END) \
         ORDER BY l.rowid LIMIT ?8",
        sale_matches("x")
    )
}

/// The first key of a walk at or after `?2` (`since`); `?1` is the buyer or publisher.
fn first_key_sql(scope: &LeadScope) -> &'static str {
    match scope {
        LeadScope::Buyer(_) => {
            "SELECT min(seq) FROM sales INDEXED BY sales_by_time WHERE sold_at >= ?2 AND buyer_id = ?1"
        }
        LeadScope::Publisher(_) => {
            "SELECT min(rowid) FROM leads INDEXED BY leads_by_publisher WHERE publisher_id = ?1 AND received_at >= ?2"
        }
        LeadScope::All => "SELECT min(rowid) FROM leads INDEXED BY leads_by_time WHERE received_at >= ?2",
    }
}

/// A page of leads as `query.scope` sees them, read in one snapshot.
pub(super) fn leads(conn: &Connection, query: &LeadQuery) -> Result<Page<LeadRow>, StoreError> {
    let walk = match query.scope {
        LeadScope::Buyer(_) => SALE_WALK,
        LeadScope::Publisher(_) | LeadScope::All => LEAD_WALK,
    };
    let cursor = query.page.after.as_deref().map(|c| decode_cursor(c, walk)).transpose()?;
    let owner = match &query.scope {
        LeadScope::Buyer(id) | LeadScope::Publisher(id) => Some(id.as_str()),
        LeadScope::All => None,
    };
    let limit = query.page.limit.clamp(1, MAX_PAGE);
    let snapshot = conn.unchecked_transaction().context("leads")?;
    let after = match (cursor, query.since) {
        (Some(key), _) => key,
        // A first page with `since`: from just before the first key in the range.
        (None, Some(since)) => {
            let first: Option<i64> = conn
                .prepare_cached(first_key_sql(&query.scope))
                .context("leads: first key")?
                .query_row(params![owner, since], |row| row.get(0))
                .optional()
                .context("leads: first key")?
                .flatten();
            match first {
                Some(key) => key - 1,
                None => return Ok(Page { data: Vec::new(), next_cursor: None }),
            }
        }
        (None, None) => 0,
    };
    let sql = match query.scope {
        LeadScope::Buyer(_) => buyer_sql(),
        LeadScope::Publisher(_) => leads_sql(true),
        LeadScope::All => leads_sql(false),
    };
    let mut stmt = conn.prepare_cached(&sql).context("leads")?;
    let mut rows = stmt
        .query(params![
            owner,
            after,
            query.since,
            query.until,
            query.vertical,
            query.status,
            query.outcome,
            limit as i64 + 1
        ])
        .context("leads")?;
    let mut data = Vec::new();
    while let Some(row) = rows.next().context("leads")? {
        data.push(lead_row(row, walk)?);
    }
    drop(rows);
    drop(stmt);
    if walk == LEAD_WALK {
        // Only sold leads have sales (an in-doubt one's auction never finished).
        for row in data.iter_mut().filter(|row| row.status == "sold") {
            row.sales = sale_rows(conn, &row.lead_id)?;
        }
    }
    snapshot.finish().context("leads")?;
    let next_cursor = if data.len() > limit {
        data.truncate(limit);
        data.last().map(|row| row.cursor.clone())
    } else {
        None
    };
    Ok(Page { data, next_cursor })
}

fn lead_row(row: &Row<'_>, walk: &str) -> Result<LeadRow, StoreError> {
    let key: i64 = row.get(0).context("lead key")?;
    Ok(LeadRow {
        lead_id: row.get(1).context("lead id")?,
        publisher_id: row.get(2).context("publisher")?,
        vertical: row.get(3).context("vertical")?,
        test: row.get(4).context("test")?,
        received_at: row.get(5).context("received_at")?,
        status: row.get(6).context("outcome")?,
        reason: row.get(7).context("reason")?,
        buyer_id: row.get(8).context("buyer")?,
        price: row.get(9).context("price")?,
        sold_at: row.get(10).context("sold_at")?,
        sale_status: row.get(11).context("sale status")?,
        returned_at: row.get(12).context("returned_at")?,
        sales: Vec::new(),
        lead_json: row.get::<_, Vec<u8>>(13).context("lead")?.into(),
        cursor: encode_cursor(walk, key),
    })
}

fn encode_cursor(walk: &str, key: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{walk}:{key}"))
}

/// The key in a cursor of `walk`.
fn decode_cursor(cursor: &str, walk: &str) -> Result<i64, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::BadCursor)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| StoreError::BadCursor)?;
    let key = text.strip_prefix(walk).and_then(|rest| rest.strip_prefix(':')).ok_or(StoreError::BadCursor)?;
    // Digits only: `+1` or ` 1` parse as numbers but were never issued.
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::BadCursor);
    }
    key.parse().map_err(|_| StoreError::BadCursor)
}

/// A lead's sales, each with its disposition history, by sale.
pub(super) fn sales(conn: &Connection, lead_id: &str) -> Result<Vec<StoredSale>, StoreError> {
    let mut sales = sale_rows(conn, lead_id)?;
    let mut history = conn
        .prepare_cached("SELECT at, previous, status, key_id FROM sale_statuses WHERE sale_seq = ?1 ORDER BY at, rowid")
        .context("sale statuses")?;
    for sale in &mut sales {
        let rows = history
            .query_map([sale.seq], |row| {
                Ok(StatusChange { at: row.get(0)?, previous: row.get(1)?, status: row.get(2)?, key_id: row.get(3)? })
            })
            .context("sale statuses")?;
        sale.history = rows.collect::<Result<_, _>>().context("sale statuses")?;
    }
    Ok(sales)
}

/// The sales of lead `?1`, by sale (on the `UNIQUE (lead_id, buyer_id)` index).
const SALES_SQL: &str = "SELECT seq, buyer_id, price_micros, payout_micros, margin_micros, sold_at, status, status_at, \
     returned_at, return_reason, return_note, credit_micros FROM sales WHERE lead_id = ?1 ORDER BY seq";

/// A lead's sales by sale, without their histories.
fn sale_rows(conn: &Connection, lead_id: &str) -> Result<Vec<StoredSale>, StoreError> {
    let mut stmt = conn.prepare_cached(SALES_SQL).context("lead sales")?;
    let rows = stmt
        .query_map([lead_id], |row| {
            Ok(StoredSale {
                seq: row.get(0)?,
                buyer_id: row.get(1)?,
                price: row.get(2)?,
                payout: row.get(3)?,
                margin: row.get(4)?,
                sold_at: row.get(5)?,
                status: row.get(6)?,
                status_at: row.get(7)?,
                history: Vec::new(),
                returned_at: row.get(8)?,
                return_reason: row.get(9)?,
                return_note: row.get(10)?,
                credit: row.get(11)?,
            })
        })
        .context("lead sales")?;
    rows.collect::<Result<_, _>>().context("lead sales")
}

#[cfg(test)]
pub(super) mod tests;
