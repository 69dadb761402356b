//! The HTTP face: routing, publisher intake, operations endpoints. Handlers turn every failure
//! into a JSON error answer; nothing a client sends can end the server.

pub mod auth;
mod body;
pub mod error;
pub mod idempotency;
pub mod intake;
mod server;
pub mod validate;
pub mod webhooks;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

pub use server::serve;

use crate::ops::health::Health;
use crate::transport::Transport;
use error::ApiError;
use intake::Intake;

/// Shared state of the HTTP API.
#[derive(Debug)]
pub struct App<T> {
    /// Lead intake.
    pub intake: Intake<T>,
    /// Liveness and readiness.
    pub health: Arc<Health>,
    /// The webhook admin API (`/v1/webhooks...`, `/v1/deliveries...`, `/v1/dead-letters`);
    /// `None` without a store: those paths answer 404.
    pub webhooks: webhooks::WebhookApi,
}

impl<T: Transport> App<T> {
    /// Routes one request.
    pub async fn route(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = request.uri().path();
        let response = match (request.method(), path) {
            (&Method::POST, "/v1/leads") => {
                let response = self.intake.handle(request).await.unwrap_or_else(ApiError::into_response);
                self.intake.auctioneer.metrics().response(response.status().as_u16());
                response
            }
            (&Method::GET, "/metrics") => text_response(StatusCode::OK, crate::ops::metrics::install().render()),
            (&Method::GET, "/healthz") => json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}")),
            (&Method::GET, "/readyz") => readiness(&self.health),
            (_, path) if webhooks::handles(path) => self.webhooks.route(request).await,
            (_, "/v1/leads") => method_not_allowed("POST"),
            (_, "/metrics" | "/healthz" | "/readyz") => method_not_allowed("GET"),
            _ => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint").into_response(),
        };
        Ok(response)
    }
}

fn readiness(health: &Health) -> Response<Full<Bytes>> {
    if health.is_draining() {
        json_response(StatusCode::SERVICE_UNAVAILABLE, Bytes::from_static(b"{\"status\":\"draining\"}"))
    } else {
        json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ready\"}"))
    }
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
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
