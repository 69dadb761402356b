//! The post: the full lead (with PII) sent to one buyer at a time, in rank order, and the
//! judgement of the buyer's answer.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::lead::{Attributes, Consent, Contact};
use crate::money::Micros;

/// Longest rejection reason or buyer lead id kept from a buyer's answer.
pub const MAX_BUYER_TEXT_LEN: usize = 200;

/// The post body.
#[derive(Debug, Serialize)]
pub struct PostRequest<'a> {
    /// The ping this post follows.
    pub ping_id: &'a str,
    /// The buyer's own bid id from its answer to that ping.
    pub bid_id: Option<&'a str>,
    /// The price the buyer bid.
    pub price: Micros,
    /// The engine's lead id.
    pub lead_id: &'a str,
    /// Product line.
    pub vertical: &'a str,
    /// Non-personal attributes, as in the ping.
    pub attributes: &'a Attributes,
    /// Contact data (PII).
    pub contact: &'a Contact,
    /// Consent evidence.
    pub consent: Option<&'a Consent>,
    /// A test lead (also said in the ping): never billed. An extension of contract v1.
    pub test: bool,
}

/// What a buyer's answer to a post amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostVerdict {
    /// The buyer took the lead.
    Accepted {
        /// The buyer's id for the lead, if it sent one.
        buyer_lead_id: Option<Box<str>>,
    },
    /// The buyer said no, answered with an error status, or sent garbage.
    Rejected(PostRejection),
}

/// Why a post did not sell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostRejection {
    /// `{"accepted": false, "reason": ...}`.
    Declined(Option<Box<str>>),
    /// A status other than 2xx.
    Status(u16),
    /// A 2xx whose body is not the contract's JSON.
    Malformed,
}

#[derive(Deserialize)]
struct RawPostAnswer<'a> {
    accepted: bool,
    /// Some buyers send their lead id as a number; any scalar is kept as text.
    #[serde(default, borrow)]
    buyer_lead_id: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    reason: Option<Scalar<'a>>,
}

/// A JSON scalar read as text; anything else is dropped rather than failing the answer.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar<'a> {
    #[serde(borrow)]
    Text(Cow<'a, str>),
    Number(serde_json::Number),
    Other(serde::de::IgnoredAny),
}

impl Scalar<'_> {
    fn text(&self) -> Option<Box<str>> {
        match self {
            Scalar::Text(text) => Some(clean_buyer_text(text)),
            Scalar::Number(number) => Some(clean_buyer_text(&number.to_string())),
            Scalar::Other(_) => None,
        }
    }
}

/// Judges a buyer's answer to a post.
pub fn judge_post(status: u16, body: &[u8]) -> PostVerdict {
    if !(200..300).contains(&status) {
        return PostVerdict::Rejected(PostRejection::Status(status));
    }
    match serde_json::from_slice::<RawPostAnswer<'_>>(body) {
        Ok(answer) if answer.accepted => {
            PostVerdict::Accepted { buyer_lead_id: answer.buyer_lead_id.as_ref().and_then(Scalar::text) }
        }
        Ok(answer) => PostVerdict::Rejected(PostRejection::Declined(answer.reason.as_ref().and_then(Scalar::text))),
        Err(_) => PostVerdict::Rejected(PostRejection::Malformed),
    }
}

/// Bounds and strips a buyer-provided text so it is safe to keep and to log.
pub fn clean_buyer_text(text: &str) -> Box<str> {
    text.chars().filter(|c| !c.is_control()).take(MAX_BUYER_TEXT_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_post_answers() {
        assert_eq!(
            judge_post(200, br#"{"accepted":true,"buyer_lead_id":"B-1"}"#),
            PostVerdict::Accepted { buyer_lead_id: Some("B-1".into()) }
        );
        assert_eq!(
            judge_post(200, br#"{"accepted":false,"reason":"dup\n"}"#),
            PostVerdict::Rejected(PostRejection::Declined(Some("dup".into())))
        );
        assert_eq!(
            judge_post(200, br#"{"accepted":true,"buyer_lead_id":12345}"#),
            PostVerdict::Accepted { buyer_lead_id: Some("12345".into()) },
            "a numeric id is still an acceptance"
        );
        assert_eq!(
            judge_post(200, br#"{"accepted":true,"buyer_lead_id":{"x":1}}"#),
            PostVerdict::Accepted { buyer_lead_id: None }
        );
        assert_eq!(judge_post(500, b""), PostVerdict::Rejected(PostRejection::Status(500)));
        assert_eq!(judge_post(200, b"<xml/>"), PostVerdict::Rejected(PostRejection::Malformed));
        assert_eq!(judge_post(200, br#"{"accepted":"yes"}"#), PostVerdict::Rejected(PostRejection::Malformed));
    }
}
