//! Subscriptions: create (`POST /v1/webhooks`), list, read, change (`PATCH`), delete, and
//! rotate the signing secret. A secret is shown only in the answers that create it.
//! Subscriptions from `engine.toml` are changed there, not here (409): the next start would
//! undo the change. Every change writes its audit row (`webhook.create`, `webhook.update`,
//! `webhook.delete`, `webhook.rotate_secret`) in the same transaction.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;

use super::views::{SubscriptionOut, json};
use super::{WebhookApi, not_found, store_error};
use crate::api::error::ApiError;
use crate::config::{SigningSecret, check_id, parse_headers};
use crate::protocol::event::EventType;
use crate::store::now_ms;
use crate::store::{Subscription, Write};
use crate::webhooks::payload::{PayloadSpec, error_key};
use crate::webhooks::{API_SOURCE, CONFIG_SOURCE, encode_secret, ssrf};

/// How long the previous secret keeps signing after a rotation: a day for receivers to deploy
/// the new one.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// Random bytes of a generated secret (Standard Webhooks allows 24 to 64).
const SECRET_BYTES: usize = 32;

/// Longest URL accepted.
const MAX_URL_LEN: usize = 2048;

/// Most extra headers.
const MAX_HEADERS: usize = 32;

/// Why a subscription was disabled through the API.
const DISABLED_BY_API: &str = "disabled through the API";

/// The fields a create or change may carry, each already checked.
#[derive(Debug, Default)]
struct Fields {
    id: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    secret: Option<String>,
    headers: Option<Vec<(String, String)>>,
    payload: Option<Option<Value>>,
    enabled: Option<bool>,
}

impl WebhookApi {
    /// `POST /v1/webhooks`.
    pub(super) async fn create(&self, actor: &str, body: Bytes) -> Result<Response<Full<Bytes>>, ApiError> {
        let fields = self.fields(&body, &["id", "url", "events", "secret", "headers", "payload"])?;
        let missing = |name: &'static str| ApiError::field("missing_field", name, format!("`{name}` is required"));
        let url = fields.url.ok_or_else(|| missing("url"))?;
        let events = fields.events.ok_or_else(|| missing("events"))?;
        let id = fields.id.unwrap_or_else(new_id);
        let secret = match fields.secret {
            Some(secret) => secret,
            None => new_secret()?,
        };
        if self.store.subscription(&id).await.map_err(store_error)?.is_some() {
            return Err(ApiError::new(StatusCode::CONFLICT, "already_exists", format!("subscription `{id}` exists")));
        }
        let now = now_ms();
        let subscription = Subscription {
            id,
            url,
            events,
            secrets: vec![secret.clone()],
            secrets_rotated_until: None,
            headers: fields.headers.unwrap_or_default(),
            payload: fields.payload.flatten(),
            enabled: true,
            disabled_reason: None,
            source: API_SOURCE,
            created_at: now,
        };
        self.put(actor, "webhook.create", None, &subscription).await?;
        json(StatusCode::CREATED, &SubscriptionOut::new(&subscription, now).with_secret(secret))
    }

    /// `GET /v1/webhooks`.
    pub(super) async fn list(&self, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        let page = super::query::Query::parse(query, &["cursor", "limit"])?.page()?;
        let page = self.store.subscriptions(page).await.map_err(store_error)?;
        let now = now_ms();
        json(StatusCode::OK, &super::views::page(page, |s| SubscriptionOut::new(&s, now)))
    }

    /// `GET /v1/webhooks/{id}`.
    pub(super) async fn get(&self, id: &str) -> Result<Response<Full<Bytes>>, ApiError> {
        let subscription = self.existing(id).await?;
        json(StatusCode::OK, &SubscriptionOut::new(&subscription, now_ms()))
    }

