//! What each role sees of one lead (`GET /v1/leads/{id}`): an admin everything the store
//! holds (every sale with its price, payout and margin); a buyer a lead it bought, with its
//! sale (its own price) and only its own pings and posts; a publisher its own lead's outcome,
//! timings and payout. A lead the caller may not see is `None`
//! (the API answers 404, as for an unknown lead, so ids of others' leads reveal nothing).

use serde::Serialize;
use serde_json::Value;

use super::super::error::ApiError;
use super::views::{FullParts, PublicParts, outcome, parts, total};
use crate::protocol::money::Micros;
use crate::store::pull::StoredSale;
use crate::store::{PingRow, StoredLead, StoredPost, rfc3339};

/// Where an auction's time went, in milliseconds.
#[derive(Debug, Serialize)]
pub(super) struct TimingsOut {
    ping_ms: f64,
    post_ms: f64,
    total_ms: f64,
}

/// The stored phase times, rounded to the microsecond as the publisher's answer gave them.
fn timings(lead: &StoredLead) -> Option<TimingsOut> {
    let round = |ms: f64| (ms * 1_000.0).round() / 1_000.0;
    lead.timings_ms.map(|(ping, post, total)| TimingsOut {
        ping_ms: round(ping),
        post_ms: round(post),
        total_ms: round(total),
    })
}

/// Microseconds to milliseconds.
fn ms(us: i64) -> f64 {
    us as f64 / 1_000.0
}

/// A ping as a buyer sees its own: without the ranking score (its quality weight is the
/// broker's business).
#[derive(Debug, Serialize)]
pub(super) struct PingOut {
    buyer_id: String,
    ping_id: String,
    /// `bid`, `no_bid`, `invalid`, `timeout`, `failed`; `fixed` for a fixed-price buyer's
    /// offer (not pinged: no bid id, no latency).
    result: &'static str,
    price: Option<Micros>,
    bid_id: Option<String>,
    reason: Option<String>,
    latency_ms: Option<f64>,
}

impl From<&PingRow> for PingOut {
    fn from(p: &PingRow) -> PingOut {
        PingOut {
            buyer_id: p.buyer_id.clone(),
            ping_id: p.ping_id.clone(),
            result: p.result,
            price: p.price.map(Micros),
            bid_id: p.bid_id.clone(),
            reason: p.reason.clone(),
            latency_ms: p.latency_us.map(ms),
        }
    }
}

/// A ping as an admin sees it: with the score it ranked by.
#[derive(Debug, Serialize)]
pub(super) struct AdminPingOut {
    #[serde(flatten)]
    ping: PingOut,
    score: Option<Micros>,
}

/// A post attempt.
#[derive(Debug, Serialize)]
pub(super) struct PostOut {
    attempt: u32,
    buyer_id: String,
    price: Micros,
    /// `accepted`, `rejected`, `timeout`, `failed`, `in_doubt` (`sending` while it runs).
    result: String,
    reason: Option<String>,
    buyer_lead_id: Option<String>,
    latency_ms: Option<f64>,
}

impl From<&StoredPost> for PostOut {
    fn from(p: &StoredPost) -> PostOut {
        PostOut {
            attempt: p.attempt,
            buyer_id: p.buyer_id.clone(),
            price: Micros(p.price),
            result: p.result.clone(),
            reason: p.reason.clone(),
            buyer_lead_id: p.buyer_lead_id.clone(),
            latency_ms: p.latency_us.map(ms),
        }
    }
}

/// A sale with its disposition history and its return.
#[derive(Debug, Serialize)]
pub(super) struct SaleOut {
    buyer_id: String,
    price: Micros,
    sold_at: Option<String>,
    /// The latest disposition (null before the first).
    status: Option<String>,
    status_at: Option<String>,
    /// Every disposition, oldest first.
    history: Vec<StatusOut>,
    /// The return, once there is one.
    #[serde(rename = "return")]
    returned: Option<ReturnOut>,
}

/// A sale as an admin sees it: with the publisher's payout and the broker's margin.
#[derive(Debug, Serialize)]
pub(super) struct AdminSaleOut {
    #[serde(flatten)]
    sale: SaleOut,
    payout: Micros,
    /// price - payout.
    margin: Micros,
}

impl From<&StoredSale> for AdminSaleOut {
    fn from(s: &StoredSale) -> AdminSaleOut {
        AdminSaleOut { sale: s.into(), payout: Micros(s.payout), margin: Micros(s.margin) }
    }
}

/// One disposition reported.
#[derive(Debug, Serialize)]
pub(super) struct StatusOut {
    at: Option<String>,
    previous: Option<String>,
    status: String,
    /// The key that reported it.
    key_id: String,
}

/// A return.
#[derive(Debug, Serialize)]
pub(super) struct ReturnOut {
    at: Option<String>,
    reason: Option<String>,
    note: Option<String>,
    /// What was credited back.
    credit: Option<Micros>,
}

impl From<&StoredSale> for SaleOut {
    fn from(s: &StoredSale) -> SaleOut {
        SaleOut {
            buyer_id: s.buyer_id.clone(),
            price: Micros(s.price),
            sold_at: rfc3339(s.sold_at),
            status: s.status.clone(),
            status_at: s.status_at.and_then(rfc3339),
            history: s
                .history
                .iter()
                .map(|h| StatusOut {
                    at: rfc3339(h.at),
                    previous: h.previous.clone(),
                    status: h.status.clone(),
                    key_id: h.key_id.clone(),
                })
                .collect(),
            returned: s.returned_at.map(|at| ReturnOut {
                at: rfc3339(at),
                reason: s.return_reason.clone(),
                note: s.return_note.clone(),
                credit: s.credit.map(Micros),
            }),
        }
    }
}

