//! The real engine against the simulator, both in this process over real sockets: the
//! engine's pings keep contract v1 and carry no PII, and every post follows a bid of the buyer
//! it reaches, with that bid's id and price (the simulator counts any breach). Their metrics
//! share the process without conflict.

use std::sync::Arc;

use bidder_sim::leads::LeadFactory;
use bidder_sim::{SimConfig, engine_buyers_toml};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use tokio::sync::Semaphore;

use crate::common::*;

/// A publisher key for the test, and its SHA-256 (what the engine config holds).
const PUBLISHER_KEY: &str = "sk_bidder_sim_e2e_test_key";
const PUBLISHER_KEY_SHA256: &str = "ffd431af754e09615a6fea9ec6b2d7f1e2489923d9d238bd18d13521b7d08d8b";

const LEADS: usize = 120;
const CONCURRENCY: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_keeps_the_contract_with_simulated_buyers() {
    let sim = Sim::start_config(SimConfig::generate(12, 5)).await;
    let store = std::env::temp_dir().join(format!("bidder-sim-e2e-{}", std::process::id()));
    let engine_toml = format!(
        "store = {:?}\n[[publishers]]\nid = \"p1\"\nkey_sha256 = \"{PUBLISHER_KEY_SHA256}\"\n{}",
        store.join("engine.db"),
        engine_buyers_toml(sim.simulator.config(), &sim.url(""))
    );
    let config = engine::config::Config::from_toml(&engine_toml).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let leads_url = format!("http://{}/v1/leads", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = tokio::spawn(engine::run(config, listener, async {
        let _ = stopped.await;
    }));

    let client = http1();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut factory = LeadFactory::new(9, u64::from(std::process::id()));
    let mut sends = Vec::new();
    for _ in 0..LEADS {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let request = Request::post(&leads_url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, format!("Bearer {PUBLISHER_KEY}"))
            .body(Full::new(Bytes::from(factory.next_lead().to_string())))
            .unwrap();
        let client = client.clone();
        sends.push(tokio::spawn(async move {
            let response = tokio::time::timeout(TEST_TIMEOUT, client.request(request)).await.unwrap().unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            drop(permit);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["outcome"] == "sold"
        }));
    }
    let mut sold = 0;
    for send in sends {
        sold += u64::from(send.await.unwrap());
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(TEST_TIMEOUT, engine).await;
    let _ = std::fs::remove_dir_all(&store);

    let totals = sim.simulator.stats().totals;
    let breaches: Vec<_> = totals.violations.iter().filter(|(_, n)| **n > 0).collect();
    assert_eq!(totals.contract_violations, 0, "{breaches:?}");
    assert_eq!(totals.pii_violations, 0, "PII reached a ping");
    assert!(totals.pings >= LEADS as u64, "{totals:?}");
    assert!(sold > LEADS as u64 / 2, "{sold} of {LEADS} sold");
    assert!(totals.posts >= sold, "every sale followed a post: {} posts, {sold} sold", totals.posts);

    // The engine installed its process-wide metrics recorder; the simulator's own still renders.
    let metrics = String::from_utf8(get(&client, &sim.url("/metrics")).await.body.to_vec()).unwrap();
    assert!(metrics.contains("bidder_sim_pings_total{buyer=\"fast_00\"} "), "{metrics}");
}
