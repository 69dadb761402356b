//! The engine's typed configuration (`engine.toml`): every key of `shared/DESIGN.md`, with
//! defaults in one place, unknown keys refused, and every error naming its key
//! (`buyers[2].states[0]: unknown state "XX"`). Values are parsed into their final types here
//! (states, ZIP filters, money, URLs, key digests, signing secrets) so a config that loads is
//! a config that works.

mod buyer;
mod caps;
mod de;
mod dedupe;
mod entries;
mod live;
mod mapping;
mod ping_post;
mod publisher;
mod rate_limits;
mod schedule;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::protocol::money::Micros;

pub use buyer::{AttrRule, BuyerBreakerConfig, BuyerConfig, LeadType, RuleValue, TransportKind, ZipFilter};
pub use caps::{Caps, Limit, Period};
/// The `headers` table check, shared with the webhook API (same names refused, same errors).
pub use de::check_id;
pub(crate) use de::headers as parse_headers;
pub use de::{KeyDigest, SigningSecret};
pub use dedupe::{DedupeConfig, DedupeMode, DedupeRule, MatchOn, VerticalDedupe};
pub use entries::{EntryDoc, EntryKind};
pub use live::LiveConfig;
pub use mapping::{
    AcceptRulesConfig, BidRulesConfig, Encoding, FieldConfig, MappingConfig, MessageConfig, OneOrMany, RuleConfig,
};
pub use ping_post::PingPostConfig;
pub use publisher::{Payout, PublisherConfig, Sharing, SharingMode, SharingRule, Split};
pub use rate_limits::{RateLimit, RateLimits};
pub use schedule::{Hours, MINUTES_PER_DAY, Schedule, TimeRange};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Path of the embedded store (SQLite; created with its directory if missing).
    #[serde(default = "defaults::store")]
    pub store: PathBuf,
    /// `strict` (default): the lead is on disk before any buyer is pinged and the outcome with
    /// its events before the publisher gets its answer. `relaxed`: answer first, write after; a
    /// crash loses what was not yet written (see docs/configuration.md).
    #[serde(default)]
    pub durability: Durability,
    /// Auction timings and price limits.
    #[serde(default)]
    pub auction: AuctionConfig,
    /// Publisher-facing limits: body size, in-flight leads, idempotency, shutdown.
    #[serde(default)]
    pub intake: IntakeConfig,
    /// Publishers allowed to send leads.
    #[serde(default)]
    pub publishers: Vec<PublisherConfig>,
    /// Buyers that receive pings and posts.
    #[serde(default)]
    pub buyers: Vec<BuyerConfig>,
    /// Operators' keys for the admin API.
    #[serde(default)]
    pub admins: Vec<AdminConfig>,
    /// Requests per second each role's keys may make.
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// Return reasons buyers may give (the defaults when `[returns]` is absent).
    #[serde(default)]
    pub returns: ReturnsConfig,
    /// Publishers' ping/post: how long bids are held, the ping shield.
    #[serde(default)]
    pub ping_post: PingPostConfig,
    /// Webhook delivery settings.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Webhook subscriptions.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// Lead dedupe by phone and email within a window; absent means off.
    #[serde(default)]
    pub dedupe: Option<DedupeConfig>,
}

/// `[auction]`: one deadline for all pings, one budget for the whole auction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionConfig {
    /// The ping deadline: no answer after it counts as a bid.
    #[serde(default = "defaults::ping_timeout_ms")]
    pub ping_timeout_ms: u32,
    /// Budget for the whole auction, pings and every post of the cascade.
    #[serde(default = "defaults::total_timeout_ms")]
    pub total_timeout_ms: u32,
    /// Global floor: bids below it are invalid (a buyer's own floor may be higher).
    #[serde(default)]
    pub floor: Option<Micros>,
    /// Sanity maximum: a bid above it is a bug or an attack, and invalid.
    #[serde(default = "defaults::max_bid")]
    pub max_bid: Micros,
    /// Floors per vertical (`[auction.floors] auto_insurance = "5.00"`), above the global one.
    #[serde(default)]
    pub floors: std::collections::BTreeMap<String, Micros>,
    /// What the winner pays: its own bid (`first`, the default) or the next bid plus
    /// `price_step` (`second`).
    #[serde(default)]
    pub pricing: Pricing,
    /// Second price: how much above the next bid the winner pays.
    #[serde(default = "defaults::price_step")]
    pub price_step: Micros,
}

