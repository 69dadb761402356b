//! Bounds the store reads that callers can make long (pages of leads, lead details, reports):
//! at most [`HEAVY_READS`] at once, so a few expensive requests cannot take every reader
//! connection from the webhook dispatcher, feedback and the admin API. A request that cannot
//! get a turn within [`WAIT`] is answered `503 busy` with `Retry-After`.

use std::time::Duration;

use http::StatusCode;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::error::ApiError;

/// Heavy reads at once: half of the store's reader connections.
pub const HEAVY_READS: usize = crate::store::sqlite::DEFAULT_READERS / 2;

/// How long a heavy read waits for its turn.
const WAIT: Duration = Duration::from_secs(5);

/// Turns for heavy reads.
#[derive(Debug)]
pub struct ReadGate(Semaphore);

impl Default for ReadGate {
    fn default() -> ReadGate {
        ReadGate(Semaphore::new(HEAVY_READS.max(1)))
    }
}

impl ReadGate {
    /// A turn, or 503 after [`WAIT`].
    pub async fn turn(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(WAIT, self.0.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many lead and report reads at once; retry shortly",
            )
            .retry_after(1)),
        }
    }
}
