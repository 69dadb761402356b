//! Reads of the webhook side: due deliveries for the dispatcher, subscriptions, the delivery
//! log and the dead letters, keyset-paginated.
//!
//! Cursors are opaque to clients: a subscription page's is the last id in unpadded base64url
//! (ids are free text), a delivery page's the last delivery id in decimal. Deliveries are
//! listed newest first and their ids are never reused, so a page after a cursor holds only
//! older deliveries: new ones written between two pages never shift or repeat a row. A cursor
//! this store did not issue is [`StoreError::BadCursor`].

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{Connection, Row, params};

use super::super::{
    AttemptView, DeliveryQuery, DeliveryView, DueDelivery, Page, PageRequest, StoreError, Subscription, UnixMs,
};
use super::Context;
use super::reads::known;
use crate::protocol::event::EventType;

/// Largest page: bounds one read's memory and time whatever the caller asks (the API clamps
/// to 500 already).
const MAX_PAGE: usize = 1_000;

/// Largest batch of due deliveries one read returns.
const MAX_DUE: usize = 10_000;

/// Where a subscription came from, as the static strings [`Subscription::source`] holds.
const SOURCES: [&str; 2] = ["config", "api"];

/// The subscription columns [`subscription_at`] reads, from alias `s`.
const SUBSCRIPTION_COLUMNS: &str = "s.id, s.url, s.events, s.secrets, s.secrets_rotated_until, s.headers, \
     s.payload, s.enabled, s.disabled_reason, s.source, s.created_at";

/// The delivery columns [`delivery_at`] reads, from aliases `d` and `e` (its event).
const DELIVERY_COLUMNS: &str =
    "d.id, d.subscription_id, d.event_id, e.type, d.status, d.dead_reason, d.next_attempt_at, d.created_at";

/// Pending deliveries due by `now` to enabled subscriptions, oldest first, not in `skip`.
pub(super) fn due_deliveries(
    conn: &Connection,
    now: UnixMs,
    limit: usize,
    skip: &[i64],
) -> Result<Vec<DueDelivery>, StoreError> {
    let skip = serde_json::to_string(skip).context("skip list")?;
    let sql = format!(
        "SELECT d.id, d.attempts, e.id, e.type, e.body, {SUBSCRIPTION_COLUMNS} \
         FROM deliveries d \
         JOIN webhook_subscriptions s ON s.id = d.subscription_id \
         JOIN events e ON e.id = d.event_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND s.enabled = 1 \
         AND d.id NOT IN (SELECT value FROM json_each(?2)) \
         ORDER BY d.next_attempt_at, d.id LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql).context("due deliveries")?;
    let mut rows = stmt.query(params![now, skip, limit.min(MAX_DUE) as i64]).context("due deliveries")?;
    let mut due = Vec::new();
    while let Some(row) = rows.next().context("due deliveries")? {
        let kind: String = row.get(3).context("event type")?;
        due.push(DueDelivery {
            delivery_id: row.get(0).context("delivery id")?,
            attempts: row.get(1).context("attempts")?,
            event_id: row.get(2).context("event id")?,
            event_type: EventType::parse(&kind)
                .ok_or_else(|| StoreError::Backend(format!("unknown event type {kind:?} in the store")))?,
            envelope: row.get::<_, String>(4).context("envelope")?.into(),
            subscription: subscription_at(row, 5)?,
        });
    }
    Ok(due)
}

/// When the earliest pending delivery to an enabled subscription is due.
pub(super) fn next_due(conn: &Connection) -> Result<Option<UnixMs>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT d.next_attempt_at FROM deliveries d \
             JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.enabled = 1 \
             WHERE d.status = 'pending' ORDER BY d.next_attempt_at LIMIT 1",
        )
        .context("next due")?;
    let mut rows = stmt.query([]).context("next due")?;
    match rows.next().context("next due")? {
        Some(row) => row.get(0).context("next due"),
        None => Ok(None),
    }
}

