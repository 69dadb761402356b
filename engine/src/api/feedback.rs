//! Buyer feedback: dispositions (`POST /v1/leads/{id}/status`) and returns (`POST /v1/leads/{id}/return`).
//! (Skeleton: filled in by its owner.)

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::auth::Caller;
use super::error::ApiError;
use super::routes::Endpoint;
use crate::config::LiveConfig;
use crate::store::Store;

/// Buyer feedback: dispositions (`POST /v1/leads/{id}/status`) and returns (`POST /v1/leads/{id}/return`).
#[derive(Debug)]
pub struct FeedbackApi {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The config in force.
    pub config: Arc<LiveConfig>,
}

impl FeedbackApi {
    /// Over `store`, with the config in force.
    pub fn new(store: Arc<dyn Store>, config: Arc<LiveConfig>) -> FeedbackApi {
        FeedbackApi { store, config }
    }

    /// Answers one request for `endpoint` (its method and the caller's scope already checked).
    pub async fn handle(
        &self,
        _caller: &Caller,
        _endpoint: Endpoint<'_>,
        _parts: &Parts,
        _body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "not implemented yet"))
    }
}
