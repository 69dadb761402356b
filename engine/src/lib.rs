//! A ping/post lead auction engine.
//!
//! A publisher posts a lead; the engine pings every eligible buyer at once with the lead's
//! non-personal attributes under one deadline, ranks the bids, posts the full lead to the best
//! bidder and cascades down the ranking on rejection. Layout (arrows point down only):
//!
//! - [`api`]: the HTTP face: routing, intake (auth, limits, validation, idempotency), publishers'
//!   ping/post (held bids, the ping shield).
//! - [`auction`]: fan-out under the deadline, ranking, cascade, the auction record.
//! - [`dedupe`]: duplicate leads by phone and email within a window (an in-memory index of
//!   hashes, rebuilt from the store at start).
//! - [`buyers`]: the buyer registry and the precomputed eligibility index.
//! - [`transport`]: the buyer client behind a trait (HTTP/1.1, HTTP/2, in-memory in benches).
//! - [`protocol`]: wire types of contract v1 (the `lead-protocol` crate); imports nothing of ours.
//! - [`config`]: the typed `engine.toml`.
//! - [`store`]: the durable store (SQLite by default) behind a trait: leads, auctions, the
//!   event outbox, webhook subscriptions and deliveries, idempotency keys.
//! - [`webhooks`]: the dispatcher that delivers the outbox's events, signed, with retries.
//! - [`breaker`]: the circuit breaker (consecutive failures, failure rate over a window), pure
//!   with `now` as input: one per webhook endpoint, one per buyer.
//! - [`ops`]: metrics, health, logging.
//!
//! [`run`] wires them together; `main.rs` only parses the command line.

pub mod api;
pub mod auction;
pub mod breaker;
pub mod buyers;
pub mod config;
pub mod dedupe;
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
use api::auth::Keys;
use api::idempotency::IdempotencyCache;
use api::intake::Intake;
use auction::Auctioneer;
use auction::journal::Journal;
use buyers::{LiveRegistry, Registry};
use config::Config;
use ops::health::Health;
use store::Store;
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
    Engine::start(&config, transport).await?.serve(listener, shutdown).await
}

/// A started engine: its store opened and recovered, idempotency keys restored, background
/// tasks running; not serving yet.
#[derive(Debug)]
pub struct Engine<T> {
    /// The HTTP app.
    pub app: Arc<App<T>>,
    records: Option<mpsc::Receiver<auction::record::Finished>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The webhook dispatcher, stopped after the HTTP drain.
    webhooks: Option<webhooks::Running>,
    grace: Duration,
}

impl<T: Transport> Engine<T> {
    /// Opens the store at `config.store`, closes auctions a crash interrupted, restores the
    /// idempotency keys still within their TTL and the dedupe index, and builds the app.
    pub async fn start(config: &Config, transport: T) -> std::io::Result<Engine<T>> {
        // Opening runs migrations: file I/O, off the runtime's threads.
        let path = config.store.clone();
        let opened = tokio::task::spawn_blocking(move || {
            store::sqlite::SqliteStore::open(&path, store::sqlite::SqliteOptions::default())
        })
        .await
        .map_err(std::io::Error::other)?;
        let store: Arc<dyn Store> =
            Arc::new(opened.map_err(|e| std::io::Error::other(format!("store {}: {e}", config.store.display())))?);
        Engine::start_with_store(config, transport, store).await
    }

    /// [`Engine::start`] with a store already open. The admin API's stored buyers and
    /// publishers are laid over the config's before anything is built from it.
    pub async fn start_with_store(file: &Config, transport: T, store: Arc<dyn Store>) -> std::io::Result<Engine<T>> {
        let config = &api::admin::stored_config(file, &*store).await.map_err(std::io::Error::other)?;
        let recovery = store.recover(store::now_ms()).await.map_err(std::io::Error::other)?;
        if !recovery.interrupted.is_empty() || !recovery.in_doubt.is_empty() {
            tracing::warn!(
                interrupted = recovery.interrupted.len(),
                in_doubt = recovery.in_doubt.len(),
                "closed auctions a crash interrupted (in_doubt: a post may have reached its buyer)"
            );
        }
        let (app, records) = build(config, transport, auction::log::RECORD_QUEUE, Arc::clone(&store));
        restore_idempotency(&app.intake, &app.keys, &*store, config.intake.idempotency_ttl_s).await?;
        api::keys::reload(&*store, &app.keys).await.map_err(std::io::Error::other)?;
        // Caps count from the store.
        let now = store::now_ms();
        let sales = store.sales_since(now - buyers::SALES_LOOKBACK_MS).await.map_err(std::io::Error::other)?;
        app.intake.registry.current().restore_sales(&sales, None, now);
        let mut background = vec![
            tokio::spawn(sweep_idempotency(Arc::downgrade(&app.intake.idempotency))),
            tokio::spawn(ops::metrics::upkeep()),
            tokio::spawn(api::keys::sync(Arc::downgrade(&store), Arc::downgrade(&app.keys))),
            tokio::spawn(app.ping_post.sweeper()),
        ];
        if let Some(dedupe) = &app.intake.dedupe {
            let rows = store
                .contacts(now.saturating_sub(dedupe.longest_window_ms()), dedupe.max_entries())
                .await
                .map_err(std::io::Error::other)?;
            dedupe.restore(rows, now);
            background.push(tokio::spawn(dedupe::sweep_task(Arc::downgrade(dedupe))));
        }
        // Webhooks: the config's subscriptions into the store, then the dispatcher.
        let webhooks = webhooks::start(Arc::clone(&store), &config.delivery, &config.webhooks)
            .await
            .map_err(std::io::Error::other)?;
        let grace = Duration::from_millis(config.intake.shutdown_grace_ms);
        Ok(Engine { app, records: Some(records), background, grace, webhooks: Some(webhooks) })
    }

