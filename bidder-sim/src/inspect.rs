//! What a simulated buyer checks in what it receives: each ping against contract v1 (the wire
//! type [`PingIn`], which refuses unknown fields; `tmax_ms` above 0; a 5-digit `zip`; a
//! 2-letter `state`; a vertical and state this buyer asked for), PII in pings (contact field
//! names anywhere, and values shaped like emails or phone numbers), and the shape of posts.
//! Plain functions of the body: the server counts what they find.

use std::borrow::Cow;

use lead_protocol::geo::{State, Zip};
use lead_protocol::money::Micros;
use lead_protocol::ping::PingIn;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

/// Field names that are contact data wherever they appear in a ping (compared ignoring case).
const PII_FIELDS: [&str; 17] = [
    "contact",
    "email",
    "phone",
    "mobile",
    "first_name",
    "last_name",
    "full_name",
    "name",
    "address",
    "street",
    "street_address",
    "address1",
    "address2",
    "dob",
    "date_of_birth",
    "ssn",
    "ip_address",
];

/// Digits in a phone number: 10 (US without country code) to 15 (E.164's maximum).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 10..=15;

/// A breach of the contract by the engine, counted per buyer and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// The request is not declared as `application/json`.
    ContentType,
    /// The body is over the simulator's size limit.
    TooLarge,
    /// The body is not JSON.
    NotJson,
    /// JSON, but not the message's shape: an unknown field, a missing one, a wrong type.
    BadShape,
    /// `tmax_ms` is 0: the buyer has no time to answer.
    ZeroTmax,
    /// `attributes.zip` is missing or not 5 digits.
    BadZip,
    /// `attributes.state` is missing or not a 2-letter state code.
    BadState,
    /// A ping for a vertical this buyer did not ask for.
    UnwantedVertical,
    /// A ping from a state this buyer did not ask for.
    UnwantedState,
    /// A post for a ping this buyer did not bid on (or whose bid it forgot, see `bid_memory`).
    PostWithoutBid,
    /// A post whose `bid_id` is not the one this buyer gave for that ping.
    WrongBidId,
    /// A post whose `price` is not what this buyer bid.
    WrongPrice,
    /// A second post for the same ping.
    DuplicatePost,
    /// A post for a bid that was answered after the deadline (`tmax_ms` + `late_margin_ms`).
    PostForLateBid,
}

impl Violation {
    /// Number of reasons.
    pub const COUNT: usize = 14;

    /// Every reason, in [`Violation::index`] order.
    pub const ALL: [Violation; Violation::COUNT] = [
        Violation::ContentType,
        Violation::TooLarge,
        Violation::NotJson,
        Violation::BadShape,
        Violation::ZeroTmax,
        Violation::BadZip,
        Violation::BadState,
        Violation::UnwantedVertical,
        Violation::UnwantedState,
        Violation::PostWithoutBid,
        Violation::WrongBidId,
        Violation::WrongPrice,
        Violation::DuplicatePost,
        Violation::PostForLateBid,
    ];

    /// Position in [`Violation::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable name, in `/stats`, metric labels and error answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Violation::ContentType => "content_type",
            Violation::TooLarge => "too_large",
            Violation::NotJson => "not_json",
            Violation::BadShape => "bad_shape",
            Violation::ZeroTmax => "zero_tmax",
            Violation::BadZip => "bad_zip",
            Violation::BadState => "bad_state",
            Violation::UnwantedVertical => "unwanted_vertical",
            Violation::UnwantedState => "unwanted_state",
            Violation::PostWithoutBid => "post_without_bid",
            Violation::WrongBidId => "wrong_bid_id",
            Violation::WrongPrice => "wrong_price",
            Violation::DuplicatePost => "duplicate_post",
            Violation::PostForLateBid => "post_for_late_bid",
        }
    }
}

/// What a buyer asked for, to judge whether a ping should have reached it.
#[derive(Debug)]
pub struct Wants {
    /// Verticals.
    pub verticals: Box<[Box<str>]>,
    /// States as a bitmask of [`State::index`]; 0 means all.
    pub states: u64,
}

/// A ping that keeps the contract.
#[derive(Debug)]
pub struct CheckedPing {
    /// The ping.
    pub ping: PingIn,
    /// Its state.
    pub state: State,
}

