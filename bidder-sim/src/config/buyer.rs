//! `[[buyers]]`: who a simulated buyer is (id, verticals, states, the transport the engine
//! should use) and how it behaves on pings (`[buyers.ping]`) and posts (`[buyers.post]`).

use std::collections::BTreeMap;

use lead_protocol::geo::State;
use lead_protocol::lead::is_valid_vertical;
use lead_protocol::money::Micros;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::spec::{LatencySpec, PriceSpec, check_money};
use crate::faults::FaultRates;

/// Longest buyer id: ids appear in URL paths, metric labels and logs (the engine's limit).
const MAX_ID_LEN: usize = 64;

/// Largest price multiplier: a factor of 100 is already far outside any real price table.
const MAX_MULTIPLIER: f64 = 100.0;

/// One simulated buyer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyerSpec {
    /// The buyer id: its endpoints are `/{id}/ping` and `/{id}/post`.
    pub id: String,
    /// Verticals the buyer wants; a ping for another is a contract violation.
    pub verticals: Vec<String>,
    /// States the buyer wants (codes or names); empty means all. A ping from another state is
    /// a contract violation.
    #[serde(
        default,
        deserialize_with = "states::read",
        serialize_with = "states::write",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub states: Vec<State>,
    /// The HTTP version the engine should use for this buyer (the simulator speaks both on
    /// one port); written to the engine config by `--print-engine-config`.
    #[serde(default)]
    pub transport: Transport,
    /// How it answers pings.
    #[serde(default)]
    pub ping: PingSpec,
    /// How it answers posts.
    #[serde(default)]
    pub post: PostSpec,
}

/// The engine's `transport` key for a buyer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// HTTP/1.1 with keep-alive.
    #[default]
    Http1,
    /// HTTP/2 cleartext (prior knowledge).
    Http2,
}

impl Transport {
    /// The engine config value.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http1 => "http1",
            Transport::Http2 => "http2",
        }
    }
}

/// `[buyers.ping]`: latency, bidding, pricing and faults of ping answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingSpec {
    /// Time from receiving a ping to answering it.
    #[serde(default)]
    pub latency: LatencySpec,
    /// Share of valid pings answered with a bid (the rest get `{"bid": false}`).
    #[serde(default = "one")]
    pub bid_probability: f64,
    /// Price before multipliers, in currency units.
    #[serde(default)]
    pub price: PriceSpec,
    /// The buyer never bids below this: a lower price is raised to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Micros>,
    /// Price multipliers by state code, e.g. `{ CA = 1.25 }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub price_by_state: BTreeMap<String, f64>,
    /// Price multipliers by attribute value, e.g. `{ credit_tier = { excellent = 1.3 } }`.
    /// Text matches ignoring case; numbers and `true`/`false` match their value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub price_by_attribute: BTreeMap<String, BTreeMap<String, f64>>,
    /// Share of pings that get each fault instead of a normal answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub faults: FaultRates,
}

impl Default for PingSpec {
    fn default() -> PingSpec {
        PingSpec {
            latency: LatencySpec::default(),
            bid_probability: one(),
            price: PriceSpec::default(),
            floor: None,
            price_by_state: BTreeMap::new(),
            price_by_attribute: BTreeMap::new(),
            faults: FaultRates::new(),
        }
    }
}

/// `[buyers.post]`: latency, acceptance and faults of post answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostSpec {
    /// Time from receiving a post to answering it.
    #[serde(default)]
    pub latency: LatencySpec,
    /// Share of valid posts accepted (the rest are declined with a reason).
    #[serde(default = "one")]
    pub accept_rate: f64,
    /// Share of posts that get each fault (price faults do not apply).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub faults: FaultRates,
}

impl Default for PostSpec {
    fn default() -> PostSpec {
        PostSpec { latency: LatencySpec::default(), accept_rate: one(), faults: FaultRates::new() }
    }
}

fn one() -> f64 {
    1.0
}

/// A validation failure: `(key below the buyer, message)`.
pub(super) type Invalid = (String, String);

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    (key.into(), message.into())
}

