//! Making a key: 32 random bytes shown once as `lk_<role>_<base64url>`, kept only as their
//! SHA-256. Shared by `POST /v1/keys` and `engine keys create`.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::api::auth::{IssuedKey, Role, Scopes};
use crate::config::RateLimit;
use crate::store::{StoredKey, UnixMs};

/// Longest label.
pub const MAX_LABEL_LEN: usize = 200;

/// Whether a label is acceptable: at most [`MAX_LABEL_LEN`] characters, no control characters.
pub fn label_ok(label: &str) -> bool {
    label.chars().count() <= MAX_LABEL_LEN && !label.chars().any(char::is_control)
}

/// What a new key is for.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// What it acts as.
    pub role: Role,
    /// The publisher, buyer or admin it acts for.
    pub owner_id: String,
    /// What it may do.
    pub scopes: Scopes,
    /// A note for people.
    pub label: Option<String>,
    /// Its own rate limit (`None`: its role's).
    pub rate_limit: Option<RateLimit>,
}

/// A new key: the secret (to show once) and the row to store.
pub fn issue(request: KeyRequest, created_by: &str, now: UnixMs) -> Result<(String, StoredKey), &'static str> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|_| "no randomness available from the operating system")?;
    let prefix = match request.role {
        Role::Publisher => "pub",
        Role::Buyer => "buy",
        Role::Admin => "adm",
    };
    let key = format!("lk_{prefix}_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
    let mut buf = uuid::Uuid::encode_buffer();
    let id = format!("key_{}", uuid::Uuid::now_v7().simple().encode_lower(&mut buf));
    let stored = StoredKey {
        id,
        role: request.role.as_str().to_owned(),
        owner_id: request.owner_id,
        scopes: request.scopes.as_str().to_owned(),
        digest: Sha256::digest(&key).into(),
        label: request.label,
        rate_limit: request.rate_limit.map(|l| (l.per_second, l.burst)),
        created_at: now,
        created_by: created_by.to_owned(),
        revoked_at: None,
        uses: 0,
        last_used_at: None,
    };
    Ok((key, stored))
}

/// A stored key in the form the key set takes (`None` for a row this version cannot read).
pub fn issued(stored: &StoredKey) -> Option<IssuedKey> {
    Some(IssuedKey {
        id: stored.id.clone(),
        role: Role::parse(&stored.role)?,
        owner_id: stored.owner_id.clone(),
        scopes: Scopes::parse(&stored.scopes)?,
        digest: stored.digest,
        revoked: stored.revoked_at.is_some(),
        limit: stored.rate_limit.map(|(per_second, burst)| RateLimit { per_second, burst }),
        uses: stored.uses,
        last_used_at: stored.last_used_at.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_kept_only_as_its_digest() {
        let request = KeyRequest {
            role: Role::Buyer,
            owner_id: "acme".into(),
            scopes: Scopes { read: true, write: false },
            label: None,
            rate_limit: None,
        };
        let (key, stored) = issue(request.clone(), "cli", 5).expect("issue");
        let (other, _) = issue(request, "cli", 5).expect("issue");
        assert!(key.starts_with("lk_buy_") && key.len() == 7 + 43, "{key}");
        assert_ne!(key, other);
        assert_eq!(stored.digest, <[u8; 32]>::from(Sha256::digest(&key)));
        assert!(!format!("{stored:?}").contains(&key[7..]), "the row does not hold the key");
        let back = issued(&stored).expect("readable");
        assert_eq!((back.role, back.scopes.as_str(), back.revoked), (Role::Buyer, "read", false));
    }
}
