//! What each role sees of a lead in `GET /v1/leads`, and the parts of the stored lead JSON the
//! views read. A publisher's view is built from [`PublicParts`], a type that cannot hold
//! contact or consent data, so no mistake in a view can put them in its answer.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::error::ApiError;
use crate::protocol::money::Micros;
use crate::store::pull::{LeadRow, StoredSale};
use crate::store::rfc3339;

/// What a publisher may read back of a lead it sent: no contact, no consent.
#[derive(Debug, Deserialize)]
pub(super) struct PublicParts {
    /// The lead's attributes.
    #[serde(default)]
    pub attributes: Value,
    /// Its source (sub id, UTM tags).
    #[serde(default)]
    pub source: Value,
}

/// The whole lead, PII included: for the buyer that bought it, and for admins.
#[derive(Debug, Deserialize, Serialize)]
pub(super) struct FullParts {
    /// The lead's attributes.
    #[serde(default)]
    pub attributes: Value,
    /// The person: name, email, phone, address.
    #[serde(default)]
    pub contact: Value,
    /// The consent evidence (null when the publisher sent none).
    #[serde(default)]
    pub consent: Value,
    /// Its source (null when the publisher sent none).
    #[serde(default)]
    pub source: Value,
}

/// Reads the parts `T` of a stored lead. A lead the store cannot give back is our failure
/// (500); the log names the lead, never its content.
pub(super) fn parts<T: DeserializeOwned>(lead_id: &str, json: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(json).map_err(|error| {
        tracing::error!(lead_id, %error, "a stored lead is not readable JSON");
        ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, "store_error", "a stored lead could not be read")
    })
}

/// How an auction ended, as the API names it: a duplicate is an unsold auction with that
/// reason; otherwise the auction's state (`running`, `sold`, `unsold`, `in_doubt`).
pub(super) fn outcome(status: &str, reason: Option<&str>) -> String {
    if status == "unsold" && reason == Some("duplicate") { "duplicate".to_owned() } else { status.to_owned() }
}

/// The sum of `part` over a lead's sales; `None` when it has none (not sold).
pub(super) fn total(sales: &[StoredSale], part: fn(&StoredSale) -> i64) -> Option<Micros> {
    (!sales.is_empty()).then(|| Micros(sales.iter().map(part).fold(0_i64, i64::saturating_add)))
}

/// A lead in a buyer's walk: a sale, with the lead it bought.
#[derive(Debug, Serialize)]
pub(super) struct BuyerItem {
    lead_id: String,
    vertical: String,
    sold_at: Option<String>,
    price: Option<Micros>,
    /// The latest disposition (null before the first).
    status: Option<String>,
    returned_at: Option<String>,
    test: bool,
    lead: FullParts,
}

impl BuyerItem {
    /// The view of a row of the buyer's walk.
    pub fn new(row: LeadRow) -> Result<BuyerItem, ApiError> {
        Ok(BuyerItem {
            lead: parts(&row.lead_id, &row.lead_json)?,
            lead_id: row.lead_id,
            vertical: row.vertical,
            sold_at: row.sold_at.and_then(rfc3339),
            price: row.price.map(Micros),
            status: row.sale_status,
            returned_at: row.returned_at.and_then(rfc3339),
            test: row.test,
        })
    }
}

/// A lead in a publisher's walk: its outcome, no buyer data, no PII.
#[derive(Debug, Serialize)]
pub(super) struct PublisherItem {
    lead_id: String,
    vertical: String,
    received_at: Option<String>,
    test: bool,
    /// `sold`, `unsold`, `duplicate`, `in_doubt`, `running`.
    outcome: String,
    /// Why it ended that way, when the engine says (`duplicate`, `interrupted`, ...).
    reason: Option<String>,
    /// What the publisher is paid for it: the payouts of its sales (null when not sold).
    payout: Option<Micros>,
    attributes: Value,
    source: Value,
}

impl PublisherItem {
    /// The view of a row of the publisher's walk.
    pub fn new(row: LeadRow) -> Result<PublisherItem, ApiError> {
        let lead: PublicParts = parts(&row.lead_id, &row.lead_json)?;
        Ok(PublisherItem::of(&row, lead.attributes, lead.source))
    }

    fn of(row: &LeadRow, attributes: Value, source: Value) -> PublisherItem {
        PublisherItem {
            lead_id: row.lead_id.clone(),
            vertical: row.vertical.clone(),
            received_at: rfc3339(row.received_at),
            test: row.test,
            outcome: outcome(&row.status, row.reason.as_deref()),
            reason: row.reason.clone(),
            payout: total(&row.sales, |s| s.payout),
            attributes,
            source,
        }
    }
}

/// A lead in an admin's walk: the publisher's view (with its payout) plus who bought it, for
/// how much, the broker's margin, each sale, and the PII.
#[derive(Debug, Serialize)]
pub(super) struct AdminItem {
    #[serde(flatten)]
    lead: PublisherItem,
    publisher_id: String,
    /// The buyer (sold: the first sale's; or the one a crash left the lead in doubt with).
    buyer_id: Option<String>,
    /// What its buyers pay, together.
    price: Option<Micros>,
    /// What the broker keeps: the margins of its sales.
    margin: Option<Micros>,
    /// The disposition of the sale to `buyer_id`.
    status: Option<String>,
    returned_at: Option<String>,
    /// Every sale (one per buyer; several for a shared lead).
    sales: Vec<SaleItem>,
    contact: Value,
    consent: Value,
}

/// One sale of a lead in an admin's walk.
#[derive(Debug, Serialize)]
pub(super) struct SaleItem {
    buyer_id: String,
    /// What the buyer pays.
    price: Micros,
    /// What the publisher is paid of it.
    payout: Micros,
    /// What the broker keeps of it: price - payout.
    margin: Micros,
    sold_at: Option<String>,
    status: Option<String>,
    returned_at: Option<String>,
}

impl From<&StoredSale> for SaleItem {
    fn from(s: &StoredSale) -> SaleItem {
        SaleItem {
            buyer_id: s.buyer_id.clone(),
            price: Micros(s.price),
            payout: Micros(s.payout),
            margin: Micros(s.margin),
            sold_at: rfc3339(s.sold_at),
            status: s.status.clone(),
            returned_at: s.returned_at.and_then(rfc3339),
        }
    }
}

impl AdminItem {
    /// The view of a row of the admin's walk.
    pub fn new(row: LeadRow) -> Result<AdminItem, ApiError> {
        let full: FullParts = parts(&row.lead_id, &row.lead_json)?;
        Ok(AdminItem {
            lead: PublisherItem::of(&row, full.attributes, full.source),
            margin: total(&row.sales, |s| s.margin),
            sales: row.sales.iter().map(SaleItem::from).collect(),
            publisher_id: row.publisher_id,
            buyer_id: row.buyer_id,
            price: row.price.map(Micros),
            status: row.sale_status,
            returned_at: row.returned_at.and_then(rfc3339),
            contact: full.contact,
            consent: full.consent,
        })
    }
}
