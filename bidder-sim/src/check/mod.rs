//! The conformance checker (`bidder-sim check`): a buyer's engineer points it at their own
//! ping and post endpoints. It sends test pings (`"test": true`, the exact v1 shape, varied
//! attributes) one at a time, then one test post for a test lead after one of the bids, judges
//! every answer rule by rule exactly as the engine would, and reports each rule's result with
//! an example of the offending answer and the ping latency percentiles.
//!
//! - `flags`: the flags' value types and parsers (a bad flag is a usage error, exit code 2);
//! - `traffic`: the test pings and the test post;
//! - `probe`: the HTTP client, set up like the engine's, and what each request got;
//! - `rules`: the rules, what each checks and what breaking it costs;
//! - `judge`: the judging, plain functions of what was sent and received;
//! - `report`: the report, for people or as JSON;
//! - `sign`: Standard Webhooks signatures, with `--secret`.
//!
//! Everything is bounded: answer bodies are read up to 64 KiB, each answer is waited for at
//! most its limit plus 1 s (`LATE_ANSWER_GRACE`), and no ping starts after 60 s
//! (`RUN_TIME_LIMIT`).

mod flags;
mod judge;
mod probe;
mod report;
mod rules;
mod sign;
mod traffic;

pub use self::flags::{Header, Transport};
pub use self::report::{Latency, PostSummary, Report};
pub use self::rules::{Example, Outcome, Rule, RuleResult};
pub use self::sign::Signer;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use http::Uri;
use lead_protocol::bid::{BidVerdict, PriceLimits};
use lead_protocol::ids;
use lead_protocol::money::Micros;

use self::flags::{parse_header, parse_money, parse_url, parse_vertical};
use self::judge::{Observations, Sent, bid_verdict};
use self::probe::Prober;

/// Default number of test pings: enough for p90 to mean something, quick even against a slow
/// endpoint.
const DEFAULT_PINGS: u32 = 20;

/// Most test pings in one run: this is a conformance check, not a load test (`loadtest` is).
const MAX_PINGS: u32 = 1000;

/// Default `tmax_ms` announced in each ping: the engine's default ping deadline.
const DEFAULT_TIMEOUT_MS: u32 = 100;

/// Default post timeout: the engine's default auction budget (1000 ms) less the default ping
/// phase (100 ms), which is about what a first post gets when the buyer has no `post_timeout_ms`.
const DEFAULT_POST_TIMEOUT_MS: u32 = 900;

/// Longest `tmax_ms` or post timeout accepted: far beyond any real deadline, and it keeps one
/// run's waiting bounded.
const MAX_TIMEOUT_MS: u32 = 10_000;

/// After its limit, an answer is still waited for this long, so a late answer is reported with
/// how late it was (and judged on everything else) rather than as no answer at all.
const LATE_ANSWER_GRACE: Duration = Duration::from_secs(1);

/// No new ping is sent after this long, so a hanging endpoint cannot keep the checker running:
/// at most this, one ping's wait and the post's wait.
const RUN_TIME_LIMIT: Duration = Duration::from_secs(60);

/// The price in a post that follows no bid (the endpoint never bid): a plain, small price, or
/// the floor if that is higher.
const NO_BID_POST_PRICE: Micros = Micros::from_units(1);

/// Check your own ping and post endpoints against buyer protocol v1.
///
/// Sends test pings and one test post, judges every answer as the engine would, and prints a
/// report rule by rule with ping latency percentiles. Exit code 0 when no rule failed (warnings
/// allowed), 1 when one did, 2 on a bad flag.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Your ping URL (http:// or https://).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub ping_url: Uri,
    /// Your post URL (http:// or https://).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub post_url: Uri,
    /// Number of test pings, sent one at a time.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PINGS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PINGS)))]
    pub pings: u32,
    /// The `tmax_ms` announced in each ping: each whole answer must arrive within it.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TIMEOUT_MS)))]
    pub timeout_ms: u32,
    /// How long the post may take (your `post_timeout_ms`, or what the auction budget leaves).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_POST_TIMEOUT_MS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TIMEOUT_MS)))]
    pub post_timeout_ms: u32,
    /// Standard Webhooks secret (`whsec_...`): sign the pings and the post as the engine does.
    #[arg(long, value_name = "WHSEC", value_parser = Signer::parse)]
    pub secret: Option<Signer>,
    /// Extra request header `Name: value` (repeatable), e.g. your API key.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<Header>,
    /// Vertical to ping for (repeatable; default: a mix of auto, home, health insurance and mortgage).
    #[arg(long = "vertical", value_name = "NAME", value_parser = parse_vertical)]
    pub verticals: Vec<String>,
    /// Your floor: a lower price is `below_floor`.
    #[arg(long, value_name = "PRICE", default_value = "0", value_parser = parse_money)]
    pub floor: Micros,
    /// The engine's `auction.max_bid`: a higher price is `above_max`.
    #[arg(long, value_name = "PRICE", default_value = "1000.00", value_parser = parse_money)]
    pub max_bid: Micros,
    /// HTTP version, as your buyer's `transport`.
    #[arg(long, value_enum, default_value_t = Transport::Http1)]
    pub transport: Transport,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `bidder-sim check`: runs the checks on its own runtime, prints the report, and exits 0 when
