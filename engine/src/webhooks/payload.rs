//! Per-subscription payload settings: which fields of the envelope a subscriber receives,
//! under which names, nested or flat. Given as the subscription's `payload`:
//!
//! ```toml
//! payload = { fields = ["id", "type", "data.lead_id", "data.price"], rename = { "data.price" = "amount" }, layout = "flat", separator = "_" }
//! ```
//!
//! - `fields`: dotted paths into the envelope `{"id","type","timestamp","data"}`; a path selects
//!   its whole subtree (`data` is all of it). Absent: everything. A path the event lacks (no
//!   `data.price` on `lead.unsold`) is simply not sent.
//! - `rename`: moves a value from one path to another (`"data.price" = "amount"` puts it at the
//!   top level, `"data.price" = "data.amount"` keeps it nested). All moves happen at once, so
//!   two paths can swap. A rename target replaces what was there.
//! - `layout`: `nested` (default) keeps objects; `flat` turns every leaf into one top-level key
//!   made of its path joined with `separator` (default `_`: `data_price`); arrays are leaves.
//!
//! Unknown keys are refused. The event id always reaches the subscriber in the `webhook-id`
//! header, selected or not.

use serde_json::{Map, Value};

/// Most paths in `fields` (and renames): events have a dozen fields.
const MAX_PATHS: usize = 64;

/// Deepest path: event data is two or three levels deep.
const MAX_DEPTH: usize = 8;

/// Longest path, in bytes.
const MAX_PATH_LEN: usize = 128;

/// Longest flat-layout separator.
const MAX_SEPARATOR_LEN: usize = 4;

/// A dotted path, split into its segments.
type Path = Vec<String>;

/// How the selected fields are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// As in the envelope.
    #[default]
    Nested,
    /// One level: every leaf under its path joined with the separator.
    Flat,
}

/// Parsed payload settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PayloadSpec {
    /// Selected paths (`None`: everything).
    fields: Option<Vec<Path>>,
    /// Moves, source path to target path.
    rename: Vec<(Path, Path)>,
    /// Nested or flat.
    layout: Layout,
    /// Joins path segments in the flat layout.
    separator: String,
}

/// The config or API key of a payload error: `payload` itself or `payload.<field>`.
pub fn error_key(field: &str) -> String {
    if field.is_empty() { "payload".to_owned() } else { format!("payload.{field}") }
}

impl PayloadSpec {
    /// Parses and checks payload settings; an error names the key at fault (relative to
    /// `payload`, empty for the value as a whole) and says what is wrong.
    pub fn from_value(value: &Value) -> Result<PayloadSpec, (String, String)> {
        let err = |field: String, message: &str| Err((field, message.to_owned()));
        let Value::Object(table) = value else {
            return err(
                String::new(),
                "must be a table: { fields = [...], rename = {...}, layout = \"nested\" | \"flat\" }",
            );
        };
        let mut spec = PayloadSpec { separator: "_".to_owned(), ..PayloadSpec::default() };
        for (key, value) in table {
            match key.as_str() {
                "fields" => spec.fields = Some(parse_fields(value)?),
                "rename" => spec.rename = parse_rename(value)?,
                "layout" => {
                    spec.layout = match value.as_str() {
                        Some("nested") => Layout::Nested,
                        Some("flat") => Layout::Flat,
                        _ => return err("layout".into(), "must be \"nested\" or \"flat\""),
                    }
                }
                "separator" => match value.as_str() {
                    Some(sep)
                        if !sep.is_empty() && sep.len() <= MAX_SEPARATOR_LEN && !sep.contains(char::is_control) =>
                    {
                        spec.separator = sep.to_owned();
                    }
                    _ => {
                        return err(
                            "separator".into(),
                            "must be a string of 1 to 4 characters, such as \"_\" or \".\"",
                        );
                    }
                },
                _ => {
                    return err(key.clone(), "unknown key; payload takes `fields`, `rename`, `layout` and `separator`");
                }
            }
        }
        if let Some(fields) = &spec.fields {
            for (from, _) in &spec.rename {
                if !fields.iter().any(|f| from.starts_with(f)) {
                    return err(rename_key(from), "renames a path that `fields` does not select");
                }
            }
        }
        Ok(spec)
    }

