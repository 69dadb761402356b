//! `Config::from_toml`: the DESIGN.md example loads, defaults are filled, every value is parsed
//! into its working type, and every error names the key at fault.

use super::*;
use crate::protocol::geo::State;

const DIGEST_A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const DIGEST_B: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
const DIGEST_C: &str = "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The example of DESIGN.md's "Configuration" section, with real digests and secret.
fn design_example() -> String {
    format!(
        r#"
listen = "127.0.0.1:8080"
store = "data/engine.db"
[auction]
ping_timeout_ms = 100
total_timeout_ms = 1000
[[publishers]]
id = "pub1"
key_sha256 = "{DIGEST_A}"
[[buyers]]
id = "acme"
ping_url = "http://127.0.0.1:9001/acme/ping"
post_url = "http://127.0.0.1:9001/acme/post"
verticals = ["auto_insurance"]
states = ["WA", "OR"]
key_sha256 = "{DIGEST_B}"
caps = {{ hourly = 20, daily = 100, budget_daily = "1500.00" }}
schedule = {{ timezone = "America/Chicago", days = ["mon", "tue", "wed", "thu", "fri"], hours = "08:00-18:00" }}
return_window_hours = 72
[[admins]]
id = "ops"
key_sha256 = "{DIGEST_C}"
[returns]
reasons = ["invalid_phone", "invalid_email", "duplicate", "wrong_person", "fraud"]
[delivery]
retry_schedule_ms = [0, 5000, 300000, 1800000, 7200000, 18000000, 36000000, 86400000]
allow_private_targets = false   # webhook URLs on private/loopback addresses; tests set true
[[webhooks]]
id = "crm"
url = "https://crm.example.com/hooks/leads"
events = ["lead.sold", "lead.status_changed"]
secret = "{SECRET}"
"#
    )
}

/// A config with one minimal buyer, `extra` appended inside its `[[buyers]]` table.
fn one_buyer(extra: &str) -> String {
    format!(
        r#"
[[buyers]]
id = "acme"
ping_url = "http://127.0.0.1:9001/acme/ping"
post_url = "http://127.0.0.1:9001/acme/post"
verticals = ["auto_insurance"]
{extra}
"#
    )
}

fn digest(hex_text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).expect("test digest is hex");
    out
}

fn load(text: &str) -> Config {
    match Config::from_toml(text) {
        Ok(config) => config,
        Err(e) => panic!("config should load, got: {e}\n{text}"),
    }
}

/// The key and message of a config that must be refused; checks that Display names the key.
fn refused(text: &str) -> (String, String) {
    match Config::from_toml(text) {
        Ok(config) => panic!("config should be refused, but loaded: {config:?}\n{text}"),
        Err(e @ ConfigError::Key { .. }) => {
            let shown = e.to_string();
            let ConfigError::Key { key, message } = e else { unreachable!() };
            assert!(shown.contains(&format!("`{key}`")), "Display {shown:?} does not name key {key:?}");
            assert!(shown.contains(&message), "Display {shown:?} does not carry the message {message:?}");
            assert!(!message.is_empty(), "empty message for key {key}");
            (key, message)
        }
        Err(other) => panic!("expected ConfigError::Key, got {other:?}"),
    }
}

/// Asserts the config is refused with exactly `key`, and the message contains `needle`.
fn refused_at(text: &str, key: &str, needle: &str) {
    let (got_key, message) = refused(text);
    assert_eq!(got_key, key, "message: {message}\n{text}");
    assert!(message.contains(needle), "message {message:?} should contain {needle:?}\n{text}");
}

#[test]
fn design_example_loads_with_defaults_and_parsed_values() {
    let config = load(&design_example());
    assert_eq!(config.listen, "127.0.0.1:8080".parse::<std::net::SocketAddr>().expect("addr"));
    assert_eq!(config.store, std::path::PathBuf::from("data/engine.db"));
    assert_eq!(config.auction.ping_timeout_ms, 100);
    assert_eq!(config.auction.total_timeout_ms, 1000);
    assert_eq!(config.auction.floor, None);
    assert_eq!(config.auction.max_bid, Micros::from_units(1000));
    assert_eq!(config.intake.max_body_bytes, 65536);
    assert_eq!(config.intake.max_in_flight, 10_000);
    assert_eq!(config.intake.idempotency_ttl_s, 86_400);

    assert_eq!(config.publishers.len(), 1);
    assert_eq!(config.publishers[0].id, "pub1");
    assert_eq!(config.publishers[0].key_sha256, KeyDigest(digest(DIGEST_A)));
    assert!(config.publishers[0].enabled, "publishers are enabled by default");

    assert_eq!(config.buyers.len(), 1);
    let acme = &config.buyers[0];
    assert_eq!(acme.id, "acme");
    assert_eq!(acme.ping_url.as_ref().map(ToString::to_string).as_deref(), Some("http://127.0.0.1:9001/acme/ping"));
    assert_eq!(acme.post_url, "http://127.0.0.1:9001/acme/post");
    assert_eq!(acme.verticals, ["auto_insurance"]);
    let wa = State::parse("WA").expect("WA");
    let or = State::parse("OR").expect("OR");
    assert_eq!(acme.states, [wa, or]);
    assert_eq!(acme.key_sha256, Some(KeyDigest(digest(DIGEST_B))));
    let caps = acme.caps.as_ref().expect("caps parsed");
    assert_eq!(caps.hourly, Some(20));
    assert_eq!(caps.daily, Some(100));
    assert_eq!(caps.budget_daily, Some(Micros::from_units(1500)));
    let schedule = acme.schedule.as_ref().expect("schedule parsed");
    assert_eq!(schedule.timezone, chrono_tz::America::Chicago);
    use chrono::Weekday::{Fri, Mon, Thu, Tue, Wed};
    assert_eq!(schedule.days, [Mon, Tue, Wed, Thu, Fri]);
    assert_eq!(schedule.hours, Some(Hours(vec![TimeRange { start: 8 * 60, end: 18 * 60 }])));
    assert!(schedule.by_day.is_empty() && schedule.dates_off.is_empty());
    assert_eq!(acme.breaker, BuyerBreakerConfig::default(), "the breaker is on by default");
    assert_eq!(acme.return_window_hours, Some(72));
    // Buyer defaults.
    assert!(acme.enabled);
    assert_eq!(acme.transport, TransportKind::Http1);
    assert!(acme.zips.is_empty() && acme.attributes.is_empty() && acme.headers.is_empty());
    assert!(acme.secret.is_none() && acme.floor.is_none() && acme.timeout_ms.is_none());

    assert_eq!(config.admins.len(), 1);
    assert_eq!(config.admins[0].key_sha256, KeyDigest(digest(DIGEST_C)));
    assert_eq!(config.returns.reasons.len(), 5);
    let delivery = &config.delivery;
    assert_eq!(delivery.retry_schedule_ms.len(), 8);
    assert!(!delivery.allow_private_targets);
    assert_eq!(config.webhooks.len(), 1);
    let hook = &config.webhooks[0];
    assert_eq!(hook.url, "https://crm.example.com/hooks/leads");
    assert_eq!(hook.events, ["lead.sold", "lead.status_changed"]);
    assert_eq!(hook.secret.0.len(), 24, "the secret decodes to its 24 random bytes");
}

