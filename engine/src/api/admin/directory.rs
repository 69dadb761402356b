//! `/v1/buyers` and `/v1/publishers`: list, read, create, replace, merge-patch, delete, pause
//! and resume. Every answer shows the entry as configured (a `[[buyers]]` or `[[publishers]]`
//! table as JSON, secrets redacted); every change goes through `AdminApi::apply` (`change.rs`).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value, json};

use super::change::Change;
use super::merge::merge_patch;
use super::redact::{redact, restore};
use super::{AdminApi, MAX_ENTRIES, entry_kind};
use crate::api::auth::Caller;
use crate::api::body::json_object;
use crate::api::error::ApiError;
use crate::api::json_answer;
use crate::api::query::Query;
use crate::api::routes::Kind;
use crate::config::{EntryKind, check_id};
use crate::store::Page;

impl AdminApi {
    /// `GET /v1/buyers`: entries by id, keyset-paginated (the cursor is the last id given).
    pub(super) fn list(&self, kind: Kind, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        let page = Query::parse(query, &["cursor", "limit"])?.page()?;
        if let Some(cursor) = &page.after
            && check_id(cursor).is_err()
        {
            return Err(ApiError::field(
                "invalid_cursor",
                "cursor",
                "pass `next_cursor` from the previous page as it is",
            ));
        }
        let config = self.config.current();
        let table = entry_kind(kind);
        let mut entries: Vec<(&str, &Value)> = config
            .ids(table)
            .into_iter()
            .zip(config.docs(table))
            .filter(|(id, _)| page.after.as_deref().is_none_or(|after| *id > after))
            .collect();
        entries.sort_unstable_by_key(|(id, _)| *id);
        let more = entries.len() > page.limit;
        entries.truncate(page.limit);
        let next_cursor = if more { entries.last().map(|(id, _)| (*id).to_owned()) } else { None };
        let data = entries.into_iter().map(|(_, doc)| redact(table, doc)).collect();
        json_answer(StatusCode::OK, &Page { data, next_cursor })
    }

    /// `GET /v1/buyers/{id}`.
    pub(super) fn get(&self, kind: Kind, id: &str) -> Result<Response<Full<Bytes>>, ApiError> {
        let config = self.config.current();
        let doc = config.doc(entry_kind(kind), id).ok_or_else(|| not_found(kind, id))?;
        json_answer(StatusCode::OK, &redact(entry_kind(kind), doc))
    }

