//! The in-memory index of people seen: contact key to first-seen time, expiry and the buyers
//! that bought them. Sharded maps under `parking_lot` mutexes; a claim locks every shard its
//! keys fall in, in shard order (so two claims never deadlock), checks and inserts all its keys
//! under those locks, and returns: check and claim are one atomic step per lead. No lock is
//! held across an `.await` (nothing here is async). Every function takes `now`, so tests drive
//! time with plain numbers.
//!
//! Memory is bounded: each shard holds at most its share of `max_entries`, and inserting
//! into a full shard first forgets that shard's oldest entries (insertion order, kept in a
//! queue beside the map).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::key::Key;
use crate::store::UnixMs;

/// Shards of a large index: enough that intake's threads rarely meet on one lock, few enough
/// that a sweep's pass over them stays cheap.
const SHARDS: usize = 64;

/// Entries per shard below which the index is not sharded: a small index (tests, a small
/// `max_entries`) then forgets exactly the oldest entry overall, not the oldest of one shard.
const MIN_PER_SHARD: usize = 1024;

/// Buyers remembered per person: far more than ever buy one person in a window; a bound so a
/// pathological config cannot grow one entry without limit.
pub const MAX_BUYERS: usize = 32;

/// One person (one key) as remembered.
#[derive(Debug)]
struct Entry {
    /// When the lead that registered it arrived: the start of its window.
    first_seen: UnixMs,
    /// When it stops counting: `first_seen` plus the vertical's window.
    expires_at: UnixMs,
    /// Buyers that bought this person within the window.
    buyers: Box<[Arc<str>]>,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Key, Entry>,
    /// Keys in insertion order with the `first_seen` they were inserted with; an item whose
    /// entry is gone or was replaced is stale and skipped.
    order: VecDeque<(Key, UnixMs)>,
}

/// A live entry a lead matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The key matched.
    pub key: Key,
    /// The start of its window.
    pub first_seen: UnixMs,
    /// Who bought this person within it.
    pub buyers: Vec<Arc<str>>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// No key was live: all of them are now registered, seen at `now`.
    New {
        /// Older entries forgotten to make room.
        evicted: usize,
    },
    /// At least one key was live: nothing was registered.
    Seen(Vec<Seen>),
}

/// The index.
#[derive(Debug)]
pub struct Index {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

impl Index {
    /// An index holding at most about `max_entries` keys (at most one more per shard).
    pub fn new(max_entries: usize) -> Index {
        let shards = (max_entries / MIN_PER_SHARD).clamp(1, SHARDS);
        Index {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: max_entries.div_ceil(shards).max(1),
        }
    }

    fn shard_of(&self, key: &Key) -> usize {
        // Keys are hashes already: their first bytes are uniform.
        let n = u64::from_le_bytes([key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7]]);
        (n % self.shards.len() as u64) as usize
    }

