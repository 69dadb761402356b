//! Reading a legacy buyer's answers: rules that find a value by JSON pointer, XML path, form
//! field or regex, and the judgements of a ping's and a post's answer made with them. Prices go
//! through the same checks as v1 bids ([`judge_price`]). Nothing here panics on any input: a
//! body that is not the document its rules read is malformed, a value not found is absent.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use regex::Regex;

use crate::config::{AcceptRulesConfig, BidRulesConfig, RuleConfig};
use crate::protocol::bid::{BidPrice, BidVerdict, InvalidBid, PriceLimits, judge_bid_id, judge_price};
use crate::protocol::post::{PostRejection, PostVerdict, clean_buyer_text};

/// Largest compiled regex: ample for any rule, and a bound on what a config can make us build.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One rule: where a value is, and for yes/no rules which values mean yes.
#[derive(Debug)]
pub struct Rule {
    locator: Locator,
    /// Values meaning yes, compared case-insensitively; none: see [`Rule::says_yes`].
    equals: Option<Box<[Box<str>]>>,
}

#[derive(Debug)]
enum Locator {
    Json(Box<str>),
    Xml(XmlPath),
    Form(Box<str>),
    Regex(Regex),
}

/// `response/price` or `response/@status`: element names from the root, then maybe an attribute.
#[derive(Debug)]
struct XmlPath {
    elements: Box<[Box<str>]>,
    attribute: Option<Box<str>>,
}

/// The document an answer's rules read, besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    /// Regex and form rules read any body.
    Text,
    /// JSON pointers need a JSON body.
    Json,
    /// XML paths need a well-formed XML body.
    Xml,
}

/// A value found in an answer.
#[derive(Debug)]
enum Found<'a> {
    Text(Cow<'a, str>),
    Number(serde_json::Number),
    Bool(bool),
    /// A JSON array or object: there, but not a value.
    Other,
}

impl Found<'_> {
    fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Found::Text(text) => Some(Cow::Borrowed(text.trim())),
            Found::Number(number) => Some(Cow::Owned(number.to_string())),
            Found::Bool(flag) => Some(Cow::Borrowed(if *flag { "true" } else { "false" })),
            Found::Other => None,
        }
    }
}

/// An answer body, parsed once into the document its rules read.
struct Answer<'a> {
    text: Cow<'a, str>,
    json: Option<serde_json::Value>,
}

impl<'a> Answer<'a> {
    /// `None` when the body is not the document the rules need.
    fn read(body: &'a [u8], doc: Doc) -> Option<Answer<'a>> {
        let text = String::from_utf8_lossy(body);
        let json = match doc {
            Doc::Json => Some(serde_json::from_slice(body).ok()?),
            Doc::Xml => {
                xml_find(&text, None).ok()?;
                None
            }
            Doc::Text => None,
        };
        Some(Answer { text, json })
    }
}

impl Rule {
    /// Compiles a rule; `Err((key, message))` names the rule's own key at fault.
    pub fn compile(config: &RuleConfig) -> Result<Rule, (&'static str, String)> {
        let given = [&config.json, &config.xml, &config.form, &config.regex];
        if given.iter().filter(|r| r.is_some()).count() != 1 {
            return Err(("", "give exactly one of `json`, `xml`, `form` or `regex`".into()));
        }
        let locator = if let Some(pointer) = &config.json {
            check_pointer(pointer).map_err(|m| ("json", m))?;
            Locator::Json(pointer.as_str().into())
        } else if let Some(path) = &config.xml {
            Locator::Xml(XmlPath::parse(path).map_err(|m| ("xml", m))?)
        } else if let Some(name) = &config.form {
            if name.is_empty() {
                return Err(("form", "name the form field".into()));
            }
            Locator::Form(name.as_str().into())
        } else {
            let pattern = config.regex.as_deref().unwrap_or_default();
            let regex = regex::RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| ("regex", e.to_string()))?;
            Locator::Regex(regex)
        };
        let equals = config.equals.clone().map(|e| e.into_vec().into_iter().map(|v| v.trim().into()).collect());
        Ok(Rule { locator, equals })
    }

    fn doc(&self) -> Doc {
        match self.locator {
            Locator::Json(_) => Doc::Json,
            Locator::Xml(_) => Doc::Xml,
            Locator::Form(_) | Locator::Regex(_) => Doc::Text,
        }
    }

