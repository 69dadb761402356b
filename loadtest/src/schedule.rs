//! When each request is meant to be sent: evenly spaced or Poisson arrivals at a rate, for a
//! duration. A plain function of its inputs (and a seed), computed lazily.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Exp};

/// How arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exactly `1 / rate` apart.
    Constant,
    /// Exponential gaps with mean `1 / rate`: independent arrivals, as real publishers send.
    Poisson,
}

/// Offsets from the start of the run at which requests are due, until `duration`.
pub fn offsets(arrivals: Arrivals, rate: f64, duration: Duration, seed: u64) -> impl Iterator<Item = Duration> {
    let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
    let mut rng = SmallRng::seed_from_u64(seed);
    let gaps = Exp::new(rate).ok();
    let mut next = 0.0_f64;
    let mut count = 0u64;
    std::iter::from_fn(move || {
        let at = match (arrivals, &gaps) {
            (Arrivals::Poisson, Some(gaps)) => {
                let at = next;
                next += gaps.sample(&mut rng);
                at
            }
            _ => count as f64 / rate,
        };
        count += 1;
        let at = Duration::from_secs_f64(at);
        (at < duration).then_some(at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let all: Vec<Duration> = offsets(Arrivals::Constant, 100.0, Duration::from_secs(2), 1).collect();
        assert_eq!(all.len(), 200);
        assert_eq!(all[1] - all[0], Duration::from_millis(10));
        assert!(all.last().is_some_and(|last| *last < Duration::from_secs(2)));
    }

    #[test]
    fn poisson_arrivals_have_the_rate_on_average_and_vary() {
        let all: Vec<Duration> = offsets(Arrivals::Poisson, 1000.0, Duration::from_secs(20), 7).collect();
        let rate = all.len() as f64 / 20.0;
        assert!((rate - 1000.0).abs() < 30.0, "rate {rate}");
        assert!(all.windows(2).all(|w| w[0] <= w[1]), "ordered");
        let gaps: Vec<f64> = all.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        // Exponential gaps: the standard deviation equals the mean.
        assert!((var.sqrt() / mean - 1.0).abs() < 0.1, "cv {}", var.sqrt() / mean);
        let again: Vec<Duration> = offsets(Arrivals::Poisson, 1000.0, Duration::from_secs(20), 7).collect();
        assert_eq!(all, again, "seeded");
    }
}