/// no rule failed (warnings allowed), 1 when one did.
pub fn run(args: CheckArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bidder-sim check: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(check(&args));
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => eprintln!("bidder-sim check: cannot write the report: {error}"),
        }
    } else {
        print!("{report}");
    }
    if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Sends the test pings and the test post and judges what came back.
pub async fn check(args: &CheckArgs) -> Report {
    let started = Instant::now();
    let prober = Prober::new(args.transport, args.headers.clone(), args.secret.clone());
    let limits = PriceLimits { floor: args.floor, max: args.max_bid };
    let tmax = Duration::from_millis(args.timeout_ms.into());
    let post_timeout = Duration::from_millis(args.post_timeout_ms.into());

    let test_pings = traffic::pings(args.pings, args.timeout_ms, &args.verticals);
    let mut pings = Vec::with_capacity(test_pings.len());
    for (i, ping) in test_pings.iter().enumerate() {
        // The first ping always goes, so there is always one for the post to follow.
        if i > 0 && started.elapsed() >= RUN_TIME_LIMIT {
            break;
        }
        let exchange = prober.send(&args.ping_url, &ping.ping_id, ping.body.clone(), tmax + LATE_ANSWER_GRACE).await;
        pings.push(Sent { label: format!("ping {} ({})", i + 1, ping.ping_id), exchange });
    }

    // `traffic::pings` makes at least one, and the first always goes.
    let basis = PostBasis::choose(&pings, limits);
    let ping = &test_pings[basis.ping];
    let body = traffic::post_body(ping, basis.price, basis.bid_id.as_deref());
    let exchange = prober.send(&args.post_url, &ids::post_message_id(), body, post_timeout + LATE_ANSWER_GRACE).await;
    let summary = PostSummary {
        after_ping: basis.ping + 1,
        price: basis.price.to_string(),
        bid_id: basis.bid_id.map(Into::into),
        after_bid: basis.after_bid,
        answer: PostSummary::describe(&exchange),
    };
    let post = Sent { label: format!("post (after ping {}, {})", summary.after_ping, ping.ping_id), exchange };
    let observations = Observations { tmax, post_timeout, limits, pings, post };
    Report::new(
        args.ping_url.to_string(),
        args.post_url.to_string(),
        args.timeout_ms,
        args.pings,
        &observations,
        summary,
    )
}

/// What the test post follows.
struct PostBasis {
    /// The ping (index into the pings sent).
    ping: usize,
    /// The price to post.
    price: Micros,
    /// The `bid_id` to echo.
    bid_id: Option<Box<str>>,
    /// True when it follows a valid bid.
    after_bid: bool,
}

impl PostBasis {
    /// The first ping with a valid bid, at its price and `bid_id`; failing that, the first
    /// ping, at [`NO_BID_POST_PRICE`] (or the floor) without a `bid_id`.
    fn choose(pings: &[Sent], limits: PriceLimits) -> PostBasis {
        pings
            .iter()
            .enumerate()
            .find_map(|(ping, sent)| match bid_verdict(&sent.exchange, limits) {
                Some(BidVerdict::Bid { price, bid_id }) => Some(PostBasis { ping, price, bid_id, after_bid: true }),
                _ => None,
            })
            .unwrap_or(PostBasis {
                ping: 0,
                price: NO_BID_POST_PRICE.max(limits.floor),
                bid_id: None,
                after_bid: false,
            })
    }
}
