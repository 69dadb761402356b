//! The distribution keys of sim.toml: a latency (`{ dist = "log_normal", p50_ms, p99_ms }`
//! and friends, in milliseconds) and a price (the same shapes, in money as decimal strings).
//! Each validates its parameters and compiles to a [`Dist`].

use lead_protocol::money::{MICROS_PER_UNIT, Micros};
use serde::{Deserialize, Serialize};

use super::MAX_DELAY_MS;
use crate::dist::Dist;

/// Highest price a profile may name: far above any real lead, far below the money range.
pub(crate) const MAX_PRICE: Micros = Micros::from_units(100_000);

/// Parts a mix may have: a handful describe any real latency shape.
const MAX_MIX_PARTS: usize = 16;

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum LatencySpec {
    /// Always `ms`.
    Constant {
        /// The latency.
        ms: f64,
    },
    /// Evenly between `min_ms` and `max_ms`.
    Uniform {
        /// Shortest.
        min_ms: f64,
        /// Longest.
        max_ms: f64,
    },
    /// Log-normal with this median and 99th percentile.
    LogNormal {
        /// Median.
        p50_ms: f64,
        /// 99th percentile.
        p99_ms: f64,
    },
    /// One of several latencies, chosen by weight (a part may not itself be a mix).
    Mix {
        /// The parts.
        parts: Vec<LatencyPart>,
    },
}

/// One part of a latency mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyPart {
    /// Relative weight (the weights need not add up to 1).
    pub weight: f64,
    /// The part's latency.
    pub latency: LatencySpec,
}

impl Default for LatencySpec {
    /// No latency at all.
    fn default() -> LatencySpec {
        LatencySpec::Constant { ms: 0.0 }
    }
}

impl LatencySpec {
    /// Checks the parameters.
    pub(super) fn validate(&self) -> Result<(), String> {
        let ms = |value: f64| {
            if (0.0..=MAX_DELAY_MS).contains(&value) {
                Ok(())
            } else {
                Err(format!("{value} ms is not between 0 and {MAX_DELAY_MS}"))
            }
        };
        match self {
            LatencySpec::Constant { ms: value } => ms(*value),
            LatencySpec::Uniform { min_ms, max_ms } => {
                ms(*min_ms)?;
                ms(*max_ms)?;
                if min_ms > max_ms { Err("`min_ms` is above `max_ms`".into()) } else { Ok(()) }
            }
            LatencySpec::LogNormal { p50_ms, p99_ms } => {
                ms(*p50_ms)?;
                ms(*p99_ms)?;
                check_quantiles(*p50_ms, *p99_ms, "p50_ms", "p99_ms")
            }
            LatencySpec::Mix { parts } => {
                if parts.is_empty() || parts.len() > MAX_MIX_PARTS {
                    return Err(format!("a mix has 1 to {MAX_MIX_PARTS} parts"));
                }
                for (i, part) in parts.iter().enumerate() {
                    if !(part.weight > 0.0 && part.weight.is_finite()) {
                        return Err(format!("parts[{i}].weight must be above 0"));
                    }
                    if matches!(part.latency, LatencySpec::Mix { .. }) {
                        return Err(format!("parts[{i}] is a mix: list its parts in this mix instead"));
                    }
                    part.latency.validate().map_err(|m| format!("parts[{i}].latency: {m}"))?;
                }
                Ok(())
            }
        }
    }

    /// The distribution of the latency in milliseconds.
    pub(crate) fn compile(&self) -> Dist {
        match self {
            LatencySpec::Constant { ms } => Dist::Constant(*ms),
            LatencySpec::Uniform { min_ms, max_ms } => Dist::Uniform { lo: *min_ms, hi: *max_ms },
            LatencySpec::LogNormal { p50_ms, p99_ms } => Dist::log_normal(*p50_ms, *p99_ms),
            LatencySpec::Mix { parts } => {
                Dist::mix(parts.iter().map(|part| (part.weight, part.latency.compile())).collect())
            }
        }
    }
}

/// A price distribution, in money (decimal strings like `"12.50"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriceSpec {
    /// Always `value`.
    Constant {
        /// The price.
        value: Micros,
    },
    /// Evenly between `min` and `max`.
    Uniform {
        /// Lowest.
        min: Micros,
        /// Highest.
        max: Micros,
    },
    /// Log-normal with this median and 99th percentile.
    LogNormal {
        /// Median.
        p50: Micros,
        /// 99th percentile.
        p99: Micros,
    },
}

impl Default for PriceSpec {
    /// Ten units, every time.
    fn default() -> PriceSpec {
        PriceSpec::Constant { value: Micros::from_units(10) }
    }
}

impl PriceSpec {
    /// Checks the parameters.
    pub(super) fn validate(&self) -> Result<(), String> {
        match self {
            PriceSpec::Constant { value } => check_price(*value),
            PriceSpec::Uniform { min, max } => {
                check_price(*min)?;
                check_price(*max)?;
                if min > max { Err("`min` is above `max`".into()) } else { Ok(()) }
            }
            PriceSpec::LogNormal { p50, p99 } => {
                check_price(*p50)?;
                check_price(*p99)?;
                check_quantiles(units(*p50), units(*p99), "p50", "p99")
            }
        }
    }

    /// The distribution of the price in currency units (before multipliers and rounding).
    pub(crate) fn compile(&self) -> Dist {
        match self {
            PriceSpec::Constant { value } => Dist::Constant(units(*value)),
            PriceSpec::Uniform { min, max } => Dist::Uniform { lo: units(*min), hi: units(*max) },
            PriceSpec::LogNormal { p50, p99 } => Dist::log_normal(units(*p50), units(*p99)),
        }
    }
}

/// Money as a number of units, for sampling.
fn units(money: Micros) -> f64 {
    money.0 as f64 / MICROS_PER_UNIT as f64
}

/// An amount a buyer may name as a floor: zero up to [`MAX_PRICE`].
pub(super) fn check_money(money: Micros) -> Result<(), String> {
    if money.0 >= 0 && money <= MAX_PRICE { Ok(()) } else { Err(format!("must be between 0.00 and {MAX_PRICE}")) }
}

/// A price a profile draws around: above zero, at most [`MAX_PRICE`].
fn check_price(money: Micros) -> Result<(), String> {
    if money.is_positive() && money <= MAX_PRICE {
        Ok(())
    } else {
        Err(format!("a price is above 0.00 and at most {MAX_PRICE}"))
    }
}

/// `0 < p50 <= p99`.
fn check_quantiles(p50: f64, p99: f64, p50_key: &str, p99_key: &str) -> Result<(), String> {
    if p50 <= 0.0 {
        Err(format!("`{p50_key}` must be above 0"))
    } else if p99 < p50 {
        Err(format!("`{p99_key}` is below `{p50_key}`"))
    } else {
        Ok(())
    }
}
