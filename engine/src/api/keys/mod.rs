//! Issued API keys (admin keys only): `POST /v1/keys` makes one (its secret shown once, only
//! its SHA-256 kept), `GET /v1/keys` lists every key (issued and from the config) with its use
//! count, `GET /v1/keys/{id}` shows one, `DELETE /v1/keys/{id}` revokes one: the key fails on
//! the next request. Every issue and revocation is in the audit log (`key.create`,
//! `key.revoke`), written in the same transaction.

mod issue;
mod sync;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

pub use issue::{KeyRequest, MAX_LABEL_LEN, issue, issued, label_ok};
pub use sync::{reload, sync};

use super::admin::audit::record;
use super::auth::{Caller, Keys, Role, Scopes, config_key_id, role_limit};
use super::error::{ApiError, store_error};
use super::query::Query;
use super::routes::Endpoint;
use super::{body, json_answer};
use crate::config::{Config, LiveConfig, RateLimit};
use crate::store::{AuditRecord, Store, StoredKey, UnixMs, Write, now_ms, rfc3339};

/// Largest request body.
const MAX_BODY_BYTES: usize = 4 * 1024;

/// The keys API.
#[derive(Debug)]
pub struct KeysApi {
    /// Where issued keys live.
    pub store: Arc<dyn Store>,
    /// The config in force (its keys are listed too; owners must exist in it).
    pub config: Arc<LiveConfig>,
    /// The key set, reloaded after every change.
    pub keys: Arc<Keys>,
}

/// `POST /v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    role: String,
    owner_id: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
}

/// A key as the API shows it (never the key itself, never its digest).
#[derive(Debug, Serialize)]
struct KeyOut {
    id: String,
    /// `issued` or `config`.
    source: &'static str,
    role: String,
    owner_id: String,
    scopes: Vec<&'static str>,
    label: Option<String>,
    rate_limit: Option<RateLimitOut>,
    created_at: Option<String>,
    created_by: Option<String>,
    revoked_at: Option<String>,
    uses: u64,
    last_used_at: Option<String>,
    /// Only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

#[derive(Debug, Serialize)]
struct RateLimitOut {
    per_second: f64,
    burst: u32,
}

impl KeysApi {
    /// Over `store`, with the config in force and the key set to reload.
    pub fn new(store: Arc<dyn Store>, config: Arc<LiveConfig>, keys: Arc<Keys>) -> KeysApi {
        KeysApi { store, config, keys }
    }

    /// Answers one request for `endpoint` (its method and the caller's scope already checked).
    pub async fn handle(
        &self,
        caller: &Caller,
        endpoint: Endpoint<'_>,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        caller.require(Role::Admin, super::routes::scope_of(&parts.method))?;
        match (endpoint, &parts.method) {
            (Endpoint::Keys, &Method::GET) => self.list(parts.uri.query()).await,
            (Endpoint::Keys, _) => {
                Query::parse(parts.uri.query(), &[])?;
                let body = body::read_json(&parts.headers, body, MAX_BODY_BYTES).await?;
                self.create(caller, &body).await
            }
            (Endpoint::Key(id), &Method::GET) => {
                Query::parse(parts.uri.query(), &[])?;
                json_answer(StatusCode::OK, &self.find(id).await?)
            }
            (Endpoint::Key(id), _) => {
                Query::parse(parts.uri.query(), &[])?;
                self.revoke(caller, id).await
            }
            _ => Err(super::no_such_endpoint()),
        }
    }

