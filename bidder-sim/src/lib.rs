//! Simulated buyers for the lead auction engine.
//!
//! - `serve`: many buyers on one port at `/{buyer_id}/ping` and `/{buyer_id}/post`, each with a
//!   seeded profile (latency, bids, prices, post acceptance, faults), checking every ping it
//!   receives against contract v1 and counting PII it finds.
//! - [`check`]: a conformance checker a buyer's engineer runs against their own endpoints.
//! - [`leads`]: synthetic leads for `engine demo` and `loadtest`.

pub mod check;
pub mod leads;
