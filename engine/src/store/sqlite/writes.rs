//! Applying a job inside the writer's transaction, and the writes of a lead's auction: the lead
//! arriving (with its dedupe keys), a post starting, the auction finishing, a duplicate closed.
//!
//! Every function runs on the writer's connection inside the job's savepoint and returns the
//! rows it changed; an error rolls the job back (the writer does that) and is the caller's.

use rusqlite::{Connection, params};

use super::super::writer::{Done, Work};
use super::super::{AuctionFinished, DuplicateClosed, LeadReceived, PostStarted, StoreError, Write};
use super::{Context, directory, events, keys, recovery, webhook_writes};

/// Runs one job; `wake` is set when it created deliveries or made some due sooner.
pub(crate) fn apply(conn: &Connection, work: Work, wake: &mut bool) -> Result<Done, StoreError> {
    match work {
        Work::Writes(writes) => {
            let mut rows = 0;
            for write in writes {
                rows += apply_write(conn, write, wake)?;
            }
            Ok(Done::Rows(rows))
        }
        Work::Recover(now) => recovery::recover(conn, now, wake).map(Done::Recovered),
    }
}

fn apply_write(conn: &Connection, write: Write, wake: &mut bool) -> Result<u64, StoreError> {
    match write {
        Write::LeadReceived(lead) => lead_received(conn, *lead, wake),
        Write::PostStarted(post) => post_started(conn, &post),
        Write::AuctionFinished(finished) => auction_finished(conn, *finished, wake),
        Write::DuplicateClosed(duplicate) => duplicate_closed(conn, *duplicate, wake),
        Write::BuyerEvents(buyer_events) => {
            buyer_events.into_iter().try_fold(0, |rows, event| Ok(rows + events::insert(conn, event, wake)?))
        }
        Write::DeliveryAttempted(attempted) => webhook_writes::delivery_attempted(conn, attempted, wake),
        Write::PutSubscription(subscription) => webhook_writes::put_subscription(conn, &subscription, wake),
        Write::DeleteSubscription { id } => webhook_writes::delete_subscription(conn, &id),
        Write::ReplayDelivery { delivery_id, now } => webhook_writes::replay_delivery(conn, delivery_id, now, wake),
        // -- Feedback: dispositions and returns. --
        Write::SaleStatusChanged(change) => super::feedback::status_changed(conn, *change, wake),
        Write::SaleReturned(sale_return) => super::feedback::returned(conn, *sale_return, wake),

        // -- Directory (admin API) and audit log. --
        Write::PutDirectory(entry) => directory::put(conn, &entry),
        Write::Audit(record) => directory::audit(conn, &record),

        // -- API keys. --
        Write::PutApiKey(key) => keys::put(conn, &key),
        Write::RevokeApiKey { id, at, audit } => {
            let rows = keys::revoke(conn, &id, at)?;
            if rows > 0
                && let Some(audit) = audit
            {
                directory::audit(conn, &audit)?;
            }
            Ok(rows)
        }
        Write::RevokeKeysOf { role, owner_id, at } => keys::revoke_owner(conn, role, &owner_id, at),
        Write::KeyUsage(usage) => keys::record_usage(conn, &usage),

        Write::ReplayRange { subscription_id, since, until, now } => {
            webhook_writes::replay_range(conn, &subscription_id, since, until, now, wake)
        }
    }
}

