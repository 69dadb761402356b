//! The ping: the non-personal view of a lead sent to every eligible buyer. It is built from
//! [`Attributes`] alone, a type with no contact fields, so PII cannot reach a ping.
//!
//! All pings of one auction share everything but `ping_id` and `tmax_ms`, so the shared tail
//! is serialized once and each buyer's body is a prefix plus one copy of that tail.

use bytes::{BufMut, Bytes, BytesMut};

use crate::lead::Attributes;

/// The shared part of one auction's pings, serialized once.
#[derive(Debug, Clone)]
pub struct PingTemplate {
    /// `,"vertical":...,"attributes":{...},"test":false}`
    tail: Vec<u8>,
}

/// The ping as a value, for readers (buyers, the simulator, tests).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingIn {
    /// Unique per buyer and auction; echoed in the post.
    pub ping_id: String,
    /// Product line.
    pub vertical: String,
    /// Non-personal attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Milliseconds left for the buyer to answer.
    pub tmax_ms: u32,
    /// Test traffic.
    pub test: bool,
}

impl PingTemplate {
    /// Serializes the shared part of the pings for one lead.
    pub fn new(vertical: &str, attributes: &Attributes, test: bool) -> PingTemplate {
        let mut tail = Vec::with_capacity(256);
        tail.extend_from_slice(b",\"vertical\":");
        // Writing to a Vec cannot fail, and these types serialize infallibly.
        let _ = serde_json::to_writer(&mut tail, vertical);
        tail.extend_from_slice(b",\"attributes\":");
        let _ = serde_json::to_writer(&mut tail, attributes);
        tail.extend_from_slice(if test { b",\"test\":true}" } else { b",\"test\":false}" });
        PingTemplate { tail }
    }

    /// One buyer's ping body. `ping_id` is ours (no characters that need escaping).
    pub fn render(&self, ping_id: &str, tmax_ms: u32) -> Bytes {
        let mut tmax = itoa::Buffer::new();
        let tmax = tmax.format(tmax_ms);
        let mut body = BytesMut::with_capacity(32 + ping_id.len() + tmax.len() + self.tail.len());
        body.put_slice(b"{\"ping_id\":\"");
        body.put_slice(ping_id.as_bytes());
        body.put_slice(b"\",\"tmax_ms\":");
        body.put_slice(tmax.as_bytes());
        body.put_slice(&self.tail);
        body.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::{State, Zip};
    use crate::lead::AttrValue;

    #[test]
    fn rendered_ping_is_the_contract_shape() {
        let attributes = Attributes {
            zip: Zip::parse("02139").expect("zip"),
            state: State::parse("MA").expect("state"),
            extra: vec![
                ("age".into(), AttrValue::Number(42.into())),
                ("credit_tier".into(), AttrValue::Text("good \"ish\"".into())),
            ],
        };
        let body = PingTemplate::new("auto_insurance", &attributes, true).render("pg_1", 97);
        let ping: PingIn = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(ping.ping_id, "pg_1");
        assert_eq!(ping.tmax_ms, 97);
        assert!(ping.test);
        assert_eq!(ping.vertical, "auto_insurance");
        assert_eq!(ping.attributes["zip"], "02139");
        assert_eq!(ping.attributes["state"], "MA");
        assert_eq!(ping.attributes["age"], 42);
        assert_eq!(ping.attributes["credit_tier"], "good \"ish\"");
    }
}
