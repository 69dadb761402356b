//! The dispatcher: one tokio task that reads due deliveries from the store's outbox and sends
//! them, never on the auction's path (it only reads the store and writes attempt results).
//!
//! Each turn it fetches the due deliveries it is not already handling, starts an attempt for
//! each one its endpoint may take (circuit breaker closed or probing, fewer than
//! `concurrency_per_endpoint` attempts in flight), and holds the others (their ids are skipped
//! by the next fetches until the endpoint frees up, so a dead or slow endpoint's backlog never
//! crowds out the others). An attempt runs as its own task: it sends, decides what follows
//! ([`retry::decide`]), and writes `DeliveryAttempted`, waiting for the commit before the
//! dispatcher forgets the delivery (or it would be fetched and sent again). Then the turn ends
//! with a sleep until the first of: new deliveries (`deliveries_changed`), the next due time, a
//! breaker's cool-off ending, an attempt finishing, shutdown.
//!
//! The store returns only pending deliveries of enabled subscriptions (a subscription disabled
//! by a 410 or through the API has its pending deliveries sent to the dead letters), so every
//! delivery fetched is sent. Each endpoint's breaker is told which attempt in flight is its
//! half-open probe: only that one's result moves it once it has opened.
//!
//! A store failure is logged and retried with backoff; nothing here panics on bad data.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::request::prepare;
use super::retry::{self, Outcome};
use super::sender::{Sender, Sent};
use crate::breaker::{Admission, Breaker, BreakerSettings, Transition};
use crate::config::DeliveryConfig;
use crate::store::now_ms;
use crate::store::{AttemptView, DeliveryAttempted, DueDelivery, NextStep, Store, UnixMs, Write};

/// Deliveries fetched per store read: enough to fill many endpoints' windows at once.
const BATCH: usize = 128;

/// Attempts in flight at most, all endpoints together: bounds sockets and memory.
pub const MAX_IN_FLIGHT: usize = 256;

/// Held delivery ids remembered at most (each is skipped by every fetch). Past it, deliveries
/// of blocked endpoints are fetched again and again, and the others may wait behind them.
const MAX_HELD: usize = 10_000;

/// When deliveries already due are being held or sent, the store's next due time says nothing
/// about the rest: poll this often instead.
const MASKED_POLL: Duration = Duration::from_millis(250);

/// Backoff after a failed store read: from the first value, doubling, up to the second.
const STORE_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// Tries to record one attempt before giving up (the delivery then stays due and is sent
/// again: at least once), with the pause between tries doubling from this.
const WRITE_TRIES: u32 = 5;
const WRITE_BACKOFF: Duration = Duration::from_millis(50);

/// On shutdown, attempts in flight get their timeout plus this to finish and be recorded, at
/// most [`DRAIN_MAX`]; the rest are abandoned (and sent again after the restart: at least
/// once, same event id).
const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// A hanging endpoint must not hold a restart up for long: about the intake's default grace.
const DRAIN_MAX: Duration = Duration::from_secs(5);

/// Starts the dispatcher. It runs until `shutdown` is cancelled, then lets attempts in flight
/// finish (bounded by the attempt timeout) and returns.
pub fn spawn(
    store: Arc<dyn Store>,
    settings: DeliveryConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let dispatcher = Dispatcher::new(store, settings);
    tokio::spawn(dispatcher.run(shutdown))
}

/// What the loop knows of one attempt in flight.
#[derive(Debug)]
struct InFlight {
    delivery_id: i64,
    subscription_id: String,
    /// It is its endpoint's half-open probe: only its result moves an opened breaker.
    is_probe: bool,
}

struct Dispatcher {
    store: Arc<dyn Store>,
    settings: Arc<DeliveryConfig>,
    sender: Sender,
    breaker: BreakerSettings,
    /// Per subscription id: breakers not in their initial state.
    breakers: HashMap<String, Breaker>,
    /// Per subscription id: attempts in flight.
    per_endpoint: HashMap<String, usize>,
    /// Delivery ids in flight.
    in_flight: HashSet<i64>,
    /// Per subscription id: due deliveries held back (breaker open or window full).
    held: HashMap<String, Vec<i64>>,
    held_total: usize,
    attempts: JoinSet<Option<bool>>,
    tasks: HashMap<Id, InFlight>,
}

