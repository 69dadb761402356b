//! Judging a run by the rules: plain functions of what was sent and received
//! ([`Observations`]), no I/O. Ping answers are judged by the engine's own [`judge_bid`] and
//! post answers by its own [`judge_post`], so the checker and the engine never disagree on what
//! a bid or a sale is; the rules only add which of the engine's reasons applied, and why.

use std::collections::HashMap;
use std::time::Duration;

use lead_protocol::bid::{BidVerdict, InvalidBid, PriceLimits, judge_bid};
use lead_protocol::post::{MAX_BUYER_TEXT_LEN, PostRejection, PostVerdict, judge_post};
use serde_json::Value;

use super::probe::{Answer, ENGINE_MAX_ANSWER_BYTES, Exchange, Failure, MAX_READ_BYTES};
use super::rules::{Example, Outcome, Rule, RuleResult};

/// Most characters of an answer body quoted in an example: enough to see what is wrong,
/// short enough to keep the report readable.
const EXAMPLE_BODY_CHARS: usize = 160;

/// One request sent and what came of it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// How the report names it.
    pub label: String,
    /// What happened.
    pub exchange: Exchange,
}

/// Everything the rules judge.
#[derive(Debug, Clone)]
pub struct Observations {
    /// The `tmax_ms` announced in the pings.
    pub tmax: Duration,
    /// How long the post may take.
    pub post_timeout: Duration,
    /// Floor and maximum price.
    pub limits: PriceLimits,
    /// The pings, in order.
    pub pings: Vec<Sent>,
    /// The post.
    pub post: Sent,
}

/// The answer the engine would judge: complete and within its read limit.
pub fn judgeable(exchange: &Exchange) -> Option<&Answer> {
    exchange.result.as_ref().ok().filter(|a| a.complete && a.body.len() <= ENGINE_MAX_ANSWER_BYTES)
}

/// The engine's verdict on a ping answer, or `None` when the engine would not judge one.
pub fn bid_verdict(exchange: &Exchange, limits: PriceLimits) -> Option<BidVerdict> {
    judgeable(exchange).map(|answer| judge_bid(answer.status, &answer.body, limits))
}

/// Judges a run by every rule, in report order.
pub fn judge(observations: &Observations) -> Vec<RuleResult> {
    let targets = targets(observations);
    Rule::ALL
        .into_iter()
        .map(|rule| {
            let tally = match rule {
                Rule::UniqueBidIds => unique_bid_ids(&targets),
                Rule::KeepAlive => keep_alive(&observations.pings),
                _ => targets.iter().fold(Tally::default(), |tally, target| {
                    tally.record(judge_one(rule, target, observations), target.sent)
                }),
            };
            tally.result(rule)
        })
        .collect()
}

/// One request with the engine's verdict on its answer.
struct Target<'a> {
    sent: &'a Sent,
    /// The answer the engine would judge.
    answer: Option<&'a Answer>,
    kind: Kind,
}

enum Kind {
    Ping(Option<BidVerdict>),
    Post(Option<PostVerdict>),
}

fn targets(observations: &Observations) -> Vec<Target<'_>> {
    let pings = observations.pings.iter().map(|sent| Target {
        sent,
        answer: judgeable(&sent.exchange),
        kind: Kind::Ping(bid_verdict(&sent.exchange, observations.limits)),
    });
    let post = &observations.post;
    let post_answer = judgeable(&post.exchange);
    let post = Target {
        sent: post,
        answer: post_answer,
        kind: Kind::Post(post_answer.map(|a| judge_post(a.status, &a.body))),
    };
    pings.chain(std::iter::once(post)).collect()
}

/// What one rule says of one request.
enum Verdict {
    /// The rule does not apply to it.
    NotApplicable,
    /// It keeps the rule.
    Ok,
    /// It breaks the rule, for this reason.
    Broken(String),
}

#[derive(Default)]
struct Tally {
    checked: usize,
    violations: usize,
    example: Option<Example>,
}

impl Tally {
    fn record(mut self, verdict: Verdict, sent: &Sent) -> Tally {
        match verdict {
            Verdict::NotApplicable => {}
            Verdict::Ok => self.checked += 1,
            Verdict::Broken(reason) => {
                self.checked += 1;
                self.violations += 1;
                self.example.get_or_insert_with(|| Example {
                    request: sent.label.clone(),
                    reason,
                    answer: sent.exchange.result.as_ref().ok().map(excerpt),
                });
            }
        }
        self
    }

