//! `[rate_limits]`: how many requests each role's keys may make (a token bucket per key).
//!
//! ```toml
//! [rate_limits]
//! publisher = { per_second = 1000, burst = 2000 }
//! buyer = { per_second = 50, burst = 100 }
//! admin = { per_second = 50, burst = 100 }
//! ```
//!
//! A key made with `engine keys create` or `POST /v1/keys` may carry its own limit instead.

use serde::Deserialize;

/// A rate limit: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests the bucket holds (a burst of this many is admitted at once).
    pub burst: u32,
}

impl RateLimit {
    /// Why it is invalid, if it is: (field, message).
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !(self.per_second.is_finite() && (0.001..=1_000_000.0).contains(&self.per_second)) {
            return Err(("per_second", "must be between 0.001 and 1000000"));
        }
        if self.burst == 0 || self.burst > 1_000_000 {
            return Err(("burst", "must be between 1 and 1000000"));
        }
        Ok(())
    }
}

/// The default limit of each role's keys.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Publishers' keys (intake): 1,000/s, bursts of 2,000.
    pub publisher: RateLimit,
    /// Buyers' keys (feedback, pull): 50/s, bursts of 100.
    pub buyer: RateLimit,
    /// Admins' keys: 50/s, bursts of 100.
    pub admin: RateLimit,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            publisher: RateLimit { per_second: 1000.0, burst: 2000 },
            buyer: RateLimit { per_second: 50.0, burst: 100 },
            admin: RateLimit { per_second: 50.0, burst: 100 },
        }
    }
}

impl RateLimits {
    /// Why it is invalid, if it is: (key under `rate_limits`, message).
    pub fn validate(&self) -> Result<(), (String, &'static str)> {
        for (role, limit) in [("publisher", &self.publisher), ("buyer", &self.buyer), ("admin", &self.admin)] {
            limit.check().map_err(|(field, message)| (format!("{role}.{field}"), message))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert!(RateLimit { per_second: 0.0, burst: 1 }.check().is_err());
        assert!(RateLimit { per_second: f64::NAN, burst: 1 }.check().is_err());
        assert!(RateLimit { per_second: 1.0, burst: 0 }.check().is_err());
        assert!(RateLimit { per_second: 1.0, burst: 1 }.check().is_ok());
        assert!(RateLimits::default().validate().is_ok());
    }
}