    /// `POST /v1/buyers`: a new entry (201); 409 `already_exists` if the id is taken.
    pub(super) async fn create(
        &self,
        caller: &Caller,
        kind: Kind,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let object = json_object(&body)?;
        let id = match object.get("id") {
            None => return Err(ApiError::field("invalid_config", "id", "`id` is required")),
            Some(id) => id.as_str().ok_or_else(|| ApiError::field("invalid_config", "id", "must be a string"))?,
        };
        check_id(id).map_err(|m| ApiError::field("invalid_config", "id", m))?;
        let id = id.to_owned();
        let table = entry_kind(kind);
        let created = self
            .apply(caller, Change { kind, id: &id, verb: "create" }, |current| {
                if current.is_some() {
                    return Err(ApiError {
                        field: Some("id".into()),
                        ..ApiError::new(
                            StatusCode::CONFLICT,
                            "already_exists",
                            format!("{} `{id}` exists", kind.as_str()),
                        )
                    });
                }
                // Read under the admin lock: the count cannot change before this entry is in.
                if self.config.current().docs(table).len() >= MAX_ENTRIES {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "limit_reached",
                        format!("there are {MAX_ENTRIES} {}s already; delete one first", kind.as_str()),
                    ));
                }
                let mut doc = Value::Object(object);
                restore(table, &mut doc, None)?;
                Ok(Some(doc))
            })
            .await?;
        let mut response = entry_answer(StatusCode::CREATED, table, created)?;
        let location = format!("/v1/{}s/{id}", kind.as_str());
        if let Ok(location) = HeaderValue::try_from(location) {
            response.headers_mut().insert(http::header::LOCATION, location);
        }
        Ok(response)
    }

    /// `PUT /v1/buyers/{id}`: the whole entry replaced (the body's `id` absent or the same).
    pub(super) async fn replace(
        &self,
        caller: &Caller,
        kind: Kind,
        id: &str,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let mut object = json_object(&body)?;
        same_id(&object, id)?;
        object.insert("id".into(), id.into());
        let table = entry_kind(kind);
        let replaced = self
            .apply(caller, Change { kind, id, verb: "replace" }, |current| {
                let current = current.ok_or_else(|| not_found(kind, id))?;
                let mut doc = Value::Object(object);
                restore(table, &mut doc, Some(current))?;
                Ok(Some(doc))
            })
            .await?;
        entry_answer(StatusCode::OK, table, replaced)
    }

    /// `PATCH /v1/buyers/{id}`: a JSON merge patch (RFC 7386) over the current entry; `id`
    /// cannot change.
    pub(super) async fn patch(
        &self,
        caller: &Caller,
        kind: Kind,
        id: &str,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let patch = json_object(&body)?;
        same_id(&patch, id)?;
        let patched = self.merge(caller, Change { kind, id, verb: "update" }, Value::Object(patch)).await?;
        entry_answer(StatusCode::OK, entry_kind(kind), patched)
    }

    /// `POST /v1/buyers/{id}/pause` and `/resume`: a buyer's `paused`, a publisher's
    /// `enabled`. Resuming removes the key (both default to taking leads).
    pub(super) async fn pause(
        &self,
        caller: &Caller,
        kind: Kind,
        id: &str,
        pause: bool,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let patch = match (kind, pause) {
            (Kind::Buyer, true) => json!({"paused": true}),
            (Kind::Buyer, false) => json!({"paused": null}),
            (Kind::Publisher, true) => json!({"enabled": false}),
            (Kind::Publisher, false) => json!({"enabled": null}),
        };
        let verb = if pause { "pause" } else { "resume" };
        let changed = self.merge(caller, Change { kind, id, verb }, patch).await?;
        entry_answer(StatusCode::OK, entry_kind(kind), changed)
    }

    /// `DELETE /v1/buyers/{id}` (204). A publisher a buyer's caps name is refused (409
    /// `in_use`) until the buyer's caps stop naming it.
    pub(super) async fn delete(
        &self,
        caller: &Caller,
        kind: Kind,
        id: &str,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        self.apply(caller, Change { kind, id, verb: "delete" }, |current| match current {
            Some(_) => Ok(None),
            None => Err(not_found(kind, id)),
        })
        .await?;
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    /// Applies `patch` over the current entry.
    async fn merge(&self, caller: &Caller, change: Change<'_>, patch: Value) -> Result<Option<Value>, ApiError> {
        let (kind, id) = (change.kind, change.id);
        self.apply(caller, change, |current| {
            let current = current.ok_or_else(|| not_found(kind, id))?;
            let mut doc = current.clone();
            merge_patch(&mut doc, &patch);
            restore(entry_kind(kind), &mut doc, Some(current))?;
            Ok(Some(doc))
        })
        .await
    }
}

/// 400 unless the body's `id` is absent or `id`.
fn same_id(body: &Map<String, Value>, id: &str) -> Result<(), ApiError> {
    match body.get("id") {
        None => Ok(()),
        Some(given) if given.as_str() == Some(id) => Ok(()),
        Some(_) => Err(ApiError::field(
            "invalid_config",
            "id",
            format!("an entry's id cannot change (this is `{id}`): create the new one and delete this one"),
        )),
    }
}

/// The entry now in force, redacted.
fn entry_answer(status: StatusCode, table: EntryKind, doc: Option<Value>) -> Result<Response<Full<Bytes>>, ApiError> {
    json_answer(status, &doc.map(|d| redact(table, &d)))
}

/// 404 for an unknown buyer or publisher.
fn not_found(kind: Kind, id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {} `{id}`", kind.as_str()))
}
