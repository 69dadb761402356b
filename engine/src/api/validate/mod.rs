//! From request body to [`Lead`]: parse into typed structs, then validate and normalize every
//! field, failing with the code and the dotted path of the first field at fault. A publisher's
//! ping and post (`ping.rs`) go through the same functions.
//!
//! serde_json is used for parsing: on lead-sized bodies (about 1 KiB) simd-json measured
//! 0-10% faster (about 0.1 µs of a 70 µs auction; the `parse_lead` group of
//! `benches/benches/hot_path.rs`), not enough to pay for its mutable copy of every body and
//! to give up serde_json's line and column in error answers. See `docs/performance.md`.

mod email;
mod phone;
mod ping;

use std::collections::BTreeMap;

use serde_json::Value;

pub use email::{EmailError, normalize_email};
pub use phone::{PhoneError, normalize_phone};
pub use ping::{Ping, PostBody, ping, post};

use super::error::ApiError;
use crate::protocol::geo::{State, Zip};
use crate::protocol::lead::{
    AttrValue, Attributes, Consent, Contact, ContactIn, Lead, LeadIn, Source, is_valid_vertical,
};

/// Most free-form attributes on one lead.
const MAX_ATTRIBUTES: usize = 64;
/// Longest attribute name.
const MAX_ATTRIBUTE_NAME: usize = 64;
/// Longest text attribute value.
const MAX_ATTRIBUTE_TEXT: usize = 256;
/// Longest name, city or similar short text.
const MAX_SHORT_TEXT: usize = 100;
/// Longest address, URL or token.
const MAX_MEDIUM_TEXT: usize = 512;
/// Longest consent text (a full TCPA disclosure fits).
const MAX_CONSENT_TEXT: usize = 8192;
/// Most UTM tags.
const MAX_UTM_TAGS: usize = 20;

/// Attribute names that would carry contact data: refused, so PII cannot ride in a ping.
const PII_ATTRIBUTE_NAMES: [&str; 18] = [
    "first_name",
    "last_name",
    "full_name",
    "name",
    "email",
    "email_address",
    "phone",
    "phone_number",
    "mobile",
    "cell",
    "address",
    "street",
    "street_address",
    "address1",
    "ssn",
    "dob",
    "date_of_birth",
    "birthdate",
];

/// Parses and validates a lead body (`POST /v1/leads`; a publisher's post is checked by it too,
/// see [`PostBody::lead`]).
pub fn lead(body: &[u8]) -> Result<Lead, ApiError> {
    normalize(super::body::typed(body, "the lead")?)
}

fn normalize(raw: LeadIn) -> Result<Lead, ApiError> {
    Ok(Lead {
        vertical: vertical(&raw.vertical)?,
        attributes: attributes(raw.attributes)?,
        contact: contact(raw.contact)?,
        consent: raw.consent.map(consent).transpose()?,
        source: raw.source.map(source).transpose()?,
        test: raw.test,
    })
}

fn vertical(raw: &str) -> Result<Box<str>, ApiError> {
    let vertical = raw.trim();
    if !is_valid_vertical(vertical) {
        return Err(ApiError::field(
            "invalid_vertical",
            "vertical",
            "vertical must be 1-64 lowercase letters, digits or `_`, e.g. `auto_insurance`",
        ));
    }
    Ok(vertical.into())
}

fn attributes(mut raw: BTreeMap<String, Value>) -> Result<Attributes, ApiError> {
    let required_text = |raw: &mut BTreeMap<String, Value>, name: &'static str| match raw.remove(name) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(ApiError::field(
            "missing_field",
            format!("attributes.{name}"),
            format!("`attributes.{name}` is required"),
        )),
        Some(_) => Err(ApiError::field(
            "invalid_type",
            format!("attributes.{name}"),
            format!("`attributes.{name}` must be a string"),
        )),
    };
    let zip = Zip::parse(&required_text(&mut raw, "zip")?).ok_or_else(|| {
        ApiError::field("invalid_zip", "attributes.zip", "ZIP must be 5 digits, or ZIP+4 as 12345-6789")
    })?;
    let state = State::parse(&required_text(&mut raw, "state")?).ok_or_else(|| {
        ApiError::field(
            "invalid_state",
            "attributes.state",
            "state must be a US state or territory, as `WA` or `Washington`",
        )
    })?;
    if raw.len() > MAX_ATTRIBUTES {
        return Err(ApiError::field(
            "invalid_attribute",
            "attributes",
            format!("at most {MAX_ATTRIBUTES} attributes besides zip and state"),
        ));
    }
    let mut extra = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        let field = || format!("attributes.{name}");
        let valid_name = !name.is_empty()
            && name.len() <= MAX_ATTRIBUTE_NAME
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(ApiError::field(
                "invalid_attribute",
                field(),
                "attribute names are 1-64 lowercase letters, digits or `_`",
            ));
        }
        if PII_ATTRIBUTE_NAMES.contains(&name.as_str()) {
            return Err(pii_error(field()));
        }
        let value = match value {
            Value::Null => continue,
            Value::Bool(flag) => AttrValue::Bool(flag),
            Value::Number(number) => {
                if number_is_phone(&number) {
                    return Err(pii_error(field()));
                }
                AttrValue::Number(number)
            }
            Value::String(text) => {
                let text = text.trim();
                if text.chars().count() > MAX_ATTRIBUTE_TEXT || text.chars().any(char::is_control) {
                    return Err(ApiError::field(
                        "invalid_attribute",
                        field(),
                        "text attributes are at most 256 characters, without control characters",
                    ));
                }
                if looks_like_contact(text) {
                    return Err(pii_error(field()));
                }
                AttrValue::Text(text.into())
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(ApiError::field(
                    "invalid_attribute",
                    field(),
                    "attributes are strings, numbers or booleans",
                ));
            }
        };
        extra.push((name.into_boxed_str(), value));
    }
    Ok(Attributes { zip, state, extra })
}

