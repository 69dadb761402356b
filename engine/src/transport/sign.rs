//! Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), used for pings and
//! posts to buyers that have a `secret`, and for webhooks.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// A keyed signer; cloning the keyed state per message avoids re-deriving the HMAC key.
#[derive(Clone)]
pub struct Signer {
    keyed: HmacSha256,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer for the raw secret bytes (the base64 part of `whsec_...`, decoded).
    pub fn new(secret: &[u8]) -> Signer {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        Signer { keyed }
    }

    /// The `webhook-signature` header value for one message.
    pub fn sign(&self, message_id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        let mut ts = itoa::Buffer::new();
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(ts.format(timestamp).as_bytes());
        mac.update(b".");
        mac.update(body);
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(48);
        out.push_str("v1,");
        base64::engine::general_purpose::STANDARD.encode_string(digest, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SigningSecret;

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid secret");
        let signature =
            Signer::new(&secret.0).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn any_change_changes_the_signature() {
        let signer = Signer::new(b"0123456789abcdef01234567");
        let base = signer.sign("m1", 1, b"{}");
        assert_ne!(base, signer.sign("m2", 1, b"{}"));
        assert_ne!(base, signer.sign("m1", 2, b"{}"));
        assert_ne!(base, signer.sign("m1", 1, b"{ }"));
        assert_ne!(base, Signer::new(b"another secret of 24 byt").sign("m1", 1, b"{}"));
    }
}
