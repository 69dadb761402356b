//! Random distributions of one number, the building block of every profile: a latency in
//! milliseconds or a price in currency units is drawn from a [`Dist`]. Each is compiled once
//! from the config (log-normal quantiles turned into `mu`/`sigma`, mix weights into a
//! cumulative table) so that a draw is a few arithmetic operations and never allocates.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

/// The standard normal quantile at 0.99: `p99 = exp(mu + Z99 * sigma)`.
const Z99: f64 = 2.326_347_874_040_841;

/// A distribution over non-negative numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Always this value.
    Constant(f64),
    /// Evenly between `lo` and `hi` (inclusive of `lo`).
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// `exp(mu + sigma * z)` with `z` standard normal.
    LogNormal {
        /// Log of the median.
        mu: f64,
        /// Spread in log space.
        sigma: f64,
    },
    /// One of several distributions, chosen by weight: `(cumulative share, dist)`, the last
    /// share being 1.
    Mix(Box<[(f64, Dist)]>),
}

impl Dist {
    /// The log-normal whose median is `p50` and whose 99th percentile is `p99`
    /// (`0 < p50 <= p99`; equal quantiles give a constant).
    pub fn log_normal(p50: f64, p99: f64) -> Dist {
        Dist::LogNormal { mu: p50.ln(), sigma: (p99.ln() - p50.ln()).max(0.0) / Z99 }
    }

    /// A weighted mix of `(weight, dist)` parts (weights positive; they need not add up to 1).
    pub fn mix(parts: Vec<(f64, Dist)>) -> Dist {
        let total: f64 = parts.iter().map(|(weight, _)| weight).sum();
        let mut cumulative = 0.0;
        let mut table: Vec<(f64, Dist)> = parts
            .into_iter()
            .map(|(weight, dist)| {
                cumulative += weight / total;
                (cumulative, dist)
            })
            .collect();
        // Rounding must not leave a gap above the last share.
        if let Some(last) = table.last_mut() {
            last.0 = 1.0;
        }
        Dist::Mix(table.into_boxed_slice())
    }

    /// One draw.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Dist::Constant(value) => *value,
            Dist::Uniform { lo, hi } => lo + (hi - lo) * rng.random::<f64>(),
            Dist::LogNormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma * z).exp()
            }
            Dist::Mix(parts) => {
                let pick: f64 = rng.random();
                match parts.iter().find(|(share, _)| pick < *share).or(parts.last()) {
                    Some((_, dist)) => dist.sample(rng),
                    None => 0.0,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    /// Enough draws that the 99th percentile rests on 200 samples.
    const DRAWS: usize = 20_000;

    fn sorted_draws(dist: &Dist, seed: u64) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut values: Vec<f64> = (0..DRAWS).map(|_| dist.sample(&mut rng)).collect();
        values.sort_by(f64::total_cmp);
        values
    }

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
    }

    fn assert_near(actual: f64, expected: f64, tolerance: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= expected * tolerance,
            "{what}: {actual} is not within {tolerance} of {expected}"
        );
    }

    #[test]
    fn log_normal_matches_its_p50_and_p99() {
        for (seed, p50, p99) in [(1, 20.0, 120.0), (2, 3.0, 9.0), (3, 12.5, 40.0)] {
            let values = sorted_draws(&Dist::log_normal(p50, p99), seed);
            assert_near(quantile(&values, 0.5), p50, 0.05, "p50");
            assert_near(quantile(&values, 0.99), p99, 0.12, "p99");
        }
    }

    #[test]
    fn log_normal_with_equal_quantiles_is_constant() {
        let values = sorted_draws(&Dist::log_normal(7.0, 7.0), 4);
        assert_near(values[0], 7.0, 1e-9, "min");
        assert_near(values[DRAWS - 1], 7.0, 1e-9, "max");
    }

    #[test]
    fn uniform_stays_in_bounds_and_fills_them() {
        let values = sorted_draws(&Dist::Uniform { lo: 5.0, hi: 15.0 }, 5);
        assert!(values[0] >= 5.0 && values[DRAWS - 1] <= 15.0);
        assert!(values[0] < 5.01 && values[DRAWS - 1] > 14.99, "reaches both ends");
        assert_near(quantile(&values, 0.5), 10.0, 0.03, "median");
        assert_near(quantile(&values, 0.25), 7.5, 0.04, "first quartile");
    }

    #[test]
    fn constant_is_constant() {
        let values = sorted_draws(&Dist::Constant(3.5), 6);
        assert!(values.iter().all(|v| *v == 3.5));
    }

    #[test]
    fn mix_follows_its_weights() {
        let dist = Dist::mix(vec![(9.0, Dist::Constant(1.0)), (1.0, Dist::Constant(100.0))]);
        let values = sorted_draws(&dist, 7);
        let slow = values.iter().filter(|v| **v == 100.0).count() as f64 / DRAWS as f64;
        assert_near(slow, 0.1, 0.08, "share of the 10% part");
        assert!(values.iter().all(|v| *v == 1.0 || *v == 100.0));
    }

    #[test]
    fn same_seed_same_draws() {
        let dist = Dist::mix(vec![(1.0, Dist::log_normal(5.0, 50.0)), (1.0, Dist::Uniform { lo: 0.0, hi: 1.0 })]);
        assert_eq!(sorted_draws(&dist, 8), sorted_draws(&dist, 8));
        assert_ne!(sorted_draws(&dist, 8), sorted_draws(&dist, 9));
    }
}
