//! `[[publishers]]`: who may send leads, and on what terms: what the publisher is paid of each
//! sale (`payout`), whether its leads are sold to one buyer or shared (`sharing`, per vertical),
//! and how fast it may ping (`ping_rate_limit`, `ping_shield_ms`).
//!
//! ```toml
//! [[publishers]]
//! id = "pub1"
//! key_sha256 = "<hex>"
//! payout = { revenue_share = 80 }          # or { margin = "2.00" }; default: all of it
//! sharing = { "*" = { mode = "exclusive" }, home_services = { mode = "shared", max_buyers = 3 } }
//! ping_rate_limit = { per_second = 10, burst = 20 }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::de::{self, KeyDigest};
use super::{EntryDoc, RateLimit, defaults};
use crate::protocol::money::Micros;

/// One publisher.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherConfig {
    /// Publisher id.
    pub id: String,
    /// SHA-256 of the publisher's key, in hex; the key itself is never stored.
    pub key_sha256: KeyDigest,
    /// A disabled publisher's key is refused with 403.
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// What the publisher is paid of each sale (default: all of it).
    #[serde(default)]
    pub payout: Payout,
    /// Exclusive, shared or mixed, per vertical (`"*"`: every vertical not named); default
    /// exclusive.
    #[serde(default)]
    pub sharing: BTreeMap<String, SharingRule>,
    /// `POST /v1/ping` at most this fast, over all the publisher's keys (default: only the
    /// key's own limit).
    #[serde(default)]
    pub ping_rate_limit: Option<RateLimit>,
    /// The ping shield's window for this publisher, overriding `[ping_post] shield_ms`.
    #[serde(default)]
    pub ping_shield_ms: Option<u64>,
    /// The entry as written, as JSON: what the admin API shows and merges changes over.
    #[serde(skip)]
    pub doc: EntryDoc,
}

/// `payout = { revenue_share = 80 }` or `payout = { margin = "2.00" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Payout {
    /// The publisher gets this share of the buyer's price, in basis points (`80` in the file
    /// is 80%, up to two decimals).
    RevenueShare(#[serde(deserialize_with = "percent_as_basis_points")] u32),
    /// The broker keeps this much of each sale; the publisher gets the rest (never below 0).
    Margin(Micros),
}

impl Default for Payout {
    fn default() -> Payout {
        Payout::RevenueShare(10_000)
    }
}

/// A sale's price, cut into the publisher's payout and the broker's margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Split {
    /// What the publisher is paid.
    pub payout: Micros,
    /// What the broker keeps: the price less the payout.
    pub margin: Micros,
}

impl Payout {
    /// Splits `price`: `payout + margin == price` to the micro-unit. A share rounds the payout
    /// down (the broker keeps the fraction of a micro-unit).
    pub fn split(self, price: Micros) -> Split {
        let payout = match self {
            Payout::RevenueShare(bps) => {
                let share = i128::from(price.0) * i128::from(bps) / 10_000;
                Micros(i64::try_from(share).unwrap_or(price.0))
            }
            Payout::Margin(margin) => Micros(price.0.saturating_sub(margin.0).max(0)),
        };
        let payout = if price.0 <= 0 { Micros(0) } else { payout.min(price) };
        Split { payout, margin: Micros(price.0 - payout.0) }
    }
}

/// How a publisher's leads of one vertical are sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharingRule {
    /// Exclusive, shared or mixed.
    pub mode: SharingMode,
    /// Shared and mixed: how many buyers at most (2 to 10; default 3).
    #[serde(default)]
    pub max_buyers: Option<u8>,
}

/// Exclusive, shared, or whichever earns more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharingMode {
    /// One sale, to the best bid among buyers of exclusive leads.
    #[default]
    Exclusive,
    /// Up to `max_buyers` sales, each to a distinct buyer of shared leads at its own bid.
    Shared,
    /// The best exclusive bid or the sum of the best `max_buyers` shared bids, whichever is
    /// more.
    Mixed,
}

/// The rule in force for one lead: its mode and how many buyers may share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharing {
    /// Exclusive, shared or mixed.
    pub mode: SharingMode,
    /// Most sales of one lead (1 when exclusive).
    pub max_buyers: usize,
}

impl Sharing {
    /// One sale, to one buyer.
    pub const EXCLUSIVE: Sharing = Sharing { mode: SharingMode::Exclusive, max_buyers: 1 };
}

const DEFAULT_MAX_BUYERS: u8 = 3;

