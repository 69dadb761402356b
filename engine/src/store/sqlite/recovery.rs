//! Recovery at start: every auction a crash left `running` is closed, and never re-auctioned.
//!
//! With a post in flight (a `sending` attempt, written before the PII left) the buyer may have
//! the lead: the attempt and the auction become `in_doubt` with a `lead.in_doubt` event, for
//! a person to settle with the buyer. Without one no buyer saw the PII and none bought it: the
//! auction is `unsold` (`interrupted`) with a `lead.unsold` event. Either way the answer is
//! stored on the auction and on the lead's idempotency key, so a publisher retrying after the
//! restart gets that answer, not a second auction. It all runs in the writer's transaction,
//! so a second recovery finds nothing left to do.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::super::{NewEvent, Recovery, StoreError, UnixMs};
use super::{Context, events};
use crate::protocol::answer::{LeadAnswer, Outcome, Timings};
use crate::protocol::event::EventType;
use crate::protocol::ids;
use crate::protocol::money::Micros;

/// The reason on an in-doubt post, auction and event.
const CRASH_DURING_POST: &str = "crash during post";

/// The reason on an auction closed before any post.
const INTERRUPTED: &str = "interrupted";

/// Closes every running auction; returns the leads, by kind.
pub(super) fn recover(conn: &Connection, now: UnixMs, wake: &mut bool) -> Result<Recovery, StoreError> {
    let running: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT lead_id FROM auctions WHERE status = 'running' ORDER BY lead_id")
            .context("running auctions")?;
        let rows = stmt.query_map([], |row| row.get(0)).context("running auctions")?;
        rows.collect::<Result<_, _>>().context("running auctions")?
    };
    let mut recovery = Recovery::default();
    for lead_id in running {
        let sending: Option<(String, i64)> = conn
            .query_row(
                "SELECT buyer_id, price_micros FROM post_attempts WHERE lead_id = ?1 AND result = 'sending' \
                 ORDER BY attempt DESC LIMIT 1",
                [&lead_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .context("post in flight")?;
        match sending {
            Some((buyer_id, price)) => {
                in_doubt(conn, &lead_id, buyer_id, price, now, wake)?;
                recovery.in_doubt.push(lead_id);
            }
            None => {
                interrupted(conn, &lead_id, now, wake)?;
                recovery.interrupted.push(lead_id);
            }
        }
    }
    Ok(recovery)
}

fn in_doubt(
    conn: &Connection,
    lead_id: &str,
    buyer_id: String,
    price: i64,
    now: UnixMs,
    wake: &mut bool,
) -> Result<(), StoreError> {
    // Every attempt still `sending` may have reached its buyer (an earlier one may have timed
    // out on our side and been accepted on theirs): the event lists them all.
    let attempts: Vec<Value> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT attempt, buyer_id, price_micros FROM post_attempts \
                 WHERE lead_id = ?1 AND result = 'sending' ORDER BY attempt",
            )
            .context("posts in flight")?;
        let rows = stmt
            .query_map([lead_id], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?)))
            .context("posts in flight")?;
        rows.map(|row| {
            row.map(|(attempt, buyer, price)| {
                serde_json::json!({"attempt": attempt, "buyer_id": buyer, "price": Micros(price)})
            })
        })
        .collect::<Result<_, _>>()
        .context("posts in flight")?
    };
    conn.execute(
        "UPDATE post_attempts SET result = 'in_doubt', reason = ?2 WHERE lead_id = ?1 AND result = 'sending'",
        params![lead_id, CRASH_DURING_POST],
    )
    .context("post in doubt")?;
    let answer = answer(conn, lead_id, Outcome::InDoubt, Some(buyer_id.clone()))?;
    close(conn, lead_id, "in_doubt", CRASH_DURING_POST, Some(&buyer_id), &answer, now)?;
    let mut data = Map::new();
    data.insert("lead_id".into(), lead_id.into());
    data.insert("buyer_id".into(), buyer_id.into());
    data.insert("price".into(), serde_json::to_value(Micros(price)).context("price")?);
    data.insert("reason".into(), CRASH_DURING_POST.into());
    data.insert("attempts".into(), Value::Array(attempts));
    event(conn, lead_id, EventType::LeadInDoubt, data, now, wake)
}

fn interrupted(conn: &Connection, lead_id: &str, now: UnixMs, wake: &mut bool) -> Result<(), StoreError> {
    let answer = answer(conn, lead_id, Outcome::Unsold, None)?;
    close(conn, lead_id, "unsold", INTERRUPTED, None, &answer, now)?;
    let mut data = Map::new();
    data.insert("lead_id".into(), lead_id.into());
    data.insert("reason".into(), INTERRUPTED.into());
    event(conn, lead_id, EventType::LeadUnsold, data, now, wake)
}

/// The answer a publisher retry gets: no price (nothing was sold for sure), the buyer when in
/// doubt, no timings (the auction's were lost with the process); a test lead still says so.
fn answer(conn: &Connection, lead_id: &str, outcome: Outcome, buyer_id: Option<String>) -> Result<Vec<u8>, StoreError> {
    let test: bool = conn
        .query_row("SELECT test FROM leads WHERE id = ?1", [lead_id], |row| row.get(0))
        .optional()
        .context("recovered lead")?
        .unwrap_or(false);
    let answer = LeadAnswer {
        lead_id: lead_id.to_owned(),
        outcome,
        price: None,
        buyer_id,
        sales: Vec::new(),
        test,
        timings_ms: Timings::default(),
    };
    serde_json::to_vec(&answer).context("recovered answer")
}

/// Closes the auction with `answer` and puts that answer on the lead's idempotency key (also
/// how a duplicate lead is closed).
pub(super) fn close(
    conn: &Connection,
    lead_id: &str,
    status: &str,
    reason: &str,
    buyer_id: Option<&str>,
    answer: &[u8],
    now: UnixMs,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE auctions SET status = ?2, reason = ?3, buyer_id = ?4, finished_at = ?5, answer = ?6 \
         WHERE lead_id = ?1 AND status = 'running'",
        params![lead_id, status, reason, buyer_id, now, answer],
    )
    .context("close auction")?;
    conn.execute("UPDATE idempotency_keys SET answer = ?2 WHERE lead_id = ?1", params![lead_id, answer])
        .context("recovered answer on idempotency key")?;
    Ok(())
}

fn event(
    conn: &Connection,
    lead_id: &str,
    kind: EventType,
    data: Map<String, Value>,
    now: UnixMs,
    wake: &mut bool,
) -> Result<(), StoreError> {
    let event = NewEvent { id: ids::event_id(), kind, lead_id: Some(lead_id.to_owned()), at: now, data };
    events::insert(conn, event, wake).map(drop)
}