/// Checks a ping body: the verdict, and whether it carries PII (a ping can break the
/// contract and leak PII at once; both are counted).
pub fn ping(body: &[u8], wants: &Wants) -> (Result<CheckedPing, Violation>, bool) {
    match serde_json::from_slice::<PingIn>(body) {
        Ok(ping) => {
            let pii = looks_like_pii(&ping.ping_id)
                || looks_like_pii(&ping.vertical)
                || ping.attributes.iter().any(|(key, value)| entry_has_pii(key, value));
            (check_ping(ping, wants), pii)
        }
        Err(_) => match serde_json::from_slice::<Value>(body) {
            Ok(value) => (Err(Violation::BadShape), value_has_pii(&value)),
            Err(_) => (Err(Violation::NotJson), false),
        },
    }
}

fn check_ping(ping: PingIn, wants: &Wants) -> Result<CheckedPing, Violation> {
    if ping.tmax_ms == 0 {
        return Err(Violation::ZeroTmax);
    }
    let zip = ping.attributes.get("zip").and_then(Value::as_str);
    if !zip.is_some_and(|zip| zip.len() == 5 && Zip::parse(zip).is_some()) {
        return Err(Violation::BadZip);
    }
    let state = ping
        .attributes
        .get("state")
        .and_then(Value::as_str)
        // The contract's form only (`State::parse` also reads names and lowercase, slowly).
        .and_then(|code| State::all().find(|state| state.code() == code))
        .ok_or(Violation::BadState)?;
    if !wants.verticals.iter().any(|v| **v == *ping.vertical) {
        return Err(Violation::UnwantedVertical);
    }
    if wants.states != 0 && wants.states & (1 << state.index()) == 0 {
        return Err(Violation::UnwantedState);
    }
    Ok(CheckedPing { ping, state })
}

/// The part of a post the simulator checks; the other contract fields must be present.
#[derive(Debug, Deserialize)]
pub struct PostIn<'a> {
    /// The ping this post follows.
    #[serde(borrow)]
    pub ping_id: Cow<'a, str>,
    /// The bid id the buyer gave.
    #[serde(borrow)]
    pub bid_id: Option<Cow<'a, str>>,
    /// The price the buyer bid.
    pub price: Micros,
    // Required by the contract; what they hold is the engine's business.
    #[serde(rename = "lead_id")]
    _lead_id: IgnoredAny,
    #[serde(rename = "vertical")]
    _vertical: IgnoredAny,
    #[serde(rename = "attributes")]
    _attributes: IgnoredAny,
    /// The contact data, an object: the post is the only message allowed to carry it.
    #[serde(rename = "contact")]
    _contact: Map<String, Value>,
}

/// Parses a post body.
pub fn post(body: &[u8]) -> Result<PostIn<'_>, Violation> {
    serde_json::from_slice(body)
        .map_err(|e| if e.is_syntax() || e.is_eof() { Violation::NotJson } else { Violation::BadShape })
}

/// Whether a key or the value under it (at any depth) is contact data.
fn entry_has_pii(key: &str, value: &Value) -> bool {
    is_pii_field(key) || value_has_pii(value)
}

