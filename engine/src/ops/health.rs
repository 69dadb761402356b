//! Liveness and readiness: the process answers (`/healthz`), and it takes leads, that is, it
//! is not draining for shutdown (`/readyz`).

use std::sync::atomic::{AtomicBool, Ordering};

/// Readiness state.
#[derive(Debug, Default)]
pub struct Health {
    draining: AtomicBool,
}

impl Health {
    /// Marks the engine as shutting down: load balancers should stop sending leads.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// True once shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
