//! Synthetic leads: varied, valid, unique per call, reproducible from a seed. Used by
//! `engine demo` and `loadtest` to feed the engine with leads that look like real traffic
//! (states, ZIPs, verticals, credit tiers, ages) without any real person's data.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

/// (state, a ZIP in it) pairs, weighted toward populous states.
const PLACES: [(&str, &str); 16] = [
    ("CA", "90210"),
    ("CA", "94103"),
    ("TX", "75201"),
    ("TX", "77002"),
    ("FL", "33101"),
    ("FL", "32801"),
    ("NY", "10001"),
    ("NY", "14604"),
    ("IL", "60601"),
    ("PA", "19103"),
    ("OH", "43215"),
    ("GA", "30303"),
    ("WA", "98004"),
    ("OR", "97201"),
    ("MA", "02139"),
    ("AZ", "85004"),
];

/// Verticals, most traffic first.
pub const VERTICALS: [&str; 4] = ["auto_insurance", "home_insurance", "health_insurance", "mortgage"];

const CREDIT_TIERS: [&str; 4] = ["excellent", "good", "fair", "poor"];
const FIRST_NAMES: [&str; 8] = ["Ava", "Liam", "Mia", "Noah", "Zoe", "Eli", "Ivy", "Max"];
const LAST_NAMES: [&str; 8] = ["Reyes", "Chen", "Patel", "Okafor", "Novak", "Berg", "Silva", "Kim"];

/// Makes synthetic leads.
#[derive(Debug)]
pub struct LeadFactory {
    rng: SmallRng,
    serial: u64,
    run: u64,
}

impl LeadFactory {
    /// A factory whose leads depend only on `seed`; `run` makes contact data unique across
    /// runs (dedupe must not see two runs' leads as the same person).
    pub fn new(seed: u64, run: u64) -> LeadFactory {
        LeadFactory { rng: SmallRng::seed_from_u64(seed), serial: 0, run }
    }

    /// The next lead as a JSON value (contract v1 body of `POST /v1/leads`).
    pub fn next_lead(&mut self) -> Value {
        self.serial += 1;
        let rng = &mut self.rng;
        let (state, zip) = PLACES[rng.random_range(0..PLACES.len())];
        let vertical = VERTICALS[[0, 0, 0, 0, 1, 1, 2, 3][rng.random_range(0..8)]];
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        // 555-01xx numbers are reserved for fiction; the serial keeps every lead distinct.
        let line = 100 + (self.serial % 100);
        let area = [206, 312, 415, 512, 617, 718, 305, 404][(self.serial / 100 % 8) as usize];
        json!({
            "vertical": vertical,
            "attributes": {
                "zip": zip,
                "state": state,
                "credit_tier": CREDIT_TIERS[rng.random_range(0..CREDIT_TIERS.len())],
                "age": rng.random_range(18..80),
                "homeowner": rng.random_bool(0.6),
            },
            "contact": {
                "first_name": first,
                "last_name": last,
                "email": format!("{}.{}.{}.{}@example.com", first.to_lowercase(), last.to_lowercase(), self.run, self.serial),
                "phone": format!("+1{area}5550{line:03}"),
            },
            "consent": {
                "ip": format!("203.0.113.{}", rng.random_range(1..255)),
                "consent_text": "I agree to be contacted about quotes.",
                "captured_at": "2026-11-23T12:00:00Z",
            },
            "source": { "sub_id": format!("s{}", rng.random_range(1..6)) },
            "test": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leads_are_reproducible_varied_and_unique() {
        let a: Vec<Value> = (0..50)
            .map({
                let mut f = LeadFactory::new(7, 1);
                move |_| f.next_lead()
            })
            .collect();
        let b: Vec<Value> = (0..50)
            .map({
                let mut f = LeadFactory::new(7, 1);
                move |_| f.next_lead()
            })
            .collect();
        assert_eq!(a, b, "same seed, same leads");
        let emails: std::collections::HashSet<_> = a.iter().map(|l| l["contact"]["email"].clone()).collect();
        assert_eq!(emails.len(), 50, "unique contact data");
        let states: std::collections::HashSet<_> = a.iter().map(|l| l["attributes"]["state"].clone()).collect();
        assert!(states.len() > 5, "varied states");
    }
}
