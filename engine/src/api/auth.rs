//! API key authentication: `Authorization: Bearer <key>`, hashed with SHA-256 and compared in
//! constant time against every configured digest of one role (the key itself is never
//! stored). [`KeyRing`] holds one role's keys: publishers' for intake, admins' for the
//! webhook and delivery APIs.

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::error::ApiError;
use crate::config::{AdminConfig, PublisherConfig};

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

/// An authenticated operator.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Admin id.
    pub id: Arc<str>,
}

/// One role's keys: who each belongs to, its digest, and whether it is enabled.
#[derive(Debug)]
pub struct KeyRing<T> {
    entries: Vec<(T, [u8; 32], bool)>,
}

/// The publishers' keys.
pub type PublisherKeys = KeyRing<Publisher>;

/// The admins' keys.
pub type AdminKeys = KeyRing<Admin>;

impl KeyRing<Publisher> {
    /// From the config's `[[publishers]]`.
    pub fn new(publishers: &[PublisherConfig]) -> PublisherKeys {
        let entries = publishers
            .iter()
            .enumerate()
            .map(|(i, p)| (Publisher { index: i as u32, id: p.id.as_str().into() }, p.key_sha256.0, p.enabled))
            .collect();
        KeyRing { entries }
    }

    /// The publisher with this id.
    pub fn by_id(&self, id: &str) -> Option<&Publisher> {
        self.entries.iter().map(|(p, ..)| p).find(|p| &*p.id == id)
    }
}

impl KeyRing<Admin> {
    /// From the config's `[[admins]]`.
    pub fn admins(admins: &[AdminConfig]) -> AdminKeys {
        let entries = admins.iter().map(|a| (Admin { id: a.id.as_str().into() }, a.key_sha256.0, true)).collect();
        KeyRing { entries }
    }
}

impl<T: Clone> KeyRing<T> {
    /// The holder of the key in the `Authorization` header: 401 without a known key, 403 for
    /// a disabled holder.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<T, ApiError> {
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
        let (holder, _, enabled) = self.entries.get(found as usize).ok_or_else(|| unauthorized("invalid API key"))?;
        if !enabled {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this key's holder is disabled"));
        }
        Ok(holder.clone())
    }
}
