//! A publisher's ping (`POST /v1/ping`) and post (`POST /v1/post`), checked by the lead's own
//! rules: a ping is a lead without contact or consent (its vertical, attributes and source go
//! through the same functions as a lead's), and a post becomes a lead made of the ping's
//! vertical, attributes and test flag with the post's contact, consent and source, validated
//! by [`super::lead`] itself.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::{ApiError, attributes, source, vertical};
use crate::protocol::lead::{Attributes, Lead, Profile, Source};

/// A ping as sent. `contact` and `consent` are named only to be refused with a clear error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PingIn {
    vertical: String,
    attributes: BTreeMap<String, Value>,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    test: bool,
    #[serde(default)]
    contact: Option<IgnoredAny>,
    #[serde(default)]
    consent: Option<IgnoredAny>,
}

/// A validated, normalized ping: a lead's non-personal part and its source.
#[derive(Debug, Clone)]
pub struct Ping {
    /// Product line.
    pub vertical: Box<str>,
    /// Non-personal attributes, normalized like a lead's.
    pub attributes: Attributes,
    /// The publisher's sub-id and UTM tags (a post without a source keeps these).
    pub source: Option<Source>,
    /// A test ping: only test-mode buyers hear of it.
    pub test: bool,
}

impl Ping {
    /// What the auction's ping phase sees.
    pub fn profile(&self) -> Profile<'_> {
        Profile { vertical: &self.vertical, attributes: &self.attributes, test: self.test }
    }
}

/// Parses and validates a ping body: 400 with the field at fault, and `contact_in_ping` when it
/// carries contact or consent data (those go with the post, to the buyer that bought the lead).
pub fn ping(body: &[u8]) -> Result<Ping, ApiError> {
    let raw: PingIn = super::super::body::typed(body, "the ping")?;
    for (field, present) in [("contact", raw.contact.is_some()), ("consent", raw.consent.is_some())] {
        if present {
            return Err(ApiError::field(
                "contact_in_ping",
                field,
                "a ping carries no contact or consent data: send them with POST /v1/post",
            ));
        }
    }
    Ok(Ping {
        vertical: vertical(&raw.vertical)?,
        attributes: attributes(raw.attributes)?,
        source: raw.source.map(source).transpose()?,
        test: raw.test,
    })
}

/// Every field a post may have.
const POST_FIELDS: [&str; 7] = ["ping_id", "contact", "consent", "source", "vertical", "attributes", "test"];

/// A post as sent: its `ping_id`, and the rest to be checked against that ping's data.
#[derive(Debug)]
pub struct PostBody {
    /// The ping the post is for.
    pub ping_id: String,
    rest: Map<String, Value>,
}

/// Parses a post body as far as it can be without its ping: a JSON object of known fields with
/// a `ping_id` string.
pub fn post(body: &[u8]) -> Result<PostBody, ApiError> {
    let mut object = super::super::body::json_object(body)?;
    if let Some(name) = object.keys().find(|name| !POST_FIELDS.contains(&name.as_str())) {
        return Err(ApiError::field("unknown_field", name.clone(), format!("`{name}` is not a field of the post")));
    }
    let ping_id = match object.remove("ping_id") {
        Some(Value::String(id)) => id,
        None | Some(Value::Null) => {
            return Err(ApiError::field("missing_field", "ping_id", "`ping_id` is required"));
        }
        Some(_) => return Err(ApiError::field("invalid_type", "ping_id", "`ping_id` must be a string")),
    };
    Ok(PostBody { ping_id, rest: object })
}

impl PostBody {
    /// The lead this post makes with `ping`: the ping's vertical, attributes and test flag (the
    /// ping's data wins), the post's contact, consent and source (else the ping's source),
    /// validated as a lead is. Also the names of what the post sent that differs from the ping
    /// and was ignored: attributes (compared once normalized), `vertical`, `test`; sorted.
    pub fn lead(self, ping: &Ping) -> Result<(Lead, Vec<String>), ApiError> {
        let mut object = self.rest;
        let mut ignored = Vec::new();
        match object.remove("vertical") {
            None | Some(Value::Null) => {}
            Some(Value::String(sent)) if sent.trim() == &*ping.vertical => {}
            Some(Value::String(_)) => ignored.push("vertical".to_owned()),
            Some(_) => return Err(ApiError::field("invalid_type", "vertical", "`vertical` must be a string")),
        }
        match object.remove("test") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(sent)) if sent == ping.test => {}
            Some(Value::Bool(_)) => ignored.push("test".to_owned()),
            Some(_) => return Err(ApiError::field("invalid_type", "test", "`test` must be true or false")),
        }
        let sent = match object.remove("attributes") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(sent)) => sent,
            Some(_) => return Err(ApiError::field("invalid_type", "attributes", "`attributes` must be an object")),
        };
        // The post's attributes laid over the ping's, so that they are checked (and normalized)
        // by the lead's rules, a partial set included; the lead then keeps the ping's.
        let names: Vec<String> = sent.keys().cloned().collect();
        let mut merged = match serde_json::to_value(&ping.attributes) {
            Ok(Value::Object(attributes)) => attributes,
            _ => Map::new(),
        };
        merged.extend(sent);
        object.insert("vertical".into(), Value::String(ping.vertical.to_string()));
        object.insert("attributes".into(), Value::Object(merged));
        object.insert("test".into(), Value::Bool(ping.test));
        // Serializing a JSON value cannot fail.
        let mut lead = super::lead(&serde_json::to_vec(&object).unwrap_or_default())?;
        ignored.extend(names.into_iter().filter(|name| differs(&lead.attributes, &ping.attributes, name)));
        ignored.sort();
        lead.attributes = ping.attributes.clone();
        if lead.source.is_none() {
            lead.source = ping.source.clone();
        }
        Ok((lead, ignored))
    }
}

