//! `[[buyers]]`: who gets pinged for what, and how to reach them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::caps::Caps;
use super::de::{self, Headers, KeyDigest, SigningSecret};
use super::{Config, Schedule, defaults};
use crate::breaker::{BreakerSettings, RateRule, WINDOW_BUCKETS};
use crate::protocol::geo::{State, Zip};
use crate::protocol::money::Micros;

/// One buyer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyerConfig {
    /// Buyer id: in metrics, answers and logs.
    pub id: String,
    /// Where pings go (a fixed-price buyer, never pinged, may leave it out).
    #[serde(default, deserialize_with = "de::optional_http_uri")]
    pub ping_url: Option<http::Uri>,
    /// Where posts go.
    #[serde(deserialize_with = "de::http_uri")]
    pub post_url: http::Uri,
    /// Verticals the buyer wants.
    pub verticals: Vec<String>,
    /// States the buyer wants; empty means all.
    #[serde(default, deserialize_with = "de::states")]
    pub states: Vec<State>,
    /// ZIP codes (`"98004"`) or prefixes (`"980"` or `"980*"`) the buyer wants; empty means all.
    #[serde(default)]
    pub zips: Vec<ZipFilter>,
    /// Rules on other attributes: a value (equals), a list (one of), or `{ min, max }`.
    #[serde(default, alias = "attribute_rules")]
    pub attributes: BTreeMap<String, AttrRule>,
    /// The buyer's floor: lower bids are invalid.
    #[serde(default)]
    pub floor: Option<Micros>,
    /// Ranking weight of this buyer's bids (a quality score): bids rank by price times weight;
    /// the buyer is charged its own price (or less, under second-price). Default 1.
    #[serde(default = "one")]
    pub quality_weight: f64,
    /// The buyer's own ping timeout; the auction's deadline still bounds it.
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// How long a post to this buyer may take; the auction's total budget still bounds it.
    #[serde(default)]
    pub post_timeout_ms: Option<u32>,
    /// Extra headers on every ping and post (e.g. the buyer's API key).
    #[serde(default, deserialize_with = "de::headers")]
    pub headers: Headers,
    /// Signs pings and posts (Standard Webhooks) when set.
    #[serde(default)]
    pub secret: Option<SigningSecret>,
    /// HTTP version spoken to the buyer.
    #[serde(default)]
    pub transport: TransportKind,
    /// A disabled buyer is never pinged.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A paused buyer keeps its settings and counters but is not pinged until unpaused.
    #[serde(default)]
    pub paused: bool,
    /// SHA-256 of the buyer's API key (status, returns, pull).
    #[serde(default)]
    pub key_sha256: Option<KeyDigest>,
    /// Lead and spend caps.
    #[serde(default)]
    pub caps: Option<Caps>,
    /// Hours of operation.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// The buyer's circuit breaker (on by default).
    #[serde(default)]
    pub breaker: BuyerBreakerConfig,
    /// How long after a sale the buyer may return the lead, in hours (unset: 72; 0: never).
    /// Read through `Config::return_window_hours`.
    #[serde(default)]
    pub return_window_hours: Option<u32>,
    /// Payload mapping for a buyer that does not speak v1 (docs/buyers.md, "Payload mapping").
    #[serde(default)]
    pub mapping: Option<super::MappingConfig>,
    /// Priority tier, 1 (default) to 10: tier 1's auction runs first; a lead unsold there goes
    /// to the next tier, within the total budget.
    #[serde(default = "first_tier")]
    pub tier: u8,
    /// A fixed-price buyer is never pinged: it takes posts at this price and ranks at it.
    #[serde(default)]
    pub fixed_price: Option<Micros>,
    /// Share of turns among equal offers (weighted round robin), 1 (default) to 1000.
    #[serde(default = "one_turn")]
    pub round_robin_weight: u32,
    /// What it buys: exclusive leads (the default), shared leads, or both.
    #[serde(default = "exclusive_only")]
    pub lead_types: Vec<LeadType>,
    /// In test mode the buyer receives test leads (`"test": true`) and only those; out of it
    /// (the default), only real leads.
    #[serde(default)]
    pub test_mode: bool,
    /// How long the buyer honours a bid: bounds how long a publisher's ping holds it.
    #[serde(default)]
    pub bid_ttl_ms: Option<u32>,
    /// The entry as written, as JSON: what the admin API shows and merges changes over.
    #[serde(skip)]
    pub doc: super::EntryDoc,
}

