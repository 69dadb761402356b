//! `[ping_post]`: publishers' ping/post (`POST /v1/ping`, then `POST /v1/post`): how long the
//! bids of a ping are held, the ping shield's window, and how many pings may be held at once.
//!
//! ```toml
//! [ping_post]
//! hold_ms = 60000     # bids held for a post (bounded by each held buyer's bid_ttl_ms)
//! shield_ms = 30000   # the same ping again within this window gets the cached answer (0: off)
//! max_held = 100000   # held pings at most (full: 503)
//! ```

use serde::Deserialize;

/// Longest hold and shield window: an hour (a bid older than that is not a bid).
pub const MAX_HOLD_MS: u64 = 3_600_000;

/// `[ping_post]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PingPostConfig {
    /// How long the bids of a publisher's ping are held for its post (default a minute).
    pub hold_ms: u64,
    /// The ping shield's window (default 30 s; 0: off).
    pub shield_ms: u64,
    /// Pings held at once, at most (default 100,000).
    pub max_held: usize,
}

impl Default for PingPostConfig {
    fn default() -> PingPostConfig {
        PingPostConfig { hold_ms: 60_000, shield_ms: 30_000, max_held: 100_000 }
    }
}

impl PingPostConfig {
    /// Range checks; `Err((key, message))`.
    pub(super) fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !(1_000..=MAX_HOLD_MS).contains(&self.hold_ms) {
            return Err(("hold_ms", "must be between 1000 and 3600000"));
        }
        if self.shield_ms > MAX_HOLD_MS {
            return Err(("shield_ms", "must be between 0 (off) and 3600000"));
        }
        if !(1..=10_000_000).contains(&self.max_held) {
            return Err(("max_held", "must be between 1 and 10000000"));
        }
        Ok(())
    }
}
