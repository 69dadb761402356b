//! Authentication and rate limiting per request (every `/v1` request pays it, intake included):
//! the key's SHA-256, the lookup among 10 / 100 / 1,000 keys, the token bucket. Next to it, in
//! the same run, what a constant-time scan over every digest costs: the first version did that.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use engine::api::auth::{IssuedKey, Keys, Role, Scopes};
use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

fn key(n: usize) -> String {
    format!("lk_buy_bench-key-{n:06}-padding-to-a-realistic-length")
}

fn authenticate(c: &mut Criterion) {
    let config = engine::config::Config::from_toml("").expect("empty config");
    let mut group = c.benchmark_group("authenticate");
    for n in [10, 100, 1_000] {
        let keys = Keys::new(&config);
        keys.set_issued(
            (0..n)
                .map(|i| IssuedKey {
                    id: format!("key_{i}"),
                    // Admin keys need no holder in the config (buyer and publisher keys do).
                    role: Role::Admin,
                    owner_id: "ops".into(),
                    scopes: Scopes::ALL,
                    digest: Sha256::digest(key(i)).into(),
                    revoked: false,
                    limit: Some(engine::config::RateLimit { per_second: 1e6, burst: 1_000_000 }),
                    uses: 0,
                    last_used_at: 0,
                })
                .collect(),
        );
        let mut headers = HeaderMap::new();
        let bearer = format!("Bearer {}", key(n / 2));
        headers.insert(http::header::AUTHORIZATION, HeaderValue::from_str(&bearer).expect("header"));
        assert!(keys.authenticate(&headers, 1).is_ok());
        group.bench_with_input(BenchmarkId::new("keys", n), &keys, |b, keys| {
            b.iter(|| keys.authenticate(black_box(&headers), 1).map(|a| a.verdict.remaining));
        });
        let digests: Vec<[u8; 32]> = (0..n).map(|i| Sha256::digest(key(i)).into()).collect();
        let presented = key(n / 2);
        group.bench_with_input(BenchmarkId::new("full_constant_time_scan", n), &digests, |b, digests| {
            b.iter(|| {
                let digest: [u8; 32] = Sha256::digest(black_box(presented.as_bytes())).into();
                let mut found = u32::MAX;
                for (i, d) in digests.iter().enumerate() {
                    found.conditional_assign(&(i as u32), d.ct_eq(&digest));
                }
                found
            });
        });
    }
    group.finish();
    let key = key(0);
    c.bench_function("sha256_of_a_key", |b| b.iter(|| Sha256::digest(black_box(key.as_bytes()))));
}

criterion_group!(benches, authenticate);
criterion_main!(benches);