    async fn create(&self, caller: &Caller, body: &[u8]) -> Result<Response<Full<Bytes>>, ApiError> {
        let body: CreateBody = body::typed(body, "a key request")?;
        let request = check(body, &self.config.current())?;
        if (request.scopes.read && !caller.scopes.read) || (request.scopes.write && !caller.scopes.write) {
            return Err(ApiError::field("invalid_scopes", "scopes", "a key cannot issue a key with scopes it lacks"));
        }
        let now = now_ms();
        let (key, stored) = issue(request, &caller.actor(), now)
            .map_err(|m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", m))?;
        let after = serde_json::json!({ "after": described(&stored) });
        let writes = vec![
            Write::PutApiKey(Box::new(stored.clone())),
            record(&caller.actor(), "key.create", &stored.id, after, now),
        ];
        self.store.write(writes).map_err(store_error)?.await.map_err(store_error)?;
        reload(&*self.store, &self.keys).await.map_err(store_error)?;
        tracing::info!(admin = %caller.id, key = %stored.id, role = %stored.role, owner = %stored.owner_id, "API key issued");
        let mut out = view(&stored, stored.uses, stored.last_used_at);
        out.key = Some(key);
        json_answer(StatusCode::CREATED, &out)
    }

    async fn list(&self, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        let query = Query::parse(query, &["role", "owner_id"])?;
        let role = query.get("role");
        if let Some(role) = role
            && Role::parse(role).is_none()
        {
            return Err(ApiError::field("invalid_role", "role", "one of publisher, buyer, admin"));
        }
        let owner = query.get("owner_id");
        let wanted = |k: &KeyOut| role.is_none_or(|r| k.role == r) && owner.is_none_or(|o| k.owner_id == o);
        let data: Vec<KeyOut> = self.all().await?.into_iter().filter(wanted).collect();
        json_answer(StatusCode::OK, &serde_json::json!({ "data": data, "next_cursor": null }))
    }

    async fn find(&self, id: &str) -> Result<KeyOut, ApiError> {
        self.all().await?.into_iter().find(|k| k.id == id).ok_or_else(|| not_found(id))
    }

    async fn revoke(&self, caller: &Caller, id: &str) -> Result<Response<Full<Bytes>>, ApiError> {
        let found = self.find(id).await?;
        if found.source == "config" {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "config_key",
                "this key comes from the config file: remove its key_sha256 there (or through the admin API)",
            ));
        }
        if found.revoked_at.is_none() {
            let now = now_ms();
            let audit = AuditRecord {
                at: now,
                actor: caller.actor(),
                action: "key.revoke".into(),
                target: id.to_owned(),
                detail: serde_json::json!({ "before": {
                    "role": found.role, "owner_id": found.owner_id, "scopes": found.scopes, "label": found.label,
                } }),
            };
            let revoke = Write::RevokeApiKey { id: id.to_owned(), at: now, audit: Some(Box::new(audit)) };
            if self.store.write(vec![revoke]).map_err(store_error)?.await.map_err(store_error)? > 0 {
                tracing::info!(admin = %caller.id, key = %id, "API key revoked");
            }
        }
        reload(&*self.store, &self.keys).await.map_err(store_error)?;
        json_answer(StatusCode::OK, &self.find(id).await?)
    }

    /// Every key: the config's, then the issued ones, with use counts.
    async fn all(&self) -> Result<Vec<KeyOut>, ApiError> {
        let config = self.config.current();
        let mut out = config_keys(&config, &self.keys);
        let stored = self.store.api_keys().await.map_err(store_error)?;
        for key in &stored {
            let (uses, last) = self.keys.usage(&key.id).unwrap_or((key.uses, key.last_used_at.unwrap_or(0)));
            out.push(view(key, uses.max(key.uses), (last > 0).then_some(last)));
        }
        Ok(out)
    }
}

