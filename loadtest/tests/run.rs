//! The runner against a real local target: a stalled target shows up in the percentiles
//! (latency is counted from the intended send time), and the counts add up.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use loadtest::runner::{RunOptions, run};
use loadtest::schedule::Arrivals;
use parking_lot::Mutex;
use tokio::time::Instant;

/// A target that answers at once, except that the first request after `stall_after` makes
/// every request wait until `stall` has passed.
async fn target(stall_after: Duration, stall: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Instant::now();
    let stall_until: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let stall_until = Arc::clone(&stall_until);
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let stall_until = Arc::clone(&stall_until);
                    async move {
                        let _ = request.into_body().collect().await;
                        let until = {
                            let mut until = stall_until.lock();
                            if until.is_none() && started.elapsed() >= stall_after {
                                *until = Some(Instant::now() + stall);
                            }
                            *until
                        };
                        if let Some(until) = until {
                            // The target's own stall (its behaviour under test), not synchronization.
                            tokio::time::sleep_until(until).await;
                        }
                        let body = r#"{"lead_id":"ld_x","outcome":"sold","price":"1.00","buyer_id":"b","timings_ms":{"ping":1.0,"post":1.0,"total":2.5}}"#;
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes()))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn options(addr: std::net::SocketAddr, rate: f64, seconds: f64) -> RunOptions {
    RunOptions {
        target: format!("http://{addr}").parse().unwrap(),
        key: "k".into(),
        rate,
        duration: Duration::from_secs_f64(seconds),
        connections: 4,
        arrivals: Arrivals::Constant,
        timeout: Duration::from_secs(5),
        seed: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_target_shows_in_the_percentiles() {
    let addr = target(Duration::from_millis(200), Duration::from_millis(400)).await;
    let report = run(&options(addr, 200.0, 1.0), |_| {}).await;
    assert_eq!(report.sent, 200);
    assert_eq!(report.outcomes.get("sold"), Some(&200), "{report}");
    // About 80 leads were due during the 400 ms stall. Counted from their intended send time
    // they waited up to 400 ms; counted from when a connection freed up they would look fast.
    assert!(report.latency_ms.p90 >= 100.0, "the stall must show: {report}");
    assert!(report.latency_ms.max >= 350.0, "{report}");
    assert!(report.latency_ms.p50 < 100.0, "most leads were not stalled: {report}");
    // The engine-side figure is what the target said.
    assert!((report.engine_total_ms.p50 - 2.5).abs() < 0.1, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_target_is_fast_and_every_lead_counted() {
    let addr = target(Duration::from_secs(3600), Duration::ZERO).await;
    let report = run(&options(addr, 100.0, 0.5), |_| {}).await;
    assert_eq!(report.sent, 50);
    assert_eq!(report.outcomes.values().sum::<u64>(), 50);
    assert_eq!(report.client_timeouts + report.connection_errors, 0);
    assert!(report.latency_ms.p99 < 100.0, "{report}");
}

#[tokio::test]
async fn an_unreachable_target_counts_connection_errors() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let report = run(&options(addr, 50.0, 0.2), |_| {}).await;
    assert_eq!(report.sent, 10);
    assert_eq!(report.connection_errors, 10);
    assert_eq!(report.latency_ms.count, 0);
}
