//! Normal answers: bids and posts over HTTP/1.1 and h2c, latency, reproducibility, the
//! operational endpoints, and what happens to requests that name no buyer or are too big.

use std::time::Instant;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

#[tokio::test]
async fn a_ping_gets_a_bid_and_its_post_is_accepted_over_http1_and_h2() {
    let sim = Sim::start(&buyer("acme", "[buyers.ping]\nprice = { dist = \"constant\", value = \"12.50\" }")).await;
    for (n, client) in [http1(), http2()].iter().enumerate() {
        let ping_id = format!("pg_{n}");
        let bid = post_json(client, &sim.url("/acme/ping"), &ping(&ping_id, 100)).await.unwrap();
        assert_eq!(bid.status, 200);
        let bid = bid.json();
        assert_eq!((bid["bid"].clone(), bid["price"].clone()), (Value::Bool(true), Value::from("12.50")));
        let bid_id = bid["bid_id"].as_str().unwrap();
        let answer = post_json(client, &sim.url("/acme/post"), &post(&ping_id, bid_id, "12.50")).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["accepted"], true, "{:?}", answer.body);
        assert!(answer.json()["buyer_lead_id"].is_string());
    }
    let stats = sim.stats("acme");
    assert_eq!((stats.pings, stats.bids, stats.no_bids, stats.posts, stats.accepted), (2, 2, 0, 2, 2));
    assert_eq!((stats.contract_violations, stats.pii_violations, stats.faults_total()), (0, 0, 0));
}

#[tokio::test]
async fn no_bids_and_declines_follow_the_profile() {
    let sim = Sim::start(&format!(
        "{}{}",
        buyer("never", "[buyers.ping]\nbid_probability = 0.0"),
        buyer("decliner", "[buyers.post]\naccept_rate = 0.0")
    ))
    .await;
    let client = http1();
    let answer = post_json(&client, &sim.url("/never/ping"), &ping("pg_1", 100)).await.unwrap();
    assert_eq!(answer.json(), serde_json::json!({"bid": false}));
    let bid = post_json(&client, &sim.url("/decliner/ping"), &ping("pg_2", 100)).await.unwrap().json();
    let answer =
        post_json(&client, &sim.url("/decliner/post"), &post("pg_2", bid["bid_id"].as_str().unwrap(), "10.00")).await;
    assert_eq!(answer.unwrap().json()["accepted"], false);
    assert_eq!(sim.stats("never").no_bids, 1);
    assert_eq!(sim.stats("decliner").declined, 1);
}

#[tokio::test]
async fn a_ping_waits_its_latency() {
    let sim = Sim::start(&buyer("slow", "[buyers.ping]\nlatency = { dist = \"constant\", ms = 60 }")).await;
    let client = http1();
    let started = Instant::now();
    let answer = post_json(&client, &sim.url("/slow/ping"), &ping("pg_1", 100)).await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(started.elapsed().as_millis() >= 60, "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_same_seed_and_requests_give_the_same_answers() {
    let profile = "[buyers.ping]\nbid_probability = 0.5\nprice = { dist = \"log_normal\", p50 = \"10.00\", p99 = \"40.00\" }\nfaults = { error_500 = 0.1 }";
    let answers = |seed: u64| async move {
        let sim = Sim::start(&format!("seed = {seed}\n{}", buyer("b0", profile))).await;
        let client = http1();
        let mut answers = Vec::new();
        for n in 0..60 {
            let answer = post_json(&client, &sim.url("/b0/ping"), &ping(&format!("pg_{n}"), 100)).await.unwrap();
            answers.push((answer.status, answer.body));
        }
        answers
    };
    let first = answers(7).await;
    assert_eq!(first, answers(7).await);
    assert_ne!(first, answers(8).await);
    assert!(first.iter().any(|(status, _)| *status == 500), "the fault shows up");
}

#[tokio::test]
async fn stats_and_metrics_report_every_buyer() {
    let sim = Sim::start(&format!("{}{}", buyer("a", ""), buyer("b", ""))).await;
    let client = http1();
    post_json(&client, &sim.url("/a/ping"), &ping("pg_1", 100)).await.unwrap();
    let stats = get(&client, &sim.url("/stats")).await;
    assert_eq!(stats.status, 200);
    let stats = stats.json();
    assert_eq!(stats["buyers"]["a"]["pings"], 1);
    assert_eq!(stats["buyers"]["a"]["bids"], 1);
    assert_eq!(stats["buyers"]["b"]["pings"], 0);
    assert_eq!(stats["totals"]["pings"], 1);
    for key in ["no_bids", "faults_injected", "posts", "accepted", "contract_violations", "pii_violations"] {
        assert!(stats["buyers"]["a"].get(key).is_some(), "{key}");
    }
    let metrics = get(&client, &sim.url("/metrics")).await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(text.contains("bidder_sim_pings_total{buyer=\"a\"} 1"), "{text}");
    assert!(text.contains("bidder_sim_faults_injected_total{buyer=\"b\",kind=\"reset\"} 0"), "{text}");
    assert_eq!(get(&client, &sim.url("/healthz")).await.status, 200);
}

#[tokio::test]
async fn requests_for_no_buyer_or_with_the_wrong_method_are_refused() {
    let sim = Sim::start(&buyer("a", "")).await;
    let client = http1();
    for path in ["/nobody/ping", "/a/bid", "/a", "/"] {
        let answer = post_json(&client, &sim.url(path), &ping("pg_1", 100)).await.unwrap();
        assert_eq!(answer.status, 404, "{path}");
    }
    assert_eq!(get(&client, &sim.url("/a/ping")).await.status, 405);
    assert_eq!(sim.simulator.stats().unroutable, 4);
    assert_eq!(sim.stats("a").pings, 0);
}

#[tokio::test]
async fn bodies_over_64_kib_get_413_whether_declared_or_chunked() {
    let sim = Sim::start(&buyer("a", "")).await;
    let big = ping_with("pg_1", 100, serde_json::json!({"zip": "98004", "state": "WA", "pad": "x".repeat(70_000)}));
    let answer = post_json(&http1(), &sim.url("/a/ping"), &big).await.unwrap();
    assert_eq!(answer.status, 413);

    // Chunked, with no Content-Length to refuse it early: the limit applies while reading.
    let mut stream = tokio::net::TcpStream::connect(sim.addr).await.unwrap();
    let head =
        "POST /a/post HTTP/1.1\r\nhost: sim\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 8 * 1024];
    for _ in 0..9 {
        let _ = stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await;
        let _ = stream.write_all(&chunk).await;
        let _ = stream.write_all(b"\r\n").await;
    }
    let mut reply = vec![0u8; 64];
    let n = tokio::time::timeout(TEST_TIMEOUT, stream.read(&mut reply)).await.unwrap().unwrap();
    assert!(reply[..n].starts_with(b"HTTP/1.1 413"), "{:?}", String::from_utf8_lossy(&reply[..n]));
    let stats = sim.stats("a");
    assert_eq!((stats.violations["too_large"], stats.pings, stats.posts), (2, 1, 1));
}
