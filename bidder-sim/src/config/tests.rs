use lead_protocol::money::Micros;

use super::*;
use crate::faults::FaultKind;

const MINIMAL: &str = r#"
[[buyers]]
id = "b0"
verticals = ["auto_insurance"]
"#;

fn error_of(text: &str) -> (String, String) {
    match SimConfig::from_toml(text) {
        Ok(_) => (String::new(), "accepted".into()),
        Err(ConfigError::Key { key, message }) => (key, message),
        Err(other) => (String::new(), other.to_string()),
    }
}

fn with_buyer_lines(lines: &str) -> String {
    format!("{MINIMAL}{lines}\n")
}

#[test]
fn a_minimal_buyer_gets_the_defaults() {
    let config = SimConfig::from_toml(MINIMAL).expect("minimal config");
    assert_eq!(config.seed, 0);
    assert_eq!(config.bid_memory, defaults::bid_memory());
    assert_eq!(config.fault_settings, FaultSettings::default());
    let buyer = &config.buyers[0];
    assert_eq!(buyer.ping, PingSpec::default());
    assert_eq!(buyer.post, PostSpec::default());
    assert_eq!(buyer.transport, Transport::Http1);
    assert!(buyer.states.is_empty());
}

#[test]
fn every_key_parses() {
    let text = r#"
seed = 42
bid_memory = 1000
[fault_settings]
late_margin_ms = 20
post_late_ms = 2000
trickle_byte_ms = 5
oversized_bytes = 200000
never_answer_cap_ms = 5000

[[buyers]]
id = "acme"
verticals = ["auto_insurance", "home_insurance"]
states = ["WA", "oregon"]
transport = "http2"
[buyers.ping]
latency = { dist = "mix", parts = [
  { weight = 9, latency = { dist = "log_normal", p50_ms = 8, p99_ms = 40 } },
  { weight = 1, latency = { dist = "uniform", min_ms = 80, max_ms = 250 } },
] }
bid_probability = 0.7
price = { dist = "log_normal", p50 = "14.00", p99 = "45.00" }
floor = "5.00"
price_by_state = { CA = 1.25 }
price_by_attribute = { credit_tier = { excellent = 1.3, poor = 0.7 }, homeowner = { true = 1.1 } }
faults = { error_500 = 0.01, reset = 0.005, huge_price = 0.001 }
[buyers.post]
latency = { dist = "constant", ms = 25 }
accept_rate = 0.9
faults = { error_503 = 0.02 }
"#;
    let config = SimConfig::from_toml(text).expect("full config");
    assert_eq!((config.seed, config.bid_memory, config.fault_settings.oversized_bytes), (42, 1000, 200_000));
    let buyer = &config.buyers[0];
    assert_eq!(buyer.states.iter().map(|s| s.code()).collect::<Vec<_>>(), ["WA", "OR"]);
    assert_eq!(buyer.transport, Transport::Http2);
    assert!(matches!(&buyer.ping.latency, LatencySpec::Mix { parts } if parts.len() == 2));
    assert_eq!(buyer.ping.floor, Some(Micros::parse("5.00").expect("money")));
    assert_eq!(buyer.ping.faults.get(&FaultKind::HugePrice), Some(&0.001));
    assert_eq!(buyer.post.faults.get(&FaultKind::Error503), Some(&0.02));
    assert_eq!(buyer.ping.price_by_attribute["homeowner"]["true"], 1.1);
}