impl PublisherConfig {
    /// The sharing rule for a lead of `vertical`: its own, else `"*"`, else exclusive.
    pub fn sharing(&self, vertical: &str) -> Sharing {
        match self.sharing.get(vertical).or_else(|| self.sharing.get("*")) {
            None | Some(SharingRule { mode: SharingMode::Exclusive, .. }) => Sharing::EXCLUSIVE,
            Some(rule) => Sharing { mode: rule.mode, max_buyers: rule.max_buyers.unwrap_or(DEFAULT_MAX_BUYERS).into() },
        }
    }

    /// Checks of one entry; `Err((field, message))`.
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        de::check_id(&self.id).map_err(|m| ("id".to_owned(), m.to_owned()))?;
        if let Payout::Margin(margin) = self.payout
            && margin.0 < 0
        {
            return Err(("payout.margin".into(), "must not be negative".into()));
        }
        for (vertical, rule) in &self.sharing {
            let key = format!("sharing.{vertical}");
            if vertical != "*" && !crate::protocol::lead::is_valid_vertical(vertical) {
                return Err((key, "not a vertical name (lowercase letters, digits, `_`) or \"*\"".into()));
            }
            match (rule.mode, rule.max_buyers) {
                (SharingMode::Exclusive, Some(_)) => {
                    return Err((format!("{key}.max_buyers"), "an exclusive lead has one buyer".into()));
                }
                (_, Some(n)) if !(2..=10).contains(&n) => {
                    return Err((format!("{key}.max_buyers"), "must be between 2 and 10".into()));
                }
                _ => {}
            }
        }
        if let Some(limit) = &self.ping_rate_limit {
            limit.check().map_err(|(field, m)| (format!("ping_rate_limit.{field}"), m.to_owned()))?;
        }
        if self.ping_shield_ms.is_some_and(|ms| ms > super::ping_post::MAX_HOLD_MS) {
            return Err(("ping_shield_ms".into(), "must be between 0 (off) and 3600000".into()));
        }
        Ok(())
    }
}

/// A percentage with at most two decimals (`80`, `72.5`), as basis points.
fn percent_as_basis_points<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let percent = f64::deserialize(deserializer)?;
    let bps = (percent * 100.0).round();
    if !(0.0..=10_000.0).contains(&bps) || ((percent * 100.0) - bps).abs() > 1e-6 {
        return Err(serde::de::Error::custom("a percentage between 0 and 100, with at most two decimals"));
    }
    Ok(bps as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(payout: Payout, price: i64) -> Split {
        let split = payout.split(Micros(price));
        assert_eq!(split.payout.0 + split.margin.0, price, "payout + margin = price, to the micro-unit");
        split
    }

    #[test]
    fn a_revenue_share_pays_the_share_rounded_down_and_the_broker_keeps_the_rest() {
        assert_eq!(split(Payout::RevenueShare(8_000), 12_500_000).payout, Micros(10_000_000));
        // 72.5% of 0.000003 is 0.0000021750: the publisher gets 2 micro-units, the broker 1.
        assert_eq!(split(Payout::RevenueShare(7_250), 3), Split { payout: Micros(2), margin: Micros(1) });
        assert_eq!(split(Payout::default(), 9_990_000).margin, Micros(0));
        assert_eq!(split(Payout::RevenueShare(0), 5_000_000).payout, Micros(0));
    }

    #[test]
    fn a_fixed_margin_is_kept_and_the_payout_never_goes_below_zero() {
        let margin = Payout::Margin(Micros::from_units(2));
        assert_eq!(split(margin, 15_000_000).payout, Micros(13_000_000));
        assert_eq!(split(margin, 1_500_000), Split { payout: Micros(0), margin: Micros(1_500_000) });
    }

    #[test]
    fn percentages_take_two_decimals_at_most() {
        let parse = |v: serde_json::Value| serde_json::from_value::<Payout>(serde_json::json!({ "revenue_share": v }));
        assert_eq!(parse(serde_json::json!(80)).ok(), Some(Payout::RevenueShare(8_000)));
        assert_eq!(parse(serde_json::json!(72.25)).ok(), Some(Payout::RevenueShare(7_225)));
        for bad in [serde_json::json!(100.5), serde_json::json!(-1), serde_json::json!(33.333), serde_json::json!("80")]
        {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
        let margin = serde_json::from_value::<Payout>(serde_json::json!({ "margin": "2.00" })).ok();
        assert_eq!(margin, Some(Payout::Margin(Micros::from_units(2))));
    }
}
