//! The complete configuration examples in the docs load: a doc that drifts from the config
//! keys fails here, not in a broker's first start.

#![allow(clippy::unwrap_used)]

use engine::config::Config;

/// The first ```toml block after `heading` in `doc`.
fn toml_after(doc: &str, heading: &str) -> String {
    let start = doc.find(heading).unwrap_or_else(|| panic!("heading {heading:?} not found"));
    let rest = &doc[start..];
    let open = rest.find("```toml\n").unwrap() + "```toml\n".len();
    let close = rest[open..].find("```").unwrap();
    rest[open..open + close].to_owned()
}

#[test]
fn the_complete_example_of_docs_buyers_md_loads() {
    let doc = include_str!("../../docs/buyers.md");
    let config = Config::from_toml(&toml_after(doc, "## A complete example: two buyers")).unwrap();
    assert_eq!(config.buyers.len(), 2);
    assert!(config.buyers[1].mapping.is_some(), "the XML buyer keeps its mapping");
    assert!(config.dedupe.is_some());
}

#[test]
fn the_complete_example_of_docs_configuration_md_loads() {
    let doc = include_str!("../../docs/configuration.md");
    let config = Config::from_toml(&toml_after(doc, "## A complete example")).unwrap();
    assert!(!config.buyers.is_empty());
}
