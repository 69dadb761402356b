//! The key a contact is remembered by: the first 16 bytes of SHA-256 over the vertical, the
//! field and its normalized value. The phone or email itself is never held in memory by the
//! index, nor logged; the store keeps the same hash next to the lead.

use sha2::{Digest, Sha256};

use crate::config::DedupeRule;
use crate::protocol::lead::Lead;

/// 128 bits: collisions are out of reach at any lead volume (2^64 keys for even odds).
pub type Key = [u8; 16];

/// The keys of `lead` under `rule`, phone first (the order every claim locks in), at most two.
pub fn keys(lead: &Lead, rule: &DedupeRule) -> Vec<Key> {
    let mut keys = Vec::with_capacity(2);
    if rule.phone {
        keys.push(key(&lead.vertical, b"phone", lead.contact.phone.as_bytes()));
    }
    if rule.email {
        // Validation lowercases the domain only; the same person writes their local part in
        // any case, so dedupe compares the whole address lowercased.
        keys.push(key(&lead.vertical, b"email", lead.contact.email.to_ascii_lowercase().as_bytes()));
    }
    keys
}

/// The key of one field's value in one vertical (NUL-separated: a vertical name or field
/// holds no NUL, so two different inputs never hash the same bytes).
pub fn key(vertical: &str, field: &[u8], value: &[u8]) -> Key {
    let mut hash = Sha256::new();
    hash.update(vertical.as_bytes());
    hash.update([0]);
    hash.update(field);
    hash.update([0]);
    hash.update(value);
    let digest = hash.finalize();
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_vertical_field_and_value_only() {
        let a = key("auto_insurance", b"phone", b"+12065550100");
        assert_eq!(a, key("auto_insurance", b"phone", b"+12065550100"));
        assert_ne!(a, key("mortgage", b"phone", b"+12065550100"));
        assert_ne!(a, key("auto_insurance", b"email", b"+12065550100"));
        assert_ne!(a, key("auto_insurance", b"phone", b"+12065550101"));
    }
}
