//! `lead(body)`: the DESIGN.md example is valid and normalized; every bad input is refused with
//! a stable code and the dotted path of the field at fault; nothing panics.

use super::*;
use proptest::prelude::*;
use serde_json::json;

/// The example lead of DESIGN.md's "Contract v1".
fn example() -> Value {
    json!({
        "vertical": "auto_insurance",
        "attributes": {"zip": "98004", "state": "WA", "credit_tier": "good", "age": 42},
        "contact": {"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com",
                    "phone": "+12065550100", "address": "1 Main St", "city": "Bellevue"},
        "consent": {"trustedform_cert_url": "https://cert.trustedform.com/abc", "jornaya_leadid": "...",
                    "ip": "203.0.113.9", "consent_text": "...", "captured_at": "2026-11-23T12:00:00Z"},
        "source": {"sub_id": "s1", "utm": {"utm_source": "google"}},
        "test": false
    })
}

/// The example with the value at `path` (`contact.email`) replaced, or removed when `None`.
fn edited(path: &str, value: Option<Value>) -> Vec<u8> {
    let mut lead = example();
    let (parent, key) = match path.rsplit_once('.') {
        Some((parent, key)) => (format!("/{}", parent.replace('.', "/")), key),
        None => (String::new(), path),
    };
    let Some(Value::Object(map)) = lead.pointer_mut(&parent) else { panic!("no object at {parent}") };
    match value {
        Some(value) => map.insert(key.to_owned(), value),
        None => map.remove(key),
    };
    serde_json::to_vec(&lead).expect("serializable")
}

fn set(path: &str, value: Value) -> Vec<u8> {
    edited(path, Some(value))
}

fn without(path: &str) -> Vec<u8> {
    edited(path, None)
}

fn valid(body: &[u8]) -> Lead {
    match lead(body) {
        Ok(lead) => lead,
        Err(e) => panic!("lead should be valid, got {e:?}\n{}", String::from_utf8_lossy(body)),
    }
}

fn refused(body: &[u8]) -> ApiError {
    match lead(body) {
        Ok(lead) => panic!("lead should be refused, got {lead:?}\n{}", String::from_utf8_lossy(body)),
        Err(e) => e,
    }
}

fn number(value: Value) -> AttrValue {
    match value {
        Value::Number(n) => AttrValue::Number(n),
        other => panic!("not a number: {other}"),
    }
}

