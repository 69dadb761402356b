//! `Idempotency-Key`: a publisher's retry gets the first answer and never starts a second
//! auction, also while the first is still running (the retry waits for it).
//!
//! A bounded map with a TTL, in memory: at capacity, expired keys are swept; if it is still
//! full, new keys are refused with 503 rather than forgetting live ones. The durable store
//! keeps every key with its answer; at start the keys still within their TTL are
//! [restored](IdempotencyCache::restore), so a retry after a restart replays too.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use super::error::ApiError;

/// Longest key accepted (Stripe's limit too).
const MAX_KEY_LEN: usize = 255;

type Key = (u32, Box<str>);

/// SHA-256 of a request body: stable across versions and restarts, so it can be stored.
pub type Fingerprint = [u8; 32];

enum Slot {
    /// An auction for this key is running; its answer will be sent on the channel.
    Running { fingerprint: Fingerprint, answer: watch::Receiver<Option<Bytes>> },
    /// The answer, kept until `expires`.
    Done { fingerprint: Fingerprint, answer: Bytes, expires: Instant },
}

/// What a request with a key should do.
pub enum Claim {
    /// First time: run the auction, then [`Running::complete`].
    Fresh(Running),
    /// Answered before: send this body again.
    Replay(Bytes),
    /// Running now: wait on this for the answer.
    Wait(watch::Receiver<Option<Bytes>>),
}

/// The map of keys.
#[derive(Debug)]
pub struct IdempotencyCache {
    slots: DashMap<Key, Slot>,
    capacity: usize,
    ttl: Duration,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Slot::Running { .. } => "Running",
            Slot::Done { .. } => "Done",
        })
    }
}

/// The `Idempotency-Key` header, if present and well-formed.
pub fn key_from(headers: &HeaderMap) -> Result<Option<Box<str>>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.into()))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 printable ASCII characters",
        )),
    }
}

/// A fingerprint of the request body: a key reused with another body is an error.
pub fn fingerprint(body: &[u8]) -> Fingerprint {
    Sha256::digest(body).into()
}

impl IdempotencyCache {
    /// A cache of at most `capacity` keys, each kept `ttl` after its answer.
    pub fn new(capacity: usize, ttl: Duration) -> IdempotencyCache {
        IdempotencyCache { slots: DashMap::new(), capacity, ttl }
    }

    /// Claims `key` for `publisher`.
    pub fn claim(self: &Arc<Self>, publisher: u32, key: Box<str>, fingerprint: Fingerprint) -> Result<Claim, ApiError> {
        if self.slots.len() >= self.capacity {
            self.sweep();
        }
        let full = self.slots.len() >= self.capacity;
        let key = (publisher, key);
        let conflict = || {
            ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different body",
            )
        };
        match self.slots.entry(key) {
            Entry::Occupied(mut slot) => {
                if matches!(slot.get(), Slot::Done { expires, .. } if *expires <= Instant::now()) {
                    let (tx, rx) = watch::channel(None);
                    let key = slot.key().clone();
                    slot.insert(Slot::Running { fingerprint, answer: rx });
                    return Ok(Claim::Fresh(Running {
                        cache: Arc::clone(self),
                        key: Some(key),
                        fingerprint,
                        answer: tx,
                    }));
                }
                match slot.get() {
                    Slot::Done { fingerprint: f, .. } | Slot::Running { fingerprint: f, .. } if *f != fingerprint => {
                        Err(conflict())
                    }
                    Slot::Done { answer, .. } => Ok(Claim::Replay(answer.clone())),
                    Slot::Running { answer, .. } => Ok(Claim::Wait(answer.clone())),
                }
            }
            Entry::Vacant(_) if full => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "idempotency_store_full",
                "too many idempotency keys are being remembered; retry shortly",
            )
            .retry_after(1)),
            Entry::Vacant(vacant) => {
                let (tx, rx) = watch::channel(None);
                let key = vacant.key().clone();
                vacant.insert(Slot::Running { fingerprint, answer: rx });
                Ok(Claim::Fresh(Running { cache: Arc::clone(self), key: Some(key), fingerprint, answer: tx }))
            }
        }
    }

    /// Puts back a key answered before a restart, `age` after its answer (expired ones are
    /// skipped; restoring never exceeds the capacity).
    pub fn restore(&self, publisher: u32, key: Box<str>, fingerprint: Fingerprint, answer: Bytes, age: Duration) {
        let Some(left) = self.ttl.checked_sub(age) else { return };
        if self.slots.len() < self.capacity {
            self.slots.insert((publisher, key), Slot::Done { fingerprint, answer, expires: Instant::now() + left });
        }
    }

    /// Drops expired answers.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.slots.retain(|_, slot| !matches!(slot, Slot::Done { expires, .. } if *expires <= now));
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Ownership of a key whose auction is running.
#[derive(Debug)]
pub struct Running {
    cache: Arc<IdempotencyCache>,
    key: Option<Key>,
    fingerprint: Fingerprint,
    answer: watch::Sender<Option<Bytes>>,
}

