//! Buyers at run time: the registry built from config (an immutable snapshot the auction reads
//! without locks), the precomputed eligibility index that picks who gets pinged, and
//! [`schedule`]: hours of operation, compiled, with a per-minute cache for the hot path.

pub mod caps;
mod eligibility;
mod registry;
pub mod schedule;

pub use eligibility::Eligibility;
pub use registry::{Buyer, Registry, Skip};
