//! Buyer feedback: dispositions (`POST /v1/leads/{id}/status`, [`status`]) and returns
//! (`POST /v1/leads/{id}/return`, [`returns`]). Buyer keys only, and a buyer sees only the
//! leads it bought: another buyer's lead answers the same 404 as an unknown one.
//!
//! Each request reads the sale, decides with a plain function of what it read
//! ([`transition`], [`window`]) and writes its change with its event in one transaction,
//! conditional on the state it decided from. A request that loses a race with another one on
//! the same lead changes nothing, reads the sale again and decides again: of two concurrent
//! reports from one state only one applies, and of concurrent returns exactly one.

mod returns;
mod status;
mod transition;
mod window;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::{Caller, Role, Scope};
use super::error::{ApiError, store_error};
use super::routes::Endpoint;
use crate::auction::journal;
use crate::config::LiveConfig;
use crate::protocol::event::EventType;
use crate::store::feedback::Sale;
use crate::store::{NewEvent, Store, UnixMs, Write};

/// Largest request body: both requests are a few dozen bytes, a note at most 4 KiB of UTF-8.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// How many times one request decides again after losing a race. Every lost race means the
/// lead's state moved on, and it can move at most five times (four statuses, then a return),
/// so this is never reached unless the store misbehaves.
const MAX_DECISIONS: usize = 8;

/// Buyer feedback: dispositions (`POST /v1/leads/{id}/status`) and returns (`POST /v1/leads/{id}/return`).
#[derive(Debug)]
pub struct FeedbackApi {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The config in force: return reasons and windows are read from it per request.
    pub config: Arc<LiveConfig>,
}

impl FeedbackApi {
    /// Over `store`, with the config in force.
    pub fn new(store: Arc<dyn Store>, config: Arc<LiveConfig>) -> FeedbackApi {
        FeedbackApi { store, config }
    }

    /// Answers one request for `endpoint` (its method and the caller's scope already checked).
    pub async fn handle(
        &self,
        caller: &Caller,
        endpoint: Endpoint<'_>,
        parts: &Parts,
        body: Incoming,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        caller.require(Role::Buyer, Scope::Write)?;
        let body = super::body::read_json(&parts.headers, body, MAX_BODY_BYTES).await?;
        match endpoint {
            Endpoint::LeadStatus(lead_id) => self.status(caller, lead_id, body).await,
            Endpoint::LeadReturn(lead_id) => self.return_lead(caller, lead_id, body).await,
            _ => Err(super::no_such_endpoint()),
        }
    }

    /// The sale of `lead_id` to the caller: 404 for an unknown lead and for another buyer's
    /// alike, so a buyer learns nothing of leads it did not buy.
    async fn sale(&self, lead_id: &str, buyer_id: &str) -> Result<Sale, ApiError> {
        self.store.sale(lead_id, buyer_id).await.map_err(store_error)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no lead `{lead_id}` bought by buyer `{buyer_id}`"),
            )
        })
    }

    /// Writes one change and waits for its commit: whether it applied (false: the sale was no
    /// longer in the state the change was decided from).
    async fn commit(&self, write: Write) -> Result<bool, ApiError> {
        let rows = self.store.write(vec![write]).map_err(store_error)?.await.map_err(store_error)?;
        Ok(rows > 0)
    }
}

/// Parses a request body: a JSON object of the request's fields and nothing else; an error
/// names the field at fault.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    super::body::typed(body, "this request")
}

/// A lead event about `sale`: the fields every lead event starts with (as the auction writes
/// them), the buyer, then `fields`.
fn lead_event<const N: usize>(kind: EventType, sale: &Sale, at: UnixMs, fields: [(&str, Value); N]) -> NewEvent {
    let mut data = journal::lead_fields(&sale.lead_id, &sale.publisher_id, &sale.vertical, sale.test);
    data.insert("buyer_id".into(), sale.buyer_id.clone().into());
    data.extend(fields.into_iter().map(|(name, value)| (name.to_owned(), value)));
    journal::event(kind, &sale.lead_id, at, data)
}

/// `at` as RFC 3339 for an answer or a message.
fn time(at: UnixMs) -> String {
    crate::store::rfc3339(at).unwrap_or_else(|| format!("{at} ms since the Unix epoch"))
}

/// A 409: the request is well formed, but the lead's state refuses it.
fn conflict(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// 409 after [`MAX_DECISIONS`] lost races.
fn too_many_races(lead_id: &str) -> ApiError {
    conflict("concurrent_update", format!("lead `{lead_id}` kept changing while this request was decided; retry it"))
}
