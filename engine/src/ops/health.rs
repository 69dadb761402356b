//! `/healthz` (the process answers) and `/readyz` (it takes leads: not draining).

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

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

    /// The `/readyz` answer.
    pub fn readiness(&self) -> Response<Full<Bytes>> {
        let (status, body): (_, &'static [u8]) = if self.draining.load(Ordering::Relaxed) {
            (StatusCode::SERVICE_UNAVAILABLE, b"{\"status\":\"draining\"}")
        } else {
            (StatusCode::OK, b"{\"status\":\"ready\"}")
        };
        crate::api::json_response(status, Bytes::from_static(body))
    }
}
