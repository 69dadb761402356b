//! API errors: the status, a stable code, a sentence, and the field at fault, rendered as
//! `{"error": {"code", "message", "field"}}`. Whose fault is in the status: 4xx the caller's,
//! 5xx ours (503: retry after `Retry-After`).

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::protocol::error::{ErrorBody, ErrorDetail};
use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// One sentence for a person.
    pub message: Cow<'static, str>,
    /// Dotted path of the field at fault.
    pub field: Option<Cow<'static, str>>,
    /// Seconds to wait before retrying (429, 503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError { status, code, message: message.into(), field: None, retry_after: None }
    }

    /// A 400 about the request as a whole.
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 400 about one field.
    pub fn field(
        code: &'static str,
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> ApiError {
        ApiError { field: Some(field.into()), ..ApiError::bad_request(code, message) }
    }

    /// Asks the caller to come back later.
    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.into_owned(),
                field: self.field.map(Cow::into_owned),
            },
        };
        let mut response = super::json_response(self.status, serde_json::to_vec(&body).unwrap_or_default().into());
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A store failure: 503 to retry when it is busy or closing, 500 otherwise (the detail goes
/// to the log, not to the caller).
pub fn store_error(error: StoreError) -> ApiError {
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
            tracing::error!(error = %detail, "API: store failure");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", "the store failed; see the engine's log")
        }
    }
}