/// One of the lead's events.
#[derive(Debug, Serialize)]
pub(super) struct EventOut {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    /// 1, 2, ... in the order they happened.
    sequence: i64,
}

/// Everything about a lead, for admins.
#[derive(Debug, Serialize)]
pub(super) struct AdminLead {
    lead_id: String,
    publisher_id: String,
    vertical: String,
    test: bool,
    received_at: Option<String>,
    finished_at: Option<String>,
    outcome: String,
    reason: Option<String>,
    /// The first sale's buyer (or the one in doubt).
    buyer_id: Option<String>,
    /// What every buyer of the lead pays, together.
    price: Option<Micros>,
    /// What the publisher is paid: the payouts of the sales.
    payout: Option<Micros>,
    /// What the broker keeps: the margins of the sales.
    margin: Option<Micros>,
    timings: Option<TimingsOut>,
    lead: FullParts,
    pings: Vec<AdminPingOut>,
    posts: Vec<PostOut>,
    sales: Vec<AdminSaleOut>,
    events: Vec<EventOut>,
}

impl AdminLead {
    /// The admin's view of `lead`.
    pub fn new(lead: &StoredLead) -> Result<AdminLead, ApiError> {
        Ok(AdminLead {
            lead_id: lead.lead_id.clone(),
            publisher_id: lead.publisher_id.clone(),
            vertical: lead.vertical.clone(),
            test: lead.test,
            received_at: rfc3339(lead.received_at),
            finished_at: lead.finished_at.and_then(rfc3339),
            outcome: outcome(&lead.status, lead.reason.as_deref()),
            reason: lead.reason.clone(),
            buyer_id: lead.buyer_id.clone(),
            price: lead.price.map(Micros),
            payout: total(&lead.sales, |s| s.payout),
            margin: total(&lead.sales, |s| s.margin),
            timings: timings(lead),
            lead: parts(&lead.lead_id, &lead.lead_json)?,
            pings: lead.pings.iter().map(|p| AdminPingOut { ping: p.into(), score: p.score.map(Micros) }).collect(),
            posts: lead.posts.iter().map(PostOut::from).collect(),
            sales: lead.sales.iter().map(AdminSaleOut::from).collect(),
            events: lead
                .events
                .iter()
                .map(|(id, kind, sequence)| EventOut { id: id.clone(), kind: kind.clone(), sequence: *sequence })
                .collect(),
        })
    }
}

/// A lead as the buyer that bought it sees it.
#[derive(Debug, Serialize)]
pub(super) struct BuyerLead {
    lead_id: String,
    vertical: String,
    test: bool,
    received_at: Option<String>,
    lead: FullParts,
    sale: SaleOut,
    /// Its own pings of this lead.
    pings: Vec<PingOut>,
    /// Its own post attempts.
    posts: Vec<PostOut>,
}

impl BuyerLead {
    /// `buyer`'s view of `lead`; `None` unless it bought it.
    pub fn new(lead: &StoredLead, buyer: &str) -> Result<Option<BuyerLead>, ApiError> {
        let Some(sale) = lead.sales.iter().find(|s| s.buyer_id == buyer) else { return Ok(None) };
        Ok(Some(BuyerLead {
            lead_id: lead.lead_id.clone(),
            vertical: lead.vertical.clone(),
            test: lead.test,
            received_at: rfc3339(lead.received_at),
            lead: parts(&lead.lead_id, &lead.lead_json)?,
            sale: sale.into(),
            pings: lead.pings.iter().filter(|p| p.buyer_id == buyer).map(PingOut::from).collect(),
            posts: lead.posts.iter().filter(|p| p.buyer_id == buyer).map(PostOut::from).collect(),
        }))
    }
}

/// A lead as the publisher that sent it sees it: its outcome and timings; no buyer data, no
/// contact, no consent.
#[derive(Debug, Serialize)]
pub(super) struct PublisherLead {
    lead_id: String,
    vertical: String,
    test: bool,
    received_at: Option<String>,
    finished_at: Option<String>,
    outcome: String,
    reason: Option<String>,
    /// What the publisher is paid for it: the payouts of its sales (null when not sold).
    payout: Option<Micros>,
    timings: Option<TimingsOut>,
    attributes: Value,
    source: Value,
}

impl PublisherLead {
    /// `publisher`'s view of `lead`; `None` unless it sent it.
    pub fn new(lead: &StoredLead, publisher: &str) -> Result<Option<PublisherLead>, ApiError> {
        if lead.publisher_id != publisher {
            return Ok(None);
        }
        let public: PublicParts = parts(&lead.lead_id, &lead.lead_json)?;
        Ok(Some(PublisherLead {
            lead_id: lead.lead_id.clone(),
            vertical: lead.vertical.clone(),
            test: lead.test,
            received_at: rfc3339(lead.received_at),
            finished_at: lead.finished_at.and_then(rfc3339),
            outcome: outcome(&lead.status, lead.reason.as_deref()),
            reason: lead.reason.clone(),
            payout: total(&lead.sales, |s| s.payout),
            timings: timings(lead),
            attributes: public.attributes,
            source: public.source,
        }))
    }
}
