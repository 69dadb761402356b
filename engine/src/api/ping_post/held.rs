//! Held pings: the bids of each publisher's ping, by `ping_id`, until its post claims them or
//! its hold ends. In memory only (a restart forgets them: a post then gets 404).
//!
//! An entry goes `Held` -> `Posting` (claimed by a post: a second post gets 409) -> `Posted`
//! (the answer, replayed to the same body); a claim whose lead never reached a buyer is
//! released back to `Held`. A `Held` entry past its hold becomes `Expired` (410) and drops its
//! bids. Past its hold, an entry is remembered [`REMEMBERED`] longer, or until the map needs
//! its room, then forgotten (404). The map never holds more than `max_held` entries: a ping
//! that finds it full, after dropping what is past its hold, is refused (503).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use http::StatusCode;
use metrics::Gauge;
use tokio::time::Instant;

use super::Throttle;
use super::shield::ShieldKey;
use crate::api::error::ApiError;
use crate::api::idempotency::Fingerprint;
use crate::api::validate::Ping;
use crate::auction::Held;

/// How long a ping is remembered after its hold ends, room permitting: a post then gets 410
/// `ping_expired` (never posted) or the first post's answer (posted) rather than 404.
pub const REMEMBERED: Duration = Duration::from_secs(300);

/// When the map is full, entries past their hold are dropped at most this often: each pass
/// walks the whole map, and a flood of pings at a full map must not walk it every time.
const EVICT_EVERY: Duration = Duration::from_millis(100);

/// A ping's id: `pp_` and a UUID v7 (time-ordered, unguessable enough for a per-publisher
/// lookup), kept as its 128 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PingId(u128);

impl PingId {
    /// A new id.
    pub fn new() -> PingId {
        PingId(uuid::Uuid::now_v7().as_u128())
    }

    /// The id written as `text`, if it is one this engine mints (`pp_` and 32 lowercase hex
    /// digits).
    pub fn parse(text: &str) -> Option<PingId> {
        let hex = text.strip_prefix("pp_")?;
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        u128::from_str_radix(hex, 16).ok().map(PingId)
    }
}

impl std::fmt::Display for PingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pp_{:032x}", self.0)
    }
}

/// A ping whose bids are held: what its post needs.
#[derive(Debug)]
pub struct Pinged {
    /// The ping's data (its vertical, attributes and test flag make the lead).
    pub ping: Arc<Ping>,
    /// The bids.
    pub held: Box<Held>,
    /// Its entry in the ping shield, dropped when it is posted.
    pub shield: Option<ShieldKey>,
}

#[derive(Debug)]
struct Entry {
    /// The publisher's index: another publisher's post finds nothing.
    publisher: u32,
    /// When the hold ends.
    expires: Instant,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Waiting for its post.
    Held(Box<Pinged>),
    /// A post has claimed it and is running.
    Posting,
    /// Posted: the answer, replayed to a post with the same body.
    Posted(Fingerprint, Bytes),
    /// Its hold ended before any post.
    Expired,
}

/// What a post's claim found.
#[derive(Debug)]
pub enum Claimed {
    /// The bids, now this post's to sell on.
    Fresh(Box<Held>, PostClaim),
    /// The same post was answered before: its answer.
    Replay(Bytes),
}

/// The held pings.
#[derive(Debug)]
pub struct HeldPings {
    entries: DashMap<PingId, Entry>,
    /// Entries in the map plus room reserved for pings still running.
    used: AtomicUsize,
    capacity: usize,
    evictions: Throttle,
    /// Entries holding bids now (`engine_pings_held`).
    gauge: Gauge,
}

impl HeldPings {
    /// An empty map of at most `capacity` entries.
    pub fn new(capacity: usize, gauge: Gauge) -> HeldPings {
        HeldPings {
            entries: DashMap::new(),
            used: AtomicUsize::new(0),
            capacity,
            evictions: Throttle::new(EVICT_EVERY),
            gauge,
        }
    }

    /// Room for one ping's bids, taken before its buyers are pinged (`None`: full, even after
    /// dropping what is past its hold).
    pub fn reserve(self: &Arc<Self>, now: Instant) -> Option<Reservation> {
        if !self.take_room() {
            if self.evictions.ready(now) {
                self.remove_where(|entry| now >= entry.expires && !matches!(entry.state, State::Posting));
            }
            if !self.take_room() {
                return None;
            }
        }
        Some(Reservation { map: Arc::clone(self), kept: false })
    }

