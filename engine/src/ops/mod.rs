//! Operations: Prometheus metrics, health and readiness, logging, graceful shutdown.

pub mod health;
pub mod logging;
pub mod metrics;