    fn find<'b>(&self, answer: &'b Answer<'_>) -> Option<Found<'b>> {
        match &self.locator {
            Locator::Json(pointer) => match answer.json.as_ref()?.pointer(pointer)? {
                serde_json::Value::Null => None,
                serde_json::Value::String(text) => Some(Found::Text(Cow::Borrowed(text))),
                serde_json::Value::Number(number) => Some(Found::Number(number.clone())),
                serde_json::Value::Bool(flag) => Some(Found::Bool(*flag)),
                _ => Some(Found::Other),
            },
            Locator::Xml(path) => xml_find(&answer.text, Some(path)).ok().flatten().map(Found::Text),
            Locator::Form(name) => form_urlencoded::parse(answer.text.as_bytes())
                .find(|(key, _)| key == &**name)
                .map(|(_, value)| Found::Text(Cow::Owned(value.into_owned()))),
            Locator::Regex(regex) => {
                let captures = regex.captures(&answer.text)?;
                let found = captures.get(1).or_else(|| captures.get(0))?;
                Some(Found::Text(Cow::Borrowed(found.as_str())))
            }
        }
    }

    /// For `bid` and `accepted`: with `equals`, the value found is one of them; without, a
    /// regex matched, or the value is `true`, `1`, `yes` or `y`.
    fn says_yes(&self, answer: &Answer<'_>) -> bool {
        let Some(found) = self.find(answer) else {
            return false;
        };
        let Some(text) = found.text() else {
            return false;
        };
        match &self.equals {
            Some(values) => values.iter().any(|v| v.eq_ignore_ascii_case(&text)),
            None if matches!(self.locator, Locator::Regex(_)) => true,
            None => ["true", "1", "yes", "y"].iter().any(|v| v.eq_ignore_ascii_case(&text)),
        }
    }

    fn text(&self, answer: &Answer<'_>) -> Option<Box<str>> {
        self.find(answer)?.text().map(|t| clean_buyer_text(&t)).filter(|t| !t.is_empty())
    }
}

/// The one document all `rules` read; an error if they need two different ones.
fn doc_of<'r>(rules: impl IntoIterator<Item = &'r Rule>) -> Result<Doc, String> {
    let mut doc = Doc::Text;
    for rule in rules {
        match (doc, rule.doc()) {
            (_, Doc::Text) => {}
            (Doc::Text, needed) => doc = needed,
            (have, needed) if have != needed => {
                return Err("rules of one answer read one document: JSON or XML (form and regex go with either)".into());
            }
            _ => {}
        }
    }
    Ok(doc)
}

/// `[buyers.mapping.bid]`, compiled.
#[derive(Debug)]
pub struct BidRules {
    price: Rule,
    bid_id: Option<Rule>,
    bid: Option<Rule>,
    doc: Doc,
}

impl BidRules {
    /// Compiles the rules; `Err((key, message))`.
    pub fn compile(config: &BidRulesConfig) -> Result<BidRules, (String, String)> {
        let rule = |name: &str, config: &RuleConfig| Rule::compile(config).map_err(|(k, m)| (join(name, k), m));
        let price = rule("price", &config.price)?;
        let bid_id = config.bid_id.as_ref().map(|c| rule("bid_id", c)).transpose()?;
        let bid = config.bid.as_ref().map(|c| rule("bid", c)).transpose()?;
        let doc = doc_of([Some(&price), bid_id.as_ref(), bid.as_ref()].into_iter().flatten())
            .map_err(|m| (String::new(), m))?;
        Ok(BidRules { price, bid_id, bid, doc })
    }

