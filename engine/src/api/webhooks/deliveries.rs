//! The delivery log and replays: a subscription's deliveries with every attempt, the
//! dead-letter list, and re-sending one delivery or every event of a time range. A replay
//! re-sends the same event with the same id (`webhook-id`), so receivers that dedupe keep
//! working; the store wakes the dispatcher itself.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::query::Query;
use super::views::{DeliveryOut, json, page};
use super::{WebhookApi, not_found, store_error};
use crate::api::error::ApiError;
use crate::protocol::event::EventType;
use crate::store::now_ms;
use crate::store::{DeliveryQuery, Write};

/// Delivery states a filter may name.
const STATUSES: [&str; 3] = ["pending", "delivered", "dead"];

/// The answer of a replay.
#[derive(Debug, Serialize)]
struct Replayed {
    /// Deliveries made pending again (or created).
    replayed: u64,
}

impl WebhookApi {
    /// `GET /v1/webhooks/{id}/deliveries?status=&event_type=&since=&until=&cursor=&limit=`.
    pub(super) async fn deliveries(&self, id: &str, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        let query = Query::parse(query, &["status", "event_type", "since", "until", "cursor", "limit"])?;
        let status = query.get("status").map(|s| {
            STATUSES
                .contains(&s)
                .then(|| s.to_owned())
                .ok_or_else(|| ApiError::field("invalid_status", "status", "must be pending, delivered or dead"))
        });
        let event_type = query.get("event_type").map(|t| {
            EventType::parse(t)
                .map(|t| t.as_str().to_owned())
                .ok_or_else(|| ApiError::field("invalid_event", "event_type", "not an event type"))
        });
        let filter = DeliveryQuery {
            subscription_id: id.to_owned(),
            status: status.transpose()?,
            event_type: event_type.transpose()?,
            since: query.time("since")?,
            until: query.time("until")?,
            page: query.page()?,
        };
        self.existing(id).await?;
        let found = self.store.deliveries(filter).await.map_err(store_error)?;
        json(StatusCode::OK, &page(found, DeliveryOut::from))
    }

    /// `GET /v1/dead-letters?cursor=&limit=`.
    pub(super) async fn dead_letters(&self, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        let request = Query::parse(query, &["cursor", "limit"])?.page()?;
        let found = self.store.dead_letters(request).await.map_err(store_error)?;
        json(StatusCode::OK, &page(found, DeliveryOut::from))
    }

    /// `POST /v1/deliveries/{id}/replay`: pending again, due now (202; 404 unknown).
    pub(super) async fn replay_delivery(
        &self,
        id: &str,
        query: Option<&str>,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        Query::parse(query, &[])?;
        let delivery_id = id.parse::<i64>().map_err(|_| not_found("delivery", id))?;
        let replayed = self.commit(Write::ReplayDelivery { delivery_id, now: now_ms() }).await?;
        if replayed == 0 {
            return Err(not_found("delivery", id));
        }
        json(StatusCode::ACCEPTED, &Replayed { replayed })
    }

    /// `POST /v1/webhooks/{id}/replay?since=&until=`: every event of the subscription's types
    /// in `[since, until)` (until defaults to now) is delivered again (202, with the count).
    pub(super) async fn replay_range(&self, id: &str, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
        let query = Query::parse(query, &["since", "until"])?;
        let now = now_ms();
        let since = query
            .time("since")?
            .ok_or_else(|| ApiError::field("missing_parameter", "since", "`since` is required (RFC 3339)"))?;
        let until = query.time("until")?.unwrap_or(now);
        if since >= until {
            return Err(ApiError::field("invalid_range", "until", "`until` must be after `since`"));
        }
        self.existing(id).await?;
        let replayed = self.commit(Write::ReplayRange { subscription_id: id.to_owned(), since, until, now }).await?;
        json(StatusCode::ACCEPTED, &Replayed { replayed })
    }
}