impl Dispatcher {
    fn new(store: Arc<dyn Store>, settings: DeliveryConfig) -> Dispatcher {
        Dispatcher {
            store,
            sender: Sender::new(&settings),
            // Consecutive failures only: an endpoint's volume is too uneven for a rate.
            breaker: BreakerSettings {
                failures: settings.breaker_failures,
                cooloff_ms: settings.breaker_cooloff_ms,
                rate: None,
            },
            settings: Arc::new(settings),
            breakers: HashMap::new(),
            per_endpoint: HashMap::new(),
            in_flight: HashSet::new(),
            held: HashMap::new(),
            held_total: 0,
            attempts: JoinSet::new(),
            tasks: HashMap::new(),
        }
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let store = Arc::clone(&self.store);
        let mut backoff = STORE_BACKOFF.0;
        while !shutdown.is_cancelled() {
            // Listen before reading, so a commit during the read is not missed.
            let changed = store.deliveries_changed().notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wake = match self.turn().await {
                Ok(Some(wake)) => {
                    backoff = STORE_BACKOFF.0;
                    wake
                }
                // A full batch made progress: read again at once.
                Ok(None) => continue,
                Err(()) => {
                    let wake = Instant::now() + backoff;
                    backoff = (backoff * 2).min(STORE_BACKOFF.1);
                    wake
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(done) = self.attempts.join_next_with_id(), if !self.attempts.is_empty() => self.finished(done),
                () = &mut changed => {}
                () = tokio::time::sleep_until(wake) => {}
            }
            while let Some(done) = self.attempts.try_join_next_with_id() {
                self.finished(done);
            }
        }
        self.drain().await;
    }

    /// One turn: start what may go, then say when to look again (`None`: at once).
    async fn turn(&mut self) -> Result<Option<Instant>, ()> {
        let now = now_ms();
        self.release_held(now);
        if self.fill(now).await? {
            return Ok(None);
        }
        self.next_wake(now).await.map(Some)
    }

    /// Reads due deliveries and starts or holds each. `Ok(true)`: a full batch made progress,
    /// read again at once.
    async fn fill(&mut self, now: UnixMs) -> Result<bool, ()> {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            return Ok(false);
        }
        let skip: Vec<i64> = self.in_flight.iter().chain(self.held.values().flatten()).copied().collect();
        let batch = match self.store.due_deliveries(now, BATCH, skip).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "webhook dispatcher: reading due deliveries failed; retrying");
                return Err(());
            }
        };
        let full = batch.len() == BATCH;
        let mut progress = false;
        for delivery in batch {
            progress |= self.dispatch(delivery, now);
        }
        Ok(full && progress)
    }

    /// Starts `delivery` if its endpoint may take it, else holds it. Whether it did either.
    fn dispatch(&mut self, delivery: DueDelivery, now: UnixMs) -> bool {
        if self.in_flight.len() >= MAX_IN_FLIGHT || self.in_flight.contains(&delivery.delivery_id) {
            return false;
        }
        let id = delivery.subscription.id.clone();
        let busy = self.per_endpoint.get(&id).copied().unwrap_or(0) >= self.settings.concurrency_per_endpoint.max(1);
        let admission =
            if busy { Admission::Hold(None) } else { self.breakers.entry(id.clone()).or_default().admit(now) };
        match admission {
            Admission::Go => {
                self.start(delivery, false);
                true
            }
            Admission::Probe => {
                self.start(delivery, true);
                true
            }
            Admission::Hold(_) if self.held_total < MAX_HELD => {
                self.held.entry(id).or_default().push(delivery.delivery_id);
                self.held_total += 1;
                true
            }
            Admission::Hold(_) => {
                metrics::counter!("webhook_held_overflow_total").increment(1);
                false
            }
        }
    }

    /// Spawns one attempt (`is_probe`: its endpoint's half-open probe).
    fn start(&mut self, delivery: DueDelivery, is_probe: bool) {
        let flight =
            InFlight { delivery_id: delivery.delivery_id, subscription_id: delivery.subscription.id.clone(), is_probe };
        *self.per_endpoint.entry(flight.subscription_id.clone()).or_default() += 1;
        self.in_flight.insert(flight.delivery_id);
        let store = Arc::clone(&self.store);
        let sender = self.sender.clone();
        let settings = Arc::clone(&self.settings);
        let handle = self.attempts.spawn(attempt(store, sender, settings, delivery));
        self.tasks.insert(handle.id(), flight);
    }

    /// An attempt ended (its result is recorded, or recording gave up).
    fn finished(&mut self, done: Result<(Id, Option<bool>), tokio::task::JoinError>) {
        let (task, failed) = match done {
            Ok((task, failed)) => (task, failed),
            Err(error) => {
                tracing::error!(%error, "webhook attempt task failed");
                (error.id(), None)
            }
        };
        let Some(flight) = self.tasks.remove(&task) else { return };
        self.in_flight.remove(&flight.delivery_id);
        if let Some(count) = self.per_endpoint.get_mut(&flight.subscription_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_endpoint.remove(&flight.subscription_id);
            }
        }
        let now = now_ms();
        let breaker = self.breakers.entry(flight.subscription_id.clone()).or_default();
        match failed {
            Some(failed) => match breaker.record(failed, flight.is_probe, now, self.breaker) {
                Transition::Opened => {
                    tracing::warn!(subscription = %flight.subscription_id, "webhook endpoint failing: circuit breaker open");
                    metrics::gauge!("webhook_breaker_open", "subscription" => flight.subscription_id.clone()).set(1.0);
                }
                Transition::Closed => {
                    tracing::info!(subscription = %flight.subscription_id, "webhook endpoint recovered: circuit breaker closed");
                    metrics::gauge!("webhook_breaker_open", "subscription" => flight.subscription_id.clone()).set(0.0);
                }
                Transition::None => {}
            },
            None => breaker.abandoned(flight.is_probe, now),
        }
        if *breaker == Breaker::default() {
            self.breakers.remove(&flight.subscription_id);
        }
    }

    /// Forgets held deliveries of endpoints that may take one again, so the next read
    /// fetches them (with their subscription as it is now).
    fn release_held(&mut self, now: UnixMs) {
        let concurrency = self.settings.concurrency_per_endpoint.max(1);
        let (per_endpoint, breakers) = (&self.per_endpoint, &self.breakers);
        let mut released = 0;
        self.held.retain(|id, ids| {
            let busy = per_endpoint.get(id).copied().unwrap_or(0) >= concurrency;
            let held_by_breaker =
                breakers.get(id).is_some_and(|b| b.is_open() && b.open_until().is_none_or(|t| t > now));
            let keep = busy || held_by_breaker;
            if !keep {
                released += ids.len();
            }
            keep
        });
        self.held_total = self.held_total.saturating_sub(released);
    }

    /// When to look again: the next due delivery, a breaker's cool-off ending, or (when due
    /// deliveries are being held or sent, hiding the rest) a short poll.
    async fn next_wake(&self, now: UnixMs) -> Result<Instant, ()> {
        let next_due = self.store.next_due().await.map_err(|error| {
            tracing::warn!(%error, "webhook dispatcher: reading the next due time failed; retrying");
        })?;
        let mut at = match next_due {
            Some(due) if due > now => Some(due),
            Some(_) => Some(now.saturating_add(MASKED_POLL.as_millis() as i64)),
            None => None,
        };
        for id in self.held.keys() {
            if let Some(until) = self.breakers.get(id).and_then(Breaker::open_until) {
                at = Some(at.map_or(until, |at| at.min(until)));
            }
        }
        // Nothing pending: sleep until woken (a day is "until woken" without overflow).
        let delay = at.map_or(Duration::from_secs(86_400), |at| retry::until(at, now));
        Ok(Instant::now() + delay)
    }

    /// Lets attempts in flight finish and be recorded, within their timeout plus slack (capped).
    async fn drain(&mut self) {
        let grace = (Duration::from_millis(self.settings.timeout_ms) + DRAIN_SLACK).min(DRAIN_MAX);
        let attempts = &mut self.attempts;
        if tokio::time::timeout(grace, async { while attempts.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!(
                left = attempts.len(),
                "webhook attempts still in flight at shutdown; they will be sent again"
            );
            attempts.abort_all();
        }
    }
}

