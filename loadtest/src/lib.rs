//! `loadtest`: an open-loop load generator for the lead auction engine.
//!
//! Requests are sent on a schedule fixed in advance ([`schedule`]), whatever the engine does,
//! and each lead's latency is measured from its *intended* send time, so a stalled engine
//! shows up in the percentiles instead of quietly slowing the generator down (coordinated
//! omission). Results go into HDR histograms ([`report`]).

pub mod report;
pub mod runner;
pub mod schedule;
