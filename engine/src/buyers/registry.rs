//! The buyer registry: every configured buyer in its run-time form, plus the eligibility index.
//! A snapshot is immutable; a config change builds a new one, so no auction sees half a change.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use super::Eligibility;
use super::availability::Selection;
use super::caps::BuyerCaps;
use super::circuit::{Admit, Circuit};
use super::mapping::{JSON_CONTENT_TYPE, Mapping};
use super::schedule::{CompiledSchedule, ScheduleGate};
use crate::config::Config;
use crate::ops::metrics::BuyerMetrics;
use crate::protocol::bid::PriceLimits;
use crate::protocol::lead::Lead;
use crate::protocol::money::Micros;
use crate::store::{SaleRow, UnixMs};
use crate::transport::Endpoint;
use crate::transport::sign::Signer;

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
    /// Its caps, if it has any.
    pub caps: Option<BuyerCaps>,
    /// Its hours of operation, if it has a schedule.
    pub schedule: Option<ScheduleGate>,
    /// Its circuit breaker, unless turned off.
    pub circuit: Option<Circuit>,
    /// Per-buyer metric handles, registered once.
    pub metrics: BuyerMetrics,
    /// The buyer's payload mapping; `None` speaks v1.
    pub mapping: Option<Arc<Mapping>>,
}

/// All buyers and the index over them.
#[derive(Debug)]
pub struct Registry {
    buyers: Vec<Arc<Buyer>>,
    eligibility: Eligibility,
    /// Per-vertical floors, already raised to the global floor.
    floors: HashMap<Box<str>, Micros>,
    global_floor: Micros,
}

impl Registry {
    /// Builds the run-time registry from a validated config.
    pub fn from_config(config: &Config) -> Registry {
        let global_floor = config.auction.floor.unwrap_or_default();
        let buyers = config
            .buyers
            .iter()
            .map(|b| {
                let id: Arc<str> = b.id.as_str().into();
                // The config was validated, and validation compiles every mapping.
                let mapping =
                    b.mapping.as_ref().map(|m| Arc::new(Mapping::compile(m).expect("mapping validated at load")));
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
                let floor = b.floor.unwrap_or_default().max(global_floor);
                let caps = BuyerCaps::from_config(b, &id, floor);
                let metrics = BuyerMetrics::new(&b.id);
                let circuit = b.breaker.settings().map(|s| Circuit::new(s, metrics.circuit_state.clone()));
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
                })
            })
            .collect();
        let floors = config.auction.floors.iter().map(|(v, f)| (v.as_str().into(), (*f).max(global_floor))).collect();
        Registry { buyers, eligibility: Eligibility::build(&config.buyers), floors, global_floor }
    }

    /// Buyers that want this lead (vertical, state, ZIP, attributes), are not in `exclude`,
    /// and can take it now (not paused, within their schedule, below their caps, circuit
    /// closed), by index, into `out` (cleared first); the half-open circuits' probes among them
    /// also go to `out.probes`.
    pub fn select(&self, lead: &Lead, publisher_id: &str, exclude: &[Arc<str>], now: UnixMs, out: &mut Selection) {
        out.probes.clear();
        self.eligibility.select(lead, &mut out.buyers);
        out.buyers.retain(|&i| {
            let buyer = &self.buyers[i as usize];
            if exclude.contains(&buyer.id) {
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

    /// Counts sales found in the store into the buyers' caps (at start: counters survive a
    /// restart). Sales of buyers no longer configured are ignored.
    pub fn restore_sales(&self, sales: &[SaleRow], now: UnixMs) {
        let by_id: HashMap<&str, &Buyer> = self.buyers.iter().map(|b| (&*b.id, &**b)).collect();
        for sale in sales {
            if let Some(caps) = by_id.get(sale.buyer_id.as_str()).and_then(|b| b.caps.as_ref()) {
                caps.restore(&sale.publisher_id, Micros(sale.price), sale.at, now);
            }
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
