//! The auction record: every ping, bid, timing and post attempt of one lead. Outcomes such as
//! no-bid, timeout and rejection are values here, not errors.

use std::sync::Arc;
use std::time::Duration;

use crate::buyers::Buyer;
use crate::buyers::caps::CapEvent;
use crate::buyers::circuit::Health;
use crate::config::Split;
use crate::protocol::answer::{LeadAnswer, Outcome, SaleAnswer, Timings};
use crate::protocol::bid::InvalidBid;
use crate::protocol::money::Micros;
use crate::protocol::post::PostRejection;
use crate::transport::TransportError;

/// Everything that happened in one auction.
#[derive(Debug)]
pub struct AuctionRecord {
    /// The lead.
    pub lead_id: Arc<str>,
    /// A test lead (never billed).
    pub test: bool,
    /// Offered shared (to more than one buyer), whatever number of buyers took it.
    pub shared: bool,
    /// One entry per buyer pinged, in ping order.
    pub pings: Vec<PingRecord>,
    /// Post attempts, in cascade order.
    pub posts: Vec<PostRecord>,
    /// The sales, in the order made: none (unsold), one (exclusive), or up to N (shared).
    pub sales: Vec<Sale>,
    /// Bids skipped in the cascade because a cap of their buyer filled first.
    pub capped: usize,
    /// Buyer events the auction caused (caps crossed, circuits moved), written with its
    /// outcome.
    pub buyer_events: Vec<BuyerEvent>,
    /// Phase durations.
    pub times: PhaseTimes,
}

/// One buyer's ping.
#[derive(Debug)]
pub struct PingRecord {
    /// Who.
    pub buyer: Arc<Buyer>,
    /// The id sent.
    pub ping_id: Arc<str>,
    /// What came of it.
    pub result: PingResult,
    /// Round trip, for answers received in time.
    pub latency: Option<Duration>,
    /// Its buyer was admitted as its circuit's half-open probe.
    pub probe: bool,
}

/// What a ping came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingResult {
    /// A valid bid.
    Bid {
        /// Price offered.
        price: Micros,
        /// The buyer's bid id.
        bid_id: Option<Box<str>>,
    },
    /// A fixed-price buyer's standing offer: it was not pinged.
    Fixed {
        /// Its fixed price.
        price: Micros,
    },
    /// The buyer declined.
    NoBid,
    /// An answer that is not a bid, and why.
    Invalid(InvalidBid),
    /// No answer by the deadline (a late answer is a timeout too).
    Timeout,
    /// The exchange failed (connect, protocol, oversized body).
    Failed(TransportError),
}

/// One post attempt.
#[derive(Debug)]
pub struct PostRecord {
    /// Index into [`AuctionRecord::pings`] of the bid posted against.
    pub ping: usize,
    /// The price posted (what the buyer pays if it accepts).
    pub price: Micros,
    /// What came of it.
    pub result: PostResult,
    /// How long it took.
    pub latency: Duration,
}

/// What a post came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostResult {
    /// Sold.
    Accepted {
        /// The buyer's id for the lead.
        buyer_lead_id: Option<Box<str>>,
    },
    /// Declined, error status or garbage.
    Rejected(PostRejection),
    /// No answer within the post timeout or the remaining budget.
    Timeout,
    /// The exchange failed.
    Failed(TransportError),
}

/// A sale to one buyer.
#[derive(Debug, Clone)]
pub struct Sale {
    /// Index into [`AuctionRecord::pings`] of the winning bid.
    pub ping: usize,
    /// Buyer id.
    pub buyer_id: Arc<str>,
    /// Price paid (the bid under first price; less under second price).
    pub price: Micros,
    /// The buyer's bid.
    pub bid: Micros,
    /// The price cut into the publisher's payout and the broker's margin.
    pub split: Split,
}

/// An event about a buyer that an auction caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyerEvent {
    /// A cap passed its threshold or filled.
    Cap(CapEvent),
    /// The buyer's circuit opened (`true`) or closed.
    Circuit {
        /// The buyer.
        buyer_id: Arc<str>,
        /// Opened or closed.
        opened: bool,
    },
}

impl PingResult {
    /// What this says about the buyer's health (its circuit breaker counts it): a broken
    /// exchange, a bad status or an answer not in the contract's shape is a failure; no answer
    /// in time a timeout. A no-bid or a bid with a bad price is the buyer's decision.
    pub fn health(&self) -> Health {
        match self {
            PingResult::Timeout => Health::TimedOut,
            PingResult::Failed(_) => Health::Failed,
            PingResult::Invalid(InvalidBid::Status | InvalidBid::Malformed) => Health::Failed,
            PingResult::Invalid(_) | PingResult::Bid { .. } | PingResult::Fixed { .. } | PingResult::NoBid => {
                Health::Ok
            }
        }
    }
}

impl PostResult {
    /// What this says about the buyer's health: a broken exchange, a 5xx or garbage is a
    /// failure; no answer in time a timeout. A declined post (or a 4xx) is the buyer's decision.
    pub fn health(&self) -> Health {
        match self {
            PostResult::Timeout => Health::TimedOut,
            PostResult::Failed(_) | PostResult::Rejected(PostRejection::Malformed) => Health::Failed,
            PostResult::Rejected(PostRejection::Status(status)) if *status >= 500 => Health::Failed,
            PostResult::Rejected(_) | PostResult::Accepted { .. } => Health::Ok,
        }
    }
}

/// Where the time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseTimes {
    /// Ping fan-out, first send to last answer waited for.
    pub ping: Duration,
    /// All posts.
    pub post: Duration,
    /// Intake to outcome.
    pub total: Duration,
    /// Time spent waiting on buyers (slowest in-time answer, or the deadline, plus posts).
    pub buyers: Duration,
}

impl AuctionRecord {
    /// Sold or unsold.
    pub fn outcome(&self) -> Outcome {
        if self.sales.is_empty() { Outcome::Unsold } else { Outcome::Sold }
    }

    /// What the buyers pay in all.
    pub fn revenue(&self) -> Micros {
        Micros(self.sales.iter().map(|s| s.price.0).sum())
    }

    /// What the publisher is paid in all.
    pub fn payout(&self) -> Micros {
        Micros(self.sales.iter().map(|s| s.split.payout.0).sum())
    }

    /// The engine's own share of the auction time.
    pub fn overhead(&self) -> Duration {
        self.times.total.saturating_sub(self.times.buyers)
    }

    /// The publisher's answer: its price is the publisher's payout (what the buyers pay stays
    /// with the broker), over every sale of a shared lead.
    pub fn answer(&self) -> LeadAnswer {
        let first = self.sales.first();
        LeadAnswer {
            lead_id: self.lead_id.to_string(),
            outcome: self.outcome(),
            price: first.map(|_| self.payout()),
            buyer_id: first.map(|s| s.buyer_id.to_string()),
            sales: self
                .sales
                .iter()
                .map(|s| SaleAnswer { buyer_id: s.buyer_id.to_string(), price: s.split.payout })
                .collect(),
            test: self.test,
            timings_ms: Timings::from_durations(self.times.ping, self.times.post, self.times.total),
        }
    }
}

/// A finished auction and the publisher it was for, on its way to the auction log.
pub type Finished = (Arc<str>, AuctionRecord);
