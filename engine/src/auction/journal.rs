//! What an auction writes to the store, and when: the lead before any buyer hears of it
//! ([`received`]), each post's intent before the PII leaves ([`Journal::post_starting`], so a
//! crash mid-post is recovered as `in_doubt`, never re-sold), and the outcome with every ping,
//! post and event in one transaction ([`finished`]: the outbox). Event data never holds
//! contact data.

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::record::{AuctionRecord, BuyerEvent, PingResult, PostResult};
use crate::config::Durability;
use crate::protocol::event::EventType;
use crate::protocol::ids;
use crate::protocol::lead::{Attributes, Consent, Contact, Lead, Source};
use crate::protocol::money::Micros;
use crate::protocol::post::PostRejection;
use crate::store::{
    AuctionFinished, ContactKey, DuplicateClosed, IdempotencyKey, LeadReceived, NewEvent, NewSale, PingRow, PostRow,
    PostStarted, Store, StoreError, UnixMs, Write,
};

/// The store an auctioneer writes post intents to, and whether it waits for them.
#[derive(Debug, Clone)]
pub struct Journal {
    store: Arc<dyn Store>,
    durability: Durability,
}

impl Journal {
    /// Writes to `store`, awaiting commits when `durability` is strict.
    pub fn new(store: Arc<dyn Store>, durability: Durability) -> Journal {
        Journal { store, durability }
    }

    /// Queues `writes`; in strict mode, waits until they are durable. In relaxed mode the
    /// commit is watched off the path, and a failure is logged and counted.
    pub async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let commit = self.store.write(writes)?;
        match self.durability {
            Durability::Strict => commit.await.map(drop),
            Durability::Relaxed => {
                tokio::spawn(async move {
                    if let Err(error) = commit.await {
                        metrics::counter!("store_relaxed_write_failures_total").increment(1);
                        tracing::error!(%error, "a relaxed write was not stored");
                    }
                });
                Ok(())
            }
        }
    }

    /// Records that post `attempt` of `lead_id` is about to leave, and waits until it is
    /// durable whatever the durability setting (a crash after the PII left must be found as
    /// `in_doubt`); the post must not be sent if this fails.
    pub async fn post_starting(
        &self,
        lead_id: &str,
        attempt: u32,
        buyer_id: &str,
        ping_id: &str,
        price: Micros,
    ) -> Result<(), StoreError> {
        let started = PostStarted {
            lead_id: lead_id.to_owned(),
            attempt,
            buyer_id: buyer_id.to_owned(),
            ping_id: ping_id.to_owned(),
            price: price.0,
            at: crate::store::now_ms(),
        };
        self.store.write(vec![Write::PostStarted(started)])?.await.map(drop)
    }
}

/// The whole lead as stored (PII included): the normalized form buyers are posted.
#[derive(Serialize)]
struct StoredLead<'a> {
    vertical: &'a str,
    attributes: &'a Attributes,
    contact: &'a Contact,
    #[serde(skip_serializing_if = "Option::is_none")]
    consent: Option<&'a Consent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a Source>,
    test: bool,
}

/// The write that accepts a lead: the lead itself, its `lead.received` event, the
/// publisher's idempotency key and the lead's dedupe keys.
pub fn received(
    lead_id: &str,
    publisher_id: &str,
    lead: &Lead,
    idempotency: Option<IdempotencyKey>,
    contacts: Vec<ContactKey>,
) -> Write {
    let at = crate::store::now_ms();
    let stored = StoredLead {
        vertical: &lead.vertical,
        attributes: &lead.attributes,
        contact: &lead.contact,
        consent: lead.consent.as_ref(),
        source: lead.source.as_ref(),
        test: lead.test,
    };
    // Serializing plain structs into a Vec cannot fail.
    let lead_json = Bytes::from(serde_json::to_vec(&stored).unwrap_or_default());
    // Attributes are screened for contact data at intake; `source` (sub ids, UTM tags) is not,
    // so it stays out of events.
    let mut data = lead_data(lead_id, publisher_id, lead);
    data.insert("attributes".into(), serde_json::to_value(&lead.attributes).unwrap_or(Value::Null));
    Write::LeadReceived(Box::new(LeadReceived {
        lead_id: lead_id.to_owned(),
        publisher_id: publisher_id.to_owned(),
        vertical: lead.vertical.to_string(),
        test: lead.test,
        received_at: at,
        lead_json,
        idempotency,
        contacts,
        event: event(EventType::LeadReceived, lead_id, at, data),
    }))
}

