//! bidder-sim over real sockets on 127.0.0.1:0, with real HTTP clients: answers, faults,
//! contract and PII checks, the engine config it prints, the examples and the command line.

#![allow(clippy::unwrap_used)]

mod answers;
mod cli;
mod common;
mod contract;
mod engine_config;
mod engine_e2e;
mod examples;
mod faults;
