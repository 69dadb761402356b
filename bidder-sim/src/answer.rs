//! The bodies a simulated buyer answers with: bids, no-bids, post answers, the broken bodies
//! of the content faults, and the padding of an oversized answer. Normal answers are written
//! straight into one right-sized buffer.

use std::io::Write as _;

use bytes::Bytes;
use lead_protocol::money::Micros;

use crate::bidbook::BID_ID_PREFIX;
use crate::faults::FaultKind;

/// Prefix of the lead ids a buyer gives for accepted posts.
const BUYER_LEAD_ID_PREFIX: &str = "bl_";

/// Room for a bid: `{"bid":true,"price":"","bid_id":""}` plus a price and a serial.
const BID_CAPACITY: usize = 96;

/// Which endpoint an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/{buyer}/ping`.
    Ping,
    /// `/{buyer}/post`.
    Post,
}

/// `{"bid": false}`.
pub const NO_BID: &[u8] = br#"{"bid":false}"#;

/// A declined post.
pub const DECLINED: &[u8] = br#"{"accepted":false,"reason":"not_interested"}"#;

/// The body of an injected 500 or 503, in the contract's error shape.
const FAULT_ERROR: &[u8] = br#"{"error":{"code":"simulated_fault","message":"injected by bidder-sim"}}"#;

/// `{"bid":true,"price":"12.50","bid_id":"bd_17"}`.
pub fn bid(price: Micros, serial: u64) -> Bytes {
    let mut body = Vec::with_capacity(BID_CAPACITY);
    // Writing into a Vec cannot fail.
    let _ = write!(body, r#"{{"bid":true,"price":"{price}","bid_id":"{BID_ID_PREFIX}{serial}"}}"#);
    body.into()
}

/// `{"accepted":true,"buyer_lead_id":"bl_5"}`.
pub fn accepted(serial: u64) -> Bytes {
    let mut body = Vec::with_capacity(BID_CAPACITY);
    let _ = write!(body, r#"{{"accepted":true,"buyer_lead_id":"{BUYER_LEAD_ID_PREFIX}{serial}"}}"#);
    body.into()
}

/// The body of a content fault (status 200 unless it is an error fault); `None` for faults
/// that change how an answer is delivered rather than what it says.
pub fn broken(kind: FaultKind, endpoint: Endpoint) -> Option<&'static [u8]> {
    let body: &'static [u8] = match (kind, endpoint) {
        (FaultKind::Error500 | FaultKind::Error503, _) => FAULT_ERROR,
        (FaultKind::Malformed, Endpoint::Ping) => br#"{"bid":true,"price":"12.5"#,
        (FaultKind::Malformed, Endpoint::Post) => br#"{"accepted":tr"#,
        (FaultKind::WrongTypes, Endpoint::Ping) => br#"{"bid":"yes","price":"12.50","bid_id":"bd_0"}"#,
        (FaultKind::WrongTypes, Endpoint::Post) => br#"{"accepted":"yes","buyer_lead_id":"bl_0"}"#,
        (FaultKind::NegativePrice, _) => br#"{"bid":true,"price":"-12.50","bid_id":"bd_0"}"#,
        (FaultKind::NanPrice, _) => br#"{"bid":true,"price":"NaN","bid_id":"bd_0"}"#,
        (FaultKind::HugePrice, _) => br#"{"bid":true,"price":"1000000000000.00","bid_id":"bd_0"}"#,
        _ => return None,
    };
    Some(body)
}

/// `answer` (a JSON object) grown to `size` bytes with a `"padding"` member: still a valid
/// answer, only far too big.
pub fn padded(answer: &[u8], size: usize) -> Bytes {
    const KEY: &[u8] = br#","padding":""#;
    let Some(head) = answer.strip_suffix(b"}") else { return Bytes::copy_from_slice(answer) };
    let fill = size.saturating_sub(head.len() + KEY.len() + 2);
    let mut body = Vec::with_capacity(head.len() + KEY.len() + fill + 2);
    body.extend_from_slice(head);
    body.extend_from_slice(KEY);
    body.resize(body.len() + fill, b'x');
    body.extend_from_slice(b"\"}");
    body.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lead_protocol::bid::{BidVerdict, InvalidBid, PriceLimits, judge_bid};
    use lead_protocol::post::{PostRejection, PostVerdict, judge_post};

    const LIMITS: PriceLimits = PriceLimits { floor: Micros::ZERO, max: Micros::from_units(1000) };

    #[test]
    fn normal_answers_are_what_the_engine_expects() {
        assert_eq!(
            judge_bid(200, &bid(Micros(12_500_000), 17), LIMITS),
            BidVerdict::Bid { price: Micros(12_500_000), bid_id: Some("bd_17".into()) }
        );
        assert_eq!(judge_bid(200, NO_BID, LIMITS), BidVerdict::NoBid);
        assert_eq!(judge_post(200, &accepted(5)), PostVerdict::Accepted { buyer_lead_id: Some("bl_5".into()) });
        assert!(matches!(judge_post(200, DECLINED), PostVerdict::Rejected(PostRejection::Declined(Some(_)))));
    }

    #[test]
    fn broken_answers_are_invalid_for_the_reason_they_simulate() {
        let verdict = |kind| judge_bid(200, broken(kind, Endpoint::Ping).unwrap_or_default(), LIMITS);
        assert_eq!(verdict(FaultKind::Malformed), BidVerdict::Invalid(InvalidBid::Malformed));
        assert_eq!(verdict(FaultKind::WrongTypes), BidVerdict::Invalid(InvalidBid::Malformed));
        assert_eq!(verdict(FaultKind::NegativePrice), BidVerdict::Invalid(InvalidBid::NonPositivePrice));
        assert_eq!(verdict(FaultKind::NanPrice), BidVerdict::Invalid(InvalidBid::NonNumericPrice));
        assert_eq!(verdict(FaultKind::HugePrice), BidVerdict::Invalid(InvalidBid::AboveMax));
        for kind in [FaultKind::Malformed, FaultKind::WrongTypes] {
            let body = broken(kind, Endpoint::Post).unwrap_or_default();
            assert_eq!(judge_post(200, body), PostVerdict::Rejected(PostRejection::Malformed));
        }
        for kind in
            [FaultKind::Late, FaultKind::Trickle, FaultKind::Reset, FaultKind::NeverAnswer, FaultKind::Oversized]
        {
            assert_eq!(broken(kind, Endpoint::Ping), None);
        }
    }

    #[test]
    fn padding_keeps_the_answer_valid_at_the_exact_size() {
        let body = padded(&bid(Micros(1_000_000), 1), 20_000);
        assert_eq!(body.len(), 20_000);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(value["bid"], true);
        assert_eq!(value["price"], "1.00");
    }
}
