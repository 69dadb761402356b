//! Buyers at run time: the registry built from config (an immutable snapshot the auction reads
//! without locks), the precomputed eligibility index that picks who wants a lead, and what
//! decides whether a buyer can take it now ([`availability`]: pause, [`schedule`], [`caps`],
//! [`circuit`]); each buyer's payload [`mapping`] (its messages when it does not speak v1) and its
//! place in the [`rotation`] among equal offers.

pub mod availability;
pub mod caps;
pub mod circuit;
mod eligibility;
pub mod mapping;
mod registry;
pub mod rotation;
pub mod schedule;

pub use availability::{Selection, Skip};
pub use eligibility::Eligibility;
pub use mapping::{Mapping, PingView, PostView};
pub use registry::{Buyer, LiveRegistry, Next, Registry, SALES_LOOKBACK_MS, Terms, Wanted};
