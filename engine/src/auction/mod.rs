//! The auction: select eligible buyers, ping them all under one deadline, rank the valid bids,
//! post down the ranking within the total budget, and return the full record. The decisions
//! (rank, cascade) are plain functions in their own files; `fanout` and `posting` do the I/O.

pub mod cascade;
mod circuits;
mod fanout;
pub mod journal;
pub mod log;
mod posting;
pub mod pricing;
pub mod rank;
pub mod record;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use fanout::TIMER_SLACK;
use journal::Journal;
use record::{AuctionRecord, PhaseTimes};

use crate::buyers::{Registry, Selection};
use crate::config::Pricing;
use crate::ops::metrics::EngineMetrics;
use crate::protocol::lead::Lead;
use crate::protocol::money::Micros;
use crate::transport::Transport;
use posting::Bids;

/// Auction timings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The ping deadline.
    pub ping_timeout: Duration,
    /// The whole auction's budget.
    pub total_timeout: Duration,
    /// First or second price.
    pub pricing: Pricing,
    /// Second price: how much above the next bid the winner pays.
    pub price_step: Micros,
}

impl Settings {
    /// The auction settings of a config.
    pub fn from_config(config: &crate::config::AuctionConfig) -> Settings {
        Settings {
            ping_timeout: Duration::from_millis(config.ping_timeout_ms.into()),
            total_timeout: Duration::from_millis(config.total_timeout_ms.into()),
            pricing: config.pricing,
            price_step: config.price_step,
        }
    }
}

/// A ping phase this much past its deadline means the engine itself was starved (the phase
/// never waits past the deadline on its own): its timeouts are not counted against buyers'
/// circuits.
const STARVED_AFTER: Duration = Duration::from_millis(20);

/// Who an auction is for, and which buyers it must leave out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offer<'a> {
    /// The publisher that sent the lead (per-publisher caps, and in the record).
    pub publisher_id: &'a str,
    /// Buyers that must not be offered this lead (dedupe: they already bought this person).
    pub exclude: &'a [Arc<str>],
}

/// Runs auctions over a transport.
#[derive(Debug)]
pub struct Auctioneer<T> {
    transport: T,
    settings: Settings,
    metrics: EngineMetrics,
    journal: Option<Journal>,
}

impl<T: Transport> Auctioneer<T> {
    /// An auctioneer sending through `transport`, writing nothing (benches measure the
    /// auction alone this way).
    pub fn new(transport: T, settings: Settings) -> Auctioneer<T> {
        Auctioneer { transport, settings, metrics: EngineMetrics::new(), journal: None }
    }

    /// Records each post's intent in `journal` before the post leaves.
    pub fn with_journal(mut self, journal: Journal) -> Auctioneer<T> {
        self.journal = Some(journal);
        self
    }

    /// Auctions one validated lead. `start` is when intake began, so the budget and the
    /// reported total include parsing and validation.
    pub async fn run(
        &self,
        registry: &Registry,
        lead: &Lead,
        lead_id: Arc<str>,
        start: Instant,
        offer: Offer<'_>,
    ) -> AuctionRecord {
        let mut selection = Selection::default();
        let wanted = crate::buyers::Wanted { tier: 1, exclusive: true, shared: false };
        registry.select(
            lead.profile(),
            offer.publisher_id,
            offer.exclude,
            wanted,
            crate::store::now_ms(),
            &mut selection,
        );
        let floor = registry.vertical_floor(&lead.vertical);
        let ping_started = Instant::now();
        let deadline = ping_started + self.settings.ping_timeout;
        let eligible = &selection.buyers;
        let phase = fanout::ping_all(&self.transport, registry, eligible, lead, floor, ping_started, deadline).await;
        let ping_time = ping_started.elapsed();

        let mut ranked = phase.candidates;
        rank::rank(&mut ranked);
        let post_started = Instant::now();
        let bids = Bids { pings: &phase.records, ranked: &ranked, floor };
        let posted = self.post_cascade(lead, &lead_id, offer.publisher_id, bids, start).await;
        let post_time = post_started.elapsed();
        // Circuits learn after the cascade (no breaker lock between the pings and the posts).
        // A ping phase that ended well past its deadline means this engine was starved of CPU:
        // its timeouts say nothing about the buyers, so they are not held against them.
        let starved = ping_time > self.settings.ping_timeout + STARVED_AFTER;
        let outcomes = circuits::Outcomes { eligible, probes: &selection.probes, count_timeouts: !starved };
        let mut buyer_events = circuits::record(&phase.records, &posted.posts, outcomes);
        buyer_events.extend(posted.cap_events);
        let (posts, sale) = (posted.posts, posted.sale);
        let posts_waited: Duration = posts.iter().map(|p| p.latency).sum();
        let times = PhaseTimes {
            ping: ping_time,
            post: post_time,
            total: start.elapsed(),
            buyers: phase.waited + posts_waited,
        };
        let capped = posted.capped;
        let record = AuctionRecord { lead_id, pings: phase.records, posts, sale, capped, buyer_events, times };
        self.count(&record);
        record
    }

    fn count(&self, record: &AuctionRecord) {
        let m = &self.metrics;
        if record.sale.is_some() {
            m.sold.increment(1)
        } else {
            m.unsold.increment(1)
        }
        m.auction_seconds.record(record.times.total.as_secs_f64());
        m.overhead_seconds.record(record.overhead().as_secs_f64());
        m.pings_sent.increment(record.pings.len() as u64);
    }

    /// Engine-wide metric handles (intake uses the in-flight gauge).
    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }
}
