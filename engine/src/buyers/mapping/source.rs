//! Source fields: what a mapped message may carry, named as in config (`attributes.zip`,
//! `contact.phone`, `lead_id`, ...), and the two views they are read from.
//!
//! Invariant 1 (no PII in a ping) holds by type: a ping is rendered from a [`PingView`], which
//! has no contact or consent data, and its fields are [`PingField`]s, which cannot name any.
//! Only the post's [`PostView`] holds the lead.

use std::borrow::Cow;

use crate::protocol::lead::{AttrValue, Attributes, Lead, is_valid_vertical};
use crate::protocol::money::Micros;

/// One value read from a view, before formatting and encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// Text.
    Text(Cow<'a, str>),
    /// A number (a JSON number in JSON bodies).
    Number(serde_json::Number),
    /// A flag (a JSON boolean in JSON bodies).
    Bool(bool),
}

impl Scalar<'_> {
    /// The value as text, as XML and form bodies carry it.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::Text(text) => Cow::Borrowed(text),
            Scalar::Number(number) => Cow::Owned(number.to_string()),
            Scalar::Bool(flag) => Cow::Borrowed(if *flag { "true" } else { "false" }),
        }
    }
}

/// Reads a source field's value; `None` when the lead does not have it.
pub trait Lookup<F> {
    /// The value of `field`.
    fn get(&self, field: &F) -> Option<Scalar<'_>>;
}

/// A source field name as config writes it.
pub trait SourceField: Sized {
    /// Parses a name; the error says what is wrong and what would be right.
    fn parse(name: &str) -> Result<Self, String>;
}

/// A lead attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `attributes.zip`: five digits.
    Zip,
    /// `attributes.state`: the two-letter code.
    State,
    /// Any other attribute, by name.
    Extra(Box<str>),
}

/// A field a ping may carry: none of them is personal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingField {
    /// `ping_id`.
    PingId,
    /// `vertical`.
    Vertical,
    /// `tmax_ms`: milliseconds left to answer.
    TmaxMs,
    /// `test`.
    Test,
    /// `attributes.<name>`.
    Attribute(Attribute),
}

/// Contact fields (`contact.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactField {
    /// `first_name`.
    FirstName,
    /// `last_name`.
    LastName,
    /// `email`.
    Email,
    /// `phone` (E.164; phone formats restyle it).
    Phone,
    /// `address`.
    Address,
    /// `city`.
    City,
}

/// Consent fields (`consent.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentField {
    /// `trustedform_cert_url`.
    TrustedformCertUrl,
    /// `jornaya_leadid`.
    JornayaLeadid,
    /// `ip`.
    Ip,
    /// `consent_text`.
    ConsentText,
    /// `captured_at` (RFC 3339; date formats restyle it).
    CapturedAt,
}

/// A field a post may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostField {
    /// `lead_id`.
    LeadId,
    /// `bid_id`: the buyer's own, from its bid.
    BidId,
    /// `price`: the price bid, as a decimal string.
    Price,
    /// A field shared with the ping (all but `tmax_ms`).
    Ping(PingField),
    /// `contact.<name>`.
    Contact(ContactField),
    /// `consent.<name>`.
    Consent(ConsentField),
}

const PING_FIELDS: &str = "ping_id, vertical, tmax_ms, test, attributes.<name>";
const POST_FIELDS: &str = "lead_id, ping_id, bid_id, price, vertical, test, attributes.<name>, contact.<name>, \
                           consent.<name>";

const CONTACT: [(&str, ContactField); 6] = [
    ("first_name", ContactField::FirstName),
    ("last_name", ContactField::LastName),
    ("email", ContactField::Email),
    ("phone", ContactField::Phone),
    ("address", ContactField::Address),
    ("city", ContactField::City),
];

const CONSENT: [(&str, ConsentField); 5] = [
    ("trustedform_cert_url", ConsentField::TrustedformCertUrl),
    ("jornaya_leadid", ConsentField::JornayaLeadid),
    ("ip", ConsentField::Ip),
    ("consent_text", ConsentField::ConsentText),
    ("captured_at", ConsentField::CapturedAt),
];

