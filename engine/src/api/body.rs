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
            "send the body as JSON with `Content-Type: application/json`",
        ))
    }
}

/// A JSON body of at most `limit` bytes: 415 unless declared JSON, 413 over the limit.
pub async fn read_json(headers: &HeaderMap, body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    require_json(headers)?;
    read_limited(headers, body, limit).await
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

/// Parses a body that must be one JSON object into `T` (its fields and nothing else, when `T`
/// denies unknown fields), for `what` (`the lead`, `the request`): 400 `invalid_json` (empty or
/// malformed, with the line and column), `invalid_type` (not an object, or a value of the wrong
/// type, with its field), `missing_field`, `unknown_field`.
pub fn typed<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    match body.trim_ascii().first() {
        None => {
            return Err(ApiError::bad_request(
                "invalid_json",
                format!("the body is empty; send {what} as a JSON object"),
            ));
        }
        Some(b'{') => {}
        // serde would read a struct from an array too; say plainly what is expected.
        Some(_) => return Err(ApiError::bad_request("invalid_type", format!("{what} must be a JSON object"))),
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| typed_error(e, what))?;
    deserializer.end().map_err(|e| syntax_error(&e))?;
    Ok(parsed)
}

/// Maps a typed-parse failure to the field at fault.
fn typed_error(e: serde_path_to_error::Error<serde_json::Error>, what: &str) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if !inner.is_data() {
        return syntax_error(&inner);
    }
    let text = inner.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
    let join = |name: &str| if path == "." { name.to_owned() } else { format!("{path}.{name}") };
    let quoted = |prefix: &str| text.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_owned);
    if let Some(name) = quoted("missing field `") {
        return ApiError::field("missing_field", join(&name), format!("`{}` is required", join(&name)));
    }
    if quoted("unknown field `").is_some() {
        // For an unknown field the path already ends with its name.
        return ApiError::field("unknown_field", path.clone(), format!("`{path}` is not a field of {what}"));
    }
    let field = if path == "." { None } else { Some(std::borrow::Cow::Owned(path)) };
    ApiError { field, ..ApiError::bad_request("invalid_type", text) }
}

fn syntax_error(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request("invalid_json", format!("malformed JSON at line {} column {}", e.line(), e.column()))
}

/// The body as a JSON object: 400 `invalid_json` (with the line and column) when it is not
/// JSON, `invalid_type` when it is JSON but not an object.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request("invalid_type", "the body must be a JSON object")),
        Err(e) => Err(syntax_error(&e)),
    }
}