/// `auction.pricing`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pricing {
    /// The winner pays what it bid.
    #[default]
    First,
    /// The winner pays just enough to beat the next bid: that bid plus `price_step`, at least
    /// the floor, at most its own bid.
    Second,
}

/// `[intake]`: limits that protect the engine from publishers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// Largest lead body accepted (413 above).
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: usize,
    /// Leads being auctioned at once; above it intake answers 503 with `Retry-After`.
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight: usize,
    /// How long an `Idempotency-Key` is remembered.
    #[serde(default = "defaults::idempotency_ttl_s")]
    pub idempotency_ttl_s: u64,
    /// How many idempotency keys are remembered at most (bounded memory).
    #[serde(default = "defaults::idempotency_capacity")]
    pub idempotency_capacity: usize,
    /// On SIGTERM, how long in-flight auctions get to finish.
    #[serde(default = "defaults::shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
}

/// `[[admins]]`: operators' keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin id.
    pub id: String,
    /// SHA-256 of the admin key, in hex.
    pub key_sha256: KeyDigest,
}

/// `[returns]`: what buyers may say when they return a lead.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnsConfig {
    /// Reason codes a buyer may give when returning a lead (1 to [`MAX_RETURN_REASONS`], each
    /// shaped like an id); without the key, those of [`ReturnsConfig::default`].
    #[serde(default = "defaults::return_reasons")]
    pub reasons: Vec<String>,
}

/// Most return reasons: a buyer's engineer maps each to a code of its own CRM, and a list
/// longer than this is a free-text field in disguise.
pub const MAX_RETURN_REASONS: usize = 50;

impl Default for ReturnsConfig {
    /// `invalid_phone`, `invalid_email`, `duplicate`, `wrong_person`, `fraud`.
    fn default() -> ReturnsConfig {
        ReturnsConfig { reasons: defaults::return_reasons() }
    }
}

impl ReturnsConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        if self.reasons.is_empty() || self.reasons.len() > MAX_RETURN_REASONS {
            return Err(("reasons".into(), format!("list 1 to {MAX_RETURN_REASONS} reason codes")));
        }
        for (n, reason) in self.reasons.iter().enumerate() {
            de::check_id(reason).map_err(|m| (format!("reasons[{n}]"), m.to_owned()))?;
            if self.reasons[..n].contains(reason) {
                return Err((format!("reasons[{n}]"), format!("duplicate reason \"{reason}\"")));
            }
        }
        Ok(())
    }
}

/// `durability`: when the publisher's answer waits for the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Every write the answer depends on is committed before it is given.
    #[default]
    Strict,
    /// Writes are queued, not awaited: faster, and a crash loses the last moments.
    Relaxed,
}

/// `[delivery]`: webhook retry behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Delay before each attempt, in milliseconds (the first is normally 0); after the last
    /// the delivery is dead-lettered.
    #[serde(default = "defaults::retry_schedule_ms")]
    pub retry_schedule_ms: Vec<u64>,
    /// Allow webhook URLs on private, loopback and link-local addresses.
    #[serde(default)]
    pub allow_private_targets: bool,
    /// Timeout of one attempt.
    #[serde(default = "defaults::delivery_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts in flight at once per subscription.
    #[serde(default = "defaults::delivery_concurrency")]
    pub concurrency_per_endpoint: usize,
    /// Consecutive failed attempts that open an endpoint's circuit breaker.
    #[serde(default = "defaults::breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker holds deliveries before one probe goes through.
    #[serde(default = "defaults::breaker_cooloff_ms")]
    pub breaker_cooloff_ms: u64,
}

/// Most attempts a retry schedule may have: the default's 8 span a day and a half.
const MAX_RETRY_STEPS: usize = 20;

