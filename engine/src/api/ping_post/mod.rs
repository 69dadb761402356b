//! Publishers' ping/post: `POST /v1/ping` (a lead without contact data) runs the auction's ping
//! phase and holds its bids under a `ping_id`; `POST /v1/post` (that `ping_id` with the contact
//! and consent) sells the lead on them through the same pipeline as `POST /v1/leads`.
//!
//! - `held.rs`: the held pings by id, and a post's claim on one (a ping sells once).
//! - `shield.rs`: the ping shield (the same ping again within the window gets the cached answer).
//! - `limit.rs`: per-publisher ping rate limits.
//! - `metrics.rs`: pings held, shield hits, posts by result.
//!
//! The ping phase runs in its own task (like intake's auction) so a publisher hanging up cannot
//! leave buyers pinged and nothing held; its circuit transitions are stored at once, off the
//! answer path, since its post may never come.

mod held;
mod limit;
mod metrics;
mod shield;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Serialize;
use tokio::time::Instant;

pub use held::PostClaim;

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::intake::{self, Bids, Intake, PostFields, Submission};
use super::{body, idempotency, json_response, validate};
use crate::auction::Offer;
use crate::auction::journal;
use crate::config::{Config, LiveConfig, RateLimit};
use crate::protocol::money::Micros;
use crate::transport::Transport;
use held::{Claimed, HeldPings, PingId, Pinged};
use limit::PingLimits;
use metrics::PingPostMetrics;
use shield::{Shield, ShieldKey, Shielded};

/// How often held pings past their hold and shield answers past their window are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The ping/post API.
#[derive(Debug)]
pub struct PingPostApi {
    /// The held pings.
    held: Arc<HeldPings>,
    /// The ping shield's answers.
    shield: Arc<Shield>,
    /// Per-publisher ping buckets.
    limits: PingLimits,
    /// The config in force: `[ping_post]` and each publisher's ping settings, read per ping.
    config: Arc<LiveConfig>,
    metrics: Arc<PingPostMetrics>,
}

/// `200` body of `POST /v1/ping`.
#[derive(Debug, Serialize)]
struct PingAnswer {
    /// The id to post the lead with.
    ping_id: String,
    /// What the publisher is paid if the held bids buy the lead (null: no bid, nothing held).
    bid: Option<Micros>,
    /// When the bids stop being held (null with no bid).
    expires_at: Option<String>,
    /// A test ping (present only when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    test: bool,
}

/// A publisher's ping settings in force.
struct PingSettings {
    /// Its `ping_rate_limit`.
    rate_limit: Option<RateLimit>,
    /// Its shield window (zero: off).
    shield: Duration,
    /// How long bids are held at most.
    hold: Duration,
}

impl PingPostApi {
    /// The API for `config` (its `[ping_post]` bounds the held pings and the shield), reading
    /// publishers' settings from `live`.
    pub fn new(config: &Config, live: Arc<LiveConfig>) -> PingPostApi {
        let metrics = Arc::new(PingPostMetrics::new());
        let capacity = config.ping_post.max_held;
        PingPostApi {
            held: Arc::new(HeldPings::new(capacity, metrics.held.clone())),
            shield: Arc::new(Shield::new(capacity)),
            limits: PingLimits::default(),
            config: live,
            metrics,
        }
    }

