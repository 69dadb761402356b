//! [`SimConfig::generate`]: a realistic insurance-style mix of buyers from a count and a seed,
//! for `bidder-sim serve --buyers N` and `engine demo`. Buyers cycle through four archetypes
//! (fast and reliable, slow, picky, flaky) and through verticals (mostly auto insurance), so
//! even a small N is varied; the seed draws each buyer's parameters.

use lead_protocol::geo::State;
use lead_protocol::money::Micros;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};

use crate::config::{
    BuyerSpec, FaultSettings, LatencyPart, LatencySpec, PingSpec, PostSpec, PriceSpec, SimConfig, Transport, defaults,
};
use crate::faults::{FaultKind, FaultRates};

/// The kinds of buyer in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Archetype {
    /// Answers in a few ms, bids often, never fails.
    Fast,
    /// Answers around 50 ms with a p99 past a 100 ms deadline.
    Slow,
    /// Few states, rare bids, a floor, high prices.
    Picky,
    /// Mostly fine, but a few percent of answers are faults.
    Flaky,
}

impl Archetype {
    fn name(self) -> &'static str {
        match self {
            Archetype::Fast => "fast",
            Archetype::Slow => "slow",
            Archetype::Picky => "picky",
            Archetype::Flaky => "flaky",
        }
    }
}

/// Archetype of buyer `i` is `ARCHETYPES[i % 10]`: 4 fast, 2 slow, 2 picky, 2 flaky in ten.
const ARCHETYPES: [Archetype; 10] = {
    use Archetype::*;
    [Fast, Slow, Fast, Picky, Flaky, Fast, Slow, Picky, Fast, Flaky]
};

/// Main vertical of buyer `i` is `VERTICALS[i * 7 % 10]` (a different walk than the
/// archetypes, so each vertical gets several kinds): 6 auto, 2 home, 1 health, 1 mortgage.
const VERTICALS: [&str; 10] = [
    "auto_insurance",
    "auto_insurance",
    "home_insurance",
    "auto_insurance",
    "health_insurance",
    "auto_insurance",
    "mortgage",
    "auto_insurance",
    "auto_insurance",
    "home_insurance",
];

/// Median price of a lead by vertical, in units, before the archetype's factor.
fn base_price(vertical: &str) -> f64 {
    match vertical {
        "home_insurance" => 16.0,
        "health_insurance" => 22.0,
        "mortgage" => 30.0,
        _ => 12.0,
    }
}

/// States a picky buyer picks from: where the synthetic leads come from.
const PICKY_STATES: [&str; 12] = ["CA", "TX", "FL", "NY", "IL", "PA", "OH", "GA", "WA", "OR", "MA", "AZ"];

impl SimConfig {
    /// `n` varied buyers (`fast_00`, `slow_01`, `fast_02`, `picky_03`, `flaky_04`, ...),
    /// the same for the same `n` and `seed`. The result is valid for `n` in
    /// `1..=`[`MAX_BUYERS`](crate::config::MAX_BUYERS).
    pub fn generate(n: usize, seed: u64) -> SimConfig {
        let mut rng = SmallRng::seed_from_u64(seed);
        let buyers = (0..n).map(|i| buyer(i, &mut rng)).collect();
        SimConfig { seed, bid_memory: defaults::bid_memory(), fault_settings: FaultSettings::default(), buyers }
    }
}

