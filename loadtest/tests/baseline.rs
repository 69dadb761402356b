//! The baseline makes the engine's exchanges per lead, no more and no fewer: one ping to each
//! buyer and one post to a bidder, all contract-clean as far as bidder-sim can tell.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bidder_sim::{SimConfig, Simulator};
use loadtest::baseline::{Baseline, BaselineBuyer};
use loadtest::runner::{RunOptions, run};
use loadtest::schedule::Arrivals;
use tokio::sync::oneshot;

const BUYERS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ping_per_buyer_and_one_post_per_lead() {
    let buyer = |i: usize| {
        format!(
            "[[buyers]]\nid = \"b{i}\"\nverticals = [\"auto_insurance\"]\n[buyers.ping]\nlatency = {{ dist = \"uniform\", min_ms = 1, max_ms = 5 }}\n"
        )
    };
    let text: String = (0..BUYERS).map(buyer).collect();
    let simulator = Simulator::new(SimConfig::from_toml(&text).unwrap()).unwrap();
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = sim_listener.local_addr().unwrap();
    let (stop_sim, sim_stopped) = oneshot::channel::<()>();
    let sim_task = tokio::spawn(std::sync::Arc::clone(&simulator).serve(sim_listener, async {
        let _ = sim_stopped.await;
    }));

    let buyers = (0..BUYERS)
        .map(|i| BaselineBuyer {
            ping_url: format!("http://{sim}/b{i}/ping").parse().unwrap(),
            post_url: format!("http://{sim}/b{i}/post").parse().unwrap(),
            http2: i == 1,
        })
        .collect();
    let baseline = Baseline::new(buyers, Duration::from_millis(100), Duration::from_millis(1000));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(baseline.serve(listener, async {
        let _ = stopped.await;
    }));

    let options = RunOptions {
        target: format!("http://{target}").parse().unwrap(),
        key: "unused".into(),
        rate: 50.0,
        duration: Duration::from_secs(1),
        connections: 16,
        arrivals: Arrivals::Constant,
        timeout: Duration::from_secs(5),
        seed: 1,
    };
    let report = run(&options, |_| {}).await;
    assert_eq!(report.sent, 50);
    assert_eq!(report.outcomes.get("sold"), Some(&50), "every buyer bids and accepts: {report}");
    assert_eq!(report.engine_total_ms.count, 50, "the baseline reports its own total");
    assert!(report.engine_total_ms.p50 >= 1.0, "it waited for the buyers: {report}");

    let stats = simulator.stats();
    assert_eq!(stats.totals.pings, 50 * BUYERS as u64, "{stats:?}");
    assert_eq!(stats.totals.posts, 50, "{stats:?}");
    assert_eq!(stats.totals.accepted, 50, "posts echo the bid: {stats:?}");
    assert_eq!(stats.totals.contract_violations, 0, "{stats:?}");
    assert_eq!(stats.totals.pii_violations, 0, "pings carry no contact data: {stats:?}");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let _ = stop_sim.send(());
    sim_task.await.unwrap().unwrap();
}