    /// Sweeps held pings and shield answers every [`SWEEP_EVERY`] while the API exists.
    pub fn sweeper(&self) -> impl Future<Output = ()> + Send + 'static {
        let (held, shield) = (Arc::downgrade(&self.held), Arc::downgrade(&self.shield));
        async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                let (Some(held), Some(shield)) = (held.upgrade(), shield.upgrade()) else { return };
                let now = Instant::now();
                held.sweep(now);
                shield.sweep(now);
            }
        }
    }

    /// `publisher`'s ping settings in the config in force. A linear scan: publishers are tens
    /// or hundreds, and reading the config in force makes an admin change apply to the next
    /// ping.
    fn settings(&self, publisher: &str) -> PingSettings {
        let config = self.config.current();
        let entry = config.publishers.iter().find(|p| p.id == publisher);
        let shield_ms = entry.and_then(|p| p.ping_shield_ms).unwrap_or(config.ping_post.shield_ms);
        PingSettings {
            rate_limit: entry.and_then(|p| p.ping_rate_limit),
            shield: Duration::from_millis(shield_ms),
            hold: Duration::from_millis(config.ping_post.hold_ms),
        }
    }

    /// `POST /v1/ping`: the publisher's ping limit, the body, the shield, room to hold the
    /// bids, an in-flight slot, then the ping phase and the answer.
    pub async fn ping<T: Transport>(
        &self,
        intake: &Intake<T>,
        caller: &Caller,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let started = Instant::now();
        let publisher = caller.require_publisher(Scope::Write)?;
        let settings = self.settings(&publisher.id);
        if let Some(limit) = settings.rate_limit {
            let verdict = self.limits.admit(publisher.index, limit);
            if !verdict.admitted {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "this publisher is over its ping rate limit (`ping_rate_limit`); retry later",
                )
                .retry_after(verdict.retry_after_s));
            }
        }
        body::require_json(&parts.headers)?;
        let body = body::read_limited(&parts.headers, body, intake.max_body_bytes).await?;
        let ping = validate::ping(&body)?;
        let shield = if settings.shield.is_zero() {
            None
        } else {
            match self.shield.claim(ShieldKey::of(&publisher.id, &ping), started) {
                Shielded::Hit(answer) => return Ok(self.shielded(answer)),
                Shielded::Wait(running) => match shield::wait(running).await {
                    Some(answer) => return Ok(self.shielded(answer)),
                    // The identical ping failed: this one pings on its own.
                    None => None,
                },
                Shielded::Fresh(claim) => Some(claim),
                Shielded::Full => None,
            }
        };
        let reservation = self.held.reserve(started).ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many pings are held ([ping_post] max_held); retry shortly",
            )
            .retry_after(1)
        })?;
        let permit = intake::overloaded(&intake.in_flight)?;
        let auctioneer = Arc::clone(&intake.auctioneer);
        let registry = intake.registry.current();
        let (journal, tasks) = (intake.journal.clone(), intake.tasks.clone());
        let (held_pings, metrics) = (Arc::clone(&self.held), Arc::clone(&self.metrics));
        let task = intake.tasks.spawn(async move {
            let ping = Arc::new(ping);
            let offer = Offer { publisher_id: &publisher.id, exclude: &[] };
            let mut held = auctioneer.ping(registry, ping.profile(), offer, started).await;
            drop(permit);
            if let Some(write) = journal::buyer_events(&held.take_buyer_events()) {
                // Stored off the answer path (the answer never waits for the store), in a task
                // the shutdown drain waits for.
                tasks.spawn(async move {
                    if let Err(error) = journal.write(vec![write]).await {
                        tracing::warn!(%error, "buyer events of a publisher's ping not stored");
                    }
                });
            }
            let ping_id = PingId::new();
            // The hold counts from the ping's arrival: never longer than a held buyer honours
            // its bid. A bid that lapsed during the ping phase itself is no bid.
            let hold = held.bid_ttl().map_or(settings.hold, |ttl| ttl.min(settings.hold));
            let expires = started + hold;
            let bid = held.offer().filter(|_| expires > Instant::now());
            metrics.pinged(bid.is_some());
            let expires_at = bid.map(|_| {
                let at = crate::store::now_ms() + millis(hold) - millis(started.elapsed());
                crate::store::rfc3339(at).unwrap_or_default()
            });
            let test = ping.test;
            if bid.is_some() {
                let pinged = Pinged { ping, held: Box::new(held), shield: shield.as_ref().map(|s| s.key()) };
                held_pings.hold(reservation, ping_id, publisher.index, expires, pinged);
            }
            let answer = PingAnswer { ping_id: ping_id.to_string(), bid, expires_at, test };
            // Serializing the answer struct cannot fail.
            let answer = Bytes::from(serde_json::to_vec(&answer).unwrap_or_default());
            if let Some(shield) = shield {
                let until = started + settings.shield;
                let until = if bid.is_some() { until.min(expires) } else { until };
                shield.complete(answer.clone(), bid.map(|_| ping_id), until);
            }
            answer
        });
        let answer =
            task.await.map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the ping failed"))?;
        Ok(json_response(StatusCode::OK, answer))
    }

    fn shielded(&self, answer: Bytes) -> Response<Full<Bytes>> {
        self.metrics.shield_hits.increment(1);
        json_response(StatusCode::OK, answer)
    }

    /// `POST /v1/post`: claims the ping, makes the lead of the ping's data and the post's
    /// contact, then the intake pipeline on the held bids. Counted by result.
    pub async fn post<T: Transport>(
        &self,
        intake: &Intake<T>,
        caller: &Caller,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let result = self.posted(intake, caller, parts, body).await;
        self.metrics.posted(result.as_ref().map(|(_, result)| *result));
        result.map(|(response, _)| response)
    }

    async fn posted<T: Transport>(
        &self,
        intake: &Intake<T>,
        caller: &Caller,
        parts: &Parts,
        body: Incoming,
    ) -> Result<(Response<Full<Bytes>>, &'static str), ApiError> {
        let started = Instant::now();
        let publisher = caller.require_publisher(Scope::Write)?;
        body::require_json(&parts.headers)?;
        let body = body::read_limited(&parts.headers, body, intake.max_body_bytes).await?;
        let post = validate::post(&body)?;
        let fingerprint = idempotency::fingerprint(&body);
        // Expiry is judged when the post is read, not when it began arriving (a slow upload
        // must not claim a ping past its buyers' bid lifetimes).
        let (held, claim) = match self.held.claim(publisher.index, &post.ping_id, fingerprint, Instant::now())? {
            Claimed::Replay(answer) => return Ok((intake::replayed(answer), "replayed")),
            Claimed::Fresh(held, claim) => (held, claim),
        };
        // Claimed: the shield stops handing this ping out at once (before any await), so an
        // identical ping from now on runs its own auction.
        if let Some(key) = claim.shield() {
            self.shield.forget(key, claim.id());
        }
        // Refused here, the post reached no buyer: the bids go back to the ping.
        let ready = post.lead(claim.ping()).and_then(|(lead, ignored)| {
            let permit = intake::overloaded(&intake.in_flight)?;
            Ok((lead, ignored, permit))
        });
        let (lead, ignored, permit) = match ready {
            Ok(ready) => ready,
            Err(error) => {
                claim.release(held);
                return Err(error);
            }
        };
        let post = Some(PostFields { ping_id: claim.id().to_string(), ignored });
        let bids = Bids::Held(held, claim);
        let submission = Submission { publisher, lead, started, permit, idempotency: None, bids, post };
        let answered = intake.submit(submission).await?;
        Ok((json_response(StatusCode::OK, answered.body), answered.outcome.as_str()))
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Lets something happen at most once per interval, without a lock.
#[derive(Debug)]
struct Throttle {
    epoch: Instant,
    every: Duration,
    /// Nanoseconds after `epoch` before which it is not ready again.
    next: AtomicU64,
}

impl Throttle {
    fn new(every: Duration) -> Throttle {
        Throttle { epoch: Instant::now(), every, next: AtomicU64::new(0) }
    }

    /// Whether it may happen at `now` (if so, not again for the interval).
    fn ready(&self, now: Instant) -> bool {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let at = ns(now.saturating_duration_since(self.epoch));
        let next = self.next.load(Ordering::Relaxed);
        at >= next
            && self
                .next
                .compare_exchange(next, at.saturating_add(ns(self.every)), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}
