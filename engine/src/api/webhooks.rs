//! The webhook admin API (admin keys only): subscriptions, secret rotation, previews, the
//! delivery log, replays and dead letters. JSON in and out, every failure an [`ApiError`]
//! with its code and field, bodies size-limited, keyset pagination everywhere (`cursor`,
//! `limit` 1-500, default 50; answers `{"data": [...], "next_cursor": ...}`).
//!
//! | Method and path | |
//! |---|---|
//! | `POST /v1/webhooks`, `GET /v1/webhooks` | create (201, secret shown once), list |
//! | `GET`, `PATCH`, `DELETE /v1/webhooks/{id}` | read, change, delete (204) |
//! | `POST /v1/webhooks/{id}/rotate-secret` | new secret; the previous one signs for 24 h more |
//! | `GET`, `POST /v1/webhooks/{id}/preview?type=` | an example event as this subscriber gets it |
//! | `GET /v1/webhooks/{id}/deliveries?status=&event_type=&since=&until=` | the delivery log |
//! | `POST /v1/webhooks/{id}/replay?since=&until=` | re-deliver a time range (202) |
//! | `POST /v1/deliveries/{id}/replay` | re-deliver one delivery (202) |
//! | `GET /v1/dead-letters` | deliveries that gave up |

mod deliveries;
mod preview;
mod query;
mod subscriptions;
mod views;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::auth::AdminKeys;
use super::body;
use super::error::ApiError;
use crate::config::{Config, DeliveryConfig};
use crate::store::{Store, StoreError, Write};

pub use subscriptions::ROTATION_OVERLAP_MS;

/// Largest request body: a subscription with headers and payload settings is under 2 KiB.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the webhook API needs.
#[derive(Debug)]
pub struct WebhookApi {
    /// Subscriptions and deliveries.
    pub store: Arc<dyn Store>,
    /// Who may call it.
    pub admins: AdminKeys,
    /// `allow_private_targets` decides which URLs are accepted.
    pub delivery: DeliveryConfig,
}

