//! Publisher intake over real sockets: auth, limits, content type, validation errors,
//! idempotency, operations endpoints and graceful shutdown.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Behavior, Engine, FakeBuyers, KEY, LEAD, config};
use sha2::{Digest, Sha256};

const MS: fn(u64) -> Duration = Duration::from_millis;

async fn engine_with_buyer(fake: &FakeBuyers) -> Engine {
    Engine::start(&config(&fake.buyer_toml("acme", ""))).await
}

#[tokio::test]
async fn authentication_errors() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\""))]).await;
    let disabled_digest = hex::encode(Sha256::digest("disabled-key"));
    let engine = Engine::start(&config(&format!(
        "{}\n[[publishers]]\nid = \"off\"\nkey_sha256 = \"{disabled_digest}\"\nenabled = false\n",
        fake.buyer_toml("acme", "")
    )))
    .await;
    let json = ("content-type", "application/json");
    for (headers, status) in [
        (vec![json], 401),
        (vec![json, ("authorization", "Bearer wrong-key")], 401),
        (vec![json, ("authorization", "Basic dXNlcjpwYXNz")], 401),
        (vec![json, ("authorization", "Bearer ")], 401),
        (vec![json, ("authorization", "Bearer disabled-key")], 403),
    ] {
        let answer = engine.send("POST", "/v1/leads", &headers, LEAD).await;
        assert_eq!(answer.status, status, "{headers:?}");
        assert_eq!(answer.code(), if status == 401 { "unauthorized" } else { "forbidden" });
    }
    assert!(fake.pings().is_empty(), "nothing auctioned without a valid key");
    let lower = format!("bearer {KEY}");
    let ok = engine.send("POST", "/v1/leads", &[json, ("authorization", &lower)], LEAD).await;
    assert_eq!(ok.status, 200, "the scheme is case-insensitive");
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn content_type_and_size_limits() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\""))]).await;
    let engine = engine_with_buyer(&fake).await;
    let auth = format!("Bearer {KEY}");
    let auth = ("authorization", auth.as_str());
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let mut headers = vec![auth];
        headers.extend(content_type.map(|c| ("content-type", c)));
        let answer = engine.send("POST", "/v1/leads", &headers, LEAD).await;
        assert_eq!((answer.status.as_u16(), answer.code().as_str()), (415, "unsupported_media_type"));
    }
    let charset =
        engine.send("POST", "/v1/leads", &[auth, ("content-type", "application/json; charset=utf-8")], LEAD).await;
    assert_eq!(charset.status, 200);

    // Over 64 KiB: refused by Content-Length, and also when streamed without one.
    let padding = "x".repeat(70 * 1024);
    let big = LEAD.replace("I agree to be contacted.", &padding);
    let answer = engine.lead(&big).await;
    assert_eq!((answer.status.as_u16(), answer.code().as_str()), (413, "payload_too_large"));
    let streamed = send_chunked(&engine, big.into_bytes()).await;
    assert_eq!(streamed, 413);
    engine.stop().await.unwrap();
}

