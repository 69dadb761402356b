//! Standard Webhooks signatures for the checker's test pings and post, made the way the engine
//! makes them (`engine/src/transport/sign.rs`): `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, keyed with the decoded bytes of a `whsec_<base64>` secret. This crate
//! does not depend on the engine, so the few lines are repeated here and held to the same
//! published test vector.

use std::fmt;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Shortest and longest decoded secret the engine accepts, so a secret that works here works
/// in the engine's config too.
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A keyed signer, parsed from a `--secret whsec_...` flag.
#[derive(Clone)]
pub struct Signer {
    /// Boxed: the keyed state is a few hundred bytes, and `CheckArgs` (which holds it) sits in
    /// the command-line enum next to much smaller variants.
    keyed: Box<HmacSha256>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// Parses `whsec_<standard base64 of 24 to 64 bytes>`, the engine's rule for a secret.
    pub fn parse(text: &str) -> Result<Signer, String> {
        let encoded = text.trim().strip_prefix("whsec_").ok_or("a secret starts with `whsec_`")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "a secret is `whsec_` followed by standard base64")?;
        if !SECRET_BYTES.contains(&key.len()) {
            return Err(format!("a secret encodes 24 to 64 bytes; this one has {}", key.len()));
        }
        // HMAC takes a key of any length, so this cannot fail.
        let keyed = <HmacSha256 as KeyInit>::new_from_slice(&key).map_err(|e| e.to_string())?;
        Ok(Signer { keyed: Box::new(keyed) })
    }

    /// The `webhook-signature` header value for one message.
    pub fn sign(&self, message_id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut mac = HmacSha256::clone(&self.keyed);
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(itoa::Buffer::new().format(timestamp).as_bytes());
        mac.update(b".");
        mac.update(body);
        let mut out = String::from("v1,");
        base64::engine::general_purpose::STANDARD.encode_string(mac.finalize().into_bytes(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let signer = Signer::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid secret");
        let signature = signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn refuses_what_the_engine_refuses() {
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="] {
            assert!(Signer::parse(bad).is_err(), "{bad}");
        }
    }
}
