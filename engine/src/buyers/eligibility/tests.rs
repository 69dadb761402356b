//! `Eligibility::select`: who gets pinged for a lead. Buyers come from real config text (so the
//! filters are exactly what an operator would write); leads are built by hand.

use super::*;

use crate::config::Config;
use crate::protocol::geo::Zip;
use crate::protocol::lead::{Contact, Lead};
use proptest::prelude::*;

/// The buyers of a config made of `[[buyers]]` tables.
fn buyers(text: &str) -> Vec<BuyerConfig> {
    match Config::from_toml(text) {
        Ok(config) => config.buyers,
        Err(e) => panic!("test config should load: {e}\n{text}"),
    }
}

/// One `[[buyers]]` table for `auto_insurance` with `extra` lines added.
fn buyer(id: &str, extra: &str) -> String {
    format!(
        "[[buyers]]\nid = \"{id}\"\nping_url = \"http://127.0.0.1:9001/{id}/ping\"\n\
         post_url = \"http://127.0.0.1:9001/{id}/post\"\nverticals = [\"auto_insurance\"]\n{extra}\n"
    )
}

/// The index over `tables` (several `buyer(..)` strings).
fn build(tables: &[String]) -> Eligibility {
    Eligibility::build(&buyers(&tables.concat()))
}

fn state(code: &str) -> State {
    State::parse(code).unwrap_or_else(|| panic!("bad test state {code}"))
}

fn zip(text: &str) -> Zip {
    Zip::parse(text).unwrap_or_else(|| panic!("bad test zip {text}"))
}

fn text(value: &str) -> AttrValue {
    AttrValue::Text(value.into())
}

fn num(value: serde_json::Value) -> AttrValue {
    match value {
        serde_json::Value::Number(n) => AttrValue::Number(n),
        other => panic!("not a number: {other}"),
    }
}

/// A normalized lead; `extra` need not be sorted.
fn lead(vertical: &str, zip_text: &str, state_code: &str, extra: &[(&str, AttrValue)]) -> Lead {
    let mut extra: Vec<(Box<str>, AttrValue)> = extra.iter().map(|(k, v)| ((*k).into(), v.clone())).collect();
    extra.sort_by(|a, b| a.0.cmp(&b.0));
    Lead {
        vertical: vertical.into(),
        attributes: Attributes { zip: zip(zip_text), state: state(state_code), extra },
        contact: Contact {
            first_name: "Jane".into(),
            last_name: "Smith".into(),
            email: "jane@example.com".into(),
            phone: "+12065550100".into(),
            address: None,
            city: None,
        },
        consent: None,
        source: None,
        test: false,
    }
}

fn auto(zip_text: &str, state_code: &str, extra: &[(&str, AttrValue)]) -> Lead {
    lead("auto_insurance", zip_text, state_code, extra)
}

fn selected(index: &Eligibility, lead: &Lead) -> Vec<u32> {
    let mut out = Vec::new();
    index.select(lead.profile(), &mut out);
    out
}

#[test]
fn no_buyers_selects_nobody() {
    let index = Eligibility::build(&[]);
    assert!(selected(&index, &auto("98004", "WA", &[])).is_empty());
}

