//! `GET|POST /v1/webhooks/{id}/preview?type=lead.sold`: an example event of that type exactly
//! as this subscriber would receive it: the body after its payload settings, and the headers,
//! with a signature over that body made with the fixed, published example secret
//! [`EXAMPLE_SECRET`], never the subscription's: a preview is a synthetic event with a current
//! timestamp, and signed with the real secret it would be a forged event (a `lead.sold` that
//! never happened) that anyone holding the answer could send to the receiver. The answer's
//! `signed_with` says so. A `POST` may carry `{"payload": {...}}` to try settings before saving
//! them. The example data is illustrative (no PII, as in every event).

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use serde_json::{Value, json};

use super::WebhookApi;
use super::query::Query;
use super::views::{REDACTED, json as json_answer, redact_url};
use crate::api::error::ApiError;
use crate::protocol::event::{Envelope, EventType};
use crate::protocol::ids::event_id;
use crate::store::now_ms;
use crate::store::rfc3339;
use crate::webhooks::payload::{PayloadSpec, error_key};
use crate::webhooks::request::prepare;

/// The secret every preview is signed with: the Standard Webhooks specification's example
/// secret, public on purpose (a receiver must never accept it).
pub const EXAMPLE_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The answer's `signed_with`.
const SIGNED_WITH: &str = "example secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw (the Standard Webhooks test \
     secret), not the subscription's: check your verification code with it";

/// The answer.
#[derive(Debug, Serialize)]
struct Preview {
    /// The subscription.
    subscription_id: String,
    /// The example's type.
    event_type: &'static str,
    /// Whether this subscription receives that type at all.
    subscribed: bool,
    /// Where it would go (query string redacted).
    url: String,
    /// Always `POST`.
    method: &'static str,
    /// Every header, in order (extra header values redacted).
    headers: Vec<(String, String)>,
    /// The exact body, as signed.
    body: String,
    /// Which secret made `webhook-signature`: always [`EXAMPLE_SECRET`].
    signed_with: &'static str,
}

impl WebhookApi {
    /// Handles a preview; `body` is the POST body (empty for GET).
    pub(super) async fn preview(
        &self,
        id: &str,
        query: Option<&str>,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let query = Query::parse(query, &["type"])?;
        let mut subscription = self.existing(id).await?;
        let kind = match query.get("type") {
            Some(name) => EventType::parse(name)
                .ok_or_else(|| ApiError::field("invalid_event", "type", "not an event type (see docs/webhooks.md)"))?,
            None => subscription.events.iter().find_map(|e| EventType::parse(e)).unwrap_or(EventType::LeadSold),
        };
        if let Some(payload) = override_payload(&body)? {
            subscription.payload = payload;
        }
        // Never the real secrets (see the module's doc).
        subscription.secrets = vec![EXAMPLE_SECRET.to_owned()];
        subscription.secrets_rotated_until = None;
        let now = now_ms();
        let event_id = event_id();
        let envelope = Envelope {
            id: event_id.clone(),
            kind,
            timestamp: rfc3339(now).unwrap_or_default(),
            data: example_data(kind),
        };
        let envelope = serde_json::to_vec(&envelope).map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the example could not be encoded")
        })?;
        let timestamp = u64::try_from(now / 1000).unwrap_or(0);
        let prepared = prepare(&subscription, &event_id, &envelope, timestamp, now).map_err(|e| {
            ApiError::new(
                StatusCode::CONFLICT,
                "unusable_subscription",
                format!("this subscription cannot be delivered: {e}"),
            )
        })?;
        let custom: Vec<&str> = subscription.headers.iter().map(|(name, _)| name.as_str()).collect();
        let headers = prepared
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if custom.contains(&name.as_str()) {
                    REDACTED.to_owned()
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                (name.as_str().to_owned(), shown)
            })
            .collect();
        let subscribed = subscription.events.iter().any(|e| e == "*" || e == kind.as_str());
        json_answer(
            StatusCode::OK,
            &Preview {
                subscription_id: subscription.id,
                event_type: kind.as_str(),
                subscribed,
                url: redact_url(&subscription.url),
                method: "POST",
                headers,
                body: String::from_utf8_lossy(&prepared.body).into_owned(),
                signed_with: SIGNED_WITH,
            },
        )
    }
}

