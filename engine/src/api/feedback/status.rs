//! `POST /v1/leads/{id}/status` `{"status": "contacted"}`: the buyer reports what became of a
//! lead it bought. A change is checked against the transition rules ([`super::transition`])
//! and recorded with a history row and a `lead.status_changed` event; the same status again is
//! answered `"changed": false` and records nothing (buyers retry).

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use super::transition::{Transition, transition};
use super::{FeedbackApi, MAX_DECISIONS, conflict, lead_event, parse, time, too_many_races};
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::protocol::event::EventType;
use crate::protocol::feedback::{Disposition, StatusAnswer, StatusRequest};
use crate::store::feedback::{Sale, SaleStatusChanged};
use crate::store::{UnixMs, Write};

impl FeedbackApi {
    /// `POST /v1/leads/{id}/status`.
    pub(super) async fn status(
        &self,
        caller: &Caller,
        lead_id: &str,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let StatusRequest { status } = parse(&body).map_err(status_error)?;
        for _ in 0..MAX_DECISIONS {
            let sale = self.sale(lead_id, &caller.id).await?;
            let verdict = transition(sale.status, status);
            if verdict == Transition::Unchanged {
                let since = sale.status_at.unwrap_or(sale.sold_at);
                return answer(&sale, status, sale.status, false, since);
            }
            if let Some(returned_at) = sale.returned_at {
                return Err(conflict(
                    "lead_returned",
                    format!("lead `{lead_id}` was returned at {}: its status is final", time(returned_at)),
                ));
            }
            if let Transition::Refused(rule) = verdict {
                let from = sale.status.map_or("no status".to_owned(), |s| format!("`{s}`"));
                return Err(conflict(
                    "invalid_transition",
                    format!("lead `{lead_id}` cannot go from {from} to `{status}`: {rule}"),
                ));
            }
            let at = crate::store::now_ms();
            let event = lead_event(
                EventType::LeadStatusChanged,
                &sale,
                at,
                [("previous_status", json!(sale.status)), ("status", json!(status))],
            );
            let change = SaleStatusChanged {
                sale_seq: sale.seq,
                previous: sale.status,
                status,
                at,
                key_id: caller.key_id.to_string(),
                event,
            };
            if self.commit(Write::SaleStatusChanged(Box::new(change))).await? {
                tracing::info!(lead_id, buyer_id = %caller.id, %status, "lead status changed");
                return answer(&sale, status, sale.status, true, at);
            }
        }
        Err(too_many_races(lead_id))
    }
}

fn answer(
    sale: &Sale,
    status: Disposition,
    previous_status: Option<Disposition>,
    changed: bool,
    updated_at: UnixMs,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = StatusAnswer {
        lead_id: sale.lead_id.clone(),
        buyer_id: sale.buyer_id.clone(),
        status,
        previous_status,
        changed,
        updated_at: time(updated_at),
    };
    crate::api::json_answer(StatusCode::OK, &body)
}

/// A bad `status` names every status there is.
fn status_error(error: ApiError) -> ApiError {
    if error.field.as_deref() != Some("status") || error.code != "invalid_type" {
        return error;
    }
    let names: Vec<&str> = Disposition::ALL.iter().map(|d| d.as_str()).collect();
    ApiError::field("invalid_status", "status", format!("`status` must be one of {}", names.join(", ")))
}
