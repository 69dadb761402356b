//! Bids held between an auction's ping phase and its post phase: every ping so far, the
//! ranked bids of the tier that brought some, how many sales the lead may have, the tiers not
//! yet pinged, and what the bids are worth to the publisher. `POST /v1/leads` holds them for
//! microseconds; a publisher's `POST /v1/ping` for up to `[ping_post] hold_ms`, until its post.

use std::sync::Arc;
use std::time::Duration;

use super::rank::Candidate;
use super::record::{BuyerEvent, PingRecord};
use tokio::time::Instant;

use crate::protocol::lead::Profile;

use super::{Settings, pricing};
use crate::buyers::{Registry, Terms};
use crate::protocol::money::Micros;
use crate::store::UnixMs;

/// A lead's ping phase, done: its bids, held for its post.
#[derive(Debug)]
pub struct Held {
    /// The buyer snapshot the auction started with (later tiers come from it too).
    pub(super) registry: Arc<Registry>,
    /// The publisher's terms for this lead.
    pub(super) terms: Terms,
    /// The lead's vertical floor.
    pub(super) floor: Micros,
    /// Every ping so far, of every tier pinged.
    pub(super) pings: Vec<PingRecord>,
    /// The bids to post down, best first (empty: none).
    pub(super) ranked: Vec<Candidate>,
    /// How many of them may buy the lead.
    pub(super) want: usize,
    /// The last tier pinged (`None`: none yet).
    last_tier: Option<u8>,
    /// When the ping phase began.
    pub(super) started: Instant,
    /// Time spent pinging, all rounds.
    pub(super) ping_time: Duration,
    /// Time spent waiting on buyers' pings.
    pub(super) waited: Duration,
    /// Circuit transitions so far.
    pub(super) buyer_events: Vec<BuyerEvent>,
    /// What the held bids pay the publisher, if they sell (set once the ping phase is over).
    offer: Option<Micros>,
    /// The shortest bid lifetime among the buyers the offer counts on.
    bid_ttl: Option<Duration>,
}

impl Held {
    pub(super) fn new(registry: Arc<Registry>, terms: Terms, floor: Micros) -> Held {
        Held {
            registry,
            terms,
            floor,
            pings: Vec::new(),
            ranked: Vec::new(),
            want: 1,
            last_tier: None,
            started: Instant::now(),
            ping_time: Duration::ZERO,
            waited: Duration::ZERO,
            buyer_events: Vec::new(),
            offer: None,
            bid_ttl: None,
        }
    }

    /// The next tier to ping, if any is left: the lowest above the last one pinged.
    pub(super) fn next_tier(&self) -> Option<u8> {
        self.registry.tiers().iter().copied().find(|&t| self.last_tier.is_none_or(|last| t > last))
    }

    /// `tier` is being pinged.
    pub(super) fn pinging(&mut self, tier: u8) {
        self.last_tier = Some(tier);
    }

    /// Whether a tier was pinged already.
    pub(super) fn pinged_a_tier(&self) -> bool {
        self.last_tier.is_some()
    }

    /// Checks the held bids again at the post, against the buyer snapshot in force
    /// (`current`): each bid's buyer is looked up by id, and a bid is dropped whose buyer is
    /// gone or disabled, no longer wants the lead (its targeting or test mode changed), is
    /// paused, closed by its schedule or behind an open circuit, or whose own bid lifetime
    /// (`bid_ttl_ms`) has passed since the ping. Posts go out with the buyers' settings and caps
    /// as they are now, and later tiers come from `current`. Bids taken in the post's own request
    /// (`POST /v1/leads`: `earlier` false) on the same snapshot are left alone.
    pub(super) fn refresh(&mut self, current: &Arc<Registry>, lead: Profile<'_>, earlier: bool, now: UnixMs) {
        if !earlier && Arc::ptr_eq(&self.registry, current) {
            return;
        }
        let held_for = self.started.elapsed();
        let mut wanted = Vec::new();
        current.wants(lead, &mut wanted);
        let mut takes = vec![false; self.pings.len()];
        for (ping, takes) in self.pings.iter_mut().zip(&mut takes) {
            if let Some((index, buyer)) = current.find(&ping.buyer.id) {
                ping.buyer = Arc::clone(buyer);
                *takes = wanted.contains(&index)
                    && lead.test == buyer.test_mode
                    && buyer.still_takes(now)
                    && buyer.bid_ttl.is_none_or(|ttl| held_for < ttl);
            }
        }
        self.ranked.retain(|c| takes[c.ping]);
        self.registry = Arc::clone(current);
    }

    /// Prices the held bids for the publisher: the payout of each bid that would sell (the
    /// best, or the best N of a shared lead) at the price it would pay, summed.
    pub(super) fn price(&mut self, settings: &Settings) {
        let winners = self.want.min(self.ranked.len());
        if winners == 0 {
            return;
        }
        let mut offer = Micros(0);
        let mut ttl: Option<Duration> = None;
        for rank in 0..winners {
            let buyer = &self.pings[self.ranked[rank].ping].buyer;
            let price = pricing::price_at(settings, &self.ranked, rank, buyer, self.floor);
            offer = Micros(offer.0 + self.terms.payout.split(price).payout.0);
            if let Some(own) = buyer.bid_ttl {
                ttl = Some(ttl.map_or(own, |t| t.min(own)));
            }
        }
        self.offer = Some(offer);
        self.bid_ttl = ttl;
    }

    /// What the publisher is offered: its payout if the held bids sell as ranked (`None`: no
    /// bid). If the best buyer then rejects the post, the lead goes down the ranking and pays
    /// what that sale pays (usually less; with quality weights a lower-ranked bid may pay more).
    pub fn offer(&self) -> Option<Micros> {
        self.offer
    }

    /// How long the buyers the offer counts on honour their bids (`None`: no buyer said).
    pub fn bid_ttl(&self) -> Option<Duration> {
        self.bid_ttl
    }

    /// The circuit transitions the ping phase caused, taken out: a publisher's ping that may
    /// never be posted writes them at once rather than with the lead's outcome.
    pub fn take_buyer_events(&mut self) -> Vec<BuyerEvent> {
        std::mem::take(&mut self.buyer_events)
    }
}