/// One attempt: send, decide, record. Returns whether the endpoint failed (for its
/// breaker), `None` if nothing was sent (the subscription's settings cannot make a request).
async fn attempt(
    store: Arc<dyn Store>,
    sender: Sender,
    settings: Arc<DeliveryConfig>,
    delivery: DueDelivery,
) -> Option<bool> {
    let started_at = now_ms();
    let sent = send(&sender, &delivery, started_at).await;
    let now = now_ms();
    let (outcome, attempt_error) = match &sent {
        Ok(sent) => (Some(sent.outcome), sent.error.clone()),
        Err(reason) => (None, Some(reason.clone())),
    };
    let decision = match (outcome, &sent) {
        (Some(outcome), Ok(sent)) => {
            let retry_after = sent.retry_after.as_deref().and_then(|v| retry::parse_retry_after(v, now));
            retry::decide(&settings.retry_schedule_ms, delivery.attempts, outcome, retry_after, now, fastrand::f64())
        }
        _ => retry::Decision {
            next: NextStep::Dead { reason: attempt_error.clone().unwrap_or_default() },
            disable_subscription: None,
        },
    };
    let (status_code, latency) = match &sent {
        Ok(sent) => (sent.status, sent.latency),
        Err(_) => (None, Duration::ZERO),
    };
    record_metrics(outcome, latency, &decision.next);
    let attempt = AttemptView {
        at: started_at,
        status_code,
        latency_ms: i64::try_from(latency.as_millis()).unwrap_or(i64::MAX),
        error: attempt_error,
        next_attempt_at: match decision.next {
            NextStep::Retry { at } => Some(at),
            _ => None,
        },
    };
    let write = Write::DeliveryAttempted(DeliveryAttempted {
        delivery_id: delivery.delivery_id,
        attempt,
        next: decision.next,
        disable_subscription: decision.disable_subscription,
    });
    if !record(&*store, write).await {
        tracing::warn!(delivery_id = delivery.delivery_id, "webhook attempt not recorded; it will be sent again");
    }
    outcome.map(Outcome::is_endpoint_failure)
}

