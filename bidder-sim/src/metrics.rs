//! `GET /metrics`: the `/stats` counters as Prometheus text (`bidder_sim_*`), rendered by
//! metrics-exporter-prometheus.
//!
//! The recorder is the simulator's own and is never installed as the process-wide one: the
//! engine's `engine demo` runs the engine and the simulator in one process, and the engine's
//! recorder must stay the global one. Nothing is recorded on the request path either: a
//! scrape copies the atomic counters into the recorder (`absolute`) and renders it.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use crate::stats::StatsSnapshot;

/// Renders stats as Prometheus text.
pub(crate) struct Exporter {
    recorder: PrometheusRecorder,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exporter(..)")
    }
}

impl Exporter {
    /// A private recorder.
    pub fn new() -> Exporter {
        Exporter { recorder: PrometheusBuilder::new().build_recorder() }
    }

    /// The text of one scrape.
    pub fn render(&self, stats: &StatsSnapshot) -> String {
        metrics::with_local_recorder(&self.recorder, || {
            for (buyer, counts) in &stats.buyers {
                let buyer = buyer.clone();
                metrics::counter!("bidder_sim_pings_total", "buyer" => buyer.clone()).absolute(counts.pings);
                for (answer, n) in [("bid", counts.bids), ("no_bid", counts.no_bids)] {
                    metrics::counter!("bidder_sim_ping_answers_total", "buyer" => buyer.clone(), "answer" => answer)
                        .absolute(n);
                }
                metrics::counter!("bidder_sim_posts_total", "buyer" => buyer.clone()).absolute(counts.posts);
                for (answer, n) in [("accepted", counts.accepted), ("declined", counts.declined)] {
                    metrics::counter!("bidder_sim_post_answers_total", "buyer" => buyer.clone(), "answer" => answer)
                        .absolute(n);
                }
                for (kind, n) in &counts.faults_injected {
                    metrics::counter!("bidder_sim_faults_injected_total", "buyer" => buyer.clone(), "kind" => *kind)
                        .absolute(*n);
                }
                for (reason, n) in &counts.violations {
                    metrics::counter!("bidder_sim_contract_violations_total", "buyer" => buyer.clone(), "reason" => *reason)
                        .absolute(*n);
                }
                metrics::counter!("bidder_sim_pii_violations_total", "buyer" => buyer).absolute(counts.pii_violations);
            }
            metrics::counter!("bidder_sim_unroutable_requests_total").absolute(stats.unroutable);
        });
        self.recorder.handle().render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::BuyerStats;

    #[test]
    fn renders_prefixed_counters_without_a_global_recorder() {
        let stats = BuyerStats { pings: 5, pii_violations: 1, ..BuyerStats::default() };
        let text = Exporter::new().render(&StatsSnapshot::new(vec![("acme".into(), stats)], 2));
        assert!(text.contains("bidder_sim_pings_total{buyer=\"acme\"} 5"), "{text}");
        assert!(text.contains("bidder_sim_pii_violations_total{buyer=\"acme\"} 1"), "{text}");
        assert!(text.contains("bidder_sim_unroutable_requests_total 2"), "{text}");
        assert!(text.lines().all(|line| line.is_empty() || line.starts_with('#') || line.starts_with("bidder_sim_")));
    }
}
