//! What one delivery attempt sends, built without I/O so the sender and the API's preview
//! produce byte-identical requests: the body (the envelope shaped by the subscription's
//! payload settings) and the headers (`content-type`, `user-agent`, the Standard Webhooks
//! `webhook-id` / `webhook-timestamp` / `webhook-signature`, then the subscription's own).
//!
//! During a secret rotation (two secrets, `secrets_rotated_until` still ahead) the signature
//! header carries both signatures, space-separated, the current secret's first: receivers that
//! still hold the old secret keep verifying.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::payload::PayloadSpec;
use crate::config::SigningSecret;
use crate::store::{Subscription, UnixMs};
use crate::transport::sign::Signer;

/// The `user-agent` of deliveries.
pub const USER_AGENT_VALUE: &str = concat!("lead-engine-webhooks/", env!("CARGO_PKG_VERSION"));

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The exact body that was signed.
    pub body: Bytes,
    /// Every header, engine-set ones first.
    pub headers: HeaderMap,
}

/// Why a subscription's stored settings cannot produce a request (the API and the config
/// check them, so this means a store written by something else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// No usable signing secret.
    #[error("the subscription has no valid signing secret")]
    Secret,
    /// The payload settings do not parse.
    #[error("invalid payload settings at `{0}`")]
    Payload(String),
    /// The event id cannot be a header value.
    #[error("the event id is not a valid header value")]
    EventId,
}

/// Builds the request for one attempt at `timestamp_s` (Unix seconds; `now_ms` decides
/// whether a rotation is still running).
pub fn prepare(
    subscription: &Subscription,
    event_id: &str,
    envelope: &[u8],
    timestamp_s: u64,
    now_ms: UnixMs,
) -> Result<Prepared, PrepareError> {
    let body = render_body(subscription.payload.as_ref(), envelope)?;
    let signature = signature_header(subscription, event_id, timestamp_s, &body, now_ms)?;
    let mut headers = HeaderMap::with_capacity(6 + subscription.headers.len());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    headers.insert("webhook-id", HeaderValue::from_str(event_id).map_err(|_| PrepareError::EventId)?);
    headers.insert("webhook-timestamp", HeaderValue::from(timestamp_s));
    headers.insert("webhook-signature", signature);
    for (name, value) in &subscription.headers {
        // Names and values were checked when the subscription was made; one that no longer
        // parses is skipped rather than failing every delivery.
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) else {
            continue;
        };
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
    Ok(Prepared { body, headers })
}

/// The envelope shaped by payload settings (`None`: as stored).
pub fn render_body(payload: Option<&serde_json::Value>, envelope: &[u8]) -> Result<Bytes, PrepareError> {
    match payload {
        None => Ok(Bytes::copy_from_slice(envelope)),
        Some(spec) => {
            let spec = PayloadSpec::from_value(spec).map_err(|(field, _)| PrepareError::Payload(field))?;
            Ok(spec.render(envelope).into())
        }
    }
}

