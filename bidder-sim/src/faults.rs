//! Fault injection: the ways a simulated buyer misbehaves ([`FaultKind`]), and how one is
//! picked for a request from the configured rates ([`FaultTable`]). How each fault behaves
//! (delays, sizes) is set once for the whole simulator in `[fault_settings]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One way to misbehave. Names are the keys of a `faults` table in sim.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FaultKind {
    /// Hold the request open without answering until the client gives up (bounded by
    /// `fault_settings.never_answer_cap_ms`, then the connection is dropped).
    #[serde(rename = "never_answer")]
    NeverAnswer,
    /// A normal answer, sent after the deadline: `tmax_ms + late_margin_ms` for a ping,
    /// `post_late_ms` for a post.
    #[serde(rename = "late")]
    Late,
    /// Status 500.
    #[serde(rename = "error_500")]
    Error500,
    /// Status 503.
    #[serde(rename = "error_503")]
    Error503,
    /// A 200 whose body is cut-off JSON.
    #[serde(rename = "malformed")]
    Malformed,
    /// A 200 with the right keys holding the wrong types (`"bid": "yes"`).
    #[serde(rename = "wrong_types")]
    WrongTypes,
    /// A bid at a negative price (pings only).
    #[serde(rename = "negative_price")]
    NegativePrice,
    /// A bid whose price is `"NaN"` (pings only).
    #[serde(rename = "nan_price")]
    NanPrice,
    /// A bid at an absurd price, a trillion (pings only).
    #[serde(rename = "huge_price")]
    HugePrice,
    /// A valid answer sent one byte at a time, `trickle_byte_ms` apart.
    #[serde(rename = "trickle")]
    Trickle,
    /// The connection is closed without an answer: a TCP reset on HTTP/1.1, a stream reset
    /// (`RST_STREAM`) on HTTP/2, where other requests share the connection.
    #[serde(rename = "reset")]
    Reset,
    /// A valid answer padded to `oversized_bytes` (1 MiB by default): past any sane reply cap.
    #[serde(rename = "oversized")]
    Oversized,
}

impl FaultKind {
    /// Number of kinds.
    pub const COUNT: usize = 12;

    /// Every kind, in [`FaultKind::index`] order.
    pub const ALL: [FaultKind; FaultKind::COUNT] = [
        FaultKind::NeverAnswer,
        FaultKind::Late,
        FaultKind::Error500,
        FaultKind::Error503,
        FaultKind::Malformed,
        FaultKind::WrongTypes,
        FaultKind::NegativePrice,
        FaultKind::NanPrice,
        FaultKind::HugePrice,
        FaultKind::Trickle,
        FaultKind::Reset,
        FaultKind::Oversized,
    ];

    /// Position in [`FaultKind::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The sim.toml key, also used in `/stats` and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::NeverAnswer => "never_answer",
            FaultKind::Late => "late",
            FaultKind::Error500 => "error_500",
            FaultKind::Error503 => "error_503",
            FaultKind::Malformed => "malformed",
            FaultKind::WrongTypes => "wrong_types",
            FaultKind::NegativePrice => "negative_price",
            FaultKind::NanPrice => "nan_price",
            FaultKind::HugePrice => "huge_price",
            FaultKind::Trickle => "trickle",
            FaultKind::Reset => "reset",
            FaultKind::Oversized => "oversized",
        }
    }

    /// Whether the fault only makes sense in an answer to a ping (a post answer has no price).
    pub fn ping_only(self) -> bool {
        matches!(self, FaultKind::NegativePrice | FaultKind::NanPrice | FaultKind::HugePrice)
    }
}

/// Fault rates as configured: the share of requests that get each fault.
pub type FaultRates = BTreeMap<FaultKind, f64>;

/// The compiled rates: one uniform draw in `[0, 1)` picks at most one fault.
#[derive(Debug, Clone, Default)]
pub struct FaultTable {
    /// `(cumulative rate, kind)`, in increasing order; above the last rate, no fault.
    cumulative: Box<[(f64, FaultKind)]>,
}

impl FaultTable {
    /// Compiles validated rates (each in `[0, 1]`, summing to at most 1).
    pub fn new(rates: &FaultRates) -> FaultTable {
        let mut sum = 0.0;
        let cumulative = rates
            .iter()
            .filter(|(_, rate)| **rate > 0.0)
            .map(|(kind, rate)| {
                sum += rate;
                (sum, *kind)
            })
            .collect();
        FaultTable { cumulative }
    }

    /// The fault for a draw `u` in `[0, 1)`, if any.
    pub fn pick(&self, u: f64) -> Option<FaultKind> {
        self.cumulative.iter().find(|(upto, _)| u < *upto).map(|(_, kind)| *kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_round_trip() {
        for (i, kind) in FaultKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
            let parsed: FaultKind =
                serde_json::from_value(serde_json::Value::from(kind.as_str())).expect("the name parses back");
            assert_eq!(parsed, *kind);
        }
    }

    #[test]
    fn table_picks_by_cumulative_rate() {
        let rates = FaultRates::from([(FaultKind::Error500, 0.1), (FaultKind::Reset, 0.2), (FaultKind::Late, 0.0)]);
        let table = FaultTable::new(&rates);
        assert_eq!(table.pick(0.05), Some(FaultKind::Error500));
        assert_eq!(table.pick(0.15), Some(FaultKind::Reset));
        assert_eq!(table.pick(0.29), Some(FaultKind::Reset));
        assert_eq!(table.pick(0.31), None);
        assert_eq!(FaultTable::default().pick(0.0), None);
    }
}
