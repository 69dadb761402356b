//! Authentication and rate limiting per request: the key's SHA-256, the constant-time scan over
//! every known digest (10 / 100 / 1,000 keys), the token bucket. Every `/v1` request pays this,
//! intake included.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use engine::api::auth::{IssuedKey, Keys, Role, Scopes};
use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

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
                    role: Role::Buyer,
                    owner_id: "acme".into(),
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
    }
    group.finish();
    let key = key(0);
    c.bench_function("sha256_of_a_key", |b| b.iter(|| Sha256::digest(black_box(key.as_bytes()))));
}

criterion_group!(benches, authenticate);
criterion_main!(benches);
