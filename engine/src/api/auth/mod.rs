//! Who is calling: `Authorization: Bearer <key>` resolved to a [`Caller`]: a role (publisher,
//! buyer, admin), the publisher, buyer or admin it acts for, its scopes (read, write) and the
//! id of the key it used.
//!
//! Keys are held only as SHA-256 digests; a presented key's digest is looked up by its first
//! bytes and compared in full in constant time (see `KeySet::find` for why that is safe). Keys
//! come from two places: the config (`key_sha256` of publishers, buyers and admins: read and
//! write) and the store (keys made with `engine keys create` or `POST /v1/keys`, with their
//! own scopes, revocable). The set is an immutable snapshot swapped whole on every change
//! ([`Keys::set_config`], [`Keys::set_issued`]): a revoked key fails on the next request.

mod keyset;
pub mod limit;

use std::sync::Arc;

use http::{HeaderMap, StatusCode};

pub use keyset::{Admission, IssuedKey, KeyUsage, Keys, config_key_id, role_limit};

use super::error::ApiError;

/// Longest key accepted; longer headers are refused before hashing.
const MAX_KEY_LEN: usize = 256;

/// What a key acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends leads; reads its own leads' outcomes.
    Publisher,
    /// Buys leads: reads the leads it bought, reports dispositions, returns leads.
    Buyer,
    /// Operates the engine: everything.
    Admin,
}

impl Role {
    /// `publisher`, `buyer`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Buyer => "buyer",
            Role::Admin => "admin",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "publisher" => Some(Role::Publisher),
            "buyer" => Some(Role::Buyer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// What a key may do: read (GET), write (everything else), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes {
    /// May read.
    pub read: bool,
    /// May change.
    pub write: bool,
}

impl Scopes {
    /// Read and write: config keys, and issued keys by default.
    pub const ALL: Scopes = Scopes { read: true, write: true };

    /// `read`, `write` or `read,write`.
    pub fn as_str(self) -> &'static str {
        match (self.read, self.write) {
            (true, true) => "read,write",
            (false, true) => "write",
            _ => "read",
        }
    }

    /// Parses a comma-separated list of `read` and `write` (at least one).
    pub fn parse(list: &str) -> Option<Scopes> {
        let mut scopes = Scopes { read: false, write: false };
        for scope in list.split(',').map(str::trim) {
            match scope {
                "read" => scopes.read = true,
                "write" => scopes.write = true,
                _ => return None,
            }
        }
        (scopes.read || scopes.write).then_some(scopes)
    }
}

/// The scope an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reading.
    Read,
    /// Changing something (sending a lead counts).
    Write,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// What it acts as.
    pub role: Role,
    /// The publisher, buyer or admin it acts for.
    pub id: Arc<str>,
    /// For publishers: a compact index that never changes while the process runs (per-publisher
    /// maps key on it); `u32::MAX` for other roles.
    pub publisher_index: u32,
    /// The key's id: `key_...` for issued keys, `config.<role>.<id>` for config keys.
    pub key_id: Arc<str>,
    /// What it may do.
    pub scopes: Scopes,
}

/// An authenticated publisher.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// See [`Caller::publisher_index`].
    pub index: u32,
    /// Publisher id.
    pub id: Arc<str>,
}

impl Caller {
    /// 403 unless the caller has `role` and `scope`.
    pub fn require(&self, role: Role, scope: Scope) -> Result<(), ApiError> {
        if self.role != role {
            return Err(forbidden(format!(
                "this endpoint takes a {} key, not a {} key",
                role.as_str(),
                self.role.as_str()
            )));
        }
        self.require_scope(scope)
    }

    /// 403 unless the key has `scope`.
    pub fn require_scope(&self, scope: Scope) -> Result<(), ApiError> {
        let (allowed, name) = match scope {
            Scope::Read => (self.scopes.read, "read"),
            Scope::Write => (self.scopes.write, "write"),
        };
        if allowed { Ok(()) } else { Err(forbidden(format!("this key lacks the `{name}` scope"))) }
    }

    /// The publisher this caller is, if it is one with `scope`; 403 otherwise.
    pub fn require_publisher(&self, scope: Scope) -> Result<Publisher, ApiError> {
        self.require(Role::Publisher, scope)?;
        Ok(Publisher { index: self.publisher_index, id: Arc::clone(&self.id) })
    }

    /// Who did something, for the audit log: `admin:ops` with a config key,
    /// `admin:ops/key_...` with an issued one.
    pub fn actor(&self) -> String {
        if self.key_id.starts_with("config.") {
            format!("{}:{}", self.role.as_str(), self.id)
        } else {
            format!("{}:{}/{}", self.role.as_str(), self.id, self.key_id)
        }
    }
}

/// A 403 with `message`.
pub fn forbidden(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// The digest of the key in the `Authorization` header: 401 without a well-formed one.
fn presented_digest(headers: &HeaderMap) -> Result<[u8; 32], ApiError> {
    use sha2::{Digest, Sha256};
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
    Ok(Sha256::digest(key).into())
}

fn unauthorized(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

#[cfg(test)]
mod tests;
