//! A buyer's behaviour, compiled from its spec: what to answer and after how long, as a plain
//! function of a random stream and the request. No I/O and no clock here; the server carries
//! out the [`Plan`]. Every request takes its draws in a fixed order (fault, latency, then the
//! answer), so the same seed and the same requests in the same order give the same plans.

use std::time::Duration;

use lead_protocol::geo::State;
use lead_protocol::money::Micros;
use rand::{Rng, RngExt};
use serde_json::{Map, Value};

use crate::config::{MAX_DELAY_MS, MAX_PRICE, PingSpec, PostSpec};
use crate::dist::Dist;
use crate::faults::{FaultKind, FaultTable};

/// Prices are whole cents: 10,000 micro-units.
const MICROS_PER_CENT: i64 = 10_000;

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan<A> {
    /// How long to wait before answering (a fault may wait differently).
    pub delay: Duration,
    /// The fault to inject instead of (or on top of) the answer.
    pub fault: Option<FaultKind>,
    /// The answer: for a ping, the bid price or `None` for a no-bid; for a post, accepted or not.
    pub answer: A,
}

/// How a buyer answers pings.
#[derive(Debug)]
pub struct PingProfile {
    latency: Dist,
    bid_probability: f64,
    price: Dist,
    floor: Micros,
    by_state: Box<[(State, f64)]>,
    by_attribute: Box<[AttributeMultipliers]>,
    faults: FaultTable,
}

/// Multipliers for the values of one attribute.
#[derive(Debug)]
struct AttributeMultipliers {
    name: Box<str>,
    values: Box<[(ValueKey, f64)]>,
}

/// A configured attribute value, ready to compare with the JSON value of a ping.
#[derive(Debug)]
struct ValueKey {
    /// Compared, ignoring ASCII case, with text values.
    text: Box<str>,
    /// Compared with number values, when the key is a number.
    number: Option<f64>,
    /// Compared with `true`/`false`, when the key is one.
    flag: Option<bool>,
}

impl ValueKey {
    fn new(text: &str) -> ValueKey {
        ValueKey { text: text.into(), number: text.parse().ok(), flag: text.parse().ok() }
    }

    fn matches(&self, value: &Value) -> bool {
        match value {
            Value::String(text) => text.eq_ignore_ascii_case(&self.text),
            Value::Number(number) => self.number.is_some() && number.as_f64() == self.number,
            Value::Bool(flag) => self.flag == Some(*flag),
            _ => false,
        }
    }
}

impl PingProfile {
    /// Compiles a validated spec.
    pub fn new(spec: &PingSpec) -> PingProfile {
        PingProfile {
            latency: spec.latency.compile(),
            bid_probability: spec.bid_probability,
            price: spec.price.compile(),
            floor: spec.floor.unwrap_or(Micros::ZERO),
            by_state: spec
                .price_by_state
                .iter()
                .filter_map(|(state, factor)| Some((State::parse(state)?, *factor)))
                .collect(),
            by_attribute: spec
                .price_by_attribute
                .iter()
                .map(|(name, values)| AttributeMultipliers {
                    name: name.as_str().into(),
                    values: values.iter().map(|(value, factor)| (ValueKey::new(value), *factor)).collect(),
                })
                .collect(),
            faults: FaultTable::new(&spec.faults),
        }
    }

