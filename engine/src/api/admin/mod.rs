//! The admin API for buyers and publishers, and the audit log (admin keys only).
//!
//! | Method and path | |
//! |---|---|
//! | `GET /v1/buyers`, `POST /v1/buyers` | list (keyset by id), create (201; 409 `already_exists`) |
//! | `GET`, `PUT`, `PATCH`, `DELETE /v1/buyers/{id}` | read, replace, merge patch (RFC 7386), delete (204) |
//! | `POST /v1/buyers/{id}/pause`, `/resume` | `paused = true`, or back to unpaused |
//! | the same under `/v1/publishers` | pause and resume set `enabled` |
//! | `GET /v1/audit?since=&until=&cursor=&limit=&action=&target=` | who changed what, newest first |
//!
//! A body is exactly a `[[buyers]]` or `[[publishers]]` entry of engine.toml as JSON, checked by
//! the config's own rules over the whole candidate config (`change.rs`). A change is applied
//! under one lock: validated, written with its audit row in one transaction, then put in force
//! for the next auction (config, buyer registry, keys) without a restart. Stored changes are
//! laid over the config file at every start (`stored.rs`). Answers and audit rows redact
//! secrets (`redact.rs`). See docs/admin-api.md.

pub mod audit;
mod change;
mod directory;
mod merge;
mod redact;
mod stored;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response};
use http_body_util::Full;
use hyper::body::Incoming;

use super::auth::{Caller, Keys, Role};
use super::error::ApiError;
use super::routes::{Endpoint, Kind, scope_of};
use crate::buyers::LiveRegistry;
use crate::config::{EntryKind, LiveConfig};
use crate::store::Store;

pub use stored::stored_config;

/// Largest request body: a buyer with a payload mapping and many rules is a few KiB.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Most entries of one kind: far above any broker's buyer list, and a bound on how much one
/// change rebuilds.
const MAX_ENTRIES: usize = 10_000;

/// The admin API: buyers, publishers and the audit log.
#[derive(Debug)]
pub struct AdminApi {
    /// Where changes and audit rows are written.
    store: Arc<dyn Store>,
    /// The config in force, replaced on every change.
    config: Arc<LiveConfig>,
    /// The buyer snapshot the auctions take, replaced on every buyer change.
    registry: Arc<LiveRegistry>,
    /// The keys the API accepts, rebuilt on every change (a disabled publisher's fail at once).
    keys: Arc<Keys>,
    /// Changes one at a time: each builds on the config the previous one put in force. Never
    /// taken on the hot path.
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl AdminApi {
    /// Over `store`, changing `config`, `registry` and `keys` in force.
    pub fn new(
        store: Arc<dyn Store>,
        config: Arc<LiveConfig>,
        registry: Arc<LiveRegistry>,
        keys: Arc<Keys>,
    ) -> AdminApi {
        AdminApi { store, config, registry, keys, lock: Arc::new(tokio::sync::Mutex::new(())) }
    }

    /// Answers one request for `endpoint` (its method and the caller's scope already checked).
    pub async fn handle(
        &self,
        caller: &Caller,
        endpoint: Endpoint<'_>,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        caller.require(Role::Admin, scope_of(&parts.method))?;
        let query = parts.uri.query();
        match (endpoint, &parts.method) {
            (Endpoint::Directory(kind), &Method::GET) => self.list(kind, query),
            (Endpoint::Directory(kind), _) => {
                self.create(caller, kind, super::body::read_json(&parts.headers, body, MAX_BODY_BYTES).await?).await
            }
            (Endpoint::Entry(kind, id), &Method::GET) => self.get(kind, id),
            (Endpoint::Entry(kind, id), &Method::PUT) => {
                self.replace(caller, kind, id, super::body::read_json(&parts.headers, body, MAX_BODY_BYTES).await?)
                    .await
            }
            (Endpoint::Entry(kind, id), &Method::PATCH) => {
                self.patch(caller, kind, id, super::body::read_json(&parts.headers, body, MAX_BODY_BYTES).await?).await
            }
            (Endpoint::Entry(kind, id), _) => self.delete(caller, kind, id).await,
            (Endpoint::Pause(kind, id, pause), _) => self.pause(caller, kind, id, pause).await,
            (Endpoint::Audit, _) => self.audit(query).await,
            _ => Err(super::no_such_endpoint()),
        }
    }
}

/// The config table of a kind.
fn entry_kind(kind: Kind) -> EntryKind {
    match kind {
        Kind::Buyer => EntryKind::Buyer,
        Kind::Publisher => EntryKind::Publisher,
    }
}
