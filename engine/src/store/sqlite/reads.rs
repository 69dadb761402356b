//! Reads of leads and idempotency keys, on a read-only connection.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::{
    IdempotencyKey, PingRow, SaleRow, StoreError, StoredContact, StoredIdempotency, StoredLead, StoredPost, UnixMs,
};
use super::Context;

/// The ping results the engine writes, as the static strings [`PingRow::result`] holds
/// (`fixed`: a fixed-price buyer's offer, made without a ping).
const PING_RESULTS: [&str; 6] = ["bid", "no_bid", "invalid", "timeout", "failed", "fixed"];

/// The static string equal to `value` among `known`; a value the engine never writes is an
/// error (a newer engine's row, or a hand edit), not a panic.
pub(super) fn known(value: &str, known: &[&'static str], what: &str) -> Result<&'static str, StoreError> {
    known
        .iter()
        .find(|k| **k == value)
        .copied()
        .ok_or_else(|| StoreError::Backend(format!("unknown {what} {value:?} in the store")))
}

/// Idempotency keys created at or after `since`, oldest first.
pub(super) fn idempotency_keys(conn: &Connection, since: UnixMs) -> Result<Vec<StoredIdempotency>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT publisher_id, key, fingerprint, answer, created_at FROM idempotency_keys \
             WHERE created_at >= ?1 AND answer IS NOT NULL ORDER BY created_at DESC, publisher_id, key",
        )
        .context("idempotency keys")?;
    let rows = stmt
        .query_map([since], |row| {
            Ok(StoredIdempotency {
                key: IdempotencyKey { publisher_id: row.get(0)?, key: row.get(1)?, fingerprint: row.get(2)? },
                answer: row.get::<_, Option<Vec<u8>>>(3)?.map(Into::into),
                created_at: row.get(4)?,
            })
        })
        .context("idempotency keys")?;
    rows.collect::<Result<_, _>>().context("idempotency keys")
}

/// Sales of non-test leads since `since` (one per buyer of a shared lead), and posts left in
/// doubt by a crash: the auction never finished, so none of its sales were written, and every
/// attempt recovery found still `sending` may have sold (a shared lead's cascade goes on after
/// a sale, and an exclusive one's after a post that timed out on our side but may have been
/// accepted on the buyer's). Counting each of them keeps a cap from being exceeded after a
/// restart, at the cost of a few posts counted that did not sell.
pub(super) fn sales_since(conn: &Connection, since: UnixMs) -> Result<Vec<SaleRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT buyer_id, publisher_id, price_micros, sold_at FROM sales \
             WHERE sold_at >= ?1 AND test = 0 \
             UNION ALL \
             SELECT p.buyer_id, l.publisher_id, p.price_micros, COALESCE(p.started_at, l.received_at) \
             FROM post_attempts p JOIN leads l ON l.id = p.lead_id \
             WHERE p.result = 'in_doubt' AND COALESCE(p.started_at, l.received_at) >= ?1 AND l.test = 0",
        )
        .context("sales")?;
    let rows = stmt
        .query_map([since], |row| {
            Ok(SaleRow { buyer_id: row.get(0)?, publisher_id: row.get(1)?, price: row.get(2)?, at: row.get(3)? })
        })
        .context("sales")?;
    rows.collect::<Result<_, _>>().context("sales")
}

/// Dedupe keys with a window start at or after `since`, the newest `limit`, oldest first, with their lead's
/// vertical and the buyer it was sold to (or may have reached: `in_doubt`).
pub(super) fn contacts(conn: &Connection, since: UnixMs, limit: usize) -> Result<Vec<StoredContact>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT c.key, c.seen_at, l.vertical, \
             CASE WHEN a.status IN ('sold', 'in_doubt') THEN a.buyer_id END \
             FROM lead_contacts c JOIN leads l ON l.id = c.lead_id LEFT JOIN auctions a ON a.lead_id = c.lead_id \
             WHERE c.seen_at >= ?1 ORDER BY c.seen_at DESC LIMIT ?2",
        )
        .context("lead contacts")?;
    let rows = stmt
        .query_map(params![since, i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok(StoredContact { key: row.get(0)?, seen_at: row.get(1)?, vertical: row.get(2)?, buyer_id: row.get(3)? })
        })
        .context("lead contacts")?;
    let mut rows: Vec<StoredContact> = rows.collect::<Result<_, _>>().context("lead contacts")?;
    // Read newest first so the limit keeps the newest; handed back oldest first.
    rows.reverse();
    Ok(rows)
}

