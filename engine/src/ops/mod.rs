//! Operations: Prometheus metrics, health and readiness, logging, process plumbing (runtime,
//! shutdown signal).

pub mod health;
pub mod logging;
pub mod metrics;
pub mod process;