/// Subscriptions by id.
pub(super) fn subscriptions(conn: &Connection, page: &PageRequest) -> Result<Page<Subscription>, StoreError> {
    let after = page.after.as_deref().map(decode_text_cursor).transpose()?;
    let limit = page.limit.clamp(1, MAX_PAGE);
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions s WHERE (?1 IS NULL OR s.id > ?1) \
         ORDER BY s.id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql).context("subscriptions")?;
    let mut rows = stmt.query(params![after, limit as i64 + 1]).context("subscriptions")?;
    let mut data = Vec::new();
    while let Some(row) = rows.next().context("subscriptions")? {
        data.push(subscription_at(row, 0)?);
    }
    let next_cursor = more(&mut data, limit).map(|last| URL_SAFE_NO_PAD.encode(&last.id));
    Ok(Page { data, next_cursor })
}

/// One subscription.
pub(super) fn subscription(conn: &Connection, id: &str) -> Result<Option<Subscription>, StoreError> {
    let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions s WHERE s.id = ?1");
    let mut stmt = conn.prepare_cached(&sql).context("subscription")?;
    let mut rows = stmt.query([id]).context("subscription")?;
    rows.next().context("subscription")?.map(|row| subscription_at(row, 0)).transpose()
}

/// A subscription's deliveries, newest first, filtered, with their attempts.
pub(super) fn deliveries(conn: &Connection, query: &DeliveryQuery) -> Result<Page<DeliveryView>, StoreError> {
    let before = query.page.after.as_deref().map(decode_id_cursor).transpose()?.unwrap_or(i64::MAX);
    let limit = query.page.limit.clamp(1, MAX_PAGE);
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id \
         WHERE d.subscription_id = ?1 AND d.id < ?2 \
         AND (?3 IS NULL OR d.status = ?3) AND (?4 IS NULL OR e.type = ?4) \
         AND (?5 IS NULL OR d.created_at >= ?5) AND (?6 IS NULL OR d.created_at < ?6) \
         ORDER BY d.id DESC LIMIT ?7"
    );
    let params = params![
        query.subscription_id,
        before,
        query.status,
        query.event_type,
        query.since,
        query.until,
        limit as i64 + 1
    ];
    page_of_deliveries(conn, &sql, params, limit)
}

/// Dead deliveries of every subscription, newest first, with their attempts.
pub(super) fn dead_letters(conn: &Connection, page: &PageRequest) -> Result<Page<DeliveryView>, StoreError> {
    let before = page.after.as_deref().map(decode_id_cursor).transpose()?.unwrap_or(i64::MAX);
    let limit = page.limit.clamp(1, MAX_PAGE);
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id \
         WHERE d.status = 'dead' AND d.id < ?1 ORDER BY d.id DESC LIMIT ?2"
    );
    page_of_deliveries(conn, &sql, params![before, limit as i64 + 1], limit)
}

/// Runs a delivery query that asked for `limit + 1` rows, then loads the page's attempts.
fn page_of_deliveries(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    limit: usize,
) -> Result<Page<DeliveryView>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).context("deliveries")?;
    let rows = stmt.query_map(params, delivery_at).context("deliveries")?;
    let mut data: Vec<DeliveryView> = rows.collect::<Result<_, _>>().context("deliveries")?;
    let next_cursor = more(&mut data, limit).map(|last| last.id.to_string());
    attach_attempts(conn, &mut data)?;
    Ok(Page { data, next_cursor })
}

/// Cuts `data` to `limit`; when it had more, returns the last kept item (the cursor's source).
pub(super) fn more<T>(data: &mut Vec<T>, limit: usize) -> Option<&T> {
    if data.len() > limit {
        data.truncate(limit);
        data.last()
    } else {
        None
    }
}

