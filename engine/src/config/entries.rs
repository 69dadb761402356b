//! Buyers and publishers as documents: each `[[buyers]]` and `[[publishers]]` entry keeps the
//! JSON of what was written (`doc`), so the admin API can show an entry as it was configured
//! and merge a change over it; and an entry can be set from such a document, parsed with the
//! same deserializers as the file, its errors naming the key (`buyers[2].caps.daily`). A
//! document is exactly a TOML entry in JSON: same keys, same value formats.
//!
//! Setting entries does not validate across entries; [`Config::validate`] does, once the
//! whole candidate is built (ids unique, publisher keys unique, caps naming publishers that
//! exist, ...).

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{BuyerConfig, Config, ConfigError, PublisherConfig};

/// Which table of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `[[buyers]]`.
    Buyer,
    /// `[[publishers]]`.
    Publisher,
}

impl EntryKind {
    /// The table's key: `buyers`, `publishers`.
    pub fn table(self) -> &'static str {
        match self {
            EntryKind::Buyer => "buyers",
            EntryKind::Publisher => "publishers",
        }
    }

    /// One entry's noun: `buyer`, `publisher`.
    pub fn noun(self) -> &'static str {
        match self {
            EntryKind::Buyer => "buyer",
            EntryKind::Publisher => "publisher",
        }
    }
}

/// An entry as written, as JSON (secrets included). Its `Debug` shows only its size, so a
/// config printed for a diagnosis never shows a buyer's secret or header values.
#[derive(Clone, Default, PartialEq)]
pub struct EntryDoc(pub Value);

impl std::fmt::Debug for EntryDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.0.as_object().map_or(0, serde_json::Map::len);
        write!(f, "EntryDoc(<{keys} keys>)")
    }
}

impl Config {
    /// The documents of one table's entries, in the order of the config.
    pub fn docs(&self, kind: EntryKind) -> Vec<&Value> {
        match kind {
            EntryKind::Buyer => self.buyers.iter().map(|b| &b.doc.0).collect(),
            EntryKind::Publisher => self.publishers.iter().map(|p| &p.doc.0).collect(),
        }
    }

    /// The ids of one table's entries, in the order of the config.
    pub fn ids(&self, kind: EntryKind) -> Vec<&str> {
        match kind {
            EntryKind::Buyer => self.buyers.iter().map(|b| b.id.as_str()).collect(),
            EntryKind::Publisher => self.publishers.iter().map(|p| p.id.as_str()).collect(),
        }
    }

    /// The document of the entry `id`, if there is one.
    pub fn doc(&self, kind: EntryKind, id: &str) -> Option<&Value> {
        self.index_of(kind, id).and_then(|n| self.docs(kind).get(n).copied())
    }

    /// The position of the entry `id` in its table.
    pub fn index_of(&self, kind: EntryKind, id: &str) -> Option<usize> {
        self.ids(kind).iter().position(|entry| *entry == id)
    }

    /// Sets the entry `id` from `doc` (replacing it in place, or appending it when new), or
    /// removes it (`None`). The document is parsed as the file's entries are; an error names
    /// the key (`buyers[3].caps.daily`). Nothing is checked across entries: call
    /// [`Config::validate`] on the result.
    pub fn set_entry(&mut self, kind: EntryKind, id: &str, doc: Option<&Value>) -> Result<(), ConfigError> {
        let at = self.index_of(kind, id);
        match (kind, doc) {
            (EntryKind::Buyer, Some(doc)) => {
                let n = at.unwrap_or(self.buyers.len());
                let mut buyer: BuyerConfig = parse(doc, &format!("buyers[{n}]"))?;
                buyer.doc = EntryDoc(doc.clone());
                put(&mut self.buyers, at, buyer);
            }
            (EntryKind::Publisher, Some(doc)) => {
                let n = at.unwrap_or(self.publishers.len());
                let mut publisher: PublisherConfig = parse(doc, &format!("publishers[{n}]"))?;
                publisher.doc = EntryDoc(doc.clone());
                put(&mut self.publishers, at, publisher);
            }
            (EntryKind::Buyer, None) => drop(at.map(|n| self.buyers.remove(n))),
            (EntryKind::Publisher, None) => drop(at.map(|n| self.publishers.remove(n))),
        }
        Ok(())
    }

    /// Keeps the JSON of every `[[buyers]]` and `[[publishers]]` entry of `text` (already
    /// parsed into this config) in the entries' `doc`.
    pub(super) fn keep_docs(&mut self, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Key { key: "(syntax)".into(), message: e.to_string() })?;
        let docs = |key: &str| -> Vec<Value> {
            match table.get(key) {
                Some(toml::Value::Array(entries)) => {
                    entries.iter().map(|entry| serde_json::to_value(entry).unwrap_or(Value::Null)).collect()
                }
                _ => Vec::new(),
            }
        };
        for (buyer, doc) in self.buyers.iter_mut().zip(docs("buyers")) {
            buyer.doc = EntryDoc(doc);
        }
        for (publisher, doc) in self.publishers.iter_mut().zip(docs("publishers")) {
            publisher.doc = EntryDoc(doc);
        }
        Ok(())
    }
}

