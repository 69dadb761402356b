//! One full auction in process: validate the lead, select buyers, ping 10 in-memory buyers
//! that answer at once, rank, post, build the answer. With buyers that take no time, all of
//! the auction time is the engine's own overhead.
//!
//! Criterion reports the mean; the target is on p99, so after the criterion run this
//! bench also measures 20,000 auctions one by one and prints p50 / p99 / p99.9 / max. Both
//! with plain buyers and with buyers under every control (caps reserved and committed on each
//! sale, schedules, circuit breakers), so the controls' cost is a ratio within one run. The
//! `distribution` group prices how a lead is sold: to one buyer, shared with three (three
//! posts), or with half the buyers at a fixed price (five pings instead of ten).

use std::sync::Arc;
use std::time::Duration;

use benches::{
    InstantBuyers, LEAD, config_with_buyers, config_with_controlled_buyers, config_with_distribution, instant_buyers,
};
use criterion::{Criterion, criterion_group, criterion_main};
use engine::api::validate;
use engine::auction::{Auctioneer, Offer, Settings};
use engine::buyers::Registry;
use tokio::time::Instant;

const BUYERS: usize = 10;

fn setup(controls: bool) -> (Arc<Registry>, Auctioneer<InstantBuyers>) {
    engine::ops::metrics::install();
    let config = if controls { config_with_controlled_buyers(BUYERS, true) } else { config_with_buyers(BUYERS, true) };
    let registry = Arc::new(Registry::from_config(&config));
    let settings = Settings::from_config(&Default::default());
    (registry, Auctioneer::new(instant_buyers(), settings))
}

async fn one_auction(registry: &Arc<Registry>, auctioneer: &Auctioneer<InstantBuyers>) -> Duration {
    auction_selling_to(registry, auctioneer, 1).await
}

async fn auction_selling_to(
    registry: &Arc<Registry>,
    auctioneer: &Auctioneer<InstantBuyers>,
    sales: usize,
) -> Duration {
    let start = Instant::now();
    let lead = validate::lead(LEAD).expect("valid");
    let lead_id: Arc<str> = engine::protocol::ids::lead_id().into();
    let offer = Offer { publisher_id: "pub1", exclude: &[] };
    let record = auctioneer.run(registry, &lead, lead_id, start, offer).await;
    assert_eq!(record.pings.len(), BUYERS);
    assert_eq!(record.sales.len(), sales);
    let answer = serde_json::to_vec(&record.answer()).expect("serializes");
    std::hint::black_box(answer);
    start.elapsed()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn full_auction(c: &mut Criterion) {
    let rt = runtime();
    for (name, controls) in
        [("full_auction_10_instant_buyers", false), ("full_auction_10_instant_buyers_controls", true)]
    {
        let (registry, auctioneer) = setup(controls);
        c.bench_function(name, |b| {
            b.to_async(&rt).iter(|| one_auction(&registry, &auctioneer));
        });
    }
}

fn distribution(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("distribution");
    for (name, sales) in [("exclusive", 1), ("shared", 3), ("fixed", 1)] {
        let registry = Arc::new(Registry::from_config(&config_with_distribution(BUYERS, name)));
        let auctioneer = Auctioneer::new(instant_buyers(), Settings::from_config(&Default::default()));
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| auction_selling_to(&registry, &auctioneer, sales));
        });
    }
    group.finish();
}

fn overhead_percentiles(_: &mut Criterion) {
    for controls in [false, true] {
        percentiles(controls);
    }
}

fn percentiles(controls: bool) {
    let rt = runtime();
    let (registry, auctioneer) = setup(controls);
    let mut samples: Vec<Duration> = rt.block_on(async {
        for _ in 0..2_000 {
            one_auction(&registry, &auctioneer).await;
        }
        let mut samples = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            samples.push(one_auction(&registry, &auctioneer).await);
        }
        samples
    });
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "engine overhead, full auction, {BUYERS} instant buyers{}, {} auctions: p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        if controls { " with caps, schedules, breakers" } else { "" },
        samples.len(),
        at(0.50),
        at(0.99),
        at(0.999),
        samples[samples.len() - 1]
    );
}

criterion_group!(benches, full_auction, distribution, overhead_percentiles);
criterion_main!(benches);
