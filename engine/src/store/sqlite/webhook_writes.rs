//! Writes of the webhook side: subscriptions, delivery attempts and what follows from them
//! (retry, delivered, dead, a subscription disabled), replays.
//!
//! Deleting a subscription deletes its deliveries and their attempts with it (the foreign
//! keys cascade): the delivery log is read per subscription, so that history could no longer
//! be shown, and a subscription created again under the same id starts clean. The price: the
//! deletion runs in the writer, in time proportional to that history, and other commits wait
//! for it; until deliveries have a retention sweep, deleting a subscription with millions of
//! deliveries is a maintenance-window operation.

use rusqlite::{Connection, params};

use super::super::{DeliveryAttempted, NextStep, StoreError, Subscription, UnixMs};
use super::Context;

/// Records the attempt and moves the delivery on; with `disable_subscription`, disables the
/// subscription and sends its other pending deliveries to the dead letters with that reason.
/// A delivery that no longer exists (its subscription was deleted while it was in flight)
/// changes nothing and is not an error.
///
/// Only a pending delivery moves: one made dead while the attempt was in flight (a 410 on
/// another delivery, or its subscription disabled) stays dead, and the attempt is only added
/// to its history (it was sent), without a next attempt and without disabling anything. A
/// delivery replayed while in flight is pending, so the attempt's result applies to it: it is
/// delivered if the attempt succeeded (the receiver has the event), else it follows the
/// attempt's retry schedule or goes (back) to the dead letters: the attempt in flight counts
/// as the replay's try, as if the replay had come just before it.
pub(super) fn delivery_attempted(conn: &Connection, a: DeliveryAttempted, wake: &mut bool) -> Result<u64, StoreError> {
    let (status, next_at, dead_reason) = match &a.next {
        NextStep::Delivered => ("delivered", None, None),
        NextStep::Retry { at } => ("pending", Some(*at), None),
        NextStep::Dead { reason } => ("dead", None, Some(reason.as_str())),
    };
    let updated = conn
        .prepare_cached(
            "UPDATE deliveries SET status = ?2, attempts = attempts + 1, next_attempt_at = ?3, \
             dead_reason = ?4, updated_at = ?5 WHERE id = ?1 AND status = 'pending'",
        )
        .context("update delivery")?
        .execute(params![a.delivery_id, status, next_at, dead_reason, a.attempt.at])
        .context("update delivery")?;
    // The attempt joins the delivery's history whenever the delivery still exists (a gone one
    // records nothing); one no longer pending gets it without a next attempt.
    let next_attempt_at = if updated > 0 { a.attempt.next_attempt_at } else { None };
    let recorded = conn
        .prepare_cached(
            "INSERT INTO delivery_attempts (delivery_id, at, status_code, latency_ms, error, next_attempt_at) \
             SELECT id, ?2, ?3, ?4, ?5, ?6 FROM deliveries WHERE id = ?1",
        )
        .context("insert delivery attempt")?
        .execute(params![
            a.delivery_id,
            a.attempt.at,
            a.attempt.status_code,
            a.attempt.latency_ms,
            a.attempt.error,
            next_attempt_at
        ])
        .context("insert delivery attempt")?;
    if updated == 0 {
        // Gone or no longer pending: history only.
        return Ok(recorded as u64);
    }
    let mut rows = updated + recorded;
    if let Some(reason) = &a.disable_subscription {
        rows += conn
            .prepare_cached(
                "UPDATE webhook_subscriptions SET enabled = 0, disabled_reason = ?2, updated_at = ?3 \
                 WHERE id = (SELECT subscription_id FROM deliveries WHERE id = ?1)",
            )
            .context("disable subscription")?
            .execute(params![a.delivery_id, reason, a.attempt.at])
            .context("disable subscription")?;
        rows += conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'dead', dead_reason = ?2, next_attempt_at = NULL, updated_at = ?3 \
                 WHERE subscription_id = (SELECT subscription_id FROM deliveries WHERE id = ?1) \
                 AND status = 'pending'",
            )
            .context("kill pending deliveries")?
            .execute(params![a.delivery_id, reason, a.attempt.at])
            .context("kill pending deliveries")?;
    }
    if matches!(a.next, NextStep::Retry { .. }) {
        // Usually later than the dispatcher's next wake-up, but not always (a short first
        // retry while it sleeps towards a long one): a spurious wake-up costs one query.
        *wake = true;
    }
    Ok(rows as u64)
}

/// `dead_reason` of the pending deliveries of a subscription written disabled.
pub(super) const SUBSCRIPTION_DISABLED: &str = "subscription disabled";