    /// Judges an answer to a ping as `judge_bid` does for v1: 204 is a no-bid, a status
    /// other than 200 or a body that is not the rules' document is invalid, prices and bid ids
    /// are checked the same way.
    pub fn judge(&self, status: u16, body: &[u8], limits: PriceLimits) -> BidVerdict {
        match status {
            204 => return BidVerdict::NoBid,
            200 => {}
            _ => return BidVerdict::Invalid(InvalidBid::Status),
        }
        let Some(answer) = Answer::read(body, self.doc) else {
            return BidVerdict::Invalid(InvalidBid::Malformed);
        };
        if let Some(bid) = &self.bid
            && !bid.says_yes(&answer)
        {
            return BidVerdict::NoBid;
        }
        let price = match self.price.find(&answer) {
            None if self.bid.is_some() => Err(InvalidBid::MissingPrice),
            None => return BidVerdict::NoBid,
            Some(Found::Text(text)) => judge_price(BidPrice::Text(text.trim()), limits),
            Some(Found::Number(number)) => match number.as_f64() {
                Some(n) => judge_price(BidPrice::Number(n), limits),
                None => Err(InvalidBid::NonNumericPrice),
            },
            Some(Found::Bool(_) | Found::Other) => Err(InvalidBid::NonNumericPrice),
        };
        let bid_id = match self.bid_id.as_ref().and_then(|rule| rule.find(&answer)) {
            None => Ok(None),
            Some(found) => found.text().map_or(Err(InvalidBid::BadBidId), |id| judge_bid_id(&id).map(Some)),
        };
        match (price, bid_id) {
            (Ok(price), Ok(bid_id)) => BidVerdict::Bid { price, bid_id },
            (Err(reason), _) | (_, Err(reason)) => BidVerdict::Invalid(reason),
        }
    }
}

/// `[buyers.mapping.accepted]`, compiled.
#[derive(Debug)]
pub struct AcceptRules {
    accepted: Rule,
    buyer_lead_id: Option<Rule>,
    reason: Option<Rule>,
    doc: Doc,
}

impl AcceptRules {
    /// Compiles the rules; `Err((key, message))`.
    pub fn compile(config: &AcceptRulesConfig) -> Result<AcceptRules, (String, String)> {
        let rule = |name: &str, config: &RuleConfig| Rule::compile(config).map_err(|(k, m)| (join(name, k), m));
        let accepted = rule("accepted", &config.accepted)?;
        let buyer_lead_id = config.buyer_lead_id.as_ref().map(|c| rule("buyer_lead_id", c)).transpose()?;
        let reason = config.reason.as_ref().map(|c| rule("reason", c)).transpose()?;
        let doc = doc_of([Some(&accepted), buyer_lead_id.as_ref(), reason.as_ref()].into_iter().flatten())
            .map_err(|m| (String::new(), m))?;
        Ok(AcceptRules { accepted, buyer_lead_id, reason, doc })
    }

    /// Judges an answer to a post as `judge_post` does for v1: non-2xx, or a body that is not
    /// the rules' document, is a rejection.
    pub fn judge(&self, status: u16, body: &[u8]) -> PostVerdict {
        if !(200..300).contains(&status) {
            return PostVerdict::Rejected(PostRejection::Status(status));
        }
        let Some(answer) = Answer::read(body, self.doc) else {
            return PostVerdict::Rejected(PostRejection::Malformed);
        };
        if self.accepted.says_yes(&answer) {
            PostVerdict::Accepted { buyer_lead_id: self.buyer_lead_id.as_ref().and_then(|r| r.text(&answer)) }
        } else {
            PostVerdict::Rejected(PostRejection::Declined(self.reason.as_ref().and_then(|r| r.text(&answer))))
        }
    }
}

fn join(name: &str, key: &str) -> String {
    if key.is_empty() { name.to_owned() } else { format!("{name}.{key}") }
}

/// RFC 6901: empty (the whole document) or `/`-separated tokens where `~` is `~0` or `~1`.
fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!("`{pointer}` is not a JSON pointer: it starts with `/`, e.g. `/result/price`"));
    }
    let mut tildes = pointer.match_indices('~');
    if tildes.any(|(at, _)| !matches!(pointer.as_bytes().get(at + 1), Some(b'0' | b'1'))) {
        return Err(format!("`{pointer}`: in a JSON pointer `~` is written `~0` and `/` inside a name `~1`"));
    }
    Ok(())
}

