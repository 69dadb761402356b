//! Every fault over real sockets, seen from a real client: it behaves as described, and it
//! happens at its configured rate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use lead_protocol::bid::{BidVerdict, InvalidBid, PriceLimits, judge_bid};
use lead_protocol::money::Micros;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// The engine's limits: its 16 KiB reply cap and its default `max_bid`.
const ENGINE_REPLY_CAP: usize = 16 * 1024;
const LIMITS: PriceLimits = PriceLimits { floor: Micros::ZERO, max: Micros::from_units(1000) };

/// A simulator whose buyer `b0` always injects `fault` on pings and posts (where it applies).
async fn always(fault: &str, settings: &str) -> Sim {
    let post = if ["negative_price", "nan_price", "huge_price"].contains(&fault) {
        String::new()
    } else {
        format!("[buyers.post]\nfaults = {{ {fault} = 1.0 }}")
    };
    Sim::start(&format!(
        "[fault_settings]\n{settings}\n{}",
        buyer("b0", &format!("[buyers.ping]\nfaults = {{ {fault} = 1.0 }}\n{post}"))
    ))
    .await
}

async fn ping_b0(sim: &Sim, client: &HttpClient, tmax_ms: u32) -> Result<Answer, String> {
    post_json(client, &sim.url("/b0/ping"), &ping("pg_1", tmax_ms)).await
}

#[tokio::test]
async fn error_faults_answer_500_and_503() {
    for (fault, status) in [("error_500", 500), ("error_503", 503)] {
        let sim = always(fault, "").await;
        let answer = ping_b0(&sim, &http1(), 100).await.unwrap();
        assert_eq!(answer.status, status);
        assert_eq!(judge_bid(status, &answer.body, LIMITS), BidVerdict::Invalid(InvalidBid::Status));
        assert_eq!(sim.stats("b0").faults_injected[fault], 1);
    }
}

#[tokio::test]
async fn content_faults_are_invalid_bids_for_their_reason() {
    for (fault, reason) in [
        ("malformed", InvalidBid::Malformed),
        ("wrong_types", InvalidBid::Malformed),
        ("negative_price", InvalidBid::NonPositivePrice),
        ("nan_price", InvalidBid::NonNumericPrice),
        ("huge_price", InvalidBid::AboveMax),
    ] {
        let sim = always(fault, "").await;
        let answer = ping_b0(&sim, &http1(), 100).await.unwrap();
        assert_eq!(answer.status, 200, "{fault}");
        assert_eq!(judge_bid(200, &answer.body, LIMITS), BidVerdict::Invalid(reason), "{fault}");
        match fault {
            "malformed" => assert!(serde_json::from_slice::<serde_json::Value>(&answer.body).is_err()),
            "wrong_types" => assert!(answer.json()["bid"].is_string()),
            _ => {}
        }
        assert_eq!(sim.stats("b0").faults_injected[fault], 1, "{fault}");
    }
}

#[tokio::test]
async fn an_oversized_answer_is_past_the_engine_reply_cap() {
    let sim = always("oversized", "").await;
    let answer = ping_b0(&sim, &http2(), 100).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), 1 << 20, "the default oversized_bytes");
    assert!(answer.body.len() > ENGINE_REPLY_CAP);
    assert_eq!(answer.json()["bid"], true, "still a valid answer, only too big");
}

#[tokio::test]
async fn a_late_answer_comes_after_tmax_and_its_post_is_a_violation() {
    let sim = always("late", "late_margin_ms = 30").await;
    let client = http1();
    let started = Instant::now();
    let answer = ping_b0(&sim, &client, 40).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(70), "after tmax_ms + margin: {:?}", started.elapsed());
    let bid = answer.json();
    assert_eq!(bid["bid"], true, "a real bid, only late");
    let posted = post_json(
        &client,
        &sim.url("/b0/post"),
        &post("pg_1", bid["bid_id"].as_str().unwrap(), bid["price"].as_str().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(posted.status, 400);
    assert_eq!(sim.stats("b0").violations["post_for_late_bid"], 1);
}

#[tokio::test]
async fn a_late_post_answer_comes_after_post_late_ms() {
    let sim = Sim::start(&format!(
        "[fault_settings]\npost_late_ms = 80\n{}",
        buyer("b0", "[buyers.post]\nfaults = { late = 1.0 }")
    ))
    .await;
    let client = http1();
    let bid = ping_b0(&sim, &client, 1_000).await.unwrap().json();
    let started = Instant::now();
    let body = post("pg_1", bid["bid_id"].as_str().unwrap(), bid["price"].as_str().unwrap());
    let answer = post_json(&client, &sim.url("/b0/post"), &body).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(80), "{:?}", started.elapsed());
    assert_eq!(answer.json()["accepted"], true);
}