/// Finds `name` in a table, or says which names there are.
fn lookup_name<T: Copy>(table: &[(&str, T)], group: &str, name: &str) -> Result<T, String> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        format!("unknown field `{group}.{name}` (known: {})", names.join(", "))
    })
}

impl SourceField for PingField {
    fn parse(name: &str) -> Result<PingField, String> {
        Ok(match name {
            "ping_id" => PingField::PingId,
            "vertical" => PingField::Vertical,
            "tmax_ms" => PingField::TmaxMs,
            "test" => PingField::Test,
            _ if name.starts_with("contact.") || name.starts_with("consent.") => {
                return Err(format!(
                    "`{name}` is personal data and never goes in a ping (invariant 1: no PII in a ping); \
                     map it under `post`"
                ));
            }
            "lead_id" | "bid_id" | "price" => {
                return Err(format!("`{name}` does not exist yet when pinging; ping fields: {PING_FIELDS}"));
            }
            _ => match name.strip_prefix("attributes.") {
                Some(attribute) => PingField::Attribute(parse_attribute(attribute)?),
                None => return Err(format!("unknown source field `{name}` (ping fields: {PING_FIELDS})")),
            },
        })
    }
}

impl SourceField for PostField {
    fn parse(name: &str) -> Result<PostField, String> {
        Ok(match name {
            "lead_id" => PostField::LeadId,
            "bid_id" => PostField::BidId,
            "price" => PostField::Price,
            "tmax_ms" => return Err("`tmax_ms` is only in the ping".into()),
            _ => {
                if let Some(field) = name.strip_prefix("contact.") {
                    PostField::Contact(lookup_name(&CONTACT, "contact", field)?)
                } else if let Some(field) = name.strip_prefix("consent.") {
                    PostField::Consent(lookup_name(&CONSENT, "consent", field)?)
                } else {
                    PostField::Ping(
                        PingField::parse(name)
                            .map_err(|_| format!("unknown source field `{name}` (post fields: {POST_FIELDS})"))?,
                    )
                }
            }
        })
    }
}

fn parse_attribute(name: &str) -> Result<Attribute, String> {
    match name {
        "zip" => Ok(Attribute::Zip),
        "state" => Ok(Attribute::State),
        _ if is_valid_vertical(name) => Ok(Attribute::Extra(name.into())),
        _ => Err(format!("`attributes.{name}`: attribute names are lowercase letters, digits and `_`")),
    }
}

/// What a ping is rendered from: the ping's own fields and the lead's attributes, nothing else.
#[derive(Debug, Clone, Copy)]
pub struct PingView<'a> {
    /// This ping's id.
    pub ping_id: &'a str,
    /// Milliseconds the buyer has left.
    pub tmax_ms: u32,
    /// Product line.
    pub vertical: &'a str,
    /// Non-personal attributes.
    pub attributes: &'a Attributes,
    /// Test traffic.
    pub test: bool,
}

/// What a post is rendered from: the whole lead and the bid being posted.
#[derive(Debug, Clone, Copy)]
pub struct PostView<'a> {
    /// The ping this post follows.
    pub ping_id: &'a str,
    /// The buyer's bid id from its answer, if it sent one.
    pub bid_id: Option<&'a str>,
    /// The price posted: what the buyer pays if it accepts (its bid, or less under second
    /// price).
    pub price: Micros,
    /// The engine's lead id.
    pub lead_id: &'a str,
    /// The lead.
    pub lead: &'a Lead,
}