#[test]
fn errors_name_the_key() {
    for (lines, key, fragment) in [
        ("colour = 1", "buyers[0].colour", "unknown field `colour`"),
        ("[buyers.ping]\nbid_probability = 1.5", "buyers[0].ping.bid_probability", "between 0 and 1"),
        ("[buyers.ping]\nlatency = { dist = \"log_normal\", p50_ms = 5 }", "buyers[0].ping.latency", "p99_ms"),
        (
            "[buyers.ping]\nlatency = { dist = \"log_normal\", p50_ms = 50, p99_ms = 5 }",
            "buyers[0].ping.latency",
            "below",
        ),
        ("[buyers.ping]\nlatency = { dist = \"gauss\" }", "buyers[0].ping.latency.dist", "unknown variant `gauss`"),
        ("[buyers.ping]\nfaults = { error_501 = 0.1 }", "buyers[0].ping.faults", "unknown variant `error_501`"),
        ("[buyers.ping]\nfaults = { reset = 0.6, late = 0.6 }", "buyers[0].ping.faults", "more than 1"),
        ("[buyers.post]\nfaults = { nan_price = 0.1 }", "buyers[0].post.faults.nan_price", "ping answers only"),
        ("[buyers.ping]\nprice = { dist = \"uniform\", min = 1, max = 2 }", "buyers[0].ping.price", "decimal string"),
        (
            "[buyers.ping]\nprice = { dist = \"uniform\", min = \"0.00\", max = \"2.00\" }",
            "buyers[0].ping.price",
            "above 0.00",
        ),
        ("[buyers.ping]\nprice_by_state = { XX = 1.2 }", "buyers[0].ping.price_by_state", "unknown state"),
        ("[buyers.ping]\nprice_by_state = { CA = -1 }", "buyers[0].ping.price_by_state.CA", "multiplier"),
        (
            "[buyers.ping]\nprice_by_attribute = { state = { WA = 2 } }",
            "buyers[0].ping.price_by_attribute",
            "price_by_state",
        ),
        ("[buyers.ping]\nlatency = { dist = \"constant\", ms = 1e9 }", "buyers[0].ping.latency", "between 0 and"),
        ("[buyers.ping]\nlatency = { dist = \"mix\", parts = [] }", "buyers[0].ping.latency", "1 to 16 parts"),
        ("states = [\"WA\", \"Atlantis\"]", "buyers[0].states[1]", "unknown state"),
        ("transport = \"http3\"", "buyers[0].transport", "unknown variant"),
    ] {
        let (got_key, message) = error_of(&with_buyer_lines(lines));
        assert_eq!(got_key, key, "{lines}: {message}");
        assert!(message.contains(fragment), "{lines}: {message}");
    }
}

#[test]
fn whole_config_checks_name_the_key() {
    let nested_mix = "[buyers.ping]\nlatency = { dist = \"mix\", parts = [{ weight = 1, latency = { dist = \"mix\", parts = [] } }] }";
    for (text, key, fragment) in [
        ("seed = 1".to_owned(), "(top level)", "missing field `buyers`"),
        ("buyers = []".to_owned(), "buyers", "at least one"),
        (format!("bid_memory = 0\n{MINIMAL}"), "bid_memory", "between 1"),
        (format!("[fault_settings]\ntrickle_byte_ms = 0\n{MINIMAL}"), "fault_settings.trickle_byte_ms", "at least 1"),
        (format!("[fault_settings]\noversized_bytes = 10\n{MINIMAL}"), "fault_settings.oversized_bytes", "between"),
        (format!("[fault_settings]\nspeed = 10\n{MINIMAL}"), "fault_settings.speed", "unknown field"),
        (format!("{MINIMAL}{MINIMAL}"), "buyers[1].id", "already the id of buyers[0]"),
        (MINIMAL.replace("b0", "b 0"), "buyers[0].id", "ids are"),
        (MINIMAL.replace("auto_insurance", "Auto Insurance"), "buyers[0].verticals[0]", "not a vertical"),
        (MINIMAL.replace("[\"auto_insurance\"]", "[]"), "buyers[0].verticals", "at least one"),
        (with_buyer_lines(nested_mix), "buyers[0].ping.latency", "is a mix"),
        ("[[buyers]\n".to_owned(), "(syntax)", ""),
    ] {
        let (got_key, message) = error_of(&text);
        assert_eq!(got_key, key, "{text}: {message}");
        assert!(message.contains(fragment), "{text}: {message}");
    }
}

#[test]
fn too_many_buyers_are_refused() {
    let config = SimConfig::generate(MAX_BUYERS + 1, 1);
    assert!(matches!(config.validate(), Err(ConfigError::Key { key, .. }) if key == "buyers"));
}

#[test]
fn a_config_written_back_reads_the_same() {
    let config = SimConfig::generate(20, 11);
    let text = toml::to_string(&config).expect("serializes");
    assert_eq!(SimConfig::from_toml(&text).expect("reads back"), config);
}