/// The writes of a duplicate lead (dedupe, `reject` mode), for one transaction: the lead as
/// [`received`] (no dedupe keys: a duplicate does not extend the window), then its auction
/// closed `unsold` with reason `duplicate`, a `lead.unsold` event saying so, and `answer`.
pub fn duplicate(
    lead_id: &str,
    publisher_id: &str,
    lead: &Lead,
    idempotency: Option<IdempotencyKey>,
    answer: Bytes,
) -> Vec<Write> {
    let received = received(lead_id, publisher_id, lead, idempotency, Vec::new());
    let at = crate::store::now_ms();
    let mut data = lead_data(lead_id, publisher_id, lead);
    data.insert("reason".into(), json!("duplicate"));
    data.insert("pinged".into(), json!(0));
    data.insert("bids".into(), json!(0));
    let closed = DuplicateClosed {
        lead_id: lead_id.to_owned(),
        at,
        answer,
        event: event(EventType::LeadUnsold, lead_id, at, data),
    };
    vec![received, Write::DuplicateClosed(Box::new(closed))]
}

/// The write that closes an auction: outcome, pings, posts, events, and the answer given.
pub fn finished(record: &AuctionRecord, publisher_id: &str, lead: &Lead, answer: Bytes) -> Write {
    let at = crate::store::now_ms();
    let lead_id: &str = &record.lead_id;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let pings = record.pings.iter().map(ping_row).collect();
    let mut posts = Vec::with_capacity(record.posts.len());
    let mut events = Vec::with_capacity(record.posts.len() + 1);
    for (n, post) in record.posts.iter().enumerate() {
        let ping = &record.pings[post.ping];
        let price = post.price;
        let (result, reason, buyer_lead_id) = post_result(&post.result);
        if result != "accepted" {
            let mut data = lead_data(lead_id, publisher_id, lead);
            data.insert("buyer_id".into(), json!(&*ping.buyer.id));
            data.insert("price".into(), json!(price.to_string()));
            data.insert("attempt".into(), json!(n + 1));
            data.insert("result".into(), json!(result));
            data.insert("reason".into(), json!(reason));
            events.push(event(EventType::LeadPostRejected, lead_id, at, data));
        }
        posts.push(PostRow {
            attempt: n as u32 + 1,
            buyer_id: ping.buyer.id.to_string(),
            ping_id: ping.ping_id.to_string(),
            price: price.0,
            result,
            reason,
            buyer_lead_id,
            latency_us: post.latency.as_micros() as i64,
        });
    }
    let bids =
        record.pings.iter().filter(|p| matches!(p.result, PingResult::Bid { .. } | PingResult::Fixed { .. })).count();
    let pinged = record.pings.iter().filter(|p| !matches!(p.result, PingResult::Fixed { .. })).count();
    // One `lead.sold` per sale (a shared lead has several), or one `lead.unsold`.
    for sale in &record.sales {
        let mut data = lead_data(lead_id, publisher_id, lead);
        data.insert("buyer_id".into(), json!(&*sale.buyer_id));
        data.insert("price".into(), json!(sale.price.to_string()));
        data.insert("bid".into(), json!(sale.bid.to_string()));
        data.insert("payout".into(), json!(sale.split.payout.to_string()));
        data.insert("margin".into(), json!(sale.split.margin.to_string()));
        let accepted = record.posts.iter().zip(&posts).find(|(post, _)| post.ping == sale.ping);
        data.insert("buyer_lead_id".into(), json!(accepted.and_then(|(_, row)| row.buyer_lead_id.clone())));
        data.insert("shared".into(), json!(record.shared));
        data.insert("pinged".into(), json!(pinged));
        data.insert("bids".into(), json!(bids));
        events.push(event(EventType::LeadSold, lead_id, at, data));
    }
    if record.sales.is_empty() {
        let mut data = lead_data(lead_id, publisher_id, lead);
        data.insert("reason".into(), json!(unsold_reason(bids, record.posts.len(), record.capped)));
        data.insert("pinged".into(), json!(pinged));
        data.insert("bids".into(), json!(bids));
        events.push(event(EventType::LeadUnsold, lead_id, at, data));
    }
    events.extend(record.buyer_events.iter().map(|e| buyer_event(e, at)));
    let first = record.sales.first();
    Write::AuctionFinished(Box::new(AuctionFinished {
        lead_id: lead_id.to_owned(),
        outcome: record.outcome().as_str(),
        buyer_id: first.map(|s| s.buyer_id.to_string()),
        price: first.map(|_| record.revenue().0),
        sales: record
            .sales
            .iter()
            .map(|s| NewSale {
                buyer_id: s.buyer_id.to_string(),
                price: s.price.0,
                payout: s.split.payout.0,
                margin: s.split.margin.0,
            })
            .collect(),
        finished_at: at,
        ping_ms: ms(record.times.ping),
        post_ms: ms(record.times.post),
        total_ms: ms(record.times.total),
        pings,
        posts,
        events,
        answer,
    }))
}

/// The write of buyer events that belong to no lead's outcome: the circuit transitions of a
/// publisher's ping phase (its post may never come, or come after the ping expired). `None`
/// when there are none.
pub fn buyer_events(events: &[BuyerEvent]) -> Option<Write> {
    if events.is_empty() {
        return None;
    }
    let at = crate::store::now_ms();
    Some(Write::BuyerEvents(events.iter().map(|e| buyer_event(e, at)).collect()))
}