/// What kind of lead a buyer buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadType {
    /// Sold to it alone.
    Exclusive,
    /// Sold to it and up to a few other buyers.
    Shared,
}

fn first_tier() -> u8 {
    1
}

fn one_turn() -> u32 {
    1
}

fn exclusive_only() -> Vec<LeadType> {
    vec![LeadType::Exclusive]
}

impl BuyerConfig {
    /// Whether it buys leads of `kind`.
    pub fn buys(&self, kind: LeadType) -> bool {
        self.lead_types.contains(&kind)
    }
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

/// HTTP version towards a buyer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// HTTP/1.1 with keep-alive (the default).
    #[default]
    Http1,
    /// HTTP/2 (h2c prior knowledge on http://, ALPN on https://): one connection, many streams.
    Http2,
}

/// `breaker = { enabled, failures, rate, min_requests, window_ms, cooloff_ms }`: stop pinging
/// a failing buyer for a while. It opens on `failures` consecutive failures, or when at least
/// `min_requests` results in the last `window_ms` include a share `rate` of failures; after
/// `cooloff_ms` one probe goes. What counts as a failure is the auction's call (timeouts,
/// transport errors, bad statuses, malformed answers); a no-bid is a success.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyerBreakerConfig {
    /// `false`: the buyer is pinged however it fails.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Consecutive failures that open it; 0: no such rule.
    #[serde(default = "defaults::buyer_breaker_failures")]
    pub failures: u32,
    /// Failure share over the window that opens it, 0 to 1; 0: no such rule.
    #[serde(default = "defaults::buyer_breaker_rate")]
    pub rate: f64,
    /// Fewest results in the window for `rate` to count.
    #[serde(default = "defaults::buyer_breaker_min_requests")]
    pub min_requests: u32,
    /// Length of the window `rate` looks at.
    #[serde(default = "defaults::buyer_breaker_window_ms")]
    pub window_ms: u64,
    /// How long it stays open before one probe ping goes.
    #[serde(default = "defaults::buyer_breaker_cooloff_ms")]
    pub cooloff_ms: u64,
}

/// Longest window and cool-off a buyer's breaker may have: an hour (longer is an outage
/// better handled by disabling the buyer).
const MAX_BREAKER_MS: u64 = 3_600_000;

/// Shortest window: a tenth of it is one bucket, and a bucket under 100 ms is noise.
const MIN_BREAKER_WINDOW_MS: u64 = 100 * WINDOW_BUCKETS as u64;

impl Default for BuyerBreakerConfig {
    fn default() -> Self {
        BuyerBreakerConfig {
            enabled: true,
            failures: defaults::buyer_breaker_failures(),
            rate: defaults::buyer_breaker_rate(),
            min_requests: defaults::buyer_breaker_min_requests(),
            window_ms: defaults::buyer_breaker_window_ms(),
            cooloff_ms: defaults::buyer_breaker_cooloff_ms(),
        }
    }
}

impl BuyerBreakerConfig {
    /// The breaker's settings, or `None` when it is disabled.
    pub fn settings(&self) -> Option<BreakerSettings> {
        let rate = (self.rate > 0.0).then_some(RateRule {
            rate: self.rate,
            min_requests: self.min_requests,
            window_ms: self.window_ms,
        });
        self.enabled.then_some(BreakerSettings { failures: self.failures, cooloff_ms: self.cooloff_ms, rate })
    }