    /// The body a subscriber receives for this envelope. An envelope that is not a JSON object
    /// (never the case for stored events) is sent as it is.
    pub fn render(&self, envelope_json: &[u8]) -> Vec<u8> {
        let Ok(Value::Object(envelope)) = serde_json::from_slice::<Value>(envelope_json) else {
            return envelope_json.to_vec();
        };
        let mut out = match &self.fields {
            None => envelope,
            Some(fields) => {
                let mut selected = Map::new();
                for path in fields {
                    if let Some(value) = get(&envelope, path) {
                        insert(&mut selected, path, value.clone());
                    }
                }
                selected
            }
        };
        let moved: Vec<_> = self.rename.iter().filter_map(|(from, to)| Some((to, remove(&mut out, from)?))).collect();
        for (to, value) in moved {
            insert(&mut out, to, value);
        }
        if self.layout == Layout::Flat {
            let mut flat = Map::new();
            flatten(None, Value::Object(out), &self.separator, &mut flat);
            out = flat;
        }
        serde_json::to_vec(&Value::Object(out)).unwrap_or_else(|_| envelope_json.to_vec())
    }
}

fn parse_fields(value: &Value) -> Result<Vec<Path>, (String, String)> {
    let Some(list) = value.as_array() else {
        return Err(("fields".into(), "must be a list of dotted paths such as \"data.price\"".into()));
    };
    if list.is_empty() || list.len() > MAX_PATHS {
        return Err(("fields".into(), format!("list 1 to {MAX_PATHS} paths (leave `fields` out to send everything)")));
    }
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = || format!("fields[{i}]");
            let text = entry.as_str().ok_or_else(|| (field(), "must be a string".to_owned()))?;
            parse_path(text).map_err(|m| (field(), m))
        })
        .collect()
}

fn parse_rename(value: &Value) -> Result<Vec<(Path, Path)>, (String, String)> {
    let Some(table) = value.as_object() else {
        return Err(("rename".into(), "must be a table of path = new path".into()));
    };
    if table.len() > MAX_PATHS {
        return Err(("rename".into(), format!("at most {MAX_PATHS} renames")));
    }
    let mut targets: Vec<Path> = Vec::with_capacity(table.len());
    let mut renames = Vec::with_capacity(table.len());
    for (from, to) in table {
        let key = format!("rename[\"{from}\"]");
        let from = parse_path(from).map_err(|m| (key.clone(), m))?;
        let to = to.as_str().ok_or_else(|| (key.clone(), "must be a string (the new path)".to_owned()))?;
        let to = parse_path(to).map_err(|m| (key.clone(), m))?;
        if targets.iter().any(|other| other.starts_with(&to) || to.starts_with(other)) {
            return Err((key, "two renames target the same path (or one inside the other)".into()));
        }
        targets.push(to.clone());
        renames.push((from, to));
    }
    Ok(renames)
}

fn rename_key(from: &[String]) -> String {
    format!("rename[\"{}\"]", from.join("."))
}

/// A dotted path: 1 to [`MAX_DEPTH`] segments of letters, digits, `_` and `-`.
fn parse_path(text: &str) -> Result<Path, String> {
    let bad = || Err(format!("`{text}` is not a dotted path such as \"data.price\""));
    if text.is_empty() || text.len() > MAX_PATH_LEN {
        return bad();
    }
    let segments: Path = text.split('.').map(str::to_owned).collect();
    let segment_ok =
        |s: &String| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if segments.len() > MAX_DEPTH || !segments.iter().all(segment_ok) {
        return bad();
    }
    Ok(segments)
}