#[test]
fn design_example_without_auction_section_gets_default_timings() {
    let text = design_example().replace("[auction]\nping_timeout_ms = 100\ntotal_timeout_ms = 1000\n", "");
    assert!(!text.contains("[auction]"));
    let config = load(&text);
    assert_eq!((config.auction.ping_timeout_ms, config.auction.total_timeout_ms), (100, 1000));
    assert_eq!(config.intake.max_body_bytes, 65536);
    assert_eq!(config.buyers[0].states.len(), 2);
}

#[test]
fn empty_file_loads_with_defaults() {
    let config = load("");
    assert_eq!(config.listen, "127.0.0.1:8080".parse::<std::net::SocketAddr>().expect("addr"));
    assert_eq!(config.store, std::path::PathBuf::from("data/engine.db"));
    assert_eq!(config.auction.ping_timeout_ms, 100);
    assert_eq!(config.auction.total_timeout_ms, 1000);
    assert_eq!(config.auction.max_bid, Micros::from_units(1000));
    assert_eq!(config.intake.max_body_bytes, 65536);
    assert_eq!(config.intake.shutdown_grace_ms, 5_000);
    assert!(config.publishers.is_empty() && config.buyers.is_empty() && config.admins.is_empty());
    assert!(config.webhooks.is_empty());
    assert_eq!(config.returns.reasons, ["invalid_phone", "invalid_email", "duplicate", "wrong_person", "fraud"]);
    assert_eq!(config.durability, Durability::Strict);
    assert_eq!(
        config.delivery.retry_schedule_ms,
        [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 86_400_000]
    );
    assert_eq!(config.delivery.timeout_ms, 10_000);
    // Comments and whitespace only are an empty file too.
    assert_eq!(load("# nothing\n\n").auction.ping_timeout_ms, 100);
}

#[test]
fn partial_sections_keep_the_other_defaults() {
    let config = load("[auction]\nping_timeout_ms = 50\n[intake]\nmax_in_flight = 7\n");
    assert_eq!(config.auction.ping_timeout_ms, 50);
    assert_eq!(config.auction.total_timeout_ms, 1000);
    assert_eq!(config.intake.max_in_flight, 7);
    assert_eq!(config.intake.max_body_bytes, 65536);
}

