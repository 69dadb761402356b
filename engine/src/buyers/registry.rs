//! The buyer registry: every configured buyer in its run-time form, plus the eligibility index.
//! A snapshot is immutable; a config change builds a new one ([`Registry::next`]) and
//! [`LiveRegistry`] swaps it in whole: each auction takes one snapshot at its start and uses
//! only that one, so no auction sees half a change.
//!
//! State that must outlive a change is carried into the new snapshot for the buyers that stay:
//! the cap ledgers (while the buyer's caps, floor and zone are unchanged), the circuit breaker
//! (while its settings are unchanged), the compiled mapping (likewise) and the metric handles.
//! A buyer whose caps changed gets fresh ledgers, which the caller fills from the store's
//! sales ([`Registry::restore_sales`] with [`Next::fresh_caps`]) before the swap.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::Eligibility;
use super::availability::Selection;
use super::caps::BuyerCaps;
use super::circuit::{Admit, Circuit};
use super::mapping::{JSON_CONTENT_TYPE, Mapping};
use super::rotation::Turns;
use super::schedule::{CompiledSchedule, ScheduleGate};
use crate::config::{BuyerBreakerConfig, BuyerConfig, Caps, Config, LeadType, MappingConfig, Payout, Sharing};
use crate::ops::metrics::BuyerMetrics;
use crate::protocol::bid::PriceLimits;
use crate::protocol::lead::Profile;
use crate::protocol::money::Micros;
use crate::store::{SaleRow, UnixMs};
use crate::transport::Endpoint;
use crate::transport::sign::Signer;

/// How far back sales are read to rebuild cap counters: longer than any cap window (a
/// calendar month in any zone began at most 33 days ago).
pub const SALES_LOOKBACK_MS: i64 = 33 * 24 * 3_600_000;

/// A buyer as the auction uses it.
#[derive(Debug)]
pub struct Buyer {
    /// Buyer id.
    pub id: Arc<str>,
    /// How to reach it.
    pub endpoint: Arc<Endpoint>,
    /// The buyer's own ping timeout, if shorter than the auction's.
    pub ping_timeout: Option<Duration>,
    /// The buyer's post timeout, if set.
    pub post_timeout: Option<Duration>,
    /// Floor (the higher of the buyer's and the global one) and sanity maximum.
    pub limits: PriceLimits,
    /// Ranking weight of its bids (`quality_weight`).
    pub weight: f64,
    /// Paused: configured, counted, not pinged.
    pub paused: bool,
    /// Its caps, if it has any (shared with the next snapshot while they are unchanged).
    pub caps: Option<Arc<BuyerCaps>>,
    /// Its hours of operation, if it has a schedule.
    pub schedule: Option<ScheduleGate>,
    /// Its circuit breaker, unless turned off (shared with the next snapshot while its
    /// settings are unchanged).
    pub circuit: Option<Arc<Circuit>>,
    /// Per-buyer metric handles, registered once per buyer id.
    pub metrics: Arc<BuyerMetrics>,
    /// The buyer's payload mapping; `None` speaks v1.
    pub mapping: Option<Arc<Mapping>>,
    /// A disabled buyer stays in the registry (its state carries over) but takes no lead.
    pub enabled: bool,
    /// Priority tier (1 first).
    pub tier: u8,
    /// A fixed-price buyer's price: it is never pinged and ranks at this price.
    pub fixed_price: Option<Micros>,
    /// Buys exclusive leads.
    pub buys_exclusive: bool,
    /// Buys shared leads.
    pub buys_shared: bool,
    /// In test mode: receives test leads, and only those.
    pub test_mode: bool,
    /// How long it honours a bid.
    pub bid_ttl: Option<Duration>,
    /// Its place in the rotation among equal offers (carried across swaps).
    pub turns: Arc<Turns>,
    /// `round_robin_weight`.
    pub round_robin_weight: u32,
    /// The settings its carried state was built from.
    settings: Carried,
}

/// The settings a buyer's carried state depends on: unchanged settings, same state.
#[derive(Debug, PartialEq)]
struct Carried {
    /// `caps`.
    caps: Option<Caps>,
    /// The zone the caps count in (`caps.timezone`, else the schedule's).
    zone: Option<String>,
    /// The effective floor (a budget with less left is full).
    floor: Micros,
    /// `breaker`.
    breaker: BuyerBreakerConfig,
    /// `mapping`.
    mapping: Option<MappingConfig>,
}

impl Carried {
    fn of(buyer: &BuyerConfig, floor: Micros) -> Carried {
        let zone = buyer.caps.as_ref().and_then(|c| c.timezone.clone());
        Carried {
            caps: buyer.caps.clone(),
            zone: zone.or_else(|| buyer.schedule.as_ref().map(|s| s.timezone.name().to_owned())),
            floor,
            breaker: buyer.breaker.clone(),
            mapping: buyer.mapping.clone(),
        }
    }

