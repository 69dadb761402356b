//! Shared fixtures for the criterion benches in `benches/benches/`: a lead, buyer configs, and
//! an in-memory transport whose buyers answer at once, so a bench measures the engine alone.

use bytes::Bytes;
use engine::config::Config;
use engine::transport::{Exchange, ExchangeKind, MemoryTransport, Reply};

/// The DESIGN.md example lead.
pub const LEAD: &[u8] = br#"{"vertical": "auto_insurance",
 "attributes": {"zip": "98004", "state": "WA", "credit_tier": "good", "age": 42},
 "contact": {"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com",
             "phone": "+12065550100", "address": "1 Main St", "city": "Bellevue"},
 "consent": {"trustedform_cert_url": "https://cert.trustedform.com/abc", "jornaya_leadid": "LEADID-123",
             "ip": "203.0.113.9", "consent_text": "I agree to be contacted by insurers and their agents at the number above.",
             "captured_at": "2026-11-23T12:00:00Z"},
 "source": {"sub_id": "s1", "utm": {"utm_source": "google"}},
 "test": false}"#;

const STATES: [&str; 8] = ["WA", "OR", "CA", "TX", "NY", "FL", "IL", "AZ"];

/// A config with `n` buyers on `auto_insurance`; a realistic mix of filters: most want a few
/// states, a quarter filter on credit tier, a tenth on ZIP prefixes. Every buyer wants WA so a
/// WA lead has `n` eligible buyers when `all_eligible`.
pub fn config_with_buyers(n: usize, all_eligible: bool) -> Config {
    buyers_config(n, all_eligible, "")
}

/// `n` buyers that all want the lead, sold the way `distribution` says: to the best bid
/// (`exclusive`), to the best three (`shared`: the publisher shares every lead with up to 3
/// buyers), or with every other buyer at a fixed price, never pinged (`fixed`).
pub fn config_with_distribution(n: usize, distribution: &str) -> Config {
    let terms = match distribution {
        "shared" => "sharing = { \"*\" = { mode = \"shared\", max_buyers = 3 } }\n",
        _ => "",
    };
    let mut toml = format!(
        "[[publishers]]\nid = \"pub1\"\nkey_sha256 = \"0000000000000000000000000000000000000000000000000000000000000001\"\n{terms}"
    );
    for i in 0..n {
        let reach = match (distribution, i % 2) {
            ("fixed", 1) => format!("fixed_price = \"{}.00\"\n", 5 + i),
            _ => format!("ping_url = \"http://127.0.0.1:9/b{i}/ping\"\n"),
        };
        let kinds = if distribution == "shared" { "lead_types = [\"exclusive\", \"shared\"]\n" } else { "" };
        toml.push_str(&format!(
            "[[buyers]]\nid = \"b{i}\"\n{reach}post_url = \"http://127.0.0.1:9/b{i}/post\"\nverticals = [\"auto_insurance\"]\n{kinds}"
        ));
    }
    Config::from_toml(&toml).expect("bench config is valid")
}

/// [`config_with_buyers`] where every buyer also has the controls checked per lead: caps (its
/// own and per publisher, never full), a schedule open around the clock in its own time zone,
/// and the default circuit breaker.
pub fn config_with_controlled_buyers(n: usize, all_eligible: bool) -> Config {
    let controls = "caps = { hourly = 1000000, daily = 10000000, budget_daily = \"1000000.00\", publishers = { pub1 = { daily = 1000000 } } }\n\
        schedule = { timezone = \"America/Chicago\", days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], hours = \"00:00-24:00\" }\n";
    buyers_config(n, all_eligible, controls)
}

fn buyers_config(n: usize, all_eligible: bool, controls: &str) -> Config {
    let mut toml = String::from(
        "[[publishers]]\nid = \"pub1\"\nkey_sha256 = \"0000000000000000000000000000000000000000000000000000000000000001\"\n",
    );
    for i in 0..n {
        let states = if all_eligible || i % 2 == 0 {
            format!("[\"WA\", \"{}\", \"{}\"]", STATES[i % 8], STATES[(i + 3) % 8])
        } else {
            format!("[\"{}\", \"{}\"]", STATES[1 + i % 7], STATES[1 + (i + 2) % 7])
        };
        let rules =
            if !all_eligible && i % 4 == 1 { "attributes = { credit_tier = [\"good\", \"excellent\"] }\n" } else { "" };
        let zips = if !all_eligible && i % 10 == 3 { "zips = [\"980\", \"981\"]\n" } else { "" };
        toml.push_str(&format!(
            "[[buyers]]\nid = \"b{i}\"\nping_url = \"http://127.0.0.1:9/b{i}/ping\"\npost_url = \"http://127.0.0.1:9/b{i}/post\"\nverticals = [\"auto_insurance\"]\nstates = {states}\n{rules}{zips}{controls}"
        ));
    }
    Config::from_toml(&toml).expect("bench config is valid")
}

/// Buyers that answer at once: every ping with a bid whose price depends on the buyer, every
/// post with an acceptance.
pub type InstantBuyers = MemoryTransport<fn(&Exchange) -> Reply>;

/// [`InstantBuyers`].
pub fn instant_buyers() -> InstantBuyers {
    MemoryTransport::new(instant_answer)
}

fn instant_answer(exchange: &Exchange) -> Reply {
    let body = match exchange.kind {
        ExchangeKind::Ping => {
            let cents = 500 + exchange.endpoint.buyer_id.bytes().map(usize::from).sum::<usize>();
            Bytes::from(format!(
                r#"{{"bid":true,"price":"{}.{:02}","bid_id":"b-{}"}}"#,
                cents / 100,
                cents % 100,
                exchange.message_id
            ))
        }
        ExchangeKind::Post => Bytes::from_static(br#"{"accepted":true,"buyer_lead_id":"x"}"#),
    };
    Reply { status: 200, body }
}