#[test]
fn buyer_optional_keys_parse_into_their_values() {
    let config = load(&one_buyer(&format!(
        r#"
headers = {{ "X-Api-Key" = "k-123", authorization = "Bearer abc" }}
secret = "{SECRET}"
timeout_ms = 80
post_timeout_ms = 400
floor = "2.50"
zips = ["98004", "980", "021*", "9"]
transport = "http2"
enabled = false
attributes = {{ credit_tier = "good", homeowner = true, age = 42, score = 1.5, tier = ["a", 2, false], income = {{ min = 20000, max = 90000.5 }}, years = {{ min = 1 }}, kids = {{ max = 3 }} }}
"#
    )));
    let buyer = &config.buyers[0];
    let headers: Vec<(&str, &str)> =
        buyer.headers.iter().map(|(n, v)| (n.as_str(), v.to_str().expect("ascii header"))).collect();
    // Names are lowercased (HTTP header names are case-insensitive).
    assert_eq!(headers.len(), 2);
    assert!(headers.contains(&("x-api-key", "k-123")), "{headers:?}");
    assert!(headers.contains(&("authorization", "Bearer abc")), "{headers:?}");
    let secret = buyer.secret.as_ref().expect("secret");
    assert_eq!(secret.0.len(), 24);
    assert_eq!(Some(&secret.0), SigningSecret::parse(SECRET).ok().map(|s| s.0).as_ref());
    assert_eq!(buyer.timeout_ms, Some(80));
    assert_eq!(buyer.post_timeout_ms, Some(400));
    assert_eq!(buyer.floor, Some(Micros(2_500_000)));
    assert_eq!(
        buyer.zips,
        [
            ZipFilter::Exact(98004),
            ZipFilter::Prefix { len: 3, value: 980 },
            ZipFilter::Prefix { len: 3, value: 21 },
            ZipFilter::Prefix { len: 1, value: 9 },
        ]
    );
    assert_eq!(buyer.transport, TransportKind::Http2);
    assert!(!buyer.enabled);
    let rule = |name: &str| buyer.attributes.get(name).cloned().unwrap_or_else(|| panic!("no rule {name}"));
    assert_eq!(buyer.attributes.len(), 8);
    assert_eq!(rule("credit_tier"), AttrRule::Equals(RuleValue::Text("good".into())));
    assert_eq!(rule("homeowner"), AttrRule::Equals(RuleValue::Bool(true)));
    assert_eq!(rule("age"), AttrRule::Equals(RuleValue::Number(42.0)));
    assert_eq!(rule("score"), AttrRule::Equals(RuleValue::Number(1.5)));
    assert_eq!(
        rule("tier"),
        AttrRule::OneOf(vec![RuleValue::Text("a".into()), RuleValue::Number(2.0), RuleValue::Bool(false)])
    );
    assert_eq!(rule("income"), AttrRule::Range { min: Some(20000.0), max: Some(90000.5) });
    assert_eq!(rule("years"), AttrRule::Range { min: Some(1.0), max: None });
    assert_eq!(rule("kids"), AttrRule::Range { min: None, max: Some(3.0) });
}

#[test]
fn attribute_rules_is_an_alias_of_attributes() {
    let config = load(&one_buyer(
        r#"
[buyers.attribute_rules]
credit_tier = ["good", "excellent"]
age = { min = 18, max = 65 }
"#,
    ));
    let rules = &config.buyers[0].attributes;
    assert_eq!(
        rules.get("credit_tier"),
        Some(&AttrRule::OneOf(vec![RuleValue::Text("good".into()), RuleValue::Text("excellent".into())]))
    );
    assert_eq!(rules.get("age"), Some(&AttrRule::Range { min: Some(18.0), max: Some(65.0) }));
}

#[test]
fn equal_range_bounds_are_allowed() {
    let config = load(&one_buyer("attributes = { age = { min = 30, max = 30 } }"));
    assert_eq!(config.buyers[0].attributes.get("age"), Some(&AttrRule::Range { min: Some(30.0), max: Some(30.0) }));
}