    fn result(self, rule: Rule) -> RuleResult {
        let outcome = match (self.checked, self.violations) {
            (0, _) => Outcome::Skip,
            (_, 0) => Outcome::Pass,
            _ if rule.warn_only() => Outcome::Warn,
            _ => Outcome::Fail,
        };
        RuleResult { rule, outcome, checked: self.checked, violations: self.violations, example: self.example }
    }
}

fn judge_one(rule: Rule, target: &Target<'_>, observations: &Observations) -> Verdict {
    let exchange = &target.sent.exchange;
    match (rule, &target.kind, target.answer) {
        (Rule::Reachable, _, _) => reachable(exchange),
        (Rule::AnswerSize, _, _) => answer_size(exchange),
        (Rule::ContentType, kind, Some(answer)) => content_type(kind, answer),
        (Rule::Status, Kind::Ping(Some(verdict)), Some(answer)) => ping_status(verdict, answer),
        (Rule::Shape, Kind::Ping(Some(verdict)), _) => shape(verdict),
        (Rule::Price, Kind::Ping(Some(verdict)), Some(answer)) => price(verdict, answer, observations.limits),
        (Rule::PriceString, Kind::Ping(Some(BidVerdict::Bid { .. })), Some(answer)) => price_string(answer),
        (Rule::Deadline, Kind::Ping(_), _) => within(exchange, observations.tmax, "tmax_ms"),
        (Rule::PostStatus, Kind::Post(Some(verdict)), _) => post_status(verdict),
        (Rule::PostShape, Kind::Post(Some(verdict)), _) => post_shape(verdict),
        (Rule::PostFields, Kind::Post(Some(verdict)), Some(answer)) => post_fields(verdict, answer),
        (Rule::PostDeadline, Kind::Post(_), _) => within(exchange, observations.post_timeout, "the post timeout"),
        _ => Verdict::NotApplicable,
    }
}

fn reachable(exchange: &Exchange) -> Verdict {
    match &exchange.result {
        Ok(_) => Verdict::Ok,
        Err(Failure::Transport(error)) => Verdict::Broken(error.clone()),
        // It connected, or is still connecting: the deadline rules report it.
        Err(Failure::NoAnswer) => Verdict::NotApplicable,
    }
}

fn answer_size(exchange: &Exchange) -> Verdict {
    match &exchange.result {
        Ok(answer) if !answer.complete => Verdict::Broken(format!(
            "the body is over {} KiB (reading stopped there); the engine reads at most {} KiB and counts more as a transport error",
            MAX_READ_BYTES / 1024,
            ENGINE_MAX_ANSWER_BYTES / 1024
        )),
        Ok(answer) if answer.body.len() > ENGINE_MAX_ANSWER_BYTES => Verdict::Broken(format!(
            "the body is {} bytes; the engine reads at most {} KiB and counts more as a transport error",
            answer.body.len(),
            ENGINE_MAX_ANSWER_BYTES / 1024
        )),
        Ok(_) => Verdict::Ok,
        Err(_) => Verdict::NotApplicable,
    }
}

fn content_type(kind: &Kind, answer: &Answer) -> Verdict {
    let has_body = match kind {
        Kind::Ping(_) => answer.status == 200,
        Kind::Post(_) => (200..300).contains(&answer.status) && answer.status != 204,
    };
    if !has_body {
        return Verdict::NotApplicable;
    }
    let Some(content_type) = &answer.content_type else {
        return Verdict::Broken("no content-type header; send application/json".into());
    };
    let media_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if media_type == "application/json" || media_type.ends_with("+json") {
        Verdict::Ok
    } else {
        Verdict::Broken(format!(
            "content-type is `{content_type}`; send application/json (the engine does not read it today)"
        ))
    }
}

fn ping_status(verdict: &BidVerdict, answer: &Answer) -> Verdict {
    match verdict {
        BidVerdict::Invalid(InvalidBid::Status) => Verdict::Broken(format!(
            "bad_status: HTTP {}; answer 200, or 204 for no bid (an error status is never a no-bid)",
            answer.status
        )),
        _ => Verdict::Ok,
    }
}