fn get<'a>(map: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut map = map;
    for segment in parents {
        map = map.get(segment)?.as_object()?;
    }
    map.get(last)
}

/// Puts `value` at `path`, creating objects on the way (a non-object in the way is replaced).
fn insert(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else { return };
    if rest.is_empty() {
        map.insert(first.clone(), value);
        return;
    }
    let child = map.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    if let Value::Object(child) = child {
        insert(child, rest, value);
    }
}

/// Takes the value at `path` out, dropping objects the removal left empty.
fn remove(map: &mut Map<String, Value>, path: &[String]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        return map.remove(first);
    }
    let child = map.get_mut(first)?.as_object_mut()?;
    let taken = remove(child, rest)?;
    if child.is_empty() {
        map.remove(first);
    }
    Some(taken)
}

fn flatten(prefix: Option<String>, value: Value, separator: &str, out: &mut Map<String, Value>) {
    match (prefix, value) {
        (prefix, Value::Object(map)) if !map.is_empty() || prefix.is_none() => {
            for (key, value) in map {
                let path = match &prefix {
                    Some(prefix) => format!("{prefix}{separator}{key}"),
                    None => key,
                };
                flatten(Some(path), value, separator, out);
            }
        }
        (Some(path), leaf) => {
            out.insert(path, leaf);
        }
        (None, _) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ENVELOPE: &str = r#"{"id":"evt_1","type":"lead.sold","timestamp":"2026-11-23T12:00:00Z","data":{"lead_id":"ld_1","price":"12.50","buyer_id":"acme","sequence":2,"tags":["a"]}}"#;

    fn render(spec: Value) -> Value {
        let spec = PayloadSpec::from_value(&spec).expect("a valid spec");
        serde_json::from_slice(&spec.render(ENVELOPE.as_bytes())).expect("JSON")
    }

    fn error(spec: Value) -> (String, String) {
        PayloadSpec::from_value(&spec).expect_err("an invalid spec")
    }

    #[test]
    fn an_empty_spec_sends_the_envelope_as_is() {
        let envelope: Value = serde_json::from_str(ENVELOPE).expect("JSON");
        assert_eq!(render(json!({})), envelope);
        assert_eq!(render(json!({"layout": "nested"})), envelope);
    }

    #[test]
    fn fields_select_paths_and_subtrees_and_skip_what_is_absent() {
        assert_eq!(
            render(json!({"fields": ["type", "data.price", "data.nothing", "missing.path"]})),
            json!({"type": "lead.sold", "data": {"price": "12.50"}})
        );
        assert_eq!(render(json!({"fields": ["id", "data"]}))["data"]["sequence"], json!(2));
        assert_eq!(render(json!({"fields": ["id.deeper"]})), json!({}), "a path through a string selects nothing");
    }

    #[test]
    fn rename_moves_values_and_prunes_what_it_emptied() {
        assert_eq!(
            render(json!({"fields": ["id", "data.price"], "rename": {"data.price": "amount"}})),
            json!({"id": "evt_1", "amount": "12.50"})
        );
        assert_eq!(
            render(json!({"fields": ["data.price", "data.lead_id"], "rename": {"data.price": "data.amount"}})),
            json!({"data": {"amount": "12.50", "lead_id": "ld_1"}})
        );
        // Moves happen at once: two paths swap.
        let swapped = render(json!({"fields": ["id", "type"], "rename": {"id": "type", "type": "id"}}));
        assert_eq!(swapped, json!({"id": "lead.sold", "type": "evt_1"}));
        // A target through a non-object replaces it.
        assert_eq!(
            render(json!({"fields": ["id", "type"], "rename": {"type": "id.kind"}})),
            json!({"id": {"kind": "lead.sold"}})
        );
    }

    #[test]
    fn flat_layout_joins_paths_with_the_separator() {
        assert_eq!(
            render(json!({"fields": ["id", "data.price", "data.tags"], "layout": "flat"})),
            json!({"id": "evt_1", "data_price": "12.50", "data_tags": ["a"]})
        );
        assert_eq!(
            render(
                json!({"fields": ["data.lead_id"], "rename": {"data.lead_id": "lead.id"}, "layout": "flat", "separator": "."})
            ),
            json!({"lead.id": "ld_1"})
        );
    }

    #[test]
    fn bad_settings_name_the_key() {
        assert_eq!(error(json!({"colour": "red"})).0, "colour");
        assert_eq!(error(json!([])).0, "");
        assert_eq!(error(json!({"fields": "id"})).0, "fields");
        assert_eq!(error(json!({"fields": []})).0, "fields");
        assert_eq!(error(json!({"fields": ["id", 3]})).0, "fields[1]");
        for bad in ["", "data..price", ".id", "id.", "data price", "a.b.c.d.e.f.g.h.i"] {
            assert_eq!(error(json!({"fields": ["id", bad]})).0, "fields[1]", "{bad:?}");
        }
        assert_eq!(error(json!({"layout": "wide"})).0, "layout");
        assert_eq!(error(json!({"separator": ""})).0, "separator");
        assert_eq!(error(json!({"separator": "-----"})).0, "separator");
        assert_eq!(error(json!({"rename": ["a"]})).0, "rename");
        assert_eq!(error(json!({"rename": {"data.price": 5}})).0, "rename[\"data.price\"]");
        assert_eq!(error(json!({"rename": {"data.price": "x", "data.lead_id": "x.y"}})).0, "rename[\"data.price\"]");
        assert_eq!(error(json!({"fields": ["id"], "rename": {"data.price": "amount"}})).0, "rename[\"data.price\"]");
        assert_eq!(error_key(""), "payload");
        assert_eq!(error_key("fields[1]"), "payload.fields[1]");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_sent_as_is() {
        let spec = PayloadSpec::from_value(&json!({"fields": ["id"]})).expect("valid");
        assert_eq!(spec.render(b"not json"), b"not json");
        assert_eq!(spec.render(b"[1,2]"), b"[1,2]");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Paths from a small vocabulary, so selections and renames often hit real fields.
        fn path() -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(vec!["id", "type", "data", "price", "lead_id", "x"]), 1..4)
                .prop_map(|segments| segments.join("."))
        }

        fn spec() -> impl Strategy<Value = Value> {
            (
                prop::option::of(prop::collection::vec(path(), 1..5)),
                prop::collection::btree_map(path(), path(), 0..3),
                prop::sample::select(vec!["nested", "flat"]),
            )
                .prop_map(|(fields, rename, layout)| {
                    let mut spec = json!({"rename": rename, "layout": layout});
                    if let Some(fields) = fields {
                        spec["fields"] = json!(fields);
                    }
                    spec
                })
        }

        proptest! {
            #[test]
            fn any_spec_renders_any_envelope_into_a_json_object(spec in spec(), price in any::<f64>(), junk in "\\PC{0,12}") {
                let envelope = json!({"id": "evt_1", "type": junk, "data": {"price": price, "lead_id": {"x": [1, 2]}}});
                if let Ok(spec) = PayloadSpec::from_value(&spec) {
                    let out: Value = serde_json::from_slice(&spec.render(envelope.to_string().as_bytes())).expect("JSON");
                    prop_assert!(out.is_object());
                    if spec.layout == Layout::Flat {
                        prop_assert!(out.as_object().expect("object").values().all(|v| v.as_object().is_none_or(|o| o.is_empty())));
                    }
                }
            }

            #[test]
            fn arbitrary_settings_and_bodies_never_panic(text in r#"[{}\[\]",:0-9a-z_.\\ -]{0,120}"#, body in prop::collection::vec(any::<u8>(), 0..200)) {
                if let Ok(value) = serde_json::from_str::<Value>(&text)
                    && let Ok(spec) = PayloadSpec::from_value(&value)
                {
                    let _ = spec.render(&body);
                    let _ = spec.render(text.as_bytes());
                }
            }
        }
    }
}
