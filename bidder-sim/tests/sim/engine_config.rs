//! The engine config bidder-sim writes is one the engine's own parser accepts.

use bidder_sim::{SimConfig, engine_buyers_toml};
use engine::config::{Config, TransportKind};

/// The engine config around the `[[buyers]]` blocks.
pub fn engine_config(buyers_toml: &str) -> Config {
    let text = format!("listen = \"127.0.0.1:8080\"\n{buyers_toml}");
    match Config::from_toml(&text) {
        Ok(config) => config,
        Err(error) => panic!("the engine refuses the buyers: {error}\n{text}"),
    }
}

#[test]
fn the_engine_accepts_the_buyers_of_a_generated_mix() {
    let sim = SimConfig::generate(20, 3);
    let config = engine_config(&engine_buyers_toml(&sim, "http://127.0.0.1:9001"));
    assert_eq!(config.buyers.len(), 20);
    for (engine_buyer, sim_buyer) in config.buyers.iter().zip(&sim.buyers) {
        assert_eq!(engine_buyer.id, sim_buyer.id);
        assert_eq!(
            engine_buyer.ping_url.as_ref().map(ToString::to_string).unwrap_or_default(),
            format!("http://127.0.0.1:9001/{}/ping", sim_buyer.id)
        );
        assert_eq!(engine_buyer.post_url.to_string(), format!("http://127.0.0.1:9001/{}/post", sim_buyer.id));
        assert_eq!(engine_buyer.verticals, sim_buyer.verticals);
        assert_eq!(engine_buyer.states, sim_buyer.states);
        let transport =
            if sim_buyer.transport.as_str() == "http2" { TransportKind::Http2 } else { TransportKind::Http1 };
        assert_eq!(engine_buyer.transport, transport);
    }
    assert!(config.buyers.iter().any(|b| b.transport == TransportKind::Http2));
    assert!(config.buyers.iter().any(|b| !b.states.is_empty()));
}
