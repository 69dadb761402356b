//! Wire types of contract v1: what publishers send, what buyers receive and answer, what the
//! engine answers. Plain data with (de)serialization; no I/O, and nothing else of ours
//! imported, so the engine, `bidder-sim`, `loadtest` and the benches share one definition.
//! The engine re-exports this crate as `engine::protocol`.

pub mod answer;
pub mod bid;
pub mod error;
pub mod event;
pub mod feedback;
pub mod geo;
pub mod ids;
pub mod lead;
pub mod money;
pub mod ping;
pub mod post;
