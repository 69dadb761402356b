//! The SQLite store's commit path: one lead's writes (`LeadReceived`, then `AuctionFinished`
//! with 10 pings, 1 post and its `lead.sold` event), each awaited until durable, as the
//! auction does. One writer shows the latency of a lead's two commits; 64 concurrent writers
//! show the throughput group commit buys (criterion's time per element is wall time per lead).
//! Each configuration runs on a fresh file in the temp directory, with one `*` subscription so
//! every event also fans out to a delivery. Compared with the defaults (no linger,
//! `synchronous = NORMAL`): a 1 ms linger for more writes per batch, `synchronous = FULL`, and
//! the schema without the indexes the lifecycle API added for pull and reports (three on
//! `leads`, two on `sales`), to price them.
//!
//! `cargo bench -p benches --bench store`

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benches::LEAD;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine::protocol::event::EventType;
use engine::store::sqlite::{SqliteOptions, SqliteStore};
use engine::store::{
    AuctionFinished, IdempotencyKey, LeadReceived, NewEvent, NewSale, PingRow, PostRow, Store, Subscription, Write,
};

/// Pings recorded per auction.
const PINGS: usize = 10;

/// Lead ids across every run of the process.
static NEXT_LEAD: AtomicU64 = AtomicU64::new(0);

fn event(kind: EventType, lead_id: &str) -> NewEvent {
    let mut data = serde_json::Map::new();
    data.insert("lead_id".into(), lead_id.into());
    NewEvent { id: engine::protocol::ids::event_id(), kind, lead_id: Some(lead_id.to_owned()), at: 1, data }
}

fn received(lead_id: &str) -> Write {
    Write::LeadReceived(Box::new(LeadReceived {
        lead_id: lead_id.to_owned(),
        publisher_id: "pub1".into(),
        vertical: "auto_insurance".into(),
        test: false,
        received_at: 1,
        lead_json: Bytes::from_static(LEAD),
        idempotency: Some(IdempotencyKey {
            publisher_id: "pub1".into(),
            key: lead_id.to_owned(),
            fingerprint: [1; 32],
        }),
        contacts: Vec::new(),
        event: event(EventType::LeadReceived, lead_id),
    }))
}

fn finished(lead_id: &str) -> Write {
    let pings = (0..PINGS)
        .map(|i| PingRow {
            buyer_id: format!("b{i}"),
            ping_id: format!("pg_{i}"),
            result: "bid",
            price: Some(10_000_000 + i as i64),
            score: Some(10_000_000 + i as i64),
            bid_id: Some(format!("bid{i}")),
            reason: None,
            latency_us: Some(900),
        })
        .collect();
    let post = PostRow {
        attempt: 1,
        buyer_id: "b9".into(),
        ping_id: "pg_9".into(),
        price: 10_000_009,
        result: "accepted",
        reason: None,
        buyer_lead_id: Some("acme-1".into()),
        latency_us: 1_500,
    };
    Write::AuctionFinished(Box::new(AuctionFinished {
        lead_id: lead_id.to_owned(),
        outcome: "sold",
        buyer_id: Some("b9".into()),
        price: Some(10_000_009),
        sales: vec![NewSale { buyer_id: "b9".into(), price: 10_000_009, payout: 9_000_008, margin: 1_000_001 }],
        finished_at: 2,
        ping_ms: 1.0,
        post_ms: 1.5,
        total_ms: 2.7,
        pings,
        posts: vec![post],
        events: vec![event(EventType::LeadSold, lead_id)],
        answer: Bytes::from_static(br#"{"lead_id":"ld","outcome":"sold","price":"10.000009"}"#),
    }))
}

/// One lead's two commits, each awaited.
async fn one_lead(store: &SqliteStore) {
    let lead_id = format!("ld_{}", NEXT_LEAD.fetch_add(1, Ordering::Relaxed));
    store.write(vec![received(&lead_id)]).expect("queued").await.expect("lead committed");
    store.write(vec![finished(&lead_id)]).expect("queued").await.expect("outcome committed");
}

/// A store on a fresh file, removed with the directory when dropped.
struct TempStore {
    store: Option<Arc<SqliteStore>>,
    dir: PathBuf,
}

/// The indexes pull and reports read by, added to every lead's and sale's writes.
const LIFECYCLE_INDEXES: [&str; 5] =
    ["leads_by_time", "leads_by_publisher", "leads_by_publisher_seq", "sales_by_buyer", "sales_by_time"];

impl TempStore {
    fn new(name: &str, options: SqliteOptions, lifecycle_indexes: bool) -> TempStore {
        let dir = std::env::temp_dir().join(format!("engine-store-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("engine.db");
        if !lifecycle_indexes {
            drop(SqliteStore::open(&path, options.clone()).expect("create store"));
            let conn = rusqlite::Connection::open(&path).expect("open");
            for index in LIFECYCLE_INDEXES {
                conn.execute_batch(&format!("DROP INDEX {index}")).expect("drop index");
            }
        }
        let store = SqliteStore::open(&path, options).expect("open store");
        let all = Subscription {
            id: "all".into(),
            url: "https://hooks.example.com/all".into(),
            events: vec!["*".into()],
            secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
            secrets_rotated_until: None,
            headers: Vec::new(),
            payload: None,
            enabled: true,
            disabled_reason: None,
            source: "config",
            created_at: 0,
        };
        drop(store.write(vec![Write::PutSubscription(Box::new(all))]).expect("queued"));
        TempStore { store: Some(Arc::new(store)), dir }
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        // Close the store (its writer commits and exits) before its files go.
        drop(self.store.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `iters` leads split over `writers` tasks; the wall time, so time per lead is throughput.
async fn run(store: &Arc<SqliteStore>, writers: u64, iters: u64) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                for _ in 0..iters.div_ceil(writers) {
                    one_lead(&store).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
    start.elapsed()
}

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("store_lead_commits");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let configs = [
        ("default", SqliteOptions::default(), true),
        ("without_lifecycle_indexes", SqliteOptions::default(), false),
        ("linger_1ms", SqliteOptions { batch_max_wait: Duration::from_millis(1), ..SqliteOptions::default() }, true),
        ("synchronous_full", SqliteOptions { synchronous_full: true, ..SqliteOptions::default() }, true),
    ];
    for (name, options, lifecycle_indexes) in configs {
        for writers in [1u64, 64] {
            let temp = TempStore::new(&format!("{name}-{writers}"), options.clone(), lifecycle_indexes);
            let Some(store) = temp.store.clone() else { continue };
            group.bench_with_input(BenchmarkId::new(name, writers), &writers, |b, &writers| {
                b.to_async(&rt).iter_custom(|iters| run(&store, writers, iters));
            });
            let commits = store.commits();
            drop(store);
            let leads = NEXT_LEAD.swap(0, Ordering::Relaxed);
            println!("{name}, {writers} writers: {leads} leads in {commits} commits");
        }
    }
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
