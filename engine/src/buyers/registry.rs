//! The buyer registry: every configured buyer in its run-time form, plus the eligibility index.
//! A snapshot is immutable; a config change builds a new one, so no auction sees half a change.

use std::sync::Arc;
use std::time::Duration;

use super::Eligibility;
use super::mapping::{JSON_CONTENT_TYPE, Mapping};
use crate::config::Config;
use crate::ops::metrics::BuyerMetrics;
use crate::protocol::bid::PriceLimits;
use crate::protocol::lead::Lead;
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
                Arc::new(Buyer {
                    id,
                    endpoint: Arc::new(endpoint),
                    ping_timeout: b.timeout_ms.map(|ms| Duration::from_millis(ms.into())),
                    post_timeout: b.post_timeout_ms.map(|ms| Duration::from_millis(ms.into())),
                    limits: PriceLimits {
                        floor: b.floor.unwrap_or_default().max(global_floor),
                        max: config.auction.max_bid,
                    },
                    metrics: BuyerMetrics::new(&b.id),
                    mapping,
                })
            })
            .collect();
        Registry { buyers, eligibility: Eligibility::build(&config.buyers) }
    }

    /// Buyers eligible for this lead, by index, into `out` (cleared first).
    pub fn select(&self, lead: &Lead, out: &mut Vec<u32>) {
        self.eligibility.select(lead, out);
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