fn shape(verdict: &BidVerdict) -> Verdict {
    let BidVerdict::Invalid(reason) = verdict else { return Verdict::Ok };
    let why = match reason {
        InvalidBid::Status => return Verdict::NotApplicable,
        InvalidBid::Malformed => {
            "the body is not one JSON object with a boolean `bid` (\"yes\", 1 and strings are not booleans)"
        }
        InvalidBid::MissingPrice => "`bid` is true but `price` is missing or null",
        InvalidBid::BadBidId => {
            "`bid_id` must be a non-empty string (or number) of at most 128 bytes, without control characters"
        }
        _ => return Verdict::Ok,
    };
    Verdict::Broken(format!("{}: {why}", reason.as_str()))
}

fn price(verdict: &BidVerdict, answer: &Answer, limits: PriceLimits) -> Verdict {
    let reason = match verdict {
        BidVerdict::Bid { .. } | BidVerdict::Invalid(InvalidBid::BadBidId) => return Verdict::Ok,
        BidVerdict::Invalid(reason) => *reason,
        BidVerdict::NoBid => return Verdict::NotApplicable,
    };
    let why = match reason {
        InvalidBid::NonNumericPrice => "is not a decimal string or number with at most 6 decimal places".to_owned(),
        InvalidBid::NonPositivePrice => "is zero or negative".to_owned(),
        InvalidBid::AboveMax => format!("is above the maximum {}", limits.max),
        InvalidBid::BelowFloor => format!("is below the floor {}", limits.floor),
        _ => return Verdict::NotApplicable,
    };
    let shown = field(&answer.body, "price").map_or_else(|| "the price".to_owned(), |p| format!("price {p}"));
    Verdict::Broken(format!("{}: {shown} {why}", reason.as_str()))
}

fn price_string(answer: &Answer) -> Verdict {
    match field(&answer.body, "price") {
        Some(Value::Number(number)) => Verdict::Broken(format!(
            "price {number} is a JSON number, which goes through a 64-bit float; send a decimal string such as \"12.50\""
        )),
        _ => Verdict::Ok,
    }
}

fn within(exchange: &Exchange, limit: Duration, limit_name: &str) -> Verdict {
    match &exchange.result {
        Ok(_) if exchange.elapsed <= limit => Verdict::Ok,
        Ok(_) => Verdict::Broken(format!(
            "answered in {}; {limit_name} is {} (the engine counts it as a timeout)",
            millis(exchange.elapsed),
            millis(limit)
        )),
        Err(Failure::NoAnswer) => {
            Verdict::Broken(format!("no answer within {}; {limit_name} is {}", millis(exchange.elapsed), millis(limit)))
        }
        Err(Failure::Transport(_)) => Verdict::NotApplicable,
    }
}

fn post_status(verdict: &PostVerdict) -> Verdict {
    match verdict {
        PostVerdict::Rejected(PostRejection::Status(status)) => Verdict::Broken(format!(
            "HTTP {status}: the engine counts any status outside 200-299 as a rejection; decline with 200 {{\"accepted\": false}}"
        )),
        _ => Verdict::Ok,
    }
}

fn post_shape(verdict: &PostVerdict) -> Verdict {
    match verdict {
        PostVerdict::Rejected(PostRejection::Malformed) => Verdict::Broken(
            "the 2xx body is not one JSON object with a boolean `accepted`: the engine counts it as a rejection".into(),
        ),
        PostVerdict::Rejected(PostRejection::Status(_)) => Verdict::NotApplicable,
        _ => Verdict::Ok,
    }
}

fn post_fields(verdict: &PostVerdict, answer: &Answer) -> Verdict {
    if matches!(verdict, PostVerdict::Rejected(PostRejection::Status(_) | PostRejection::Malformed)) {
        return Verdict::NotApplicable;
    }
    for name in ["buyer_lead_id", "reason"] {
        let problem = match field(&answer.body, name) {
            None | Some(Value::Null | Value::Number(_)) => continue,
            Some(Value::String(text)) if text.chars().count() > MAX_BUYER_TEXT_LEN => {
                format!("is {} characters; the engine keeps the first {MAX_BUYER_TEXT_LEN}", text.chars().count())
            }
            Some(Value::String(text)) if text.chars().any(char::is_control) => {
                "has control characters, which the engine removes".to_owned()
            }
            Some(Value::String(_)) => continue,
            Some(other) => format!("is {}, which the engine ignores as if it were absent", json_type(&other)),
        };
        return Verdict::Broken(format!("`{name}` {problem}"));
    }
    Verdict::Ok
}

