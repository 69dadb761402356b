//! What the store keeps of buyer feedback: a sale as the feedback endpoints read it, and the
//! two writes that change it (a disposition, a return). Each write is conditional on the state
//! it was decided from, so of two concurrent requests from one state only one applies; the
//! other changes no row and its handler reads the sale again.

use super::{NewEvent, UnixMs};
use crate::protocol::feedback::Disposition;

/// One lead sold to one buyer (a `sales` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    /// The row's sequence number.
    pub seq: i64,
    /// `ld_...`.
    pub lead_id: String,
    /// The buyer that bought it.
    pub buyer_id: String,
    /// The lead's publisher.
    pub publisher_id: String,
    /// The lead's vertical.
    pub vertical: String,
    /// A test lead.
    pub test: bool,
    /// The price paid, micro-units.
    pub price: i64,
    /// When it sold.
    pub sold_at: UnixMs,
    /// The latest disposition, if any was reported.
    pub status: Option<Disposition>,
    /// When it was reported.
    pub status_at: Option<UnixMs>,
    /// When the buyer returned it, if it did.
    pub returned_at: Option<UnixMs>,
}

/// [`super::Write::SaleStatusChanged`]: the sale's status moves from `previous` to `status`,
/// a history row records it, and its `lead.status_changed` event goes to the outbox. Applies
/// only while the sale still has `previous` and is not returned (rows changed: 0 otherwise).
#[derive(Debug, Clone)]
pub struct SaleStatusChanged {
    /// The sale ([`Sale::seq`]).
    pub sale_seq: i64,
    /// The status it was decided from.
    pub previous: Option<Disposition>,
    /// The new status.
    pub status: Disposition,
    /// When.
    pub at: UnixMs,
    /// The key that reported it.
    pub key_id: String,
    /// Its `lead.status_changed` event.
    pub event: NewEvent,
}

/// [`super::Write::SaleReturned`]: the sale is returned and credited its price, and its
/// `lead.returned` event goes to the outbox. Applies only while the sale is not returned and
/// still has `status` (rows changed: 0 otherwise).
#[derive(Debug, Clone)]
pub struct SaleReturned {
    /// The sale ([`Sale::seq`]).
    pub sale_seq: i64,
    /// The status it was decided from.
    pub status: Option<Disposition>,
    /// When.
    pub at: UnixMs,
    /// One of the configured reason codes.
    pub reason_code: String,
    /// The buyer's note.
    pub note: Option<String>,
    /// Its `lead.returned` event.
    pub event: NewEvent,
}