fn delivery_at(row: &Row<'_>) -> rusqlite::Result<DeliveryView> {
    Ok(DeliveryView {
        id: row.get(0)?,
        subscription_id: row.get(1)?,
        event_id: row.get(2)?,
        event_type: row.get(3)?,
        status: row.get(4)?,
        dead_reason: row.get(5)?,
        next_attempt_at: row.get(6)?,
        created_at: row.get(7)?,
        attempts: Vec::new(),
    })
}

/// Every attempt of the page's deliveries, oldest first, in one query.
fn attach_attempts(conn: &Connection, page: &mut [DeliveryView]) -> Result<(), StoreError> {
    if page.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = page.iter().map(|d| d.id).collect();
    let ids = serde_json::to_string(&ids).context("delivery ids")?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT delivery_id, at, status_code, latency_ms, error, next_attempt_at FROM delivery_attempts \
             WHERE delivery_id IN (SELECT value FROM json_each(?1)) ORDER BY delivery_id, rowid",
        )
        .context("delivery attempts")?;
    let rows = stmt
        .query_map([ids], |row| {
            let attempt = AttemptView {
                at: row.get(1)?,
                status_code: row.get(2)?,
                latency_ms: row.get(3)?,
                error: row.get(4)?,
                next_attempt_at: row.get(5)?,
            };
            Ok((row.get::<_, i64>(0)?, attempt))
        })
        .context("delivery attempts")?;
    let mut by_delivery: HashMap<i64, Vec<AttemptView>> = HashMap::new();
    for row in rows {
        let (id, attempt) = row.context("delivery attempts")?;
        by_delivery.entry(id).or_default().push(attempt);
    }
    for delivery in page {
        delivery.attempts = by_delivery.remove(&delivery.id).unwrap_or_default();
    }
    Ok(())
}

/// A subscription from [`SUBSCRIPTION_COLUMNS`] starting at column `at`.
fn subscription_at(row: &Row<'_>, at: usize) -> Result<Subscription, StoreError> {
    let json = |i: usize, what: &str| -> Result<String, StoreError> { row.get(at + i).context(what) };
    let source: String = row.get(at + 9).context("subscription source")?;
    let payload: Option<String> = row.get(at + 6).context("subscription payload")?;
    Ok(Subscription {
        id: row.get(at).context("subscription id")?,
        url: row.get(at + 1).context("subscription url")?,
        events: serde_json::from_str(&json(2, "subscription events")?).context("subscription events")?,
        secrets: serde_json::from_str(&json(3, "subscription secrets")?).context("subscription secrets")?,
        secrets_rotated_until: row.get(at + 4).context("subscription rotation")?,
        headers: serde_json::from_str(&json(5, "subscription headers")?).context("subscription headers")?,
        payload: payload.as_deref().map(serde_json::from_str).transpose().context("subscription payload")?,
        enabled: row.get(at + 7).context("subscription enabled")?,
        disabled_reason: row.get(at + 8).context("subscription disabled reason")?,
        source: known(&source, &SOURCES, "subscription source")?,
        created_at: row.get(at + 10).context("subscription created_at")?,
    })
}

fn decode_text_cursor(cursor: &str) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::BadCursor)?;
    String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)
}

pub(super) fn decode_id_cursor(cursor: &str) -> Result<i64, StoreError> {
    // Digits only: `+5` or ` 5` parse as numbers elsewhere but were never issued here.
    if cursor.is_empty() || !cursor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::BadCursor);
    }
    cursor.parse().map_err(|_| StoreError::BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let id = "crm/ünïcode id";
        assert_eq!(decode_text_cursor(&URL_SAFE_NO_PAD.encode(id)).expect("round trip"), id);
        assert!(matches!(decode_text_cursor("not base64!"), Err(StoreError::BadCursor)));
        assert!(matches!(decode_text_cursor(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])), Err(StoreError::BadCursor)));
        assert_eq!(decode_id_cursor("42").expect("id"), 42);
        for bad in ["", "-1", "+1", "4 2", "abc", "99999999999999999999999"] {
            assert!(matches!(decode_id_cursor(bad), Err(StoreError::BadCursor)), "{bad:?}");
        }
    }
}