    /// Locks the shards of `keys`, in shard order.
    fn lock(&self, keys: &[Key]) -> Vec<(usize, MutexGuard<'_, Shard>)> {
        let mut wanted: Vec<usize> = keys.iter().map(|k| self.shard_of(k)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted.into_iter().map(|i| (i, self.shards[i].lock())).collect()
    }

    /// Atomically: if any of `keys` is live at `now`, returns what it matched and registers
    /// nothing; otherwise registers them all, seen at `now`, expiring `window_ms` later.
    pub fn claim(&self, keys: &[Key], now: UnixMs, window_ms: i64) -> Claimed {
        let mut guards = self.lock(keys);
        let mut seen = Vec::new();
        for key in keys {
            let shard = shard_mut(&mut guards, self.shard_of(key));
            if let Some(entry) = shard.map.get(key)
                && entry.expires_at > now
            {
                seen.push(Seen { key: *key, first_seen: entry.first_seen, buyers: entry.buyers.to_vec() });
            }
        }
        if !seen.is_empty() {
            return Claimed::Seen(seen);
        }
        let mut evicted = 0;
        for key in keys {
            let shard = shard_mut(&mut guards, self.shard_of(key));
            let entry = Entry { first_seen: now, expires_at: now.saturating_add(window_ms), buyers: Box::default() };
            evicted += insert(shard, *key, entry, self.per_shard);
        }
        Claimed::New { evicted }
    }

    /// Undoes a claim whose lead was never stored: removes the keys still registered with
    /// `first_seen`. Returns how many it removed.
    pub fn release(&self, keys: &[Key], first_seen: UnixMs) -> usize {
        let mut guards = self.lock(keys);
        let mut removed = 0;
        for key in keys {
            let shard = shard_mut(&mut guards, self.shard_of(key));
            if shard.map.get(key).is_some_and(|e| e.first_seen == first_seen) {
                shard.map.remove(key);
                if let Some(at) = shard.order.iter().rposition(|item| *item == (*key, first_seen)) {
                    shard.order.remove(at);
                }
                removed += 1;
            }
        }
        removed
    }

    /// Records that `buyer` bought the person behind `keys` (live entries only).
    pub fn add_buyer(&self, keys: &[Key], buyer: &Arc<str>, now: UnixMs) {
        let mut guards = self.lock(keys);
        for key in keys {
            let shard = shard_mut(&mut guards, self.shard_of(key));
            if let Some(entry) = shard.map.get_mut(key)
                && entry.expires_at > now
            {
                push_buyer(entry, buyer);
            }
        }
    }

    /// Puts back one stored key at start-up: a new entry, or one more buyer (and the earlier
    /// first-seen time) on an existing one. Rows already expired at `now` are skipped. Returns
    /// the entries forgotten to make room.
    pub fn restore(
        &self,
        key: Key,
        first_seen: UnixMs,
        expires_at: UnixMs,
        buyer: Option<Arc<str>>,
        now: UnixMs,
    ) -> usize {
        if expires_at <= now {
            return 0;
        }
        let mut shard = self.shards[self.shard_of(&key)].lock();
        if let Some(entry) = shard.map.get_mut(&key)
            && entry.expires_at > now
        {
            entry.first_seen = entry.first_seen.min(first_seen);
            entry.expires_at = entry.expires_at.max(expires_at);
            if let Some(buyer) = &buyer {
                push_buyer(entry, buyer);
            }
            return 0;
        }
        let buyers = buyer.into_iter().collect();
        insert(&mut shard, key, Entry { first_seen, expires_at, buyers }, self.per_shard)
    }

    /// Forgets every entry expired at `now`; returns how many.
    pub fn sweep(&self, now: UnixMs) -> usize {
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = shard.lock();
            let before = shard.map.len();
            shard.map.retain(|_, e| e.expires_at > now);
            removed += before - shard.map.len();
            let Shard { map, order } = &mut *shard;
            order.retain(|(key, first_seen)| map.get(key).is_some_and(|e| e.first_seen == *first_seen));
        }
        removed
    }

    /// Keys held (live or expired but not yet swept).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }
}

/// The locked shard `index` among `guards` (it was locked by [`Index::lock`] for this key).
fn shard_mut<'g, 'a>(guards: &'g mut [(usize, MutexGuard<'a, Shard>)], index: usize) -> &'g mut Shard {
    let at =
        guards.iter().position(|(i, _)| *i == index).unwrap_or_else(|| unreachable!("every key's shard is locked"));
    &mut guards[at].1
}

/// Inserts `entry`, forgetting the shard's oldest entries first while it is full. Returns how
/// many were forgotten.
fn insert(shard: &mut Shard, key: Key, entry: Entry, cap: usize) -> usize {
    let mut evicted = 0;
    if !shard.map.contains_key(&key) {
        while shard.map.len() >= cap {
            let Some((old, first_seen)) = shard.order.pop_front() else { break };
            if shard.map.get(&old).is_some_and(|e| e.first_seen == first_seen) {
                shard.map.remove(&old);
                evicted += 1;
            }
        }
    }
    shard.order.push_back((key, entry.first_seen));
    shard.map.insert(key, entry);
    evicted
}

fn push_buyer(entry: &mut Entry, buyer: &Arc<str>) {
    if entry.buyers.len() < MAX_BUYERS && !entry.buyers.contains(buyer) {
        let mut buyers = std::mem::take(&mut entry.buyers).into_vec();
        buyers.push(Arc::clone(buyer));
        entry.buyers = buyers.into_boxed_slice();
    }
}

#[cfg(test)]
mod tests;
