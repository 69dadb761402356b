//! `POST /v1/leads` (a publisher key with the write scope): check the body, validate the lead, honour the
//! `Idempotency-Key`, dedupe, store the lead, run the auction, store its outcome and events,
//! answer. A duplicate (dedupe's `reject` mode) is stored closed and answered `duplicate`
//! without an auction.
//! The auction runs as its own task so a publisher hanging up cannot cancel it halfway (after
//! a post, say); its record also goes to the auction log off the hot path.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::auth::{Caller, Publisher, Scope};
use super::error::ApiError;
use super::idempotency::{self, Claim, IdempotencyCache, Running};
use super::{body, json_response, validate};
use crate::auction::journal::{self, Journal};
use crate::auction::record::Finished;
use crate::auction::{Auctioneer, Offer};
use crate::buyers::LiveRegistry;
use crate::dedupe::{Admitted, Dedupe, Verdict};
use crate::protocol::answer::{LeadAnswer, Outcome, Timings};
use crate::protocol::ids;
use crate::protocol::lead::Lead;
use crate::store::{IdempotencyKey, StoreError};
use crate::transport::Transport;

/// Everything intake needs.
#[derive(Debug)]
pub struct Intake<T> {
    /// The auction runner.
    pub auctioneer: Arc<Auctioneer<T>>,
    /// The buyer snapshot in force (each lead's auction takes it once, at its start).
    pub registry: Arc<LiveRegistry>,
    /// Remembered answers by idempotency key.
    pub idempotency: Arc<IdempotencyCache>,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// One permit per lead being handled; none left means 503.
    pub in_flight: Arc<Semaphore>,
    /// Running auctions, for the shutdown drain.
    pub tasks: TaskTracker,
    /// Finished auction records, to the auction log (never awaited: full means dropped and
    /// counted).
    pub records: mpsc::Sender<Finished>,
    /// The durable store, and whether answers wait for it.
    pub journal: Journal,
    /// The dedupe index (`None`: `[dedupe]` is not configured).
    pub dedupe: Option<Arc<Dedupe>>,
}

