//! Reports over a time range: `GET /v1/reports/buyers` and `GET /v1/reports/publishers`
//! (see docs/pull-and-reports.md).
//!
//! Every figure counts the non-test leads *received* in `[since, until)` (default: the last
//! 24 hours; at most 366 days), whenever their pings, sales or returns happened. An admin
//! sees a row per buyer (or publisher) with activity, optionally one, with the revenue split
//! into the publishers' payout and the broker's margin; a buyer key only its own row in the
//! buyer report (without that split), a publisher key only its own in the publisher report
//! (its payout; no buyer prices, no margin), each always answered (zeros without activity);
//! the other report is 403. The reads run on the
//! store's reader connections, never on the auction's path. Submodules: `range` (the time
//! range) and `rows` (the figures as answered).

mod range;
mod rows;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::auth::{Caller, Role, forbidden};
use super::error::{ApiError, store_error};
use super::query::Query;
use super::read_gate::ReadGate;
use super::routes::Endpoint;
use super::{json_answer, no_such_endpoint};
use crate::store::reports::{BuyerFigures, PublisherFigures, ReportQuery};
use crate::store::{Store, now_ms, rfc3339};
use rows::{BuyerRow, PublisherRow};

/// Reports over a time range: `GET /v1/reports/buyers` and `GET /v1/reports/publishers`.
#[derive(Debug)]
pub struct ReportsApi {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Turns for these reads, shared with the other heavy readers.
    pub reads: Arc<ReadGate>,
}

/// A report: its range and its rows.
#[derive(Debug, Serialize)]
struct Report<T> {
    since: Option<String>,
    until: Option<String>,
    data: Vec<T>,
}

impl ReportsApi {
    /// Over `store`, taking turns at `reads`.
    pub fn new(store: Arc<dyn Store>, reads: Arc<ReadGate>) -> ReportsApi {
        ReportsApi { store, reads }
    }

    /// Answers one request for `endpoint` (its method and the caller's scope already checked).
    pub async fn handle(
        &self,
        caller: &Caller,
        endpoint: Endpoint<'_>,
        parts: &Parts,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        match endpoint {
            Endpoint::BuyerReport => self.buyers(caller, parts.uri.query()).await,
            Endpoint::PublisherReport => self.publishers(caller, parts.uri.query()).await,
            _ => Err(no_such_endpoint()),
        }
    }

    /// `GET /v1/reports/buyers?since=&until=&buyer_id=`.
    async fn buyers(&self, caller: &Caller, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        if caller.role == Role::Publisher {
            return Err(forbidden("the buyer report takes an admin or buyer key"));
        }
        let query = Query::parse(query, &["since", "until", "buyer_id"])?;
        let report = report_query(caller, &query, "buyer_id", Role::Buyer)?;
        let _turn = self.reads.turn().await?;
        let figures = self.store.buyer_report(report.clone()).await.map_err(store_error)?;
        let data =
            rows_or_zeros(figures, report.only.as_deref(), |buyer_id| BuyerFigures { buyer_id, ..Default::default() });
        let rows = data.iter().map(BuyerRow::from);
        if caller.role == Role::Buyer {
            answer(&report, rows.map(BuyerRow::for_buyer).collect())
        } else {
            answer(&report, rows.collect())
        }
    }

    /// `GET /v1/reports/publishers?since=&until=&publisher_id=`.
    async fn publishers(&self, caller: &Caller, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        if caller.role == Role::Buyer {
            return Err(forbidden("the publisher report takes an admin or publisher key"));
        }
        let query = Query::parse(query, &["since", "until", "publisher_id"])?;
        let report = report_query(caller, &query, "publisher_id", Role::Publisher)?;
        let _turn = self.reads.turn().await?;
        let figures = self.store.publisher_report(report.clone()).await.map_err(store_error)?;
        let data = rows_or_zeros(figures, report.only.as_deref(), |publisher_id| PublisherFigures {
            publisher_id,
            ..Default::default()
        });
        let rows = data.iter().map(PublisherRow::from);
        if caller.role == Role::Publisher {
            answer(&report, rows.map(PublisherRow::for_publisher).collect())
        } else {
            answer(&report, rows.collect())
        }
    }
}

/// The range and whose row: an admin's `field` filter, or the caller's own id when it has the
/// report's `own` role (naming another id in `field` is a 403).
fn report_query(caller: &Caller, query: &Query, field: &'static str, own: Role) -> Result<ReportQuery, ApiError> {
    let (since, until) = range::of(query, now_ms())?;
    let named = query.get(field);
    if named.is_some_and(|id| crate::config::check_id(id).is_err()) {
        return Err(ApiError::field("invalid_id", field, "ids are 1-64 letters, digits, `_`, `-`, `.`"));
    }
    let only = if caller.role == own {
        if named.is_some_and(|id| id != &*caller.id) {
            return Err(forbidden(format!("this key reads only its own row: leave out {field}")));
        }
        Some(caller.id.to_string())
    } else {
        named.map(str::to_owned)
    };
    Ok(ReportQuery { since, until, only })
}

/// The rows found; for a report of one named buyer or publisher without activity, its row of
/// zeros (a caller asking about one always gets that one).
fn rows_or_zeros<T>(mut rows: Vec<T>, only: Option<&str>, zeros: fn(String) -> T) -> Vec<T> {
    if rows.is_empty()
        && let Some(id) = only
    {
        rows.push(zeros(id.to_owned()));
    }
    rows
}

fn answer<T: Serialize>(report: &ReportQuery, data: Vec<T>) -> Result<Response<Full<Bytes>>, ApiError> {
    json_answer(StatusCode::OK, &Report { since: rfc3339(report.since), until: rfc3339(report.until), data })
}