impl BuyerSpec {
    /// Checks the buyer; errors name the key below `buyers[i]`.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_ID_LEN
            && self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !id_ok {
            return Err(invalid("id", format!("ids are 1-{MAX_ID_LEN} characters of letters, digits, `_`, `-`, `.`")));
        }
        if self.verticals.is_empty() {
            return Err(invalid("verticals", "list at least one vertical"));
        }
        if let Some((i, v)) = self.verticals.iter().enumerate().find(|(_, v)| !is_valid_vertical(v)) {
            return Err(invalid(
                format!("verticals[{i}]"),
                format!("\"{v}\" is not a vertical name (lowercase letters, digits, `_`)"),
            ));
        }
        self.ping.validate().map_err(|(key, message)| (format!("ping.{key}"), message))?;
        self.post.validate().map_err(|(key, message)| (format!("post.{key}"), message))
    }
}

impl PingSpec {
    fn validate(&self) -> Result<(), Invalid> {
        self.latency.validate().map_err(|m| invalid("latency", m))?;
        check_share(self.bid_probability).map_err(|m| invalid("bid_probability", m))?;
        self.price.validate().map_err(|m| invalid("price", m))?;
        if let Some(floor) = self.floor {
            check_money(floor).map_err(|m| invalid("floor", m))?;
        }
        for (state, factor) in &self.price_by_state {
            if State::parse(state).is_none() {
                return Err(invalid("price_by_state", format!("unknown state \"{state}\"")));
            }
            check_multiplier(*factor).map_err(|m| invalid(format!("price_by_state.{state}"), m))?;
        }
        for (attribute, values) in &self.price_by_attribute {
            if !is_valid_vertical(attribute) || attribute == "state" || attribute == "zip" {
                return Err(invalid(
                    "price_by_attribute",
                    format!(
                        "`{attribute}` is not a free-form attribute name (lowercase letters, digits, `_`; states have `price_by_state`)"
                    ),
                ));
            }
            for (value, factor) in values {
                check_multiplier(*factor).map_err(|m| invalid(format!("price_by_attribute.{attribute}.{value}"), m))?;
            }
        }
        check_faults(&self.faults, true)
    }
}

impl PostSpec {
    fn validate(&self) -> Result<(), Invalid> {
        self.latency.validate().map_err(|m| invalid("latency", m))?;
        check_share(self.accept_rate).map_err(|m| invalid("accept_rate", m))?;
        check_faults(&self.faults, false)
    }
}

/// A probability or rate: a number in `[0, 1]`.
fn check_share(value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) { Ok(()) } else { Err(format!("{value} is not between 0 and 1")) }
}

fn check_multiplier(factor: f64) -> Result<(), String> {
    if factor > 0.0 && factor <= MAX_MULTIPLIER {
        Ok(())
    } else {
        Err(format!("a multiplier is above 0 and at most {MAX_MULTIPLIER}"))
    }
}

/// Each rate in `[0, 1]`, together at most 1; price faults only on pings.
fn check_faults(rates: &FaultRates, ping: bool) -> Result<(), Invalid> {
    for (kind, rate) in rates {
        let key = || format!("faults.{}", kind.as_str());
        check_share(*rate).map_err(|m| (key(), m))?;
        if !ping && kind.ping_only() {
            return Err((key(), "price faults apply to ping answers only".into()));
        }
    }
    let total: f64 = rates.values().sum();
    if total > 1.0 + 1e-9 {
        return Err(invalid("faults", format!("the rates add up to {total}, more than 1")));
    }
    Ok(())
}

/// `states`: codes or names in the file, two-letter codes when written back.
mod states {
    use super::*;

    pub fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<State>, D::Error> {
        /// One entry, parsed on its own so the error path points at it.
        struct Entry(State);
        impl<'de> Deserialize<'de> for Entry {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                State::parse(&text)
                    .map(Entry)
                    .ok_or_else(|| serde::de::Error::custom(format_args!("unknown state \"{text}\"")))
            }
        }
        Ok(Vec::<Entry>::deserialize(deserializer)?.into_iter().map(|e| e.0).collect())
    }

    pub fn write<S: Serializer>(states: &[State], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(states.iter().map(|state| state.code()))
    }
}
