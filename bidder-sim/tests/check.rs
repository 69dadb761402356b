//! `bidder-sim check` against real endpoints: in-process hyper servers on 127.0.0.1:0, one good
//! and many deliberately broken, each of which must fail the right rule and only that rule;
//! and the binary end to end, for its exit codes.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bidder_sim::check::{CheckArgs, Outcome, Report, check};
use bytes::Bytes;
use clap::Parser;
use hmac::{KeyInit, Mac};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lead_protocol::ping::PingIn;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A test secret (the Standard Webhooks specification's example).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// How an endpoint answers one request.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    content_type: Option<&'static str>,
    body: String,
    /// The endpoint's own delay before answering (only the slow endpoints have one).
    delay: Duration,
}

fn json_reply(body: impl Into<String>) -> Reply {
    Reply { status: 200, content_type: Some("application/json"), body: body.into(), delay: Duration::ZERO }
}

fn no_content() -> Reply {
    Reply { status: 204, content_type: None, body: String::new(), delay: Duration::ZERO }
}

/// A good ping answer for the `n`th ping (from 0): bids with a unique `bid_id` on most,
/// `{"bid": false}` and 204 on some, as a real buyer would.
fn good_ping(n: usize) -> Reply {
    match n % 4 {
        0 | 1 => json_reply(format!(r#"{{"bid":true,"price":"{}.50","bid_id":"b-{n}"}}"#, 10 + n)),
        2 => json_reply(r#"{"bid":false}"#),
        _ => no_content(),
    }
}

fn good_post(_: &Value) -> Reply {
    json_reply(r#"{"accepted":true,"buyer_lead_id":"CRM-88123"}"#)
}

/// A request an endpoint received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

type PingHandler = Box<dyn Fn(usize) -> Reply + Send + Sync>;
type PostHandler = Box<dyn Fn(&Value) -> Reply + Send + Sync>;

struct Handlers {
    ping: PingHandler,
    post: PostHandler,
    pings: AtomicUsize,
    received: Mutex<Vec<Received>>,
}

/// How an endpoint serves connections.
#[derive(Debug, Clone, Copy)]
enum Serve {
    /// HTTP/1.1, keeping connections alive.
    KeepAlive,
    /// HTTP/1.1, closing the connection after each answer.
    CloseEach,
    /// HTTP/2 cleartext with prior knowledge, as the engine's `http2` transport speaks it.
    H2c,
}

/// A buyer's endpoints on one port: `/ping` and `/post`.
struct Endpoint {
    addr: SocketAddr,
    handlers: Arc<Handlers>,
}

impl Endpoint {
    async fn start(
        ping: impl Fn(usize) -> Reply + Send + Sync + 'static,
        post: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> Endpoint {
        Endpoint::start_with(ping, post, Serve::KeepAlive).await
    }

    async fn start_with(
        ping: impl Fn(usize) -> Reply + Send + Sync + 'static,
        post: impl Fn(&Value) -> Reply + Send + Sync + 'static,
        serve: Serve,
    ) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handlers = Arc::new(Handlers {
            ping: Box::new(ping),
            post: Box::new(post),
            pings: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
        });
        let shared = handlers.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handlers = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(handlers.clone(), request));
                    let io = TokioIo::new(stream);
                    let _ = match serve {
                        Serve::KeepAlive => http1::Builder::new().serve_connection(io, service).await,
                        Serve::CloseEach => http1::Builder::new().keep_alive(false).serve_connection(io, service).await,
                        Serve::H2c => http2::Builder::new(TokioExecutor::new()).serve_connection(io, service).await,
                    };
                });
            }
        });
        Endpoint { addr, handlers }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.handlers.received.lock().iter().filter(|r| r.path == path).cloned().collect()
    }
}