impl XmlPath {
    fn parse(path: &str) -> Result<XmlPath, String> {
        let bad = || {
            format!(
                "`{path}` is not an XML path: element names from the root, e.g. `response/price` or `response/@status`"
            )
        };
        let mut elements: Vec<Box<str>> = path.trim_start_matches('/').split('/').map(Into::into).collect();
        let attribute = match elements.last().and_then(|last| last.strip_prefix('@')) {
            Some(name) => {
                let name = name.into();
                elements.pop();
                Some(name)
            }
            None => None,
        };
        let names_ok = elements.iter().chain(attribute.as_ref()).all(|n| is_xml_qname(n));
        if elements.is_empty() || !names_ok {
            return Err(bad());
        }
        Ok(XmlPath { elements: elements.into(), attribute })
    }
}

/// An element or attribute name, maybe with a namespace prefix (which matching ignores).
fn is_xml_qname(name: &str) -> bool {
    let local = name.split_once(':').map_or(name, |(_, local)| local);
    super::encode::is_xml_name(local)
}

fn local(name: &str) -> &str {
    name.split_once(':').map_or(name, |(_, local)| local)
}

/// Walks an XML document. With a path, returns the first value there (the text of the element,
/// or its attribute); without, checks the whole document: one root element, nothing but
/// whitespace around it, every element closed, every reference known.
fn xml_find<'t>(text: &'t str, path: Option<&XmlPath>) -> Result<Option<Cow<'t, str>>, ()> {
    let mut reader = quick_xml::Reader::from_str(text);
    // Open elements; how many leading path elements the open ones match; root elements seen.
    let (mut depth, mut matched, mut roots) = (0usize, 0usize, 0usize);
    // The text of the element the path names, while inside it.
    let mut capture: Option<String> = None;
    let next_matches = |depth: usize, matched: usize, start: &BytesStart<'_>| {
        path.is_some_and(|p| {
            matched + 1 == depth
                && p.elements.get(matched).is_some_and(|want| local(want) == local(start.name().as_ref()))
        })
    };
    loop {
        match reader.read_event().map_err(|_| ())? {
            Event::Start(start) => {
                depth += 1;
                roots += usize::from(depth == 1);
                if roots > 1 {
                    return Err(());
                }
                if capture.is_none()
                    && let Some(path) = path
                    && next_matches(depth, matched, &start)
                {
                    matched += 1;
                    if matched == path.elements.len() {
                        match &path.attribute {
                            Some(attribute) => return attribute_value(&start, attribute),
                            None => capture = Some(String::new()),
                        }
                    }
                }
            }
            Event::Empty(start) => {
                roots += usize::from(depth == 0);
                if roots > 1 {
                    return Err(());
                }
                if capture.is_none()
                    && let Some(path) = path
                    && next_matches(depth + 1, matched, &start)
                    && matched + 1 == path.elements.len()
                {
                    return match &path.attribute {
                        Some(attribute) => attribute_value(&start, attribute),
                        None => Ok(Some(Cow::Borrowed(""))),
                    };
                }
            }
            Event::End(_) => {
                if let Some(found) = capture.take_if(|_| path.is_some_and(|p| depth == p.elements.len())) {
                    return Ok(Some(Cow::Owned(found)));
                }
                if matched == depth {
                    matched = matched.saturating_sub(1);
                }
                depth = depth.checked_sub(1).ok_or(())?;
            }
            Event::Text(content) => {
                let content = content.xml10_content();
                if depth == 0 && !content.trim().is_empty() {
                    return Err(());
                }
                if let Some(capture) = &mut capture {
                    capture.push_str(&content);
                }
            }
            Event::CData(content) => {
                if depth == 0 {
                    return Err(());
                }
                if let Some(capture) = &mut capture {
                    capture.push_str(&content.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|_| ())? {
                    Some(c) => c.to_string(),
                    None => {
                        quick_xml::escape::resolve_predefined_entity(&reference.xml10_content()).ok_or(())?.to_owned()
                    }
                };
                if depth == 0 {
                    return Err(());
                }
                if let Some(capture) = &mut capture {
                    capture.push_str(&resolved);
                }
            }
            Event::Eof if depth == 0 && roots == 1 => return Ok(None),
            Event::Eof => return Err(()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

fn attribute_value<'t>(start: &BytesStart<'_>, name: &str) -> Result<Option<Cow<'t, str>>, ()> {
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|_| ())?;
        if local(attribute.key.as_ref()) == local(name) {
            let value = attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|_| ())?;
            return Ok(Some(Cow::Owned(value.into_owned())));
        }
    }
    Ok(None)
}
