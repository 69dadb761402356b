//! The checker's test traffic: pings in the exact v1 shape, built with the engine's own
//! [`PingTemplate`] from the varied attributes of the synthetic [`LeadFactory`] (states, ZIPs,
//! verticals, credit tiers, ages), all marked `"test": true`; and the test post, the engine's
//! own [`PostRequest`] with a contact that is plainly not a person.

use bytes::Bytes;
use lead_protocol::geo::{State, Zip};
use lead_protocol::ids;
use lead_protocol::lead::{AttrValue, Attributes, Consent, Contact};
use lead_protocol::money::Micros;
use lead_protocol::ping::PingTemplate;
use lead_protocol::post::PostRequest;
use serde_json::Value;

use crate::leads::LeadFactory;

/// Fixed, so every run sends the same attribute mix and two runs' reports compare.
const TRAFFIC_SEED: u64 = 0x0C4E_C0DE;

/// One test ping, kept to build the post that follows it.
#[derive(Debug, Clone)]
pub struct TestPing {
    /// The ping's id, as sent (`pg_...`).
    pub ping_id: String,
    /// Product line.
    pub vertical: String,
    /// The non-personal attributes sent.
    pub attributes: Attributes,
    /// The body as sent.
    pub body: Bytes,
}

/// `count` test pings (at least one) announcing `tmax_ms`. With `verticals`, they take turns
/// over it; without, the lead factory's realistic mix.
pub fn pings(count: u32, tmax_ms: u32, verticals: &[String]) -> Vec<TestPing> {
    let mut factory = LeadFactory::new(TRAFFIC_SEED, 0);
    (0..count.max(1) as usize)
        .map(|i| {
            let lead = factory.next_lead();
            let vertical = match verticals {
                [] => lead["vertical"].as_str().expect("the lead factory names a vertical").to_owned(),
                chosen => chosen[i % chosen.len()].clone(),
            };
            let attributes = attributes_of(&lead["attributes"]);
            let ping_id = ids::ping_id();
            let body = PingTemplate::new(&vertical, &attributes, true).render(&ping_id, tmax_ms);
            TestPing { ping_id, vertical, attributes, body }
        })
        .collect()
}

/// The post body for `ping`, at `price`, echoing `bid_id`, with the test contact.
pub fn post_body(ping: &TestPing, price: Micros, bid_id: Option<&str>) -> Bytes {
    let lead_id = ids::lead_id();
    let contact = test_contact();
    let consent = test_consent();
    let post = PostRequest {
        ping_id: &ping.ping_id,
        bid_id,
        price,
        lead_id: &lead_id,
        vertical: &ping.vertical,
        attributes: &ping.attributes,
        contact: &contact,
        consent: Some(&consent),
        test: true,
    };
    // These types serialize infallibly (string keys, no floats).
    Bytes::from(serde_json::to_vec(&post).unwrap_or_default())
}

/// A contact no one could mistake for a person: a name that says so, a reserved example
/// domain, and a 555-01xx number (reserved for fiction).
fn test_contact() -> Contact {
    Contact {
        first_name: "Test".into(),
        last_name: "Lead".into(),
        email: "test@example.com".into(),
        phone: "+12065550100".into(),
        address: Some("1 Test Street".into()),
        city: Some("Testville".into()),
    }
}

/// Consent evidence from a documentation address range (TEST-NET-3), saying what it is.
fn test_consent() -> Consent {
    Consent {
        ip: Some("203.0.113.9".into()),
        consent_text: Some("Test lead sent by bidder-sim check: not a real person. Do not contact.".into()),
        ..Consent::default()
    }
}

/// The factory's attributes as the engine's [`Attributes`]: the factory writes a valid ZIP
/// and state and scalar extras (the unit test below holds it to that).
fn attributes_of(json: &Value) -> Attributes {
    let text = |key: &str| json[key].as_str().unwrap_or_default();
    let mut extra: Vec<(Box<str>, AttrValue)> = json
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| !matches!(key.as_str(), "zip" | "state"))
        .filter_map(|(key, value)| {
            let value = match value {
                Value::String(text) => AttrValue::Text(text.as_str().into()),
                Value::Number(number) => AttrValue::Number(number.clone()),
                Value::Bool(flag) => AttrValue::Bool(*flag),
                _ => return None,
            };
            Some((key.as_str().into(), value))
        })
        .collect();
    extra.sort_by(|a, b| a.0.cmp(&b.0));
    Attributes {
        zip: Zip::parse(text("zip")).expect("the lead factory writes valid ZIPs"),
        state: State::parse(text("state")).expect("the lead factory writes valid states"),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use lead_protocol::ping::PingIn;

    use super::*;

    #[test]
    fn pings_are_v1_test_pings_with_varied_attributes() {
        let pings = pings(40, 100, &[]);
        let parsed: Vec<PingIn> =
            pings.iter().map(|p| serde_json::from_slice(&p.body).expect("v1 ping shape")).collect();
        assert!(parsed.iter().all(|p| p.test && p.tmax_ms == 100));
        let distinct = |key: &str| parsed.iter().map(|p| p.attributes[key].to_string()).collect::<HashSet<_>>().len();
        assert!(distinct("state") > 5 && distinct("zip") > 5 && distinct("credit_tier") > 2 && distinct("age") > 5);
        assert!(parsed.iter().map(|p| &p.vertical).collect::<HashSet<_>>().len() > 1, "varied verticals");
        assert_eq!(parsed.iter().map(|p| &p.ping_id).collect::<HashSet<_>>().len(), 40, "unique ping ids");
    }

    #[test]
    fn chosen_verticals_take_turns() {
        let chosen = ["solar".to_owned(), "mortgage".to_owned()];
        let verticals: Vec<String> = pings(4, 100, &chosen).into_iter().map(|p| p.vertical).collect();
        assert_eq!(verticals, ["solar", "mortgage", "solar", "mortgage"]);
    }

    #[test]
    fn the_post_is_a_v1_post_of_a_test_lead() {
        let ping = pings(1, 100, &[]).remove(0);
        let post: Value = serde_json::from_slice(&post_body(&ping, Micros(12_500_000), Some("b1"))).expect("JSON");
        assert_eq!(post["ping_id"], ping.ping_id.as_str());
        assert_eq!(
            (&post["bid_id"], &post["price"], &post["test"]),
            (&Value::from("b1"), &Value::from("12.50"), &Value::Bool(true))
        );
        assert_eq!(post["contact"]["first_name"], "Test");
        assert_eq!(post["contact"]["email"], "test@example.com");
        assert!(post["lead_id"].as_str().is_some_and(|id| id.starts_with("ld_")));
        let ping_json: Value = serde_json::from_slice(&ping.body).expect("JSON");
        assert_eq!(post["attributes"], ping_json["attributes"], "the post repeats the ping's attributes");
    }
}
