//! What the webhook API answers: subscriptions without their secrets (extra header values are
//! redacted too: they often carry the receiver's API key, and so is a URL's query string, for
//! the same reason; the store keeps them whole), deliveries with every attempt, and times as
//! RFC 3339 UTC strings (the same format `since`/`until` take).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{AttemptView, DeliveryView, Page, Subscription, UnixMs, rfc3339};

/// Shown instead of an extra header's value.
pub const REDACTED: &str = "[redacted]";

/// Shown instead of a URL's query string.
pub const REDACTED_QUERY: &str = "<redacted>";

/// `url` with its query string, if any, shown as `?<redacted>` (a fragment is dropped too: it
/// is never sent).
pub fn redact_url(url: &str) -> String {
    match url.split_once(['?', '#']) {
        Some((base, _)) if url[base.len()..].starts_with('?') => format!("{base}?{REDACTED_QUERY}"),
        Some((base, _)) => base.to_owned(),
        None => url.to_owned(),
    }
}

/// A subscription as the API shows it.
#[derive(Debug, Serialize)]
pub struct SubscriptionOut {
    /// Id.
    pub id: String,
    /// Target URL, its query string redacted.
    pub url: String,
    /// Event types (`*` for all).
    pub events: Vec<String>,
    /// Extra header names (values redacted).
    pub headers: BTreeMap<String, &'static str>,
    /// Payload settings, as given.
    pub payload: Option<serde_json::Value>,
    /// Whether new events are delivered.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// `config` or `api`.
    pub source: &'static str,
    /// When it was created.
    pub created_at: Option<String>,
    /// While a rotation runs: until when the previous secret also signs.
    pub previous_secret_expires_at: Option<String>,
    /// Only in the answers that create or rotate it: the signing secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl SubscriptionOut {
    /// The view of `s` (`now` decides whether a rotation still runs).
    pub fn new(s: &Subscription, now: UnixMs) -> SubscriptionOut {
        SubscriptionOut {
            id: s.id.clone(),
            url: redact_url(&s.url),
            events: s.events.clone(),
            headers: s.headers.iter().map(|(name, _)| (name.clone(), REDACTED)).collect(),
            payload: s.payload.clone(),
            enabled: s.enabled,
            disabled_reason: s.disabled_reason.clone(),
            source: s.source,
            created_at: rfc3339(s.created_at),
            previous_secret_expires_at: s
                .secrets_rotated_until
                .filter(|until| *until > now && s.secrets.len() > 1)
                .and_then(rfc3339),
            secret: None,
        }
    }

    /// With the current secret shown.
    pub fn with_secret(mut self, secret: String) -> SubscriptionOut {
        self.secret = Some(secret);
        self
    }
}

/// One attempt.
#[derive(Debug, Serialize)]
pub struct AttemptOut {
    /// When it was sent.
    pub at: Option<String>,
    /// The endpoint's status, if it answered.
    pub status_code: Option<u16>,
    /// Milliseconds.
    pub latency_ms: i64,
    /// What went wrong.
    pub error: Option<String>,
    /// When the next attempt was scheduled, if one was.
    pub next_attempt_at: Option<String>,
}

/// One delivery with its attempts.
#[derive(Debug, Serialize)]
pub struct DeliveryOut {
    /// Delivery id (for `POST /v1/deliveries/{id}/replay`).
    pub id: i64,
    /// The subscription.
    pub subscription_id: String,
    /// The event id: the `webhook-id` of every attempt.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Why it is dead.
    pub dead_reason: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    /// When the delivery was created.
    pub created_at: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptOut>,
}

impl From<DeliveryView> for DeliveryOut {
    fn from(d: DeliveryView) -> DeliveryOut {
        DeliveryOut {
            id: d.id,
            subscription_id: d.subscription_id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            dead_reason: d.dead_reason,
            next_attempt_at: d.next_attempt_at.and_then(rfc3339),
            created_at: rfc3339(d.created_at),
            attempts: d.attempts.into_iter().map(AttemptOut::from).collect(),
        }
    }
}

impl From<AttemptView> for AttemptOut {
    fn from(a: AttemptView) -> AttemptOut {
        AttemptOut {
            at: rfc3339(a.at),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            next_attempt_at: a.next_attempt_at.and_then(rfc3339),
        }
    }
}

/// A page mapped to its views.
pub fn page<T, U: Serialize>(page: Page<T>, view: impl FnMut(T) -> U) -> Page<U> {
    Page { data: page.data.into_iter().map(view).collect(), next_cursor: page.next_cursor }
}

pub use crate::api::json_answer as json;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_s_query_string_is_redacted() {
        assert_eq!(redact_url("https://crm.example.com/h?token=s3cret&x=1"), "https://crm.example.com/h?<redacted>");
        assert_eq!(redact_url("https://crm.example.com/h?"), "https://crm.example.com/h?<redacted>");
        assert_eq!(redact_url("https://crm.example.com/h"), "https://crm.example.com/h");
        assert_eq!(redact_url("https://crm.example.com/h#frag"), "https://crm.example.com/h");
        assert_eq!(redact_url("https://crm.example.com/h#a?b"), "https://crm.example.com/h");
    }
}
