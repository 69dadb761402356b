//! The key set: every usable key as (digest, caller), an immutable snapshot behind an
//! [`ArcSwap`] so a request reads it without a lock and a change (a key issued or revoked, a
//! publisher disabled) replaces it whole. Per-key usage outlives snapshots.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use http::HeaderMap;
use parking_lot::Mutex;
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::{Caller, Role, Scopes, forbidden, presented_digest, unauthorized};
use crate::api::error::ApiError;
use crate::config::Config;
use crate::store::UnixMs;

/// A key made by `engine keys create` or `POST /v1/keys`, as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedKey {
    /// `key_...`.
    pub id: String,
    /// What it acts as.
    pub role: Role,
    /// The publisher, buyer or admin it acts for.
    pub owner_id: String,
    /// What it may do.
    pub scopes: Scopes,
    /// SHA-256 of the key.
    pub digest: [u8; 32],
    /// Revoked keys are kept (for the audit) and never accepted.
    pub revoked: bool,
}

/// How much a key has been used (kept across snapshots, by key id).
#[derive(Debug, Default)]
pub struct KeyUsage {
    /// Requests authenticated with it.
    pub uses: AtomicU64,
    /// When it was last used (Unix ms; 0: never since start).
    pub last_used: AtomicI64,
}

#[derive(Debug)]
struct Entry {
    caller: Caller,
    digest: [u8; 32],
    /// A disabled publisher's key is refused with 403.
    enabled: bool,
    usage: Arc<KeyUsage>,
}

#[derive(Debug, Default)]
struct KeySet {
    entries: Vec<Entry>,
}

/// The inputs a snapshot is built from, kept to rebuild it when one of them changes.
#[derive(Debug, Default)]
struct Sources {
    /// Config keys: (role, owner, digest, enabled).
    config: Vec<(Role, Arc<str>, [u8; 32], bool)>,
    /// Publishers that exist now, and whether they are enabled.
    publishers: HashMap<Arc<str>, bool>,
    issued: Vec<IssuedKey>,
    /// Stable publisher indices, never reused while the process runs.
    indices: HashMap<Arc<str>, u32>,
    usage: HashMap<Arc<str>, Arc<KeyUsage>>,
}

/// Every key the API accepts.
#[derive(Debug)]
pub struct Keys {
    current: ArcSwap<KeySet>,
    sources: Mutex<Sources>,
}

impl Keys {
    /// The config's keys; issued keys come with [`Keys::set_issued`].
    pub fn new(config: &Config) -> Keys {
        let keys = Keys { current: ArcSwap::from_pointee(KeySet::default()), sources: Mutex::default() };
        keys.set_config(config);
        keys
    }

    /// Replaces the config's keys and publishers (at start, and when the admin API changes a
    /// publisher, buyer or admin).
    pub fn set_config(&self, config: &Config) {
        let mut sources = self.sources.lock();
        sources.config = config
            .publishers
            .iter()
            .map(|p| (Role::Publisher, Arc::from(p.id.as_str()), p.key_sha256.0, p.enabled))
            .chain(
                config.buyers.iter().filter_map(|b| Some((Role::Buyer, b.id.as_str().into(), b.key_sha256?.0, true))),
            )
            .chain(config.admins.iter().map(|a| (Role::Admin, a.id.as_str().into(), a.key_sha256.0, true)))
            .collect();
        sources.publishers = config.publishers.iter().map(|p| (p.id.as_str().into(), p.enabled)).collect();
        self.rebuild(&mut sources);
    }

    /// Replaces the issued keys (at start, after a key is made or revoked, and when the store's
    /// keys change under a running engine).
    pub fn set_issued(&self, issued: Vec<IssuedKey>) {
        let mut sources = self.sources.lock();
        sources.issued = issued;
        self.rebuild(&mut sources);
    }

    /// The stable index of a publisher (assigned on first use).
    pub fn publisher_index(&self, id: &str) -> u32 {
        let mut sources = self.sources.lock();
        index_of(&mut sources.indices, id)
    }

    /// How much a key was used, by key id (`None`: not used since start).
    pub fn usage(&self, key_id: &str) -> Option<(u64, UnixMs)> {
        let sources = self.sources.lock();
        let usage = sources.usage.get(key_id)?;
        Some((usage.uses.load(Ordering::Relaxed), usage.last_used.load(Ordering::Relaxed)))
    }

    /// The caller holding the key in the `Authorization` header: 401 without a known key, 403
    /// for a disabled publisher. Counts the use.
    pub fn authenticate(&self, headers: &HeaderMap, now: UnixMs) -> Result<Caller, ApiError> {
        let digest = presented_digest(headers)?;
        let set = self.current.load();
        // Visit every entry whatever matches, so timing says nothing about which one did.
        let mut found = u32::MAX;
        for (i, entry) in set.entries.iter().enumerate() {
            found.conditional_assign(&(i as u32), entry.digest.ct_eq(&digest));
        }
        let entry = set.entries.get(found as usize).ok_or_else(|| unauthorized("invalid API key"))?;
        entry.usage.uses.fetch_add(1, Ordering::Relaxed);
        entry.usage.last_used.store(now, Ordering::Relaxed);
        if !entry.enabled {
            return Err(forbidden("this key's publisher is disabled"));
        }
        Ok(entry.caller.clone())
    }

    fn rebuild(&self, sources: &mut Sources) {
        let mut entries = Vec::with_capacity(sources.config.len() + sources.issued.len());
        let config = std::mem::take(&mut sources.config);
        for (role, owner, digest, enabled) in &config {
            let key_id: Arc<str> = format!("config:{}:{owner}", role.as_str()).into();
            entries.push(entry(sources, *role, owner, key_id, Scopes::ALL, *digest, *enabled));
        }
        sources.config = config;
        let issued = std::mem::take(&mut sources.issued);
        for key in issued.iter().filter(|k| !k.revoked) {
            // A publisher key acts for a publisher that exists; one deleted takes its keys along.
            let enabled = match key.role {
                Role::Publisher => match sources.publishers.get(key.owner_id.as_str()) {
                    Some(enabled) => *enabled,
                    None => continue,
                },
                Role::Buyer | Role::Admin => true,
            };
            let owner: Arc<str> = key.owner_id.as_str().into();
            entries.push(entry(sources, key.role, &owner, key.id.as_str().into(), key.scopes, key.digest, enabled));
        }
        sources.issued = issued;
        self.current.store(Arc::new(KeySet { entries }));
    }
}

fn entry(
    sources: &mut Sources,
    role: Role,
    owner: &Arc<str>,
    key_id: Arc<str>,
    scopes: Scopes,
    digest: [u8; 32],
    enabled: bool,
) -> Entry {
    let publisher_index = if role == Role::Publisher { index_of(&mut sources.indices, owner) } else { u32::MAX };
    let usage = Arc::clone(sources.usage.entry(Arc::clone(&key_id)).or_default());
    Entry { caller: Caller { role, id: Arc::clone(owner), publisher_index, key_id, scopes }, digest, enabled, usage }
}

fn index_of(indices: &mut HashMap<Arc<str>, u32>, id: &str) -> u32 {
    if let Some(index) = indices.get(id) {
        return *index;
    }
    let index = u32::try_from(indices.len()).unwrap_or(u32::MAX - 1);
    indices.insert(id.into(), index);
    index
}
