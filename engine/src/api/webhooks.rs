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
mod subscriptions;
mod views;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::auth::{Caller, Role};
use super::body;
use super::error::ApiError;
pub(crate) use super::error::store_error;
use super::query;
use super::routes::scope_of;
use crate::config::{Config, DeliveryConfig};
use crate::store::{Store, Write};

pub use subscriptions::ROTATION_OVERLAP_MS;

/// Largest request body: a subscription with headers and payload settings is under 2 KiB.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the webhook API needs.
#[derive(Debug)]
pub struct WebhookApi {
    /// Subscriptions and deliveries.
    pub store: Arc<dyn Store>,
    /// `allow_private_targets` decides which URLs are accepted.
    pub delivery: DeliveryConfig,
}

/// One endpoint of the API, with the ids from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    #[allow(missing_docs)]
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
    pub fn of(path: &'a str) -> Option<Route<'a>> {
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
    pub fn allow(self) -> &'static str {
        match self {
            Route::Subscriptions => "GET, POST",
            Route::Subscription(_) => "GET, PATCH, DELETE",
            Route::Preview(_) => "GET, POST",
            Route::Deliveries(_) | Route::DeadLetters => "GET",
            Route::Rotate(_) | Route::ReplayRange(_) | Route::ReplayDelivery(_) => "POST",
        }
    }

    /// The id in the path.
    pub fn id(self) -> Option<&'a str> {
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

impl WebhookApi {
    /// The API over `store`, with the config's admins and delivery settings.
    pub fn new(store: Arc<dyn Store>, config: &Config) -> WebhookApi {
        WebhookApi { store, delivery: config.delivery.clone() }
    }

    /// Answers one request for `route` (its method already checked by the router).
    pub async fn handle(
        &self,
        caller: &Caller,
        route: Route<'_>,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        caller.require(Role::Admin, scope_of(&parts.method))?;
        let query = parts.uri.query();
        if parts.method != Method::GET {
            tracing::info!(admin = %caller.id, method = %parts.method, path = parts.uri.path(), "webhook admin action");
        }
        let headers = &parts.headers;
        match (route, &parts.method) {
            (Route::Subscriptions, &Method::GET) => self.list(query).await,
            (Route::Subscriptions, _) => self.create(&caller.actor(), read_body(headers, body, true).await?).await,
            (Route::Subscription(id), &Method::GET) => self.get(id).await,
            (Route::Subscription(id), &Method::PATCH) => {
                self.change(&caller.actor(), id, read_body(headers, body, true).await?).await
            }
            (Route::Subscription(id), _) => self.delete(&caller.actor(), id).await,
            (Route::Rotate(id), _) => self.rotate(&caller.actor(), id).await,
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

/// 404 for an unknown subscription or delivery.
fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {what} `{id}`"))
}

#[cfg(test)]
mod tests;
