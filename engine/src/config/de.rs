//! Deserializers for config values that must be parsed into their working types: key digests,
//! signing secrets, URLs, headers, states. A bad value fails with a message, and
//! `serde_path_to_error` adds the key.

use std::fmt;

use base64::Engine as _;
use http::{HeaderName, HeaderValue, Uri};
use serde::Deserialize;
use serde::de::{Deserializer, Error};

use crate::protocol::geo::State;

/// Header names a config may not set: the engine owns them.
const RESERVED_HEADERS: [&str; 8] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// A SHA-256 digest given in hex (64 characters): how keys are stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyDigest(pub [u8; 32]);

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({}..)", hex::encode(&self.0[..4]))
    }
}

impl<'de> Deserialize<'de> for KeyDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut digest)
            .map_err(|_| D::Error::custom("must be 64 hex characters: the SHA-256 of the key, never the key itself"))?;
        Ok(KeyDigest(digest))
    }
}

/// A Standard Webhooks signing secret, `whsec_<base64 of 24-64 bytes>`.
#[derive(Clone)]
pub struct SigningSecret(pub Vec<u8>);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    /// Parses `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<SigningSecret, &'static str> {
        let encoded = text.strip_prefix("whsec_").ok_or("must start with `whsec_`")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "must be `whsec_` followed by standard base64")?;
        if !(24..=64).contains(&bytes.len()) {
            return Err("must encode 24 to 64 random bytes");
        }
        Ok(SigningSecret(bytes))
    }
}

impl<'de> Deserialize<'de> for SigningSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SigningSecret::parse(&text).map_err(D::Error::custom)
    }
}

/// An absolute `http://` or `https://` URL with a host.
pub fn http_uri<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Uri, D::Error> {
    let text = String::deserialize(deserializer)?;
    let uri: Uri = text.parse().map_err(|_| D::Error::custom(format_args!("`{text}` is not a URL")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(uri),
        _ => Err(D::Error::custom(format_args!("`{text}` must be an absolute http:// or https:// URL"))),
    }
}

/// An optional absolute http(s) URL.
pub fn optional_http_uri<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Uri>, D::Error> {
    http_uri(deserializer).map(Some)
}

/// Extra request headers, checked for valid names and values.
pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// A table of header names to values.
pub fn headers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Headers, D::Error> {
    let table = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
    table
        .into_iter()
        .map(|(name, value)| {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| D::Error::custom(format_args!("`{name}` is not a valid header name")))?;
            if RESERVED_HEADERS.contains(&header.as_str()) {
                return Err(D::Error::custom(format_args!("header `{name}` is set by the engine")));
            }
            let value = HeaderValue::from_str(&value)
                .map_err(|_| D::Error::custom(format_args!("header `{name}` has an invalid value")))?;
            Ok((header, value))
        })
        .collect()
}

/// A list of US states by code or full name; an error names the entry (`states[1]`).
pub fn states<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<State>, D::Error> {
    /// One entry, parsed on its own so the error path points at it.
    struct Entry(State);
    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            State::parse(&text).map(Entry).ok_or_else(|| D::Error::custom(format_args!("unknown state \"{text}\"")))
        }
    }
    Ok(Vec::<Entry>::deserialize(deserializer)?.into_iter().map(|e| e.0).collect())
}

/// Ids are short and URL-safe: they appear in paths, metrics labels and logs.
pub fn check_id(id: &str) -> Result<(), &'static str> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok { Ok(()) } else { Err("ids are 1-64 characters of letters, digits, `_`, `-`, `.`") }
}