#[test]
fn vertical_must_match() {
    let index = build(&[
        buyer("auto", ""),
        buyer("home", "").replace(r#"["auto_insurance"]"#, r#"["home_insurance"]"#),
        buyer("both", "").replace(r#"["auto_insurance"]"#, r#"["home_insurance", "auto_insurance"]"#),
    ]);
    assert_eq!(selected(&index, &auto("98004", "WA", &[])), [0, 2]);
    assert_eq!(selected(&index, &lead("home_insurance", "98004", "WA", &[])), [1, 2]);
    assert!(selected(&index, &lead("life_insurance", "98004", "WA", &[])).is_empty());
    // Vertical names are compared exactly (intake normalizes them to lowercase).
    assert!(selected(&index, &lead("auto", "98004", "WA", &[])).is_empty());
    assert!(selected(&index, &lead("auto_insurance_x", "98004", "WA", &[])).is_empty());
}

#[test]
fn states_filter_and_empty_means_all() {
    let index =
        build(&[buyer("all", ""), buyer("west", r#"states = ["WA", "Oregon"]"#), buyer("ma", r#"states = ["ma"]"#)]);
    assert_eq!(selected(&index, &auto("98004", "WA", &[])), [0, 1]);
    assert_eq!(selected(&index, &auto("97201", "OR", &[])), [0, 1]);
    assert_eq!(selected(&index, &auto("02139", "MA", &[])), [0, 2]);
    assert_eq!(selected(&index, &auto("10001", "NY", &[])), [0]);
    // Every state, DC and territory reaches a buyer without a states filter.
    for s in State::all() {
        let mut l = auto("98004", "WA", &[]);
        l.attributes.state = s;
        assert!(selected(&index, &l).contains(&0), "{}", s.code());
    }
}

#[test]
fn zip_exact_and_prefix() {
    let index = build(&[
        buyer("exact", r#"zips = ["98004"]"#),
        buyer("prefix", r#"zips = ["980"]"#),
        buyer("star", r#"zips = ["980*"]"#),
        buyer("boston", r#"zips = ["021"]"#),
        buyer("boston_exact", r#"zips = ["02139"]"#),
        buyer("one_digit", r#"zips = ["9"]"#),
        buyer("four_digit", r#"zips = ["0213*"]"#),
        buyer("several", r#"zips = ["10001", "981", "02139"]"#),
        buyer("any", ""),
    ]);
    assert_eq!(selected(&index, &auto("98004", "WA", &[])), [0, 1, 2, 5, 8]);
    // ZIP+4 is matched on its five digits.
    assert_eq!(selected(&index, &auto("98004-1234", "WA", &[])), [0, 1, 2, 5, 8]);
    assert_eq!(selected(&index, &auto("98005", "WA", &[])), [1, 2, 5, 8]);
    assert_eq!(selected(&index, &auto("98101", "WA", &[])), [5, 7, 8]);
    assert_eq!(selected(&index, &auto("99999", "AK", &[])), [5, 8]);
    assert_eq!(selected(&index, &auto("02139", "MA", &[])), [3, 4, 6, 7, 8]);
    assert_eq!(selected(&index, &auto("02101", "MA", &[])), [3, 8]);
    assert_eq!(selected(&index, &auto("10001", "NY", &[])), [7, 8]);
    // Leading zeros matter: "021" is not "21", "213" or "0021".
    assert_eq!(selected(&index, &auto("21390", "MD", &[])), [8]);
    assert_eq!(selected(&index, &auto("00213", "MA", &[])), [8]);
    assert_eq!(selected(&index, &auto("21001", "MD", &[])), [8]);
    assert_eq!(selected(&index, &auto("89800", "NV", &[])), [8]);
}

#[test]
fn zip_prefix_with_leading_zeros_only() {
    let index = build(&[buyer("zero", r#"zips = ["0"]"#), buyer("double_zero", r#"zips = ["005*"]"#)]);
    assert_eq!(selected(&index, &auto("00501", "NY", &[])), [0, 1]);
    assert_eq!(selected(&index, &auto("09999", "PR", &[])), [0]);
    assert!(selected(&index, &auto("10000", "NY", &[])).is_empty());
    assert!(selected(&index, &auto("50100", "IA", &[])).is_empty());
}

#[test]
fn attribute_equals_text_is_case_insensitive() {
    let index = build(&[buyer("good", r#"attributes = { credit_tier = "Good" }"#)]);
    for value in ["good", "GOOD", "Good", "gOoD"] {
        assert_eq!(selected(&index, &auto("98004", "WA", &[("credit_tier", text(value))])), [0], "{value}");
    }
    for value in ["excellent", "goo", "good!", "very good"] {
        assert!(selected(&index, &auto("98004", "WA", &[("credit_tier", text(value))])).is_empty(), "{value}");
    }
    assert!(selected(&index, &auto("98004", "WA", &[("credit_tier", AttrValue::Bool(true))])).is_empty());
    assert!(selected(&index, &auto("98004", "WA", &[("credit_tier", num(serde_json::json!(1)))])).is_empty());
    // Missing attribute: not eligible.
    assert!(selected(&index, &auto("98004", "WA", &[])).is_empty());
    assert!(selected(&index, &auto("98004", "WA", &[("credit", text("good"))])).is_empty());
}

#[test]
fn attribute_equals_number() {
    let index = build(&[buyer("age42", "attributes = { age = 42 }"), buyer("half", "attributes = { score = 1.5 }")]);
    let age = |v: AttrValue| selected(&index, &auto("98004", "WA", &[("age", v)]));
    assert_eq!(age(num(serde_json::json!(42))), [0]);
    assert_eq!(age(num(serde_json::json!(42.0))), [0]);
    assert_eq!(age(text("42")), [0], "publishers send numbers as text too");
    assert_eq!(age(text(" 42.0 ")), [0]);
    assert!(age(num(serde_json::json!(43))).is_empty());
    assert!(age(num(serde_json::json!(41.999))).is_empty());
    assert!(age(text("forty-two")).is_empty());
    assert!(age(AttrValue::Bool(true)).is_empty());
    let score = |v: AttrValue| selected(&index, &auto("98004", "WA", &[("score", v)]));
    assert_eq!(score(num(serde_json::json!(1.5))), [1]);
    assert!(score(num(serde_json::json!(1))).is_empty());
}

#[test]
fn attribute_equals_bool() {
    let index = build(&[
        buyer("owner", "attributes = { homeowner = true }"),
        buyer("renter", "attributes = { homeowner = false }"),
    ]);
    let owner = |v: AttrValue| selected(&index, &auto("98004", "WA", &[("homeowner", v)]));
    assert_eq!(owner(AttrValue::Bool(true)), [0]);
    assert_eq!(owner(AttrValue::Bool(false)), [1]);
    assert!(owner(text("true")).is_empty(), "text is not a flag");
    assert!(owner(num(serde_json::json!(1))).is_empty(), "a number is not a flag");
}

#[test]
fn attribute_one_of() {
    let index = build(&[buyer("tiers", r#"attributes = { credit_tier = ["good", "EXCELLENT", 7, true] }"#)]);
    let tier = |v: AttrValue| selected(&index, &auto("98004", "WA", &[("credit_tier", v)]));
    assert_eq!(tier(text("good")), [0]);
    assert_eq!(tier(text("excellent")), [0]);
    assert_eq!(tier(num(serde_json::json!(7))), [0]);
    assert_eq!(tier(text("7")), [0]);
    assert_eq!(tier(AttrValue::Bool(true)), [0]);
    assert!(tier(text("fair")).is_empty());
    assert!(tier(num(serde_json::json!(8))).is_empty());
    assert!(tier(AttrValue::Bool(false)).is_empty());
    assert!(selected(&index, &auto("98004", "WA", &[])).is_empty());
}

#[test]
fn attribute_range_is_inclusive_and_numeric() {
    let index = build(&[
        buyer("adults", "attributes = { age = { min = 18, max = 65 } }"),
        buyer("over", "attributes = { age = { min = 40.5 } }"),
        buyer("under", "attributes = { age = { max = 30 } }"),
    ]);
    let age = |v: AttrValue| selected(&index, &auto("98004", "WA", &[("age", v)]));
    assert_eq!(age(num(serde_json::json!(18))), [0, 2], "min is inclusive");
    assert_eq!(age(num(serde_json::json!(65))), [0, 1], "max is inclusive");
    assert_eq!(age(num(serde_json::json!(17))), [2]);
    assert_eq!(age(num(serde_json::json!(17.999))), [2]);
    assert_eq!(age(num(serde_json::json!(66))), [1]);
    assert_eq!(age(num(serde_json::json!(40.5))), [0, 1]);
    assert_eq!(age(num(serde_json::json!(40.4))), [0]);
    assert_eq!(age(num(serde_json::json!(30))), [0, 2]);
    assert_eq!(age(num(serde_json::json!(-5))), [2]);
    assert_eq!(age(text("42")), [0, 1], "text numbers are accepted");
    assert_eq!(age(text(" 18 ")), [0, 2]);
    assert!(age(text("forty")).is_empty());
    assert!(age(text("NaN")).is_empty());
    assert!(age(text("inf")).is_empty());
    assert!(age(text("")).is_empty());
    assert!(age(AttrValue::Bool(true)).is_empty());
    assert!(selected(&index, &auto("98004", "WA", &[])).is_empty(), "missing attribute: not eligible");
    assert!(selected(&index, &auto("98004", "WA", &[("years", num(serde_json::json!(20)))])).is_empty());
}

#[test]
fn every_rule_and_the_zip_must_match() {
    let index = build(&[buyer(
        "picky",
        r#"zips = ["980"]
attributes = { credit_tier = ["good", "excellent"], age = { min = 25 }, homeowner = true }"#,
    )]);
    let all =
        [("credit_tier", text("good")), ("age", num(serde_json::json!(30))), ("homeowner", AttrValue::Bool(true))];
    assert_eq!(selected(&index, &auto("98004", "WA", &all)), [0]);
    assert!(selected(&index, &auto("97004", "OR", &all)).is_empty(), "zip fails");
    for skip in 0..all.len() {
        let partial: Vec<(&str, AttrValue)> =
            all.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, a)| a.clone()).collect();
        assert!(selected(&index, &auto("98004", "WA", &partial)).is_empty(), "without {}", all[skip].0);
    }
    let mut young = all.clone();
    young[1].1 = num(serde_json::json!(24));
    assert!(selected(&index, &auto("98004", "WA", &young)).is_empty());
    // Other attributes the buyer has no rule for do not matter.
    let mut more = all.to_vec();
    more.push(("zz_other", text("x")));
    more.push(("aa_other", AttrValue::Bool(false)));
    assert_eq!(selected(&index, &auto("98004", "WA", &more)), [0]);
}

#[test]
fn disabled_buyers_are_never_selected() {
    let index = build(&[
        buyer("off", "enabled = false"),
        buyer("on", ""),
        buyer("off_filtered", "enabled = false\nzips = [\"980\"]\nattributes = { age = { min = 1 } }"),
        buyer("on_filtered", "zips = [\"980\"]\nattributes = { age = { min = 1 } }"),
    ]);
    // Indexes stay those of the config, disabled buyers included.
    assert_eq!(selected(&index, &auto("98004", "WA", &[("age", num(serde_json::json!(30)))])), [1, 3]);
    assert_eq!(selected(&index, &auto("10001", "NY", &[])), [1]);
    let only_off = build(&[buyer("off", "enabled = false")]);
    for s in State::all() {
        let mut l = auto("98004", "WA", &[]);
        l.attributes.state = s;
        assert!(selected(&only_off, &l).is_empty());
    }
}

#[test]
fn selection_is_in_config_order() {
    let index = build(&[
        buyer("b0", "").replace(r#"["auto_insurance"]"#, r#"["home_insurance", "auto_insurance"]"#),
        buyer("b1", r#"states = ["WA"]"#),
        buyer("b2", "enabled = false"),
        buyer("b3", r#"zips = ["98004"]"#).replace(r#"["auto_insurance"]"#, r#"["life", "auto_insurance"]"#),
        buyer("b4", ""),
        buyer("b5", r#"states = ["OR"]"#),
        buyer("b6", r#"attributes = { age = 42 }"#),
        buyer("b7", r#"states = ["OR", "WA"]"#),
    ]);
    let lead = auto("98004", "WA", &[("age", num(serde_json::json!(42)))]);
    assert_eq!(selected(&index, &lead), [0, 1, 3, 4, 6, 7]);
}

#[test]
fn output_buffer_is_cleared_between_calls() {
    let index = build(&[buyer("wa", r#"states = ["WA"]"#), buyer("or", r#"states = ["OR"]"#)]);
    let mut out = vec![99, 98, 97];
    index.select(auto("98004", "WA", &[]).profile(), &mut out);
    assert_eq!(out, [0]);
    index.select(auto("97201", "OR", &[]).profile(), &mut out);
    assert_eq!(out, [1]);
    index.select(auto("10001", "NY", &[]).profile(), &mut out);
    assert!(out.is_empty(), "no buyer for the state");
    out.push(7);
    index.select(lead("unknown_vertical", "98004", "WA", &[]).profile(), &mut out);
    assert!(out.is_empty(), "unknown vertical must clear too: {out:?}");
}

#[test]
fn a_vertical_listed_twice_is_refused_so_no_buyer_is_pinged_twice() {
    let text = buyer("dup", "").replace(r#"["auto_insurance"]"#, r#"["auto_insurance", "auto_insurance"]"#);
    match crate::config::Config::from_toml(&text) {
        Err(crate::config::ConfigError::Key { key, message }) => {
            assert_eq!(key, "buyers[0].verticals");
            assert!(message.contains("listed twice"), "{message}");
        }
        other => panic!("a duplicate vertical must be refused, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Property: the index agrees with a naive scan of every buyer.
// ---------------------------------------------------------------------------------------------

const VERTICALS: [&str; 3] = ["auto_insurance", "home_insurance", "solar"];
const STATES: [&str; 5] = ["WA", "OR", "CA", "MA", "NY"];
const ZIPS: [&str; 10] = ["98004", "98005", "98101", "97201", "02139", "02101", "00501", "10001", "90210", "99999"];

/// A buyer as the test sees it: plain strings, matched by plain string logic.
#[derive(Debug, Clone)]
struct Spec {
    verticals: Vec<&'static str>,
    states: Vec<&'static str>,
    /// Filters as written in the config: 5 digits, or a prefix of 1-4 digits, maybe with `*`.
    zips: Vec<String>,
    min_age: Option<i64>,
    enabled: bool,
}

#[derive(Debug, Clone)]
struct TestLead {
    vertical: &'static str,
    state: &'static str,
    zip: &'static str,
    age: Option<i64>,
}

fn zip_filter() -> impl Strategy<Value = String> {
    (prop::sample::select(&ZIPS[..]), 1usize..=5, any::<bool>()).prop_map(|(zip, len, star)| {
        let digits = &zip[..len];
        if star && len < 5 { format!("{digits}*") } else { digits.to_owned() }
    })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::subsequence(&VERTICALS[..], 1..=3),
        prop::sample::subsequence(&STATES[..], 0..=3),
        prop::collection::vec(zip_filter(), 0..=3),
        prop::option::weighted(0.3, 0i64..=80),
        prop::bool::weighted(0.85),
    )
        .prop_map(|(verticals, states, zips, min_age, enabled)| Spec { verticals, states, zips, min_age, enabled })
}

fn test_lead() -> impl Strategy<Value = TestLead> {
    (
        prop::sample::select(&["auto_insurance", "home_insurance", "solar", "pets"][..]),
        prop::sample::select(&STATES[..]),
        prop::sample::select(&ZIPS[..]),
        prop::option::of(0i64..=90),
    )
        .prop_map(|(vertical, state, zip, age)| TestLead { vertical, state, zip, age })
}

fn render(specs: &[Spec]) -> String {
    let list = |items: &[&str]| items.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    let mut text = String::new();
    for (i, s) in specs.iter().enumerate() {
        let zips: Vec<&str> = s.zips.iter().map(String::as_str).collect();
        text.push_str(&format!(
            "[[buyers]]\nid = \"b{i}\"\nping_url = \"http://127.0.0.1:9/p\"\npost_url = \"http://127.0.0.1:9/q\"\n\
             verticals = [{}]\nstates = [{}]\nzips = [{}]\nenabled = {}\n",
            list(&s.verticals),
            list(&s.states),
            list(&zips),
            s.enabled
        ));
        if let Some(min) = s.min_age {
            text.push_str(&format!("attributes = {{ age = {{ min = {min} }} }}\n"));
        }
    }
    text
}

/// The reference: every buyer, every filter, string logic, no index.
fn naive(specs: &[Spec], lead: &TestLead) -> Vec<u32> {
    let mut out = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let zip_ok = s.zips.is_empty()
            || s.zips.iter().any(|f| {
                let digits = f.trim_end_matches('*');
                if digits.len() == 5 { lead.zip == digits } else { lead.zip.starts_with(digits) }
            });
        let ok = s.enabled
            && s.verticals.contains(&lead.vertical)
            && (s.states.is_empty() || s.states.contains(&lead.state))
            && zip_ok
            && s.min_age.is_none_or(|min| lead.age.is_some_and(|age| age >= min));
        if ok {
            out.push(i as u32);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn select_agrees_with_a_naive_scan(
        specs in prop::collection::vec(spec(), 0..12),
        leads in prop::collection::vec(test_lead(), 1..12),
    ) {
        let index = Eligibility::build(&buyers(&render(&specs)));
        let mut out = vec![u32::MAX];
        for l in &leads {
            let extra: Vec<(&str, AttrValue)> =
                l.age.map(|a| ("age", num(serde_json::json!(a)))).into_iter().collect();
            index.select(lead(l.vertical, l.zip, l.state, &extra).profile(), &mut out);
            prop_assert_eq!(&out, &naive(&specs, l), "lead {:?}", l);
        }
    }
}
