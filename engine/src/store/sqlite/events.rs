//! The outbox: an event is written with its per-lead sequence and its canonical envelope, and
//! fanned out to a pending delivery for every enabled subscription to its type, in the same
//! transaction as the change it reports.

use rusqlite::{Connection, params};

use super::super::{NewEvent, StoreError, UnixMs};
use super::Context;
use crate::protocol::event::Envelope;

/// One delivery per enabled subscription whose `events` list holds the type or `*`, due at
/// once (at the event's time).
const FAN_OUT: &str = "INSERT INTO deliveries \
     (event_id, subscription_id, status, attempts, next_attempt_at, created_at, updated_at) \
     SELECT ?1, s.id, 'pending', 0, ?3, ?3, ?3 FROM webhook_subscriptions s \
     WHERE s.enabled = 1 AND EXISTS (SELECT 1 FROM json_each(s.events) j WHERE j.value IN (?2, '*'))";

/// Writes `event` and its deliveries; returns the rows written (the event and each delivery)
/// and sets `wake` when there are deliveries.
///
/// A lead event gets the next `sequence` of its lead (1 for the first; the events written
/// earlier in the same transaction count), in its column and in `data.sequence`, and
/// `data.lead_id` if the caller left it out.
pub(super) fn insert(conn: &Connection, event: NewEvent, wake: &mut bool) -> Result<u64, StoreError> {
    let NewEvent { id, kind, lead_id, at, mut data } = event;
    let sequence = match &lead_id {
        Some(lead) => {
            let next: i64 = conn
                .prepare_cached("SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE lead_id = ?1")
                .context("event sequence")?
                .query_row([lead], |row| row.get(0))
                .context("event sequence")?;
            data.entry("lead_id").or_insert_with(|| lead.clone().into());
            data.insert("sequence".to_owned(), next.into());
            Some(next)
        }
        None => None,
    };
    let envelope = Envelope { id, kind, timestamp: timestamp(at)?, data };
    let body = serde_json::to_string(&envelope).context("event envelope")?;
    conn.prepare_cached(
        "INSERT INTO events (id, type, lead_id, sequence, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .context("insert event")?
    .execute(params![envelope.id, kind.as_str(), lead_id, sequence, at, body])
    .context("insert event")?;
    let deliveries = conn
        .prepare_cached(FAN_OUT)
        .context("fan out event")?
        .execute(params![envelope.id, kind.as_str(), at])
        .context("fan out event")?;
    if deliveries > 0 {
        *wake = true;
    }
    Ok(1 + deliveries as u64)
}

/// RFC 3339 in UTC with milliseconds, `2026-11-23T12:00:00.000Z`.
pub(super) fn timestamp(at: UnixMs) -> Result<String, StoreError> {
    crate::store::rfc3339(at).ok_or_else(|| StoreError::Backend(format!("event time {at} ms is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(timestamp(0).expect("epoch"), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_795_435_200_123).expect("later"), "2026-11-23T12:00:00.123Z");
        assert!(timestamp(i64::MAX).is_err(), "out of range is an error, not a panic");
    }
}
