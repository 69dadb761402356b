//! `POST /v1/leads`: authenticate, check the body, validate the lead, honour the
//! `Idempotency-Key`, run the auction, answer. The auction runs as its own task so a
//! publisher hanging up cannot cancel it halfway (after a post, say); its record goes to the
//! record sink off the hot path.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::auth::{Publisher, PublisherKeys};
use super::error::ApiError;
use super::idempotency::{self, Claim, IdempotencyCache, Running};
use super::{body, json_response, validate};
use crate::auction::Auctioneer;
use crate::auction::record::Finished;
use crate::buyers::Registry;
use crate::protocol::ids;
use crate::protocol::lead::Lead;
use crate::transport::Transport;

/// Everything intake needs.
#[derive(Debug)]
pub struct Intake<T> {
    /// Publisher keys.
    pub keys: PublisherKeys,
    /// The auction runner.
    pub auctioneer: Arc<Auctioneer<T>>,
    /// The buyer snapshot.
    pub registry: Arc<Registry>,
    /// Remembered answers by idempotency key.
    pub idempotency: Arc<IdempotencyCache>,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// One permit per lead being handled; none left means 503.
    pub in_flight: Arc<Semaphore>,
    /// Running auctions, for the shutdown drain.
    pub tasks: TaskTracker,
    /// Finished auction records, to the log/store (never awaited: full means dropped and counted).
    pub records: mpsc::Sender<Finished>,
}

impl<T: Transport> Intake<T> {
    /// Handles one `POST /v1/leads`.
    pub async fn handle(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let publisher = self.keys.authenticate(&parts.headers)?;
        body::require_json(&parts.headers)?;
        let key = idempotency::key_from(&parts.headers)?;
        let body = body::read_limited(&parts.headers, body, self.max_body_bytes).await?;
        let lead = validate::lead(&body)?;
        let running = match key {
            None => None,
            Some(key) => match self.idempotency.claim(publisher.index, key, idempotency::fingerprint(&body))? {
                Claim::Fresh(running) => Some(running),
                Claim::Replay(answer) => return Ok(replayed(answer)),
                Claim::Wait(answer) => return Ok(replayed(idempotency::wait(answer).await?)),
            },
        };
        // Only an auction takes an in-flight slot; refusing it drops `running`, which frees the key.
        let permit = Arc::clone(&self.in_flight).try_acquire_owned().map_err(|_| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many leads in flight; retry shortly")
                .retry_after(1)
        })?;
        let answer = self.auction(publisher, lead, started, permit, running).await?;
        Ok(json_response(StatusCode::OK, answer))
    }

    /// Runs the auction in its own task and returns the answer body.
    async fn auction(
        &self,
        publisher: Publisher,
        lead: Lead,
        started: Instant,
        permit: OwnedSemaphorePermit,
        running: Option<Running>,
    ) -> Result<Bytes, ApiError> {
        let auctioneer = Arc::clone(&self.auctioneer);
        let registry = Arc::clone(&self.registry);
        let records = self.records.clone();
        let task = self.tasks.spawn(async move {
            let in_flight = &auctioneer.metrics().in_flight;
            in_flight.increment(1.0);
            let lead_id: Arc<str> = ids::lead_id().into();
            let record = auctioneer.run(&registry, &lead, lead_id, started).await;
            in_flight.decrement(1.0);
            drop(permit);
            // Serializing the answer struct cannot fail.
            let answer = Bytes::from(serde_json::to_vec(&record.answer()).unwrap_or_default());
            if let Some(running) = running {
                running.complete(answer.clone());
            }
            if records.try_send((publisher.id, record)).is_err() {
                auctioneer.metrics().records_dropped.increment(1);
            }
            answer
        });
        task.await.map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the auction failed"))
    }
}

fn replayed(answer: Bytes) -> Response<Full<Bytes>> {
    let mut response = json_response(StatusCode::OK, answer);
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