/// Warns on a `bid_id` that an earlier ping's bid already used.
fn unique_bid_ids(targets: &[Target<'_>]) -> Tally {
    let mut first_use: HashMap<&str, &str> = HashMap::new();
    targets.iter().fold(Tally::default(), |tally, target| {
        let Kind::Ping(Some(BidVerdict::Bid { bid_id: Some(id), .. })) = &target.kind else {
            return tally;
        };
        let verdict = match first_use.get(id.as_ref()) {
            Some(earlier) => Verdict::Broken(format!(
                "bid_id \"{id}\" was already used by {earlier}; the post echoes it, so it should name one bid"
            )),
            None => {
                first_use.insert(id, &target.sent.label);
                Verdict::Ok
            }
        };
        tally.record(verdict, target.sent)
    })
}

/// Warns when a ping comes on a new connection although the previous one was answered in full
/// (so we left the connection usable): the server closed it.
fn keep_alive(pings: &[Sent]) -> Tally {
    pings.windows(2).fold(Tally::default(), |tally, pair| {
        let (before, after) = (&pair[0], &pair[1]);
        let addr = |sent: &Sent| match &sent.exchange.result {
            Ok(answer) if answer.complete => answer.local_addr,
            _ => None,
        };
        let verdict = match (addr(before), addr(after)) {
            (Some(a), Some(b)) if a == b => Verdict::Ok,
            (Some(_), Some(_)) => Verdict::Broken(format!(
                "a new connection was needed after {}: the server closed the connection; every new connection eats into tmax_ms",
                before.label
            )),
            _ => Verdict::NotApplicable,
        };
        tally.record(verdict, after)
    })
}

/// A top-level field of a JSON object body, if the body is one.
fn field(body: &[u8], name: &str) -> Option<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut object)) => object.remove(name),
        _ => None,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `HTTP 200 (application/json): {"bid":...` with the body cut to [`EXAMPLE_BODY_CHARS`] and
/// control characters escaped.
fn excerpt(answer: &Answer) -> String {
    let mut text = format!("HTTP {}", answer.status);
    if let Some(content_type) = &answer.content_type {
        text.push_str(" (");
        push_printable(&mut text, content_type);
        text.push(')');
    }
    let body = String::from_utf8_lossy(&answer.body);
    if body.is_empty() {
        text.push_str(", empty body");
        return text;
    }
    text.push_str(": ");
    let shown: String = body.chars().take(EXAMPLE_BODY_CHARS).collect();
    push_printable(&mut text, &shown);
    let more = body.chars().count().saturating_sub(EXAMPLE_BODY_CHARS);
    if more > 0 || !answer.complete {
        text.push_str(&format!("... ({} bytes{})", answer.body.len(), if answer.complete { "" } else { "+" }));
    }
    text
}

