//! `POST /v1/leads/{id}/return` `{"reason_code": "invalid_phone", "note": "..."}`: the buyer
//! gives a lead back within its return window and is credited the price it paid. A lead is
//! returned once; a `converted` or `closed_won` lead cannot be returned. The return, its
//! credit and its `lead.returned` event are one transaction.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use super::window::{Window, return_window};
use super::{FeedbackApi, MAX_DECISIONS, conflict, lead_event, parse, time, too_many_races};
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::protocol::event::EventType;
use crate::protocol::feedback::{Disposition, ReturnAnswer, ReturnRequest};
use crate::protocol::money::Micros;
use crate::store::feedback::{Sale, SaleReturned};
use crate::store::{UnixMs, Write};

/// Longest note, in characters: room for what the call center saw, not for a transcript.
const MAX_NOTE_CHARS: usize = 1_000;

impl FeedbackApi {
    /// `POST /v1/leads/{id}/return`.
    pub(super) async fn return_lead(
        &self,
        caller: &Caller,
        lead_id: &str,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let ReturnRequest { reason_code, note } = parse(&body)?;
        let config = self.config.current();
        let reasons = &config.returns.reasons;
        if !reasons.contains(&reason_code) {
            return Err(ApiError::field(
                "invalid_reason_code",
                "reason_code",
                format!("`reason_code` must be one of {}", reasons.join(", ")),
            ));
        }
        if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
            return Err(ApiError::field(
                "note_too_long",
                "note",
                format!("`note` must be at most {MAX_NOTE_CHARS} characters"),
            ));
        }
        let hours = config.return_window_hours(&caller.id);
        for _ in 0..MAX_DECISIONS {
            let sale = self.sale(lead_id, &caller.id).await?;
            let at = crate::store::now_ms();
            if let Some(refused) = refusal(&sale, hours, at) {
                return Err(refused);
            }
            let credit = Micros(sale.price);
            let event = lead_event(
                EventType::LeadReturned,
                &sale,
                at,
                [
                    ("reason_code", json!(reason_code)),
                    ("note", json!(note)),
                    ("credit", json!(credit.to_string())),
                    ("sold_at", json!(time(sale.sold_at))),
                ],
            );
            let write = SaleReturned {
                sale_seq: sale.seq,
                status: sale.status,
                at,
                reason_code: reason_code.clone(),
                note: note.clone(),
                event,
            };
            if self.commit(Write::SaleReturned(Box::new(write))).await? {
                tracing::info!(lead_id, buyer_id = %caller.id, reason_code, %credit, "lead returned");
                let body = ReturnAnswer {
                    lead_id: sale.lead_id,
                    buyer_id: sale.buyer_id,
                    reason_code,
                    credit,
                    returned_at: time(at),
                };
                return crate::api::json_answer(StatusCode::OK, &body);
            }
        }
        Err(too_many_races(lead_id))
    }
}

/// Why `sale` cannot be returned at `now` by a buyer with a window of `hours`, if it cannot.
fn refusal(sale: &Sale, hours: u32, now: UnixMs) -> Option<ApiError> {
    let lead_id = &sale.lead_id;
    if let Some(returned_at) = sale.returned_at {
        return Some(conflict(
            "already_returned",
            format!("lead `{lead_id}` was already returned at {}", time(returned_at)),
        ));
    }
    if let Some(status @ (Disposition::Converted | Disposition::ClosedWon)) = sale.status {
        return Some(conflict(
            "lead_converted",
            format!("lead `{lead_id}` is `{status}`: a converted lead cannot be returned"),
        ));
    }
    let sold = time(sale.sold_at);
    match return_window(sale.sold_at, hours, now) {
        Window::Open => None,
        Window::Closed { closed_at } => Some(conflict(
            "return_window_closed",
            format!(
                "lead `{lead_id}` was sold at {sold}; its {hours}-hour return window closed at {}",
                time(closed_at)
            ),
        )),
        Window::NoReturns => Some(conflict(
            "return_window_closed",
            format!(
                "lead `{lead_id}` was sold at {sold}; buyer `{}` has no return window (return_window_hours = 0)",
                sale.buyer_id
            ),
        )),
    }
}