/// Whether attribute `name` has another value (or none) in `sent` than in `held`.
fn differs(sent: &Attributes, held: &Attributes, name: &str) -> bool {
    match name {
        "zip" => sent.zip != held.zip,
        "state" => sent.state != held.state,
        _ => sent.get(name) != held.get(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pinged() -> Ping {
        let body = json!({"vertical": "auto_insurance", "attributes": {"zip": "98004-1234", "state": "WA",
            "credit_tier": "good", "age": 42}, "source": {"sub_id": "s1"}, "test": true});
        ping(&serde_json::to_vec(&body).unwrap_or_default()).unwrap_or_else(|e| panic!("valid ping: {e:?}"))
    }

    fn post_of(body: Value) -> Result<(Lead, Vec<String>), ApiError> {
        post(&serde_json::to_vec(&body).unwrap_or_default())?.lead(&pinged())
    }

    const CONTACT: &str = r#"{"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com",
        "phone": "+12065550100"}"#;

    fn contact() -> Value {
        serde_json::from_str(CONTACT).unwrap_or_default()
    }

    #[test]
    fn a_ping_is_a_lead_without_contact_data_checked_by_the_same_rules() {
        let pinged = pinged();
        assert_eq!((&*pinged.vertical, pinged.attributes.state.code(), pinged.test), ("auto_insurance", "WA", true));
        let refused = |body: Value| ping(&serde_json::to_vec(&body).unwrap_or_default()).err();
        let base = json!({"vertical": "auto_insurance", "attributes": {"zip": "98004", "state": "WA"}});
        for (field, value) in [("contact", contact()), ("consent", json!({"ip": "203.0.113.9"}))] {
            let mut body = base.clone();
            body[field] = value;
            let error = refused(body).map(|e| (e.code, e.field.map(|f| f.into_owned())));
            assert_eq!(error, Some(("contact_in_ping", Some(field.to_owned()))), "{field}");
        }
        let mut pii = base.clone();
        pii["attributes"]["note"] = json!("call jane@example.com");
        assert_eq!(refused(pii).map(|e| e.code), Some("pii_in_attributes"));
        let mut bad_zip = base.clone();
        bad_zip["attributes"]["zip"] = json!("9800");
        assert_eq!(refused(bad_zip).map(|e| e.code), Some("invalid_zip"));
        let mut unknown = base;
        unknown["lead_id"] = json!("x");
        assert_eq!(refused(unknown).map(|e| e.code), Some("unknown_field"));
    }

    #[test]
    fn a_post_keeps_the_pings_data_and_reports_what_it_ignored() {
        let body = json!({"ping_id": "pp_1", "contact": contact(), "vertical": "home_services", "test": false,
            "attributes": {"zip": "10001", "state": "Washington", "age": 42, "credit_tier": "poor", "extra": 1}});
        let (lead, ignored) = post_of(body).unwrap_or_else(|e| panic!("valid post: {e:?}"));
        // `state` was written another way but is the same state: not ignored.
        assert_eq!(ignored, ["credit_tier", "extra", "test", "vertical", "zip"]);
        let ping = pinged();
        assert_eq!((&*lead.vertical, lead.test, &lead.attributes), (&*ping.vertical, true, &ping.attributes));
        assert_eq!(lead.attributes.zip.plus4(), Some(1234), "the ping's ZIP+4 is kept");
        assert_eq!(&*lead.contact.phone, "+12065550100");
        assert_eq!(lead.source.and_then(|s| s.sub_id).as_deref(), Some("s1"), "the ping's source when none is posted");
    }

    #[test]
    fn a_post_is_validated_like_a_lead() {
        let code = |body: Value| post_of(body).err().map(|e| (e.code, e.field.map(|f| f.into_owned())));
        let mut bad_phone = contact();
        bad_phone["phone"] = json!("12");
        assert_eq!(
            code(json!({"ping_id": "p", "contact": bad_phone})),
            Some(("invalid_phone", Some("contact.phone".to_owned())))
        );
        assert_eq!(
            code(json!({"ping_id": "p", "contact": ["Jane", "Smith", "jane@example.com", "+12065550100"]}))
                .map(|(code, _)| code),
            Some("invalid_type"),
            "a contact must be an object"
        );
        assert_eq!(code(json!({"ping_id": "p"})), Some(("missing_field", Some("contact".to_owned()))));
        assert_eq!(
            code(json!({"ping_id": "p", "contact": contact(), "attributes": {"phone": "2065550100"}})),
            Some(("pii_in_attributes", Some("attributes.phone".to_owned())))
        );
        let refused = |body: &[u8]| post(body).err().map(|e| (e.code, e.field.map(|f| f.into_owned())));
        assert_eq!(refused(br#"{"contact": {}}"#), Some(("missing_field", Some("ping_id".to_owned()))));
        assert_eq!(refused(br#"{"ping_id": 7}"#), Some(("invalid_type", Some("ping_id".to_owned()))));
        assert_eq!(refused(br#"{"ping_id": "p", "lead": 1}"#), Some(("unknown_field", Some("lead".to_owned()))));
        assert_eq!(refused(b"[1]").map(|(code, _)| code), Some("invalid_type"));
    }
}
