//! What a run measured: outcomes, errors, and latency distributions (client-side from the
//! intended send time, and the engine's own `timings_ms.total` and `timings_ms.ping`), as text
//! and as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest latency the histograms hold (a minute): anything slower is clamped to it and is a
/// client timeout anyway.
const MAX_MICROS: u64 = 60_000_000;

/// One request's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// An HTTP answer.
    Answer {
        /// From the intended send time to the end of the answer.
        latency: Duration,
        /// HTTP status.
        status: u16,
        /// `outcome` of a 200 answer.
        outcome: Option<String>,
        /// The engine's `timings_ms` of a 200 answer.
        engine: EngineTimings,
    },
    /// No answer within the client timeout.
    Timeout,
    /// The connection failed.
    ConnectionError,
}

/// The engine's own `timings_ms` in an answer, when it has them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineTimings {
    /// `timings_ms.ping`: the ping stage, fan-out to ranking.
    pub ping: Option<f64>,
    /// `timings_ms.total`: intake to answer.
    pub total: Option<f64>,
}

/// Collects samples.
#[derive(Debug)]
pub struct Recorder {
    latency: Histogram<u64>,
    engine_total: Histogram<u64>,
    engine_ping: Histogram<u64>,
    outcomes: BTreeMap<String, u64>,
    errors_by_status: BTreeMap<u16, u64>,
    client_timeouts: u64,
    connection_errors: u64,
    sent: u64,
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Number of values.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest.
    pub max: f64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Requested rate, per second.
    pub target_rate: f64,
    /// Answers received per second of the run.
    pub achieved_rate: f64,
    /// Scheduled duration, seconds.
    pub duration_s: f64,
    /// Requests sent.
    pub sent: u64,
    /// Outcomes of 200 answers (`sold`, `unsold`, `duplicate`).
    pub outcomes: BTreeMap<String, u64>,
    /// Non-200 answers by status.
    pub errors_by_status: BTreeMap<u16, u64>,
    /// Requests with no answer within the client timeout.
    pub client_timeouts: u64,
    /// Requests whose connection failed.
    pub connection_errors: u64,
    /// Latency from the intended send time (coordinated-omission corrected).
    pub latency_ms: Percentiles,
    /// The engine's own `timings_ms.total` of 200 answers.
    pub engine_total_ms: Percentiles,
    /// The engine's own `timings_ms.ping` of 200 answers: what the deadline bounds.
    pub engine_ping_ms: Percentiles,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        let histogram =
            || Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| unreachable!("valid bounds"));
        Recorder {
            latency: histogram(),
            engine_total: histogram(),
            engine_ping: histogram(),
            outcomes: BTreeMap::new(),
            errors_by_status: BTreeMap::new(),
            client_timeouts: 0,
            connection_errors: 0,
            sent: 0,
        }
    }

    /// Counts a request as sent.
    pub fn count_sent(&mut self) {
        self.sent += 1;
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Adds one result.
    pub fn record(&mut self, sample: Sample) {
        match sample {
            Sample::Answer { latency, status, outcome, engine } => {
                let _ = self.latency.record(micros(latency));
                if status == 200 {
                    *self.outcomes.entry(outcome.unwrap_or_else(|| "unreadable".into())).or_default() += 1;
                } else {
                    *self.errors_by_status.entry(status).or_default() += 1;
                }
                record_ms(&mut self.engine_total, engine.total);
                record_ms(&mut self.engine_ping, engine.ping);
            }
            Sample::Timeout => self.client_timeouts += 1,
            Sample::ConnectionError => self.connection_errors += 1,
        }
    }

    /// Answers recorded so far.
    pub fn answered(&self) -> u64 {
        self.latency.len()
    }

    /// The report, given the target rate, the scheduled duration and the time it really took
    /// to get every answer.
    pub fn report(&self, target_rate: f64, duration: Duration, elapsed: Duration) -> Report {
        Report {
            target_rate,
            achieved_rate: self.answered() as f64 / elapsed.as_secs_f64().max(1e-9),
            duration_s: duration.as_secs_f64(),
            sent: self.sent,
            outcomes: self.outcomes.clone(),
            errors_by_status: self.errors_by_status.clone(),
            client_timeouts: self.client_timeouts,
            connection_errors: self.connection_errors,
            latency_ms: percentiles(&self.latency),
            engine_total_ms: percentiles(&self.engine_total),
            engine_ping_ms: percentiles(&self.engine_ping),
        }
    }
}