    /// Range checks; `Err((key, message))`.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.failures > 10_000 {
            return Err(("breaker.failures", "must be between 0 (no consecutive rule) and 10000".into()));
        }
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(("breaker.rate", "must be a share between 0 (no rate rule) and 1, e.g. 0.5".into()));
        }
        if self.min_requests == 0 || self.min_requests > 1_000_000 {
            return Err(("breaker.min_requests", "must be between 1 and 1000000".into()));
        }
        if !(MIN_BREAKER_WINDOW_MS..=MAX_BREAKER_MS).contains(&self.window_ms) {
            return Err(("breaker.window_ms", format!("must be between {MIN_BREAKER_WINDOW_MS} and {MAX_BREAKER_MS}")));
        }
        if !(1..=MAX_BREAKER_MS).contains(&self.cooloff_ms) {
            return Err(("breaker.cooloff_ms", format!("must be between 1 and {MAX_BREAKER_MS}")));
        }
        if self.enabled && self.failures == 0 && self.rate == 0.0 {
            return Err((
                "breaker.failures",
                "with `failures = 0` and `rate = 0` it never opens: set `enabled = false`".into(),
            ));
        }
        Ok(())
    }
}

/// One entry of `zips`: an exact ZIP or a prefix of 1 to 4 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipFilter {
    /// A five-digit ZIP.
    Exact(u32),
    /// The first `len` digits of a ZIP, as a number.
    Prefix {
        /// Number of digits, 1 to 4.
        len: u8,
        /// Their value.
        value: u32,
    },
}

impl<'de> Deserialize<'de> for ZipFilter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let digits = text.trim().trim_end_matches('*');
        let bad = || serde::de::Error::custom(format_args!("\"{text}\" is not a ZIP or a ZIP prefix like \"980\""));
        if digits.len() == 5 {
            return Zip::parse(digits).map(|z| ZipFilter::Exact(z.zip5())).ok_or_else(bad);
        }
        if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let value = digits.parse().map_err(|_| bad())?;
        Ok(ZipFilter::Prefix { len: digits.len() as u8, value })
    }
}

/// A rule on one attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrRule {
    /// The attribute equals this value.
    Equals(RuleValue),
    /// The attribute is one of these values.
    OneOf(Vec<RuleValue>),
    /// The attribute is a number within these bounds (inclusive).
    Range {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
}

/// A scalar a rule compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleValue {
    /// Text, compared case-insensitively.
    Text(String),
    /// A number.
    Number(f64),
    /// A flag.
    Bool(bool),
}

impl<'de> Deserialize<'de> for AttrRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = toml::Value::deserialize(deserializer)?;
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Some(RuleValue::Text(s.clone())),
            toml::Value::Integer(i) => Some(RuleValue::Number(*i as f64)),
            toml::Value::Float(f) if f.is_finite() => Some(RuleValue::Number(*f)),
            toml::Value::Boolean(b) => Some(RuleValue::Bool(*b)),
            _ => None,
        };
        let number = |v: Option<&toml::Value>| -> Result<Option<f64>, D::Error> {
            match v.map(scalar) {
                None => Ok(None),
                Some(Some(RuleValue::Number(n))) => Ok(Some(n)),
                Some(_) => Err(D::Error::custom("range bounds `min` and `max` must be numbers")),
            }
        };
        match &value {
            toml::Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|v| scalar(v).ok_or_else(|| D::Error::custom("one-of lists hold strings, numbers or booleans")))
                .collect::<Result<_, _>>()
                .map(AttrRule::OneOf),
            toml::Value::Table(table) => {
                if let Some(key) = table.keys().find(|k| *k != "min" && *k != "max") {
                    return Err(D::Error::custom(format_args!("unknown range key `{key}` (expected `min`, `max`)")));
                }
                let (min, max) = (number(table.get("min"))?, number(table.get("max"))?);
                match (min, max) {
                    (None, None) => Err(D::Error::custom("a range needs `min`, `max` or both")),
                    (Some(lo), Some(hi)) if lo > hi => Err(D::Error::custom("range `min` is above `max`")),
                    _ => Ok(AttrRule::Range { min, max }),
                }
            }
            other => scalar(other).map(AttrRule::Equals).ok_or_else(|| {
                D::Error::custom("a rule is a value (equals), a non-empty list (one of), or { min, max } (range)")
            }),
        }
    }
}

