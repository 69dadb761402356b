//! The key set: every usable key as (digest, caller), an immutable snapshot behind an
//! [`ArcSwap`] so a request reads it without a lock and a change (a key issued or revoked, a
//! publisher disabled) replaces it whole. Per-key usage and rate-limit buckets outlive
//! snapshots.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use http::HeaderMap;
use parking_lot::Mutex;
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::limit::{Bucket, Verdict};
use super::{Caller, Role, Scopes, forbidden, presented_digest, unauthorized};
use crate::api::error::ApiError;
use crate::config::{Config, RateLimit, RateLimits};
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
    /// Its own rate limit, instead of its role's.
    pub limit: Option<RateLimit>,
    /// Requests made with it, as last stored.
    pub uses: u64,
    /// When it was last used, as last stored (0: never).
    pub last_used_at: i64,
}

/// How much a key has been used, and its rate-limit bucket (kept across snapshots, by key id).
#[derive(Debug)]
pub struct KeyUsage {
    /// Requests authenticated with it.
    pub uses: AtomicU64,
    /// When it was last used (Unix ms; 0: never).
    pub last_used: AtomicI64,
    bucket: Bucket,
    requests: metrics::Counter,
}

impl KeyUsage {
    fn new(role: Role, uses: u64, last_used: i64) -> KeyUsage {
        KeyUsage {
            uses: AtomicU64::new(uses),
            last_used: AtomicI64::new(last_used),
            bucket: Bucket::default(),
            // By role, not by key: /metrics is unauthenticated and keys come and go; each key's
            // own count is `uses` (GET /v1/keys).
            requests: metrics::counter!("engine_api_requests_total", "role" => role.as_str()),
        }
    }
}

/// An authenticated caller and what its key's rate limit said.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Who is calling.
    pub caller: Caller,
    /// The `X-RateLimit-*` figures; `admitted == false` means answer 429.
    pub verdict: Verdict,
}

#[derive(Debug)]
struct Entry {
    caller: Caller,
    digest: [u8; 32],
    /// A disabled publisher's key is refused with 403.
    enabled: bool,
    limit: RateLimit,
    usage: Arc<KeyUsage>,
}

#[derive(Debug, Default)]
struct KeySet {
    entries: Vec<Entry>,
    /// Entries by the first 8 bytes of their digest.
    by_prefix: HashMap<u64, Vec<u32>>,
}

impl KeySet {
    /// The set of `entries`, less any digest held by more than one of them: such a key would
    /// act as whichever holder the lookup found, so it acts as none (and the error is logged).
    fn new(mut entries: Vec<Entry>) -> KeySet {
        let mut holders: HashMap<[u8; 32], usize> = HashMap::with_capacity(entries.len());
        for entry in &entries {
            *holders.entry(entry.digest).or_default() += 1;
        }
        entries.retain(|entry| {
            let unique = holders.get(&entry.digest) == Some(&1);
            if !unique {
                tracing::error!(key = %entry.caller.key_id, "API key shared with another holder: refused until one is removed");
            }
            unique
        });
        let mut by_prefix: HashMap<u64, Vec<u32>> = HashMap::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            by_prefix.entry(prefix(&entry.digest)).or_default().push(i as u32);
        }
        KeySet { entries, by_prefix }
    }

    /// The entry whose digest is `digest`.
    ///
    /// The candidates are found by the digest's first 8 bytes, then compared in full in
    /// constant time. What timing can reveal is whether the prefix of SHA-256 of the presented
    /// key matches a stored one: finding a key from that needs a SHA-256 preimage. Scanning
    /// every digest in constant time instead cost 60 us per request with 1,000 keys (benches,
    /// `auth`); this is one hash lookup.
    fn find(&self, digest: &[u8; 32]) -> Option<&Entry> {
        let candidates = self.by_prefix.get(&prefix(digest))?;
        let mut found = u32::MAX;
        for &i in candidates {
            let matches = self.entries.get(i as usize).map_or(0.into(), |e| e.digest.ct_eq(digest));
            found.conditional_assign(&i, matches);
        }
        self.entries.get(found as usize)
    }
}