impl Running {
    /// The key claimed.
    pub fn key(&self) -> &str {
        self.key.as_ref().map_or("", |(_, key)| key)
    }

    /// Stores the answer and wakes every retry waiting for it.
    pub fn complete(mut self, answer: Bytes) {
        if let Some(key) = self.key.take() {
            let fingerprint = self.fingerprint;
            let expires = Instant::now() + self.cache.ttl;
            self.cache.slots.insert(key, Slot::Done { fingerprint, answer: answer.clone(), expires });
        }
        self.answer.send_replace(Some(answer));
    }
}

impl Drop for Running {
    /// A key whose auction never ran (refused for overload) or ended without an answer (a
    /// panic) is freed, and its waiters see the channel close and answer 503: retry.
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cache.slots.remove(&key);
        }
    }
}

/// Waits for a running auction's answer.
pub async fn wait(mut answer: watch::Receiver<Option<Bytes>>) -> Result<Bytes, ApiError> {
    match answer.wait_for(Option::is_some).await {
        Ok(body) => Ok(body.clone().unwrap_or_default()),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "first_attempt_failed",
            "the first request with this Idempotency-Key did not run its auction; retry",
        )
        .retry_after(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_retry_waits_for_the_running_auction_then_replays() {
        let cache = Arc::new(IdempotencyCache::new(10, Duration::from_secs(60)));
        let Ok(Claim::Fresh(running)) = cache.claim(1, "k".into(), [7; 32]) else { panic!("first claim is fresh") };
        let Ok(Claim::Wait(rx)) = cache.claim(1, "k".into(), [7; 32]) else { panic!("second claim waits") };
        let waiter = tokio::spawn(wait(rx));
        running.complete(Bytes::from_static(b"answer"));
        assert_eq!(waiter.await.ok().and_then(Result::ok), Some(Bytes::from_static(b"answer")));
        assert!(matches!(cache.claim(1, "k".into(), [7; 32]), Ok(Claim::Replay(b)) if b == "answer"));
        // Another publisher's identical key is independent.
        assert!(matches!(cache.claim(2, "k".into(), [7; 32]), Ok(Claim::Fresh(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_reused_with_another_body_conflicts() {
        let cache = Arc::new(IdempotencyCache::new(10, Duration::from_secs(60)));
        let Ok(Claim::Fresh(running)) = cache.claim(1, "k".into(), [7; 32]) else { panic!("fresh") };
        assert_eq!(cache.claim(1, "k".into(), [8; 32]).err().map(|e| e.status), Some(StatusCode::CONFLICT));
        running.complete(Bytes::new());
        assert_eq!(cache.claim(1, "k".into(), [8; 32]).err().map(|e| e.status), Some(StatusCode::CONFLICT));
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_with_ttl() {
        let cache = Arc::new(IdempotencyCache::new(2, Duration::from_secs(60)));
        for key in ["a", "b"] {
            let Ok(Claim::Fresh(running)) = cache.claim(1, key.into(), [1; 32]) else { panic!("fresh") };
            running.complete(Bytes::new());
        }
        let refused = cache.claim(1, "c".into(), [1; 32]).err();
        assert_eq!(refused.map(|e| (e.status, e.retry_after)), Some((StatusCode::SERVICE_UNAVAILABLE, Some(1))));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(matches!(cache.claim(1, "c".into(), [1; 32]), Ok(Claim::Fresh(_))));
        assert!(cache.len() <= 2);
    }

    #[tokio::test(start_paused = true)]
    async fn restored_keys_replay_until_their_ttl_runs_out() {
        let cache = Arc::new(IdempotencyCache::new(10, Duration::from_secs(60)));
        cache.restore(1, "k".into(), fingerprint(b"body"), Bytes::from_static(b"first"), Duration::from_secs(50));
        cache.restore(1, "old".into(), fingerprint(b"body"), Bytes::from_static(b"x"), Duration::from_secs(61));
        assert!(matches!(cache.claim(1, "k".into(), fingerprint(b"body")), Ok(Claim::Replay(b)) if b == "first"));
        assert_eq!(
            cache.claim(1, "k".into(), fingerprint(b"other")).err().map(|e| e.status),
            Some(StatusCode::CONFLICT)
        );
        assert!(
            matches!(cache.claim(1, "old".into(), fingerprint(b"body")), Ok(Claim::Fresh(_))),
            "expired before restart"
        );
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(matches!(cache.claim(1, "k".into(), fingerprint(b"body")), Ok(Claim::Fresh(_))), "10 s were left");
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_auction_frees_its_key_and_fails_its_waiters() {
        let cache = Arc::new(IdempotencyCache::new(10, Duration::from_secs(60)));
        let Ok(Claim::Fresh(running)) = cache.claim(1, "k".into(), [7; 32]) else { panic!("fresh") };
        let Ok(Claim::Wait(rx)) = cache.claim(1, "k".into(), [7; 32]) else { panic!("waits") };
        drop(running);
        assert_eq!(wait(rx).await.err().map(|e| e.status), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert!(cache.is_empty());
    }
}