/// Appends `text` with control characters escaped (`\u{1b}`), so no answer can mangle the
/// terminal.
fn push_printable(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// A duration as milliseconds with one decimal, e.g. `12.3 ms`.
pub fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use lead_protocol::money::Micros;

    use super::*;

    const LIMITS: PriceLimits = PriceLimits { floor: Micros::ZERO, max: Micros::from_units(1000) };

    fn answered(status: u16, body: &str, millis: u64, port: u16) -> Sent {
        let answer = Answer {
            status,
            content_type: Some("application/json".into()),
            body: Bytes::copy_from_slice(body.as_bytes()),
            complete: true,
            local_addr: Some(([127, 0, 0, 1], port).into()),
        };
        Sent {
            label: "request".into(),
            exchange: Exchange { elapsed: Duration::from_millis(millis), result: Ok(answer) },
        }
    }

    fn run(pings: Vec<Sent>, post: Sent) -> Vec<(Rule, Outcome)> {
        let observations = Observations {
            tmax: Duration::from_millis(100),
            post_timeout: Duration::from_millis(900),
            limits: LIMITS,
            pings,
            post,
        };
        judge(&observations).into_iter().map(|r| (r.rule, r.outcome)).collect()
    }

    fn not_passed(results: &[(Rule, Outcome)]) -> Vec<(Rule, Outcome)> {
        results.iter().copied().filter(|(_, o)| !matches!(o, Outcome::Pass | Outcome::Skip)).collect()
    }

    #[test]
    fn a_good_run_passes_every_rule() {
        let pings = vec![
            answered(200, r#"{"bid":true,"price":"12.50","bid_id":"a"}"#, 5, 1),
            answered(200, r#"{"bid":false}"#, 5, 1),
            answered(204, "", 5, 1),
        ];
        let results = run(pings, answered(200, r#"{"accepted":true,"buyer_lead_id":7}"#, 5, 1));
        assert_eq!(not_passed(&results), []);
        assert!(results.iter().all(|(_, o)| *o == Outcome::Pass), "{results:?}");
    }

    #[test]
    fn each_broken_answer_breaks_its_rule_only() {
        let good_post = || answered(200, r#"{"accepted":false,"reason":"test"}"#, 5, 1);
        for (status, body, millis, rule, outcome) in [
            (503, "{}", 5, Rule::Status, Outcome::Fail),
            (200, r#"{"bid":1}"#, 5, Rule::Shape, Outcome::Fail),
            (200, r#"{"bid":true,"price":"1.1234567"}"#, 5, Rule::Price, Outcome::Fail),
            (200, r#"{"bid":true,"price":"1001"}"#, 5, Rule::Price, Outcome::Fail),
            (200, r#"{"bid":true,"price":12.5}"#, 5, Rule::PriceString, Outcome::Warn),
            (200, r#"{"bid":false}"#, 150, Rule::Deadline, Outcome::Fail),
        ] {
            let results = run(vec![answered(status, body, millis, 1)], good_post());
            assert_eq!(not_passed(&results), [(rule, outcome)], "{status} {body}");
        }
    }

    #[test]
    fn post_rules() {
        let ping = || vec![answered(204, "", 5, 1)];
        for (status, body, rule, outcome) in [
            (500, r#"{"accepted":false}"#, Rule::PostStatus, Outcome::Fail),
            (200, r#"{"accepted":"yes"}"#, Rule::PostShape, Outcome::Fail),
            (200, r#"{"accepted":true,"buyer_lead_id":["x"]}"#, Rule::PostFields, Outcome::Warn),
        ] {
            let results = run(ping(), answered(status, body, 5, 1));
            assert_eq!(not_passed(&results), [(rule, outcome)], "{status} {body}");
        }
    }

    #[test]
    fn reused_bid_ids_and_new_connections_are_warnings() {
        let bid = r#"{"bid":true,"price":"2","bid_id":"same"}"#;
        let results = run(vec![answered(200, bid, 5, 1), answered(200, bid, 5, 2)], answered(204, "", 5, 2));
        assert_eq!(
            not_passed(&results),
            [(Rule::UniqueBidIds, Outcome::Warn), (Rule::KeepAlive, Outcome::Warn), (Rule::PostShape, Outcome::Fail)]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_answer_is_judged_without_panic(
            status in 100u16..600,
            ping in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            post in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let sent = |body: &[u8]| {
                let mut sent = answered(status, "", 5, 1);
                if let Ok(answer) = &mut sent.exchange.result {
                    answer.body = Bytes::copy_from_slice(body);
                }
                sent
            };
            let observations = Observations {
                tmax: Duration::from_millis(100),
                post_timeout: Duration::from_millis(900),
                limits: LIMITS,
                pings: vec![sent(&ping), sent(&ping)],
                post: sent(&post),
            };
            for result in judge(&observations) {
                if let Some(example) = result.example {
                    proptest::prop_assert!(example.answer.unwrap_or_default().chars().all(|c| !c.is_control()));
                }
            }
        }
    }

    #[test]
    fn examples_are_bounded_and_escaped() {
        let answer = answered(200, &format!("\u{1b}[31m{}", "x".repeat(10_000)), 5, 1);
        let Ok(answer) = &answer.exchange.result else { panic!("answered") };
        let text = excerpt(answer);
        assert!(text.len() < EXAMPLE_BODY_CHARS + 100 && !text.contains('\u{1b}'), "{text}");
    }
}
