//! The lead: what a publisher sends (`LeadIn`, as parsed) and what the engine works with once
//! it is validated and normalized (`Lead`). The non-personal part (`Attributes`) is a type of
//! its own with no contact fields, so a ping, built only from it, cannot carry PII.

use std::collections::BTreeMap;

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::geo::{State, Zip};

/// A lead exactly as the publisher sent it, before validation. Unknown top-level, contact and
/// consent fields are refused so that a typo is an error, not silently dropped data.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadIn {
    /// Product line, e.g. `auto_insurance`.
    pub vertical: String,
    /// Non-personal attributes; `zip` and `state` are required, the rest is free-form scalars.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The consumer's contact data (PII).
    #[serde(deserialize_with = "object")]
    pub contact: ContactIn,
    /// Proof of consent to be contacted.
    #[serde(default, deserialize_with = "optional_object")]
    pub consent: Option<Consent>,
    /// Where the publisher got the lead.
    #[serde(default, deserialize_with = "optional_object")]
    pub source: Option<Source>,
    /// A test lead: buyers are told, and it is never billed.
    #[serde(default)]
    pub test: bool,
}

/// Contact data as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Email address, normalized on intake.
    pub email: String,
    /// Phone number, normalized to E.164 on intake.
    pub phone: String,
    /// Street address.
    #[serde(default)]
    pub address: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
}

/// A validated, normalized lead: the only form the auction sees.
#[derive(Debug, Clone)]
pub struct Lead {
    /// Product line, lowercase `[a-z0-9_]`.
    pub vertical: Box<str>,
    /// Non-personal attributes: the only part of a lead that a ping carries.
    pub attributes: Attributes,
    /// Contact data (PII): posted only to the buyer being posted to.
    pub contact: Contact,
    /// Consent evidence, posted with the contact data.
    pub consent: Option<Consent>,
    /// Publisher's sub-id and UTM tags, kept for reporting.
    pub source: Option<Source>,
    /// Test lead flag.
    pub test: bool,
}

/// The non-personal part of a lead, all an auction's ping phase needs: what a publisher's ping
/// (`POST /v1/ping`) carries, and what a buyer's ping is built from. No contact field exists.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    /// Product line.
    pub vertical: &'a str,
    /// Non-personal attributes.
    pub attributes: &'a Attributes,
    /// Test lead flag.
    pub test: bool,
}

impl Lead {
    /// The lead without its contact data.
    pub fn profile(&self) -> Profile<'_> {
        Profile { vertical: &self.vertical, attributes: &self.attributes, test: self.test }
    }
}

/// The non-personal attributes of a lead: location and free-form scalars. No contact field
/// exists on this type, and intake refuses attribute values shaped like emails or phones.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes {
    /// Five-digit ZIP (a ZIP+4 is kept, but only the five digits go to buyers).
    pub zip: Zip,
    /// Two-letter state.
    pub state: State,
    /// Every other attribute, sorted by name.
    pub extra: Vec<(Box<str>, AttrValue)>,
}

/// A scalar attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Text.
    Text(Box<str>),
    /// A number, kept as written (`42` stays `42`).
    Number(serde_json::Number),
    /// A flag.
    Bool(bool),
}

impl Attributes {
    /// The value of a free-form attribute.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.extra.binary_search_by(|(key, _)| key.as_ref().cmp(name)).ok().map(|i| &self.extra[i].1)
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2 + self.extra.len()))?;
        let mut zip = [0u8; 5];
        self.zip.write5(&mut zip);
        map.serialize_entry("zip", std::str::from_utf8(&zip).unwrap_or("00000"))?;
        map.serialize_entry("state", self.state.code())?;
        for (key, value) in &self.extra {
            map.serialize_entry(key.as_ref(), value)?;
        }
        map.end()
    }
}

impl Serialize for AttrValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AttrValue::Text(text) => serializer.serialize_str(text),
            AttrValue::Number(number) => number.serialize(serializer),
            AttrValue::Bool(flag) => serializer.serialize_bool(*flag),
        }
    }
}

/// Normalized contact data (PII).
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    /// Given name, trimmed.
    pub first_name: Box<str>,
    /// Family name, trimmed.
    pub last_name: Box<str>,
    /// Email, domain lowercased.
    pub email: Box<str>,
    /// Phone in E.164.
    pub phone: Box<str>,
    /// Street address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Box<str>>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<Box<str>>,
}

/// Consent evidence (TCPA): certificate links and what the consumer agreed to.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// TrustedForm certificate URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trustedform_cert_url: Option<String>,
    /// Jornaya LeadiD token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jornaya_leadid: Option<String>,
    /// The consumer's IP address when consenting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The consent language shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_text: Option<String>,
    /// When consent was captured (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<String>,
}

/// Where a lead came from, for the publisher's own reporting.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Publisher's sub-id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_id: Option<String>,
    /// UTM tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub utm: BTreeMap<String, String>,
}

/// Longest vertical name.
pub const MAX_VERTICAL_LEN: usize = 64;

/// Vertical names are 1-64 lowercase ASCII letters, digits and `_`.
pub fn is_valid_vertical(vertical: &str) -> bool {
    !vertical.is_empty()
        && vertical.len() <= MAX_VERTICAL_LEN
        && vertical.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Reads a struct only from a JSON object: serde would also read one from an array, by
/// position, and `["Jane", "Smith", ...]` must not pass for a contact.
fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    struct ObjectOnly<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_map(ObjectOnly(PhantomData))
}

/// [`object`], or `null` / absent.
fn optional_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    struct Optional<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Optional<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object or null")
        }
        fn visit_none<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
            object(deserializer).map(Some)
        }
    }
    deserializer.deserialize_option(Optional(PhantomData))
}
