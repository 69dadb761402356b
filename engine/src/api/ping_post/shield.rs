//! The ping shield: a publisher sending the same ping again (same vertical, normalized
//! attributes, source and test flag) within its window gets the first answer (same `ping_id`,
//! bid and expiry) and no buyer is pinged again. An identical ping that arrives while the
//! first is still running waits for the first's answer instead of pinging too.
//!
//! An answer is cached until the window ends or the ping's hold does, whichever is first, and
//! forgotten as soon as the ping is posted (its bids are spent: the next identical ping is a new
//! one). Bounded: at capacity, expired answers are swept; still full, pings go unshielded.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Throttle;
use super::held::PingId;
use crate::api::validate::Ping;

/// When the shield is full, expired answers are swept at most this often (each sweep walks it
/// all).
const SWEEP_FULL_EVERY: Duration = Duration::from_millis(100);

/// What makes two pings the same: SHA-256 of the publisher and the ping's normalized data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShieldKey([u8; 32]);

impl ShieldKey {
    /// The key of `ping` from `publisher`. Attributes are compared normalized (`"Washington"`
    /// is `WA`), ZIP+4 included.
    pub fn of(publisher: &str, ping: &Ping) -> ShieldKey {
        let mut hash = Sha256::new();
        hash.update((publisher.len() as u64).to_le_bytes());
        hash.update(publisher);
        let plus4 = ping.attributes.zip.plus4();
        let data = (&*ping.vertical, &ping.attributes, plus4, &ping.source, ping.test);
        // Serializing plain data into a Vec cannot fail.
        hash.update(serde_json::to_vec(&data).unwrap_or_default());
        ShieldKey(hash.finalize().into())
    }
}

enum Slot {
    /// The first such ping is running; its answer comes on the channel.
    Running(watch::Receiver<Option<Bytes>>),
    /// Its answer, until `until`; `ping`: the id holding bids (none for a no-bid).
    Cached { answer: Bytes, ping: Option<PingId>, until: Instant },
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Slot::Running(_) => "Running",
            Slot::Cached { .. } => "Cached",
        })
    }
}

/// What a ping should do.
#[derive(Debug)]
pub enum Shielded {
    /// The same ping was answered within the window: answer this.
    Hit(Bytes),
    /// The same ping is running: wait for its answer ([`wait`]).
    Wait(watch::Receiver<Option<Bytes>>),
    /// First of its kind: ping the buyers, then [`ShieldClaim::complete`].
    Fresh(ShieldClaim),
    /// The shield is full: ping the buyers, unshielded.
    Full,
}

/// The cached answers.
#[derive(Debug)]
pub struct Shield {
    slots: DashMap<ShieldKey, Slot>,
    capacity: usize,
    sweeps: Throttle,
}

impl Shield {
    /// A shield of at most `capacity` answers.
    pub fn new(capacity: usize) -> Shield {
        Shield { slots: DashMap::new(), capacity, sweeps: Throttle::new(SWEEP_FULL_EVERY) }
    }

    /// Looks `key` up at `now`.
    pub fn claim(self: &Arc<Self>, key: ShieldKey, now: Instant) -> Shielded {
        if self.slots.len() >= self.capacity && self.sweeps.ready(now) {
            self.sweep(now);
        }
        let full = self.slots.len() >= self.capacity;
        match self.slots.entry(key) {
            Entry::Occupied(mut slot) => {
                match slot.get() {
                    Slot::Cached { answer, until, .. } if now < *until => return Shielded::Hit(answer.clone()),
                    Slot::Running(answer) => return Shielded::Wait(answer.clone()),
                    Slot::Cached { .. } => {}
                }
                let (claim, running) = self.fresh(key);
                slot.insert(running);
                claim
            }
            Entry::Vacant(_) if full => Shielded::Full,
            Entry::Vacant(vacant) => {
                let (claim, running) = self.fresh(key);
                vacant.insert(running);
                claim
            }
        }
    }

    fn fresh(self: &Arc<Self>, key: ShieldKey) -> (Shielded, Slot) {
        let (tx, rx) = watch::channel(None);
        (Shielded::Fresh(ShieldClaim { shield: Arc::clone(self), key, answer: tx, done: false }), Slot::Running(rx))
    }

    /// Forgets the answer under `key` if it is ping `ping`'s (it was posted).
    pub fn forget(&self, key: &ShieldKey, ping: PingId) {
        self.slots.remove_if(key, |_, slot| matches!(slot, Slot::Cached { ping: Some(p), .. } if *p == ping));
    }

    /// Drops the answers whose time is up.
    pub fn sweep(&self, now: Instant) {
        self.slots.retain(|_, slot| !matches!(slot, Slot::Cached { until, .. } if *until <= now));
    }
}

