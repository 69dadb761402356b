//! Reading a request body safely: the content type must be JSON, and the body is refused with
//! 413 as soon as it passes the limit (by `Content-Length` before reading, or while reading),
//! and 408 if it is not sent in time.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::error::ApiError;

/// A client must finish sending its body within this time: a lead is a few KiB, and a
/// trickled body holds an in-flight slot.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// 415 unless the body is declared as `application/json` (parameters such as `charset` allowed).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the lead as JSON with `Content-Type: application/json`",
        ))
    }
}

/// Reads at most `limit` bytes of body.
pub async fn read_limited(headers: &HeaderMap, body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the body is over {limit} bytes"));
    let declared = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect()).await;
    match read {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_body", "the request body could not be read")),
        Err(_) => Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the body was not sent in time")),
    }
}

/// The body as a JSON object: 400 `invalid_json` (with the line and column) when it is not
/// JSON, `invalid_type` when it is JSON but not an object.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request("invalid_type", "the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(
            "invalid_json",
            format!("malformed JSON at line {} column {}", e.line(), e.column()),
        )),
    }
}
