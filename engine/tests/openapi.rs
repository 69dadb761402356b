//! docs/openapi.yaml against the server: every route the server has is in the document, every
//! route in the document exists (a live engine answers it from a handler, not with the
//! router's 404 or 405), and every `$ref` in the document resolves.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{ADMIN_KEY, Engine, admin_toml, config};
use engine::api::routes::ROUTES;
use yaml_rust2::{Yaml, YamlLoader};

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

fn document() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// (METHOD, path) of every operation in the document.
fn operations(doc: &Yaml) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_hash().expect("paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_hash().expect("path item");
        for (method, _) in item {
            let method = method.as_str().unwrap();
            if METHODS.contains(&method) {
                out.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            } else {
                assert!(["parameters", "summary", "description"].contains(&method), "{method} under {path:?}");
            }
        }
    }
    out
}

#[test]
fn the_document_and_the_route_table_list_the_same_routes() {
    let documented = operations(&document());
    let served: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in docs/openapi.yaml: {undocumented:?}");
    assert!(unserved.is_empty(), "in docs/openapi.yaml but not served: {unserved:?}");
}

#[test]
fn every_reference_in_the_document_resolves() {
    let doc = document();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "the document uses references: {}", refs.len());
    for reference in refs {
        let pointer = reference.strip_prefix("#/").unwrap_or_else(|| panic!("local reference: {reference}"));
        let target = pointer.split('/').fold(&doc, |node, key| &node[key]);
        assert!(!target.is_badvalue(), "{reference} does not resolve");
    }
}

/// Structure the `$ref` check cannot see: every `headers`, `parameters` entry, response and
/// schema property is an object (a `$ref` or the thing itself), never a bare value.
#[test]
fn maps_of_headers_responses_and_properties_hold_objects() {
    fn walk(node: &Yaml, path: &str) {
        let Yaml::Hash(hash) = node else {
            if let Yaml::Array(items) = node {
                items.iter().for_each(|item| walk(item, path));
            }
            return;
        };
        for (key, value) in hash {
            let key = key.as_str().unwrap_or_default();
            if ["headers", "responses", "properties"].contains(&key) {
                let map = value.as_hash().unwrap_or_else(|| panic!("{path}.{key} is a map"));
                for (name, item) in map {
                    let name = name.as_str().unwrap_or_default();
                    assert!(!name.starts_with('$'), "{path}.{key}: `{name}` is not a name (a $ref must be per entry)");
                    assert!(item.as_hash().is_some(), "{path}.{key}.{name} is an object");
                    // The entries' names are names, not keywords: walk into each entry only.
                    walk(item, &format!("{path}.{key}.{name}"));
                }
                continue;
            }
            walk(value, &format!("{path}.{key}"));
        }
    }
    walk(&document(), "");
}

fn collect_refs(node: &Yaml, out: &mut Vec<String>) {
    match node {
        Yaml::Hash(hash) => {
            for (key, value) in hash {
                if key.as_str() == Some("$ref") {
                    out.push(value.as_str().unwrap().to_owned());
                } else {
                    collect_refs(value, out);
                }
            }
        }
        Yaml::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_documented_route_reaches_a_handler() {
    let engine = Engine::start(&config(&admin_toml())).await;
    for (method, path) in operations(&document()) {
        let path = path.replace("{id}", "x1");
        let body = if method == "GET" || method == "DELETE" { "" } else { "{}" };
        let answer = engine.call(&method, &path, ADMIN_KEY, body).await;
        assert_ne!(answer.status, 405, "{method} {path}");
        let routed_away =
            answer.status == 404 && answer.json()["error"]["message"].as_str() == Some("no such endpoint");
        assert!(!routed_away, "{method} {path}: the router does not know it");
    }
    engine.stop().await.unwrap();
}