async fn answer(handlers: Arc<Handlers>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let reply = match path.as_str() {
        "/ping" => (handlers.ping)(handlers.pings.fetch_add(1, Ordering::Relaxed)),
        "/post" => (handlers.post)(&serde_json::from_slice(&body).unwrap_or(Value::Null)),
        _ => Reply { status: 404, content_type: None, body: String::new(), delay: Duration::ZERO },
    };
    handlers.received.lock().push(Received { path, headers: parts.headers, body });
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = http::StatusCode::from_u16(reply.status).unwrap();
    if let Some(content_type) = reply.content_type {
        response.headers_mut().insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
    }
    Ok(response)
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: CheckArgs,
}

/// `bidder-sim check` arguments for `endpoint`, plus `extra` flags.
fn args_for(endpoint: &Endpoint, extra: &[&str]) -> CheckArgs {
    let (ping, post) = (endpoint.url("/ping"), endpoint.url("/post"));
    let flags = ["check", "--ping-url", &ping, "--post-url", &post].into_iter().chain(extra.iter().copied());
    Cli::try_parse_from(flags).unwrap().args
}

/// Rules that did not pass, with their outcome.
fn not_passed(report: &Report) -> Vec<(&'static str, Outcome)> {
    report
        .rules
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Pass | Outcome::Skip))
        .map(|r| (r.rule.name(), r.outcome))
        .collect()
}

fn failed(report: &Report) -> Vec<&'static str> {
    not_passed(report).into_iter().filter(|(_, o)| *o == Outcome::Fail).map(|(name, _)| name).collect()
}

/// The reason given for `rule`'s first violation.
fn reason(report: &Report, rule: &str) -> String {
    let result = report.rules.iter().find(|r| r.rule.name() == rule).unwrap();
    let example = result.example.as_ref().unwrap();
    format!("{} | {}", example.reason, example.answer.as_deref().unwrap_or_default())
}

/// Runs the checker against an endpoint whose pings all get `reply` (the post is good) and
/// asserts that exactly `rule` fails, for a reason that names `reason`.
async fn assert_ping_answer_fails(reply: Reply, rule: &str, reason_has: &str) {
    let endpoint = Endpoint::start(move |_| reply.clone(), good_post).await;
    let report = check(&args_for(&endpoint, &["--pings", "3"])).await;
    assert!(!report.passed, "{report}");
    assert_eq!(failed(&report), [rule], "{report}");
    let why = reason(&report, rule);
    assert!(why.contains(reason_has), "{rule}: {why}");
}

#[tokio::test]
async fn a_good_endpoint_passes_every_rule_and_gets_v1_test_traffic() {
    let endpoint = Endpoint::start(good_ping, good_post).await;
    let args = args_for(&endpoint, &["--pings", "12", "--secret", SECRET, "--header", "X-Api-Key: k-123"]);
    let report = check(&args).await;

    assert!(report.passed, "{report}");
    assert_eq!(not_passed(&report), [], "no failures and no warnings: {report}");
    let latency = report.ping_latency.unwrap();
    assert_eq!(latency.answers, 12);
    assert!(latency.p50_ms <= latency.p90_ms && latency.p90_ms <= latency.p99_ms && latency.p99_ms <= latency.max_ms);
    assert!(report.post.after_bid && report.post.answer.contains("accepted"), "{report}");

    let pings = endpoint.received("/ping");
    assert_eq!(pings.len(), 12);
    let key = base64::engine::general_purpose::STANDARD.decode(SECRET.trim_start_matches("whsec_")).unwrap();
    let mut states = std::collections::HashSet::new();
    for ping in &pings {
        let parsed: PingIn = serde_json::from_slice(&ping.body).expect("exactly the v1 ping fields");
        assert!(parsed.test && parsed.tmax_ms == 100);
        states.insert(parsed.attributes["state"].to_string());
        assert_eq!(ping.headers["x-api-key"], "k-123");
        assert_eq!(ping.headers["content-type"], "application/json");
        assert_eq!(ping.headers["webhook-id"], parsed.ping_id.as_str());
        verify_signature(&key, &ping.headers, &ping.body);
    }
    assert!(states.len() > 3, "varied states: {states:?}");

    let posts = endpoint.received("/post");
    assert_eq!(posts.len(), 1);
    let post: Value = serde_json::from_slice(&posts[0].body).unwrap();
    let first_ping: PingIn = serde_json::from_slice(&pings[0].body).unwrap();
    assert_eq!(post["ping_id"], first_ping.ping_id.as_str(), "the post follows the first bid (ping 1)");
    assert_eq!((&post["bid_id"], &post["price"]), (&json!("b-0"), &json!("10.50")));
    assert_eq!(post["contact"]["first_name"], "Test");
    assert_eq!(post["contact"]["last_name"], "Lead");
    assert_eq!(post["contact"]["email"], "test@example.com");
    assert_eq!(post["test"], true);
    assert_eq!(post["attributes"], serde_json::to_value(&first_ping.attributes).unwrap());
    assert!(posts[0].headers["webhook-id"].to_str().unwrap().starts_with("pt_"));
    verify_signature(&key, &posts[0].headers, &posts[0].body);

    let text = report.to_string();
    assert!(
        text.contains("PASS  reachable") && text.contains("Ping latency (12 answers)") && text.contains("Result: PASS")
    );
}