    /// Takes the finished-auction records (the demo shows them live); otherwise they go to
    /// the auction log.
    pub fn take_records(&mut self) -> Option<mpsc::Receiver<auction::record::Finished>> {
        self.records.take()
    }

    /// Serves on `listener` until `shutdown` resolves, then drains in-flight auctions within
    /// the grace period and stops the background tasks.
    pub async fn serve(mut self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let log = self.records.take().map(|records| tokio::spawn(auction::log::auction_log(records)));
        let served = api::serve(Arc::clone(&self.app), listener, shutdown, self.grace).await;
        // Use counts since the last periodic write (queued; the store's drop commits them).
        let usage = self.app.keys.issued_usage();
        if !usage.is_empty() {
            let _ = self.app.keys_api.store.write(vec![store::Write::KeyUsage(usage)]);
        }
        for task in &self.background {
            task.abort();
        }
        if let Some(webhooks) = self.webhooks.take() {
            webhooks.stop().await;
        }
        // The app holds the store: its last drop waits for the writer to commit what is queued
        // (bounded), which is blocking work, so it happens off the runtime's threads.
        let app = self.app;
        let _ = tokio::task::spawn_blocking(move || drop(app)).await;
        // The log ends when the last record sender is gone; a connection still open past the
        // grace period may hold one, so the wait is bounded.
        if let Some(log) = log
            && tokio::time::timeout(LOG_FLUSH, log).await.is_err()
        {
            tracing::warn!("auction log not flushed before exit");
        }
        served
    }
}

/// Puts the idempotency keys answered within the TTL back into the cache.
async fn restore_idempotency<T>(intake: &Intake<T>, keys: &Keys, store: &dyn Store, ttl_s: u64) -> std::io::Result<()> {
    let now = store::now_ms();
    let since = now.saturating_sub(i64::try_from(ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX));
    let stored_keys = store.idempotency_keys(since).await.map_err(std::io::Error::other)?;
    for stored in stored_keys {
        let Some(answer) = stored.answer else { continue };
        let publisher = keys.publisher_index(&stored.key.publisher_id);
        let age = Duration::from_millis(u64::try_from(now.saturating_sub(stored.created_at)).unwrap_or(0));
        intake.idempotency.restore(publisher, stored.key.key.into(), stored.key.fingerprint, answer, age);
    }
    Ok(())
}

/// Builds the HTTP app over `store` and the receiving end of its auction records (a queue of
/// `record_queue` entries; when it is full, records are dropped, never waited for).
pub fn build<T: Transport>(
    config: &Config,
    transport: T,
    record_queue: usize,
    store: Arc<dyn Store>,
) -> (Arc<App<T>>, mpsc::Receiver<auction::record::Finished>) {
    ops::metrics::install();
    let settings = auction::Settings::from_config(&config.auction);
    let webhooks = api::webhooks::WebhookApi::new(Arc::clone(&store), config);
    let live = Arc::new(config::LiveConfig::new(config.clone()));
    let feedback = api::feedback::FeedbackApi::new(Arc::clone(&store), Arc::clone(&live));
    let reads = Arc::new(api::read_gate::ReadGate::default());
    let pull = api::pull::PullApi::new(Arc::clone(&store), Arc::clone(&reads));
    let reports = api::reports::ReportsApi::new(Arc::clone(&store), reads);
    let keys = Arc::new(Keys::new(config));
    let registry = Arc::new(LiveRegistry::new(Registry::from_config(config)));
    let admin =
        api::admin::AdminApi::new(Arc::clone(&store), Arc::clone(&live), Arc::clone(&registry), Arc::clone(&keys));
    let keys_api = api::keys::KeysApi::new(Arc::clone(&store), Arc::clone(&live), Arc::clone(&keys));
    let journal = Journal::new(store, config.durability);
    let (records_tx, records_rx) = mpsc::channel(record_queue.max(1));
    let intake = Intake {
        auctioneer: Arc::new(Auctioneer::new(transport, settings).with_journal(journal.clone())),
        registry,
        idempotency: Arc::new(IdempotencyCache::new(
            config.intake.idempotency_capacity,
            Duration::from_secs(config.intake.idempotency_ttl_s),
        )),
        max_body_bytes: config.intake.max_body_bytes,
        in_flight: Arc::new(Semaphore::new(config.intake.max_in_flight)),
        tasks: TaskTracker::new(),
        records: records_tx,
        journal,
        dedupe: config.dedupe.clone().map(|d| Arc::new(dedupe::Dedupe::new(d))),
    };
    let ping_post = api::ping_post::PingPostApi::new(config, live);
    let health = Arc::new(Health::default());
    let app = App { keys, intake, ping_post, health, feedback, pull, reports, admin, keys_api, webhooks };
    (Arc::new(app), records_rx)
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