fn attribute<'a>(attributes: &'a Attributes, which: &Attribute) -> Option<Scalar<'a>> {
    Some(match which {
        Attribute::Zip => {
            let mut zip = [0u8; 5];
            attributes.zip.write5(&mut zip);
            Scalar::Text(Cow::Owned(String::from_utf8_lossy(&zip).into_owned()))
        }
        Attribute::State => Scalar::Text(Cow::Borrowed(attributes.state.code())),
        Attribute::Extra(name) => match attributes.get(name)? {
            AttrValue::Text(text) => Scalar::Text(Cow::Borrowed(text)),
            AttrValue::Number(number) => Scalar::Number(number.clone()),
            AttrValue::Bool(flag) => Scalar::Bool(*flag),
        },
    })
}

fn text(value: &str) -> Option<Scalar<'_>> {
    Some(Scalar::Text(Cow::Borrowed(value)))
}

impl Lookup<PingField> for PingView<'_> {
    fn get(&self, field: &PingField) -> Option<Scalar<'_>> {
        match field {
            PingField::PingId => text(self.ping_id),
            PingField::Vertical => text(self.vertical),
            PingField::TmaxMs => Some(Scalar::Number(self.tmax_ms.into())),
            PingField::Test => Some(Scalar::Bool(self.test)),
            PingField::Attribute(which) => attribute(self.attributes, which),
        }
    }
}

impl Lookup<PostField> for PostView<'_> {
    fn get(&self, field: &PostField) -> Option<Scalar<'_>> {
        let lead = self.lead;
        match field {
            PostField::LeadId => text(self.lead_id),
            PostField::BidId => text(self.bid_id?),
            PostField::Price => Some(Scalar::Text(Cow::Owned(self.price.to_string()))),
            PostField::Ping(PingField::PingId) => text(self.ping_id),
            PostField::Ping(PingField::Vertical) => text(&lead.vertical),
            PostField::Ping(PingField::Test) => Some(Scalar::Bool(lead.test)),
            // Refused at config load: a post has no deadline to tell.
            PostField::Ping(PingField::TmaxMs) => None,
            PostField::Ping(PingField::Attribute(which)) => attribute(&lead.attributes, which),
            PostField::Contact(field) => {
                let c = &lead.contact;
                match field {
                    ContactField::FirstName => text(&c.first_name),
                    ContactField::LastName => text(&c.last_name),
                    ContactField::Email => text(&c.email),
                    ContactField::Phone => text(&c.phone),
                    ContactField::Address => text(c.address.as_deref()?),
                    ContactField::City => text(c.city.as_deref()?),
                }
            }
            PostField::Consent(field) => {
                let c = lead.consent.as_ref()?;
                let value = match field {
                    ConsentField::TrustedformCertUrl => &c.trustedform_cert_url,
                    ConsentField::JornayaLeadid => &c.jornaya_leadid,
                    ConsentField::Ip => &c.ip,
                    ConsentField::ConsentText => &c.consent_text,
                    ConsentField::CapturedAt => &c.captured_at,
                };
                text(value.as_deref()?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_or_say_why_not() {
        assert_eq!(PingField::parse("attributes.zip"), Ok(PingField::Attribute(Attribute::Zip)));
        assert_eq!(PostField::parse("contact.phone"), Ok(PostField::Contact(ContactField::Phone)));
        assert_eq!(PostField::parse("consent.ip"), Ok(PostField::Consent(ConsentField::Ip)));
        assert_eq!(PostField::parse("vertical"), Ok(PostField::Ping(PingField::Vertical)));
        fn err<T>(r: Result<T, String>) -> String {
            r.err().unwrap_or_default()
        }
        assert!(err(PingField::parse("contact.phone")).contains("invariant 1"));
        assert!(err(PingField::parse("consent.ip")).contains("never goes in a ping"));
        assert!(err(PingField::parse("lead_id")).contains("does not exist yet"));
        assert!(err(PingField::parse("zip")).contains("unknown source field `zip`"));
        assert!(err(PostField::parse("contact.ssn")).contains("unknown field `contact.ssn`"));
        assert!(err(PostField::parse("tmax_ms")).contains("only in the ping"));
        assert!(err(PostField::parse("attributes.Bad Name")).contains("unknown source field"));
    }
}