    /// `PATCH /v1/webhooks/{id}`: any of `url`, `events`, `headers`, `payload` (null removes
    /// it), `enabled` (true re-enables one a 410 disabled; false disables it, and the store
    /// sends its pending deliveries to the dead letters, as after a 410).
    pub(super) async fn change(&self, actor: &str, id: &str, body: Bytes) -> Result<Response<Full<Bytes>>, ApiError> {
        let fields = self.fields(&body, &["url", "events", "headers", "payload", "enabled"])?;
        let before = self.changeable(id).await?;
        let mut subscription = before.clone();
        if let Some(url) = fields.url {
            subscription.url = url;
        }
        if let Some(events) = fields.events {
            subscription.events = events;
        }
        if let Some(headers) = fields.headers {
            subscription.headers = headers;
        }
        if let Some(payload) = fields.payload {
            subscription.payload = payload;
        }
        match fields.enabled {
            Some(true) => (subscription.enabled, subscription.disabled_reason) = (true, None),
            Some(false) => (subscription.enabled, subscription.disabled_reason) = (false, Some(DISABLED_BY_API.into())),
            None => {}
        }
        self.put(actor, "webhook.update", Some(&before), &subscription).await?;
        json(StatusCode::OK, &SubscriptionOut::new(&subscription, now_ms()))
    }

    /// `DELETE /v1/webhooks/{id}`: its pending deliveries are dropped.
    pub(super) async fn delete(&self, actor: &str, id: &str) -> Result<Response<Full<Bytes>>, ApiError> {
        let before = self.changeable(id).await?;
        let delete = Write::DeleteSubscription { id: id.to_owned() };
        let deleted = self.audited(actor, "webhook.delete", Some(&before), None, delete).await?;
        if deleted == 0 {
            return Err(not_found("subscription", id));
        }
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    /// `POST /v1/webhooks/{id}/rotate-secret`: a new secret, shown once; the previous one keeps
    /// signing (a second signature) for [`ROTATION_OVERLAP_MS`].
    pub(super) async fn rotate(&self, actor: &str, id: &str) -> Result<Response<Full<Bytes>>, ApiError> {
        let before = self.changeable(id).await?;
        let mut subscription = before.clone();
        let secret = new_secret()?;
        let now = now_ms();
        let previous = subscription.secrets.first().cloned();
        subscription.secrets = std::iter::once(secret.clone()).chain(previous).collect();
        subscription.secrets_rotated_until = Some(now.saturating_add(ROTATION_OVERLAP_MS));
        self.put(actor, "webhook.rotate_secret", Some(&before), &subscription).await?;
        json(StatusCode::OK, &SubscriptionOut::new(&subscription, now).with_secret(secret))
    }

    /// The subscription, or 404.
    pub(super) async fn existing(&self, id: &str) -> Result<Subscription, ApiError> {
        self.store.subscription(id).await.map_err(store_error)?.ok_or_else(|| not_found("subscription", id))
    }

    /// The subscription if the API may change it: 404 unknown, 409 from the config.
    async fn changeable(&self, id: &str) -> Result<Subscription, ApiError> {
        let subscription = self.existing(id).await?;
        if subscription.source == CONFIG_SOURCE {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "config_subscription",
                "this subscription comes from engine.toml: change it there (the next start would undo a change made here)",
            ));
        }
        Ok(subscription)
    }

    /// Writes `subscription` with the audit row of `action`.
    async fn put(
        &self,
        actor: &str,
        action: &str,
        before: Option<&Subscription>,
        subscription: &Subscription,
    ) -> Result<u64, ApiError> {
        let put = Write::PutSubscription(Box::new(subscription.clone()));
        self.audited(actor, action, before, Some(subscription), put).await
    }

    /// Writes `write` and the audit row of `action` (`before` and `after` as the API shows
    /// them: no secrets, header values redacted) in one transaction; the rows `write` changed
    /// (the audit row counts none).
    async fn audited(
        &self,
        actor: &str,
        action: &str,
        before: Option<&Subscription>,
        after: Option<&Subscription>,
        write: Write,
    ) -> Result<u64, ApiError> {
        let now = now_ms();
        let view = |s: &Subscription| serde_json::to_value(SubscriptionOut::new(s, now)).unwrap_or(Value::Null);
        let detail = serde_json::json!({"before": before.map(view), "after": after.map(view)});
        let id = after.or(before).map_or("", |s| s.id.as_str());
        let audit = crate::api::admin::audit::record(actor, action, id, detail, now);
        self.store.write(vec![write, audit]).map_err(store_error)?.await.map_err(store_error)
    }

    /// Parses a body of subscription fields, refusing any not in `allowed`.
    fn fields(&self, body: &[u8], allowed: &[&str]) -> Result<Fields, ApiError> {
        let object = crate::api::body::json_object(body)?;
        let mut fields = Fields::default();
        for (name, value) in object {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::field(
                    "unknown_field",
                    name,
                    format!("not a field here; this endpoint takes {}", allowed.join(", ")),
                ));
            }
            match name.as_str() {
                "id" => fields.id = Some(id_field(&value)?),
                "url" => fields.url = Some(self.url_field(&value)?),
                "events" => fields.events = Some(events_field(&value)?),
                "secret" => fields.secret = Some(secret_field(&value)?),
                "headers" => fields.headers = Some(headers_field(value)?),
                "payload" => fields.payload = Some(payload_field(value)?),
                "enabled" => {
                    fields.enabled = Some(
                        value
                            .as_bool()
                            .ok_or_else(|| ApiError::field("invalid_type", "enabled", "must be true or false"))?,
                    );
                }
                _ => {}
            }
        }
        Ok(fields)
    }

    fn url_field(&self, value: &Value) -> Result<String, ApiError> {
        let invalid = |message: String| ApiError::field("invalid_url", "url", message);
        let text = value.as_str().ok_or_else(|| invalid("must be a string".into()))?;
        if text.len() > MAX_URL_LEN {
            return Err(invalid(format!("must be at most {MAX_URL_LEN} characters")));
        }
        let uri: http::Uri = text.parse().map_err(|_| invalid("is not a URL".into()))?;
        ssrf::check_url(&uri, self.delivery.allow_private_targets).map_err(invalid)?;
        Ok(text.to_owned())
    }
}