fn buyer(i: usize, rng: &mut SmallRng) -> BuyerSpec {
    let archetype = ARCHETYPES[i % ARCHETYPES.len()];
    let vertical = VERTICALS[i * 7 % VERTICALS.len()];
    let mut verticals = vec![vertical.to_owned()];
    // Multi-line carriers: some auto buyers take home insurance too.
    if vertical == "auto_insurance" && archetype != Archetype::Picky && rng.random_bool(0.3) {
        verticals.push("home_insurance".to_owned());
    }
    let (latency, bid_probability, price_factor, accept_rate) = match archetype {
        Archetype::Fast => (log_normal(rng, 3.0..10.0, 3.0..5.0), 0.6..0.9, 1.0, 0.88..0.97),
        Archetype::Slow => (log_normal(rng, 40.0..70.0, 2.5..3.2), 0.5..0.8, 1.1, 0.8..0.9),
        Archetype::Picky => (log_normal(rng, 8.0..20.0, 2.5..3.5), 0.12..0.3, 1.8, 0.93..0.99),
        Archetype::Flaky => {
            let usual = log_normal(rng, 5.0..12.0, 3.0..4.0);
            let min_ms = round(rng.random_range(80.0..120.0));
            let stall = LatencySpec::Uniform { min_ms, max_ms: round(rng.random_range(200.0..300.0)) };
            let latency = LatencySpec::Mix {
                parts: vec![LatencyPart { weight: 0.92, latency: usual }, LatencyPart { weight: 0.08, latency: stall }],
            };
            (latency, 0.5..0.8, 0.8, 0.7..0.85)
        }
    };
    let p50 = base_price(vertical) * price_factor * rng.random_range(0.8..1.25);
    let p99 = p50 * rng.random_range(2.5..3.5);
    let mut ping = PingSpec {
        latency,
        bid_probability: round(rng.random_range(bid_probability)),
        price: PriceSpec::LogNormal { p50: money(p50), p99: money(p99) },
        ..PingSpec::default()
    };
    let mut states = Vec::new();
    match archetype {
        Archetype::Fast | Archetype::Slow if rng.random_bool(0.5) => {
            ping.price_by_state = [("CA", 1.25), ("NY", 1.2), ("FL", 1.15)].map(|(s, f)| (s.to_owned(), f)).into();
        }
        Archetype::Picky => {
            states = PICKY_STATES.sample(rng, 3).filter_map(|code| State::parse(code)).collect();
            ping.floor = Some(money(p50 * 0.8));
            ping.price_by_attribute = [(
                "credit_tier".to_owned(),
                [("excellent", 1.3), ("good", 1.1), ("fair", 0.9), ("poor", 0.6)]
                    .map(|(v, f)| (v.to_owned(), f))
                    .into(),
            )]
            .into();
        }
        Archetype::Flaky => {
            // Three to five kinds of fault, each at 0.5-2%.
            let kinds = rng.random_range(3..=5);
            ping.faults =
                FaultKind::ALL.sample(rng, kinds).map(|kind| (*kind, round(rng.random_range(0.005..0.02)))).collect();
        }
        _ => {}
    }
    let post_faults: FaultRates = if archetype == Archetype::Flaky {
        [(FaultKind::Error503, 0.02), (FaultKind::Reset, 0.01)].into()
    } else {
        FaultRates::new()
    };
    let post = PostSpec {
        latency: log_normal(rng, 15.0..40.0, 3.0..5.0),
        accept_rate: round(rng.random_range(accept_rate)),
        faults: post_faults,
    };
    BuyerSpec {
        id: format!("{}_{i:02}", archetype.name()),
        verticals,
        states,
        transport: if i % 4 == 3 { Transport::Http2 } else { Transport::Http1 },
        ping,
        post,
    }
}

/// A log-normal latency: median drawn from `p50_ms`, p99 that many times the median.
fn log_normal(rng: &mut SmallRng, p50_ms: std::ops::Range<f64>, p99_over_p50: std::ops::Range<f64>) -> LatencySpec {
    let p50 = round(rng.random_range(p50_ms));
    LatencySpec::LogNormal { p50_ms: p50, p99_ms: round(p50 * rng.random_range(p99_over_p50)) }
}

/// Two decimals: generated configs read like hand-written ones.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Whole cents.
fn money(units: f64) -> Micros {
    Micros((units * 100.0).round() as i64 * 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_configs_are_valid_varied_and_reproducible() {
        let config = SimConfig::generate(20, 7);
        assert!(config.validate().is_ok(), "{:?}", config.validate());
        assert_eq!(config, SimConfig::generate(20, 7));
        assert_ne!(config, SimConfig::generate(20, 8));
        let count = |prefix: &str| config.buyers.iter().filter(|b| b.id.starts_with(prefix)).count();
        assert_eq!((count("fast"), count("slow"), count("picky"), count("flaky")), (8, 4, 4, 4));
        for vertical in ["auto_insurance", "home_insurance", "health_insurance", "mortgage"] {
            assert!(config.buyers.iter().any(|b| b.verticals.iter().any(|v| v == vertical)), "{vertical}");
        }
        let auto = config.buyers.iter().filter(|b| b.verticals[0] == "auto_insurance").count();
        assert!(auto > config.buyers.len() / 2, "mostly auto insurance");
        for buyer in &config.buyers {
            let picky = buyer.id.starts_with("picky");
            assert_eq!(picky, !buyer.states.is_empty(), "{}: only picky buyers restrict states", buyer.id);
            assert_eq!(picky, buyer.ping.floor.is_some(), "{}: only picky buyers have a floor", buyer.id);
            assert_eq!(buyer.id.starts_with("flaky"), !buyer.ping.faults.is_empty(), "{}", buyer.id);
            let total: f64 = buyer.ping.faults.values().sum();
            assert!(total < 0.1, "{}: a few percent of faults, not {total}", buyer.id);
        }
    }

    #[test]
    fn slow_buyers_have_a_p99_near_or_past_100_ms() {
        for buyer in SimConfig::generate(20, 3).buyers.iter().filter(|b| b.id.starts_with("slow")) {
            let LatencySpec::LogNormal { p99_ms, .. } = buyer.ping.latency else { panic!("{}: log-normal", buyer.id) };
            assert!(p99_ms >= 90.0, "{}: p99 {p99_ms}", buyer.id);
        }
    }

    #[test]
    fn small_and_large_mixes_are_valid() {
        for n in [1, 2, 5, 99, 1000] {
            let config = SimConfig::generate(n, 1);
            assert_eq!(config.buyers.len(), n);
            assert!(config.validate().is_ok(), "{n}: {:?}", config.validate());
        }
    }
}