    fn same_caps(&self, other: &Carried) -> bool {
        self.caps == other.caps && self.zone == other.zone && self.floor == other.floor
    }
}

/// The buyer snapshot in force, swapped whole by the admin API.
#[derive(Debug)]
pub struct LiveRegistry(ArcSwap<Registry>);

impl LiveRegistry {
    /// Starts with `registry`.
    pub fn new(registry: Registry) -> LiveRegistry {
        LiveRegistry(ArcSwap::from_pointee(registry))
    }

    /// The snapshot now: an auction takes it once and uses only it.
    pub fn current(&self) -> Arc<Registry> {
        self.0.load_full()
    }

    /// Puts `registry` in force for the auctions that start from now on.
    pub fn replace(&self, registry: Registry) {
        self.0.store(Arc::new(registry));
    }
}

/// A registry built to follow another, and which buyers need their cap counters rebuilt.
#[derive(Debug)]
pub struct Next {
    /// The new snapshot.
    pub registry: Registry,
    /// Buyers with caps whose ledgers are new (a new buyer, or changed caps): empty until
    /// filled from the store's sales.
    pub fresh_caps: Vec<Arc<str>>,
}

/// Which buyers one round of an auction is for: a tier, and the kinds of lead on offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// Only buyers of this tier.
    pub tier: u8,
    /// Buyers of exclusive leads are wanted.
    pub exclusive: bool,
    /// Buyers of shared leads are wanted.
    pub shared: bool,
}

/// A publisher's terms for one lead: how its sales are shared and what it is paid of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// Exclusive, shared or mixed, and how many buyers at most.
    pub sharing: Sharing,
    /// What the publisher is paid of each sale.
    pub payout: Payout,
}

/// All buyers and the index over them.
#[derive(Debug)]
pub struct Registry {
    buyers: Vec<Arc<Buyer>>,
    eligibility: Eligibility,
    /// The tiers enabled buyers are in, ascending, each once.
    tiers: Vec<u8>,
    /// Buyer ids to their index.
    by_id: HashMap<Box<str>, u32>,
    /// Publishers' terms by id, as configured (sharing rules by vertical, payout).
    publishers: HashMap<Box<str>, crate::config::PublisherConfig>,
    /// Per-vertical floors, already raised to the global floor.
    floors: HashMap<Box<str>, Micros>,
    global_floor: Micros,
}

impl Registry {
    /// Builds the run-time registry from a validated config.
    pub fn from_config(config: &Config) -> Registry {
        Registry::build(config, &HashMap::new()).registry
    }

    /// The registry for `config` (validated), carrying this one's state over for the buyers
    /// that stay (see the module's doc).
    pub fn next(&self, config: &Config) -> Next {
        let previous = self.buyers.iter().map(|b| (&*b.id, &**b)).collect();
        Registry::build(config, &previous)
    }