#[tokio::test]
async fn a_trickled_answer_arrives_byte_by_byte_over_time() {
    const PAUSE_MS: u64 = 8;
    let sim = always("trickle", &format!("trickle_byte_ms = {PAUSE_MS}")).await;
    let request = Request::post(sim.url("/b0/ping"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(ping("pg_1", 100))))
        .unwrap();
    let started = Instant::now();
    let response = http1().request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut frames, mut bytes) = (0, Vec::new());
    while let Some(frame) = tokio::time::timeout(TEST_TIMEOUT, body.frame()).await.unwrap() {
        if let Ok(data) = frame.unwrap().into_data() {
            frames += 1;
            bytes.extend_from_slice(&data);
        }
    }
    let elapsed = started.elapsed();
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(answer["bid"].as_bool().is_some(), "the trickled body is a whole answer");
    // Even a client stalled now and then sees the body in pieces; it cannot see it sooner
    // than one pause per byte after the first.
    assert!(frames >= 4, "{frames} frames for {} bytes", bytes.len());
    assert!(
        elapsed >= Duration::from_millis(PAUSE_MS * (bytes.len() as u64 - 1)),
        "{elapsed:?} for {} bytes",
        bytes.len()
    );
}

#[tokio::test]
async fn a_reset_closes_an_http1_connection_with_a_tcp_reset() {
    let sim = always("reset", "").await;
    assert!(ping_b0(&sim, &http1(), 100).await.is_err(), "no answer reaches the client");

    let mut stream = tokio::net::TcpStream::connect(sim.addr).await.unwrap();
    let body = ping("pg_2", 100);
    let request = format!(
        "POST /b0/ping HTTP/1.1\r\nhost: sim\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(TEST_TIMEOUT, stream.read(&mut buf)).await.unwrap();
    match read {
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset),
        Ok(n) => panic!("expected a reset, read {n} bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
    }
    assert_eq!(sim.stats("b0").faults_injected["reset"], 2);
}

#[tokio::test]
async fn a_reset_on_http2_resets_only_its_stream() {
    let sim =
        Sim::start(&format!("{}{}", buyer("b0", "[buyers.ping]\nfaults = { reset = 1.0 }"), buyer("ok", ""))).await;
    let client = http2();
    assert!(post_json(&client, &sim.url("/b0/ping"), &ping("pg_1", 100)).await.is_err());
    let answer = post_json(&client, &sim.url("/ok/ping"), &ping("pg_2", 100)).await.unwrap();
    assert_eq!(answer.status, 200, "the shared connection still serves other buyers");
}

#[tokio::test]
async fn never_answer_holds_until_the_client_gives_up_then_drops_at_the_cap() {
    let sim = always("never_answer", "never_answer_cap_ms = 600").await;
    let client = http1();
    let gave_up = tokio::time::timeout(Duration::from_millis(200), ping_b0(&sim, &client, 100)).await;
    assert!(gave_up.is_err(), "no answer within the client's 200 ms: {gave_up:?}");
    let started = Instant::now();
    let dropped = ping_b0(&sim, &client, 100).await;
    assert!(dropped.is_err(), "the connection is dropped without an answer: {dropped:?}");
    assert!(started.elapsed() >= Duration::from_millis(600), "held until the cap: {:?}", started.elapsed());
    assert_eq!(sim.stats("b0").faults_injected["never_answer"], 2);
}

#[tokio::test]
async fn a_held_request_is_released_when_the_client_gives_up() {
    // The cap is far away: only the client's leaving can end the request before it.
    let config = bidder_sim::SimConfig::from_toml(&format!(
        "[fault_settings]\nnever_answer_cap_ms = 60000\n{}",
        buyer("b0", "[buyers.ping]\nfaults = { never_answer = 1.0 }")
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/b0/ping", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bidder_sim::serve(config, listener, async {
        let _ = stopped.await;
    }));
    {
        let client = http1();
        let gave_up =
            tokio::time::timeout(Duration::from_millis(100), post_json(&client, &url, &ping("pg_1", 100))).await;
        assert!(gave_up.is_err());
    }
    // Had the request still been held, the drain would wait out its 2 s grace period.
    let started = Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(TEST_TIMEOUT, server).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_millis(1_500), "drained in {:?}", started.elapsed());
}