impl BuyerConfig {
    /// Checks that need more than one key; `Err((field, message))`.
    pub(super) fn validate(&self, config: &Config) -> Result<(), (&'static str, String)> {
        de::check_id(&self.id).map_err(|m| ("id", m.to_owned()))?;
        if self.verticals.is_empty() {
            return Err(("verticals", "list at least one vertical".into()));
        }
        if let Some(v) = self.verticals.iter().find(|v| !crate::protocol::lead::is_valid_vertical(v)) {
            return Err(("verticals", format!("\"{v}\" is not a vertical name (lowercase letters, digits, `_`)")));
        }
        if let Some((i, v)) = self.verticals.iter().enumerate().find(|(i, v)| self.verticals[..*i].contains(v)) {
            return Err(("verticals", format!("\"{v}\" is listed twice (again at position {i})")));
        }
        if let Some(floor) = self.floor
            && (floor.0 < 0 || floor > config.auction.max_bid)
        {
            return Err(("floor", "must be between 0 and auction.max_bid".into()));
        }
        if !(self.quality_weight.is_finite() && self.quality_weight > 0.0 && self.quality_weight <= 10.0) {
            return Err(("quality_weight", "must be above 0 and at most 10".into()));
        }
        if let Some(caps) = &self.caps {
            caps.validate().map_err(|(key, m)| ("caps", format!("`{key}`: {m}")))?;
            if let Some(publisher) = caps.publishers.keys().find(|p| !config.publishers.iter().any(|c| &c.id == *p)) {
                return Err(("caps", format!("`publishers.{publisher}`: no publisher has this id")));
            }
        }
        if self.timeout_ms == Some(0) {
            return Err(("timeout_ms", "must be at least 1".into()));
        }
        if self.post_timeout_ms == Some(0) {
            return Err(("post_timeout_ms", "must be at least 1".into()));
        }
        if let Some(attr) = self.attributes.keys().find(|k| *k == "zip" || *k == "state") {
            return Err(("attributes", format!("`{attr}` has its own key: use `{attr}s`")));
        }
        self.breaker.validate()?;
        match (&self.ping_url, self.fixed_price) {
            (None, None) => {
                return Err(("ping_url", "required (only a buyer with a `fixed_price` is never pinged)".into()));
            }
            (_, Some(price)) if !price.is_positive() || price > config.auction.max_bid => {
                return Err(("fixed_price", "must be above 0 and at most auction.max_bid".into()));
            }
            _ => {}
        }
        if !(1..=10).contains(&self.tier) {
            return Err(("tier", "must be between 1 and 10".into()));
        }
        if !(1..=1000).contains(&self.round_robin_weight) {
            return Err(("round_robin_weight", "must be between 1 and 1000".into()));
        }
        if self.lead_types.is_empty()
            || self.lead_types.iter().enumerate().any(|(i, t)| self.lead_types[..i].contains(t))
        {
            return Err(("lead_types", "list \"exclusive\", \"shared\" or both, each once".into()));
        }
        if self.bid_ttl_ms == Some(0) {
            return Err(("bid_ttl_ms", "must be at least 1".into()));
        }
        if let Some(attr) = self.attributes.keys().find(|k| !crate::protocol::lead::is_valid_vertical(k)) {
            return Err((
                "attributes",
                format!("`{attr}` is not an attribute name (lowercase letters, digits, `_`, as leads send them)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_filters_parse() {
        let parse = |s: &str| serde_json::from_value::<ZipFilter>(serde_json::json!(s));
        assert_eq!(parse("98004").ok(), Some(ZipFilter::Exact(98004)));
        assert_eq!(parse("980").ok(), Some(ZipFilter::Prefix { len: 3, value: 980 }));
        assert_eq!(parse("021*").ok(), Some(ZipFilter::Prefix { len: 3, value: 21 }));
        for bad in ["", "*", "98a", "980041", "abcde"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
