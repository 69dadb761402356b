//! `POST /v1/leads` (a publisher key with the write scope): check the body, validate the lead, honour the
//! `Idempotency-Key`, then the pipeline every lead goes through ([`Intake::submit`], also the end
//! of `POST /v1/post`): dedupe, store the lead, run the auction, store its outcome and events,
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
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::auth::{Caller, Publisher, Scope};
use super::error::ApiError;
use super::idempotency::{self, Claim, IdempotencyCache, Running};
use super::ping_post::PostClaim;
use super::{body, json_response, validate};
use crate::auction::journal::{self, Journal};
use crate::auction::record::Finished;
use crate::auction::{Auctioneer, Held, Offer};
use crate::buyers::{LiveRegistry, Registry};
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
    /// One permit per lead (or publisher's ping) being handled; none left means 503.
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

/// Where a lead's bids come from.
#[derive(Debug)]
pub enum Bids {
    /// `POST /v1/leads`: a whole auction (ping, then post) on this buyer snapshot.
    Fresh(Arc<Registry>),
    /// `POST /v1/post`: the bids a publisher's ping holds, claimed for this post.
    Held(Box<Held>, PostClaim),
}

/// One validated lead for [`Intake::submit`].
#[derive(Debug)]
pub struct Submission {
    /// Who sent it.
    pub publisher: Publisher,
    /// The lead.
    pub lead: Lead,
    /// When its request arrived: the auction's budget counts from here.
    pub started: Instant,
    /// Its in-flight slot, held until its outcome is stored.
    pub permit: OwnedSemaphorePermit,
    /// Its `Idempotency-Key`, claimed, if it came with one.
    pub idempotency: Option<(Running, IdempotencyKey)>,
    /// The bids it is sold on.
    pub bids: Bids,
    /// What a post's answer adds (`None` for `POST /v1/leads`).
    pub post: Option<PostFields>,
}

/// What the answer to `POST /v1/post` adds to a lead's answer.
#[derive(Debug, Clone, Serialize)]
pub struct PostFields {
    /// The ping the lead was posted on.
    pub ping_id: String,
    /// What the post sent that differed from the ping and was ignored (the ping's data wins).
    pub ignored: Vec<String>,
}

/// An answer, and the outcome it tells.
#[derive(Debug)]
pub struct Answered {
    /// The JSON body (also stored with the lead and replayed to retries).
    pub body: Bytes,
    /// Sold, unsold or duplicate.
    pub outcome: Outcome,
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
        let permit = overloaded(&self.in_flight)?;
        let bids = Bids::Fresh(self.registry.current());
        let submission = Submission { publisher, lead, started, permit, idempotency: running, bids, post: None };
        Ok(json_response(StatusCode::OK, self.submit(submission).await?.body))
    }

    /// The pipeline every lead goes through: dedupe, store the lead, run the auction in its own
    /// task (a whole one, or the post phase of a publisher's ping), store the outcome, and
    /// return the answer, also handed to whoever waits for it (a retry with the same
    /// `Idempotency-Key`, a second post on the same ping).
    pub async fn submit(&self, submission: Submission) -> Result<Answered, ApiError> {
        let auctioneer = Arc::clone(&self.auctioneer);
        let records = self.records.clone();
        let journal = self.journal.clone();
        let dedupe = self.dedupe.clone();
        // Held bids are posted through the buyers as they are now (paused, deleted, changed).
        let current = self.registry.current();
        let task = self.tasks.spawn(async move {
            let Submission { publisher, lead, started, permit, idempotency, bids, post } = submission;
            let (running, key) = idempotency.unzip();
            let lead_id: Arc<str> = ids::lead_id().into();
            let admitted = match dedupe.map(|d| d.check(&lead, crate::store::now_ms())) {
                None => Admitted::unchecked(),
                Some(Verdict::Admit(admitted)) => admitted,
                Some(Verdict::Duplicate) => {
                    let answer = encode(&duplicate_answer(&lead_id, lead.test, started), post.as_ref());
                    // Stored before it is answered, like any lead that gets a 2xx.
                    let writes = journal::duplicate(&lead_id, &publisher.id, &lead, key, answer.clone());
                    if let Err(error) = journal.write(writes).await {
                        bids.release();
                        return Err(store_busy(error));
                    }
                    drop(permit);
                    // A duplicate is never posted: a ping's held bids go unused.
                    answered(running, bids.into_claim(), &answer);
                    return Ok(Answered { body: answer, outcome: Outcome::Duplicate });
                }
            };
            let exclude = admitted.exclude.clone();
            let contacts = admitted.contacts.clone();
            // The lead is durable before any buyer hears of it; if it cannot be, no buyer does
            // (and dropping `running` frees the key for a retry, dropping `admitted` its
            // dedupe claim, releasing the bids lets the ping be posted again).
            let received = journal::received(&lead_id, &publisher.id, &lead, key, contacts);
            if let Err(error) = journal.write(vec![received]).await {
                bids.release();
                return Err(store_busy(error));
            }
            let person = admitted.stored();
            let in_flight = &auctioneer.metrics().in_flight;
            in_flight.increment(1.0);
            let offer = Offer { publisher_id: &publisher.id, exclude: &exclude };
            let (record, claim) = match bids {
                Bids::Fresh(registry) => {
                    (auctioneer.run(&registry, &lead, Arc::clone(&lead_id), started, offer).await, None)
                }
                Bids::Held(held, claim) => {
                    (auctioneer.post(*held, &current, &lead, Arc::clone(&lead_id), started, offer).await, Some(claim))
                }
            };
            in_flight.decrement(1.0);
            for sale in &record.sales {
                person.bought(&sale.buyer_id, crate::store::now_ms());
            }
            let answer = encode(&record.answer(), post.as_ref());
            let stored = journal.write(vec![journal::finished(&record, &publisher.id, &lead, answer.clone())]).await;
            // The slot is held until the outcome is stored: the store's queue keeps room for
            // one write per running auction, and this bounds how many there are.
            drop(permit);
            // The auction ran: a retry must get its outcome, never a second auction.
            answered(running, claim, &answer);
            let outcome = record.outcome();
            if records.try_send((publisher.id, record)).is_err() {
                auctioneer.metrics().records_dropped.increment(1);
            }
            stored.map_err(|error| {
                tracing::error!(lead_id = %lead_id, %error, "auction outcome not stored");
                let retry =
                    if post.is_some() { "post the same body again" } else { "retry with the same Idempotency-Key" };
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_failed",
                    format!("lead {lead_id} was auctioned but its outcome could not be stored; {retry} to read it"),
                )
            })?;
            Ok(Answered { body: answer, outcome })
        });
        task.await.map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the auction failed"))?
    }
}

