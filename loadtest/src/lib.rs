//! `loadtest`: an open-loop load generator for the lead auction engine.
//!
//! Requests are sent on a schedule fixed in advance ([`schedule`]), whatever the engine does,
//! and each lead's latency is measured from its *intended* send time, so a stalled engine
//! shows up in the percentiles instead of quietly slowing the generator down (coordinated
//! omission). Results go into HDR histograms ([`report`]).
//!
//! - [`runner`]: one run at one rate (`loadtest run`).
//! - [`scenario`]: a scenario file's steps against the engine and bidder-sim it starts, the
//!   SLO verdict, and the report with its plot (`loadtest scenario`).
//! - [`baseline`]: the bare-hyper server making the same exchanges per lead, the physical
//!   limit the engine is compared to (`loadtest baseline`).
//! - [`plot`]: SVG line charts.

pub mod baseline;
pub mod plot;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod schedule;