/// Prepares and sends; `Err` with the reason when the subscription's stored settings cannot
/// make a request (nothing is sent).
async fn send(sender: &Sender, delivery: &DueDelivery, now: UnixMs) -> Result<Sent, String> {
    let subscription = &delivery.subscription;
    let url: Uri = subscription.url.parse().map_err(|_| "not sent: the subscription's URL is invalid".to_owned())?;
    let timestamp = u64::try_from(now / 1000).unwrap_or(0);
    let prepared = prepare(subscription, &delivery.event_id, &delivery.envelope, timestamp, now)
        .map_err(|error| format!("not sent: {error}"))?;
    Ok(sender.send(&url, prepared).await)
}

fn record_metrics(outcome: Option<Outcome>, latency: Duration, next: &NextStep) {
    let result = match outcome {
        Some(Outcome::Status(status)) if (200..300).contains(&status) => "success",
        Some(Outcome::Status(_)) => "http_error",
        Some(Outcome::Timeout) => "timeout",
        Some(Outcome::Connection) => "connection_error",
        None => "not_sent",
    };
    metrics::counter!("webhook_attempts_total", "result" => result).increment(1);
    if outcome.is_some() {
        metrics::histogram!("webhook_attempt_seconds").record(latency.as_secs_f64());
    }
    if matches!(next, NextStep::Dead { .. }) {
        metrics::counter!("webhook_dead_total").increment(1);
    }
}

/// Writes one attempt's result and waits for its commit, retrying a busy or failing store a
/// few times. Whether it was recorded.
async fn record(store: &dyn Store, write: Write) -> bool {
    let mut pause = WRITE_BACKOFF;
    for _ in 0..WRITE_TRIES {
        let result = match store.write(vec![write.clone()]) {
            Ok(commit) => commit.await,
            Err(error) => Err(error),
        };
        match result {
            Ok(_) => return true,
            Err(error) => tracing::warn!(%error, "recording a webhook attempt failed; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
    false
}

#[cfg(test)]
mod tests;
