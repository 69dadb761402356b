//! A buyer's answer to a ping, and the judgement of it: a bid, a no-bid, or an invalid answer
//! with the reason. Judging is a plain function of the status, the body and the price limits.

use std::borrow::Cow;

use serde::Deserialize;

use crate::money::{Micros, MoneyError};

/// Longest `bid_id` accepted from a buyer; longer ones are invalid (it is echoed in the post).
pub const MAX_BID_ID_LEN: usize = 128;

/// What a buyer's answer to a ping amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BidVerdict {
    /// A valid bid.
    Bid {
        /// Offered price.
        price: Micros,
        /// The buyer's bid id, echoed in the post (absent if the buyer sent none).
        bid_id: Option<Box<str>>,
    },
    /// The buyer declined (`{"bid": false}` or 204).
    NoBid,
    /// An answer that is neither: recorded with its reason, never ranked.
    Invalid(InvalidBid),
}

/// Why an answer to a ping is not a bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidBid {
    /// A status other than 200 or 204.
    Status,
    /// The body is not the JSON the contract describes.
    Malformed,
    /// `bid: true` without a price.
    MissingPrice,
    /// The price is not a decimal number (text, NaN, ...).
    NonNumericPrice,
    /// Zero or negative.
    NonPositivePrice,
    /// Above the configured sanity maximum.
    AboveMax,
    /// Below the buyer's or the global floor.
    BelowFloor,
    /// `bid_id` is not a short string.
    BadBidId,
}

impl InvalidBid {
    /// Every reason, for pre-registering metrics.
    pub const ALL: [InvalidBid; 8] = [
        InvalidBid::Status,
        InvalidBid::Malformed,
        InvalidBid::MissingPrice,
        InvalidBid::NonNumericPrice,
        InvalidBid::NonPositivePrice,
        InvalidBid::AboveMax,
        InvalidBid::BelowFloor,
        InvalidBid::BadBidId,
    ];

    /// Stable name for metrics, records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidBid::Status => "bad_status",
            InvalidBid::Malformed => "malformed",
            InvalidBid::MissingPrice => "missing_price",
            InvalidBid::NonNumericPrice => "non_numeric_price",
            InvalidBid::NonPositivePrice => "non_positive_price",
            InvalidBid::AboveMax => "above_max",
            InvalidBid::BelowFloor => "below_floor",
            InvalidBid::BadBidId => "bad_bid_id",
        }
    }
}

/// The price limits a bid is judged against.
#[derive(Debug, Clone, Copy)]
pub struct PriceLimits {
    /// Lowest acceptable price (the higher of the buyer's and the global floor).
    pub floor: Micros,
    /// Highest believable price; above it the bid is a bug or an attack.
    pub max: Micros,
}

#[derive(Deserialize)]
struct RawBid<'a> {
    bid: bool,
    #[serde(default)]
    price: Option<RawPrice<'a>>,
    #[serde(default, borrow)]
    bid_id: Option<RawBidId<'a>>,
}

/// A bid id as a buyer may send it: text, or a number kept as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawBidId<'a> {
    #[serde(borrow)]
    Text(Cow<'a, str>),
    Number(serde_json::Number),
    Other(serde::de::IgnoredAny),
}

/// A price as a buyer may send it: a decimal string or a JSON number.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawPrice<'a> {
    Number(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
    Other(serde::de::IgnoredAny),
}

/// Judges a buyer's answer to a ping (`status`, `body`) against the price limits.
pub fn judge_bid(status: u16, body: &[u8], limits: PriceLimits) -> BidVerdict {
    match status {
        204 => return BidVerdict::NoBid,
        200 => {}
        _ => return BidVerdict::Invalid(InvalidBid::Status),
    }
    let raw: RawBid<'_> = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        Err(_) => return BidVerdict::Invalid(InvalidBid::Malformed),
    };
    if !raw.bid {
        return BidVerdict::NoBid;
    }
    let price = match &raw.price {
        None => return BidVerdict::Invalid(InvalidBid::MissingPrice),
        Some(RawPrice::Number(n)) => judge_price(BidPrice::Number(*n), limits),
        Some(RawPrice::Text(text)) => judge_price(BidPrice::Text(text), limits),
        Some(RawPrice::Other(_)) => Err(InvalidBid::NonNumericPrice),
    };
    let price = match price {
        Ok(price) => price,
        Err(reason) => return BidVerdict::Invalid(reason),
    };
    let bid_id = match raw.bid_id {
        None => None,
        Some(RawBidId::Text(id)) => Some(judge_bid_id(&id)),
        Some(RawBidId::Number(n)) => Some(judge_bid_id(&n.to_string())),
        Some(RawBidId::Other(_)) => Some(Err(InvalidBid::BadBidId)),
    };
    let bid_id = match bid_id.transpose() {
        Ok(bid_id) => bid_id,
        Err(reason) => return BidVerdict::Invalid(reason),
    };
    BidVerdict::Bid { price, bid_id }
}

/// A price as read from a buyer's answer, before it is judged.
#[derive(Debug, Clone, Copy)]
pub enum BidPrice<'a> {
    /// A JSON number.
    Number(f64),
    /// Text: a decimal string, or whatever the buyer put where the price belongs.
    Text(&'a str),
}

