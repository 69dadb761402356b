//! Per-buyer payload mapping: a legacy buyer integrated with config and no code. A [`Mapping`]
//! is compiled once from `[buyers.mapping]` (every name, format, path and regex checked) and
//! then renders that buyer's pings and posts and judges its answers, as plain functions with no
//! I/O. Each of its four parts is optional; a part left out keeps the v1 contract.
//!
//! - `source`: the fields a message may carry, and the views they are read from (invariant 1);
//! - `formats`: value formats (phones, dates, states, booleans);
//! - `encode`: target names and the JSON, XML and form encodings;
//! - `parse`: rules reading answers, and the judgements made with them.

mod encode;
mod formats;
mod parse;
mod source;

use bytes::Bytes;
use http::HeaderValue;

pub use source::{PingView, PostView};

use self::encode::{Target, Tree};
use self::formats::Format;
use self::parse::{AcceptRules, BidRules};
use self::source::{Lookup, PingField, PostField, Scalar, SourceField};
use super::Buyer;
use crate::config::{Encoding, FieldConfig, MappingConfig, MessageConfig};
use crate::protocol::bid::{BidVerdict, PriceLimits, judge_bid};
use crate::protocol::ping::PingTemplate;
use crate::protocol::post::{PostRequest, PostVerdict, judge_post};

/// A buyer's compiled mapping.
#[derive(Debug)]
pub struct Mapping {
    /// The mapped ping, if the ping is mapped.
    ping: Option<Message<PingField>>,
    /// The mapped post, if the post is mapped.
    post: Option<Message<PostField>>,
    /// How ping answers read, if not v1.
    bid: Option<BidRules>,
    /// How post answers read, if not v1.
    accepted: Option<AcceptRules>,
}

/// One mapped message: its encoding and its fields.
#[derive(Debug)]
struct Message<F> {
    encoding: Encoding,
    xml_root: Box<str>,
    content_type: HeaderValue,
    fields: Vec<Field<F>>,
}

#[derive(Debug)]
struct Field<F> {
    input: Input<F>,
    target: Target,
    format: Option<Format>,
    default: Option<Box<str>>,
}

#[derive(Debug)]
enum Input<F> {
    From(F),
    Value(Box<str>),
}

/// The `Content-Type` of v1 messages, and of unmapped parts of a mapping.
pub const JSON_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json");

/// Root element of XML bodies when config names none.
const DEFAULT_XML_ROOT: &str = "lead";

impl Mapping {
    /// Compiles `[buyers.mapping]`; `Err((key, message))` names the key under `mapping` at fault
    /// (`post.fields[2].from`).
    pub fn compile(config: &MappingConfig) -> Result<Mapping, (String, String)> {
        fn under(part: &'static str) -> impl Fn((String, String)) -> (String, String) {
            move |(key, message)| (join(part, &key), message)
        }
        if let Some(root) = &config.xml_root
            && !encode::is_xml_name(root)
        {
            return Err(("xml_root".into(), format!("`{root}` is not an XML element name")));
        }
        Ok(Mapping {
            ping: config.ping.as_ref().map(|m| Message::compile(config, m)).transpose().map_err(under("ping"))?,
            post: config.post.as_ref().map(|m| Message::compile(config, m)).transpose().map_err(under("post"))?,
            bid: config.bid.as_ref().map(BidRules::compile).transpose().map_err(under("bid"))?,
            accepted: config.accepted.as_ref().map(AcceptRules::compile).transpose().map_err(under("accepted"))?,
        })
    }

    /// The `Content-Type` of pings and of posts.
    pub fn content_types(&self) -> (HeaderValue, HeaderValue) {
        let ping = self.ping.as_ref().map_or(JSON_CONTENT_TYPE, |m| m.content_type.clone());
        let post = self.post.as_ref().map_or(JSON_CONTENT_TYPE, |m| m.content_type.clone());
        (ping, post)
    }
}

