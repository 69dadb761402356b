//! The engine's answer to a publisher for one lead.

use serde::{Deserialize, Serialize};

use crate::money::Micros;

/// How an auction ended, as the publisher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A buyer accepted the post.
    Sold,
    /// No buyer bid, or every post was rejected, or the budget ran out.
    Unsold,
    /// The lead was seen before (dedupe).
    Duplicate,
    /// A crash cut the auction off while a post was in flight: the buyer may have the lead.
    /// Extends v1; only an auction recovered after a crash ends this way, and the lead is
    /// never re-sold automatically.
    InDoubt,
}

impl Outcome {
    /// Stable name for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sold => "sold",
            Outcome::Unsold => "unsold",
            Outcome::Duplicate => "duplicate",
            Outcome::InDoubt => "in_doubt",
        }
    }
}

/// `200` body of `POST /v1/leads` (and of `POST /v1/post`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadAnswer {
    /// The engine's id for the lead.
    pub lead_id: String,
    /// Sold, unsold or duplicate.
    pub outcome: Outcome,
    /// What the publisher is paid for the lead (null unless sold): the buyers' price less the
    /// broker's margin, over every sale of a shared lead. With no margin configured, the price
    /// the lead sold at.
    pub price: Option<Micros>,
    /// The buyer that bought it (null unless sold; a shared lead: the first).
    pub buyer_id: Option<String>,
    /// Every sale, with what the publisher is paid of it (extends v1; empty unless sold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sales: Vec<SaleAnswer>,
    /// A test lead: never billed (extends v1; present only when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// Where the time went, in milliseconds (fractional).
    pub timings_ms: Timings,
}

/// One sale of a lead, as its publisher sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaleAnswer {
    /// The buyer.
    pub buyer_id: String,
    /// What the publisher is paid for this sale.
    pub price: Micros,
}

/// Phase durations in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// From the first ping sent to the last answer waited for.
    pub ping: f64,
    /// All post attempts together.
    pub post: f64,
    /// From intake to the answer.
    pub total: f64,
}

impl Timings {
    /// From phase durations, in milliseconds rounded to the microsecond.
    pub fn from_durations(ping: std::time::Duration, post: std::time::Duration, total: std::time::Duration) -> Timings {
        let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        Timings { ping: ms(ping), post: ms(post), total: ms(total) }
    }
}