/// Why an auction ended unsold: nobody bid, every bidder's cap was full by the time its post
/// came, every post failed, or the budget ran out first.
fn unsold_reason(bids: usize, posts: usize, capped: usize) -> &'static str {
    if bids == 0 {
        "no_bids"
    } else if posts == 0 && capped == bids {
        "capped"
    } else if posts + capped == bids {
        "all_posts_rejected"
    } else {
        "budget_exhausted"
    }
}

/// The fields every lead event starts with.
fn lead_data(lead_id: &str, publisher_id: &str, lead: &Lead) -> Map<String, Value> {
    lead_fields(lead_id, publisher_id, &lead.vertical, lead.test)
}

/// The fields every lead event's data starts with: `lead_id`, `publisher_id`, `vertical`,
/// `test` (the auction's events and the buyer feedback's alike).
pub fn lead_fields(lead_id: &str, publisher_id: &str, vertical: &str, test: bool) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("lead_id".into(), json!(lead_id));
    data.insert("publisher_id".into(), json!(publisher_id));
    data.insert("vertical".into(), json!(vertical));
    data.insert("test".into(), json!(test));
    data
}

/// A buyer event: not about one lead (no `lead_id`), so outside the lead's event sequence.
fn buyer_event(buyer_event: &BuyerEvent, at: UnixMs) -> NewEvent {
    let (kind, data) = match buyer_event {
        BuyerEvent::Cap(cap) => {
            let kind = if cap.reached { EventType::BuyerCapReached } else { EventType::BuyerCapThresholdReached };
            let limit = cap.limit;
            let money = |v: i64| if limit.spend { json!(Micros(v).to_string()) } else { json!(v) };
            let data = vec![
                ("buyer_id", json!(&*cap.buyer_id)),
                ("publisher_id", json!(cap.publisher_id.as_deref())),
                ("cap", json!(limit.key())),
                ("limit", money(limit.max)),
                ("used", money(cap.used)),
                ("window_start", json!(crate::store::rfc3339(cap.window.0))),
                ("window_end", json!(crate::store::rfc3339(cap.window.1))),
            ];
            (kind, data)
        }
        BuyerEvent::Circuit { buyer_id, opened } => {
            let kind = if *opened { EventType::BuyerCircuitOpened } else { EventType::BuyerCircuitClosed };
            (kind, vec![("buyer_id", json!(&**buyer_id))])
        }
    };
    let data = data.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    NewEvent { id: ids::event_id(), kind, lead_id: None, at, data }
}

/// A lead event of `kind` about `lead_id` with `data`.
pub fn event(kind: EventType, lead_id: &str, at: UnixMs, data: Map<String, Value>) -> NewEvent {
    NewEvent { id: ids::event_id(), kind, lead_id: Some(lead_id.to_owned()), at, data }
}

fn ping_row(ping: &super::record::PingRecord) -> PingRow {
    let (result, price, bid_id, reason) = match &ping.result {
        PingResult::Bid { price, bid_id } => ("bid", Some(price.0), bid_id.as_deref().map(str::to_owned), None),
        PingResult::Fixed { price } => ("fixed", Some(price.0), None, None),
        PingResult::NoBid => ("no_bid", None, None, None),
        PingResult::Invalid(why) => ("invalid", None, None, Some(why.as_str().to_owned())),
        PingResult::Timeout => ("timeout", None, None, None),
        PingResult::Failed(error) => ("failed", None, None, Some(error.to_string())),
    };
    PingRow {
        buyer_id: ping.buyer.id.to_string(),
        ping_id: ping.ping_id.to_string(),
        result,
        price,
        score: price.map(|p| super::rank::score(Micros(p), ping.buyer.weight).0),
        bid_id,
        reason,
        latency_us: ping.latency.map(|d| d.as_micros() as i64),
    }
}

/// A post's result name, reason and the buyer's lead id.
fn post_result(result: &PostResult) -> (&'static str, Option<String>, Option<String>) {
    match result {
        PostResult::Accepted { buyer_lead_id } => ("accepted", None, buyer_lead_id.as_deref().map(str::to_owned)),
        PostResult::Rejected(PostRejection::Declined(reason)) => {
            ("rejected", Some(reason.as_deref().unwrap_or("declined").to_owned()), None)
        }
        PostResult::Rejected(PostRejection::Status(status)) => ("rejected", Some(format!("status {status}")), None),
        PostResult::Rejected(PostRejection::Malformed) => ("rejected", Some("malformed answer".to_owned()), None),
        PostResult::Timeout => ("timeout", None, None),
        PostResult::Failed(error) => ("failed", Some(error.to_string()), None),
    }
}
