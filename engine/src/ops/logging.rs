//! Logging: structured lines through `tracing` to a non-blocking writer (a full buffer drops
//! lines rather than stalling an auction), and the auction log, a task that turns finished
//! auction records into one line each. Contact data is never logged: the line is built from
//! ids, prices, counts and timings only.

use tokio::sync::mpsc;

use crate::auction::record::{Finished, PingResult};

/// Finished auctions waiting to be logged; a burst beyond this is dropped (and counted)
/// instead of slowing auctions.
pub const RECORD_QUEUE: usize = 65_536;

/// Installs the global subscriber (`RUST_LOG` filters; `json` for machine-readable lines).
/// Keep the guard alive: dropping it flushes and stops the writer.
pub fn init(json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    // Fails only if a subscriber is already set (tests, embedding): keep that one.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
    guard
}

/// Logs each finished auction until the sending side closes.
pub async fn auction_log(mut records: mpsc::Receiver<Finished>) {
    while let Some((publisher, record)) = records.recv().await {
        let count = |f: fn(&PingResult) -> bool| record.pings.iter().filter(|p| f(&p.result)).count();
        let answer = record.answer();
        tracing::info!(
            target: "auction",
            lead_id = %record.lead_id,
            publisher = %publisher,
            outcome = answer.outcome.as_str(),
            buyer = answer.buyer_id.as_deref().unwrap_or(""),
            price = %answer.price.map(|p| p.to_string()).unwrap_or_default(),
            pinged = record.pings.len(),
            bids = count(|r| matches!(r, PingResult::Bid { .. })),
            timeouts = count(|r| matches!(r, PingResult::Timeout)),
            invalid = count(|r| matches!(r, PingResult::Invalid(_))),
            posts = record.posts.len(),
            ping_ms = answer.timings_ms.ping,
            post_ms = answer.timings_ms.post,
            total_ms = answer.timings_ms.total,
            "auction"
        );
    }
}