impl DeliveryConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        let err = |field: &str, message: &str| Err((field.to_owned(), message.to_owned()));
        if self.retry_schedule_ms.is_empty() || self.retry_schedule_ms.len() > MAX_RETRY_STEPS {
            return err("retry_schedule_ms", &format!("list 1 to {MAX_RETRY_STEPS} delays"));
        }
        if self.timeout_ms < 100 || self.timeout_ms > 60_000 {
            return err("timeout_ms", "must be between 100 and 60000");
        }
        if self.concurrency_per_endpoint == 0 || self.concurrency_per_endpoint > 1024 {
            return err("concurrency_per_endpoint", "must be between 1 and 1024");
        }
        if self.breaker_failures == 0 {
            return err("breaker_failures", "must be at least 1");
        }
        Ok(())
    }
}

impl WebhookConfig {
    fn validate(&self, delivery: &DeliveryConfig) -> Result<(), (String, String)> {
        if self.events.is_empty() {
            return Err(("events".into(), "list at least one event type (or \"*\")".into()));
        }
        for (i, event) in self.events.iter().enumerate() {
            if event != "*" && crate::protocol::event::EventType::parse(event).is_none() {
                return Err((format!("events[{i}]"), format!("unknown event type \"{event}\"")));
            }
        }
        crate::webhooks::ssrf::check_url(&self.url, delivery.allow_private_targets).map_err(|m| ("url".into(), m))?;
        if let Some(payload) = &self.payload {
            crate::webhooks::payload::PayloadSpec::from_value(payload)
                .map_err(|(field, m)| (crate::webhooks::payload::error_key(&field), m))?;
        }
        Ok(())
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry_schedule_ms: defaults::retry_schedule_ms(),
            allow_private_targets: false,
            timeout_ms: defaults::delivery_timeout_ms(),
            concurrency_per_endpoint: defaults::delivery_concurrency(),
            breaker_failures: defaults::breaker_failures(),
            breaker_cooloff_ms: defaults::breaker_cooloff_ms(),
        }
    }
}