fn id_field(value: &Value) -> Result<String, ApiError> {
    let id = value.as_str().ok_or_else(|| ApiError::field("invalid_id", "id", "must be a string"))?;
    check_id(id).map_err(|m| ApiError::field("invalid_id", "id", m))?;
    Ok(id.to_owned())
}

fn events_field(value: &Value) -> Result<Vec<String>, ApiError> {
    let list = value.as_array().filter(|l| !l.is_empty() && l.len() <= EventType::ALL.len() + 1).ok_or_else(|| {
        ApiError::field("invalid_events", "events", "must list 1 or more event types, or \"*\" for all")
    })?;
    let mut events: Vec<String> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let name = entry.as_str().filter(|n| *n == "*" || EventType::parse(n).is_some()).ok_or_else(|| {
            ApiError::field(
                "invalid_event",
                format!("events[{i}]"),
                "not an event type (see docs/webhooks.md) nor \"*\"",
            )
        })?;
        if !events.iter().any(|e| e == name) {
            events.push(name.to_owned());
        }
    }
    Ok(events)
}

fn secret_field(value: &Value) -> Result<String, ApiError> {
    let invalid = |m: &str| ApiError::field("invalid_secret", "secret", m.to_owned());
    let text = value.as_str().ok_or_else(|| invalid("must be a string"))?;
    SigningSecret::parse(text).map_err(invalid)?;
    Ok(text.to_owned())
}

fn headers_field(value: Value) -> Result<Vec<(String, String)>, ApiError> {
    if value.as_object().is_none_or(|o| o.len() > MAX_HEADERS) {
        return Err(ApiError::field(
            "invalid_headers",
            "headers",
            format!("must be an object of at most {MAX_HEADERS} names to values"),
        ));
    }
    let headers = parse_headers(value).map_err(|e| ApiError::field("invalid_headers", "headers", e.to_string()))?;
    Ok(headers
        .into_iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect())
}

/// `null` removes the settings.
fn payload_field(value: Value) -> Result<Option<Value>, ApiError> {
    if value.is_null() {
        return Ok(None);
    }
    PayloadSpec::from_value(&value).map_err(|(field, m)| ApiError::field("invalid_payload", error_key(&field), m))?;
    Ok(Some(value))
}

/// `wh_<uuid v7>`: time-ordered, so listing by id lists by creation.
fn new_id() -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    format!("wh_{}", uuid::Uuid::now_v7().simple().encode_lower(&mut buf))
}

/// `whsec_` and the base64 of [`SECRET_BYTES`] random bytes.
fn new_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "no randomness available for a secret")
            .retry_after(1)
    })?;
    Ok(encode_secret(&bytes))
}