/// Sends a body without Content-Length (chunked) over a raw socket, returning the status.
async fn send_chunked(engine: &Engine, body: Vec<u8>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(engine.addr).await.unwrap();
    let head = format!(
        "POST /v1/leads HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        // The server may answer 413 and close before the whole body is sent.
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = vec![0u8; 1024];
    let n = stream.read(&mut response).await.unwrap_or(0);
    let text = String::from_utf8_lossy(&response[..n]);
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

/// Invariant 7: bad input gets a clear error (status, code, field), never a panic.
#[tokio::test]
async fn invariant_7_every_bad_input_gets_its_status_and_code() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\""))]).await;
    let engine = engine_with_buyer(&fake).await;
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        (String::new(), "invalid_json", None),
        ("{\"vertical\": ".into(), "invalid_json", None),
        (format!("{LEAD} trailing"), "invalid_json", None),
        ("[1, 2]".into(), "invalid_type", None),
        (LEAD.replace("\"vertical\": \"auto_insurance\",", ""), "missing_field", Some("vertical")),
        (LEAD.replace("\"email\": \"jane@example.com\",", ""), "missing_field", Some("contact.email")),
        (LEAD.replace("\"test\": false", "\"test\": \"yes\""), "invalid_type", Some("test")),
        (LEAD.replace("\"test\": false", "\"test\": false, \"tset\": 1"), "unknown_field", Some("tset")),
        (LEAD.replace("auto_insurance", "Auto Insurance"), "invalid_vertical", Some("vertical")),
        (LEAD.replace("\"zip\": \"98004\",", ""), "missing_field", Some("attributes.zip")),
        (LEAD.replace("\"98004\"", "\"9800\""), "invalid_zip", Some("attributes.zip")),
        (LEAD.replace("\"98004\"", "98004"), "invalid_type", Some("attributes.zip")),
        (LEAD.replace("\"WA\"", "\"XX\""), "invalid_state", Some("attributes.state")),
        (LEAD.replace("jane@example.com", "jane@example"), "invalid_email", Some("contact.email")),
        (LEAD.replace("jane@example.com", "not an email"), "invalid_email", Some("contact.email")),
        (LEAD.replace("+12065550100", "+1 911 555 0100"), "invalid_phone", Some("contact.phone")),
        (LEAD.replace("+12065550100", "555-1234"), "invalid_phone", Some("contact.phone")),
        (LEAD.replace("+12065550100", "call me"), "invalid_phone", Some("contact.phone")),
        (LEAD.replace("\"Jane\"", "\"  \""), "invalid_name", Some("contact.first_name")),
        (LEAD.replace("\"good\"", "\"jane@example.com\""), "pii_in_attributes", Some("attributes.credit_tier")),
        (LEAD.replace("\"good\"", "\"(206) 555-0100\""), "pii_in_attributes", Some("attributes.credit_tier")),
        (LEAD.replace("\"age\": 42", "\"email\": \"x\""), "pii_in_attributes", Some("attributes.email")),
        (LEAD.replace("\"age\": 42", "\"age\": {\"years\": 42}"), "invalid_attribute", Some("attributes.age")),
        (LEAD.replace("203.0.113.9", "300.1.1.1"), "invalid_ip", Some("consent.ip")),
        (LEAD.replace("2026-11-23T12:00:00Z", "yesterday"), "invalid_timestamp", Some("consent.captured_at")),
        (LEAD.replace("https://cert", "http://cert"), "invalid_url", Some("consent.trustedform_cert_url")),
    ];
    for (body, code, field) in cases {
        let answer = engine.lead(&body).await;
        assert_eq!(answer.status, 400, "{code}: {:?}", answer.body);
        assert_eq!(answer.code(), code, "{:?}", answer.body);
        assert_eq!(answer.field().as_deref(), field, "{:?}", answer.body);
        assert!(!answer.json()["error"]["message"].as_str().unwrap_or_default().is_empty());
    }
    assert!(fake.pings().is_empty(), "no invalid lead reaches a buyer");
    // And the engine still works.
    assert_eq!(engine.lead(LEAD).await.status, 200);
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn accepted_input_is_normalized() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\""))]).await;
    let engine = engine_with_buyer(&fake).await;
    let messy = LEAD
        .replace("\"WA\"", "\"washington\"")
        .replace("\"98004\"", "\"98004-1234\"")
        .replace("+12065550100", "(206) 555-0100")
        .replace("jane@example.com", "Jane@Example.COM");
    assert_eq!(engine.lead(&messy).await.json()["outcome"], "sold");
    let ping = fake.pings()[0].json();
    assert_eq!(ping["attributes"]["state"], "WA");
    assert_eq!(ping["attributes"]["zip"], "98004");
    let post = fake.posts()[0].json();
    assert_eq!(post["contact"]["phone"], "+12065550100");
    assert_eq!(post["contact"]["email"], "Jane@example.com");
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let fake = FakeBuyers::start(&[]).await;
    let engine = engine_with_buyer(&fake).await;
    let missing = engine.send("GET", "/v1/nothing", &[], "").await;
    assert_eq!((missing.status.as_u16(), missing.code().as_str()), (404, "not_found"));
    let wrong = engine.send("DELETE", "/v1/leads", &[], "").await;
    assert_eq!((wrong.status.as_u16(), wrong.code().as_str()), (405, "method_not_allowed"));
    assert_eq!(wrong.headers.get("allow").map(|v| v.as_bytes()), Some(&b"GET, POST"[..]));
    engine.stop().await.unwrap();
}

/// Invariant 4: a retry with the same Idempotency-Key returns the first outcome and never
/// re-auctions.
#[tokio::test]
async fn invariant_4_idempotent_retry_returns_the_first_outcome() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\""))]).await;
    let engine = engine_with_buyer(&fake).await;
    let key = [("idempotency-key", "order-1")];
    let first = engine.lead_with(LEAD, &key).await;
    let second = engine.lead_with(LEAD, &key).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, second.body, "same answer, byte for byte");
    assert_eq!(second.headers.get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    assert_eq!(fake.pings().len(), 1, "one auction");
    assert_eq!(fake.posts().len(), 1, "one sale");

    let conflict = engine.lead_with(&LEAD.replace("Jane", "Joan"), &key).await;
    assert_eq!((conflict.status.as_u16(), conflict.code().as_str()), (409, "idempotency_key_reused"));
    let other = engine.lead_with(LEAD, &[("idempotency-key", "order-2")]).await;
    assert_ne!(other.json()["lead_id"], first.json()["lead_id"], "a new key is a new lead");
    let bad = engine.lead_with(LEAD, &[("idempotency-key", "has space")]).await;
    assert_eq!((bad.status.as_u16(), bad.code().as_str()), (400, "invalid_idempotency_key"));
    engine.stop().await.unwrap();
}

