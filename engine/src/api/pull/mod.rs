//! Reading leads back: `GET /v1/leads` (keyset pagination, filters) and `GET /v1/leads/{id}`,
//! each role seeing only its own (see docs/pull-and-reports.md).
//!
//! | Role | `GET /v1/leads` walks | `GET /v1/leads/{id}` |
//! |---|---|---|
//! | buyer | the sales to it (its own price), with the PII it bought | a lead it bought (else 404), its own sale, pings and posts |
//! | publisher | its leads: outcome, payout, attributes, source; no buyer data, no contact | its lead's outcome, payout and timings |
//! | admin | every lead once, with its sales (price, payout, margin), disposition and PII | everything the store holds of it |
//!
//! Submodules: `params` (the query string to a store query), `views` (the list items) and
//! `detail` (the single lead).

mod detail;
mod params;
mod views;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::auth::{Caller, Role};
use super::error::{ApiError, store_error};
use super::query::Query;
use super::read_gate::ReadGate;
use super::routes::Endpoint;
use super::{json_answer, no_such_endpoint};
use crate::store::Store;
use crate::store::pull::LeadRow;

/// Reading leads back: `GET /v1/leads` (keyset pagination, filters) and `GET /v1/leads/{id}`, each role seeing only its own.
#[derive(Debug)]
pub struct PullApi {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Turns for these reads, shared with the other heavy readers.
    pub reads: Arc<ReadGate>,
}

/// A page of leads: the shared `{"data", "next_cursor"}` page plus `resume_cursor`.
#[derive(Debug, Serialize)]
struct LeadPage<T> {
    /// The leads, in walk order.
    data: Vec<T>,
    /// The next page's cursor; `null` on the last page.
    next_cursor: Option<String>,
    /// Where to pick the walk up later, for leads that arrive after this page: after its last
    /// lead (on an empty page, the cursor that was sent); `null` when the walk has seen none.
    resume_cursor: Option<String>,
}

impl PullApi {
    /// Over `store`, taking turns at `reads`.
    pub fn new(store: Arc<dyn Store>, reads: Arc<ReadGate>) -> PullApi {
        PullApi { store, reads }
    }

    /// Answers one request for `endpoint` (its method and the caller's scope already checked).
    pub async fn handle(
        &self,
        caller: &Caller,
        endpoint: Endpoint<'_>,
        parts: &Parts,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        match endpoint {
            Endpoint::Leads => self.list(caller, parts.uri.query()).await,
            Endpoint::Lead(id) => self.one(caller, id, parts.uri.query()).await,
            _ => Err(no_such_endpoint()),
        }
    }

    /// `GET /v1/leads?cursor=&limit=&since=&until=&status=&vertical=&outcome=`.
    async fn list(&self, caller: &Caller, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        let query = params::lead_query(caller, query)?;
        let sent_cursor = query.page.after.clone();
        let _turn = self.reads.turn().await?;
        let page = self.store.leads(query).await.map_err(store_error)?;
        let resume_cursor = match caller.role {
            Role::Buyer => page.data.last().map(|row| row.cursor.clone()).or(sent_cursor),
            // A publisher or admin polling for outcomes comes back to a lead still running.
            Role::Publisher | Role::Admin => before_running(&page.data, sent_cursor),
        };
        let next_cursor = page.next_cursor;
        match caller.role {
            Role::Buyer => answer(page.data, views::BuyerItem::new, next_cursor, resume_cursor),
            Role::Publisher => answer(page.data, views::PublisherItem::new, next_cursor, resume_cursor),
            Role::Admin => answer(page.data, views::AdminItem::new, next_cursor, resume_cursor),
        }
    }

    /// `GET /v1/leads/{id}`: 404 for a lead the caller may not see, as for an unknown one.
    async fn one(&self, caller: &Caller, id: &str, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        Query::parse(query, &[])?;
        let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no lead `{id}`"));
        // A buyer's ownership is one indexed lookup, made first: a lead it did not buy is
        // answered as fast as one that does not exist.
        if caller.role == Role::Buyer && self.store.sale(id, &caller.id).await.map_err(store_error)?.is_none() {
            return Err(not_found());
        }
        let _turn = self.reads.turn().await?;
        let lead = self.store.lead(id).await.map_err(store_error)?.ok_or_else(not_found)?;
        match caller.role {
            Role::Admin => json_answer(StatusCode::OK, &detail::AdminLead::new(&lead)?),
            Role::Buyer => {
                json_answer(StatusCode::OK, &detail::BuyerLead::new(&lead, &caller.id)?.ok_or_else(not_found)?)
            }
            Role::Publisher => {
                json_answer(StatusCode::OK, &detail::PublisherLead::new(&lead, &caller.id)?.ok_or_else(not_found)?)
            }
        }
    }
}

/// The page answer, each row shown by `view`.
fn answer<T: Serialize>(
    rows: Vec<LeadRow>,
    view: fn(LeadRow) -> Result<T, ApiError>,
    next_cursor: Option<String>,
    resume_cursor: Option<String>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let data = rows.into_iter().map(view).collect::<Result<Vec<T>, ApiError>>()?;
    json_answer(StatusCode::OK, &LeadPage { data, next_cursor, resume_cursor })
}

/// The cursor after the last lead of `rows` that comes before the first one still running (its
/// outcome not known yet), or `sent` when the first one is running or there are none: a walk
/// resumed there sees every running lead again, with its outcome.
fn before_running(rows: &[LeadRow], sent: Option<String>) -> Option<String> {
    rows.iter().take_while(|row| row.status != "running").last().map(|row| row.cursor.clone()).or(sent)
}
