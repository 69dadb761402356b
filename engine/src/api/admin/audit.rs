//! The audit log: every change made through the admin APIs (buyers, publishers, webhook
//! subscriptions, keys) writes one row in the same transaction as the change, with who made
//! it, what it was, what it was made to, and what changed (`{"before", "after"}`, secrets
//! redacted). [`record`] makes that row; `GET /v1/audit` reads the log, newest first.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::AdminApi;
use crate::api::error::{ApiError, store_error};
use crate::api::json_answer;
use crate::api::query::Query;
use crate::store::{AuditQuery, AuditRecord, AuditRow, Page, UnixMs, Write, rfc3339};

/// Longest `action` or `target` filter: actions and ids are far shorter.
const MAX_FILTER_LEN: usize = 128;

/// The audit row of one change, to write in the same [`crate::store::Store::write`] call as
/// the change itself. `actor`: `caller.actor()` (`admin:ops`); `action`: `<kind>.<verb>`
/// (`buyer.update`, `webhook.rotate_secret`, `key.revoke`); `target`: the id changed;
/// `detail`: what changed, `{"before": ..., "after": ...}` with secrets redacted.
pub fn record(actor: &str, action: &str, target: &str, detail: serde_json::Value, at: UnixMs) -> Write {
    Write::Audit(Box::new(AuditRecord {
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
    }))
}

/// One row as `GET /v1/audit` shows it.
#[derive(Debug, Serialize)]
struct AuditOut {
    seq: i64,
    /// RFC 3339, UTC.
    at: Option<String>,
    actor: String,
    action: String,
    target: String,
    detail: serde_json::Value,
}

impl From<AuditRow> for AuditOut {
    fn from(row: AuditRow) -> AuditOut {
        let AuditRow { seq, record } = row;
        AuditOut {
            seq,
            at: rfc3339(record.at),
            actor: record.actor,
            action: record.action,
            target: record.target,
            detail: record.detail,
        }
    }
}

impl AdminApi {
    /// `GET /v1/audit?since=&until=&cursor=&limit=&action=&target=`: newest first. `action`
    /// is one action (`buyer.pause`) or, without a dot, every action on one kind (`buyer`).
    pub(super) async fn audit(&self, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        let query = Query::parse(query, &["since", "until", "cursor", "limit", "action", "target"])?;
        let filter = |name: &'static str| -> Result<Option<String>, ApiError> {
            match query.get(name) {
                Some(value) if value.len() > MAX_FILTER_LEN => {
                    Err(ApiError::field("invalid_query", name, format!("at most {MAX_FILTER_LEN} characters")))
                }
                value => Ok(value.map(str::to_owned)),
            }
        };
        let audit = AuditQuery {
            since: query.time("since")?,
            until: query.time("until")?,
            action: filter("action")?,
            target: filter("target")?,
            page: query.page()?,
        };
        let page = self.store.audit(audit).await.map_err(store_error)?;
        let page = Page { data: page.data.into_iter().map(AuditOut::from).collect(), next_cursor: page.next_cursor };
        json_answer(StatusCode::OK, &page)
    }
}