/// One endpoint of the API, with the ids from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Subscriptions,
    Subscription(&'a str),
    Rotate(&'a str),
    Preview(&'a str),
    Deliveries(&'a str),
    ReplayRange(&'a str),
    ReplayDelivery(&'a str),
    DeadLetters,
}

impl<'a> Route<'a> {
    /// The endpoint a path names, if any.
    fn of(path: &'a str) -> Option<Route<'a>> {
        let segments: Vec<&str> = path.strip_prefix("/v1/")?.split('/').collect();
        let route = match segments.as_slice() {
            ["webhooks"] => Route::Subscriptions,
            ["webhooks", id] => Route::Subscription(id),
            ["webhooks", id, "rotate-secret"] => Route::Rotate(id),
            ["webhooks", id, "preview"] => Route::Preview(id),
            ["webhooks", id, "deliveries"] => Route::Deliveries(id),
            ["webhooks", id, "replay"] => Route::ReplayRange(id),
            ["deliveries", id, "replay"] => Route::ReplayDelivery(id),
            ["dead-letters"] => Route::DeadLetters,
            _ => return None,
        };
        Some(route)
    }

    /// The methods it takes, as an `Allow` header value.
    fn allow(self) -> &'static str {
        match self {
            Route::Subscriptions => "GET, POST",
            Route::Subscription(_) => "GET, PATCH, DELETE",
            Route::Preview(_) => "GET, POST",
            Route::Deliveries(_) | Route::DeadLetters => "GET",
            Route::Rotate(_) | Route::ReplayRange(_) | Route::ReplayDelivery(_) => "POST",
        }
    }

    /// The id in the path.
    fn id(self) -> Option<&'a str> {
        match self {
            Route::Subscription(id)
            | Route::Rotate(id)
            | Route::Preview(id)
            | Route::Deliveries(id)
            | Route::ReplayRange(id)
            | Route::ReplayDelivery(id) => Some(id),
            Route::Subscriptions | Route::DeadLetters => None,
        }
    }
}

/// Whether `path` is under this API's prefixes (`/v1/webhooks`, `/v1/deliveries`,
/// `/v1/dead-letters`): such paths get this API's 404 and 405 answers.
pub fn handles(path: &str) -> bool {
    ["/v1/webhooks", "/v1/deliveries", "/v1/dead-letters"]
        .iter()
        .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

impl WebhookApi {
    /// The API over `store`, with the config's admins and delivery settings.
    pub fn new(store: Arc<dyn Store>, config: &Config) -> WebhookApi {
        WebhookApi { store, admins: AdminKeys::admins(&config.admins), delivery: config.delivery.clone() }
    }

    /// Answers one request under [`handles`]' prefixes.
    pub async fn route(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        self.handle(request).await.unwrap_or_else(ApiError::into_response)
    }

    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
        let (parts, body) = request.into_parts();
        let route = Route::of(parts.uri.path()).ok_or_else(no_such_endpoint)?;
        if !route.allow().split(", ").any(|m| m == parts.method.as_str()) {
            return Ok(super::method_not_allowed(route.allow()));
        }
        let admin = self.admins.authenticate(&parts.headers)?;
        if route.id().is_some_and(|id| crate::config::check_id(id).is_err()) {
            return Err(no_such_endpoint());
        }
        let query = parts.uri.query();
        if parts.method != Method::GET {
            tracing::info!(admin = %admin.id, method = %parts.method, path = parts.uri.path(), "webhook admin action");
        }
        let headers = &parts.headers;
        match (route, &parts.method) {
            (Route::Subscriptions, &Method::GET) => self.list(query).await,
            (Route::Subscriptions, _) => self.create(read_body(headers, body, true).await?).await,
            (Route::Subscription(id), &Method::GET) => self.get(id).await,
            (Route::Subscription(id), &Method::PATCH) => self.change(id, read_body(headers, body, true).await?).await,
            (Route::Subscription(id), _) => self.delete(id).await,
            (Route::Rotate(id), _) => self.rotate(id).await,
            (Route::Preview(id), &Method::GET) => self.preview(id, query, Bytes::new()).await,
            (Route::Preview(id), _) => self.preview(id, query, read_body(headers, body, false).await?).await,
            (Route::Deliveries(id), _) => self.deliveries(id, query).await,
            (Route::ReplayRange(id), _) => self.replay_range(id, query).await,
            (Route::ReplayDelivery(id), _) => self.replay_delivery(id, query).await,
            (Route::DeadLetters, _) => self.dead_letters(query).await,
        }
    }

    /// Writes one change and waits for its commit; the rows it changed.
    async fn commit(&self, write: Write) -> Result<u64, ApiError> {
        self.store.write(vec![write]).map_err(store_error)?.await.map_err(store_error)
    }
}

/// Reads a body of at most [`MAX_BODY_BYTES`]; JSON is required when `json` is set, or when
/// an optional body is not empty.
async fn read_body(headers: &http::HeaderMap, body: Incoming, json: bool) -> Result<Bytes, ApiError> {
    if json {
        body::require_json(headers)?;
    }
    let bytes = body::read_limited(headers, body, MAX_BODY_BYTES).await?;
    if !json && !bytes.trim_ascii().is_empty() {
        body::require_json(headers)?;
    }
    Ok(bytes)
}

fn no_such_endpoint() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// 404 for an unknown subscription or delivery.
fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {what} `{id}`"))
}

/// A store failure: 503 to retry when it is busy or closing, 500 otherwise (the detail goes
/// to the log, not to the caller).
fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Busy(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "the store is busy; retry shortly").retry_after(1)
        }
        StoreError::Closed => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the store is closed").retry_after(1)
        }
        StoreError::BadCursor => ApiError::field(
            "invalid_cursor",
            "cursor",
            "not a cursor this API gave; pass `next_cursor` from the previous page as it is",
        ),
        StoreError::Backend(detail) => {
            tracing::error!(error = %detail, "webhook API: store failure");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", "the store failed; see the engine's log")
        }
    }
}

#[cfg(test)]
mod tests;