/// Checks a Standard Webhooks signature independently of the checker's signer.
fn verify_signature(key: &[u8], headers: &HeaderMap, body: &[u8]) {
    let text = |name: &str| headers[name].to_str().unwrap().to_owned();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(format!("{}.{}.", text("webhook-id"), text("webhook-timestamp")).as_bytes());
    mac.update(body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(text("webhook-signature"), format!("v1,{expected}"));
}

#[tokio::test]
async fn an_h2c_endpoint_passes_over_http2() {
    let endpoint = Endpoint::start_with(good_ping, good_post, Serve::H2c).await;
    let report = check(&args_for(&endpoint, &["--pings", "6", "--transport", "http2"])).await;
    assert_eq!(not_passed(&report), [], "{report}");
    assert_eq!(endpoint.received("/ping").len(), 6);
}

#[tokio::test]
async fn an_endpoint_that_never_bids_passes_and_still_gets_a_post() {
    let endpoint =
        Endpoint::start(|_| no_content(), |_: &Value| json_reply(r#"{"accepted":false,"reason":"test"}"#)).await;
    let report = check(&args_for(&endpoint, &["--pings", "3"])).await;
    assert!(report.passed, "{report}");
    assert!(!report.post.after_bid && report.post.bid_id.is_none(), "{report}");
    assert!(report.to_string().contains("no ping got a valid bid"), "{report}");
    let price = report.rules.iter().find(|r| r.rule.name() == "price").unwrap();
    assert_eq!(price.outcome, Outcome::Skip, "no bid, no price to check");
    let post: Value = serde_json::from_slice(&endpoint.received("/post")[0].body).unwrap();
    let first: PingIn = serde_json::from_slice(&endpoint.received("/ping")[0].body).unwrap();
    assert_eq!((&post["ping_id"], &post["bid_id"]), (&json!(first.ping_id), &Value::Null));
}

#[tokio::test]
async fn status_500_fails_status() {
    let reply = Reply { status: 500, ..json_reply(r#"{"error":"boom"}"#) };
    assert_ping_answer_fails(reply, "status", "bad_status: HTTP 500").await;
}

#[tokio::test]
async fn a_non_json_body_fails_shape() {
    assert_ping_answer_fails(json_reply("<html>bid</html>"), "shape", "malformed").await;
}

#[tokio::test]
async fn bid_not_a_boolean_fails_shape() {
    assert_ping_answer_fails(json_reply(r#"{"bid":"yes","price":"2.00"}"#), "shape", "malformed").await;
}

#[tokio::test]
async fn a_bid_without_price_fails_shape() {
    assert_ping_answer_fails(json_reply(r#"{"bid":true,"bid_id":"x"}"#), "shape", "missing_price").await;
}

#[tokio::test]
async fn a_negative_price_fails_price() {
    assert_ping_answer_fails(json_reply(r#"{"bid":true,"price":"-5.00"}"#), "price", "non_positive_price").await;
}

#[tokio::test]
async fn a_nan_price_fails_price() {
    assert_ping_answer_fails(json_reply(r#"{"bid":true,"price":"NaN"}"#), "price", "non_numeric_price").await;
}

#[tokio::test]
async fn too_many_decimals_fail_price() {
    assert_ping_answer_fails(json_reply(r#"{"bid":true,"price":"1.0000001"}"#), "price", "non_numeric_price").await;
}

#[tokio::test]
async fn a_price_above_max_fails_price() {
    assert_ping_answer_fails(json_reply(r#"{"bid":true,"price":"1000.01"}"#), "price", "above_max").await;
}

#[tokio::test]
async fn a_price_below_the_given_floor_fails_price() {
    let endpoint = Endpoint::start(|_| json_reply(r#"{"bid":true,"price":"0.50"}"#), good_post).await;
    let report = check(&args_for(&endpoint, &["--pings", "2", "--floor", "1.00"])).await;
    assert_eq!(failed(&report), ["price"], "{report}");
    assert!(reason(&report, "price").contains("below_floor"));
}

#[tokio::test]
async fn a_bad_bid_id_fails_shape() {
    assert_ping_answer_fails(json_reply(r#"{"bid":true,"price":"2","bid_id":["x"]}"#), "shape", "bad_bid_id").await;
}

#[tokio::test]
async fn answering_after_tmax_fails_deadline() {
    let slow = Reply { delay: Duration::from_millis(150), ..json_reply(r#"{"bid":false}"#) };
    let endpoint = Endpoint::start(move |_| slow.clone(), good_post).await;
    let report = check(&args_for(&endpoint, &["--pings", "3", "--timeout-ms", "50"])).await;
    assert_eq!(failed(&report), ["deadline"], "{report}");
    assert!(reason(&report, "deadline").contains("tmax_ms is 50.0 ms"), "{report}");
    assert!(report.ping_latency.unwrap().p50_ms >= 150.0, "{report}");
}

#[tokio::test]
async fn a_hanging_endpoint_fails_deadline_and_the_run_stays_bounded() {
    let hang = Reply { delay: Duration::from_secs(30), ..json_reply(r#"{"bid":false}"#) };
    let endpoint = Endpoint::start(move |_| hang.clone(), good_post).await;
    let started = Instant::now();
    let report = check(&args_for(&endpoint, &["--pings", "1", "--timeout-ms", "20"])).await;
    assert_eq!(failed(&report), ["deadline"], "{report}");
    assert!(reason(&report, "deadline").contains("no answer within"), "{report}");
    assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
}

#[tokio::test]
async fn an_oversized_answer_fails_answer_size() {
    let padding = "x".repeat(100 * 1024);
    let reply = json_reply(format!(r#"{{"bid":true,"price":"2.00","pad":"{padding}"}}"#));
    assert_ping_answer_fails(reply, "answer_size", "over 64 KiB").await;
}

#[tokio::test]
async fn a_post_answering_non_json_fails_post_shape() {
    let endpoint = Endpoint::start(good_ping, |_: &Value| json_reply("OK")).await;
    let report = check(&args_for(&endpoint, &["--pings", "3"])).await;
    assert_eq!(failed(&report), ["post_shape"], "{report}");
    assert!(report.post.answer.contains("rejected"), "{report}");
}

#[tokio::test]
async fn a_post_answering_accepted_yes_fails_post_shape() {
    let endpoint = Endpoint::start(good_ping, |_: &Value| json_reply(r#"{"accepted":"yes"}"#)).await;
    let report = check(&args_for(&endpoint, &["--pings", "3"])).await;
    assert_eq!(failed(&report), ["post_shape"], "{report}");
    assert!(reason(&report, "post_shape").contains(r#"{"accepted":"yes"}"#), "{report}");
}

#[tokio::test]
async fn a_post_answering_500_fails_post_status() {
    let endpoint =
        Endpoint::start(good_ping, |_: &Value| Reply { status: 500, ..json_reply(r#"{"accepted":false}"#) }).await;
    let report = check(&args_for(&endpoint, &["--pings", "3"])).await;
    assert_eq!(failed(&report), ["post_status"], "{report}");
}

#[tokio::test]
async fn an_unreachable_url_fails_reachable_without_a_crash() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let (ping, post) = (format!("http://{addr}/ping"), format!("http://{addr}/post"));
    let args = Cli::try_parse_from(["check", "--ping-url", &ping, "--post-url", &post, "--pings", "2"]).unwrap().args;
    let report = check(&args).await;
    assert_eq!(failed(&report), ["reachable"], "{report}");
    assert!(reason(&report, "reachable").contains("cannot connect"), "{report}");
    assert!(report.ping_latency.is_none() && report.post.answer.starts_with("no answer"), "{report}");
}

#[tokio::test]
async fn tolerated_faults_are_warnings_not_failures() {
    // Closes every connection, reuses one bid_id, sends prices as JSON numbers and text/plain.
    let ping =
        |_| Reply { content_type: Some("text/plain"), ..json_reply(r#"{"bid":true,"price":12.5,"bid_id":"same"}"#) };
    let endpoint = Endpoint::start_with(ping, good_post, Serve::CloseEach).await;
    let report = check(&args_for(&endpoint, &["--pings", "3"])).await;
    assert!(report.passed, "{report}");
    let mut warned: Vec<_> = not_passed(&report).into_iter().map(|(name, _)| name).collect();
    warned.sort_unstable();
    assert_eq!(warned, ["content_type", "keep_alive", "price_string", "unique_bid_ids"], "{report}");
    assert!(report.to_string().contains("Result: PASS (4 warnings)"), "{report}");
}

#[tokio::test]
async fn bad_flags_are_usage_errors() {
    for bad in [
        vec!["--ping-url", "not a url", "--post-url", "http://x/post"],
        vec!["--ping-url", "http://x/ping", "--post-url", "http://x/post", "--secret", "nope"],
        vec!["--ping-url", "http://x/ping", "--post-url", "http://x/post", "--header", "Host: a"],
        vec!["--ping-url", "http://x/ping", "--post-url", "http://x/post", "--pings", "0"],
        vec!["--ping-url", "http://x/ping"],
    ] {
        let error = Cli::try_parse_from(std::iter::once("check").chain(bad.iter().copied())).err();
        assert_eq!(error.map(|e| e.exit_code()), Some(2), "{bad:?}");
    }
}

/// Runs the `bidder-sim` binary with `args` and returns its exit code and standard output.
async fn run_binary(args: Vec<String>) -> (Option<i32>, String) {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_bidder-sim")).arg("check").args(args).output()
    })
    .await
    .unwrap()
    .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_on_a_good_endpoint_1_on_a_broken_one_2_on_bad_flags() {
    let good = Endpoint::start(good_ping, good_post).await;
    let urls = |e: &Endpoint| vec!["--ping-url".into(), e.url("/ping"), "--post-url".into(), e.url("/post")];
    let (code, stdout) = run_binary(urls(&good)).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("Result: PASS"), "{stdout}");

    let (code, stdout) = run_binary([urls(&good), vec!["--json".into(), "--pings".into(), "4".into()]].concat()).await;
    assert_eq!(code, Some(0), "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((&json["passed"], &json["pings_sent"]), (&json!(true), &json!(4)));
    assert!(json["rules"].as_array().unwrap().iter().all(|r| r["outcome"] == "pass"), "{stdout}");

    let broken = Endpoint::start(|_| json_reply(r#"{"bid":true,"price":"-1"}"#), good_post).await;
    let (code, stdout) = run_binary(urls(&broken)).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  price") && stdout.contains("non_positive_price"), "{stdout}");

    let (code, _) = run_binary(vec!["--ping-url".into(), "nowhere".into(), "--post-url".into(), "x".into()]).await;
    assert_eq!(code, Some(2));
}
