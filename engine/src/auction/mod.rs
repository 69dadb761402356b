//! The auction: select eligible buyers, ping them all under one deadline, rank the valid bids,
//! post down the ranking within the total budget, and return the full record. Buyers in
//! priority tiers are auctioned tier by tier: a lead unsold in one goes to the next. The two
//! phases are separate calls ([`Auctioneer::ping`], [`Auctioneer::post`]) so a publisher's
//! ping can hold its bids ([`Held`]) until its post. The decisions (rank, plan, cascade,
//! pricing) are plain functions in their own files; `fanout` and `posting` do the I/O.

pub mod cascade;
mod circuits;
mod fanout;
mod held;
pub mod journal;
pub mod log;
pub mod plan;
mod posting;
pub mod pricing;
pub mod rank;
pub mod record;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use fanout::TIMER_SLACK;
pub use held::Held;
use journal::Journal;
use record::{AuctionRecord, PhaseTimes};

use crate::buyers::{Registry, Selection, Wanted};
use crate::config::{Pricing, SharingMode};
use crate::ops::metrics::EngineMetrics;
use crate::protocol::lead::{Lead, Profile};
use crate::protocol::money::Micros;
use crate::transport::Transport;
use posting::{Bids, Posted};

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
    /// The publisher that sent the lead (its terms, per-publisher caps, and in the record).
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

    /// Auctions one validated lead: [`ping`](Self::ping) then [`post`](Self::post). `start` is
    /// when intake began, so the budget and the reported total include parsing and validation.
    pub async fn run(
        &self,
        registry: &Arc<Registry>,
        lead: &Lead,
        lead_id: Arc<str>,
        start: Instant,
        offer: Offer<'_>,
    ) -> AuctionRecord {
        let held = self.ping(Arc::clone(registry), lead.profile(), offer, start).await;
        self.post(held, registry, lead, lead_id, start, offer).await
    }

    /// The ping phase: tier by tier (ascending), pings the eligible buyers of the kinds of lead
    /// the publisher's sharing rule offers, under one deadline per tier, until a tier brings
    /// valid bids, the tiers run out, or the total budget (from `start`) does. The bids are
    /// held, ranked, with the tiers not yet pinged. Only the lead's profile is needed: no contact
    /// data exists here.
    pub async fn ping(&self, registry: Arc<Registry>, lead: Profile<'_>, offer: Offer<'_>, start: Instant) -> Held {
        let terms = registry.terms(offer.publisher_id, lead.vertical);
        let floor = registry.vertical_floor(lead.vertical);
        let mut held = Held::new(registry, terms, floor);
        self.next_round(&mut held, lead, offer, start).await;
        held.price(&self.settings);
        held
    }

    /// The post phase: posts the full lead down the held bids (skipping buyers in
    /// `offer.exclude`), one buyer at a time, until the lead has its sales or the bids or the
    /// budget (from `start`) run out; a lead still unsold goes on to the tiers not yet pinged.
    /// Bids held since an earlier request move to the buyer snapshot in force, `registry`
    /// ([`Held::refresh`]); the record's times are then this request's alone.
    pub async fn post(
        &self,
        mut held: Held,
        registry: &Arc<Registry>,
        lead: &Lead,
        lead_id: Arc<str>,
        start: Instant,
        offer: Offer<'_>,
    ) -> AuctionRecord {
        // A publisher's ping was an earlier request: its bids are checked again, and its phase
        // is not this one's time.
        let earlier = held.started < start;
        held.refresh(registry, lead.profile(), earlier, crate::store::now_ms());
        let (earlier_ping, earlier_wait) =
            if earlier { (held.ping_time, held.waited) } else { (Duration::ZERO, Duration::ZERO) };
        let mut posted = Posted::default();
        let mut post_time = Duration::ZERO;
        loop {
            let mut ranked = std::mem::take(&mut held.ranked);
            ranked.retain(|c| !offer.exclude.contains(&held.pings[c.ping].buyer.id));
            let post_started = Instant::now();
            let bids = Bids { pings: &held.pings, ranked: &ranked, floor: held.floor, want: held.want };
            self.post_cascade(lead, &lead_id, offer.publisher_id, bids, held.terms.payout, start, &mut posted).await;
            post_time += post_started.elapsed();
            if !posted.sales.is_empty() || held.next_tier().is_none() {
                break;
            }
            self.next_round(&mut held, lead.profile(), offer, start).await;
            if held.ranked.is_empty() {
                break;
            }
        }
        circuits::record_posts(&held.pings, &posted.posts, &mut held.buyer_events);
        held.buyer_events.extend(posted.cap_events);
        let times = PhaseTimes {
            ping: held.ping_time.saturating_sub(earlier_ping),
            post: post_time,
            total: start.elapsed(),
            buyers: held.waited.saturating_sub(earlier_wait) + posted.waited,
        };
        let record = AuctionRecord {
            lead_id,
            test: lead.test,
            shared: held.want > 1,
            pings: held.pings,
            posts: posted.posts,
            sales: posted.sales,
            capped: posted.capped,
            buyer_events: held.buyer_events,
            times,
        };
        self.count(&record);
        record
    }

    /// Pings the next tiers until one brings bids (left in `held.ranked`) or none is left or the
    /// budget is spent. The first tier is pinged with whatever budget is left; a later one only
    /// with a whole ping deadline and a post's worth left (a tier cut short would time its
    /// buyers out, and their circuits would count it).
    async fn next_round(&self, held: &mut Held, lead: Profile<'_>, offer: Offer<'_>, start: Instant) {
        let wanted_kinds = held.terms.sharing.mode;
        let mut selection = Selection::default();
        while let Some(tier) = held.next_tier() {
            let left = self.settings.total_timeout.saturating_sub(start.elapsed());
            let needed = if held.pinged_a_tier() { self.settings.ping_timeout } else { Duration::ZERO };
            if left < needed + cascade::MIN_POST_BUDGET {
                return;
            }
            held.pinging(tier);
            let wanted = Wanted {
                tier,
                exclusive: wanted_kinds != SharingMode::Shared,
                shared: wanted_kinds != SharingMode::Exclusive,
            };
            let now = crate::store::now_ms();
            held.registry.select(lead, offer.publisher_id, offer.exclude, wanted, now, &mut selection);
            if selection.buyers.is_empty() {
                continue;
            }
            let ping_timeout = self.settings.ping_timeout.min(left);
            let ping_started = Instant::now();
            let deadline = ping_started + ping_timeout;
            let eligible = &selection.buyers;
            let (registry, first) = (&held.registry, held.pings.len());
            let phase =
                fanout::ping_all(&self.transport, registry, eligible, lead, held.floor, ping_started, deadline, first)
                    .await;
            let ping_time = ping_started.elapsed();
            // A ping phase that ended well past its deadline means this engine was starved of
            // CPU: its timeouts say nothing about the buyers, so they are not held against them.
            let starved = ping_time > ping_timeout + STARVED_AFTER;
            let mut records = phase.records;
            for (record, index) in records.iter_mut().zip(eligible) {
                record.probe = selection.probes.contains(index);
            }
            circuits::record_pings(&records, !starved, &mut held.buyer_events);
            let sent = records.iter().filter(|r| r.buyer.fixed_price.is_none()).count();
            self.metrics.pings_sent.increment(sent as u64);
            held.ping_time += ping_time;
            held.waited += phase.waited;
            held.pings.extend(records);
            let mut ranked = phase.candidates;
            rank::rank(&mut ranked);
            let pings = &held.pings;
            let buyer = |c: &rank::Candidate| (pings[c.ping].buyer.buys_exclusive, pings[c.ping].buyer.buys_shared);
            let plan = plan::plan(held.terms.sharing, ranked, buyer);
            if !plan.ranked.is_empty() {
                held.ranked = plan.ranked;
                held.want = plan.want;
                return;
            }
        }
    }

    fn count(&self, record: &AuctionRecord) {
        let m = &self.metrics;
        if !record.sales.is_empty() {
            m.sold.increment(1)
        } else {
            m.unsold.increment(1)
        }
        m.auction_seconds.record(record.times.total.as_secs_f64());
        m.overhead_seconds.record(record.overhead().as_secs_f64());
    }

    /// Engine-wide metric handles (intake uses the in-flight gauge).
    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }
}
