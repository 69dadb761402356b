//! The `[[buyers]]` blocks an engine config needs to reach the simulated buyers
//! (`--print-engine-config`, and `engine demo` in-process): `id`, `ping_url`, `post_url`,
//! `verticals`, `states` and `transport`, keys the engine's config parser knows.

use std::fmt::Write as _;

use crate::config::SimConfig;

/// The engine's `[[buyers]]` entries for every buyer of `config`, served at `base_url`
/// (`http://127.0.0.1:9001`; a trailing `/` is ignored).
pub fn engine_buyers_toml(config: &SimConfig, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# {} simulated buyers served by bidder-sim at {base}", config.buyers.len());
    for buyer in &config.buyers {
        let _ = writeln!(out, "\n[[buyers]]");
        let _ = writeln!(out, "id = {}", quote(&buyer.id));
        let _ = writeln!(out, "ping_url = {}", quote(&format!("{base}/{}/ping", buyer.id)));
        let _ = writeln!(out, "post_url = {}", quote(&format!("{base}/{}/post", buyer.id)));
        let _ = writeln!(out, "verticals = {}", list(buyer.verticals.iter().map(String::as_str)));
        if !buyer.states.is_empty() {
            let _ = writeln!(out, "states = {}", list(buyer.states.iter().map(|state| state.code())));
        }
        let _ = writeln!(out, "transport = {}", quote(buyer.transport.as_str()));
    }
    out
}

/// A TOML basic string: JSON's escapes are a subset of TOML's.
fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A TOML array of strings.
fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(quote).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_name_every_buyer_with_urls_under_the_base() {
        let config = SimConfig::generate(5, 1);
        let text = engine_buyers_toml(&config, "http://127.0.0.1:9001/");
        assert_eq!(text.matches("[[buyers]]").count(), 5);
        assert!(text.contains("ping_url = \"http://127.0.0.1:9001/fast_00/ping\""), "{text}");
        assert!(text.contains("post_url = \"http://127.0.0.1:9001/fast_00/post\""), "{text}");
        assert!(text.contains("states = ["), "the picky buyer's states: {text}");
        assert!(text.contains("transport = \"http2\""), "{text}");
        let parsed: toml::Table = text.parse().unwrap_or_default();
        assert_eq!(parsed.get("buyers").and_then(toml::Value::as_array).map(Vec::len), Some(5));
    }

    #[test]
    fn odd_base_urls_stay_valid_toml() {
        let text = engine_buyers_toml(&SimConfig::generate(1, 1), "http://host/\"quoted\"\\");
        assert!(text.parse::<toml::Table>().is_ok(), "{text}");
    }
}