    fn build(config: &Config, previous: &HashMap<&str, &Buyer>) -> Next {
        let global_floor = config.auction.floor.unwrap_or_default();
        let mut fresh_caps = Vec::new();
        let buyers = config
            .buyers
            .iter()
            .map(|b| {
                let floor = b.floor.unwrap_or_default().max(global_floor);
                let settings = Carried::of(b, floor);
                let before = previous.get(b.id.as_str()).copied();
                let id: Arc<str> = before.map_or_else(|| b.id.as_str().into(), |old| Arc::clone(&old.id));
                let mapping = match before.filter(|old| old.settings.mapping == settings.mapping) {
                    Some(old) => old.mapping.clone(),
                    // The config was validated, and validation compiles every mapping.
                    None => {
                        b.mapping.as_ref().map(|m| Arc::new(Mapping::compile(m).expect("mapping validated at load")))
                    }
                };
                let (ping_content_type, post_content_type) =
                    mapping.as_ref().map_or((JSON_CONTENT_TYPE, JSON_CONTENT_TYPE), |m| m.content_types());
                let endpoint = Endpoint {
                    buyer_id: Arc::clone(&id),
                    ping_url: b.ping_url.clone(),
                    post_url: b.post_url.clone(),
                    headers: b.headers.clone(),
                    signer: b.secret.as_ref().map(|s| Signer::new(&s.0)),
                    version: b.transport,
                    ping_content_type,
                    post_content_type,
                };
                let caps = match before.filter(|old| old.settings.same_caps(&settings)) {
                    Some(old) => old.caps.clone(),
                    None => {
                        let caps = BuyerCaps::from_config(b, &id, floor).map(Arc::new);
                        if caps.is_some() {
                            fresh_caps.push(Arc::clone(&id));
                        }
                        caps
                    }
                };
                let metrics = before.map_or_else(|| Arc::new(BuyerMetrics::new(&b.id)), |old| Arc::clone(&old.metrics));
                let circuit = match before.filter(|old| old.settings.breaker == settings.breaker) {
                    Some(old) => old.circuit.clone(),
                    None => b.breaker.settings().map(|s| Arc::new(Circuit::new(s, metrics.circuit_state.clone()))),
                };
                Arc::new(Buyer {
                    id,
                    endpoint: Arc::new(endpoint),
                    ping_timeout: b.timeout_ms.map(|ms| Duration::from_millis(ms.into())),
                    post_timeout: b.post_timeout_ms.map(|ms| Duration::from_millis(ms.into())),
                    limits: PriceLimits { floor, max: config.auction.max_bid },
                    weight: b.quality_weight,
                    paused: b.paused,
                    caps,
                    schedule: b.schedule.as_ref().map(|s| ScheduleGate::new(CompiledSchedule::new(s))),
                    circuit,
                    metrics,
                    mapping,
                    enabled: b.enabled,
                    tier: b.tier,
                    fixed_price: b.fixed_price,
                    buys_exclusive: b.buys(LeadType::Exclusive),
                    buys_shared: b.buys(LeadType::Shared),
                    test_mode: b.test_mode,
                    bid_ttl: b.bid_ttl_ms.map(|ms| Duration::from_millis(ms.into())),
                    turns: before.map_or_else(Arc::default, |old| Arc::clone(&old.turns)),
                    round_robin_weight: b.round_robin_weight,
                    settings,
                })
            })
            .collect();
        let floors = config.auction.floors.iter().map(|(v, f)| (v.as_str().into(), (*f).max(global_floor))).collect();
        let mut tiers: Vec<u8> = config.buyers.iter().filter(|b| b.enabled).map(|b| b.tier).collect();
        tiers.sort_unstable();
        tiers.dedup();
        let publishers = config.publishers.iter().map(|p| (p.id.as_str().into(), p.clone())).collect();
        let by_id = config.buyers.iter().zip(0..).map(|(b, i)| (b.id.as_str().into(), i)).collect();
        let registry = Registry {
            buyers,
            eligibility: Eligibility::build(&config.buyers),
            tiers,
            by_id,
            publishers,
            floors,
            global_floor,
        };
        Next { registry, fresh_caps }
    }

    /// Buyers of the `wanted` tier and lead kind that want this lead (vertical, state, ZIP,
    /// attributes; a test lead only buyers in test mode, a real one only buyers out of it; a
    /// fixed price at least the lead's floor), are not in `exclude`, and can take it
    /// now (not paused, within their schedule, below their caps, circuit closed), by index, into
    /// `out` (cleared first); the half-open circuits' probes among them also go to `out.probes`.
    pub fn select(
        &self,
        lead: Profile<'_>,
        publisher_id: &str,
        exclude: &[Arc<str>],
        wanted: Wanted,
        now: UnixMs,
        out: &mut Selection,
    ) {
        out.probes.clear();
        self.eligibility.select(lead, &mut out.buyers);
        let floor = self.vertical_floor(lead.vertical);
        out.buyers.retain(|&i| {
            let buyer = &self.buyers[i as usize];
            let kind = (wanted.exclusive && buyer.buys_exclusive) || (wanted.shared && buyer.buys_shared);
            // A fixed price is the buyer's only bid: below the lead's floor it has none.
            let below_floor = buyer.fixed_price.is_some_and(|p| p < buyer.limits.floor.max(floor));
            if buyer.tier != wanted.tier
                || !kind
                || lead.test != buyer.test_mode
                || below_floor
                || exclude.contains(&buyer.id)
            {
                return false;
            }
            match buyer.availability(publisher_id, now) {
                Ok(Admit::Go) => true,
                Ok(Admit::Probe) => {
                    out.probes.push(i);
                    true
                }
                Err(skip) => {
                    buyer.metrics.skipped(skip);
                    false
                }
            }
        });
    }

    /// Counts sales found in the store into the caps of the buyers `only` names (all of them
    /// when `None`): at start, so counters survive a restart; after a change, into the fresh
    /// ledgers before the snapshot is put in force. Sales of buyers not configured are ignored.
    pub fn restore_sales(&self, sales: &[SaleRow], only: Option<&[Arc<str>]>, now: UnixMs) {
        let by_id: HashMap<&str, &Buyer> =
            self.buyers.iter().filter(|b| only.is_none_or(|ids| ids.contains(&b.id))).map(|b| (&*b.id, &**b)).collect();
        for sale in sales {
            if let Some(caps) = by_id.get(sale.buyer_id.as_str()).and_then(|b| b.caps.as_ref()) {
                caps.restore(&sale.publisher_id, Micros(sale.price), sale.at, now);
            }
        }
    }

