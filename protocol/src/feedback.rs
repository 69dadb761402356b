//! Buyer feedback: dispositions (`POST /v1/leads/{id}/status`) and returns
//! (`POST /v1/leads/{id}/return`), the requests a buyer sends and the answers it gets.
//! Which status may follow which is the engine's rule (see docs/feedback.md); this module only
//! names them.

use serde::{Deserialize, Serialize};

use crate::money::Micros;

/// What became of a lead the buyer bought, as the buyer reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// The buyer reached the person.
    Contacted,
    /// The person is a real prospect.
    Qualified,
    /// The person became a customer (a quote accepted, an application filed).
    Converted,
    /// The deal closed.
    ClosedWon,
    /// The deal was lost.
    ClosedLost,
    /// The lead was bad (wrong number, nobody by that name); returning it is a separate request.
    Invalid,
}

impl Disposition {
    /// Every status, in declaration order (the order of the pipeline, then the two ends).
    pub const ALL: [Disposition; 6] = [
        Disposition::Contacted,
        Disposition::Qualified,
        Disposition::Converted,
        Disposition::ClosedWon,
        Disposition::ClosedLost,
        Disposition::Invalid,
    ];

    /// The wire name, `closed_won`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Contacted => "contacted",
            Disposition::Qualified => "qualified",
            Disposition::Converted => "converted",
            Disposition::ClosedWon => "closed_won",
            Disposition::ClosedLost => "closed_lost",
            Disposition::Invalid => "invalid",
        }
    }

    /// The status with this wire name.
    pub fn parse(name: &str) -> Option<Disposition> {
        Disposition::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Body of `POST /v1/leads/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// The lead's new status.
    pub status: Disposition,
}

/// `200` body of `POST /v1/leads/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The lead.
    pub lead_id: String,
    /// The buyer that bought it (the caller).
    pub buyer_id: String,
    /// Its status now.
    pub status: Disposition,
    /// Its status before this request (null when it had none); equal to `status` when
    /// `changed` is false.
    pub previous_status: Option<Disposition>,
    /// False when the lead already had this status (a retry): nothing was recorded.
    pub changed: bool,
    /// When the lead got its current status, RFC 3339 UTC.
    pub updated_at: String,
}

/// Body of `POST /v1/leads/{id}/return`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// Why: one of the reason codes the broker configured (`[returns] reasons`).
    pub reason_code: String,
    /// Free text for the broker, at most 1,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `200` body of `POST /v1/leads/{id}/return`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnAnswer {
    /// The lead.
    pub lead_id: String,
    /// The buyer that returned it (the caller).
    pub buyer_id: String,
    /// The reason given.
    pub reason_code: String,
    /// What the buyer is credited: the price it paid.
    pub credit: Micros,
    /// When the return was recorded, RFC 3339 UTC.
    pub returned_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for d in Disposition::ALL {
            assert_eq!(Disposition::parse(d.as_str()), Some(d));
            assert_eq!(serde_json::to_value(d).ok(), Some(serde_json::Value::from(d.as_str())));
        }
        assert_eq!(Disposition::parse("won"), None);
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        assert!(serde_json::from_str::<StatusRequest>(r#"{"status": "contacted", "at": 1}"#).is_err());
        assert!(serde_json::from_str::<ReturnRequest>(r#"{"reason_code": "fraud", "credit": "1.00"}"#).is_err());
        let bare: ReturnRequest = serde_json::from_str(r#"{"reason_code": "fraud"}"#).expect("note is optional");
        assert_eq!(bare.note, None);
    }
}