/// `[[webhooks]]`: a subscription.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Subscription id.
    pub id: String,
    /// Where events are delivered.
    #[serde(deserialize_with = "de::http_uri")]
    pub url: http::Uri,
    /// Event types delivered.
    pub events: Vec<String>,
    /// Signing secret (`whsec_<base64>`).
    pub secret: SigningSecret,
    /// Extra headers sent with each delivery.
    #[serde(default, deserialize_with = "de::headers")]
    pub headers: de::Headers,
    /// Payload settings: which fields, renamed how, flat or nested (`webhooks::payload`).
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key has a bad value, is unknown, or is missing.
    #[error("config key `{key}`: {message}")]
    Key {
        /// Dotted path of the key, e.g. `buyers[0].ping_url`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::from_toml(&text)
    }

    /// Parses and validates config text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::Key { key: "(syntax)".into(), message: e.to_string().trim().to_owned() })?;
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let message = e.into_inner().message().trim().to_owned();
            ConfigError::Key { key: if key == "." { "(top level)".into() } else { key }, message }
        })?;
        config.keep_docs(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that span several keys (and those of each entry that need the rest of the
    /// config): run on every config before it is used, from the file or from the admin API.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key_err = |key: String, message: &str| ConfigError::Key { key, message: message.to_owned() };
        let a = &self.auction;
        if a.ping_timeout_ms < defaults::MIN_PING_TIMEOUT_MS {
            return Err(key_err("auction.ping_timeout_ms".into(), "must be at least 5 ms"));
        }
        if a.total_timeout_ms < a.ping_timeout_ms {
            return Err(key_err("auction.total_timeout_ms".into(), "must be at least auction.ping_timeout_ms"));
        }
        if !a.max_bid.is_positive() {
            return Err(key_err("auction.max_bid".into(), "must be above zero"));
        }
        if a.floor.is_some_and(|f| f.0 < 0 || f > a.max_bid) {
            return Err(key_err("auction.floor".into(), "must be between 0 and auction.max_bid"));
        }
        for (vertical, floor) in &a.floors {
            if !crate::protocol::lead::is_valid_vertical(vertical) {
                return Err(key_err(
                    format!("auction.floors.{vertical}"),
                    "not a vertical name (lowercase letters, digits, `_`)",
                ));
            }
            if floor.0 < 0 || *floor > a.max_bid {
                return Err(key_err(format!("auction.floors.{vertical}"), "must be between 0 and auction.max_bid"));
            }
        }
        if a.price_step.0 < 0 || a.price_step > a.max_bid {
            return Err(key_err("auction.price_step".into(), "must be between 0 and auction.max_bid"));
        }
        let i = &self.intake;
        if i.max_body_bytes < 1024 || i.max_in_flight == 0 || i.idempotency_capacity == 0 || i.idempotency_ttl_s == 0 {
            return Err(key_err(
                "intake".into(),
                "max_body_bytes must be at least 1024; max_in_flight, idempotency_capacity and idempotency_ttl_s at least 1",
            ));
        }
        self.rate_limits.validate().map_err(|(field, m)| key_err(format!("rate_limits.{field}"), m))?;
        unique_ids("publishers", self.publishers.iter().map(|p| p.id.as_str()))?;
        unique_ids("buyers", self.buyers.iter().map(|b| b.id.as_str()))?;
        unique_ids("admins", self.admins.iter().map(|a| a.id.as_str()))?;
        unique_ids("webhooks", self.webhooks.iter().map(|w| w.id.as_str()))?;
        self.delivery.validate().map_err(|(field, m)| key_err(format!("delivery.{field}"), &m))?;
        for (n, w) in self.webhooks.iter().enumerate() {
            w.validate(&self.delivery).map_err(|(field, m)| key_err(format!("webhooks[{n}].{field}"), &m))?;
        }
        self.ping_post.validate().map_err(|(field, m)| key_err(format!("ping_post.{field}"), m))?;
        for (n, p) in self.publishers.iter().enumerate() {
            p.validate().map_err(|(field, m)| key_err(format!("publishers[{n}].{field}"), &m))?;
        }
        self.unique_keys()?;
        for (n, b) in self.buyers.iter().enumerate() {
            b.validate(self).map_err(|(field, m)| key_err(format!("buyers[{n}].{field}"), &m))?;
            if let Some(mapping) = &b.mapping {
                crate::buyers::Mapping::compile(mapping)
                    .map_err(|(field, m)| key_err(format!("buyers[{n}].mapping.{field}"), &m))?;
            }
        }
        if let Some(dedupe) = &self.dedupe {
            dedupe.validate().map_err(|(field, m)| key_err(format!("dedupe.{field}"), &m))?;
        }
        self.returns.validate().map_err(|(field, m)| key_err(format!("returns.{field}"), &m))?;
        Ok(())
    }

    /// How many hours after a sale buyer `buyer_id` may return the lead: its
    /// `return_window_hours`, else the default (also for a buyer no longer configured, whose
    /// past purchases can still be returned); 0 means never.
    pub fn return_window_hours(&self, buyer_id: &str) -> u32 {
        self.buyers
            .iter()
            .find(|b| b.id == buyer_id)
            .and_then(|b| b.return_window_hours)
            .unwrap_or(defaults::RETURN_WINDOW_HOURS)
    }
}

impl Config {
    /// Every `key_sha256` once across publishers, buyers and admins: a key that two holders
    /// share would act as whichever one the lookup found.
    fn unique_keys(&self) -> Result<(), ConfigError> {
        let publishers =
            self.publishers.iter().enumerate().map(|(n, p)| (format!("publishers[{n}]"), Some(p.key_sha256)));
        let buyers = self.buyers.iter().enumerate().map(|(n, b)| (format!("buyers[{n}]"), b.key_sha256));
        let admins = self.admins.iter().enumerate().map(|(n, a)| (format!("admins[{n}]"), Some(a.key_sha256)));
        let mut seen: std::collections::HashMap<[u8; 32], String> = std::collections::HashMap::new();
        for (entry, digest) in publishers.chain(buyers).chain(admins) {
            let Some(digest) = digest else { continue };
            if let Some(first) = seen.insert(digest.0, entry.clone()) {
                return Err(ConfigError::Key {
                    key: format!("{entry}.key_sha256"),
                    message: format!("{first} has the same key; every key belongs to one holder"),
                });
            }
        }
        Ok(())
    }
}