#[test]
fn design_example_is_valid() {
    let body = serde_json::to_vec(&example()).expect("serializable");
    let lead = valid(&body);
    assert_eq!(&*lead.vertical, "auto_insurance");
    assert_eq!(lead.attributes.zip, Zip::parse("98004").expect("zip"));
    assert_eq!(lead.attributes.state.code(), "WA");
    assert_eq!(
        lead.attributes.extra,
        vec![("age".into(), number(json!(42))), ("credit_tier".into(), AttrValue::Text("good".into()))]
    );
    assert_eq!(&*lead.contact.first_name, "Jane");
    assert_eq!(&*lead.contact.last_name, "Smith");
    assert_eq!(&*lead.contact.email, "jane@example.com");
    assert_eq!(&*lead.contact.phone, "+12065550100");
    assert_eq!(lead.contact.address.as_deref(), Some("1 Main St"));
    assert_eq!(lead.contact.city.as_deref(), Some("Bellevue"));
    let consent = lead.consent.as_ref().expect("consent");
    assert_eq!(consent.trustedform_cert_url.as_deref(), Some("https://cert.trustedform.com/abc"));
    assert_eq!(consent.jornaya_leadid.as_deref(), Some("..."));
    assert_eq!(consent.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(consent.consent_text.as_deref(), Some("..."));
    assert_eq!(consent.captured_at.as_deref(), Some("2026-11-23T12:00:00Z"));
    let source = lead.source.as_ref().expect("source");
    assert_eq!(source.sub_id.as_deref(), Some("s1"));
    assert_eq!(source.utm.get("utm_source").map(String::as_str), Some("google"));
    assert!(!lead.test);
    // What a ping would carry: `age` stays the number 42, not 42.0 or "42".
    let attributes = serde_json::to_value(&lead.attributes).expect("serializable");
    assert_eq!(attributes, json!({"zip": "98004", "state": "WA", "age": 42, "credit_tier": "good"}));
    assert_eq!(serde_json::to_string(&lead.attributes).expect("ser").matches("\"age\":42,").count(), 1);
}

#[test]
fn fields_are_normalized() {
    let body = json!({
        "vertical": "  auto_insurance ",
        "attributes": {"zip": "98004-1234", "state": "Washington", "zeta": "  last  ", "age": 42,
                       "credit_tier": "good", "homeowner": true, "income": 55000.5, "skipped": null},
        "contact": {"first_name": "  Jane ", "last_name": "Smith\t", "email": "  Jane.Doe+x@EXAMPLE.Com ",
                    "phone": "(206) 555-0100"},
        "consent": {"ip": " 2001:DB8::1 ", "captured_at": "2026-11-23T14:00:00+02:00",
                    "trustedform_cert_url": " https://cert.trustedform.com/abc "},
        "test": true
    });
    let lead = valid(&serde_json::to_vec(&body).expect("serializable"));
    assert_eq!(&*lead.vertical, "auto_insurance");
    assert_eq!(lead.attributes.zip.zip5(), 98004);
    assert_eq!(lead.attributes.zip.plus4(), Some(1234), "ZIP+4 is accepted and kept");
    assert_eq!(lead.attributes.state.code(), "WA");
    let names: Vec<&str> = lead.attributes.extra.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(names, ["age", "credit_tier", "homeowner", "income", "zeta"], "sorted; null dropped");
    assert_eq!(lead.attributes.get("age"), Some(&number(json!(42))));
    assert_eq!(lead.attributes.get("income"), Some(&number(json!(55000.5))));
    assert_eq!(lead.attributes.get("homeowner"), Some(&AttrValue::Bool(true)));
    assert_eq!(lead.attributes.get("zeta"), Some(&AttrValue::Text("last".into())));
    assert_eq!(lead.attributes.get("skipped"), None);
    assert_eq!(&*lead.contact.first_name, "Jane");
    assert_eq!(&*lead.contact.last_name, "Smith");
    assert_eq!(&*lead.contact.email, "Jane.Doe+x@example.com", "domain lowercased, local part kept");
    assert_eq!(&*lead.contact.phone, "+12065550100", "E.164");
    let consent = lead.consent.as_ref().expect("consent");
    assert_eq!(consent.ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(consent.captured_at.as_deref(), Some("2026-11-23T14:00:00+02:00"));
    assert_eq!(consent.trustedform_cert_url.as_deref(), Some("https://cert.trustedform.com/abc"));
    assert!(lead.source.is_none());
    assert!(lead.test);
}

#[test]
fn optional_parts_may_be_left_out() {
    let body = json!({
        "vertical": "solar",
        "attributes": {"zip": "02139", "state": "ma"},
        "contact": {"first_name": "A", "last_name": "B", "email": "a@b.co", "phone": "617-555-0123"}
    });
    let lead = valid(&serde_json::to_vec(&body).expect("serializable"));
    assert_eq!(lead.attributes.zip.to_string(), "02139");
    assert_eq!(lead.attributes.state.code(), "MA");
    assert!(lead.attributes.extra.is_empty());
    assert!(lead.consent.is_none() && lead.source.is_none() && !lead.test);
    assert!(lead.contact.address.is_none() && lead.contact.city.is_none());
    assert_eq!(&*lead.contact.phone, "+16175550123");
}

#[test]
fn whitespace_around_the_body_is_fine() {
    let mut body = b" \r\n\t".to_vec();
    body.extend(serde_json::to_vec(&example()).expect("serializable"));
    body.extend(b"\n\n ");
    valid(&body);
}

#[test]
fn bad_inputs_name_their_code_and_field() {
    let long = "x".repeat(257);
    let mut many = serde_json::Map::new();
    many.insert("zip".into(), json!("98004"));
    many.insert("state".into(), json!("WA"));
    for i in 0..65 {
        many.insert(format!("a{i}"), json!(i));
    }
    let utm: serde_json::Map<String, Value> = (0..21).map(|i| (format!("utm_{i}"), json!("x"))).collect();
    let mut trailing = serde_json::to_vec(&example()).expect("serializable");
    trailing.extend(b" x");
    let mut two = serde_json::to_vec(&example()).expect("serializable");
    two.extend(b"{}");
    let example_array = serde_json::to_vec(&json!([
        "auto_insurance",
        {"zip": "98004", "state": "WA"},
        {"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com", "phone": "+12065550100"}
    ]))
    .expect("serializable");

    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        // The body as a whole.
        ("empty body", b"".to_vec(), "invalid_json", None),
        ("blank body", b" \n\t ".to_vec(), "invalid_json", None),
        ("malformed JSON", br#"{"vertical": "#.to_vec(), "invalid_json", None),
        ("malformed JSON: single quotes", b"{'vertical': 'x'}".to_vec(), "invalid_json", None),
        ("malformed JSON: trailing comma", br#"{"vertical": "x",}"#.to_vec(), "invalid_json", None),
        ("trailing garbage", trailing, "invalid_json", None),
        ("two objects", two, "invalid_json", None),
        ("not UTF-8", b"{\"vertical\": \"\xff\xfe\"}".to_vec(), "invalid_json", None),
        ("top-level array", b"[]".to_vec(), "invalid_type", None),
        ("top-level array shaped like a lead", example_array, "invalid_type", None),
        ("top-level string", br#""lead""#.to_vec(), "invalid_type", None),
        ("top-level number", b"42".to_vec(), "invalid_type", None),
        ("top-level null", b"null".to_vec(), "invalid_type", None),
        // Shape.
        ("missing vertical", without("vertical"), "missing_field", Some("vertical")),
        ("missing attributes", without("attributes"), "missing_field", Some("attributes")),
        ("missing contact", without("contact"), "missing_field", Some("contact")),
        ("missing contact.email", without("contact.email"), "missing_field", Some("contact.email")),
        ("missing contact.phone", without("contact.phone"), "missing_field", Some("contact.phone")),
        ("unknown top-level field", set("price", json!("12.50")), "unknown_field", Some("price")),
        ("unknown contact field", set("contact.fax", json!("x")), "unknown_field", Some("contact.fax")),
        (
            "unknown consent field",
            set("consent.ip_address", json!("1.2.3.4")),
            "unknown_field",
            Some("consent.ip_address"),
        ),
        ("unknown source field", set("source.campaign", json!("x")), "unknown_field", Some("source.campaign")),
        ("wrong type: test", set("test", json!("yes")), "invalid_type", Some("test")),
        ("wrong type: vertical", set("vertical", json!(7)), "invalid_type", Some("vertical")),
        ("wrong type: attributes", set("attributes", json!(["98004"])), "invalid_type", Some("attributes")),
        (
            "wrong type: contact.phone",
            set("contact.phone", json!(2065550100u64)),
            "invalid_type",
            Some("contact.phone"),
        ),
        (
            "wrong type: utm value",
            set("source.utm", json!({"utm_source": 1})),
            "invalid_type",
            Some("source.utm.utm_source"),
        ),
        // Vertical.
        ("bad vertical", set("vertical", json!("Auto Insurance")), "invalid_vertical", Some("vertical")),
        ("empty vertical", set("vertical", json!(" ")), "invalid_vertical", Some("vertical")),
        ("long vertical", set("vertical", json!("a".repeat(65))), "invalid_vertical", Some("vertical")),
        // ZIP and state.
        ("missing zip", without("attributes.zip"), "missing_field", Some("attributes.zip")),
        ("null zip", set("attributes.zip", Value::Null), "missing_field", Some("attributes.zip")),
        ("bad zip", set("attributes.zip", json!("9800")), "invalid_zip", Some("attributes.zip")),
        ("zero zip", set("attributes.zip", json!("00000")), "invalid_zip", Some("attributes.zip")),
        ("zip with letters", set("attributes.zip", json!("98OO4")), "invalid_zip", Some("attributes.zip")),
        ("zip as a number", set("attributes.zip", json!(98004)), "invalid_type", Some("attributes.zip")),
        ("missing state", without("attributes.state"), "missing_field", Some("attributes.state")),
        ("bad state", set("attributes.state", json!("XX")), "invalid_state", Some("attributes.state")),
        ("state as a bool", set("attributes.state", json!(true)), "invalid_type", Some("attributes.state")),
        // Contact.
        ("bad email", set("contact.email", json!("jane@")), "invalid_email", Some("contact.email")),
        ("email without @", set("contact.email", json!("jane.example.com")), "invalid_email", Some("contact.email")),
        ("empty email", set("contact.email", json!("")), "invalid_email", Some("contact.email")),
        ("bad phone", set("contact.phone", json!("+1 911 555 0100")), "invalid_phone", Some("contact.phone")),
        ("short phone", set("contact.phone", json!("555-0100")), "invalid_phone", Some("contact.phone")),
        ("phone with letters", set("contact.phone", json!("206-555-CALL")), "invalid_phone", Some("contact.phone")),
        ("empty first name", set("contact.first_name", json!("")), "invalid_name", Some("contact.first_name")),
        ("blank last name", set("contact.last_name", json!("  \t")), "invalid_name", Some("contact.last_name")),
        (
            "long first name",
            set("contact.first_name", json!("J".repeat(101))),
            "invalid_name",
            Some("contact.first_name"),
        ),
        (
            "control char in name",
            set("contact.last_name", json!("Sm\u{0}ith")),
            "invalid_name",
            Some("contact.last_name"),
        ),
        ("long city", set("contact.city", json!("c".repeat(101))), "invalid_field", Some("contact.city")),
        ("long address", set("contact.address", json!("a".repeat(513))), "invalid_field", Some("contact.address")),
        // Attributes.
        (
            "email in an attribute",
            set("attributes.referrer", json!("jane@example.com")),
            "pii_in_attributes",
            Some("attributes.referrer"),
        ),
        (
            "phone in an attribute",
            set("attributes.callback", json!("(206) 555-0100")),
            "pii_in_attributes",
            Some("attributes.callback"),
        ),
        (
            "E.164 phone in an attribute",
            set("attributes.note", json!("+12065550100")),
            "pii_in_attributes",
            Some("attributes.note"),
        ),
        (
            "foreign phone in an attribute",
            set("attributes.note", json!("+44 20 7946 0958")),
            "pii_in_attributes",
            Some("attributes.note"),
        ),
        (
            "phone as a number",
            set("attributes.callback", json!(2065550100u64)),
            "pii_in_attributes",
            Some("attributes.callback"),
        ),
        ("attribute named email", set("attributes.email", json!("yes")), "pii_in_attributes", Some("attributes.email")),
        ("attribute named phone", set("attributes.phone", json!(true)), "pii_in_attributes", Some("attributes.phone")),
        (
            "attribute named first_name",
            set("attributes.first_name", json!("Jane")),
            "pii_in_attributes",
            Some("attributes.first_name"),
        ),
        ("attribute named ssn", set("attributes.ssn", json!(1)), "pii_in_attributes", Some("attributes.ssn")),
        (
            "nested attribute object",
            set("attributes.vehicle", json!({"make": "Ford"})),
            "invalid_attribute",
            Some("attributes.vehicle"),
        ),
        ("attribute array", set("attributes.tiers", json!(["a"])), "invalid_attribute", Some("attributes.tiers")),
        (
            "attribute name with capitals",
            set("attributes.CreditTier", json!("good")),
            "invalid_attribute",
            Some("attributes.CreditTier"),
        ),
        (
            "attribute name with a space",
            set("attributes.credit tier", json!("good")),
            "invalid_attribute",
            Some("attributes.credit tier"),
        ),
        ("empty attribute name", set("attributes.", json!("x")), "invalid_attribute", Some("attributes.")),
        ("long attribute text", set("attributes.note", json!(long)), "invalid_attribute", Some("attributes.note")),
        (
            "control char in attribute",
            set("attributes.note", json!("a\u{7}b")),
            "invalid_attribute",
            Some("attributes.note"),
        ),
        ("too many attributes", set("attributes", Value::Object(many)), "invalid_attribute", Some("attributes")),
        // Consent and source.
        ("bad consent ip", set("consent.ip", json!("203.0.113.999")), "invalid_ip", Some("consent.ip")),
        ("consent ip as a name", set("consent.ip", json!("localhost")), "invalid_ip", Some("consent.ip")),
        (
            "bad captured_at",
            set("consent.captured_at", json!("yesterday")),
            "invalid_timestamp",
            Some("consent.captured_at"),
        ),
        (
            "captured_at without zone",
            set("consent.captured_at", json!("2026-11-23T12:00:00")),
            "invalid_timestamp",
            Some("consent.captured_at"),
        ),
        (
            "captured_at bad month",
            set("consent.captured_at", json!("2026-13-23T12:00:00Z")),
            "invalid_timestamp",
            Some("consent.captured_at"),
        ),
        (
            "http trustedform URL",
            set("consent.trustedform_cert_url", json!("http://cert.trustedform.com/abc")),
            "invalid_url",
            Some("consent.trustedform_cert_url"),
        ),
        (
            "bare https trustedform URL",
            set("consent.trustedform_cert_url", json!("https://")),
            "invalid_url",
            Some("consent.trustedform_cert_url"),
        ),
        (
            "trustedform not a URL",
            set("consent.trustedform_cert_url", json!("abc")),
            "invalid_url",
            Some("consent.trustedform_cert_url"),
        ),
        (
            "control char in consent text",
            set("consent.consent_text", json!("I agree\u{0}")),
            "invalid_field",
            Some("consent.consent_text"),
        ),
        (
            "long consent text",
            set("consent.consent_text", json!("y".repeat(8193))),
            "invalid_field",
            Some("consent.consent_text"),
        ),
        ("long sub_id", set("source.sub_id", json!("s".repeat(101))), "invalid_field", Some("source.sub_id")),
        ("too many utm tags", set("source.utm", Value::Object(utm)), "invalid_field", Some("source.utm")),
        ("empty utm tag name", set("source.utm", json!({"": "x"})), "invalid_field", Some("source.utm")),
    ];
    let mut failures = Vec::new();
    for (name, body, code, field) in &cases {
        match lead(body) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) => {
                if e.code != *code || e.field.as_deref() != *field {
                    failures.push(format!("{name}: got code {:?} field {:?} ({})", e.code, e.field, e.message));
                }
                if e.status != http::StatusCode::BAD_REQUEST || e.message.is_empty() || e.retry_after.is_some() {
                    failures.push(format!("{name}: bad status, message or retry-after: {e:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn valid_edge_values_are_accepted() {
    let ok = [
        set("attributes.age", json!(9_999_999_999u64)), // not a phone: area code 999
        set("attributes.income", json!(-3.5)),
        set("attributes.note", json!("a".repeat(256))),
        set("attributes.vin", json!("1HGCM82633A004352")),
        set("attributes.skipped", Value::Null),
        set("contact.first_name", json!("J".repeat(100))),
        set("contact.email", json!("o'brien+tag@mail.example.co.uk")),
        set("contact.phone", json!("+44 20 7946 0958")),
        set("consent.ip", json!("::1")),
        set("consent.consent_text", json!("line one\nline two\ttabbed\r\n")),
        set("consent", json!({})),
        set("source", json!({})),
        set("attributes.state", json!("district of columbia")),
        set("attributes.zip", json!("020394307")),
    ];
    for body in ok {
        valid(&body);
    }
}

#[test]
fn the_first_fault_in_document_order_wins() {
    // Vertical is checked before attributes, attributes before contact.
    let mut body = example();
    body["vertical"] = json!("BAD");
    body["attributes"]["state"] = json!("XX");
    body["contact"]["email"] = json!("nope");
    let e = refused(&serde_json::to_vec(&body).expect("serializable"));
    assert_eq!((e.code, e.field.as_deref()), ("invalid_vertical", Some("vertical")));
    body["vertical"] = json!("auto_insurance");
    let e = refused(&serde_json::to_vec(&body).expect("serializable"));
    assert_eq!((e.code, e.field.as_deref()), ("invalid_state", Some("attributes.state")));
}

#[test]
fn error_answer_carries_code_and_field() {
    let e = refused(&set("contact.phone", json!("+1 911 555 0100")));
    let response = e.into_response();
    assert_eq!(response.status(), http::StatusCode::BAD_REQUEST);
    let Some(content_type) = response.headers().get(http::header::CONTENT_TYPE) else { panic!("no content type") };
    assert_eq!(content_type, "application/json");
}

#[test]
fn nested_objects_given_as_arrays_are_refused() {
    let contact = json!(["Jane", "Smith", "jane@example.com", "+12065550100"]);
    let e = refused(&set("contact", contact));
    assert_eq!((e.code, e.field.as_deref()), ("invalid_type", Some("contact")));
    let e = refused(&set("consent", json!(["https://cert.trustedform.com/abc"])));
    assert_eq!((e.code, e.field.as_deref()), ("invalid_type", Some("consent")));
}

#[test]
fn phone_numbers_written_as_floats_are_refused() {
    for number in ["2065550100.0", "2.0655501e9", "12065550100.0"] {
        let value: Value = serde_json::from_str(number).expect("a JSON number");
        let e = refused(&set("attributes.callback", value));
        assert_eq!((e.code, e.field.as_deref()), ("pii_in_attributes", Some("attributes.callback")), "{number}");
    }
}

#[test]
fn contact_data_inside_attribute_text_is_refused() {
    for text in ["call 206-555-0100", "mail jane@example.com", "jane@example.com / 2065550100"] {
        let e = refused(&set("attributes.note", json!(text)));
        assert_eq!((e.code, e.field.as_deref()), ("pii_in_attributes", Some("attributes.note")), "{text}");
    }
}

/// Any JSON value, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,20}".prop_map(Value::String),
        "[0-9 ()+.-]{0,16}".prop_map(Value::String),
        "[a-z]{1,6}@[a-z]{1,6}\\.[a-z]{2,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const PATHS: [&str; 16] = [
    "vertical",
    "test",
    "attributes",
    "attributes.zip",
    "attributes.state",
    "attributes.age",
    "attributes.extra_field",
    "contact",
    "contact.email",
    "contact.phone",
    "contact.first_name",
    "consent",
    "consent.ip",
    "consent.captured_at",
    "source",
    "source.utm",
];

/// An accepted lead holds only normalized values.
fn check_normalized(lead: &Lead) -> Result<(), TestCaseError> {
    prop_assert!(is_valid_vertical(&lead.vertical));
    prop_assert!(lead.contact.phone.starts_with('+'));
    prop_assert!(lead.contact.phone[1..].bytes().all(|b| b.is_ascii_digit()));
    let email = normalize_email(&lead.contact.email);
    prop_assert_eq!(email.as_deref(), Ok(&*lead.contact.email));
    prop_assert!(!lead.contact.first_name.trim().is_empty() && !lead.contact.last_name.trim().is_empty());
    let names: Vec<&str> = lead.attributes.extra.iter().map(|(k, _)| k.as_ref()).collect();
    prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "attributes not sorted: {:?}", names);
    for (name, value) in &lead.attributes.extra {
        prop_assert!(!PII_ATTRIBUTE_NAMES.contains(&name.as_ref()) && &**name != "zip" && &**name != "state");
        if let AttrValue::Text(text) = value {
            prop_assert!(!looks_like_contact(text), "contact data in attribute {}: {}", name, text);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = lead(&body) {
            prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
            prop_assert!(!e.code.is_empty() && !e.message.is_empty());
        }
    }

    #[test]
    fn json_ish_strings_never_panic(body in r#"[{}\[\]",:0-9a-z_@+. \\-]{0,200}"#) {
        if let Err(e) = lead(body.as_bytes()) {
            prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn lead_shaped_prefixes_never_panic(cut in 0usize..400, garbage in "\\PC{0,8}") {
        // Truncated or corrupted copies of a valid lead.
        let full = serde_json::to_string(&example()).expect("serializable");
        let cut = full.char_indices().map(|(i, _)| i).find(|&i| i >= cut.min(full.len())).unwrap_or(full.len());
        let body = format!("{}{garbage}", &full[..cut]);
        let result = lead(body.as_bytes());
        if cut < full.len() && garbage.is_empty() {
            prop_assert!(result.is_err(), "a truncated lead must be refused: {}", body);
        }
    }

    #[test]
    fn any_value_in_any_field_never_panics(path in prop::sample::select(&PATHS[..]), value in any_json()) {
        let body = set(path, value);
        match lead(&body) {
            Ok(lead) => check_normalized(&lead)?,
            Err(e) => {
                prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
                // Every fault inside a lead object is pinned to a field.
                prop_assert!(e.field.is_some(), "no field for {:?}", e);
            }
        }
    }
}
