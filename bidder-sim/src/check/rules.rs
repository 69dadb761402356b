//! The rules of the conformance check: their names, what each checks, and what breaking one
//! costs; and what a rule's result holds. The judging itself is in `judge`.
//!
//! A `Fail` rule is something the engine counts against the buyer (an invalid bid, a timeout,
//! a rejected post); a `Warn` rule is something it tolerates today but that costs the buyer
//! (new connections eat into the deadline, prices go through floating point, ...).

use serde::Serialize;

/// One rule of the conformance check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Every request gets an HTTP answer.
    Reachable,
    /// Answer bodies fit the engine's read limit.
    AnswerSize,
    /// Ping answers are 200 or 204.
    Status,
    /// 2xx answers say they are JSON.
    ContentType,
    /// A 200 ping answer has the contract's shape.
    Shape,
    /// A bid's price is valid money within the limits.
    Price,
    /// Prices are decimal strings, not JSON numbers.
    PriceString,
    /// Pings are answered within `tmax_ms`.
    Deadline,
    /// `bid_id`s are not reused.
    UniqueBidIds,
    /// Connections are kept alive.
    KeepAlive,
    /// The post answer is 2xx.
    PostStatus,
    /// A 2xx post answer has the contract's shape.
    PostShape,
    /// `buyer_lead_id` and `reason` are kept as sent.
    PostFields,
    /// The post is answered within the post timeout.
    PostDeadline,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 14] = [
        Rule::Reachable,
        Rule::AnswerSize,
        Rule::Status,
        Rule::ContentType,
        Rule::Shape,
        Rule::Price,
        Rule::PriceString,
        Rule::Deadline,
        Rule::UniqueBidIds,
        Rule::KeepAlive,
        Rule::PostStatus,
        Rule::PostShape,
        Rule::PostFields,
        Rule::PostDeadline,
    ];

    /// Stable name, for the report and `--json`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Reachable => "reachable",
            Rule::AnswerSize => "answer_size",
            Rule::Status => "status",
            Rule::ContentType => "content_type",
            Rule::Shape => "shape",
            Rule::Price => "price",
            Rule::PriceString => "price_string",
            Rule::Deadline => "deadline",
            Rule::UniqueBidIds => "unique_bid_ids",
            Rule::KeepAlive => "keep_alive",
            Rule::PostStatus => "post_status",
            Rule::PostShape => "post_shape",
            Rule::PostFields => "post_fields",
            Rule::PostDeadline => "post_deadline",
        }
    }

    /// What the rule checks, in one line.
    pub fn checks(self) -> &'static str {
        match self {
            Rule::Reachable => "every ping and the post get an HTTP answer",
            Rule::AnswerSize => "answers are at most 16 KiB, the most the engine reads",
            Rule::Status => "ping answers are 200, or 204 for no bid (bad_status)",
            Rule::ContentType => "answers with a body say content-type: application/json",
            Rule::Shape => "200 answers are {\"bid\": bool, \"price\" if bidding, \"bid_id\"?}",
            Rule::Price => "bid prices are positive decimals, at most 6 places, within floor and max",
            Rule::PriceString => "prices are decimal strings (\"12.50\"), not JSON numbers",
            Rule::Deadline => "each whole ping answer arrives within tmax_ms",
            Rule::UniqueBidIds => "no bid_id is reused across pings",
            Rule::KeepAlive => "the connection is reused from one ping to the next",
            Rule::PostStatus => "the post answer is 2xx",
            Rule::PostShape => "a 2xx post answer is {\"accepted\": bool, ...}",
            Rule::PostFields => "buyer_lead_id and reason are strings or numbers, at most 200 chars",
            Rule::PostDeadline => "the whole post answer arrives within the post timeout",
        }
    }

    /// True when breaking the rule is a warning: the engine tolerates it.
    pub fn warn_only(self) -> bool {
        matches!(self, Rule::ContentType | Rule::PriceString | Rule::UniqueBidIds | Rule::KeepAlive | Rule::PostFields)
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// How a rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Everything it applied to passed.
    Pass,
    /// Broken, but the engine tolerates it.
    Warn,
    /// Broken: the engine counts it against the buyer.
    Fail,
    /// Nothing it applies to happened (e.g. no bid, so no price to check).
    Skip,
}

impl Outcome {
    /// Upper-case label for the human report.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        }
    }
}

/// A rule's result.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    /// Which rule.
    pub rule: Rule,
    /// How it came out.
    pub outcome: Outcome,
    /// Answers (or pairs of pings, for `keep_alive`) it applied to.
    pub checked: usize,
    /// How many of those broke it.
    pub violations: usize,
    /// The first violation, to show what was wrong.
    pub example: Option<Example>,
}

/// One violation, with the answer that showed it.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// Which request: `ping 3 (pg_...)` or `post (...)`.
    pub request: String,
    /// What was wrong, with the engine's reason name where it has one.
    pub reason: String,
    /// The answer, status and (truncated) body, when there was one.
    pub answer: Option<String>,
}
