//! Lead dedupe: a lead whose phone or email (normalized) was seen in the same vertical within
//! the window is a duplicate. In `reject` mode it is answered `duplicate` and no buyer hears
//! of it; in `exclude_buyers` mode it is auctioned among the buyers that have not bought that
//! person within the window.
//!
//! Intake asks [`Dedupe::check`] after the idempotency claim (a retry replays its first answer
//! and is never a duplicate of itself). Only a lead that is not a duplicate registers its keys
//! (a duplicate never extends the window), and only once it is stored: the claim is undone if
//! the lead's write fails. Test leads are neither checked nor registered.
//!
//! Durable: the keys are written with the lead, in the same transaction (`lead_contacts`), and
//! [`Dedupe::restore`] rebuilds the index from the store at start. `key` makes the keys (hashes:
//! no phone or email is held in memory), `index` holds them.

mod index;
mod key;

use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::{Counter, Gauge};

use crate::config::{DedupeConfig, DedupeMode};
use crate::protocol::lead::Lead;
use crate::store::{ContactKey, StoredContact, UnixMs};
use index::{Claimed, Index};
pub use key::Key;

/// How often expired entries are swept: memory is bounded by `max_entries` anyway, and a
/// minute late is nothing against a window of days.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The dedupe index with its settings and metrics.
#[derive(Debug)]
pub struct Dedupe {
    config: DedupeConfig,
    index: Index,
    metrics: DedupeMetrics,
}

#[derive(Debug)]
struct DedupeMetrics {
    /// Duplicates found, by mode.
    rejected: Counter,
    /// Duplicates auctioned without their previous buyers.
    repeats: Counter,
    /// Keys held.
    entries: Gauge,
    /// Keys forgotten early because `max_entries` was reached.
    evictions: Counter,
}

/// What intake does with a lead.
#[derive(Debug)]
pub enum Verdict {
    /// A duplicate in `reject` mode: store it closed as a duplicate, answer `duplicate`.
    Duplicate,
    /// Auction it (store `contacts` with the lead, then call [`Admitted::stored`]).
    Admit(Admitted),
}

/// A lead admitted to the auction. Dropped before [`Admitted::stored`], it undoes its claim
/// (the lead was never stored, so it must not count as seen).
#[derive(Debug)]
pub struct Admitted {
    /// Buyers not to offer it to (`exclude_buyers` mode: they bought this person).
    pub exclude: Vec<Arc<str>>,
    /// The keys to store with the lead.
    pub contacts: Vec<ContactKey>,
    person: Person,
    /// The first-seen time of keys this lead registered, to undo if it is never stored.
    claimed: Option<UnixMs>,
}

/// A stored lead's person, to record who bought them.
#[derive(Debug)]
pub struct Person {
    dedupe: Option<Arc<Dedupe>>,
    keys: Vec<Key>,
}

impl Dedupe {
    /// An empty index under `config`.
    pub fn new(config: DedupeConfig) -> Dedupe {
        let duplicates = |mode: &'static str| metrics::counter!("engine_dedupe_duplicates_total", "mode" => mode);
        let metrics = DedupeMetrics {
            rejected: duplicates("reject"),
            repeats: duplicates("exclude_buyers"),
            entries: metrics::gauge!("engine_dedupe_entries"),
            evictions: metrics::counter!("engine_dedupe_evictions_total"),
        };
        Dedupe { index: Index::new(config.max_entries), config, metrics }
    }

