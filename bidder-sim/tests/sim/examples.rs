//! The example sim.toml files (and the bench's) parse, and `faults.toml` shows every fault kind.

use std::path::Path;

use bidder_sim::SimConfig;
use bidder_sim::faults::FaultKind;

fn example(name: &str) -> SimConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    match SimConfig::load(&path) {
        Ok(config) => config,
        Err(error) => panic!("{name}: {error}"),
    }
}

#[test]
fn every_example_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.contains(&"insurance.toml".to_owned()) && names.contains(&"faults.toml".to_owned()), "{names:?}");
    for name in names {
        example(&name);
    }
}

#[test]
fn the_throughput_bench_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench").join("zero-latency.toml");
    let config = SimConfig::load(&path).unwrap();
    assert_eq!(config.buyers[0].id, "b0", "the bench pings /b0/ping");
}

#[test]
fn the_insurance_example_is_a_realistic_mix() {
    let config = example("insurance.toml");
    assert!((10..=20).contains(&config.buyers.len()), "{}", config.buyers.len());
    let auto = config.buyers.iter().filter(|b| b.verticals.iter().any(|v| v == "auto_insurance")).count();
    assert!(auto * 2 > config.buyers.len(), "mostly auto insurance");
    assert!(config.buyers.iter().any(|b| !b.states.is_empty()), "some picky buyers");
    assert!(config.buyers.iter().any(|b| !b.ping.faults.is_empty()), "some flaky buyers");
}

#[test]
fn the_faults_example_shows_every_fault_kind() {
    let config = example("faults.toml");
    for kind in FaultKind::ALL {
        let shown = config.buyers.iter().any(|b| b.ping.faults.contains_key(&kind));
        assert!(shown, "no buyer shows `{}` on pings", kind.as_str());
    }
}