fn unique_ids<'a>(table: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for (n, id) in ids.enumerate() {
        if !seen.insert(id) {
            return Err(ConfigError::Key {
                key: format!("{table}[{n}].id"),
                message: format!("duplicate id \"{id}\""),
            });
        }
    }
    Ok(())
}

impl Default for AuctionConfig {
    fn default() -> Self {
        AuctionConfig {
            ping_timeout_ms: defaults::ping_timeout_ms(),
            total_timeout_ms: defaults::total_timeout_ms(),
            floor: None,
            max_bid: defaults::max_bid(),
            floors: Default::default(),
            pricing: Pricing::First,
            price_step: defaults::price_step(),
        }
    }
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            max_body_bytes: defaults::max_body_bytes(),
            max_in_flight: defaults::max_in_flight(),
            idempotency_ttl_s: defaults::idempotency_ttl_s(),
            idempotency_capacity: defaults::idempotency_capacity(),
            shutdown_grace_ms: defaults::shutdown_grace_ms(),
        }
    }
}

/// Every default, in one place.
mod defaults {
    use super::Micros;

    /// Below this a ping deadline cannot be met even on loopback with timer slack.
    pub const MIN_PING_TIMEOUT_MS: u32 = 5;

    /// Three days: a buyer's call center works a lead within a day or two, and a bad phone or
    /// email shows on the first attempts.
    pub const RETURN_WINDOW_HOURS: u32 = 72;

    pub fn listen() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn store() -> std::path::PathBuf {
        "data/engine.db".into()
    }
    pub fn ping_timeout_ms() -> u32 {
        100
    }
    pub fn total_timeout_ms() -> u32 {
        1000
    }
    /// 1,000.00: no consumer lead sells for more; a bid above is a bug or an attack.
    pub fn max_bid() -> Micros {
        Micros::from_units(1000)
    }
    /// 64 KiB: a lead with generous consent text is under 8 KiB.
    pub fn max_body_bytes() -> usize {
        64 * 1024
    }
    /// Enough for thousands of auctions per second at 1 s each, small enough to shed load early.
    pub fn max_in_flight() -> usize {
        10_000
    }
    /// A day: publishers retry within minutes; a day covers their slowest retry queues.
    pub fn idempotency_ttl_s() -> u64 {
        24 * 3600
    }
    /// About 100 MB at most for remembered answers.
    pub fn idempotency_capacity() -> usize {
        500_000
    }
    /// Longer than the default total auction budget, so in-flight auctions can finish.
    pub fn shutdown_grace_ms() -> u64 {
        5_000
    }
    /// Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h: the Standard Webhooks schedule.
    pub fn retry_schedule_ms() -> Vec<u64> {
        vec![0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 86_400_000]
    }
    /// One cent.
    pub fn price_step() -> Micros {
        Micros(10_000)
    }
    pub fn delivery_timeout_ms() -> u64 {
        10_000
    }
    pub fn delivery_concurrency() -> usize {
        8
    }
    pub fn breaker_failures() -> u32 {
        5
    }
    pub fn breaker_cooloff_ms() -> u64 {
        30_000
    }
    /// A buyer's breaker: 10 failures in a row is a buyer down, whatever its volume.
    pub fn buyer_breaker_failures() -> u32 {
        10
    }
    /// Half of a buyer's pings failing is a buyer in trouble ...
    pub fn buyer_breaker_rate() -> f64 {
        0.5
    }
    /// ... once there are enough of them to say so.
    pub fn buyer_breaker_min_requests() -> u32 {
        20
    }
    /// Ten seconds: long enough for 20 pings at modest volume, short enough to react fast.
    pub fn buyer_breaker_window_ms() -> u64 {
        10_000
    }
    /// Thirty seconds without pings before one probe, as for webhook endpoints.
    pub fn buyer_breaker_cooloff_ms() -> u64 {
        30_000
    }
    pub fn yes() -> bool {
        true
    }
    /// The reasons that cover most returns; a broker lists its own in `[returns]`.
    pub fn return_reasons() -> Vec<String> {
        ["invalid_phone", "invalid_email", "duplicate", "wrong_person", "fraud"].map(String::from).to_vec()
    }
}

#[cfg(test)]
mod tests;