/// The first ping of its kind in the window. Dropped without [`ShieldClaim::complete`] (the
/// ping failed), its slot is freed and its waiters ping on their own.
#[derive(Debug)]
pub struct ShieldClaim {
    shield: Arc<Shield>,
    key: ShieldKey,
    answer: watch::Sender<Option<Bytes>>,
    done: bool,
}

impl ShieldClaim {
    /// The key claimed.
    pub fn key(&self) -> ShieldKey {
        self.key
    }

    /// Caches `answer` until `until` (`ping`: the id holding bids, if any), and hands it to the
    /// pings waiting for it.
    pub fn complete(mut self, answer: Bytes, ping: Option<PingId>, until: Instant) {
        self.done = true;
        self.shield.slots.insert(self.key, Slot::Cached { answer: answer.clone(), ping, until });
        self.answer.send_replace(Some(answer));
    }
}

impl Drop for ShieldClaim {
    fn drop(&mut self) {
        if !self.done {
            self.shield.slots.remove_if(&self.key, |_, slot| matches!(slot, Slot::Running(_)));
        }
    }
}

/// The answer of the identical ping running, or `None` if it failed.
pub async fn wait(mut answer: watch::Receiver<Option<Bytes>>) -> Option<Bytes> {
    answer.wait_for(Option::is_some).await.ok().and_then(|answer| answer.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(zip: &str) -> Ping {
        let body =
            format!(r#"{{"vertical": "auto_insurance", "attributes": {{"zip": "{zip}", "state": "WA", "age": 42}}}}"#);
        crate::api::validate::ping(body.as_bytes()).unwrap_or_else(|e| panic!("valid ping: {e:?}"))
    }

    #[test]
    fn the_key_is_the_publisher_and_the_normalized_ping() {
        let same = ShieldKey::of("pub1", &ping("98004"));
        assert_eq!(same, ShieldKey::of("pub1", &ping(" 98004 ")));
        assert_ne!(same, ShieldKey::of("pub2", &ping("98004")), "per publisher");
        assert_ne!(same, ShieldKey::of("pub1", &ping("98005")));
        assert_ne!(same, ShieldKey::of("pub1", &ping("98004-1234")), "ZIP+4 counts");
        let mut test = ping("98004");
        test.test = true;
        assert_ne!(same, ShieldKey::of("pub1", &test));
    }

    #[tokio::test(start_paused = true)]
    async fn an_identical_ping_waits_for_the_first_then_hits_the_cache_until_it_ends() {
        let shield = Arc::new(Shield::new(10));
        let key = ShieldKey::of("pub1", &ping("98004"));
        let now = Instant::now();
        let Shielded::Fresh(first) = shield.claim(key, now) else { panic!("first is fresh") };
        let Shielded::Wait(rx) = shield.claim(key, now) else { panic!("second waits") };
        let waiter = tokio::spawn(wait(rx));
        let id = PingId::new();
        first.complete(Bytes::from_static(b"answer"), Some(id), now + Duration::from_secs(5));
        assert_eq!(waiter.await.ok().flatten(), Some(Bytes::from_static(b"answer")));
        assert!(matches!(shield.claim(key, now + Duration::from_secs(4)), Shielded::Hit(b) if b == "answer"));
        // Past `until`, the next identical ping is a new one.
        assert!(matches!(shield.claim(key, now + Duration::from_secs(5)), Shielded::Fresh(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_posted_ping_is_forgotten_and_a_failed_one_frees_its_waiters() {
        let shield = Arc::new(Shield::new(10));
        let key = ShieldKey::of("pub1", &ping("98004"));
        let now = Instant::now();
        let Shielded::Fresh(first) = shield.claim(key, now) else { panic!("fresh") };
        let id = PingId::new();
        first.complete(Bytes::new(), Some(id), now + Duration::from_secs(60));
        shield.forget(&key, PingId::new());
        assert!(matches!(shield.claim(key, now), Shielded::Hit(_)), "another ping's post forgets nothing");
        shield.forget(&key, id);
        let Shielded::Fresh(again) = shield.claim(key, now) else { panic!("forgotten once posted") };
        let Shielded::Wait(rx) = shield.claim(key, now) else { panic!("waits") };
        drop(again);
        assert_eq!(wait(rx).await, None);
        assert!(shield.slots.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_full_means_unshielded_until_answers_expire() {
        let shield = Arc::new(Shield::new(2));
        let now = Instant::now();
        for zip in ["98004", "98005"] {
            let Shielded::Fresh(claim) = shield.claim(ShieldKey::of("pub1", &ping(zip)), now) else { panic!() };
            claim.complete(Bytes::new(), None, now + Duration::from_secs(1));
        }
        let third = ShieldKey::of("pub1", &ping("98006"));
        assert!(matches!(shield.claim(third, now), Shielded::Full));
        assert!(matches!(shield.claim(third, now + Duration::from_secs(1)), Shielded::Fresh(_)));
        assert!(shield.slots.len() <= 2);
    }
}
