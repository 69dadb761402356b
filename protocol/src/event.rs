//! Webhook events: the envelope `{"id": "evt_...", "type", "timestamp", "data"}` and the event
//! types of contract v1. Event data never holds contact data (PII): subscribers that need the
//! person read the lead through the API.

use serde::{Deserialize, Serialize};

/// An event type. `lead.in_doubt` extends v1: a crash cut an auction off while a post was in
/// flight, so the lead may have been sold; it is never re-sold automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// A lead was accepted and stored (before any buyer heard of it).
    #[serde(rename = "lead.received")]
    LeadReceived,
    /// A buyer accepted the post.
    #[serde(rename = "lead.sold")]
    LeadSold,
    /// The auction ended without a sale.
    #[serde(rename = "lead.unsold")]
    LeadUnsold,
    /// A buyer rejected the post (or failed or timed out); the cascade went on.
    #[serde(rename = "lead.post_rejected")]
    LeadPostRejected,
    /// A crash interrupted a post: the lead may have reached the buyer.
    #[serde(rename = "lead.in_doubt")]
    LeadInDoubt,
    /// A buyer reported a new disposition.
    #[serde(rename = "lead.status_changed")]
    LeadStatusChanged,
    /// A buyer returned the lead.
    #[serde(rename = "lead.returned")]
    LeadReturned,
    /// A buyer's cap passed its threshold.
    #[serde(rename = "buyer.cap_threshold_reached")]
    BuyerCapThresholdReached,
    /// A buyer's cap is full.
    #[serde(rename = "buyer.cap_reached")]
    BuyerCapReached,
    /// A buyer's circuit breaker opened.
    #[serde(rename = "buyer.circuit_opened")]
    BuyerCircuitOpened,
    /// A buyer's circuit breaker closed.
    #[serde(rename = "buyer.circuit_closed")]
    BuyerCircuitClosed,
}

impl EventType {
    /// Every type, in declaration order.
    pub const ALL: [EventType; 11] = [
        EventType::LeadReceived,
        EventType::LeadSold,
        EventType::LeadUnsold,
        EventType::LeadPostRejected,
        EventType::LeadInDoubt,
        EventType::LeadStatusChanged,
        EventType::LeadReturned,
        EventType::BuyerCapThresholdReached,
        EventType::BuyerCapReached,
        EventType::BuyerCircuitOpened,
        EventType::BuyerCircuitClosed,
    ];

    /// The wire name, `lead.sold`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadReceived => "lead.received",
            EventType::LeadSold => "lead.sold",
            EventType::LeadUnsold => "lead.unsold",
            EventType::LeadPostRejected => "lead.post_rejected",
            EventType::LeadInDoubt => "lead.in_doubt",
            EventType::LeadStatusChanged => "lead.status_changed",
            EventType::LeadReturned => "lead.returned",
            EventType::BuyerCapThresholdReached => "buyer.cap_threshold_reached",
            EventType::BuyerCapReached => "buyer.cap_reached",
            EventType::BuyerCircuitOpened => "buyer.circuit_opened",
            EventType::BuyerCircuitClosed => "buyer.circuit_closed",
        }
    }

    /// The type with this wire name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The envelope every subscriber receives (before its payload settings reshape `data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// `evt_<uuid v7>`: the same on every retry and replay, for the subscriber's dedupe.
    pub id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened, RFC 3339 UTC.
    pub timestamp: String,
    /// The event's fields; lead events carry `lead_id` and `sequence` (1, 2, ... per lead, in
    /// the order the events happened).
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).ok(), Some(serde_json::Value::from(t.as_str())));
        }
        assert_eq!(EventType::parse("lead.bought"), None);
    }
}
