//! What each simulated buyer has seen and done, counted with relaxed atomics on the request
//! path (no lock, no allocation), and read as a [`StatsSnapshot`] for `GET /stats`,
//! `/metrics` and [`Simulator::stats`](crate::Simulator::stats).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Serialize, Serializer};

use crate::faults::FaultKind;
use crate::inspect::Violation;

/// One buyer's live counters.
#[derive(Debug, Default)]
pub(crate) struct BuyerCounters {
    pub pings: AtomicU64,
    pub bids: AtomicU64,
    pub no_bids: AtomicU64,
    pub posts: AtomicU64,
    pub accepted: AtomicU64,
    pub declined: AtomicU64,
    pub pii_violations: AtomicU64,
    faults: [AtomicU64; FaultKind::COUNT],
    violations: [AtomicU64; Violation::COUNT],
}

/// Adds one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl BuyerCounters {
    /// Counts an injected fault.
    pub fn fault(&self, kind: FaultKind) {
        bump(&self.faults[kind.index()]);
    }

    /// Counts a contract violation; returns whether it is this buyer's first (worth a log line).
    pub fn violation(&self, violation: Violation) -> bool {
        let before: u64 = self.violations.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        bump(&self.violations[violation.index()]);
        before == 0
    }

    /// The counters now.
    pub fn snapshot(&self) -> BuyerStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let violations: BTreeMap<&'static str, u64> =
            Violation::ALL.iter().map(|v| (v.as_str(), read(&self.violations[v.index()]))).collect();
        BuyerStats {
            pings: read(&self.pings),
            bids: read(&self.bids),
            no_bids: read(&self.no_bids),
            faults_injected: FaultKind::ALL.iter().map(|k| (k.as_str(), read(&self.faults[k.index()]))).collect(),
            posts: read(&self.posts),
            accepted: read(&self.accepted),
            declined: read(&self.declined),
            contract_violations: violations.values().sum(),
            violations,
            pii_violations: read(&self.pii_violations),
        }
    }
}

/// One buyer's counts since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuyerStats {
    /// Ping requests received (valid or not).
    pub pings: u64,
    /// Pings answered with a bid (on time or not; faults excluded).
    pub bids: u64,
    /// Pings answered with `{"bid": false}` (faults excluded).
    pub no_bids: u64,
    /// Faults injected, pings and posts together, by kind (every kind listed).
    pub faults_injected: BTreeMap<&'static str, u64>,
    /// Post requests received (valid or not).
    pub posts: u64,
    /// Posts answered `{"accepted": true}` (faults excluded).
    pub accepted: u64,
    /// Posts answered `{"accepted": false}` (faults excluded).
    pub declined: u64,
    /// Contract violations by the engine, all reasons together.
    pub contract_violations: u64,
    /// Contract violations by reason (every reason listed).
    pub violations: BTreeMap<&'static str, u64>,
    /// Pings that carried PII (contact field names, emails, phone numbers).
    pub pii_violations: u64,
}

impl BuyerStats {
    /// Faults injected, all kinds together.
    pub fn faults_total(&self) -> u64 {
        self.faults_injected.values().sum()
    }

    fn add(&mut self, other: &BuyerStats) {
        self.pings += other.pings;
        self.bids += other.bids;
        self.no_bids += other.no_bids;
        self.posts += other.posts;
        self.accepted += other.accepted;
        self.declined += other.declined;
        self.contract_violations += other.contract_violations;
        self.pii_violations += other.pii_violations;
        for (kind, n) in &other.faults_injected {
            *self.faults_injected.entry(kind).or_default() += n;
        }
        for (reason, n) in &other.violations {
            *self.violations.entry(reason).or_default() += n;
        }
    }
}

/// Every buyer's counts: the body of `GET /stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Per buyer, in config order (a JSON object keyed by buyer id).
    #[serde(serialize_with = "in_order")]
    pub buyers: Vec<(String, BuyerStats)>,
    /// All buyers added up.
    pub totals: BuyerStats,
    /// Requests to a path that names no buyer (404).
    pub unroutable: u64,
}

impl StatsSnapshot {
    /// Builds a snapshot, with totals, from per-buyer counts.
    pub(crate) fn new(buyers: Vec<(String, BuyerStats)>, unroutable: u64) -> StatsSnapshot {
        let mut totals = BuyerStats::default();
        for (_, stats) in &buyers {
            totals.add(stats);
        }
        StatsSnapshot { buyers, totals, unroutable }
    }

    /// One buyer's counts.
    pub fn buyer(&self, id: &str) -> Option<&BuyerStats> {
        self.buyers.iter().find(|(buyer, _)| buyer == id).map(|(_, stats)| stats)
    }
}

fn in_order<S: Serializer>(buyers: &[(String, BuyerStats)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(buyers.iter().map(|(id, stats)| (id, stats)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lists_every_kind_and_adds_up() {
        let counters = BuyerCounters::default();
        bump(&counters.pings);
        counters.fault(FaultKind::Reset);
        assert!(counters.violation(Violation::BadZip), "first violation");
        assert!(!counters.violation(Violation::WrongPrice));
        let stats = counters.snapshot();
        assert_eq!(stats.faults_injected.len(), FaultKind::COUNT);
        assert_eq!(stats.faults_injected["reset"], 1);
        assert_eq!(stats.contract_violations, 2);
        let snapshot = StatsSnapshot::new(vec![("a".into(), stats.clone()), ("b".into(), stats)], 3);
        assert_eq!(snapshot.totals.pings, 2);
        assert_eq!(snapshot.totals.violations["bad_zip"], 2);
        let json = serde_json::to_value(&snapshot).unwrap_or_default();
        assert_eq!(json["buyers"]["b"]["faults_injected"]["reset"], 1);
        assert_eq!(json["unroutable"], 3);
    }
}