    fn take_room(&self) -> bool {
        self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1)).is_ok()
    }

    /// Holds `pinged` under `id` for `publisher` until `expires`, in the room `reservation` took.
    pub fn hold(&self, mut reservation: Reservation, id: PingId, publisher: u32, expires: Instant, pinged: Pinged) {
        // The room is the entry's now.
        reservation.kept = true;
        let entry = Entry { publisher, expires, state: State::Held(Box::new(pinged)) };
        if self.entries.insert(id, entry).is_some() {
            // Ids are unique (UUID v7); were one minted twice, the room is counted once.
            self.used.fetch_sub(1, Ordering::AcqRel);
        }
        self.gauge.increment(1.0);
    }

    /// Claims ping `ping_id` of `publisher` for a post whose body has `fingerprint`, at `now`:
    /// 404 `unknown_ping` (never held, another publisher's, forgotten, or a no-bid), 410
    /// `ping_expired`, 409 `post_in_progress` while another post runs, 409 `ping_already_posted`
    /// after a post with another body; the same body again gets the first answer.
    pub fn claim(
        self: &Arc<Self>,
        publisher: u32,
        ping_id: &str,
        fingerprint: Fingerprint,
        now: Instant,
    ) -> Result<Claimed, ApiError> {
        let id = PingId::parse(ping_id).ok_or_else(unknown)?;
        let mut entry = self.entries.get_mut(&id).filter(|e| e.publisher == publisher).ok_or_else(unknown)?;
        if now >= entry.expires
            && let State::Held(_) = entry.state
        {
            entry.state = State::Expired;
            self.gauge.decrement(1.0);
        }
        let refused = match std::mem::replace(&mut entry.state, State::Posting) {
            State::Held(pinged) => {
                self.gauge.decrement(1.0);
                let Pinged { ping, held, shield } = *pinged;
                let claim = PostClaim { map: Arc::clone(self), id, ping, shield, fingerprint, done: false };
                return Ok(Claimed::Fresh(held, claim));
            }
            other => other,
        };
        let answer = match &refused {
            State::Posted(first, answer) if *first == fingerprint => Ok(Claimed::Replay(answer.clone())),
            State::Posted(..) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "ping_already_posted",
                "this ping was posted with another body; a ping sells one lead",
            )),
            State::Posting => Err(ApiError::new(
                StatusCode::CONFLICT,
                "post_in_progress",
                "a post on this ping is running; send the same body again for its answer once it is done",
            )),
            State::Expired | State::Held(_) => Err(ApiError::new(
                StatusCode::GONE,
                "ping_expired",
                "this ping's bids are no longer held: ping again, or send the lead to POST /v1/leads",
            )),
        };
        entry.state = refused;
        answer
    }

    /// Marks entries past their hold expired (dropping their bids) and forgets those past it by
    /// more than [`REMEMBERED`]; a claimed entry stays until its post is done.
    pub fn sweep(&self, now: Instant) {
        let mut expired = 0_u32;
        self.remove_where(|entry| {
            if now >= entry.expires
                && let State::Held(_) = entry.state
            {
                entry.state = State::Expired;
                expired += 1;
            }
            now >= entry.expires + REMEMBERED && !matches!(entry.state, State::Posting)
        });
        self.gauge.decrement(f64::from(expired));
    }

    /// Removes the entries `remove` says to (it may also change them), counting the room freed.
    fn remove_where(&self, mut remove: impl FnMut(&mut Entry) -> bool) {
        let mut removed = 0;
        let mut held = 0_u32;
        self.entries.retain(|_, entry| {
            let gone = remove(entry);
            if gone {
                removed += 1;
                held += u32::from(matches!(entry.state, State::Held(_)));
            }
            !gone
        });
        self.used.fetch_sub(removed, Ordering::AcqRel);
        self.gauge.decrement(f64::from(held));
    }
}

fn unknown() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_ping",
        "no ping with this id is held for this publisher (a no-bid holds nothing; held pings do not survive a restart)",
    )
}

/// Room in the map for one ping, given back if its bids are never held (a no-bid).
#[derive(Debug)]
pub struct Reservation {
    map: Arc<HeldPings>,
    /// Taken by an entry ([`HeldPings::hold`]).
    kept: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.kept {
            self.map.used.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A post's claim on a ping. [`PostClaim::complete`] records the answer (replayed to the same
/// body); [`PostClaim::release`] gives the bids back when the lead never reached a buyer.
/// Dropped otherwise (the auction task failed), the ping is forgotten: a claim never lets a
/// ping sell twice.
#[derive(Debug)]
pub struct PostClaim {
    map: Arc<HeldPings>,
    id: PingId,
    ping: Arc<Ping>,
    shield: Option<ShieldKey>,
    fingerprint: Fingerprint,
    done: bool,
}

impl PostClaim {
    /// The ping's data.
    pub fn ping(&self) -> &Ping {
        &self.ping
    }

    /// The ping's id.
    pub fn id(&self) -> PingId {
        self.id
    }

    /// The ping's entry in the shield, if it has one.
    pub fn shield(&self) -> Option<&ShieldKey> {
        self.shield.as_ref()
    }

    /// Records `answer` as the ping's: a post with the same body replays it.
    pub fn complete(mut self, answer: Bytes) {
        self.done = true;
        if let Some(mut entry) = self.map.entries.get_mut(&self.id) {
            entry.state = State::Posted(self.fingerprint, answer);
        }
    }

    /// Puts `held` back: the ping may be posted again (expired by now, it is `Expired`).
    pub fn release(mut self, held: Box<Held>) {
        self.done = true;
        if let Some(mut entry) = self.map.entries.get_mut(&self.id) {
            let pinged = Pinged { ping: Arc::clone(&self.ping), held, shield: self.shield };
            entry.state = State::Held(Box::new(pinged));
            self.map.gauge.increment(1.0);
        }
    }
}

impl Drop for PostClaim {
    fn drop(&mut self) {
        if !self.done && self.map.entries.remove(&self.id).is_some() {
            self.map.used.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests;