impl<F: SourceField> Message<F> {
    fn compile(mapping: &MappingConfig, config: &MessageConfig) -> Result<Message<F>, (String, String)> {
        let encoding = config.format.or(mapping.format).unwrap_or_default();
        let xml_root = config.xml_root.as_deref().or(mapping.xml_root.as_deref()).unwrap_or(DEFAULT_XML_ROOT);
        if !encode::is_xml_name(xml_root) {
            return Err(("xml_root".into(), format!("`{xml_root}` is not an XML element name")));
        }
        let content_type = match config.content_type.as_deref().or(mapping.content_type.as_deref()) {
            Some(text) => HeaderValue::from_str(text)
                .map_err(|_| ("content_type".to_owned(), format!("`{text}` is not a header value")))?,
            None => HeaderValue::from_static(match encoding {
                Encoding::Json => "application/json",
                Encoding::Xml => "application/xml",
                Encoding::Form => "application/x-www-form-urlencoded",
            }),
        };
        if config.fields.is_empty() {
            return Err(("fields".into(), "list at least one field".into()));
        }
        let mut fields: Vec<Field<F>> = Vec::with_capacity(config.fields.len());
        for (n, field) in config.fields.iter().enumerate() {
            let at = |key: &str| format!("fields[{n}].{key}");
            let compiled = Field::compile(field, encoding).map_err(|(key, m)| (at(key), m))?;
            if let Some(i) = fields.iter().position(|f| f.target.clashes_with(&compiled.target)) {
                return Err((at("to"), format!("`{}` clashes with fields[{i}].to", field.to)));
            }
            fields.push(compiled);
        }
        Ok(Message { encoding, xml_root: xml_root.into(), content_type, fields })
    }

    /// The body for `view`.
    fn render(&self, view: &impl Lookup<F>) -> Bytes {
        let mut tree = Tree::default();
        for field in &self.fields {
            let value = match &field.input {
                Input::From(source) => view.get(source),
                Input::Value(value) => Some(Scalar::Text(value.as_ref().into())),
            };
            let Some(value) = value.or_else(|| field.default.as_deref().map(|d| Scalar::Text(d.into()))) else {
                continue;
            };
            let value = match &field.format {
                Some(format) => format.apply(value),
                None => value,
            };
            tree.insert(&field.target, value);
        }
        tree.encode(self.encoding, &self.xml_root)
    }
}

impl<F: SourceField> Field<F> {
    fn compile(config: &FieldConfig, encoding: Encoding) -> Result<Field<F>, (&'static str, String)> {
        let input = match (&config.from, &config.value) {
            (Some(from), None) => Input::From(F::parse(from).map_err(|m| ("from", m))?),
            (None, Some(value)) => Input::Value(value.as_str().into()),
            _ => {
                return Err(("from", "give exactly one of `from` (a source field) or `value` (a static value)".into()));
            }
        };
        if matches!(input, Input::Value(_)) && config.default.is_some() {
            return Err(("default", "a static `value` needs no default".into()));
        }
        Ok(Field {
            input,
            target: Target::parse(&config.to, encoding).map_err(|m| ("to", m))?,
            format: config.format.as_deref().map(Format::parse).transpose().map_err(|m| ("format", m))?,
            default: config.default.as_deref().map(Into::into),
        })
    }
}

fn join(part: &str, key: &str) -> String {
    if key.is_empty() { part.to_owned() } else { format!("{part}.{key}") }
}

/// A buyer's messages: mapped where its mapping says so, v1 everywhere else.
impl Buyer {
    /// The ping body for this buyer; `template` is the auction's shared v1 ping.
    pub fn ping_body(&self, template: &PingTemplate, view: &PingView<'_>) -> Bytes {
        match self.mapping.as_ref().and_then(|m| m.ping.as_ref()) {
            Some(message) => message.render(view),
            None => template.render(view.ping_id, view.tmax_ms),
        }
    }

    /// The post body for this buyer.
    pub fn post_body(&self, view: &PostView<'_>) -> Bytes {
        if let Some(message) = self.mapping.as_ref().and_then(|m| m.post.as_ref()) {
            return message.render(view);
        }
        let lead = view.lead;
        let body = PostRequest {
            ping_id: view.ping_id,
            bid_id: view.bid_id,
            price: view.price,
            lead_id: view.lead_id,
            vertical: &lead.vertical,
            attributes: &lead.attributes,
            contact: &lead.contact,
            consent: lead.consent.as_ref(),
            test: lead.test,
        };
        // Serializing plain structs into a Vec cannot fail.
        serde_json::to_vec(&body).unwrap_or_default().into()
    }

    /// Judges this buyer's answer to a ping against `limits` (its own, raised to the lead's
    /// vertical floor).
    pub fn judge_bid(&self, status: u16, body: &[u8], limits: PriceLimits) -> BidVerdict {
        match self.mapping.as_ref().and_then(|m| m.bid.as_ref()) {
            Some(rules) => rules.judge(status, body, limits),
            None => judge_bid(status, body, limits),
        }
    }

    /// Judges this buyer's answer to a post.
    pub fn judge_post(&self, status: u16, body: &[u8]) -> PostVerdict {
        match self.mapping.as_ref().and_then(|m| m.accepted.as_ref()) {
            Some(rules) => rules.judge(status, body),
            None => judge_post(status, body),
        }
    }
}

#[cfg(test)]
mod tests;
