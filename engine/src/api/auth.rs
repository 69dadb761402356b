//! Publisher authentication: `Authorization: Bearer <key>`, hashed with SHA-256 and compared
//! in constant time against every configured digest (the key itself is never stored).

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::error::ApiError;
use crate::config::PublisherConfig;

/// Longest key accepted; longer headers are refused before hashing.
const MAX_KEY_LEN: usize = 256;

/// An authenticated publisher.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Position in the config (a compact key for per-publisher maps).
    pub index: u32,
    /// Publisher id.
    pub id: Arc<str>,
}

/// The publishers' key digests.
#[derive(Debug)]
pub struct PublisherKeys {
    entries: Vec<(Publisher, [u8; 32], bool)>,
}

impl PublisherKeys {
    /// From the config's `[[publishers]]`.
    pub fn new(publishers: &[PublisherConfig]) -> PublisherKeys {
        let entries = publishers
            .iter()
            .enumerate()
            .map(|(i, p)| (Publisher { index: i as u32, id: p.id.as_str().into() }, p.key_sha256.0, p.enabled))
            .collect();
        PublisherKeys { entries }
    }

    /// The publisher whose key is in the `Authorization` header.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Publisher, ApiError> {
        let unauthorized = |message: &'static str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let value = headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization header: send `Authorization: Bearer <key>`"))?;
        let value = value.as_bytes();
        let key = match value.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => value[7..].trim_ascii(),
            _ => return Err(unauthorized("Authorization must be `Bearer <key>`")),
        };
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(unauthorized("invalid API key"));
        }
        let digest: [u8; 32] = Sha256::digest(key).into();
        // Visit every entry whatever matches, so timing says nothing about which one did.
        let mut found = u32::MAX;
        for (i, (_, expected, _)) in self.entries.iter().enumerate() {
            found.conditional_assign(&(i as u32), expected.ct_eq(&digest));
        }
        let (publisher, _, enabled) =
            self.entries.get(found as usize).ok_or_else(|| unauthorized("invalid API key"))?;
        if !enabled {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this publisher is disabled"));
        }
        Ok(publisher.clone())
    }
}
