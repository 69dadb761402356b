//! One running simulated buyer: checks a request ([`inspect`]), draws its plan from the
//! buyer's seeded stream ([`profile`](crate::profile)), remembers its bids ([`BidBook`]),
//! counts everything ([`BuyerCounters`]), then waits and answers as planned, faults included.
//!
//! Locks (`parking_lot`) are held for a draw or a map update, never across an `.await`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use lead_protocol::error::{ErrorBody, ErrorDetail};
use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;

use crate::answer::{self, Endpoint};
use crate::bidbook::BidBook;
use crate::body::{self, ReadError, SimBody};
use crate::config::{BuyerSpec, FaultSettings};
use crate::faults::FaultKind;
use crate::inspect::{self, Violation, Wants};
use crate::profile::{PingProfile, Plan, PostProfile};
use crate::stats::{BuyerCounters, bump};

/// What the server does with a request.
#[derive(Debug)]
pub enum Reply {
    /// Send this response.
    Answer(Response<SimBody>),
    /// Close without answering (the `reset` and `never_answer` faults).
    Drop,
}

/// A buyer's random stream and the serial of its next id, drawn together under one lock so
/// that the same requests in the same order get the same answers and ids.
#[derive(Debug)]
struct Stream {
    rng: SmallRng,
    serial: u64,
}

impl Stream {
    fn new(seed: u64) -> Mutex<Stream> {
        Mutex::new(Stream { rng: SmallRng::seed_from_u64(seed), serial: 0 })
    }
}

/// A simulated buyer.
#[derive(Debug)]
pub struct Buyer {
    /// The buyer id.
    pub id: Box<str>,
    wants: Wants,
    ping: PingProfile,
    post: PostProfile,
    /// Pings and posts have a stream each: the answers to pings do not depend on how posts
    /// interleave with them.
    pings: Mutex<Stream>,
    posts: Mutex<Stream>,
    book: Mutex<BidBook>,
    /// What it has seen and done.
    pub counters: BuyerCounters,
}

impl Buyer {
    /// A buyer from a validated spec; `seed` is the simulator's.
    pub fn new(spec: &BuyerSpec, seed: u64, bid_memory: usize) -> Buyer {
        Buyer {
            id: spec.id.as_str().into(),
            wants: Wants {
                verticals: spec.verticals.iter().map(|v| v.as_str().into()).collect(),
                states: spec.states.iter().fold(0, |mask, state| mask | 1 << state.index()),
            },
            ping: PingProfile::new(&spec.ping),
            post: PostProfile::new(&spec.post),
            pings: Stream::new(stream_seed(seed, &spec.id, Endpoint::Ping)),
            posts: Stream::new(stream_seed(seed, &spec.id, Endpoint::Post)),
            book: Mutex::new(BidBook::new(bid_memory)),
            counters: BuyerCounters::default(),
        }
    }

    /// Answers a ping.
    pub async fn ping(&self, settings: &FaultSettings, request: Request<Incoming>) -> Reply {
        let started = Instant::now();
        bump(&self.counters.pings);
        let body = match self.read(request).await {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let (checked, pii) = inspect::ping(&body, &self.wants);
        if pii && self.counters.pii_violations.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(buyer = %self.id, "a ping carried PII; counted in /stats (further ones are not logged)");
        }
        let checked = match checked {
            Ok(checked) => checked,
            Err(violation) => return self.refuse(violation),
        };
        let (plan, serial) = {
            let mut stream = self.pings.lock();
            let plan = self.ping.plan(&mut stream.rng, checked.state, &checked.ping.attributes);
            stream.serial += u64::from(plan.answer.is_some());
            (plan, stream.serial)
        };
        let answer = match plan.answer {
            Some(price) => answer::bid(price, serial),
            None => Bytes::from_static(answer::NO_BID),
        };
        let late_after = Duration::from_millis(u64::from(checked.ping.tmax_ms) + u64::from(settings.late_margin_ms));
        let answered_after = match plan.fault {
            None => Some(plan.delay),
            Some(FaultKind::Late) => Some(plan.delay.max(late_after)),
            Some(FaultKind::Trickle) => Some(plan.delay + trickle_time(settings, answer.len())),
            Some(_) => None,
        };
        if let (Some(price), Some(after)) = (plan.answer, answered_after) {
            self.book.lock().record(&checked.ping.ping_id, serial, price, after >= late_after);
        }
        if plan.fault.is_none() {
            bump(if plan.answer.is_some() { &self.counters.bids } else { &self.counters.no_bids });
        }
        self.deliver(settings, Endpoint::Ping, plan, answer, started, late_after).await
    }

