//! A ping/post lead auction engine.
//!
//! A publisher posts a lead; the engine pings every eligible buyer at once with the lead's
//! non-personal attributes under one deadline, ranks the bids, posts the full lead to the best
//! bidder and cascades down the ranking on rejection. Layout (arrows point down only):
//!
//! - [`api`]: the HTTP face: routing, intake (auth, limits, validation, idempotency).
//! - [`auction`]: fan-out under the deadline, ranking, cascade, the auction record.
//! - [`buyers`]: the buyer registry and the precomputed eligibility index.
//! - [`transport`]: the buyer client behind a trait (HTTP/1.1, HTTP/2, in-memory in benches).
//! - [`protocol`]: wire types of contract v1 (the `lead-protocol` crate); imports nothing of ours.
//! - [`config`]: the typed `engine.toml`.
//! - [`store`]: the durable store (SQLite by default) behind a trait: leads, auctions, the
//!   event outbox, webhook subscriptions and deliveries, idempotency keys.
//! - [`webhooks`]: the dispatcher that delivers the outbox's events, signed, with retries.
//! - [`ops`]: metrics, health, logging.
//!
//! [`run`] wires them together; `main.rs` only parses the command line.

pub mod api;
pub mod auction;
pub mod buyers;
pub mod config;
pub mod ops;
pub mod store;
pub mod transport;
pub mod webhooks;

/// The wire types (the `lead-protocol` crate), shared with `bidder-sim` and `loadtest`.
pub use lead_protocol as protocol;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

use api::App;
use api::auth::PublisherKeys;
use api::idempotency::IdempotencyCache;
use api::intake::Intake;
use auction::Auctioneer;
use buyers::Registry;
use config::Config;
use ops::health::Health;
use transport::{HttpTransport, Transport};

/// After the drain, how long the auction log may take to write what is queued.
const LOG_FLUSH: Duration = Duration::from_secs(2);

/// How often expired idempotency keys are swept.
const IDEMPOTENCY_SWEEP: Duration = Duration::from_secs(30);

/// Serves the engine on `listener` with real HTTP buyers until `shutdown` resolves, then
/// drains in-flight auctions within the configured grace period.
pub async fn run(config: Config, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    run_with(config, listener, shutdown, HttpTransport::new()).await
}

/// [`run`] with any transport (tests and benches plug in-process buyers).
pub async fn run_with<T: Transport>(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    transport: T,
) -> std::io::Result<()> {
    let (app, records) = build(&config, transport, auction::log::RECORD_QUEUE);
    let log = tokio::spawn(auction::log::auction_log(records));
    let sweeper = tokio::spawn(sweep_idempotency(Arc::downgrade(&app.intake.idempotency)));
    let upkeep = tokio::spawn(ops::metrics::upkeep());
    let grace = Duration::from_millis(config.intake.shutdown_grace_ms);
    let served = api::serve(app, listener, shutdown, grace).await;
    sweeper.abort();
    upkeep.abort();
    // The log ends when the last record sender is gone; a connection still open past the
    // grace period may hold one, so the wait is bounded.
    if tokio::time::timeout(LOG_FLUSH, log).await.is_err() {
        tracing::warn!("auction log not flushed before exit");
    }
    served
}

/// Builds the HTTP app and the receiving end of its auction records (a queue of
/// `record_queue` entries; when it is full, records are dropped, never waited for).
pub fn build<T: Transport>(
    config: &Config,
    transport: T,
    record_queue: usize,
) -> (Arc<App<T>>, mpsc::Receiver<auction::record::Finished>) {
    ops::metrics::install();
    let settings = auction::Settings {
        ping_timeout: Duration::from_millis(config.auction.ping_timeout_ms.into()),
        total_timeout: Duration::from_millis(config.auction.total_timeout_ms.into()),
    };
    let (records_tx, records_rx) = mpsc::channel(record_queue.max(1));
    let intake = Intake {
        keys: PublisherKeys::new(&config.publishers),
        auctioneer: Arc::new(Auctioneer::new(transport, settings)),
        registry: Arc::new(Registry::from_config(config)),
        idempotency: Arc::new(IdempotencyCache::new(
            config.intake.idempotency_capacity,
            Duration::from_secs(config.intake.idempotency_ttl_s),
        )),
        max_body_bytes: config.intake.max_body_bytes,
        in_flight: Arc::new(Semaphore::new(config.intake.max_in_flight)),
        tasks: TaskTracker::new(),
        records: records_tx,
    };
    // webhooks: set once the store is wired (`api::webhooks::WebhookApi::new(store, config)`).
    (Arc::new(App { intake, health: Arc::new(Health::default()), webhooks: None }), records_rx)
}

async fn sweep_idempotency(cache: std::sync::Weak<IdempotencyCache>) {
    let mut every = tokio::time::interval(IDEMPOTENCY_SWEEP);
    loop {
        every.tick().await;
        match cache.upgrade() {
            Some(cache) => cache.sweep(),
            None => return,
        }
    }
}