fn value_has_pii(value: &Value) -> bool {
    match value {
        Value::String(text) => looks_like_pii(text),
        Value::Array(items) => items.iter().any(value_has_pii),
        Value::Object(map) => map.iter().any(|(key, value)| entry_has_pii(key, value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A contact field name, or a name that contains `email` or `phone` (`contact_email`).
fn is_pii_field(key: &str) -> bool {
    let key = key.trim();
    PII_FIELDS.iter().any(|field| field.eq_ignore_ascii_case(key)) || {
        let lower = key.as_bytes();
        contains_ignore_case(lower, b"email") || contains_ignore_case(lower, b"phone")
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window.eq_ignore_ascii_case(needle))
}

/// Text shaped like an email address or a phone number.
fn looks_like_pii(text: &str) -> bool {
    looks_like_email(text) || looks_like_phone(text)
}

/// `local@domain.tld`, no spaces.
fn looks_like_email(text: &str) -> bool {
    let text = text.trim();
    let Some((local, domain)) = text.rsplit_once('@') else { return false };
    !local.is_empty()
        && !text.contains(char::is_whitespace)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty())
}

/// Only digits and phone punctuation (`+ - ( ) .` and spaces), with 10 to 15 digits.
fn looks_like_phone(text: &str) -> bool {
    let mut digits = 0;
    for c in text.trim().chars() {
        match c {
            '0'..='9' => digits += 1,
            '+' | '-' | '(' | ')' | '.' | ' ' => {}
            _ => return false,
        }
    }
    PHONE_DIGITS.contains(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wants() -> Wants {
        Wants { verticals: vec!["auto_insurance".into()].into(), states: 0 }
    }

    fn ping_body(attributes: &str) -> String {
        format!(
            r#"{{"ping_id":"pg_1","vertical":"auto_insurance","attributes":{attributes},"tmax_ms":90,"test":false}}"#
        )
    }

    fn verdict(body: &str) -> (Result<State, Violation>, bool) {
        let (result, pii) = ping(body.as_bytes(), &wants());
        (result.map(|checked| checked.state), pii)
    }

    #[test]
    fn a_clean_ping_passes_without_pii() {
        let body = ping_body(r#"{"zip":"98004","state":"WA","credit_tier":"good","age":42,"homeowner":true}"#);
        assert_eq!(verdict(&body), (Ok(State::parse("WA").unwrap_or_else(|| unreachable!())), false));
    }

    #[test]
    fn contract_breaches_have_reasons() {
        let good = r#"{"zip":"98004","state":"WA"}"#;
        for (body, reason) in [
            ("nope".to_owned(), Violation::NotJson),
            (ping_body(good).replace(r#""test":false"#, r#""test":false,"extra":1"#), Violation::BadShape),
            (ping_body(good).replace(r#","tmax_ms":90"#, ""), Violation::BadShape),
            (ping_body(good).replace(r#""tmax_ms":90"#, r#""tmax_ms":"90""#), Violation::BadShape),
            (ping_body(good).replace(r#""tmax_ms":90"#, r#""tmax_ms":0"#), Violation::ZeroTmax),
            (ping_body(r#"{"zip":"9800","state":"WA"}"#), Violation::BadZip),
            (ping_body(r#"{"zip":"98004-1234","state":"WA"}"#), Violation::BadZip),
            (ping_body(r#"{"state":"WA"}"#), Violation::BadZip),
            (ping_body(r#"{"zip":"98004","state":"Washington"}"#), Violation::BadState),
            (ping_body(r#"{"zip":"98004","state":"XX"}"#), Violation::BadState),
            (ping_body(good).replace("auto_insurance", "mortgage"), Violation::UnwantedVertical),
        ] {
            assert_eq!(verdict(&body).0, Err(reason), "{body}");
        }
        let only_or = Wants { states: 1 << State::parse("OR").map_or(0, State::index), ..wants() };
        assert_eq!(ping(ping_body(good).as_bytes(), &only_or).0.map(|c| c.state).err(), Some(Violation::UnwantedState));
    }

    #[test]
    fn planted_pii_is_found() {
        for attributes in [
            r#"{"zip":"98004","state":"WA","note":"jane.smith@example.com"}"#,
            r#"{"zip":"98004","state":"WA","phone":"x"}"#,
            r#"{"zip":"98004","state":"WA","Contact_Email":1}"#,
            r#"{"zip":"98004","state":"WA","callback":"+1 (206) 555-0100"}"#,
            r#"{"zip":"98004","state":"WA","tags":["a",{"first_name":"Jane"}]}"#,
        ] {
            assert!(verdict(&ping_body(attributes)).1, "{attributes}");
        }
        // Outside the ping shape (an unknown top-level field) it is still found.
        let leaked = ping_body(r#"{"zip":"98004","state":"WA"}"#)
            .replace(r#""test":false"#, r#""test":false,"contact":{"email":"jane@example.com"}"#);
        assert_eq!(verdict(&leaked), (Err(Violation::BadShape), true));
    }

    #[test]
    fn ordinary_values_are_not_pii() {
        for value in ["98004", "98004-1234", "2026-11-23", "good", "12.50", "a@b", "@example.com", "555-0100"] {
            assert!(!looks_like_pii(value), "{value}");
        }
        for field in ["zip", "state", "age", "credit_tier", "homeowner", "vehicle_count"] {
            assert!(!is_pii_field(field), "{field}");
        }
    }

    #[test]
    fn posts_parse_or_say_why_not() {
        let good = r#"{"ping_id":"pg_1","bid_id":"bd_1","price":"12.50","lead_id":"ld_1","vertical":"auto_insurance",
            "attributes":{},"contact":{"email":"a@example.com"},"consent":null,"test":false}"#;
        let post = super::post(good.as_bytes());
        assert!(
            matches!(post, Ok(ref p) if p.ping_id == "pg_1" && p.bid_id.as_deref() == Some("bd_1") && p.price == Micros(12_500_000))
        );
        assert_eq!(super::post(b"{\"ping_id\":").err(), Some(Violation::NotJson));
        assert_eq!(super::post(br#"{"ping_id":"pg_1"}"#).err(), Some(Violation::BadShape));
        assert_eq!(super::post(good.replace("\"12.50\"", "12.5").as_bytes()).err(), Some(Violation::BadShape));
    }
}
