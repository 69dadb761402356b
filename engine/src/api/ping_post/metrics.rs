//! Publishers' ping/post metrics: pings held now, pings answered by result, shield hits, and
//! posts by result. Handles registered once at start; updates are atomic adds.

use metrics::{Counter, Gauge};

use crate::api::error::ApiError;

/// What a post came to, as counted (`engine_publisher_posts_total{result}`): the lead's outcome,
/// a replay, or why it was refused.
const POST_RESULTS: [&str; 10] = [
    "sold",
    "unsold",
    "duplicate",
    "replayed",
    "unknown_ping",
    "ping_expired",
    "post_in_progress",
    "ping_already_posted",
    "refused",
    "failed",
];

/// The handles.
#[derive(Debug)]
pub struct PingPostMetrics {
    /// Pings holding bids now (`engine_pings_held`).
    pub held: Gauge,
    /// Pings answered from the shield's cache (`engine_ping_shield_hits_total`).
    pub shield_hits: Counter,
    /// Pings that ran, with a bid and without (`engine_publisher_pings_total{result}`).
    bids: Counter,
    no_bids: Counter,
    /// Posts by result, indexed like [`POST_RESULTS`].
    posts: [Counter; POST_RESULTS.len()],
}

impl PingPostMetrics {
    /// Registers the handles (the recorder must be installed first).
    pub fn new() -> PingPostMetrics {
        let pings = |result: &'static str| metrics::counter!("engine_publisher_pings_total", "result" => result);
        PingPostMetrics {
            held: metrics::gauge!("engine_pings_held"),
            shield_hits: metrics::counter!("engine_ping_shield_hits_total"),
            bids: pings("bid"),
            no_bids: pings("no_bid"),
            posts: POST_RESULTS.map(|result| metrics::counter!("engine_publisher_posts_total", "result" => result)),
        }
    }

    /// Counts a ping that ran.
    pub fn pinged(&self, bid: bool) {
        if bid { &self.bids } else { &self.no_bids }.increment(1);
    }

    /// Counts a post: `Ok(result)` with its outcome or `replayed`, or the error it got.
    pub fn posted(&self, result: Result<&str, &ApiError>) {
        let result = match result {
            Ok(outcome) => outcome,
            Err(error) if POST_RESULTS.contains(&error.code) => error.code,
            Err(error) if error.status.is_client_error() => "refused",
            Err(_) => "failed",
        };
        if let Some(i) = POST_RESULTS.iter().position(|r| *r == result) {
            self.posts[i].increment(1);
        }
    }
}

impl Default for PingPostMetrics {
    fn default() -> Self {
        PingPostMetrics::new()
    }
}
