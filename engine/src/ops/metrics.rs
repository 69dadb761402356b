//! Metrics through the `metrics` crate, rendered as Prometheus text on `/metrics`.
//!
//! Handles are registered once (per buyer at registry build, global ones at start) and
//! updated with atomic adds on the hot path: no name lookup, no allocation, no lock.

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::buyers::Skip;
use crate::protocol::bid::InvalidBid;

/// Histogram buckets in seconds: fine below a millisecond (engine overhead), then up past
/// the ping deadline and the total budget.
const LATENCY_BUCKETS: [f64; 18] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5,
    1.0, 2.5,
];

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often histogram samples are folded into their buckets. The recorder queues every
/// sample until upkeep (or a scrape) drains it: without this, an engine nobody scrapes grows
/// by a few hundred bytes per lead (the soak test found it).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide Prometheus recorder once and returns its handle. Must run before
/// any handle below is created, or those handles record nowhere.
pub fn install() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .unwrap_or_else(|_| unreachable!("the bucket list is not empty"))
            .build_recorder();
        let handle = recorder.handle();
        // Only fails if another recorder is installed (an embedding program's): then ours
        // renders nothing, which is that program's choice.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Drains the histogram queues every [`UPKEEP_EVERY`], forever (the server aborts it at exit).
pub async fn upkeep() {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    loop {
        every.tick().await;
        install().run_upkeep();
    }
}

/// Per-buyer counters and histograms.
#[derive(Debug)]
pub struct BuyerMetrics {
    /// Ping round-trip time of answers received in time.
    pub ping_seconds: Histogram,
    /// Pings answered with a valid bid.
    pub bids: Counter,
    /// Pings answered with a no-bid.
    pub no_bids: Counter,
    /// Pings not answered by the deadline.
    pub timeouts: Counter,
    /// Pings that failed at the connection level.
    pub errors: Counter,
    /// Answers that arrived after the deadline (drained off the auction's path).
    pub late_answers: Counter,
    /// Invalid answers, by reason (indexed like [`InvalidBid::ALL`]).
    invalid: [Counter; InvalidBid::ALL.len()],
    /// Posts accepted.
    pub posts_accepted: Counter,
    /// Posts declined, errored, garbled or timed out.
    pub posts_rejected: Counter,
    /// Post round-trip time.
    pub post_seconds: Histogram,
    /// Leads the buyer wanted but could not take, by reason (indexed like [`Skip::ALL`]).
    skipped: [Counter; Skip::ALL.len()],
    /// Its circuit: 0 closed, 1 open, 2 half-open (a probe out).
    pub circuit_state: Gauge,
}

impl BuyerMetrics {
    /// Registers every handle for one buyer.
    pub fn new(buyer: &str) -> BuyerMetrics {
        let buyer = buyer.to_owned();
        let pings = |result: &'static str| metrics::counter!("engine_buyer_pings_total", "buyer" => buyer.clone(), "result" => result);
        let posts = |result: &'static str| metrics::counter!("engine_buyer_posts_total", "buyer" => buyer.clone(), "result" => result);
        BuyerMetrics {
            ping_seconds: metrics::histogram!("engine_buyer_ping_duration_seconds", "buyer" => buyer.clone()),
            bids: pings("bid"),
            no_bids: pings("no_bid"),
            timeouts: pings("timeout"),
            errors: pings("error"),
            late_answers: metrics::counter!("engine_buyer_late_answers_total", "buyer" => buyer.clone()),
            invalid: InvalidBid::ALL.map(|reason| {
                metrics::counter!("engine_buyer_invalid_bids_total", "buyer" => buyer.clone(), "reason" => reason.as_str())
            }),
            posts_accepted: posts("accepted"),
            posts_rejected: posts("rejected"),
            post_seconds: metrics::histogram!("engine_buyer_post_duration_seconds", "buyer" => buyer.clone()),
            circuit_state: metrics::gauge!("engine_buyer_circuit_state", "buyer" => buyer.clone()),
            skipped: Skip::ALL.map(|reason| {
                metrics::counter!("engine_buyer_skipped_total", "buyer" => buyer.clone(), "reason" => reason.as_str())
            }),
        }
    }

    /// Counts a lead the buyer was not pinged (or posted) for.
    pub fn skipped(&self, reason: Skip) {
        let i = Skip::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.skipped[i].increment(1);
    }

    /// Counts an invalid answer.
    pub fn invalid(&self, reason: InvalidBid) {
        let i = InvalidBid::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.invalid[i].increment(1);
    }
}

/// Engine-wide handles.
#[derive(Debug)]
pub struct EngineMetrics {
    /// Auctions sold.
    pub sold: Counter,
    /// Auctions unsold.
    pub unsold: Counter,
    /// Intake to answer.
    pub auction_seconds: Histogram,
    /// Auction time minus the time spent waiting on buyers: what the engine itself costs.
    pub overhead_seconds: Histogram,
    /// Leads being auctioned now.
    pub in_flight: Gauge,
    /// Pings sent, all buyers.
    pub pings_sent: Counter,
    /// Auction records dropped because the auction log fell behind.
    pub records_dropped: Counter,
    /// Intake answers by status code.
    responses: [(u16, Counter); RESPONSE_CODES.len()],
    /// Intake answers with any other status.
    other_responses: Counter,
}

/// Status codes intake answers with, counted separately (a small, fixed label set).
const RESPONSE_CODES: [u16; 13] = [200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 429, 500, 503];

impl EngineMetrics {
    /// Registers the engine-wide handles.
    pub fn new() -> EngineMetrics {
        let auctions = |outcome: &'static str| metrics::counter!("engine_auctions_total", "outcome" => outcome);
        EngineMetrics {
            sold: auctions("sold"),
            unsold: auctions("unsold"),
            auction_seconds: metrics::histogram!("engine_auction_duration_seconds"),
            overhead_seconds: metrics::histogram!("engine_overhead_seconds"),
            in_flight: metrics::gauge!("engine_leads_in_flight"),
            pings_sent: metrics::counter!("engine_pings_sent_total"),
            records_dropped: metrics::counter!("engine_records_dropped_total"),
            responses: RESPONSE_CODES
                .map(|code| (code, metrics::counter!("engine_intake_responses_total", "status" => code.to_string()))),
            other_responses: metrics::counter!("engine_intake_responses_total", "status" => "other"),
        }
    }
}

impl EngineMetrics {
    /// Counts an intake answer by status code.
    pub fn response(&self, status: u16) {
        match self.responses.iter().find(|(code, _)| *code == status) {
            Some((_, counter)) => counter.increment(1),
            None => self.other_responses.increment(1),
        }
    }
}

impl Default for EngineMetrics {
    fn default() -> Self {
        EngineMetrics::new()
    }
}