/// One lead with its auction, pings, posts, sales and events, read in one snapshot.
pub(super) fn lead(conn: &Connection, lead_id: &str) -> Result<Option<StoredLead>, StoreError> {
    let snapshot = conn.unchecked_transaction().context("lead")?;
    let found = conn
        .prepare_cached(
            "SELECT l.publisher_id, l.lead_json, a.status, a.reason, a.buyer_id, a.price_micros, a.answer, \
             l.vertical, l.test, l.received_at, a.finished_at, a.ping_ms, a.post_ms, a.total_ms \
             FROM leads l JOIN auctions a ON a.lead_id = l.id WHERE l.id = ?1",
        )
        .context("lead")?
        .query_row([lead_id], |row| {
            let timings: (Option<f64>, Option<f64>, Option<f64>) = (row.get(11)?, row.get(12)?, row.get(13)?);
            Ok(StoredLead {
                lead_id: lead_id.to_owned(),
                publisher_id: row.get(0)?,
                vertical: row.get(7)?,
                test: row.get(8)?,
                received_at: row.get(9)?,
                lead_json: row.get::<_, Vec<u8>>(1)?.into(),
                status: row.get(2)?,
                reason: row.get(3)?,
                buyer_id: row.get(4)?,
                price: row.get(5)?,
                finished_at: row.get(10)?,
                timings_ms: match timings {
                    (Some(ping), Some(post), Some(total)) => Some((ping, post, total)),
                    _ => None,
                },
                answer: row.get::<_, Option<Vec<u8>>>(6)?.map(Into::into),
                pings: Vec::new(),
                posts: Vec::new(),
                sales: Vec::new(),
                events: Vec::new(),
            })
        })
        .optional()
        .context("lead")?;
    let Some(mut lead) = found else { return Ok(None) };
    lead.pings = pings(conn, lead_id)?;
    lead.posts = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT attempt, buyer_id, ping_id, price_micros, result, reason, buyer_lead_id, latency_us \
                 FROM post_attempts WHERE lead_id = ?1 ORDER BY attempt",
            )
            .context("lead posts")?;
        let rows = stmt
            .query_map([lead_id], |row| {
                Ok(StoredPost {
                    attempt: row.get(0)?,
                    buyer_id: row.get(1)?,
                    ping_id: row.get(2)?,
                    price: row.get(3)?,
                    result: row.get(4)?,
                    reason: row.get(5)?,
                    buyer_lead_id: row.get(6)?,
                    latency_us: row.get(7)?,
                })
            })
            .context("lead posts")?;
        rows.collect::<Result<_, _>>().context("lead posts")?
    };
    lead.sales = super::pull::sales(conn, lead_id)?;
    lead.events = {
        let mut stmt = conn
            .prepare_cached("SELECT id, type, sequence FROM events WHERE lead_id = ?1 ORDER BY sequence")
            .context("lead events")?;
        let rows =
            stmt.query_map([lead_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?))).context("lead events")?;
        rows.collect::<Result<_, _>>().context("lead events")?
    };
    snapshot.finish().context("lead")?;
    Ok(Some(lead))
}

fn pings(conn: &Connection, lead_id: &str) -> Result<Vec<PingRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT buyer_id, ping_id, result, price_micros, bid_id, reason, latency_us, score_micros FROM pings \
             WHERE lead_id = ?1 ORDER BY position",
        )
        .context("lead pings")?;
    let mut rows = stmt.query(params![lead_id]).context("lead pings")?;
    let mut pings = Vec::new();
    while let Some(row) = rows.next().context("lead pings")? {
        let result: String = row.get(2).context("ping result")?;
        pings.push(PingRow {
            buyer_id: row.get(0).context("ping buyer")?,
            ping_id: row.get(1).context("ping id")?,
            result: known(&result, &PING_RESULTS, "ping result")?,
            price: row.get(3).context("ping price")?,
            score: row.get(7).context("ping score")?,
            bid_id: row.get(4).context("ping bid id")?,
            reason: row.get(5).context("ping reason")?,
            latency_us: row.get(6).context("ping latency")?,
        });
    }
    Ok(pings)
}