    /// Checks `lead` at `now` and, when it is not a duplicate, claims its keys (atomically: of
    /// two leads with the same phone at once, exactly one is new).
    pub fn check(self: &Arc<Self>, lead: &Lead, now: UnixMs) -> Verdict {
        let rule = self.config.rule(&lead.vertical);
        let keys = if lead.test { Vec::new() } else { key::keys(lead, &rule) };
        if keys.is_empty() {
            return Verdict::Admit(Admitted::unchecked());
        }
        match self.index.claim(&keys, now, rule.window_ms) {
            Claimed::New { evicted } => {
                self.metrics.entries.increment(keys.len() as f64 - evicted as f64);
                self.count_evictions(evicted);
                let contacts = keys.iter().map(|&key| ContactKey { key, seen_at: now }).collect();
                Verdict::Admit(Admitted {
                    exclude: Vec::new(),
                    contacts,
                    person: Person { dedupe: Some(Arc::clone(self)), keys },
                    claimed: Some(now),
                })
            }
            Claimed::Seen(_) if rule.mode == DedupeMode::Reject => {
                self.metrics.rejected.increment(1);
                Verdict::Duplicate
            }
            Claimed::Seen(seen) => {
                self.metrics.repeats.increment(1);
                let mut exclude: Vec<Arc<str>> = Vec::new();
                for buyer in seen.iter().flat_map(|s| &s.buyers) {
                    if !exclude.contains(buyer) {
                        exclude.push(Arc::clone(buyer));
                    }
                }
                // Stored under the matched entries' first-seen times: the rebuild then finds
                // this lead's sale in the same window, and the window is not extended.
                let contacts = seen.iter().map(|s| ContactKey { key: s.key, seen_at: s.first_seen }).collect();
                let keys = seen.iter().map(|s| s.key).collect();
                Verdict::Admit(Admitted {
                    exclude,
                    contacts,
                    person: Person { dedupe: Some(Arc::clone(self)), keys },
                    claimed: None,
                })
            }
        }
    }

    /// The longest window of any vertical, milliseconds.
    pub fn longest_window_ms(&self) -> i64 {
        self.config.longest_window_ms()
    }

    /// The most entries the index holds (`max_entries`): the rebuild reads no more.
    pub fn max_entries(&self) -> usize {
        self.config.max_entries
    }

    /// Rebuilds the index from stored keys (oldest first) at `now`.
    pub fn restore(&self, rows: Vec<StoredContact>, now: UnixMs) {
        let mut evicted = 0;
        for row in rows {
            let expires_at = row.seen_at.saturating_add(self.config.rule(&row.vertical).window_ms);
            let buyer = row.buyer_id.map(Arc::from);
            evicted += self.index.restore(row.key, row.seen_at, expires_at, buyer, now);
        }
        self.count_evictions(evicted);
        self.metrics.entries.set(self.index.len() as f64);
    }

    /// Forgets the entries expired at `now`.
    pub fn sweep(&self, now: UnixMs) {
        self.index.sweep(now);
        self.metrics.entries.set(self.index.len() as f64);
    }

    fn count_evictions(&self, evicted: usize) {
        if evicted > 0 {
            self.metrics.evictions.increment(evicted as u64);
        }
    }
}

impl Admitted {
    /// A lead dedupe does not look at (a test lead, or dedupe off).
    pub fn unchecked() -> Admitted {
        Admitted {
            exclude: Vec::new(),
            contacts: Vec::new(),
            person: Person { dedupe: None, keys: Vec::new() },
            claimed: None,
        }
    }

    /// The lead is stored: its claim stands. Returns its person, to record a sale.
    pub fn stored(mut self) -> Person {
        self.claimed = None;
        std::mem::replace(&mut self.person, Person { dedupe: None, keys: Vec::new() })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let (Some(first_seen), Some(dedupe)) = (self.claimed, &self.person.dedupe) {
            let removed = dedupe.index.release(&self.person.keys, first_seen);
            dedupe.metrics.entries.decrement(removed as f64);
        }
    }
}

impl Person {
    /// `buyer` bought this person at `now`: later leads of theirs in the window are not
    /// offered to it (`exclude_buyers` mode).
    pub fn bought(&self, buyer: &Arc<str>, now: UnixMs) {
        if let Some(dedupe) = &self.dedupe {
            dedupe.index.add_buyer(&self.keys, buyer, now);
        }
    }
}

/// Sweeps `dedupe` every [`SWEEP_EVERY`] until it is dropped.
pub async fn sweep_task(dedupe: Weak<Dedupe>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        match dedupe.upgrade() {
            // Walks every entry under its shard's lock: off the runtime's threads, so intake
            // never waits behind it on a worker.
            Some(dedupe) => {
                let _ = tokio::task::spawn_blocking(move || dedupe.sweep(crate::store::now_ms())).await;
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests;
