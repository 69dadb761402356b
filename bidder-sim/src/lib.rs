//! Simulated buyers for the lead auction engine.
//!
//! - **Serving** ([`Simulator`], [`serve`]): many buyers on one port at `/{buyer_id}/ping`
//!   and `/{buyer_id}/post` (HTTP/1.1 and HTTP/2 cleartext), each with a seeded profile
//!   (latency, bids, prices, post acceptance, faults), checking every ping and post it
//!   receives against contract v1, counting PII found in pings, and reporting on `GET /stats`
//!   and `GET /metrics`.
//! - **Configuring** ([`SimConfig`]): sim.toml ([`SimConfig::from_toml`]) or a generated
//!   insurance-style mix ([`SimConfig::generate`]); [`engine_buyers_toml`] writes the engine
//!   config that points at the buyers.
//! - [`check`]: a conformance checker a buyer's engineer runs against their own endpoints.
//! - [`leads`]: synthetic leads for `engine demo` and `loadtest`.
//!
//! Inside: [`config`] (sim.toml) compiles into profiles (`profile`) that draw from
//! distributions (`dist`) and [`faults`] as plain functions of a seeded stream, with no I/O;
//! the server (`server`, `buyer`, `conn`, `body`, `answer`) carries the plans out over real
//! sockets, and `inspect`, `bidbook`, `stats` and `metrics` check and count what arrives.
//!
//! In-process use, as `engine demo` does:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bidder_sim::{SimConfig, Simulator, engine_buyers_toml};
//!
//! let simulator = Simulator::new(SimConfig::generate(20, 7))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let base_url = format!("http://{}", listener.local_addr()?);
//! let buyers_toml = engine_buyers_toml(simulator.config(), &base_url); // into the engine's config
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(std::sync::Arc::clone(&simulator).serve(listener, async {
//!     let _ = stopped.await;
//! }));
//! // ... run the engine against `buyers_toml`, read `simulator.stats()` as it goes ...
//! let _ = stop.send(());
//! server.await??;
//! # Ok(()) }
//! ```

mod answer;
mod bidbook;
mod body;
mod buyer;
pub mod check;
pub mod config;
mod conn;
mod dist;
mod engine_config;
pub mod faults;
mod generate;
mod inspect;
pub mod leads;
mod metrics;
mod profile;
mod server;
mod stats;

pub use config::{ConfigError, SimConfig};
pub use engine_config::engine_buyers_toml;
pub use server::{Simulator, serve};
pub use stats::{BuyerStats, StatsSnapshot};