#[tokio::test]
async fn faults_happen_at_their_rates() {
    const PINGS: u64 = 2_000;
    const CONCURRENCY: u64 = 16;
    // 5% of 2,000 is 100 (standard deviation ~10): within 100 +- 40 is four deviations, and
    // a rate off by a factor of two falls outside.
    const RATE: f64 = 0.05;
    const TOLERANCE: u64 = 40;
    let faults =
        ["error_500", "error_503", "malformed", "negative_price", "nan_price", "huge_price", "oversized", "reset"];
    let rates: Vec<String> = faults.iter().map(|f| format!("{f} = {RATE}")).collect();
    let sim = Sim::start(&format!(
        "seed = 5\n[fault_settings]\noversized_bytes = 20000\n{}",
        buyer("b0", &format!("[buyers.ping]\nbid_probability = 0.5\nfaults = {{ {} }}", rates.join(", ")))
    ))
    .await;
    let url = sim.url("/b0/ping");
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = http1();
                let mut seen = Vec::new();
                for n in 0..PINGS / CONCURRENCY {
                    seen.push(classify(post_json(&client, &url, &ping(&format!("pg_{task}_{n}"), 100)).await));
                }
                seen
            })
        })
        .collect();
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    for task in tasks {
        for kind in task.await.unwrap() {
            *seen.entry(kind).or_default() += 1;
        }
    }
    let count = |kind: &str| seen.get(kind).copied().unwrap_or(0);
    let expected = (RATE * PINGS as f64) as u64;
    let stats = sim.stats("b0");
    for fault in faults {
        assert!(count(fault).abs_diff(expected) <= TOLERANCE, "{fault}: expected ~{expected} of {PINGS}: {seen:?}");
        assert_eq!(stats.faults_injected[fault], count(fault), "{fault}: the client saw what /stats says");
    }
    // The 60% without a fault are half bids, half no-bids.
    let clean = PINGS - faults.iter().map(|f| count(f)).sum::<u64>();
    assert_eq!(count("bid") + count("no_bid"), clean, "{seen:?}");
    assert!(count("bid").abs_diff(clean / 2) <= 80, "{seen:?}");
    assert_eq!((stats.bids, stats.no_bids, stats.pings), (count("bid"), count("no_bid"), PINGS));
}

/// What a client saw, named like the fault that causes it (or `bid` / `no_bid`).
fn classify(answer: Result<Answer, String>) -> &'static str {
    let Ok(answer) = answer else { return "reset" };
    match answer.status.as_u16() {
        500 => "error_500",
        503 => "error_503",
        200 if answer.body.len() > ENGINE_REPLY_CAP => "oversized",
        200 => match judge_bid(200, &answer.body, LIMITS) {
            BidVerdict::Bid { .. } => "bid",
            BidVerdict::NoBid => "no_bid",
            BidVerdict::Invalid(InvalidBid::Malformed) => "malformed",
            BidVerdict::Invalid(InvalidBid::NonPositivePrice) => "negative_price",
            BidVerdict::Invalid(InvalidBid::NonNumericPrice) => "nan_price",
            BidVerdict::Invalid(InvalidBid::AboveMax) => "huge_price",
            other => panic!("unexpected answer {other:?}"),
        },
        status => panic!("unexpected status {status}"),
    }
}
