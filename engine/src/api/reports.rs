//! Reports over a time range: `GET /v1/reports/buyers` and `GET /v1/reports/publishers`.
//! (Skeleton: filled in by its owner.)

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::auth::Caller;
use super::error::ApiError;
use super::routes::Endpoint;
use crate::config::LiveConfig;
use crate::store::Store;

/// Reports over a time range: `GET /v1/reports/buyers` and `GET /v1/reports/publishers`.
#[derive(Debug)]
pub struct ReportsApi {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The config in force.
    pub config: Arc<LiveConfig>,
}

impl ReportsApi {
    /// Over `store`, with the config in force.
    pub fn new(store: Arc<dyn Store>, config: Arc<LiveConfig>) -> ReportsApi {
        ReportsApi { store, config }
    }

    /// Answers one request for `endpoint` (its method and the caller's scope already checked).
    pub async fn handle(
        &self,
        _caller: &Caller,
        _endpoint: Endpoint<'_>,
        _parts: &Parts,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "not implemented yet"))
    }
}