/// Creates or replaces a subscription; a replaced one keeps its `created_at` and deliveries.
/// Written disabled, its pending deliveries go to the dead letters ([`SUBSCRIPTION_DISABLED`]).
pub(super) fn put_subscription(conn: &Connection, s: &Subscription, wake: &mut bool) -> Result<u64, StoreError> {
    let events = serde_json::to_string(&s.events).context("subscription events")?;
    let secrets = serde_json::to_string(&s.secrets).context("subscription secrets")?;
    let headers = serde_json::to_string(&s.headers).context("subscription headers")?;
    let payload = s.payload.as_ref().map(serde_json::to_string).transpose().context("subscription payload")?;
    let now = chrono::Utc::now().timestamp_millis();
    let rows = conn
        .prepare_cached(
            "INSERT INTO webhook_subscriptions (id, url, events, secrets, secrets_rotated_until, headers, payload, \
             enabled, disabled_reason, source, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, \
             secrets = excluded.secrets, secrets_rotated_until = excluded.secrets_rotated_until, \
             headers = excluded.headers, payload = excluded.payload, enabled = excluded.enabled, \
             disabled_reason = excluded.disabled_reason, source = excluded.source, updated_at = excluded.updated_at",
        )
        .context("upsert subscription")?
        .execute(params![
            s.id,
            s.url,
            events,
            secrets,
            s.secrets_rotated_until,
            headers,
            payload,
            s.enabled,
            s.disabled_reason,
            s.source,
            s.created_at,
            now
        ])
        .context("upsert subscription")?;
    if s.enabled {
        // Enabling a subscription makes its pending deliveries (replays made while it was
        // disabled) due again.
        *wake = true;
        return Ok(rows as u64);
    }
    // A disabled subscription keeps no pending deliveries (as after a 410): they would never
    // be sent, and every due query would step over them.
    let killed = conn
        .prepare_cached(
            "UPDATE deliveries SET status = 'dead', dead_reason = ?2, next_attempt_at = NULL, updated_at = ?3 \
             WHERE subscription_id = ?1 AND status = 'pending'",
        )
        .context("kill pending deliveries")?
        .execute(params![s.id, SUBSCRIPTION_DISABLED, now])
        .context("kill pending deliveries")?;
    Ok((rows + killed) as u64)
}

/// Deletes a subscription with its deliveries and their attempts.
pub(super) fn delete_subscription(conn: &Connection, id: &str) -> Result<u64, StoreError> {
    let rows = conn
        .prepare_cached("DELETE FROM webhook_subscriptions WHERE id = ?1")
        .context("delete subscription")?
        .execute([id])
        .context("delete subscription")?;
    Ok(rows as u64)
}

/// Makes one delivery pending, due at `now`. Its attempts (count and history) are kept: the
/// dispatcher sees a replayed dead delivery as one past its schedule, so a replay is one more
/// try, and its failure sends the delivery back to the dead letters.
pub(super) fn replay_delivery(conn: &Connection, id: i64, now: UnixMs, wake: &mut bool) -> Result<u64, StoreError> {
    let rows = conn
        .prepare_cached(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2, dead_reason = NULL, updated_at = ?2 \
             WHERE id = ?1",
        )
        .context("replay delivery")?
        .execute(params![id, now])
        .context("replay delivery")?;
    if rows > 0 {
        *wake = true;
    }
    Ok(rows as u64)
}

/// Re-queues the subscription's deliveries of events in `[since, until)` and creates the ones
/// it never had for events of its types in that range (events from before it existed, or
/// while it was disabled).
pub(super) fn replay_range(
    conn: &Connection,
    subscription_id: &str,
    since: UnixMs,
    until: UnixMs,
    now: UnixMs,
    wake: &mut bool,
) -> Result<u64, StoreError> {
    let requeued = conn
        .prepare_cached(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?4, dead_reason = NULL, updated_at = ?4 \
             WHERE subscription_id = ?1 AND event_id IN \
             (SELECT id FROM events WHERE created_at >= ?2 AND created_at < ?3)",
        )
        .context("replay range")?
        .execute(params![subscription_id, since, until, now])
        .context("replay range")?;
    let created = conn
        .prepare_cached(
            "INSERT INTO deliveries \
             (event_id, subscription_id, status, attempts, next_attempt_at, created_at, updated_at) \
             SELECT e.id, s.id, 'pending', 0, ?4, ?4, ?4 FROM events e JOIN webhook_subscriptions s ON s.id = ?1 \
             WHERE e.created_at >= ?2 AND e.created_at < ?3 \
             AND EXISTS (SELECT 1 FROM json_each(s.events) j WHERE j.value IN (e.type, '*')) \
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.subscription_id = s.id) \
             ORDER BY e.seq",
        )
        .context("replay range: missing deliveries")?
        .execute(params![subscription_id, since, until, now])
        .context("replay range: missing deliveries")?;
    let rows = (requeued + created) as u64;
    if rows > 0 {
        *wake = true;
    }
    Ok(rows)
}