    /// Plans the answer to a valid ping from `state` with these `attributes`. Draws, in order:
    /// fault, latency, bid or not, price (always, so a ping takes the same draws whatever
    /// the outcome).
    pub fn plan<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        state: State,
        attributes: &Map<String, Value>,
    ) -> Plan<Option<Micros>> {
        let (fault, delay) = draw_fault_and_delay(rng, &self.faults, &self.latency);
        let bids = rng.random::<f64>() < self.bid_probability;
        let price = self.price(rng, state, attributes);
        Plan { delay, fault, answer: bids.then_some(price) }
    }

    /// A price: drawn, multiplied by the matching state and attribute factors, rounded to
    /// cents, kept within (0, MAX_PRICE], and raised to the floor.
    fn price<R: Rng + ?Sized>(&self, rng: &mut R, state: State, attributes: &Map<String, Value>) -> Micros {
        let mut units = self.price.sample(rng);
        if let Some((_, factor)) = self.by_state.iter().find(|(s, _)| *s == state) {
            units *= factor;
        }
        for attribute in &*self.by_attribute {
            if let Some(value) = attributes.get(&*attribute.name)
                && let Some((_, factor)) = attribute.values.iter().find(|(key, _)| key.matches(value))
            {
                units *= factor;
            }
        }
        let max_cents = (MAX_PRICE.0 / MICROS_PER_CENT) as f64;
        let cents = (units * 100.0).round().clamp(1.0, max_cents) as i64;
        Micros(cents * MICROS_PER_CENT).max(self.floor)
    }
}

/// How a buyer answers posts.
#[derive(Debug)]
pub struct PostProfile {
    latency: Dist,
    accept_rate: f64,
    faults: FaultTable,
}

impl PostProfile {
    /// Compiles a validated spec.
    pub fn new(spec: &PostSpec) -> PostProfile {
        PostProfile {
            latency: spec.latency.compile(),
            accept_rate: spec.accept_rate,
            faults: FaultTable::new(&spec.faults),
        }
    }

    /// Plans the answer to a valid post. Draws, in order: fault, latency, accept or not.
    pub fn plan<R: Rng + ?Sized>(&self, rng: &mut R) -> Plan<bool> {
        let (fault, delay) = draw_fault_and_delay(rng, &self.faults, &self.latency);
        Plan { delay, fault, answer: rng.random::<f64>() < self.accept_rate }
    }
}

