//! Buyers at run time: the registry built from config (an immutable snapshot the auction reads
//! without locks) and the precomputed eligibility index that picks who gets pinged.

pub mod caps;
mod eligibility;
mod registry;

pub use eligibility::Eligibility;
pub use registry::{Buyer, Registry, Skip};
