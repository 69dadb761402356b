//! What the pull API asks the store for: a keyset page of leads as one caller sees them
//! ([`LeadQuery`] in, [`LeadRow`]s out), and a lead's sales with their status history (on
//! [`super::StoredLead`]). A lead has one sale per buyer that bought it (several for a shared
//! lead): a buyer's walk has a row per sale to it, the others a row per lead with every sale.
//!
//! Pages walk an ever-increasing key that the store assigns in commit order (a sale's `seq`
//! for a buyer, the lead's rowid otherwise), so a lead committed while a client pages always
//! lands after every key already handed out: a walk sees each lead once, new ones at its end.

use bytes::Bytes;

use super::{PageRequest, UnixMs};

/// Whose leads, and so which key a page walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadScope {
    /// The sales to this buyer, by sale (`sales.seq`); `since`/`until` apply to `sold_at`.
    Buyer(String),
    /// This publisher's leads, by lead (rowid); `since`/`until` apply to `received_at`.
    Publisher(String),
    /// Every lead, by lead (rowid); `since`/`until` apply to `received_at`.
    All,
}

/// A page request for leads, with its filters (each `None` when absent).
#[derive(Debug, Clone)]
pub struct LeadQuery {
    /// Whose leads.
    pub scope: LeadScope,
    /// From (inclusive).
    pub since: Option<UnixMs>,
    /// To (exclusive).
    pub until: Option<UnixMs>,
    /// Only this vertical.
    pub vertical: Option<String>,
    /// Only this outcome: `sold`, `unsold`, `duplicate` (unsold, reason `duplicate`),
    /// `in_doubt`, `running`.
    pub outcome: Option<String>,
    /// Only sales with this disposition (`contacted` ... `invalid`), `new` (neither a
    /// disposition nor a return yet) or `returned`; a lead of a publisher's or admin's walk
    /// matches when any of its sales does.
    pub status: Option<String>,
    /// The cursor and the page size.
    pub page: PageRequest,
}

/// One lead of a page, with what any of the views needs; the API picks each role's fields.
/// Its `Debug` leaves the lead (PII) out.
#[derive(Clone)]
pub struct LeadRow {
    /// `ld_...`.
    pub lead_id: String,
    /// Who sent it.
    pub publisher_id: String,
    /// Its vertical.
    pub vertical: String,
    /// A test lead.
    pub test: bool,
    /// When intake accepted it.
    pub received_at: UnixMs,
    /// The auction's state: `running`, `sold`, `unsold`, `in_doubt`.
    pub status: String,
    /// Why it ended that way, when the auction says (`duplicate`, `interrupted`, ...).
    pub reason: Option<String>,
    /// The buyer: in a buyer's walk that buyer; otherwise the first sale's (or the one in doubt).
    pub buyer_id: Option<String>,
    /// The price, micro-units: in a buyer's walk what it pays; otherwise what every buyer of the
    /// lead pays together.
    pub price: Option<i64>,
    /// When it sold.
    pub sold_at: Option<UnixMs>,
    /// The latest disposition of the sale to `buyer_id`.
    pub sale_status: Option<String>,
    /// When `buyer_id` returned it.
    pub returned_at: Option<UnixMs>,
    /// Every sale of the lead, by sale, without status histories (publishers' and admins'
    /// walks; empty in a buyer's walk, whose row is its own sale).
    pub sales: Vec<StoredSale>,
    /// The validated lead, JSON (PII).
    pub lead_json: Bytes,
    /// The cursor that continues a walk right after this row.
    pub cursor: String,
}

/// One sale of a lead, with its disposition history and its return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSale {
    /// Its key in the buyer's walk.
    pub seq: i64,
    /// The buyer.
    pub buyer_id: String,
    /// The price paid, micro-units.
    pub price: i64,
    /// What the publisher is paid of it, micro-units.
    pub payout: i64,
    /// What the broker keeps of it (`price - payout`), micro-units.
    pub margin: i64,
    /// When it sold.
    pub sold_at: UnixMs,
    /// The latest disposition.
    pub status: Option<String>,
    /// When it was reported.
    pub status_at: Option<UnixMs>,
    /// Every disposition, oldest first.
    pub history: Vec<StatusChange>,
    /// When it was returned.
    pub returned_at: Option<UnixMs>,
    /// The return's reason code.
    pub return_reason: Option<String>,
    /// The buyer's note on the return.
    pub return_note: Option<String>,
    /// The amount credited back, micro-units.
    pub credit: Option<i64>,
}

/// One disposition reported on a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// When.
    pub at: UnixMs,
    /// The disposition before it.
    pub previous: Option<String>,
    /// The new one.
    pub status: String,
    /// The key that reported it.
    pub key_id: String,
}

impl std::fmt::Debug for LeadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadRow")
            .field("lead_id", &self.lead_id)
            .field("status", &self.status)
            .field("buyer_id", &self.buyer_id)
            .field("lead_json", &format_args!("<{} bytes of PII>", self.lead_json.len()))
            .finish_non_exhaustive()
    }
}
