//! What the reports ask the store for: per-buyer and per-publisher counts and sums over the
//! non-test leads received in a time range. Rates, averages and margins are the API's
//! arithmetic.

use super::UnixMs;

/// The leads a report covers: non-test leads received in `[since, until)`, optionally of one
/// buyer or publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// From (inclusive).
    pub since: UnixMs,
    /// To (exclusive).
    pub until: UnixMs,
    /// Only this buyer (buyer report) or publisher (publisher report).
    pub only: Option<String>,
}

/// One buyer's figures over the leads of a [`ReportQuery`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuyerFigures {
    /// The buyer.
    pub buyer_id: String,
    /// Pings sent to it (a fixed-price buyer's offers are not pings).
    pub pings: u64,
    /// Pings it answered with a valid bid.
    pub bids: u64,
    /// Pings it did not answer in time.
    pub timeouts: u64,
    /// Auctions it was offered in at its fixed price, without a ping.
    pub fixed_offers: u64,
    /// Leads it bought.
    pub wins: u64,
    /// What it paid for them, micro-units.
    pub total_price: i64,
    /// What the publishers of the leads it kept are paid of its prices (a returned sale pays
    /// its publisher nothing), micro-units.
    pub payout: i64,
    /// Posts to it that did not sell: rejected, timed out or failed.
    pub post_rejections: u64,
    /// Leads it returned.
    pub returns: u64,
    /// What those returns credited back, micro-units.
    pub returned_amount: i64,
}

/// One publisher's figures over the leads of a [`ReportQuery`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublisherFigures {
    /// The publisher.
    pub publisher_id: String,
    /// Leads it sent.
    pub leads: u64,
    /// Of those, sold.
    pub sold: u64,
    /// Unsold (other than duplicates).
    pub unsold: u64,
    /// Refused as duplicates.
    pub duplicates: u64,
    /// Sales of its leads (several for a lead shared between buyers).
    pub sales: u64,
    /// What buyers paid for them, micro-units.
    pub total_price: i64,
    /// What it is paid for the sales that were not returned (a returned sale pays it nothing),
    /// micro-units.
    pub payout: i64,
    /// Sales returned.
    pub returns: u64,
    /// What those returns credited back, micro-units.
    pub returned_amount: i64,
}