fn prefix(digest: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The inputs a snapshot is built from, kept to rebuild it when one of them changes.
#[derive(Debug, Default)]
struct Sources {
    /// Config keys: (role, owner, digest, enabled).
    config: Vec<(Role, Arc<str>, [u8; 32], bool)>,
    /// Publishers that exist now, and whether they are enabled.
    publishers: HashMap<Arc<str>, bool>,
    /// Buyers and admins that exist now.
    buyers: std::collections::HashSet<Arc<str>>,
    admins: std::collections::HashSet<Arc<str>>,
    /// Each role's default rate limit.
    limits: RateLimits,
    issued: Vec<IssuedKey>,
    /// Stable publisher indices, never reused while the process runs.
    indices: HashMap<Arc<str>, u32>,
    usage: HashMap<Arc<str>, Arc<KeyUsage>>,
}

/// Every key the API accepts.
#[derive(Debug)]
pub struct Keys {
    /// Held across a store read and [`Keys::set_issued`] ([`crate::api::keys::reload`]), so a
    /// reload that read the store before a change cannot install its older list after one that
    /// read it after.
    pub reloading: tokio::sync::Mutex<()>,
    current: ArcSwap<KeySet>,
    sources: Mutex<Sources>,
    /// The rate limiter's clock.
    epoch: Instant,
}

impl Keys {
    /// The config's keys; issued keys come with [`Keys::set_issued`].
    pub fn new(config: &Config) -> Keys {
        let keys = Keys {
            reloading: tokio::sync::Mutex::new(()),
            current: ArcSwap::from_pointee(KeySet::default()),
            sources: Mutex::default(),
            epoch: Instant::now(),
        };
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
        sources.buyers = config.buyers.iter().map(|b| b.id.as_str().into()).collect();
        sources.admins = config.admins.iter().map(|a| a.id.as_str().into()).collect();
        sources.limits = config.rate_limits;
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

    /// The caller holding the key in the `Authorization` header, with its rate-limit verdict:
    /// 401 without a known key, 403 for a disabled publisher. Counts the use.
    pub fn authenticate(&self, headers: &HeaderMap, now: UnixMs) -> Result<Admission, ApiError> {
        let digest = presented_digest(headers)?;
        let set = self.current.load();
        let entry = set.find(&digest).ok_or_else(|| unauthorized("invalid API key"))?;
        entry.usage.uses.fetch_add(1, Ordering::Relaxed);
        entry.usage.last_used.store(now, Ordering::Relaxed);
        entry.usage.requests.increment(1);
        if !entry.enabled {
            return Err(forbidden("this key's publisher is disabled"));
        }
        let now_ns = i64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(i64::MAX);
        let verdict = entry.usage.bucket.admit(entry.limit, now_ns);
        Ok(Admission { caller: entry.caller.clone(), verdict })
    }

    /// Issued keys' use counts now: (key id, uses, last used), for storing.
    pub fn issued_usage(&self) -> Vec<(String, u64, i64)> {
        let sources = self.sources.lock();
        sources
            .issued
            .iter()
            .filter_map(|key| {
                let usage = sources.usage.get(key.id.as_str())?;
                Some((key.id.clone(), usage.uses.load(Ordering::Relaxed), usage.last_used.load(Ordering::Relaxed)))
            })
            .collect()
    }

    fn rebuild(&self, sources: &mut Sources) {
        let mut entries = Vec::with_capacity(sources.config.len() + sources.issued.len());
        let config = std::mem::take(&mut sources.config);
        for (role, owner, digest, enabled) in &config {
            let key_id: Arc<str> = config_key_id(*role, owner).into();
            let limit = role_limit(&sources.limits, *role);
            entries.push(entry(sources, *role, owner, key_id, Scopes::ALL, *digest, *enabled, limit, (0, 0)));
        }
        sources.config = config;
        let issued = std::mem::take(&mut sources.issued);
        for key in issued.iter().filter(|k| !k.revoked) {
            // A key acts for a holder that exists; one removed takes its keys along.
            let enabled = match key.role {
                Role::Publisher => match sources.publishers.get(key.owner_id.as_str()) {
                    Some(enabled) => *enabled,
                    None => continue,
                },
                Role::Buyer if !sources.buyers.contains(key.owner_id.as_str()) => continue,
                Role::Admin if !sources.admins.contains(key.owner_id.as_str()) => continue,
                Role::Buyer | Role::Admin => true,
            };
            let owner: Arc<str> = key.owner_id.as_str().into();
            let limit = key.limit.unwrap_or(role_limit(&sources.limits, key.role));
            let used = (key.uses, key.last_used_at);
            let id = key.id.as_str().into();
            entries.push(entry(sources, key.role, &owner, id, key.scopes, key.digest, enabled, limit, used));
        }
        sources.issued = issued;
        self.current.store(Arc::new(KeySet::new(entries)));
    }
}

/// The default rate limit of a role's keys.
pub fn role_limit(limits: &RateLimits, role: Role) -> RateLimit {
    match role {
        Role::Publisher => limits.publisher,
        Role::Buyer => limits.buyer,
        Role::Admin => limits.admin,
    }
}

/// The id a config key is listed under: `config.<role>.<owner>`.
pub fn config_key_id(role: Role, owner: &str) -> String {
    format!("config.{}.{owner}", role.as_str())
}

#[allow(clippy::too_many_arguments)]
fn entry(
    sources: &mut Sources,
    role: Role,
    owner: &Arc<str>,
    key_id: Arc<str>,
    scopes: Scopes,
    digest: [u8; 32],
    enabled: bool,
    limit: RateLimit,
    (uses, last_used): (u64, i64),
) -> Entry {
    let publisher_index = if role == Role::Publisher { index_of(&mut sources.indices, owner) } else { u32::MAX };
    let usage =
        sources.usage.entry(Arc::clone(&key_id)).or_insert_with(|| Arc::new(KeyUsage::new(role, uses, last_used)));
    let usage = Arc::clone(usage);
    let caller = Caller { role, id: Arc::clone(owner), publisher_index, key_id, scopes };
    Entry { caller, digest, enabled, limit, usage }
}

fn index_of(indices: &mut HashMap<Arc<str>, u32>, id: &str) -> u32 {
    if let Some(index) = indices.get(id) {
        return *index;
    }
    let index = u32::try_from(indices.len()).unwrap_or(u32::MAX - 1);
    indices.insert(id.into(), index);
    index
}
