//! `[buyers.mapping]`: a legacy buyer integrated by config alone. Which fields its ping and post
//! carry and under which names, static fields, value formats, the body's encoding (JSON, XML,
//! form-urlencoded), and the rules that read its answers. Every part is optional: a part left
//! out keeps the v1 contract for that message (see docs/buyers.md, "Payload mapping").
//!
//! These are the settings as written; `buyers::mapping::Mapping::compile` checks them (source
//! fields, formats, paths, regexes) and builds the run-time form, so a config that loads is a
//! mapping that renders.

use serde::Deserialize;

/// `[buyers.mapping]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Body encoding of mapped messages, unless a section says otherwise (default `json`).
    #[serde(default)]
    pub format: Option<Encoding>,
    /// Root element of XML bodies, unless a section says otherwise (default `lead`).
    #[serde(default)]
    pub xml_root: Option<String>,
    /// `Content-Type` of mapped messages, unless a section says otherwise (default: the
    /// encoding's own type).
    #[serde(default)]
    pub content_type: Option<String>,
    /// What the ping sends; absent: the v1 ping.
    #[serde(default)]
    pub ping: Option<MessageConfig>,
    /// What the post sends; absent: the v1 post.
    #[serde(default)]
    pub post: Option<MessageConfig>,
    /// How the answer to a ping is read; absent: the v1 bid answer.
    #[serde(default)]
    pub bid: Option<BidRulesConfig>,
    /// How the answer to a post is read; absent: the v1 post answer.
    #[serde(default)]
    pub accepted: Option<AcceptRulesConfig>,
}

/// A body encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// A JSON object; dotted `to` names nest objects.
    #[default]
    Json,
    /// An XML document under one root element; dotted `to` names nest elements.
    Xml,
    /// `application/x-www-form-urlencoded` pairs; `to` names are used as written.
    Form,
}

/// `[buyers.mapping.ping]` or `[buyers.mapping.post]`: one mapped message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageConfig {
    /// Overrides the mapping's `format` for this message.
    #[serde(default)]
    pub format: Option<Encoding>,
    /// Overrides the mapping's `xml_root` for this message.
    #[serde(default)]
    pub xml_root: Option<String>,
    /// Overrides the mapping's `content_type` for this message.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The fields sent, in order.
    pub fields: Vec<FieldConfig>,
}

/// One field of a mapped message: `{ from = "contact.phone", to = "Phone", format = "phone_dashes" }`
/// or a static `{ value = "ABC123", to = "AffiliateId" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// The source field (`attributes.zip`, `contact.phone`, `lead_id`, ...).
    #[serde(default)]
    pub from: Option<String>,
    /// A static value sent as is, instead of `from`.
    #[serde(default)]
    pub value: Option<String>,
    /// The name in the buyer's body; dots nest (JSON, XML).
    pub to: String,
    /// A value format (`phone_dashes`, `state_name`, `yes_no`, `date:%m/%d/%Y`, ...).
    #[serde(default)]
    pub format: Option<String>,
    /// Sent when the source field is absent from the lead (otherwise the field is left out).
    #[serde(default)]
    pub default: Option<String>,
}

/// `[buyers.mapping.bid]`: how a ping's answer reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidRulesConfig {
    /// Where the price is.
    pub price: RuleConfig,
    /// Where the buyer's bid id is, if it sends one.
    #[serde(default)]
    pub bid_id: Option<RuleConfig>,
    /// Whether the answer is a bid; absent: a price found means a bid, none a no-bid.
    #[serde(default)]
    pub bid: Option<RuleConfig>,
}

/// `[buyers.mapping.accepted]`: how a post's answer reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRulesConfig {
    /// Whether the buyer took the lead.
    pub accepted: RuleConfig,
    /// Where the buyer's lead id is, if it sends one.
    #[serde(default)]
    pub buyer_lead_id: Option<RuleConfig>,
    /// Where the buyer's reason for a rejection is, if it sends one.
    #[serde(default)]
    pub reason: Option<RuleConfig>,
}

/// One rule reading a value from an answer: exactly one of `json` (a JSON pointer), `xml` (a
/// path of element names, optionally ending in `@attribute`), `form` (a form field name) or
/// `regex` (the first capture group, or the whole match); plus `equals` for yes/no rules.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A JSON pointer (RFC 6901), e.g. `/result/price`.
    #[serde(default)]
    pub json: Option<String>,
    /// An XML path, e.g. `response/price` or `response/@status`.
    #[serde(default)]
    pub xml: Option<String>,
    /// A field of a form-urlencoded answer, e.g. `price`.
    #[serde(default)]
    pub form: Option<String>,
    /// A regular expression over the whole answer.
    #[serde(default)]
    pub regex: Option<String>,
    /// For `bid` and `accepted`: the values that mean yes (case-insensitive).
    #[serde(default)]
    pub equals: Option<OneOrMany>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}
