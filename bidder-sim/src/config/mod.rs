//! The simulator's typed configuration (`sim.toml`): the buyers, each with its profile, and
//! how faults behave. Unknown keys are refused, defaults live in [`defaults`], and every
//! error names its key (`buyers[2].ping.latency: missing field `p99_ms``), as in the engine's
//! config. A `SimConfig` that passed [`SimConfig::validate`] compiles into running buyers
//! without further checks.

mod buyer;
mod spec;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use buyer::{BuyerSpec, PingSpec, PostSpec, Transport};
pub(crate) use spec::MAX_PRICE;
pub use spec::{LatencyPart, LatencySpec, PriceSpec};

/// Most buyers one simulator serves: each holds a bid memory, and a thousand is past the
/// fan-out of any real exchange.
pub const MAX_BUYERS: usize = 1_000;

/// Largest `bid_memory`: 2^20 remembered bids is about 50 MiB per buyer.
pub const MAX_BID_MEMORY: usize = 1 << 20;

/// Longest any configured delay may be (latencies, late answers, holds): ten minutes is past
/// every client timeout worth simulating, and keeps a typo from parking requests for days.
pub const MAX_DELAY_MS: f64 = 600_000.0;

/// Largest `oversized_bytes`: enough to overflow any reply cap, small enough to send often.
pub const MAX_OVERSIZED_BYTES: usize = 64 << 20;

/// The whole sim.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Seeds every buyer's random stream: the same seed and the same requests in the same order
    /// give the same answers.
    #[serde(default)]
    pub seed: u64,
    /// How many of its bids each buyer remembers (ping id to bid id) to check posts against;
    /// the oldest is forgotten first, so memory stays bounded.
    #[serde(default = "defaults::bid_memory")]
    pub bid_memory: usize,
    /// How faults behave (their rates are per buyer).
    #[serde(default)]
    pub fault_settings: FaultSettings,
    /// The simulated buyers.
    pub buyers: Vec<BuyerSpec>,
}

/// `[fault_settings]`: what each fault does, for all buyers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    /// A `late` ping answer comes this long after the ping's `tmax_ms`; an ordinary answer
    /// that slow also counts as late (a post for it is a contract violation).
    #[serde(default = "defaults::late_margin_ms")]
    pub late_margin_ms: u32,
    /// A `late` post answer comes after this long (past the engine's default 1 s budget).
    #[serde(default = "defaults::post_late_ms")]
    pub post_late_ms: u32,
    /// A `trickle` answer sends one byte, then waits this long before the next.
    #[serde(default = "defaults::trickle_byte_ms")]
    pub trickle_byte_ms: u32,
    /// Size of an `oversized` answer.
    #[serde(default = "defaults::oversized_bytes")]
    pub oversized_bytes: usize,
    /// A `never_answer` request is held at most this long, then its connection is dropped.
    #[serde(default = "defaults::never_answer_cap_ms")]
    pub never_answer_cap_ms: u32,
}

impl Default for FaultSettings {
    fn default() -> FaultSettings {
        FaultSettings {
            late_margin_ms: defaults::late_margin_ms(),
            post_late_ms: defaults::post_late_ms(),
            trickle_byte_ms: defaults::trickle_byte_ms(),
            oversized_bytes: defaults::oversized_bytes(),
            never_answer_cap_ms: defaults::never_answer_cap_ms(),
        }
    }
}

/// Every default of sim.toml, in one place.
pub mod defaults {
    /// Remembered bids per buyer: at 50,000 bids/s on one buyer, over a second of posts.
    pub fn bid_memory() -> usize {
        65_536
    }
    /// Late by 50 ms: clearly past the deadline, yet soon enough to show up in a short run.
    pub fn late_margin_ms() -> u32 {
        50
    }
    /// 1.5 s: past the engine's default auction budget of 1 s.
    pub fn post_late_ms() -> u32 {
        1_500
    }
    /// 10 ms a byte: a 45-byte bid takes 450 ms, well past a 100 ms deadline.
    pub fn trickle_byte_ms() -> u32 {
        10
    }
    /// 1 MiB: 64 times the engine's 16 KiB reply cap.
    pub fn oversized_bytes() -> usize {
        1 << 20
    }
    /// 30 s: longer than any sane client timeout, short enough to free held requests.
    pub fn never_answer_cap_ms() -> u32 {
        30_000
    }
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
        /// Dotted path of the key, e.g. `buyers[0].ping.bid_probability`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// An error on `key`.
    pub(crate) fn key(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Key { key: key.into(), message: message.into() }
    }
}

impl SimConfig {
    /// Reads and validates a sim.toml.
    pub fn load(path: &Path) -> Result<SimConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        SimConfig::from_toml(&text)
    }

    /// Parses and validates sim.toml text.
    pub fn from_toml(text: &str) -> Result<SimConfig, ConfigError> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::key("(syntax)", e.to_string().trim().to_owned()))?;
        let config: SimConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // A bad key of a map (an unknown fault name) shows as `.?`: the message names it.
            let key = e.path().to_string().trim_end_matches(".?").to_owned();
            let message = e.into_inner().message().trim().to_owned();
            ConfigError::key(if key == "." { "(top level)".into() } else { key }, message)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone do not: ranges, uniqueness, consistency. [`SimConfig::from_toml`]
    /// calls it; call it yourself on a config built or changed in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.buyers.is_empty() {
            return Err(ConfigError::key("buyers", "list at least one buyer"));
        }
        if self.buyers.len() > MAX_BUYERS {
            return Err(ConfigError::key("buyers", format!("at most {MAX_BUYERS} buyers")));
        }
        if !(1..=MAX_BID_MEMORY).contains(&self.bid_memory) {
            return Err(ConfigError::key("bid_memory", format!("must be between 1 and {MAX_BID_MEMORY}")));
        }
        self.fault_settings.validate()?;
        for (i, buyer) in self.buyers.iter().enumerate() {
            buyer.validate().map_err(|(key, message)| ConfigError::key(format!("buyers[{i}].{key}"), message))?;
            if let Some(first) = self.buyers[..i].iter().position(|other| other.id == buyer.id) {
                return Err(ConfigError::key(
                    format!("buyers[{i}].id"),
                    format!("\"{}\" is already the id of buyers[{first}]", buyer.id),
                ));
            }
        }
        Ok(())
    }
}

impl FaultSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let key = |name: &str| format!("fault_settings.{name}");
        for (name, ms) in [
            ("late_margin_ms", self.late_margin_ms),
            ("post_late_ms", self.post_late_ms),
            ("trickle_byte_ms", self.trickle_byte_ms),
            ("never_answer_cap_ms", self.never_answer_cap_ms),
        ] {
            if f64::from(ms) > MAX_DELAY_MS {
                return Err(ConfigError::key(key(name), format!("at most {MAX_DELAY_MS} ms")));
            }
        }
        if self.trickle_byte_ms == 0 {
            return Err(ConfigError::key(key("trickle_byte_ms"), "must be at least 1: a trickle takes time"));
        }
        if !(1024..=MAX_OVERSIZED_BYTES).contains(&self.oversized_bytes) {
            return Err(ConfigError::key(
                key("oversized_bytes"),
                format!("must be between 1024 and {MAX_OVERSIZED_BYTES}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