#[test]
fn states_accept_codes_and_names() {
    let config = load(&one_buyer(r#"states = ["wa", "Oregon", " new  york "]"#));
    let codes: Vec<&str> = config.buyers[0].states.iter().map(|s| s.code()).collect();
    assert_eq!(codes, ["WA", "OR", "NY"]);
}

#[test]
fn webhook_headers_and_delivery_parse() {
    let config = load(&format!(
        r#"
[delivery]
allow_private_targets = true
[[webhooks]]
id = "crm"
url = "http://10.0.0.1:9000/hooks"
events = ["lead.sold"]
secret = "{SECRET}"
headers = {{ "X-Tenant" = "t1" }}
"#
    ));
    let delivery = &config.delivery;
    assert!(delivery.allow_private_targets);
    assert_eq!(delivery.retry_schedule_ms.len(), 8, "the default schedule");
    assert_eq!(config.webhooks[0].headers.len(), 1);
    assert_eq!(config.webhooks[0].headers[0].0.as_str(), "x-tenant");
}

#[test]
fn webhook_errors_name_their_key() {
    let hook = |extra: &str, url: &str, events: &str| {
        format!("{extra}\n[[webhooks]]\nid = \"crm\"\nurl = \"{url}\"\nevents = {events}\nsecret = \"{SECRET}\"\n")
    };
    let cases = [
        (hook("", "http://127.0.0.1:9/h", r#"["lead.sold"]"#), "webhooks[0].url"),
        (hook("", "http://10.1.2.3/h", r#"["lead.sold"]"#), "webhooks[0].url"),
        (hook("", "https://crm.example.com/h", r#"["lead.bought"]"#), "webhooks[0].events[0]"),
        (hook("", "https://crm.example.com/h", "[]"), "webhooks[0].events"),
        (
            hook("[delivery]\nretry_schedule_ms = []", "https://crm.example.com/h", r#"["*"]"#),
            "delivery.retry_schedule_ms",
        ),
        (hook("[delivery]\ntimeout_ms = 5", "https://crm.example.com/h", r#"["*"]"#), "delivery.timeout_ms"),
    ];
    for (text, key) in cases {
        match Config::from_toml(&text) {
            Err(ConfigError::Key { key: got, .. }) => assert_eq!(got, key, "{text}"),
            other => panic!("{text}: expected an error at {key}, got {other:?}"),
        }
    }
    let allowed = hook("[delivery]\nallow_private_targets = true", "http://127.0.0.1:9/h", r#"["*"]"#);
    assert!(Config::from_toml(&allowed).is_ok(), "tests allow loopback targets");
}

#[test]
fn return_reasons_are_1_to_50_distinct_ids() {
    assert_eq!(load("[returns]\nreasons = [\"bad_zip\"]\n").returns.reasons, ["bad_zip"]);
    assert_eq!(load("[returns]\n").returns, ReturnsConfig::default(), "the key defaults too");
    refused_at("[returns]\nreasons = []\n", "returns.reasons", "1 to 50");
    let many = (0..51).map(|n| format!("\"r{n}\"")).collect::<Vec<_>>().join(", ");
    refused_at(&format!("[returns]\nreasons = [{many}]\n"), "returns.reasons", "1 to 50");
    refused_at("[returns]\nreasons = [\"fraud\", \"bad zip\"]\n", "returns.reasons[1]", "letters, digits");
    refused_at("[returns]\nreasons = [\"fraud\", \"fraud\"]\n", "returns.reasons[1]", "duplicate");
}

#[test]
fn a_buyer_s_return_window_defaults_to_72_hours() {
    let config = load(&format!("{}{}", one_buyer("return_window_hours = 0"), one_buyer("").replace("acme", "zeta")));
    assert_eq!(config.return_window_hours("acme"), 0, "0 is kept: no returns");
    assert_eq!(config.return_window_hours("zeta"), 72);
    assert_eq!(config.return_window_hours("gone"), 72, "a buyer no longer configured");
}

// ---------------------------------------------------------------------------------------------
// Every error names its key.
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_top_level_key() {
    refused_at("listen = \"127.0.0.1:8080\"\nlisten_addr = \"0.0.0.0:80\"\n", "listen_addr", "unknown field");
}

#[test]
fn unknown_key_in_a_section() {
    refused_at("[auction]\nping_timeout = 100\n", "auction.ping_timeout", "unknown field");
    refused_at("[returns]\nreasons = []\nwindow = 3\n", "returns.window", "unknown field");
}

#[test]
fn unknown_key_inside_a_buyer() {
    let (key, message) = refused(&one_buyer("ping_timeout_ms = 50"));
    assert!(key.contains("buyers[0]"), "key {key:?}, message {message:?}");
    assert_eq!(key, "buyers[0].ping_timeout_ms");
    assert!(message.contains("unknown field"), "{message}");
    // Unknown keys inside a buyer's inline tables too.
    refused_at(&one_buyer("caps = { yearly = 5 }"), "buyers[0].caps.yearly", "unknown field");
    refused_at(&one_buyer("schedule = { timezone = \"UTC\", tz = \"UTC\" }"), "buyers[0].schedule.tz", "unknown field");
}

#[test]
fn unknown_key_inside_the_second_buyer_names_its_index() {
    let text = format!(
        "{}\n[[buyers]]\nid = \"b2\"\nping_url = \"http://a/p\"\npost_url = \"http://a/q\"\nverticals = [\"x\"]\nstate = [\"WA\"]\n",
        one_buyer("")
    );
    refused_at(&text, "buyers[1].state", "unknown field");
}

#[test]
fn missing_required_buyer_key() {
    let text = "[[buyers]]\nid = \"acme\"\nping_url = \"http://a/p\"\nverticals = [\"auto\"]\n";
    let (key, message) = refused(text);
    assert!(key.contains("buyers[0]"), "key {key:?}");
    assert!(message.contains("post_url"), "{message}");
}

#[test]
fn bad_state_names_the_state() {
    let (key, message) = refused(&one_buyer(r#"states = ["WA", "XX"]"#));
    assert!(key.starts_with("buyers[0].states"), "key {key:?}");
    assert!(message.contains("\"XX\""), "{message}");
}

#[test]
fn bad_state_names_the_list_element() {
    refused_at(&one_buyer(r#"states = ["WA", "XX"]"#), "buyers[0].states[1]", "unknown state \"XX\"");
}

#[test]
fn bad_key_digests() {
    let not_hex = "zz".repeat(32);
    refused_at(&one_buyer(&format!("key_sha256 = \"{not_hex}\"")), "buyers[0].key_sha256", "64 hex");
    let short = &DIGEST_A[..62];
    refused_at(
        &format!("[[publishers]]\nid = \"p\"\nkey_sha256 = \"{short}\"\n"),
        "publishers[0].key_sha256",
        "64 hex",
    );
    refused_at(
        "[[admins]]\nid = \"ops\"\nkey_sha256 = \"my-plaintext-admin-key\"\n",
        "admins[0].key_sha256",
        "never the key itself",
    );
}

#[test]
fn urls_must_be_absolute_http() {
    refused_at(
        &one_buyer("").replace("http://127.0.0.1:9001/acme/ping", "ftp://127.0.0.1/ping"),
        "buyers[0].ping_url",
        "ftp://",
    );
    refused_at(
        &one_buyer("").replace("http://127.0.0.1:9001/acme/post", "/acme/post"),
        "buyers[0].post_url",
        "/acme/post",
    );
    refused_at(
        &one_buyer("").replace("http://127.0.0.1:9001/acme/ping", "not a url"),
        "buyers[0].ping_url",
        "not a URL",
    );
    let hook =
        format!("[[webhooks]]\nid = \"h\"\nurl = \"mailto:ops@example.com\"\nevents = []\nsecret = \"{SECRET}\"\n");
    refused_at(&hook, "webhooks[0].url", "http");
    // https is as good as http.
    load(&one_buyer("").replace("http://127.0.0.1:9001/acme/ping", "https://buyer.example.com/ping"));
}

#[test]
fn unknown_transport() {
    refused_at(&one_buyer(r#"transport = "http3""#), "buyers[0].transport", "http3");
    refused_at(&one_buyer(r#"transport = "HTTP2""#), "buyers[0].transport", "HTTP2");
}

#[test]
fn bad_zip_filters() {
    for bad in ["98a", "", "*", "980041", "00000", "*980", "98-004"] {
        refused_at(&one_buyer(&format!(r#"zips = ["98004", "{bad}"]"#)), "buyers[0].zips[1]", &format!("\"{bad}\""));
    }
    let (key, _) = refused(&one_buyer("zips = [98004]"));
    assert_eq!(key, "buyers[0].zips[0]", "a number is not a ZIP string");
}

#[test]
fn bad_attribute_rules() {
    let cases = [
        ("age", "{ min = 5, max = 1 }", "above `max`"),
        ("age", "{ min = 1, maximum = 5 }", "unknown range key `maximum`"),
        ("age", "{ nested = { deeper = 1 } }", "unknown range key `nested`"),
        ("age", "{ min = { deeper = 1 } }", "must be numbers"),
        ("age", "{ min = \"5\" }", "must be numbers"),
        ("age", "{}", "needs `min`, `max` or both"),
        ("age", "{ min = nan }", "must be numbers"),
        ("age", "{ max = inf }", "must be numbers"),
        ("tier", "[]", "a rule is a value"),
        ("tier", "[\"a\", { b = 1 }]", "one-of lists"),
        ("tier", "[[\"a\"]]", "one-of lists"),
        ("since", "2024-01-01", "a rule is a value"),
        ("score", "nan", "a rule is a value"),
    ];
    for (name, rule, needle) in cases {
        refused_at(
            &one_buyer(&format!("attributes = {{ {name} = {rule} }}")),
            &format!("buyers[0].attributes.{name}"),
            needle,
        );
    }
    // The alias reports the same way.
    let (key, _) = refused(&one_buyer("attribute_rules = { age = { min = 5, max = 1 } }"));
    assert!(key.starts_with("buyers[0].attribute") && key.ends_with(".age"), "{key}");
}

#[test]
fn zip_and_state_are_not_attribute_rules() {
    refused_at(&one_buyer(r#"attributes = { zip = "98004" }"#), "buyers[0].attributes", "zips");
    refused_at(&one_buyer(r#"attributes = { state = "WA" }"#), "buyers[0].attributes", "states");
}

#[test]
fn duplicate_ids() {
    let two = format!("{}{}", one_buyer(""), one_buyer(""));
    refused_at(&two, "buyers[1].id", "duplicate id \"acme\"");
    let publishers = format!(
        "[[publishers]]\nid = \"p\"\nkey_sha256 = \"{DIGEST_A}\"\n[[publishers]]\nid = \"q\"\nkey_sha256 = \"{DIGEST_B}\"\n[[publishers]]\nid = \"p\"\nkey_sha256 = \"{DIGEST_C}\"\n"
    );
    refused_at(&publishers, "publishers[2].id", "duplicate");
}

#[test]
fn bad_ids() {
    refused_at(&one_buyer("").replace("id = \"acme\"", "id = \"ac me\""), "buyers[0].id", "ids are");
    refused_at(&one_buyer("").replace("id = \"acme\"", "id = \"\""), "buyers[0].id", "ids are");
    refused_at(&format!("[[publishers]]\nid = \"p/1\"\nkey_sha256 = \"{DIGEST_A}\"\n"), "publishers[0].id", "ids are");
}

#[test]
fn bad_verticals() {
    refused_at(
        &one_buyer("").replace(r#"verticals = ["auto_insurance"]"#, "verticals = []"),
        "buyers[0].verticals",
        "at least one",
    );
    refused_at(
        &one_buyer("").replace(r#"verticals = ["auto_insurance"]"#, r#"verticals = ["Auto Insurance"]"#),
        "buyers[0].verticals",
        "\"Auto Insurance\"",
    );
}

#[test]
fn auction_timings() {
    refused_at(
        "[auction]\nping_timeout_ms = 200\ntotal_timeout_ms = 150\n",
        "auction.total_timeout_ms",
        "ping_timeout_ms",
    );
    refused_at("[auction]\nping_timeout_ms = 2000\n", "auction.total_timeout_ms", "ping_timeout_ms");
    refused_at("[auction]\nping_timeout_ms = 4\n", "auction.ping_timeout_ms", "at least 5");
    let (key, _) = refused("[auction]\nping_timeout_ms = -1\n");
    assert_eq!(key, "auction.ping_timeout_ms");
    // Equal is fine.
    assert_eq!(load("[auction]\nping_timeout_ms = 300\ntotal_timeout_ms = 300\n").auction.total_timeout_ms, 300);
}

#[test]
fn buyer_timeouts_must_be_positive() {
    refused_at(&one_buyer("timeout_ms = 0"), "buyers[0].timeout_ms", "at least 1");
    refused_at(&one_buyer("post_timeout_ms = 0"), "buyers[0].post_timeout_ms", "at least 1");
}

#[test]
fn reserved_headers_are_refused() {
    for name in ["content-type", "Content-Type", "host", "Content-Length", "webhook-signature", "Connection"] {
        let (key, message) = refused(&one_buyer(&format!(r#"headers = {{ "{name}" = "x" }}"#)));
        assert_eq!(key, "buyers[0].headers", "{name}");
        assert!(message.contains("set by the engine") && message.contains(name), "{name}: {message}");
    }
    let hook = format!(
        "[[webhooks]]\nid = \"h\"\nurl = \"https://h.example.com/\"\nevents = []\nsecret = \"{SECRET}\"\nheaders = {{ webhook-id = \"x\" }}\n"
    );
    refused_at(&hook, "webhooks[0].headers", "set by the engine");
}

#[test]
fn invalid_header_names_and_values_are_refused() {
    refused_at(&one_buyer(r#"headers = { "bad header" = "x" }"#), "buyers[0].headers", "not a valid header name");
    refused_at(&one_buyer(r#"headers = { "x-key" = "line\nbreak" }"#), "buyers[0].headers", "invalid value");
    let (key, _) = refused(&one_buyer(r#"headers = { "x-key" = 5 }"#));
    assert_eq!(key, "buyers[0].headers.x-key");
}

#[test]
fn floors_are_decimal_strings() {
    for bad in ["floor = 12.5", "floor = 12", r#"floor = "12,50""#, r#"floor = "abc""#, r#"floor = "1.0000001""#] {
        let (key, message) = refused(&one_buyer(bad));
        assert_eq!(key, "buyers[0].floor", "{bad}: {message}");
    }
    let (_, message) = refused(&one_buyer(r#"floor = "abc""#));
    assert!(message.contains("decimal string"), "{message}");
    refused_at(&one_buyer(r#"floor = "-1.00""#), "buyers[0].floor", "between 0");
    refused_at(&one_buyer(r#"floor = "1000.01""#), "buyers[0].floor", "max_bid");
    let (key, _) = refused("[auction]\nfloor = 3\n");
    assert_eq!(key, "auction.floor");
    refused_at("[auction]\nfloor = \"2000\"\n", "auction.floor", "max_bid");
    refused_at(&one_buyer("caps = { budget_daily = 1500 }"), "buyers[0].caps.budget_daily", "decimal string like");
    // The buyer floor is checked against the configured max_bid, not the default.
    let config = load(&format!("[auction]\nmax_bid = \"5000\"\n{}", one_buyer(r#"floor = "2000""#)));
    assert_eq!(config.buyers[0].floor, Some(Micros::from_units(2000)));
}

#[test]
fn non_positive_max_bid_names_max_bid() {
    refused_at("[auction]\nmax_bid = \"0\"\n", "auction.max_bid", "");
}

#[test]
fn bad_signing_secrets() {
    for (secret, needle) in [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsec_not*base64!", "base64"),
        ("whsec_c2hvcnQ=", "24 to 64"),
    ] {
        refused_at(&one_buyer(&format!("secret = \"{secret}\"")), "buyers[0].secret", needle);
    }
}

#[test]
fn limits_on_intake() {
    refused_at("[intake]\nmax_body_bytes = 100\n", "intake", "max_body_bytes");
    refused_at("[intake]\nmax_in_flight = 0\n", "intake", "max_in_flight");
    let (key, _) = refused("[intake]\nmax_body_bytes = \"big\"\n");
    assert_eq!(key, "intake.max_body_bytes");
}

#[test]
fn wrong_types_name_their_key() {
    let (key, _) = refused("listen = \"not an address\"\n");
    assert_eq!(key, "listen");
    let (key, _) = refused("[auction]\nping_timeout_ms = \"100\"\n");
    assert_eq!(key, "auction.ping_timeout_ms");
    let (key, _) = refused(&one_buyer(r#"enabled = "no""#));
    assert_eq!(key, "buyers[0].enabled");
    let (key, _) = refused("buyers = 3\n");
    assert_eq!(key, "buyers");
}

#[test]
fn syntax_errors_are_reported() {
    for text in ["listen = ", "[auction\nping_timeout_ms = 100", "a = 1\na = 2\n", "buyers = [ { id = \"x\" "] {
        let (key, message) = refused(text);
        assert_eq!(key, "(syntax)", "{text:?}: {message}");
    }
}

#[test]
fn load_reports_missing_files() {
    let path = std::path::Path::new("/nonexistent/dir/engine.toml");
    match Config::load(path) {
        Err(e @ ConfigError::Read { .. }) => assert!(e.to_string().contains("/nonexistent/dir/engine.toml"), "{e}"),
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn two_publishers_cannot_share_a_key() {
    let digest = "a".repeat(64);
    let text = format!(
        "[[publishers]]\nid = \"p1\"\nkey_sha256 = \"{digest}\"\n[[publishers]]\nid = \"p2\"\nkey_sha256 = \"{digest}\"\n"
    );
    refused_at(&text, "publishers[1].key_sha256", "publishers[0] has the same key");
}

#[test]
fn attribute_rule_names_are_attribute_names() {
    refused_at(&one_buyer("attributes = { Credit_Tier = \"good\" }"), "buyers[0].attributes", "not an attribute name");
}

#[test]
fn idempotency_keys_live_at_least_a_second() {
    refused_at("[intake]\nidempotency_ttl_s = 0\n", "intake", "idempotency_ttl_s");
}

#[test]
fn the_example_config_in_the_repository_loads() {
    let config = load(include_str!("../../../examples/engine.toml"));
    assert_eq!(config.buyers.len(), 3);
    assert_eq!(config.publishers.len(), 1);
}

#[test]
fn caps_are_checked_at_load() {
    let caps = load(&one_buyer(
        "caps = { hourly = 2, daily = 10, weekly = 40, monthly = 100, budget_daily = \"50.00\", budget_monthly = \"900\", threshold_percent = 90, timezone = \"America/Chicago\" }",
    ));
    let limits = caps.buyers[0].caps.as_ref().expect("caps").limits();
    assert_eq!(limits.len(), 6);
    refused_at(&one_buyer("caps = { daily = 5, threshold_percent = 0 }"), "buyers[0].caps", "threshold_percent");
    refused_at(&one_buyer("caps = { daily = 5, timezone = \"Mars/Olympus\" }"), "buyers[0].caps", "IANA");
    refused_at(&one_buyer("caps = { budget_daily = \"0\" }"), "buyers[0].caps", "above zero");
    refused_at(&one_buyer("caps = { publishers = { nobody = { daily = 1 } } }"), "buyers[0].caps", "no publisher");
    refused_at(
        &one_buyer("caps = { publishers = { pub1 = { daily = 1, timezone = \"UTC\" } } }"),
        "buyers[0].caps",
        "limits only",
    );
    refused_at(&one_buyer("caps = { daily = -1 }"), "buyers[0].caps.daily", "");
}

#[test]
fn auction_options_are_checked_at_load() {
    let config =
        load("[auction]\npricing = \"second\"\nprice_step = \"0.05\"\n[auction.floors]\nauto_insurance = \"4.00\"\n");
    assert_eq!(config.auction.pricing, crate::config::Pricing::Second);
    assert_eq!(config.auction.price_step, Micros(50_000));
    assert_eq!(config.auction.floors["auto_insurance"], Micros::from_units(4));
    refused_at("[auction]\npricing = \"third\"\n", "auction.pricing", "unknown variant");
    refused_at("[auction.floors]\nAuto = \"1.00\"\n", "auction.floors.Auto", "vertical");
    refused_at("[auction.floors]\nauto = \"5000.00\"\n", "auction.floors.auto", "max_bid");
    refused_at(&one_buyer("quality_weight = 0"), "buyers[0].quality_weight", "above 0");
}

// ---------------------------------------------------------------------------------------------
// Buyers' schedules and circuit breakers.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_schedule_with_every_key_loads() {
    let config = load(&one_buyer(
        r#"schedule = { timezone = "America/New_York", days = ["Mon", "tuesday"], hours = ["08:00-12:00", "22:00-06:00"], by_day = { sat = "10:00-14:00", sun = [] }, dates_off = ["2026-12-25", "2026-11-26"] }"#,
    ));
    let schedule = config.buyers[0].schedule.as_ref().expect("schedule");
    assert_eq!(schedule.timezone, chrono_tz::America::New_York);
    assert_eq!(schedule.days, [chrono::Weekday::Mon, chrono::Weekday::Tue]);
    let night = TimeRange { start: 22 * 60, end: 6 * 60 };
    assert!(night.crosses_midnight());
    assert_eq!(schedule.hours, Some(Hours(vec![TimeRange { start: 480, end: 720 }, night])));
    assert_eq!(
        schedule.by_day,
        [
            (chrono::Weekday::Sat, Hours(vec![TimeRange { start: 600, end: 840 }])),
            (chrono::Weekday::Sun, Hours(vec![]))
        ]
    );
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    assert_eq!(schedule.dates_off, [date("2026-12-25"), date("2026-11-26")]);
    let all_day = load(&one_buyer(r#"schedule = { timezone = "UTC", hours = "00:00-24:00" }"#));
    let hours = all_day.buyers[0].schedule.as_ref().and_then(|s| s.hours.clone());
    assert_eq!(hours, Some(Hours(vec![TimeRange { start: 0, end: MINUTES_PER_DAY }])));
}

#[test]
fn bad_schedules_are_refused_with_their_key() {
    let with = |schedule: &str| one_buyer(&format!("schedule = {{ {schedule} }}"));
    refused_at(&with(r#"timezone = "Central""#), "buyers[0].schedule.timezone", "IANA");
    refused_at(&with(r#"timezone = "America/Chicgo""#), "buyers[0].schedule.timezone", "America/Chicago");
    refused_at(&with(r#"timezone = "UTC", days = ["mon", "mun"]"#), "buyers[0].schedule.days[1]", "not a day");
    refused_at(&with(r#"timezone = "UTC", days = ["mon", "tue", "mon"]"#), "buyers[0].schedule.days", "twice");
    refused_at(&with(r#"timezone = "UTC", days = ["mon", "Monday"]"#), "buyers[0].schedule.days", "twice");
    refused_at(&with(r#"timezone = "UTC", hours = "8-18""#), "buyers[0].schedule.hours", "HH:MM-HH:MM");
    refused_at(&with(r#"timezone = "UTC", hours = "08:00-25:00""#), "buyers[0].schedule.hours", "HH:MM-HH:MM");
    refused_at(&with(r#"timezone = "UTC", hours = "08:00-08:00""#), "buyers[0].schedule.hours", "empty range");
    refused_at(&with(r#"timezone = "UTC", hours = "24:00-06:00""#), "buyers[0].schedule.hours", "24:00");
    refused_at(
        &with(r#"timezone = "UTC", hours = ["08:00-12:00", "13:00-1800"]"#),
        "buyers[0].schedule.hours[1]",
        "HH:MM-HH:MM",
    );
    refused_at(&with(r#"timezone = "UTC", hours = []"#), "buyers[0].schedule.hours", "at least one range");
    refused_at(&with(r#"timezone = "UTC", hours = 8"#), "buyers[0].schedule.hours", "HH:MM-HH:MM");
    refused_at(&with(r#"timezone = "UTC", by_day = { caturday = [] }"#), "buyers[0].schedule.by_day", "not a day");
    refused_at(
        &with(r#"timezone = "UTC", by_day = { sat = [], saturday = "10:00-12:00" }"#),
        "buyers[0].schedule.by_day",
        "twice",
    );
    refused_at(
        &with(r#"timezone = "UTC", by_day = { sat = ["10:00-09:00", "x"] }"#),
        "buyers[0].schedule.by_day.sat[1]",
        "HH:MM-HH:MM",
    );
    refused_at(
        &with(r#"timezone = "UTC", dates_off = ["2026-02-30"]"#),
        "buyers[0].schedule.dates_off[0]",
        "YYYY-MM-DD",
    );
    refused_at(&with(r#"days = ["mon"]"#), "buyers[0].schedule", "timezone");
}

#[test]
fn the_buyer_breaker_is_on_by_default_and_configurable() {
    let config = load(&one_buyer(""));
    let breaker = &config.buyers[0].breaker;
    assert!(breaker.enabled);
    let settings = breaker.settings().expect("on by default");
    assert_eq!(settings.failures, 10);
    assert_eq!(settings.cooloff_ms, 30_000);
    assert_eq!(
        settings.rate,
        Some(crate::breaker::RateRule { rate: 0.5, min_requests: 20, window_ms: 10_000 }),
        "half of at least 20 in 10 s"
    );

    let custom = load(&one_buyer(
        "breaker = { failures = 3, rate = 0.25, min_requests = 50, window_ms = 60000, cooloff_ms = 5000 }",
    ));
    let settings = custom.buyers[0].breaker.settings().expect("on");
    assert_eq!(settings.failures, 3);
    assert_eq!(settings.cooloff_ms, 5_000);
    assert_eq!(settings.rate, Some(crate::breaker::RateRule { rate: 0.25, min_requests: 50, window_ms: 60_000 }));

    let no_rate = load(&one_buyer("breaker = { rate = 0 }"));
    assert_eq!(no_rate.buyers[0].breaker.settings().map(|s| s.rate), Some(None), "rate = 0: consecutive only");
    let off = load(&one_buyer("breaker = { enabled = false }"));
    assert_eq!(off.buyers[0].breaker.settings(), None);
}

#[test]
fn bad_buyer_breakers_are_refused_with_their_key() {
    let with = |breaker: &str| one_buyer(&format!("breaker = {{ {breaker} }}"));
    refused_at(&with("rate = 1.5"), "buyers[0].breaker.rate", "between 0");
    refused_at(&with("rate = -0.1"), "buyers[0].breaker.rate", "between 0");
    refused_at(&with("rate = nan"), "buyers[0].breaker.rate", "between 0");
    refused_at(&with("min_requests = 0"), "buyers[0].breaker.min_requests", "between 1");
    refused_at(&with("window_ms = 10"), "buyers[0].breaker.window_ms", "between 1000");
    refused_at(&with("window_ms = 86400000"), "buyers[0].breaker.window_ms", "between 1000");
    refused_at(&with("cooloff_ms = 0"), "buyers[0].breaker.cooloff_ms", "between 1");
    refused_at(&with("failures = 100000"), "buyers[0].breaker.failures", "between 0");
    refused_at(&with("failures = 0, rate = 0"), "buyers[0].breaker.failures", "enabled = false");
    refused_at(&with("failures = -1"), "buyers[0].breaker.failures", "");
    refused_at(&with("ratio = 0.5"), "buyers[0].breaker.ratio", "unknown field");
    // Off, both rules may be off.
    assert!(Config::from_toml(&with("enabled = false, failures = 0, rate = 0")).is_ok());
}

#[test]
fn dedupe_is_off_unless_configured_and_its_defaults_and_overrides_resolve_per_vertical() {
    assert!(load("").dedupe.is_none(), "absent means off");
    let config = load("[dedupe]\n");
    let dedupe = config.dedupe.expect("[dedupe]");
    let day = 24 * 3600 * 1000;
    assert_eq!(
        dedupe.rule("auto_insurance"),
        DedupeRule { window_ms: 30 * day, mode: DedupeMode::Reject, phone: true, email: true }
    );
    assert_eq!(dedupe.max_entries, 2_000_000);
    let config = load(
        "[dedupe]\nwindow_days = 14\nmatch_on = [\"phone\"]\nmax_entries = 1000\n\
         [dedupe.verticals.mortgage]\nwindow_days = 90\nmode = \"exclude_buyers\"\nmatch_on = [\"email\"]\n",
    );
    let dedupe = config.dedupe.expect("[dedupe]");
    assert_eq!(dedupe.rule("auto").window_ms, 14 * day);
    assert_eq!((dedupe.rule("auto").phone, dedupe.rule("auto").email), (true, false));
    assert_eq!(
        dedupe.rule("mortgage"),
        DedupeRule { window_ms: 90 * day, mode: DedupeMode::ExcludeBuyers, phone: false, email: true }
    );
    assert_eq!(dedupe.longest_window_ms(), 90 * day);
}

#[test]
fn dedupe_errors_name_their_key() {
    refused_at("[dedupe]\nwindow_days = 0\n", "dedupe.window_days", "between 1 and");
    refused_at("[dedupe]\nmatch_on = []\n", "dedupe.match_on", "at least one");
    refused_at("[dedupe]\nmax_entries = 0\n", "dedupe.max_entries", "at least 1");
    refused_at("[dedupe.verticals.mortgage]\nwindow_days = 4000\n", "dedupe.verticals.mortgage.window_days", "between");
    refused_at("[dedupe.verticals.Mortgage]\n", "dedupe.verticals.Mortgage", "lowercase");
    let (key, _) = refused("[dedupe]\nmode = \"drop\"\n");
    assert_eq!(key, "dedupe.mode");
    let (key, _) = refused("[dedupe]\nmatch_on = [\"name\"]\n");
    assert!(key.starts_with("dedupe.match_on"), "{key}");
}