impl<T: Transport> Intake<T> {
    /// Handles one `POST /v1/leads`.
    pub async fn handle(
        &self,
        caller: &Caller,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let started = Instant::now();
        let publisher = caller.require_publisher(Scope::Write)?;
        body::require_json(&parts.headers)?;
        let key = idempotency::key_from(&parts.headers)?;
        let body = body::read_limited(&parts.headers, body, self.max_body_bytes).await?;
        let lead = validate::lead(&body)?;
        let running = match key {
            None => None,
            Some(key) => {
                let fingerprint = idempotency::fingerprint(&body);
                match self.idempotency.claim(publisher.index, key, fingerprint)? {
                    Claim::Fresh(running) => {
                        let key = running.key().to_owned();
                        Some((running, IdempotencyKey { publisher_id: publisher.id.to_string(), key, fingerprint }))
                    }
                    Claim::Replay(answer) => return Ok(replayed(answer)),
                    Claim::Wait(answer) => return Ok(replayed(idempotency::wait(answer).await?)),
                }
            }
        };
        // Only an auction takes an in-flight slot; refusing it drops `running`, which frees the key.
        let permit = Arc::clone(&self.in_flight).try_acquire_owned().map_err(|_| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many leads in flight; retry shortly")
                .retry_after(1)
        })?;
        let answer = self.auction(publisher, lead, started, permit, running).await?;
        Ok(json_response(StatusCode::OK, answer))
    }

    /// Stores the lead, runs the auction in its own task, stores the outcome, and returns the
    /// answer body.
    async fn auction(
        &self,
        publisher: Publisher,
        lead: Lead,
        started: Instant,
        permit: OwnedSemaphorePermit,
        running: Option<(Running, IdempotencyKey)>,
    ) -> Result<Bytes, ApiError> {
        let auctioneer = Arc::clone(&self.auctioneer);
        let registry = self.registry.current();
        let records = self.records.clone();
        let journal = self.journal.clone();
        let dedupe = self.dedupe.clone();
        let task = self.tasks.spawn(async move {
            let (running, key) = running.unzip();
            let lead_id: Arc<str> = ids::lead_id().into();
            let admitted = match dedupe.map(|d| d.check(&lead, crate::store::now_ms())) {
                None => Admitted::unchecked(),
                Some(Verdict::Admit(admitted)) => admitted,
                Some(Verdict::Duplicate) => {
                    let answer = duplicate_answer(&lead_id, lead.test, started);
                    // Stored before it is answered, like any lead that gets a 2xx.
                    let writes = journal::duplicate(&lead_id, &publisher.id, &lead, key, answer.clone());
                    journal.write(writes).await.map_err(store_busy)?;
                    drop(permit);
                    if let Some(running) = running {
                        running.complete(answer.clone());
                    }
                    return Ok(answer);
                }
            };
            let exclude = admitted.exclude.clone();
            let contacts = admitted.contacts.clone();
            // The lead is durable before any buyer hears of it; if it cannot be, no buyer does
            // (and dropping `running` frees the key for a retry, dropping `admitted` its
            // dedupe claim).
            journal
                .write(vec![journal::received(&lead_id, &publisher.id, &lead, key, contacts)])
                .await
                .map_err(store_busy)?;
            let person = admitted.stored();
            let in_flight = &auctioneer.metrics().in_flight;
            in_flight.increment(1.0);
            let offer = Offer { publisher_id: &publisher.id, exclude: &exclude };
            let record = auctioneer.run(&registry, &lead, Arc::clone(&lead_id), started, offer).await;
            in_flight.decrement(1.0);
            for sale in &record.sales {
                person.bought(&sale.buyer_id, crate::store::now_ms());
            }
            // Serializing the answer struct cannot fail.
            let answer = Bytes::from(serde_json::to_vec(&record.answer()).unwrap_or_default());
            let stored = journal.write(vec![journal::finished(&record, &publisher.id, &lead, answer.clone())]).await;
            // The slot is held until the outcome is stored: the store's queue keeps room for
            // one write per running auction, and this bounds how many there are.
            drop(permit);
            // The auction ran: a retry must get its outcome, never a second auction.
            if let Some(running) = running {
                running.complete(answer.clone());
            }
            if records.try_send((publisher.id, record)).is_err() {
                auctioneer.metrics().records_dropped.increment(1);
            }
            stored.map_err(|error| {
                tracing::error!(lead_id = %lead_id, %error, "auction outcome not stored");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_failed",
                    format!(
                        "lead {lead_id} was auctioned but its outcome could not be stored; retry with the same Idempotency-Key to read it"
                    ),
                )
            })?;
            Ok(answer)
        });
        task.await.map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the auction failed"))?
    }
}

/// The answer when a lead cannot be stored: 503 and retry (nothing was sent to any buyer).
fn store_busy(error: StoreError) -> ApiError {
    tracing::warn!(%error, "lead refused: the store did not take it");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        format!("the lead could not be stored: {error}"),
    )
    .retry_after(1)
}

/// The answer to a duplicate: no auction, so no price, buyer, ping or post time.
fn duplicate_answer(lead_id: &str, test: bool, started: Instant) -> Bytes {
    let answer = LeadAnswer {
        lead_id: lead_id.to_owned(),
        outcome: Outcome::Duplicate,
        price: None,
        buyer_id: None,
        sales: Vec::new(),
        test,
        timings_ms: Timings::from_durations(Duration::ZERO, Duration::ZERO, started.elapsed()),
    };
    // Serializing the answer struct cannot fail.
    Bytes::from(serde_json::to_vec(&answer).unwrap_or_default())
}

fn replayed(answer: Bytes) -> Response<Full<Bytes>> {
    let mut response = json_response(StatusCode::OK, answer);
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