impl Bids {
    /// Gives held bids back to their ping (the lead could not be stored, so nothing was sent
    /// to any buyer and the ping may be posted again).
    fn release(self) {
        if let Bids::Held(held, claim) = self {
            claim.release(held);
        }
    }

    /// The claim on a ping, if the bids are a ping's.
    fn into_claim(self) -> Option<PostClaim> {
        match self {
            Bids::Fresh(_) => None,
            Bids::Held(_, claim) => Some(claim),
        }
    }
}

/// Hands `answer` to whoever waits for it: a retry with the same `Idempotency-Key`, a second
/// post on the same ping.
fn answered(running: Option<Running>, claim: Option<PostClaim>, answer: &Bytes) {
    if let Some(running) = running {
        running.complete(answer.clone());
    }
    if let Some(claim) = claim {
        claim.complete(answer.clone());
    }
}

/// 503 `overloaded` when every in-flight slot is taken.
pub fn overloaded(in_flight: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, ApiError> {
    Arc::clone(in_flight).try_acquire_owned().map_err(|_| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many leads in flight; retry shortly")
            .retry_after(1)
    })
}

/// A lead's answer, with a post's fields when it came from `POST /v1/post`.
#[derive(Serialize)]
struct AnswerBody<'a> {
    #[serde(flatten)]
    lead: &'a LeadAnswer,
    #[serde(flatten)]
    post: Option<&'a PostFields>,
}

fn encode(lead: &LeadAnswer, post: Option<&PostFields>) -> Bytes {
    // Serializing the answer structs cannot fail.
    Bytes::from(serde_json::to_vec(&AnswerBody { lead, post }).unwrap_or_default())
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
fn duplicate_answer(lead_id: &str, test: bool, started: Instant) -> LeadAnswer {
    LeadAnswer {
        lead_id: lead_id.to_owned(),
        outcome: Outcome::Duplicate,
        price: None,
        buyer_id: None,
        sales: Vec::new(),
        test,
        timings_ms: Timings::from_durations(Duration::ZERO, Duration::ZERO, started.elapsed()),
    }
}

/// A 200 with an answer given before, marked `Idempotent-Replayed: true`.
pub fn replayed(answer: Bytes) -> Response<Full<Bytes>> {
    let mut response = json_response(StatusCode::OK, answer);
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