/// The first two draws of every request.
fn draw_fault_and_delay<R: Rng + ?Sized>(
    rng: &mut R,
    faults: &FaultTable,
    latency: &Dist,
) -> (Option<FaultKind>, Duration) {
    let fault = faults.pick(rng.random());
    let ms = latency.sample(rng);
    // A validated config draws finite, non-negative values; anything else waits not at all.
    (fault, Duration::try_from_secs_f64(ms.clamp(0.0, MAX_DELAY_MS) / 1000.0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LatencySpec, PriceSpec};
    use crate::faults::FaultRates;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    /// Draws per rate test: a 1% rate is then ~200 events (standard deviation ~14).
    const DRAWS: usize = 20_000;

    fn state(code: &str) -> State {
        State::parse(code).unwrap_or_else(|| unreachable!("test states are valid"))
    }

    fn attributes(json: Value) -> Map<String, Value> {
        match json {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn share(count: usize) -> f64 {
        count as f64 / DRAWS as f64
    }

    #[test]
    fn bid_probability_holds() {
        for (seed, probability) in [(1, 0.7), (2, 0.15), (3, 1.0), (4, 0.0)] {
            let profile = PingProfile::new(&PingSpec { bid_probability: probability, ..PingSpec::default() });
            let mut rng = SmallRng::seed_from_u64(seed);
            let bids = (0..DRAWS).filter(|_| profile.plan(&mut rng, state("WA"), &Map::new()).answer.is_some()).count();
            assert!((share(bids) - probability).abs() < 0.015, "{probability}: {}", share(bids));
        }
    }

    #[test]
    fn accept_rate_holds() {
        for (seed, rate) in [(5, 0.85), (6, 0.3)] {
            let profile = PostProfile::new(&PostSpec { accept_rate: rate, ..PostSpec::default() });
            let mut rng = SmallRng::seed_from_u64(seed);
            let accepted = (0..DRAWS).filter(|_| profile.plan(&mut rng).answer).count();
            assert!((share(accepted) - rate).abs() < 0.015, "{rate}: {}", share(accepted));
        }
    }

    #[test]
    fn every_fault_happens_at_its_rate() {
        let rates: FaultRates = FaultKind::ALL.iter().map(|kind| (*kind, 0.04)).collect();
        let profile = PingProfile::new(&PingSpec { faults: rates, ..PingSpec::default() });
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0usize; FaultKind::COUNT];
        let mut clean = 0;
        for _ in 0..DRAWS {
            match profile.plan(&mut rng, state("WA"), &Map::new()).fault {
                Some(kind) => counts[kind.index()] += 1,
                None => clean += 1,
            }
        }
        for kind in FaultKind::ALL {
            // 4% of 20,000 is 800, standard deviation ~28: 15% is over 4 deviations.
            assert!(
                (share(counts[kind.index()]) - 0.04).abs() < 0.006,
                "{}: {}",
                kind.as_str(),
                share(counts[kind.index()])
            );
        }
        assert!((share(clean) - 0.52).abs() < 0.02, "no fault: {}", share(clean));
    }

    #[test]
    fn prices_follow_the_distribution_multipliers_rounding_and_floor() {
        let spec = PingSpec {
            price: PriceSpec::Uniform { min: Micros::from_units(10), max: Micros::from_units(20) },
            floor: Some(Micros::from_units(12)),
            price_by_state: [("CA".to_owned(), 2.0)].into(),
            price_by_attribute: [(
                "credit_tier".to_owned(),
                [("excellent".to_owned(), 3.0), ("42".to_owned(), 0.5), ("true".to_owned(), 10.0)].into(),
            )]
            .into(),
            ..PingSpec::default()
        };
        let profile = PingProfile::new(&spec);
        let mut rng = SmallRng::seed_from_u64(8);
        let mut range = |code: &str, attrs: Value| {
            let attrs = attributes(attrs);
            let prices: Vec<i64> = (0..2_000)
                .filter_map(|_| profile.plan(&mut rng, state(code), &attrs).answer)
                .map(|price| price.0)
                .collect();
            assert!(prices.iter().all(|p| p % MICROS_PER_CENT == 0), "whole cents");
            (prices.iter().copied().min().unwrap_or(0), prices.iter().copied().max().unwrap_or(0))
        };
        let (lo, hi) = range("WA", serde_json::json!({}));
        assert_eq!(lo, Micros::from_units(12).0, "raised to the floor");
        assert!(hi <= Micros::from_units(20).0 && hi > Micros::from_units(19).0);
        let (lo, hi) = range("CA", serde_json::json!({"credit_tier": "Excellent"}));
        assert!(lo >= Micros::from_units(60).0 && hi <= Micros::from_units(120).0, "x2 for CA, x3 for excellent");
        let (lo, _) = range("WA", serde_json::json!({"credit_tier": 42}));
        assert_eq!(lo, Micros::from_units(12).0, "x0.5 by a number, then the floor");
        let (lo, _) = range("WA", serde_json::json!({"credit_tier": true}));
        assert!(lo >= Micros::from_units(100).0, "x10 by a flag");
    }

    #[test]
    fn latency_is_drawn_in_milliseconds() {
        let spec = PostSpec { latency: LatencySpec::Constant { ms: 12.5 }, ..PostSpec::default() };
        let plan = PostProfile::new(&spec).plan(&mut SmallRng::seed_from_u64(9));
        assert_eq!(plan.delay, Duration::from_micros(12_500));
    }

    #[test]
    fn same_seed_same_plans() {
        let spec = PingSpec {
            bid_probability: 0.5,
            latency: LatencySpec::LogNormal { p50_ms: 5.0, p99_ms: 50.0 },
            price: PriceSpec::LogNormal { p50: Micros::from_units(10), p99: Micros::from_units(40) },
            ..PingSpec::default()
        };
        let profile = PingProfile::new(&spec);
        let plans = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            (0..100).map(|_| profile.plan(&mut rng, state("TX"), &Map::new())).collect::<Vec<_>>()
        };
        assert_eq!(plans(10), plans(10));
        assert_ne!(plans(10), plans(11));
    }
}
