//! The HTTP face: routing (one table, [`routes`]), authentication and scopes ([`auth`]), then
//! the endpoints: intake, publishers' ping/post, pull, feedback, reports, the admin APIs, operations. Handlers turn every failure
//! into a JSON error answer; nothing a client sends can end the server.

pub mod admin;
pub mod auth;
mod body;
pub mod error;
pub mod feedback;
pub mod idempotency;
pub mod intake;
pub mod keys;
pub mod ping_post;
pub mod pull;
pub mod query;
pub mod read_gate;
pub mod reports;
pub mod routes;
mod server;
pub mod validate;
pub mod webhooks;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Serialize;

pub use server::serve;

use crate::ops::health::Health;
use crate::transport::Transport;
use auth::{Caller, Keys};
use error::ApiError;
use intake::Intake;
use routes::{Endpoint, scope_of};

/// Shared state of the HTTP API.
#[derive(Debug)]
pub struct App<T> {
    /// Every key the API accepts.
    pub keys: Arc<Keys>,
    /// Lead intake.
    pub intake: Intake<T>,
    /// Publishers' ping/post (`POST /v1/ping`, `POST /v1/post`).
    pub ping_post: ping_post::PingPostApi,
    /// Liveness and readiness.
    pub health: Arc<Health>,
    /// Dispositions and returns.
    pub feedback: feedback::FeedbackApi,
    /// Reading leads back.
    pub pull: pull::PullApi,
    /// Buyer and publisher reports.
    pub reports: reports::ReportsApi,
    /// Buyers, publishers and the audit log.
    pub admin: admin::AdminApi,
    /// Issued API keys.
    pub keys_api: keys::KeysApi,
    /// The webhook admin API (`/v1/webhooks...`, `/v1/deliveries...`, `/v1/dead-letters`).
    pub webhooks: webhooks::WebhookApi,
}

impl<T: Transport> App<T> {
    /// Routes one request.
    pub async fn route(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let response = match (request.method(), request.uri().path()) {
            (&Method::GET, "/metrics") => text_response(StatusCode::OK, crate::ops::metrics::install().render()),
            (&Method::GET, "/healthz") => json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}")),
            (&Method::GET, "/readyz") => readiness(&self.health),
            (_, "/metrics" | "/healthz" | "/readyz") => method_not_allowed("GET"),
            _ => {
                let (parts, body) = request.into_parts();
                let intake = parts.method == Method::POST && parts.uri.path() == "/v1/leads";
                let response = self.api(parts, body).await.unwrap_or_else(ApiError::into_response);
                if intake {
                    self.intake.auctioneer.metrics().response(response.status().as_u16());
                }
                response
            }
        };
        Ok(response)
    }

    /// A `/v1` request: the endpoint, its method, the caller and its rate limit (every answer
    /// to a known key carries `X-RateLimit-Limit`, `-Remaining` and `-Reset`; over the limit,
    /// 429 with `Retry-After`), then the scope and the handler.
    async fn api(&self, parts: Parts, body: Incoming) -> Result<Response<Full<Bytes>>, ApiError> {
        let endpoint = Endpoint::of(parts.uri.path()).ok_or_else(no_such_endpoint)?;
        if !endpoint.takes(&parts.method) {
            return Ok(method_not_allowed(endpoint.allow()));
        }
        let admission = self.keys.authenticate(&parts.headers, crate::store::now_ms())?;
        let verdict = admission.verdict;
        let mut response = if verdict.admitted {
            self.checked(&admission.caller, endpoint, &parts, body).await.unwrap_or_else(ApiError::into_response)
        } else {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "this key is over its rate limit; retry later")
                .retry_after(verdict.retry_after_s)
                .into_response()
        };
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(verdict.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(verdict.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(verdict.reset_s));
        Ok(response)
    }

    /// An admitted caller: its scope and the path's id, then the handler.
    async fn checked(
        &self,
        caller: &Caller,
        endpoint: Endpoint<'_>,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        caller.require_scope(scope_of(&parts.method))?;
        if endpoint.id().is_some_and(|id| crate::config::check_id(id).is_err()) {
            return Err(no_such_endpoint());
        }
        self.dispatch(caller, endpoint, parts, body).await
    }

    async fn dispatch(
        &self,
        caller: &Caller,
        endpoint: Endpoint<'_>,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        match endpoint {
            Endpoint::Leads if parts.method == Method::POST => self.intake.handle(caller, parts, body).await,
            Endpoint::Ping => self.ping_post.ping(&self.intake, caller, parts, body).await,
            Endpoint::Post => self.ping_post.post(&self.intake, caller, parts, body).await,
            Endpoint::Leads | Endpoint::Lead(_) => self.pull.handle(caller, endpoint, parts).await,
            Endpoint::LeadStatus(_) | Endpoint::LeadReturn(_) => {
                self.feedback.handle(caller, endpoint, parts, body).await
            }
            Endpoint::BuyerReport | Endpoint::PublisherReport => self.reports.handle(caller, endpoint, parts).await,
            Endpoint::Directory(_) | Endpoint::Entry(..) | Endpoint::Pause(..) | Endpoint::Audit => {
                self.admin.handle(caller, endpoint, parts, body).await
            }
            Endpoint::Keys | Endpoint::Key(_) => self.keys_api.handle(caller, endpoint, parts, body).await,
            Endpoint::Webhooks(route) => self.webhooks.handle(caller, route, parts, body).await,
        }
    }
}

/// 404 for a path that names no endpoint.
pub fn no_such_endpoint() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// A JSON answer from any serializable body.
pub fn json_answer<T: Serialize>(status: StatusCode, body: &T) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = serde_json::to_vec(body)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the answer could not be encoded"))?;
    Ok(json_response(status, body.into()))
}

fn readiness(health: &Health) -> Response<Full<Bytes>> {
    if health.is_draining() {
        json_response(StatusCode::SERVICE_UNAVAILABLE, Bytes::from_static(b"{\"status\":\"draining\"}"))
    } else {
        json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ready\"}"))
    }
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response =
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("this path takes {allow} only"))
            .into_response();
    response.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