/// Invariant 4: a retry that arrives while the first auction is still running waits for it
/// instead of starting a second one.
#[tokio::test]
async fn invariant_4_idempotent_retry_while_the_first_is_in_flight() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\"").ping_after(MS(60)))]).await;
    let engine = std::sync::Arc::new(engine_with_buyer(&fake).await);
    let first = tokio::spawn({
        let engine = std::sync::Arc::clone(&engine);
        async move { engine.lead_with(LEAD, &[("idempotency-key", "k-inflight")]).await }
    });
    // The first auction is in flight once its ping reached the buyer.
    fake.wait_for_pings(1).await;
    let retries: Vec<_> = (0..5)
        .map(|_| {
            let engine = std::sync::Arc::clone(&engine);
            tokio::spawn(async move { engine.lead_with(LEAD, &[("idempotency-key", "k-inflight")]).await })
        })
        .collect();
    let first = first.await.unwrap();
    for retry in retries {
        assert_eq!(retry.await.unwrap().body, first.body);
    }
    assert_eq!(first.json()["outcome"], "sold");
    assert_eq!(fake.pings().len(), 1, "never a second auction");
    assert_eq!(fake.posts().len(), 1, "never a second sale");
    std::sync::Arc::into_inner(engine).unwrap().stop().await.unwrap();
}

#[tokio::test]
async fn a_publisher_hanging_up_does_not_cancel_its_auction() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\"").ping_after(MS(50)))]).await;
    let engine = engine_with_buyer(&fake).await;
    let key = [("idempotency-key", "hang-up")];
    let impatient = tokio::time::timeout(MS(20), engine.lead_with(LEAD, &key)).await;
    assert!(impatient.is_err(), "the client gave up before the answer");
    // The retry gets the outcome of the auction that kept running.
    let retry = engine.lead_with(LEAD, &key).await;
    assert_eq!(retry.json()["outcome"], "sold");
    assert_eq!(fake.pings().len(), 1);
    assert_eq!(fake.posts().len(), 1);
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let fake = FakeBuyers::start(&[("metered", Behavior::bid("\"5.00\""))]).await;
    let engine = Engine::start(&config(&fake.buyer_toml("metered", ""))).await;
    assert_eq!(engine.send("GET", "/healthz", &[], "").await.status, 200);
    assert_eq!(engine.send("GET", "/readyz", &[], "").await.status, 200);
    assert_eq!(engine.lead(LEAD).await.status, 200);
    let metrics = engine.send("GET", "/metrics", &[], "").await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8_lossy(&metrics.body);
    for needle in [
        "engine_auctions_total{outcome=\"sold\"}",
        "engine_buyer_pings_total{buyer=\"metered\",result=\"bid\"} 1",
        "engine_buyer_posts_total{buyer=\"metered\",result=\"accepted\"} 1",
        "engine_buyer_ping_duration_seconds_bucket{buyer=\"metered\"",
        "engine_overhead_seconds_bucket",
        "engine_intake_responses_total{status=\"200\"}",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_the_in_flight_auction_finish() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\"").ping_after(MS(50)))]).await;
    let mut engine = engine_with_buyer(&fake).await;
    let addr = engine.addr;
    let in_flight = tokio::spawn(async move {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let request = http::Request::post(format!("http://{addr}/v1/leads"))
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(LEAD.as_bytes())))
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        (status, body)
    });
    fake.wait_for_pings(1).await;
    engine.trigger_shutdown();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("\"sold\""));
    engine.done.take().unwrap().await.unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer listening");
}

#[tokio::test]
async fn publishers_can_use_http2_cleartext() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\""))]).await;
    let engine = engine_with_buyer(&fake).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = http::Request::post(format!("http://{}/v1/leads", engine.addr))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(LEAD.as_bytes())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    engine.stop().await.unwrap();
}

/// Invariant 8: the hot path never waits on logging (or, later, webhooks and reports): with
/// the record queue full and nobody reading it, leads are still answered at once.
#[tokio::test]
async fn invariant_8_a_stalled_record_consumer_never_delays_an_answer() {
    let fake = FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\""))]).await;
    let config = engine::config::Config::from_toml(&config(&fake.buyer_toml("acme", ""))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = engine::store::sqlite::SqliteStore::open(&dir.path().join("engine.db"), Default::default()).unwrap();
    let (app, records) = engine::build(&config, engine::transport::HttpTransport::new(), 1, std::sync::Arc::new(store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(engine::api::serve(app, listener, async { drop(stopped.await) }, MS(1_000)));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    for _ in 0..5 {
        let request = http::Request::post(format!("http://{addr}/v1/leads"))
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(LEAD.as_bytes())))
            .unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(2), client.request(request)).await;
        assert_eq!(answered.expect("answered without waiting on the record queue").unwrap().status(), 200);
    }
    assert_eq!(records.len(), 1, "the queue stayed full; the other records were dropped, not awaited");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