    /// The enabled buyer `id` and its index, if there is one.
    pub fn find(&self, id: &str) -> Option<(u32, &Arc<Buyer>)> {
        self.by_id.get(id).map(|&i| (i, &self.buyers[i as usize])).filter(|(_, b)| b.enabled)
    }

    /// The enabled buyers whose targeting (vertical, state, ZIP, attributes) wants `lead`, by
    /// index, into `out`: no availability check, no tier.
    pub fn wants(&self, lead: Profile<'_>, out: &mut Vec<u32>) {
        self.eligibility.select(lead, out);
    }

    /// The tiers of enabled buyers, ascending.
    pub fn tiers(&self) -> &[u8] {
        &self.tiers
    }

    /// `publisher_id`'s terms for a lead of `vertical` (an unknown publisher: exclusive, paid
    /// all of the price).
    pub fn terms(&self, publisher_id: &str, vertical: &str) -> Terms {
        match self.publishers.get(publisher_id) {
            Some(p) => Terms { sharing: p.sharing(vertical), payout: p.payout },
            None => Terms { sharing: Sharing::EXCLUSIVE, payout: Payout::default() },
        }
    }

    /// The floor of a vertical: its own (`auction.floors`) or the global one.
    pub fn vertical_floor(&self, vertical: &str) -> Micros {
        self.floors.get(vertical).copied().unwrap_or(self.global_floor)
    }

    /// The buyer at an index from [`Registry::select`].
    pub fn buyer(&self, index: u32) -> &Arc<Buyer> {
        &self.buyers[index as usize]
    }

    /// Number of buyers.
    pub fn len(&self) -> usize {
        self.buyers.len()
    }

    /// True when no buyer is configured.
    pub fn is_empty(&self) -> bool {
        self.buyers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn config(ping: &str, caps: &str) -> Config {
        Config::from_toml(&format!(
            r#"
[[publishers]]
id = "pub1"
key_sha256 = "{DIGEST}"
[[buyers]]
id = "acme"
ping_url = "http://127.0.0.1:9001/{ping}/ping"
post_url = "http://127.0.0.1:9001/acme/post"
verticals = ["auto_insurance"]
caps = {{ {caps} }}
"#
        ))
        .expect("valid")
    }

    /// Sells one lead to the registry's only buyer.
    fn sell(registry: &Registry, now: UnixMs) {
        let caps = registry.buyer(0).caps.as_ref().expect("capped");
        let hold = caps.reserve("pub1", Micros::from_units(1), now).expect("room");
        hold.commit(now, &mut Vec::new());
    }

    #[test]
    fn a_swap_keeps_a_buyers_cap_counts_when_its_caps_are_unchanged() {
        let now = 1_795_435_200_000;
        let before = Registry::from_config(&config("a1", "daily = 1"));
        sell(&before, now);
        assert!(!before.buyer(0).caps.as_ref().expect("capped").has_room("pub1", now), "the one lead is sold");

        let next = before.next(&config("a2", "daily = 1"));
        let buyer = next.registry.buyer(0);
        assert_eq!(buyer.endpoint.ping_url.as_ref().map(http::Uri::path), Some("/a2/ping"), "the change is in");
        assert!(next.fresh_caps.is_empty(), "unchanged caps need no rebuild");
        assert!(!buyer.caps.as_ref().expect("capped").has_room("pub1", now), "the sale still counts after the swap");
        assert!(Arc::ptr_eq(&buyer.metrics, &before.buyer(0).metrics), "same metric handles");
        let (old_circuit, new_circuit) = (before.buyer(0).circuit.as_ref(), buyer.circuit.as_ref());
        assert!(old_circuit.zip(new_circuit).is_some_and(|(a, b)| Arc::ptr_eq(a, b)), "same breaker");
    }

    #[test]
    fn a_swap_that_changes_a_buyers_caps_asks_for_their_rebuild_from_the_store() {
        let now = 1_795_435_200_000;
        let before = Registry::from_config(&config("a1", "daily = 1"));
        sell(&before, now);
        let next = before.next(&config("a1", "daily = 1, hourly = 5"));
        assert_eq!(next.fresh_caps, vec![Arc::<str>::from("acme")]);
        let caps = next.registry.buyer(0).caps.as_ref().expect("capped");
        assert!(caps.has_room("pub1", now), "fresh ledgers start empty");
        let sale = SaleRow { buyer_id: "acme".into(), publisher_id: "pub1".into(), price: 1_000_000, at: now };
        next.registry.restore_sales(&[sale], Some(&next.fresh_caps), now);
        assert!(!caps.has_room("pub1", now), "filled from the store's sales");
    }
}