/// Checks a new key's request against the config in force.
fn check(body: CreateBody, config: &Config) -> Result<KeyRequest, ApiError> {
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::field("invalid_role", "role", "one of publisher, buyer, admin"))?;
    crate::config::check_id(&body.owner_id).map_err(|m| ApiError::field("invalid_owner", "owner_id", m))?;
    let exists = match role {
        Role::Publisher => config.publishers.iter().any(|p| p.id == body.owner_id),
        Role::Buyer => config.buyers.iter().any(|b| b.id == body.owner_id),
        Role::Admin => config.admins.iter().any(|a| a.id == body.owner_id),
    };
    if !exists {
        return Err(ApiError::field(
            "unknown_owner",
            "owner_id",
            format!("no {} `{}` in the config in force", role.as_str(), body.owner_id),
        ));
    }
    let scopes = match body.scopes {
        None => Scopes::ALL,
        Some(list) => Scopes::parse(&list.join(",")).ok_or_else(|| {
            ApiError::field("invalid_scopes", "scopes", "a list of `read` and `write` (at least one)")
        })?,
    };
    if let Some(label) = &body.label
        && !label_ok(label)
    {
        return Err(ApiError::field(
            "invalid_label",
            "label",
            format!("at most {MAX_LABEL_LEN} characters, no control characters"),
        ));
    }
    if let Some(limit) = &body.rate_limit {
        limit.check().map_err(|(field, m)| ApiError::field("invalid_rate_limit", format!("rate_limit.{field}"), m))?;
    }
    Ok(KeyRequest { role, owner_id: body.owner_id, scopes, label: body.label, rate_limit: body.rate_limit })
}

/// The config's keys, as listed.
fn config_keys(config: &Config, keys: &Keys) -> Vec<KeyOut> {
    let publishers = config.publishers.iter().map(|p| (Role::Publisher, p.id.as_str()));
    let buyers = config.buyers.iter().filter(|b| b.key_sha256.is_some()).map(|b| (Role::Buyer, b.id.as_str()));
    let admins = config.admins.iter().map(|a| (Role::Admin, a.id.as_str()));
    let limits = &config.rate_limits;
    publishers
        .chain(buyers)
        .chain(admins)
        .map(|(role, owner)| {
            let id = config_key_id(role, owner);
            let (uses, last) = keys.usage(&id).unwrap_or((0, 0));
            let limit = role_limit(limits, role);
            KeyOut {
                id,
                source: "config",
                role: role.as_str().to_owned(),
                owner_id: owner.to_owned(),
                scopes: scope_list(Scopes::ALL),
                label: None,
                rate_limit: Some(RateLimitOut { per_second: limit.per_second, burst: limit.burst }),
                created_at: None,
                created_by: None,
                revoked_at: None,
                uses,
                last_used_at: (last > 0).then(|| rfc3339(last)).flatten(),
                key: None,
            }
        })
        .collect()
}

fn view(key: &StoredKey, uses: u64, last_used_at: Option<UnixMs>) -> KeyOut {
    KeyOut {
        id: key.id.clone(),
        source: "issued",
        role: key.role.clone(),
        owner_id: key.owner_id.clone(),
        scopes: Scopes::parse(&key.scopes).map(scope_list).unwrap_or_default(),
        label: key.label.clone(),
        rate_limit: key.rate_limit.map(|(per_second, burst)| RateLimitOut { per_second, burst }),
        created_at: rfc3339(key.created_at),
        created_by: Some(key.created_by.clone()),
        revoked_at: key.revoked_at.and_then(rfc3339),
        uses,
        last_used_at: last_used_at.and_then(rfc3339),
        key: None,
    }
}

/// What the audit log records about a key: never the key or its digest.
pub fn described(key: &StoredKey) -> serde_json::Value {
    serde_json::json!({
        "role": key.role,
        "owner_id": key.owner_id,
        "scopes": key.scopes,
        "label": key.label,
        "rate_limit": key.rate_limit.map(|(per_second, burst)| serde_json::json!({"per_second": per_second, "burst": burst})),
    })
}

fn scope_list(scopes: Scopes) -> Vec<&'static str> {
    [(scopes.read, "read"), (scopes.write, "write")].into_iter().filter(|(on, _)| *on).map(|(_, s)| s).collect()
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no key `{id}`"))
}