/// `{"payload": settings-or-null}` from a POST body; `None` when the body is empty.
fn override_payload(body: &[u8]) -> Result<Option<Option<Value>>, ApiError> {
    if body.trim_ascii().is_empty() {
        return Ok(None);
    }
    let invalid = || ApiError::bad_request("invalid_json", "the body must be a JSON object like {\"payload\": {...}}");
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else { return Err(invalid()) };
    if let Some(name) = object.keys().find(|k| k.as_str() != "payload") {
        return Err(ApiError::field("unknown_field", name.clone(), "a preview body takes `payload` only"));
    }
    match object.remove("payload") {
        None | Some(Value::Null) => Ok(Some(None)),
        Some(payload) => {
            PayloadSpec::from_value(&payload)
                .map_err(|(field, m)| ApiError::field("invalid_payload", error_key(&field), m))?;
            Ok(Some(Some(payload)))
        }
    }
}

/// Illustrative data of each type, shaped like the events the engine writes (lead events:
/// `auction/journal.rs`, the store's recovery and `api/feedback`).
fn example_data(kind: EventType) -> serde_json::Map<String, Value> {
    let lead = json!({"lead_id": "ld_0193a5c2e4f67b8c9d0e1f2a3b4c5d6e", "publisher_id": "pub1", "vertical": "auto_insurance", "test": false});
    let extra = match kind {
        EventType::LeadReceived => {
            json!({"sequence": 1, "attributes": {"zip": "98004", "state": "WA", "credit_tier": "good"}, "source": {"sub_id": "s1"}})
        }
        EventType::LeadSold => {
            json!({"sequence": 2, "buyer_id": "acme", "price": "12.50", "bid": "12.50", "buyer_lead_id": "acme-1042", "pinged": 6, "bids": 4})
        }
        EventType::LeadUnsold => json!({"sequence": 2, "reason": "no_bids", "pinged": 6, "bids": 0}),
        EventType::LeadPostRejected => {
            json!({"sequence": 2, "buyer_id": "acme", "price": "12.50", "attempt": 1, "result": "rejected", "reason": "duplicate"})
        }
        EventType::LeadInDoubt => {
            json!({"sequence": 2, "buyer_id": "acme", "price": "12.50", "reason": "crash during post"})
        }
        EventType::LeadStatusChanged => {
            json!({"sequence": 3, "buyer_id": "acme", "previous_status": null, "status": "contacted"})
        }
        EventType::LeadReturned => {
            json!({"sequence": 4, "buyer_id": "acme", "reason_code": "invalid_phone", "note": "number disconnected",
                   "credit": "12.50", "sold_at": "2026-11-23T12:00:00.412Z"})
        }
        EventType::BuyerCapThresholdReached => cap_example(80),
        EventType::BuyerCapReached => cap_example(100),
        EventType::BuyerCircuitOpened => json!({"buyer_id": "acme"}),
        EventType::BuyerCircuitClosed => json!({"buyer_id": "acme"}),
    };
    let mut data = match (kind.as_str().starts_with("lead."), lead) {
        (true, Value::Object(lead)) => lead,
        _ => serde_json::Map::new(),
    };
    if let Value::Object(extra) = extra {
        data.extend(extra);
    }
    data
}

/// The data of a cap event, as the auction writes it (`auction::journal`).
fn cap_example(used: u32) -> Value {
    json!({"buyer_id": "acme", "publisher_id": null, "cap": "daily", "limit": 100, "used": used,
           "window_start": "2026-11-24T06:00:00.000Z", "window_end": "2026-11-25T06:00:00.000Z"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_secret_is_a_valid_one_and_named_in_the_answer() {
        assert!(crate::config::SigningSecret::parse(EXAMPLE_SECRET).is_ok());
        assert!(SIGNED_WITH.contains(EXAMPLE_SECRET));
    }

    #[test]
    fn every_type_has_example_data_without_contact_fields() {
        for kind in EventType::ALL {
            let data = example_data(kind);
            assert!(!data.is_empty(), "{kind:?}");
            for pii in ["email", "phone", "first_name", "last_name", "address", "contact"] {
                assert!(!data.contains_key(pii), "{kind:?} has {pii}");
            }
        }
    }

    #[test]
    fn a_preview_body_may_only_carry_payload_settings() {
        assert_eq!(override_payload(b"").expect("empty"), None);
        assert_eq!(override_payload(b"{\"payload\": null}").expect("null"), Some(None));
        let spec = override_payload(b"{\"payload\": {\"layout\": \"flat\"}}").expect("valid");
        assert_eq!(spec, Some(Some(json!({"layout": "flat"}))));
        assert_eq!(override_payload(b"{\"other\": 1}").expect_err("unknown").field.as_deref(), Some("other"));
        assert_eq!(
            override_payload(b"{\"payload\": {\"layout\": 1}}").expect_err("bad").field.as_deref(),
            Some("payload.layout")
        );
        assert_eq!(override_payload(b"[1]").expect_err("not an object").code, "invalid_json");
    }
}
