//! The admin API for buyers and publishers (create, read, update, pause, delete; applied atomically without a restart) and the audit log.
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

/// The admin API for buyers and publishers (create, read, update, pause, delete; applied atomically without a restart) and the audit log.
#[derive(Debug)]
pub struct AdminApi {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The config in force.
    pub config: Arc<LiveConfig>,
}

impl AdminApi {
    /// Over `store`, with the config in force.
    pub fn new(store: Arc<dyn Store>, config: Arc<LiveConfig>) -> AdminApi {
        AdminApi { store, config }
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