/// Whether text holds an email address or a phone number anywhere in it ("call 206-555-0100").
fn looks_like_contact(text: &str) -> bool {
    let is_email = |word: &str| {
        let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        word.contains('@') && normalize_email(word).is_ok()
    };
    let is_phone =
        |run: &str| run.bytes().filter(u8::is_ascii_digit).count() >= 10 && normalize_phone(run.trim()).is_ok();
    let phone_char = |c: char| c.is_ascii_digit() || " ()-.+".contains(c);
    text.split(|c: char| c.is_whitespace() || ",;<>\"'".contains(c)).any(is_email)
        || text.split(|c: char| !phone_char(c)).any(is_phone)
}

/// A number that is a phone number (`2065550100`, also written `2065550100.0` or `2.0655501e9`).
fn number_is_phone(number: &serde_json::Number) -> bool {
    let whole = number
        .as_u64()
        .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && (1e9..1e16).contains(f)).map(|f| f as u64));
    whole.is_some_and(|n| normalize_phone(itoa::Buffer::new().format(n)).is_ok())
}

fn pii_error(field: String) -> ApiError {
    ApiError::field(
        "pii_in_attributes",
        field,
        "attributes go to every buyer pinged and must not carry contact data; put it in `contact`",
    )
}

fn contact(raw: ContactIn) -> Result<Contact, ApiError> {
    let email =
        normalize_email(&raw.email).map_err(|e| ApiError::field("invalid_email", "contact.email", e.message()))?;
    let phone =
        normalize_phone(&raw.phone).map_err(|e| ApiError::field("invalid_phone", "contact.phone", e.message()))?;
    Ok(Contact {
        first_name: name(&raw.first_name, "contact.first_name")?,
        last_name: name(&raw.last_name, "contact.last_name")?,
        email: email.into(),
        phone: phone.into(),
        address: raw.address.map(|a| text(&a, "contact.address", MAX_MEDIUM_TEXT)).transpose()?,
        city: raw.city.map(|c| text(&c, "contact.city", MAX_SHORT_TEXT)).transpose()?,
    })
}

fn name(raw: &str, field: &'static str) -> Result<Box<str>, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::field("invalid_name", field, "a name cannot be empty"));
    }
    text(name, field, MAX_SHORT_TEXT).map_err(|e| ApiError { code: "invalid_name", ..e })
}

/// Trimmed text of at most `max` characters, without control characters.
fn text(raw: &str, field: &'static str, max: usize) -> Result<Box<str>, ApiError> {
    let text = raw.trim();
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(ApiError::field(
            "invalid_field",
            field,
            format!("`{field}` must be at most {max} characters, without control characters"),
        ));
    }
    Ok(text.into())
}

fn consent(mut raw: Consent) -> Result<Consent, ApiError> {
    if let Some(url) = &raw.trustedform_cert_url {
        let url = text(url, "consent.trustedform_cert_url", MAX_MEDIUM_TEXT)?;
        if !url.starts_with("https://") || url.len() <= "https://".len() {
            return Err(ApiError::field("invalid_url", "consent.trustedform_cert_url", "must be an https:// URL"));
        }
        raw.trustedform_cert_url = Some(url.into());
    }
    if let Some(token) = &raw.jornaya_leadid {
        raw.jornaya_leadid = Some(text(token, "consent.jornaya_leadid", MAX_MEDIUM_TEXT)?.into());
    }
    if let Some(ip) = &raw.ip {
        let ip: std::net::IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| ApiError::field("invalid_ip", "consent.ip", "must be an IPv4 or IPv6 address"))?;
        raw.ip = Some(ip.to_string());
    }
    if let Some(consent_text) = &raw.consent_text {
        let bad = consent_text.chars().count() > MAX_CONSENT_TEXT
            || consent_text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t');
        if bad {
            return Err(ApiError::field(
                "invalid_field",
                "consent.consent_text",
                "at most 8192 characters, without control characters other than line breaks and tabs",
            ));
        }
    }
    if let Some(at) = &raw.captured_at {
        let at = chrono::DateTime::parse_from_rfc3339(at.trim()).map_err(|_| {
            ApiError::field(
                "invalid_timestamp",
                "consent.captured_at",
                "must be an RFC 3339 time like 2026-11-23T12:00:00Z",
            )
        })?;
        raw.captured_at = Some(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    Ok(raw)
}

fn source(raw: Source) -> Result<Source, ApiError> {
    let sub_id = raw.sub_id.map(|s| text(&s, "source.sub_id", MAX_SHORT_TEXT).map(String::from)).transpose()?;
    if raw.utm.len() > MAX_UTM_TAGS {
        return Err(ApiError::field("invalid_field", "source.utm", "at most 20 UTM tags"));
    }
    let mut utm = BTreeMap::new();
    for (key, value) in raw.utm {
        if key.is_empty() || key.len() > MAX_ATTRIBUTE_NAME {
            return Err(ApiError::field("invalid_field", "source.utm", "UTM tag names are 1-64 characters"));
        }
        let value = text(&value, "source.utm", MAX_ATTRIBUTE_TEXT)?;
        utm.insert(key, value.into());
    }
    Ok(Source { sub_id, utm })
}

#[cfg(test)]
mod tests;