/// Records a server-reported figure in milliseconds, when it is a sane one.
fn record_ms(histogram: &mut Histogram<u64>, ms: Option<f64>) {
    if let Some(ms) = ms.filter(|ms| ms.is_finite() && *ms >= 0.0 && *ms < MAX_MICROS as f64 / 1000.0) {
        let _ = histogram.record(micros(Duration::from_secs_f64(ms / 1000.0)));
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS)
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |micros: u64| micros as f64 / 1000.0;
    if h.is_empty() {
        return Percentiles { count: 0, p50: 0.0, p90: 0.0, p99: 0.0, p99_9: 0.0, max: 0.0 };
    }
    Percentiles {
        count: h.len(),
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p99_9: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms  ({} values)",
            self.p50, self.p90, self.p99, self.p99_9, self.max, self.count
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rate        target {:.1}/s, achieved {:.1}/s over {:.1} s",
            self.target_rate, self.achieved_rate, self.duration_s
        )?;
        let outcomes: Vec<String> = self.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(f, "sent        {}", self.sent)?;
        writeln!(f, "outcomes    {}", if outcomes.is_empty() { "none".into() } else { outcomes.join(", ") })?;
        let errors: Vec<String> = self.errors_by_status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        writeln!(
            f,
            "errors      {}; client timeouts {}; connection errors {}",
            if errors.is_empty() { "no error status".into() } else { errors.join(", ") },
            self.client_timeouts,
            self.connection_errors
        )?;
        writeln!(f, "latency     {}", self.latency_ms)?;
        writeln!(f, "engine      {}", self.engine_total_ms)?;
        write!(f, "engine ping {}", self.engine_ping_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(ms: u64, status: u16, outcome: &str, engine_ms: f64) -> Sample {
        Sample::Answer {
            latency: Duration::from_millis(ms),
            status,
            outcome: (status == 200).then(|| outcome.to_owned()),
            engine: EngineTimings {
                ping: (status == 200).then_some(engine_ms / 4.0),
                total: (status == 200).then_some(engine_ms),
            },
        }
    }

    #[test]
    fn report_arithmetic() {
        let mut recorder = Recorder::new();
        for i in 1..=100u64 {
            recorder.count_sent();
            recorder.record(answer(i, 200, if i % 4 == 0 { "unsold" } else { "sold" }, i as f64 / 2.0));
        }
        for _ in 0..3 {
            recorder.count_sent();
            recorder.record(answer(7, 503, "", 0.0));
        }
        recorder.count_sent();
        recorder.record(Sample::Timeout);
        recorder.count_sent();
        recorder.record(Sample::ConnectionError);
        let report = recorder.report(50.0, Duration::from_secs(2), Duration::from_millis(2060));
        assert_eq!(report.sent, 105);
        assert_eq!(report.outcomes.get("sold"), Some(&75));
        assert_eq!(report.outcomes.get("unsold"), Some(&25));
        assert_eq!(report.errors_by_status.get(&503), Some(&3));
        assert_eq!((report.client_timeouts, report.connection_errors), (1, 1));
        // 103 answers in 2.06 s.
        assert!((report.achieved_rate - 50.0).abs() < 0.01, "{}", report.achieved_rate);
        // Latencies 1..=100 ms plus three more of 7 ms: the 52nd of 103 values is 49 ms.
        assert!((report.latency_ms.p50 - 49.0).abs() <= 0.1, "{:?}", report.latency_ms);
        assert!((report.latency_ms.p99 - 99.0).abs() <= 1.0, "{:?}", report.latency_ms);
        assert!((report.latency_ms.max - 100.0).abs() <= 0.1);
        assert_eq!(report.latency_ms.count, 103);
        // Engine totals are half the latencies, for the 100 answers that were 200.
        assert_eq!(report.engine_total_ms.count, 100);
        assert!((report.engine_total_ms.p50 - 25.0).abs() <= 0.5, "{:?}", report.engine_total_ms);
        // Ping stages are a quarter of the totals.
        assert_eq!(report.engine_ping_ms.count, 100);
        assert!((report.engine_ping_ms.p99 - 12.375).abs() <= 0.1, "{:?}", report.engine_ping_ms);
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["errors_by_status"]["503"], 3);
        assert!(report.to_string().contains("sold 75"));
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let report = Recorder::new().report(10.0, Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(report.latency_ms.count, 0);
        assert_eq!(report.achieved_rate, 0.0);
    }
}
