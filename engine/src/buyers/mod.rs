//! Buyers at run time: the registry built from config (an immutable snapshot the auction reads
//! without locks), the precomputed eligibility index that picks who gets pinged,
//! [`schedule`]: hours of operation, compiled, with a per-minute cache for the hot path, and each
//! buyer's payload mapping (its messages when it does not speak v1).

pub mod caps;
mod eligibility;
pub mod mapping;
mod registry;
pub mod schedule;

pub use eligibility::Eligibility;
pub use mapping::{Mapping, PingView, PostView};
pub use registry::{Buyer, Registry, Skip};
