//! Shared state under contention, from several threads at once:
//! - the idempotency map: the engine's `IdempotencyCache` (a sharded DashMap) against the
//!   simplest alternative, one `parking_lot::Mutex<HashMap>`, both doing the same work per lead
//!   (claim a fresh key, store the answer);
//! - buyer caps: the pre-ping check and a post's reserve then commit (or release), every thread
//!   on the same buyer (the worst case: one hot buyer) or spread over ten.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use engine::api::idempotency::{Claim, IdempotencyCache};
use engine::buyers::caps::CapLedger;
use engine::config::{Limit, Period};
use engine::protocol::money::Micros;
use parking_lot::Mutex;

/// Keys live at once: both maps are kept at this size (answers expire at once and are swept
/// when the map is full), so memory stays bounded however long criterion runs.
const LIVE_KEYS: usize = 100_000;

/// The alternative: one lock around a plain map of key to (body fingerprint, answer).
type MutexMap = Mutex<HashMap<(u32, Box<str>), ([u8; 32], Bytes)>>;

/// A distinct body fingerprint per key (the engine's is the body's SHA-256, computed before
/// the claim; both maps get the same one).
fn fingerprint(n: u64) -> [u8; 32] {
    let mut f = [0; 32];
    f[..8].copy_from_slice(&n.to_le_bytes());
    f
}

fn key(n: u64) -> Box<str> {
    format!("order-{n}").into_boxed_str()
}

/// Runs `work(key_number)` for about `iters` keys split over `threads` threads; returns the
/// wall time, so the time per iteration reflects throughput under contention.
fn run_threads(threads: u64, iters: u64, next: &AtomicU64, work: &(dyn Fn(u64) + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..iters.div_ceil(threads) {
                    work(next.fetch_add(1, Ordering::Relaxed));
                }
            });
        }
    });
    start.elapsed()
}

fn contention(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let _guard = runtime.enter();
    let answer = Bytes::from_static(br#"{"lead_id":"ld_x","outcome":"sold"}"#);
    let mut group = c.benchmark_group("idempotency_claim_and_complete");
    for threads in [1u64, 2, 4] {
        let dashmap = Arc::new(IdempotencyCache::new(LIVE_KEYS, Duration::ZERO));
        let next = AtomicU64::new(0);
        group.bench_with_input(BenchmarkId::new("dashmap_engine", threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, &next, &|n| {
                    if let Ok(Claim::Fresh(running)) = dashmap.claim((n % 64) as u32, key(n), fingerprint(n)) {
                        running.complete(answer.clone());
                    }
                })
            });
        });
        let mutex: MutexMap = Mutex::new(HashMap::new());
        let next = AtomicU64::new(0);
        group.bench_with_input(BenchmarkId::new("mutex_hashmap", threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, &next, &|n| {
                    let fresh = {
                        let mut map = mutex.lock();
                        if map.len() >= LIVE_KEYS {
                            map.clear();
                        }
                        map.insert(((n % 64) as u32, key(n)), (fingerprint(n), Bytes::new())).is_none()
                    };
                    if fresh {
                        mutex.lock().insert(((n % 64) as u32, key(n)), (fingerprint(n), answer.clone()));
                    }
                })
            });
        });
    }
    group.finish();
}

/// 2026-11-24T12:00:00Z.
const NOW: i64 = 1_795_521_600_000;

fn caps(c: &mut Criterion) {
    // Limits so high they never fill: the bench measures the bookkeeping, not the refusals.
    let ledger = || {
        let limits = vec![
            Limit { period: Period::Hour, spend: false, max: i64::MAX / 4 },
            Limit { period: Period::Day, spend: false, max: i64::MAX / 4 },
            Limit { period: Period::Day, spend: true, max: i64::MAX / 4 },
        ];
        CapLedger::new("b".into(), None, "America/Chicago".parse().expect("zone"), 80, limits, Micros(1))
    };
    let mut group = c.benchmark_group("caps_check_reserve_settle");
    for threads in [1u64, 2, 4] {
        for buyers in [1usize, 10] {
            let ledgers: Vec<CapLedger> = (0..buyers).map(|_| ledger()).collect();
            let next = AtomicU64::new(0);
            let id = BenchmarkId::new(format!("{buyers}_buyers"), threads);
            group.bench_with_input(id, &threads, |b, &threads| {
                b.iter_custom(|iters| {
                    run_threads(threads, iters, &next, &|n| {
                        let ledger = &ledgers[n as usize % buyers];
                        assert!(ledger.has_room(NOW));
                        if ledger.reserve(Micros(12_500_000), NOW) {
                            if n % 4 == 0 {
                                ledger.release(Micros(12_500_000));
                            } else {
                                ledger.commit(Micros(12_500_000), NOW, &mut Vec::new());
                            }
                        }
                    })
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, contention, caps);
criterion_main!(benches);
