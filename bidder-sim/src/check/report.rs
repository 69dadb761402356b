//! The checker's report: every rule's result with its first offending answer, the ping latency
//! percentiles, and what the test post got. Printed for people (`Display`) or as JSON
//! (`--json`, via `Serialize`).

use std::fmt;
use std::time::Duration;

use lead_protocol::post::{PostRejection, PostVerdict, judge_post};
use serde::Serialize;

use super::judge::{Observations, judge, judgeable, millis};
use super::probe::{Exchange, Failure};
use super::rules::{Outcome, RuleResult};

/// The outcome of a check run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when no rule failed (warnings allowed): exit code 0.
    pub passed: bool,
    /// Where the pings went.
    pub ping_url: String,
    /// Where the post went.
    pub post_url: String,
    /// The `tmax_ms` announced.
    pub tmax_ms: u32,
    /// Pings asked for.
    pub pings_planned: u32,
    /// Pings sent: fewer than planned only when the run hit its time limit.
    pub pings_sent: usize,
    /// Every rule, in order.
    pub rules: Vec<RuleResult>,
    /// Latency of the pings that got an answer; `None` if none did.
    pub ping_latency: Option<Latency>,
    /// What the test post was and what it got.
    pub post: PostSummary,
}

/// Ping latency percentiles, in milliseconds, from sending to the whole answer read.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Answers measured.
    pub answers: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// The test post: which ping it followed, at what price, and how the buyer answered.
#[derive(Debug, Clone, Serialize)]
pub struct PostSummary {
    /// The ping it followed (1-based, as in the rule examples).
    pub after_ping: usize,
    /// Price in the post.
    pub price: String,
    /// `bid_id` in the post.
    pub bid_id: Option<String>,
    /// False when no ping got a valid bid, so the post followed the first ping anyway.
    pub after_bid: bool,
    /// What the answer amounts to for the engine: accepted, declined, rejected, no answer.
    pub answer: String,
}

impl Report {
    /// Judges `observations` and sums them up. `pings_planned` and the URLs are for the header.
    pub fn new(
        ping_url: String,
        post_url: String,
        tmax_ms: u32,
        pings_planned: u32,
        observations: &Observations,
        post: PostSummary,
    ) -> Report {
        let rules = judge(observations);
        let answered = observations.pings.iter().filter(|s| s.exchange.result.is_ok()).map(|s| s.exchange.elapsed);
        Report {
            passed: rules.iter().all(|r| r.outcome != Outcome::Fail),
            ping_url,
            post_url,
            tmax_ms,
            pings_planned,
            pings_sent: observations.pings.len(),
            rules,
            ping_latency: Latency::of(answered.collect()),
            post,
        }
    }
}

impl Latency {
    /// Nearest-rank percentiles of `samples`, or `None` when there are none.
    fn of(mut samples: Vec<Duration>) -> Option<Latency> {
        samples.sort_unstable();
        let at = |percent: usize| {
            let rank = (samples.len() * percent).div_ceil(100).max(1);
            samples.get(rank - 1).map_or(0.0, |d| as_millis(*d))
        };
        let max = *samples.last()?;
        Some(Latency { answers: samples.len(), p50_ms: at(50), p90_ms: at(90), p99_ms: at(99), max_ms: as_millis(max) })
    }
}

/// Milliseconds, to the microsecond: finer is noise, and it keeps `--json` readable.
fn as_millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl PostSummary {
    /// Describes the post answer the way the engine would take it.
    pub fn describe(exchange: &Exchange) -> String {
        let Some(answer) = judgeable(exchange) else {
            return match &exchange.result {
                Ok(_) => "rejected: the answer is over the engine's 16 KiB limit".into(),
                Err(Failure::Transport(error)) => format!("no answer: {error}"),
                Err(Failure::NoAnswer) => format!("no answer within {}", millis(exchange.elapsed)),
            };
        };
        match judge_post(answer.status, &answer.body) {
            PostVerdict::Accepted { buyer_lead_id: Some(id) } => format!("accepted, buyer_lead_id {:?}", id),
            PostVerdict::Accepted { buyer_lead_id: None } => "accepted".into(),
            PostVerdict::Rejected(PostRejection::Declined(Some(reason))) => format!("declined, reason {:?}", reason),
            PostVerdict::Rejected(PostRejection::Declined(None)) => "declined".into(),
            PostVerdict::Rejected(PostRejection::Status(status)) => format!("rejected: HTTP {status}"),
            PostVerdict::Rejected(PostRejection::Malformed) => "rejected: not {\"accepted\": bool}".into(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "bidder-sim check")?;
        writeln!(f, "  pings: {} to {} (tmax_ms {})", self.pings_sent, self.ping_url, self.tmax_ms)?;
        if self.pings_sent < self.pings_planned as usize {
            writeln!(f, "         stopped early: the run hit its time limit before all {} pings", self.pings_planned)?;
        }
        writeln!(f, "  post:  1 to {}", self.post_url)?;
        writeln!(f)?;
        let width = self.rules.iter().map(|r| r.rule.name().len()).max().unwrap_or(0);
        for result in &self.rules {
            let counts = match result.outcome {
                Outcome::Pass => format!("{} ok", result.checked),
                Outcome::Skip => "n/a".into(),
                Outcome::Fail | Outcome::Warn => format!("{}/{} bad", result.violations, result.checked),
            };
            let name = result.rule.name();
            writeln!(f, "{}  {name:width$}  {counts:>10}  {}", result.outcome.label(), result.rule.checks())?;
            if let Some(example) = &result.example {
                writeln!(f, "      {}: {}", example.request, example.reason)?;
                if let Some(answer) = &example.answer {
                    writeln!(f, "      answer: {answer}")?;
                }
            }
        }
        writeln!(f)?;
        match &self.ping_latency {
            Some(l) => writeln!(
                f,
                "Ping latency ({} answers): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l.answers, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            )?,
            None => writeln!(f, "Ping latency: no ping was answered")?,
        }
        let post = &self.post;
        let bid_id = post.bid_id.as_deref().map_or_else(|| "no bid_id".to_owned(), |id| format!("bid_id {id:?}"));
        if post.after_bid {
            writeln!(f, "Post: after ping {}'s bid of {} ({bid_id}): {}", post.after_ping, post.price, post.answer)?;
        } else {
            writeln!(
                f,
                "Post: no ping got a valid bid, so the test post followed ping {} anyway, at {} with {bid_id}: {}",
                post.after_ping, post.price, post.answer
            )?;
        }
        let count = |outcome| self.rules.iter().filter(|r| r.outcome == outcome).count();
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let warnings = plural(count(Outcome::Warn), "warning", "warnings");
        writeln!(f)?;
        if self.passed {
            writeln!(f, "Result: PASS ({warnings})")
        } else {
            writeln!(f, "Result: FAIL ({}, {warnings})", plural(count(Outcome::Fail), "rule failed", "rules failed"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(samples).expect("samples");
        assert_eq!((l.answers, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms), (100, 50.0, 90.0, 99.0, 100.0));
        let one = Latency::of(vec![Duration::from_millis(7)]).expect("one sample");
        assert_eq!((one.p50_ms, one.p99_ms, one.max_ms), (7.0, 7.0, 7.0));
        assert!(Latency::of(Vec::new()).is_none());
    }
}
