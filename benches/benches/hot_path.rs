//! Hot-path pieces in isolation: lead parsing (serde_json and simd-json side by side, the
//! measurement behind the choice of parser), validation, eligibility among 10 / 100 / 1,000
//! buyers, ping serialization, ranking.

use std::hint::black_box;
use std::time::Duration;

use benches::{LEAD, config_with_buyers, config_with_controlled_buyers};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use engine::api::validate;
use engine::auction::rank::{Candidate, rank};
use engine::buyers::{Registry, Selection, Wanted};
use engine::protocol::lead::LeadIn;
use engine::protocol::money::Micros;
use engine::protocol::ping::PingTemplate;

/// 2026-11-24T12:00:00Z: eligibility takes the time as an input.
const NOW: i64 = 1_795_521_600_000;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_lead");
    group.bench_function("serde_json", |b| {
        b.iter(|| serde_json::from_slice::<LeadIn>(black_box(LEAD)).expect("valid"));
    });
    // simd-json parses in place, so every parse needs a fresh mutable copy of the body; the
    // copy is part of its real cost. Buffers are reused across parses, as the docs advise.
    let mut buffers = simd_json::Buffers::new(LEAD.len());
    let mut scratch = Vec::with_capacity(LEAD.len());
    group.bench_function("simd_json_reused_buffers", |b| {
        b.iter(|| {
            scratch.clear();
            scratch.extend_from_slice(black_box(LEAD));
            simd_json::serde::from_slice_with_buffers::<LeadIn>(&mut scratch, &mut buffers).expect("valid")
        });
    });
    group.bench_function("validate_full", |b| b.iter(|| validate::lead(black_box(LEAD)).expect("valid")));
    group.finish();
}

fn eligibility(c: &mut Criterion) {
    let lead = validate::lead(LEAD).expect("valid");
    let mut group = c.benchmark_group("eligibility");
    type MakeConfig = fn(usize, bool) -> engine::config::Config;
    let configs: [(&str, MakeConfig); 2] =
        [("filters", config_with_buyers), ("filters_caps_schedule_breaker", config_with_controlled_buyers)];
    for (n, (name, config)) in [10, 100, 1_000].into_iter().flat_map(|n| configs.map(|c| (n, c))) {
        let registry = Registry::from_config(&config(n, false));
        let mut out = Selection::default();
        let wanted = Wanted { tier: 1, exclusive: true, shared: false };
        registry.select(lead.profile(), "pub1", &[], wanted, NOW, &mut out);
        assert!(!out.buyers.is_empty() && out.buyers.len() < n, "a realistic mix: some buyers match, some do not");
        group.bench_with_input(BenchmarkId::new(name, n), &registry, |b, registry| {
            b.iter(|| {
                registry.select(black_box(lead.profile()), "pub1", &[], wanted, NOW, &mut out);
                out.buyers.len()
            });
        });
    }
    group.finish();
}

fn ping_serialization(c: &mut Criterion) {
    let lead = validate::lead(LEAD).expect("valid");
    let ids: Vec<String> = (0..10).map(|_| engine::protocol::ids::ping_id()).collect();
    c.bench_function("ping_bodies_for_10_buyers", |b| {
        b.iter(|| {
            let template = PingTemplate::new(&lead.vertical, &lead.attributes, lead.test);
            ids.iter().map(|id| template.render(id, 97).len()).sum::<usize>()
        });
    });
}

fn ranking(c: &mut Criterion) {
    let bids: Vec<Candidate> = (0..10usize)
        .map(|i| Candidate {
            price: Micros::from_units(5 + (i as i64 * 7) % 11),
            score: Micros::from_units(5 + (i as i64 * 7) % 11),
            answered_at: Duration::from_micros(100 * (10 - i as u64)),
            ping: i,
            turn: 0,
        })
        .collect();
    c.bench_function("rank_10_bids", |b| {
        b.iter(|| {
            let mut ranked = bids.clone();
            rank(black_box(&mut ranked));
            ranked[0].ping
        });
    });
}

criterion_group!(benches, parse, eligibility, ping_serialization, ranking);
criterion_main!(benches);