/// `v1,<sig>` for the current secret, and ` v1,<sig>` for the previous one while a rotation
/// runs.
fn signature_header(
    subscription: &Subscription,
    event_id: &str,
    timestamp_s: u64,
    body: &[u8],
    now_ms: UnixMs,
) -> Result<HeaderValue, PrepareError> {
    let rotating = subscription.secrets_rotated_until.is_some_and(|until| until > now_ms);
    let in_use = if rotating { 2 } else { 1 };
    let mut value = String::new();
    for secret in subscription.secrets.iter().take(in_use) {
        let secret = SigningSecret::parse(secret).map_err(|_| PrepareError::Secret)?;
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(&Signer::new(&secret.0).sign(event_id, timestamp_s, body));
    }
    if value.is_empty() {
        return Err(PrepareError::Secret);
    }
    HeaderValue::from_str(&value).map_err(|_| PrepareError::Secret)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};

    use super::*;

    /// The Standard Webhooks specification's test secret.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OLD_SECRET: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const NOW: UnixMs = 1_614_265_330_000;

    fn subscription(secrets: &[&str], rotated_until: Option<UnixMs>) -> Subscription {
        Subscription {
            id: "crm".into(),
            url: "https://crm.example.com/hooks".into(),
            events: vec!["*".into()],
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            secrets_rotated_until: rotated_until,
            headers: vec![("x-api-key".into(), "k1".into()), ("webhook-id".into(), "forged".into())],
            payload: None,
            enabled: true,
            disabled_reason: None,
            source: "api",
            created_at: 0,
        }
    }

    /// Recomputes the signature as a receiver does: HMAC-SHA256 of `id.timestamp.body` with
    /// the decoded secret, base64.
    fn receiver_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret.trim_start_matches("whsec_"))
            .expect("base64 secret");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The receiver's check from docs/webhooks.md, verbatim.
    fn verify(secret: &str, id: &str, timestamp: &str, signatures: &str, body: &[u8], now_s: i64) -> bool {
        use base64::{Engine as _, engine::general_purpose::STANDARD};
        use hmac::{Hmac, KeyInit, Mac};
        use subtle::ConstantTimeEq;

        let Some(key) = secret.strip_prefix("whsec_").and_then(|k| STANDARD.decode(k).ok()) else { return false };
        let Ok(ts) = timestamp.parse::<i64>() else { return false };
        if (now_s - ts).abs() > 300 {
            return false;
        }
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&key) else { return false };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|sig| bool::from(sig.as_bytes().ct_eq(expected.as_bytes())))
    }

    #[test]
    fn the_documented_receiver_check_accepts_both_secrets_during_a_rotation() {
        let body = br#"{"test": 2432232314}"#;
        let rotating = subscription(&[SECRET, OLD_SECRET], Some(NOW + 1));
        let prepared = prepare(&rotating, "msg_p5jXN8AQM9LWM0D4loKWxJek", body, 1_614_265_330, NOW).expect("prepared");
        let signatures = header(&prepared, "webhook-signature");
        for secret in [SECRET, OLD_SECRET] {
            assert!(verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", signatures, body, 1_614_265_330));
        }
        let other = "whsec_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
        assert!(!verify(other, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", signatures, body, 1_614_265_330));
        assert!(!verify(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", signatures, b"{}", 1_614_265_330));
        assert!(!verify(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", signatures, body, 1_614_265_330 + 301));
    }

    fn header<'a>(prepared: &'a Prepared, name: &str) -> &'a str {
        prepared.headers.get(name).and_then(|v| v.to_str().ok()).expect("header present")
    }

    #[test]
    fn headers_carry_a_signature_a_receiver_can_verify() {
        let body = br#"{"test": 2432232314}"#;
        let prepared =
            prepare(&subscription(&[SECRET], None), "msg_p5jXN8AQM9LWM0D4loKWxJek", body, 1_614_265_330, NOW)
                .expect("prepared");
        assert_eq!(&prepared.body[..], body);
        assert_eq!(header(&prepared, "content-type"), "application/json");
        assert_eq!(header(&prepared, "webhook-id"), "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(header(&prepared, "webhook-timestamp"), "1614265330");
        // The specification's test vector.
        assert_eq!(header(&prepared, "webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(
            header(&prepared, "webhook-signature"),
            receiver_signature(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body)
        );
        assert_eq!(header(&prepared, "x-api-key"), "k1");
        assert_eq!(prepared.headers.get_all("webhook-id").iter().count(), 1, "extra headers never replace ours");
        assert!(header(&prepared, "user-agent").starts_with("lead-engine-webhooks/"));
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_and_after_it_only_the_new_one() {
        let body = br#"{"id":"evt_1"}"#;
        let rotating = subscription(&[SECRET, OLD_SECRET], Some(NOW + 1));
        let prepared = prepare(&rotating, "evt_1", body, 1_614_265_330, NOW).expect("prepared");
        let new = receiver_signature(SECRET, "evt_1", "1614265330", body);
        let old = receiver_signature(OLD_SECRET, "evt_1", "1614265330", body);
        assert_eq!(header(&prepared, "webhook-signature"), format!("{new} {old}"));

        let over = subscription(&[SECRET, OLD_SECRET], Some(NOW));
        let prepared = prepare(&over, "evt_1", body, 1_614_265_330, NOW).expect("prepared");
        assert_eq!(header(&prepared, "webhook-signature"), new);
    }

    #[test]
    fn the_signature_covers_the_shaped_body() {
        let mut shaped = subscription(&[SECRET], None);
        shaped.payload = Some(serde_json::json!({"fields": ["id"]}));
        let envelope = br#"{"id":"evt_1","type":"lead.sold","data":{"price":"1.00"}}"#;
        let prepared = prepare(&shaped, "evt_1", envelope, 7, NOW).expect("prepared");
        assert_eq!(&prepared.body[..], br#"{"id":"evt_1"}"#);
        assert_eq!(header(&prepared, "webhook-signature"), receiver_signature(SECRET, "evt_1", "7", &prepared.body));
    }

    #[test]
    fn unusable_settings_are_errors_not_panics() {
        assert_eq!(prepare(&subscription(&[], None), "e", b"{}", 1, NOW).err(), Some(PrepareError::Secret));
        assert_eq!(prepare(&subscription(&["nope"], None), "e", b"{}", 1, NOW).err(), Some(PrepareError::Secret));
        let mut bad = subscription(&[SECRET], None);
        bad.payload = Some(serde_json::json!({"layout": 3}));
        assert_eq!(prepare(&bad, "e", b"{}", 1, NOW).err(), Some(PrepareError::Payload("layout".into())));
        assert_eq!(prepare(&subscription(&[SECRET], None), "e\n", b"{}", 1, NOW).err(), Some(PrepareError::EventId));
    }
}