/// Replaces the entry at `at`, or appends it.
fn put<T>(entries: &mut Vec<T>, at: Option<usize>, entry: T) {
    match at.and_then(|n| entries.get_mut(n)) {
        Some(slot) => *slot = entry,
        None => entries.push(entry),
    }
}

/// Parses one entry's document; an error's key is `prefix` and the path inside the entry.
fn parse<T: DeserializeOwned>(doc: &Value, prefix: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." { prefix.to_owned() } else { format!("{prefix}.{path}") };
        ConfigError::Key { key, message: e.into_inner().to_string() }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST_A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const DIGEST_B: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// A buyer using every custom deserializer: URLs, states, ZIP filters, attribute rules,
    /// money, headers, a secret, a key digest, caps, a schedule, a breaker, a mapping.
    fn rich() -> String {
        format!(
            r#"
[[publishers]]
id = "pub1"
key_sha256 = "{DIGEST_A}"
[[buyers]]
id = "acme"
ping_url = "http://127.0.0.1:9001/acme/ping"
post_url = "https://buyer.example.com/acme/post"
verticals = ["auto_insurance", "home"]
states = ["WA", "Oregon"]
zips = ["98004", "981*"]
attributes = {{ credit_tier = ["good", "excellent"], age = {{ min = 21, max = 80.5 }}, homeowner = true }}
floor = "2.50"
quality_weight = 1.5
timeout_ms = 80
headers = {{ x-api-key = "k1" }}
secret = "{SECRET}"
transport = "http2"
key_sha256 = "{DIGEST_B}"
caps = {{ hourly = 20, budget_daily = "1500.00", timezone = "America/Chicago", publishers = {{ pub1 = {{ daily = 5 }} }} }}
schedule = {{ timezone = "America/Chicago", days = ["mon", "friday"], hours = ["08:00-12:00", "13:00-18:00"], by_day = {{ sat = "10:00-14:00" }}, dates_off = ["2026-12-25"] }}
breaker = {{ failures = 5, rate = 0.25 }}
[buyers.mapping]
format = "form"
[buyers.mapping.post]
fields = [{{ from = "contact.phone", to = "Phone", format = "phone_dashes" }}, {{ value = "ABC", to = "Aff" }}]
[buyers.mapping.bid]
price = {{ json = "/price" }}
bid = {{ json = "/ok", equals = ["yes", "true"] }}
"#
        )
    }

    #[test]
    fn every_file_entry_parses_again_from_its_json_document() {
        let config = Config::from_toml(&rich()).expect("valid");
        let doc = config.doc(EntryKind::Buyer, "acme").expect("kept").clone();
        assert_eq!(doc["caps"]["budget_daily"], "1500.00", "values keep their file format");
        assert_eq!(doc["mapping"]["post"]["fields"][1]["value"], "ABC");
        let mut again = config.clone();
        again.set_entry(EntryKind::Buyer, "acme", Some(&doc)).expect("the JSON document parses");
        again.validate().expect("and validates");
        // Same parsed values (secrets and digests print the same redacted form on both sides).
        assert_eq!(format!("{:?}", again.buyers[0]), format!("{:?}", config.buyers[0]));
        let publisher = config.doc(EntryKind::Publisher, "pub1").expect("kept").clone();
        again.set_entry(EntryKind::Publisher, "pub1", Some(&publisher)).expect("parses");
        assert_eq!(format!("{:?}", again.publishers[0]), format!("{:?}", config.publishers[0]));
    }

    #[test]
    fn a_bad_document_names_the_key_inside_its_entry() {
        let mut config = Config::from_toml(&rich()).expect("valid");
        let mut doc = config.doc(EntryKind::Buyer, "acme").expect("kept").clone();
        doc["caps"]["daily"] = serde_json::json!(-1);
        let Err(ConfigError::Key { key, message }) = config.set_entry(EntryKind::Buyer, "acme", Some(&doc)) else {
            panic!("refused")
        };
        assert_eq!(key, "buyers[0].caps.daily");
        assert_eq!(message, "invalid value: integer `-1`, expected u32", "as docs/admin-api.md shows it");
        let new = serde_json::json!({"id": "b2", "ping_url": "ftp://x", "post_url": "http://x/p", "verticals": ["v"]});
        let Err(ConfigError::Key { key, message }) = config.set_entry(EntryKind::Buyer, "b2", Some(&new)) else {
            panic!("refused")
        };
        assert_eq!(key, "buyers[1].ping_url", "{message}");
        let unknown = serde_json::json!({"id": "p2", "key_sha256": DIGEST_A, "colour": "red"});
        let Err(ConfigError::Key { key, .. }) = config.set_entry(EntryKind::Publisher, "p2", Some(&unknown)) else {
            panic!("refused")
        };
        assert_eq!(key, "publishers[1].colour");
    }

    #[test]
    fn removing_an_entry_a_buyer_caps_fails_validation_naming_the_buyer() {
        let mut config = Config::from_toml(&rich()).expect("valid");
        config.set_entry(EntryKind::Publisher, "pub1", None).expect("removed");
        assert!(config.publishers.is_empty());
        let Err(ConfigError::Key { key, .. }) = config.validate() else { panic!("refused") };
        assert_eq!(key, "buyers[0].caps");
    }
}