/// Judges a price against the limits: the one set of price checks, shared by the v1 answer and
/// the mapped answers of legacy buyers. Negative, zero, NaN, non-numeric and absurd prices are
/// invalid with their reason.
pub fn judge_price(price: BidPrice<'_>, limits: PriceLimits) -> Result<Micros, InvalidBid> {
    let (price, negative) = match price {
        BidPrice::Number(n) => (Micros::from_f64(n), n < 0.0),
        BidPrice::Text(text) => (Micros::parse(text), text.trim_start().starts_with('-')),
    };
    let price = match price {
        Ok(price) => price,
        Err(MoneyError::OutOfRange) if negative => return Err(InvalidBid::NonPositivePrice),
        Err(MoneyError::OutOfRange) => return Err(InvalidBid::AboveMax),
        Err(_) => return Err(InvalidBid::NonNumericPrice),
    };
    if !price.is_positive() {
        return Err(InvalidBid::NonPositivePrice);
    }
    if price > limits.max {
        return Err(InvalidBid::AboveMax);
    }
    if price < limits.floor {
        return Err(InvalidBid::BelowFloor);
    }
    Ok(price)
}

/// Judges a buyer's bid id: non-empty, at most [`MAX_BID_ID_LEN`] bytes, no control characters
/// (it is echoed in the post).
pub fn judge_bid_id(id: &str) -> Result<Box<str>, InvalidBid> {
    if !id.is_empty() && id.len() <= MAX_BID_ID_LEN && !id.chars().any(char::is_control) {
        Ok(id.into())
    } else {
        Err(InvalidBid::BadBidId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PriceLimits = PriceLimits { floor: Micros::from_units(1), max: Micros::from_units(500) };

    fn judge(body: &str) -> BidVerdict {
        judge_bid(200, body.as_bytes(), LIMITS)
    }

    #[test]
    fn valid_bids_as_string_or_number() {
        let bid = |price| BidVerdict::Bid { price: Micros(price), bid_id: Some("b1".into()) };
        assert_eq!(judge(r#"{"bid":true,"price":"12.50","bid_id":"b1"}"#), bid(12_500_000));
        assert_eq!(judge(r#"{"bid":true,"price":12.5,"bid_id":"b1"}"#), bid(12_500_000));
        assert_eq!(
            judge(r#"{"bid":true,"price":"3"}"#),
            BidVerdict::Bid { price: Micros::from_units(3), bid_id: None }
        );
        assert_eq!(
            judge(r#"{"bid":true,"price":"3","bid_id":42}"#),
            BidVerdict::Bid { price: Micros::from_units(3), bid_id: Some("42".into()) }
        );
    }

    #[test]
    fn no_bids() {
        assert_eq!(judge(r#"{"bid":false}"#), BidVerdict::NoBid);
        assert_eq!(judge_bid(204, b"", LIMITS), BidVerdict::NoBid);
    }

    #[test]
    fn invalid_answers_have_reasons() {
        use InvalidBid::*;
        for (body, reason) in [
            (r#"{"bid":true,"price":"-5.00"}"#, NonPositivePrice),
            (r#"{"bid":true,"price":0}"#, NonPositivePrice),
            (r#"{"bid":true,"price":"NaN"}"#, NonNumericPrice),
            (r#"{"bid":true,"price":"abc"}"#, NonNumericPrice),
            (r#"{"bid":true,"price":[1]}"#, NonNumericPrice),
            (r#"{"bid":true,"price":null}"#, MissingPrice),
            (r#"{"bid":true}"#, MissingPrice),
            (r#"{"bid":true,"price":"1e400"}"#, NonNumericPrice),
            (r#"{"bid":true,"price":1e300}"#, AboveMax),
            (r#"{"bid":true,"price":"999999999999999999"}"#, AboveMax),
            (r#"{"bid":true,"price":"500.01"}"#, AboveMax),
            (r#"{"bid":true,"price":"0.99"}"#, BelowFloor),
            (r#"{"bid":true,"price":"2","bid_id":""}"#, BadBidId),
            (r#"{"bid":true,"price":"2","bid_id":["x"]}"#, BadBidId),
            (r#"{"bid":true,"price":"-99999999999999999999"}"#, NonPositivePrice),
            (r#"{"bid":true,"price":-1e300}"#, NonPositivePrice),
            (r#"{"bid":"yes","price":"2"}"#, Malformed),
            (r#"{"bid":true,"price":NaN}"#, Malformed),
            ("not json", Malformed),
            ("", Malformed),
        ] {
            assert_eq!(judge(body), BidVerdict::Invalid(reason), "{body}");
        }
        assert_eq!(judge_bid(500, b"{}", LIMITS), BidVerdict::Invalid(Status));
        assert_eq!(judge_bid(201, br#"{"bid":true,"price":"2"}"#, LIMITS), BidVerdict::Invalid(Status));
    }

    proptest::proptest! {
        #[test]
        fn any_body_is_judged_without_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = judge_bid(200, &body, LIMITS);
        }
    }
}