/// The lead (PII), its auction `running`, its idempotency key (no answer yet), its event.
fn lead_received(conn: &Connection, lead: LeadReceived, wake: &mut bool) -> Result<u64, StoreError> {
    let mut rows = conn
        .prepare_cached(
            "INSERT INTO leads (id, publisher_id, vertical, test, received_at, lead_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .context("insert lead")?
        .execute(params![
            lead.lead_id,
            lead.publisher_id,
            lead.vertical,
            lead.test,
            lead.received_at,
            &lead.lead_json[..]
        ])
        .context("insert lead")?;
    rows += conn
        .prepare_cached("INSERT INTO auctions (lead_id, status, started_at) VALUES (?1, 'running', ?2)")
        .context("insert auction")?
        .execute(params![lead.lead_id, lead.received_at])
        .context("insert auction")?;
    if let Some(key) = &lead.idempotency {
        rows += conn
            .prepare_cached(
                // A key seen before is only claimed again once its TTL ran out (the cache decides),
                // so the old row is replaced.
                "INSERT INTO idempotency_keys (publisher_id, key, fingerprint, lead_id, answer, created_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5) \
                 ON CONFLICT (publisher_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
                 lead_id = excluded.lead_id, answer = NULL, created_at = excluded.created_at",
            )
            .context("insert idempotency key")?
            .execute(params![key.publisher_id, key.key, &key.fingerprint[..], lead.lead_id, lead.received_at])
            .context("insert idempotency key")?;
    }
    if !lead.contacts.is_empty() {
        let mut contact = conn
            .prepare_cached("INSERT INTO lead_contacts (key, lead_id, seen_at) VALUES (?1, ?2, ?3)")
            .context("insert lead contact")?;
        for c in &lead.contacts {
            rows += contact.execute(params![&c.key[..], lead.lead_id, c.seen_at]).context("insert lead contact")?;
        }
    }
    Ok(rows as u64 + events::insert(conn, lead.event, wake)?)
}

/// A duplicate's auction closed `unsold` (reason `duplicate`) with its answer and event.
fn duplicate_closed(conn: &Connection, duplicate: DuplicateClosed, wake: &mut bool) -> Result<u64, StoreError> {
    recovery::close(conn, &duplicate.lead_id, "unsold", "duplicate", None, &duplicate.answer, duplicate.at)?;
    Ok(1 + events::insert(conn, duplicate.event, wake)?)
}

/// A post about to leave: `sending` until the auction finishes (or recovery finds it).
fn post_started(conn: &Connection, post: &PostStarted) -> Result<u64, StoreError> {
    let rows = conn
        .prepare_cached(
            "INSERT INTO post_attempts (lead_id, attempt, buyer_id, ping_id, price_micros, result, started_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'sending', ?6)",
        )
        .context("insert post attempt")?
        .execute(params![post.lead_id, post.attempt, post.buyer_id, post.ping_id, post.price, post.at])
        .context("insert post attempt")?;
    Ok(rows as u64)
}

/// The outcome, pings, posts (the `sending` rows updated, others added), events, and the
/// answer on the auction and on the lead's idempotency key.
fn auction_finished(conn: &Connection, done: AuctionFinished, wake: &mut bool) -> Result<u64, StoreError> {
    if !matches!(done.outcome, "sold" | "unsold") {
        return Err(StoreError::Backend(format!(
            "auction of {}: outcome {:?} is not sold or unsold",
            done.lead_id, done.outcome
        )));
    }
    let mut rows = conn
        .prepare_cached(
            "UPDATE auctions SET status = ?2, reason = NULL, buyer_id = ?3, price_micros = ?4, ping_ms = ?5, \
             post_ms = ?6, total_ms = ?7, finished_at = ?8, answer = ?9 \
             WHERE lead_id = ?1 AND status = 'running'",
        )
        .context("update auction")?
        .execute(params![
            done.lead_id,
            done.outcome,
            done.buyer_id,
            done.price,
            done.ping_ms,
            done.post_ms,
            done.total_ms,
            done.finished_at,
            &done.answer[..]
        ])
        .context("update auction")?;
    if rows == 0 {
        // Unknown, or already closed (by recovery, say): a finished auction is never rewritten.
        return Err(StoreError::Backend(format!("no running auction for lead {}", done.lead_id)));
    }
    // A sold lead without a sale row would vanish from buyers' pulls, returns and caps.
    if (done.outcome == "sold") == done.sales.is_empty() {
        return Err(StoreError::Backend(format!(
            "auction of {}: {} with {} sales",
            done.lead_id,
            done.outcome,
            done.sales.len()
        )));
    }
    // One row per buyer of the lead (several for a shared lead), in the order they were made:
    // the first sale gets the lowest `seq`. The schema checks price = payout + margin.
    let mut sale = conn
        .prepare_cached(
            "INSERT INTO sales (lead_id, buyer_id, publisher_id, vertical, test, price_micros, payout_micros, \
             margin_micros, sold_at) \
             SELECT id, ?2, publisher_id, vertical, test, ?3, ?4, ?5, ?6 FROM leads WHERE id = ?1",
        )
        .context("insert sale")?;
    for s in &done.sales {
        rows += sale
            .execute(params![done.lead_id, s.buyer_id, s.price, s.payout, s.margin, done.finished_at])
            .context("insert sale")?;
    }
    let mut ping = conn
        .prepare_cached(
            "INSERT INTO pings (lead_id, position, buyer_id, ping_id, result, price_micros, bid_id, reason, latency_us, \
             score_micros) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .context("insert ping")?;
    for (position, p) in (0_i64..).zip(&done.pings) {
        rows += ping
            .execute(params![
                done.lead_id,
                position,
                p.buyer_id,
                p.ping_id,
                p.result,
                p.price,
                p.bid_id,
                p.reason,
                p.latency_us,
                p.score
            ])
            .context("insert ping")?;
    }
    let mut post = conn
        .prepare_cached(
            "INSERT INTO post_attempts \
             (lead_id, attempt, buyer_id, ping_id, price_micros, result, reason, buyer_lead_id, latency_us) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (lead_id, attempt) DO UPDATE SET buyer_id = excluded.buyer_id, \
             ping_id = excluded.ping_id, price_micros = excluded.price_micros, result = excluded.result, \
             reason = excluded.reason, buyer_lead_id = excluded.buyer_lead_id, latency_us = excluded.latency_us",
        )
        .context("upsert post attempt")?;
    for p in &done.posts {
        rows += post
            .execute(params![
                done.lead_id,
                p.attempt,
                p.buyer_id,
                p.ping_id,
                p.price,
                p.result,
                p.reason,
                p.buyer_lead_id,
                p.latency_us
            ])
            .context("upsert post attempt")?;
    }
    rows += conn
        .prepare_cached("UPDATE idempotency_keys SET answer = ?2 WHERE lead_id = ?1")
        .context("answer idempotency key")?
        .execute(params![done.lead_id, &done.answer[..]])
        .context("answer idempotency key")?;
    let mut rows = rows as u64;
    for event in done.events {
        rows += events::insert(conn, event, wake)?;
    }
    Ok(rows)
}