    /// Answers a post.
    pub async fn post(&self, settings: &FaultSettings, request: Request<Incoming>) -> Reply {
        let started = Instant::now();
        bump(&self.counters.posts);
        let body = match self.read(request).await {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let checked = inspect::post(&body)
            .and_then(|post| self.book.lock().check_post(&post.ping_id, post.bid_id.as_deref(), post.price));
        if let Err(violation) = checked {
            return self.refuse(violation);
        }
        let (plan, serial) = {
            let mut stream = self.posts.lock();
            let plan = self.post.plan(&mut stream.rng);
            stream.serial += u64::from(plan.answer);
            (plan, stream.serial)
        };
        let answer = if plan.answer { answer::accepted(serial) } else { Bytes::from_static(answer::DECLINED) };
        if plan.fault.is_none() {
            bump(if plan.answer { &self.counters.accepted } else { &self.counters.declined });
        }
        let late_after = Duration::from_millis(u64::from(settings.post_late_ms));
        self.deliver(settings, Endpoint::Post, plan, answer, started, late_after).await
    }

    /// Reads the body of a ping or post; counts and answers what is wrong with it.
    async fn read(&self, request: Request<Incoming>) -> Result<Bytes, Reply> {
        let (parts, body) = request.into_parts();
        if !is_json(&parts.headers) {
            self.count(Violation::ContentType);
        }
        match body::read(&parts.headers, body).await {
            Ok(body) => Ok(body),
            Err(ReadError::TooLarge) => Err(self.refuse(Violation::TooLarge)),
            Err(ReadError::Unreadable) => Err(Reply::Answer(error(StatusCode::BAD_REQUEST, "bad_body"))),
        }
    }

    /// Counts a violation and answers it with 400 (413 for a body too large).
    fn refuse(&self, violation: Violation) -> Reply {
        self.count(violation);
        let status = match violation {
            Violation::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        Reply::Answer(error(status, violation.as_str()))
    }

    fn count(&self, violation: Violation) {
        if self.counters.violation(violation) {
            tracing::warn!(
                buyer = %self.id,
                reason = violation.as_str(),
                "contract violation; counted in /stats (further ones are not logged)"
            );
        }
    }

    /// Waits and answers as planned: `answer` on time, or the planned fault.
    async fn deliver<A>(
        &self,
        settings: &FaultSettings,
        endpoint: Endpoint,
        plan: Plan<A>,
        answer: Bytes,
        started: Instant,
        late_after: Duration,
    ) -> Reply {
        let Some(kind) = plan.fault else {
            wait(started, plan.delay).await;
            return Reply::Answer(json(StatusCode::OK, SimBody::full(answer)));
        };
        self.counters.fault(kind);
        match kind {
            FaultKind::NeverAnswer => {
                wait(started, Duration::from_millis(u64::from(settings.never_answer_cap_ms))).await;
                return Reply::Drop;
            }
            FaultKind::Late => wait(started, plan.delay.max(late_after)).await,
            _ => wait(started, plan.delay).await,
        }
        let body = match kind {
            FaultKind::Reset => return Reply::Drop,
            FaultKind::Trickle => SimBody::trickle(answer, Duration::from_millis(u64::from(settings.trickle_byte_ms))),
            FaultKind::Oversized => SimBody::full(answer::padded(&answer, settings.oversized_bytes)),
            _ => SimBody::full(answer::broken(kind, endpoint).map_or(answer, Bytes::from_static)),
        };
        let status = match kind {
            FaultKind::Error500 => StatusCode::INTERNAL_SERVER_ERROR,
            FaultKind::Error503 => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        };
        Reply::Answer(json(status, body))
    }
}

/// How long a trickled body of `len` bytes takes (the first byte goes at once).
fn trickle_time(settings: &FaultSettings, len: usize) -> Duration {
    let pauses = u32::try_from(len.saturating_sub(1)).unwrap_or(u32::MAX);
    Duration::from_millis(u64::from(settings.trickle_byte_ms)).saturating_mul(pauses)
}

/// Sleeps until `after` past `started` (not at all for zero: no timer on the fast path).
async fn wait(started: Instant, after: Duration) {
    if !after.is_zero() {
        tokio::time::sleep_until(started + after).await;
    }
}

/// Whether the request says its body is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// A JSON response.
pub fn json(status: StatusCode, body: SimBody) -> Response<SimBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An error answer in the contract's shape, `code` naming the reason.
pub fn error(status: StatusCode, code: &str) -> Response<SimBody> {
    let body = ErrorBody {
        error: ErrorDetail { code: code.to_owned(), message: format!("refused by bidder-sim: {code}"), field: None },
    };
    json(status, SimBody::full(serde_json::to_vec(&body).unwrap_or_default()))
}

/// The seed of one buyer's stream: the simulator's seed mixed with the buyer id (so adding,
/// removing or reordering other buyers does not change this one's answers) and the endpoint.
/// FNV-1a then SplitMix64: both fixed algorithms, stable across Rust versions.
fn stream_seed(seed: u64, id: &str, endpoint: Endpoint) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut x = seed ^ hash ^ (endpoint as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_seed_buyer_and_endpoint() {
        let seeds = [
            stream_seed(1, "a", Endpoint::Ping),
            stream_seed(2, "a", Endpoint::Ping),
            stream_seed(1, "b", Endpoint::Ping),
            stream_seed(1, "a", Endpoint::Post),
        ];
        for (i, a) in seeds.iter().enumerate() {
            assert!(seeds[i + 1..].iter().all(|b| a != b), "{seeds:?}");
        }
        assert_eq!(stream_seed(1, "a", Endpoint::Ping), seeds[0], "stable");
    }

    #[test]
    fn trickle_time_counts_the_pauses() {
        let settings = FaultSettings { trickle_byte_ms: 10, ..FaultSettings::default() };
        assert_eq!(trickle_time(&settings, 45), Duration::from_millis(440));
        assert_eq!(trickle_time(&settings, 0), Duration::ZERO);
    }
}
