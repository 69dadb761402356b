//! The mapping as a whole: config in, bodies and verdicts out, errors naming their keys.

use super::*;
use crate::config::Config;
use crate::protocol::bid::{InvalidBid, PriceLimits};
use crate::protocol::lead::Lead;
use crate::protocol::money::Micros;
use crate::protocol::post::PostRejection;

const LIMITS: PriceLimits = PriceLimits { floor: Micros::from_units(1), max: Micros::from_units(500) };

fn mapping(toml_text: &str) -> Result<Mapping, (String, String)> {
    let config: MappingConfig = toml::from_str(toml_text).map_err(|e| ("(toml)".to_owned(), e.to_string()))?;
    Mapping::compile(&config)
}

fn compiled(toml_text: &str) -> Mapping {
    mapping(toml_text).unwrap_or_else(|(key, message)| panic!("{key}: {message}"))
}

fn error(toml_text: &str) -> (String, String) {
    mapping(toml_text).expect_err("the mapping should be refused")
}

fn lead() -> Lead {
    let body = br#"{"vertical": "auto_insurance",
        "attributes": {"zip": "98004", "state": "WA", "credit_tier": "good", "age": 42, "homeowner": true},
        "contact": {"first_name": "Jane", "last_name": "O'Neil & Co", "email": "jane@example.com",
                    "phone": "+12065550100", "address": "1 Main St", "city": "Bellevue"},
        "consent": {"ip": "203.0.113.9", "captured_at": "2026-11-23T12:00:00Z"},
        "test": false}"#;
    crate::api::validate::lead(body).expect("valid lead")
}

fn ping_view(lead: &Lead) -> PingView<'_> {
    PingView { ping_id: "pg_1", tmax_ms: 90, vertical: &lead.vertical, attributes: &lead.attributes, test: lead.test }
}

fn post_view(lead: &Lead) -> PostView<'_> {
    PostView { ping_id: "pg_1", bid_id: Some("B-9"), price: Micros(12_500_000), lead_id: "ld_1", lead }
}

fn text(body: Bytes) -> String {
    String::from_utf8(body.to_vec()).expect("utf-8")
}

#[test]
fn invariant_1_a_ping_mapping_cannot_reach_contact_data() {
    for field in ["contact.phone", "contact.email", "contact.first_name", "consent.ip", "consent.captured_at"] {
        let (key, message) = error(&format!("[ping]\nfields = [{{ from = \"{field}\", to = \"X\" }}]"));
        assert_eq!(key, "ping.fields[0].from", "{field}");
        assert!(message.contains("invariant 1") && message.contains("never goes in a ping"), "{message}");
    }
    // Every field a ping may name, rendered in every encoding: no contact data comes out.
    let lead = lead();
    for format in ["json", "xml", "form"] {
        let every = compiled(&format!(
            r#"format = "{format}"
            [ping]
            fields = [{{ from = "ping_id", to = "a" }}, {{ from = "vertical", to = "b" }}, {{ from = "tmax_ms", to = "c" }},
                      {{ from = "test", to = "d" }}, {{ from = "attributes.zip", to = "e" }},
                      {{ from = "attributes.state", to = "f" }}, {{ from = "attributes.credit_tier", to = "g" }},
                      {{ from = "attributes.age", to = "h" }}, {{ from = "attributes.homeowner", to = "i" }}]"#
        ));
        let body = text(every.ping.as_ref().expect("mapped ping").render(&ping_view(&lead)));
        for pii in ["Jane", "Neil", "jane", "2065550100", "555", "Main", "Bellevue", "203.0.113"] {
            assert!(!body.contains(pii), "{format} ping leaks {pii}: {body}");
        }
        assert!(body.contains("98004") && body.contains("good"), "{body}");
    }
}

#[test]
fn xml_ping_with_formats_and_static_fields() {
    let m = compiled(
        r#"format = "xml"
        xml_root = "PingRequest"
        [ping]
        fields = [
          { from = "attributes.zip", to = "Applicant.ZipCode" },
          { from = "attributes.state", to = "Applicant.State", format = "state_name" },
          { from = "attributes.credit_tier", to = "Credit", format = "upper" },
          { from = "attributes.homeowner", to = "Owner", format = "y_n" },
          { from = "attributes.missing", to = "Missing" },
          { from = "attributes.other", to = "Other", default = "n/a" },
          { value = "ABC&123", to = "AffiliateId" },
        ]"#,
    );
    let lead = lead();
    assert_eq!(
        text(m.ping.as_ref().expect("ping").render(&ping_view(&lead))),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PingRequest><Applicant><ZipCode>98004</ZipCode>\
         <State>Washington</State></Applicant><Credit>GOOD</Credit><Owner>Y</Owner><Other>n/a</Other>\
         <AffiliateId>ABC&amp;123</AffiliateId></PingRequest>"
    );
    assert_eq!(m.content_types().0, "application/xml");
    assert_eq!(m.content_types().1, "application/json", "the post is not mapped: v1");
}

#[test]
fn form_and_json_posts() {
    let fields = r#"fields = [
          { from = "lead_id", to = "LeadId" }, { from = "bid_id", to = "BidId" }, { from = "price", to = "Price" },
          { from = "contact.last_name", to = "LastName" },
          { from = "contact.phone", to = "Phone", format = "phone_paren" },
          { from = "attributes.state", to = "State", format = "state_name" },
          { from = "consent.captured_at", to = "Date", format = "date:%m/%d/%Y" },
          { from = "attributes.age", to = "Age" }, { from = "test", to = "Test", format = "1_0" },
        ]"#;
    let lead = lead();
    let form = compiled(&format!("[post]\nformat = \"form\"\n{fields}"));
    assert_eq!(
        text(form.post.as_ref().expect("post").render(&post_view(&lead))),
        "LeadId=ld_1&BidId=B-9&Price=12.50&LastName=O%27Neil+%26+Co&Phone=%28206%29+555-0100&State=Washington\
         &Date=11%2F23%2F2026&Age=42&Test=0"
    );
    assert_eq!(form.content_types().1, "application/x-www-form-urlencoded");
    let json = compiled(&format!("[post]\ncontent_type = \"text/json\"\n{fields}"));
    let body: serde_json::Value =
        serde_json::from_slice(&json.post.as_ref().expect("post").render(&post_view(&lead))).expect("json");
    assert_eq!(body["Phone"], "(206) 555-0100");
    assert_eq!(body["Age"], 42);
    assert_eq!(body["Test"], 0);
    assert_eq!(json.content_types().1, "text/json");
}

#[test]
fn compile_errors_name_their_keys() {
    for (toml_text, want_key, want) in [
        ("[ping]\nfields = [{ from = \"zip\", to = \"Z\" }]", "ping.fields[0].from", "unknown source field `zip`"),
        ("[post]\nfields = [{ from = \"contact.ssn\", to = \"Z\" }]", "post.fields[0].from", "contact.ssn"),
        ("[post]\nfields = [{ to = \"Z\" }]", "post.fields[0].from", "exactly one of `from`"),
        ("[post]\nfields = [{ from = \"lead_id\", value = \"x\", to = \"Z\" }]", "post.fields[0].from", "exactly one"),
        (
            "[post]\nfields = [{ from = \"lead_id\", to = \"Z\", format = \"fancy\" }]",
            "post.fields[0].format",
            "unknown format",
        ),
        (
            "[post]\nfields = [{ from = \"lead_id\", to = \"Z\", format = \"date:%Q\" }]",
            "post.fields[0].format",
            "strftime",
        ),
        (
            "format = \"xml\"\n[post]\nfields = [{ from = \"lead_id\", to = \"Lead Id\" }]",
            "post.fields[0].to",
            "XML element name",
        ),
        (
            "[post]\nfields = [{ from = \"lead_id\", to = \"a.b\" }, { from = \"price\", to = \"a\" }]",
            "post.fields[1].to",
            "clashes with fields[0].to",
        ),
        ("[post]\nfields = []", "post.fields", "at least one"),
        ("xml_root = \"1lead\"", "xml_root", "XML element name"),
        (
            "[ping]\ncontent_type = \"a\\nb\"\nfields = [{ from = \"vertical\", to = \"V\" }]",
            "ping.content_type",
            "header value",
        ),
        ("[bid]\nprice = { regex = \"(unclosed\" }", "bid.price.regex", "regex"),
        ("[bid]\nprice = { json = \"result/price\" }", "bid.price.json", "starts with `/`"),
        ("[bid]\nprice = { json = \"/a~2\" }", "bid.price.json", "~0"),
        ("[bid]\nprice = { xml = \"response//price\" }", "bid.price.xml", "not an XML path"),
        ("[bid]\nprice = { xml = \"a\", json = \"/a\" }", "bid.price", "exactly one of"),
        ("[bid]\nprice = { xml = \"r/p\" }\nbid_id = { json = \"/id\" }", "bid", "one document"),
        ("[accepted]\naccepted = { form = \"\" }", "accepted.accepted.form", "name the form field"),
    ] {
        let (key, message) = error(toml_text);
        assert_eq!(key, want_key, "{toml_text}: {message}");
        assert!(message.contains(want), "{toml_text}: {message}");
    }
}

#[test]
fn config_errors_name_the_buyer_and_the_mapping_key() {
    let config = r#"
[[buyers]]
id = "legacy"
ping_url = "http://127.0.0.1:9001/ping"
post_url = "http://127.0.0.1:9001/post"
verticals = ["auto_insurance"]
[buyers.mapping.ping]
fields = [{ from = "contact.email", to = "Email" }]
"#;
    let error = Config::from_toml(config).expect_err("refused").to_string();
    assert!(
        error.starts_with("config key `buyers[0].mapping.ping.fields[0].from`: `contact.email` is personal data"),
        "{error}"
    );
    let unknown = config.replace("from = \"contact.email\"", "form = \"x\"");
    let error = Config::from_toml(&unknown).expect_err("refused").to_string();
    assert!(error.contains("buyers[0].mapping.ping.fields[0]") && error.contains("unknown field `form`"), "{error}");
}

fn bid_rules(toml_text: &str) -> BidRules {
    compiled(toml_text).bid.expect("bid rules")
}

fn accept_rules(toml_text: &str) -> AcceptRules {
    compiled(toml_text).accepted.expect("accept rules")
}

fn bid(price: i64, bid_id: Option<&str>) -> BidVerdict {
    BidVerdict::Bid { price: Micros(price), bid_id: bid_id.map(Into::into) }
}

#[test]
fn xml_bid_answers() {
    let rules = bid_rules(
        r#"[bid]
        price = { xml = "response/price" }
        bid_id = { xml = "response/@id" }
        bid = { xml = "response/status", equals = ["accepted", "ok"] }"#,
    );
    let judge = |body: &str| rules.judge(200, body.as_bytes(), LIMITS);
    assert_eq!(
        judge(
            r#"<?xml version="1.0"?><response id="X&amp;1"><status>Accepted</status><price> 12.50 </price></response>"#
        ),
        bid(12_500_000, Some("X&1"))
    );
    assert_eq!(
        judge("<ns:response xmlns:ns='u'><ns:status>ok</ns:status><ns:price>3</ns:price></ns:response>"),
        bid(3_000_000, None)
    );
    assert_eq!(judge("<response><status>rejected</status><price>3</price></response>"), BidVerdict::NoBid);
    assert_eq!(judge("<response><status>ok</status></response>"), BidVerdict::Invalid(InvalidBid::MissingPrice));
    assert_eq!(judge("<response><status>ok</status><price><![CDATA[4.25]]></price></response>"), bid(4_250_000, None));
    for (body, reason) in [
        ("<response><status>ok</status><price>-5</price></response>", InvalidBid::NonPositivePrice),
        ("<response><status>ok</status><price>NaN</price></response>", InvalidBid::NonNumericPrice),
        ("<response><status>ok</status><price>twelve</price></response>", InvalidBid::NonNumericPrice),
        ("<response><status>ok</status><price>1e400</price></response>", InvalidBid::NonNumericPrice),
        ("<response><status>ok</status><price>99999999</price></response>", InvalidBid::AboveMax),
        ("<response><status>ok</status><price>0.50</price></response>", InvalidBid::BelowFloor),
        ("<response id=''><status>ok</status><price>2</price></response>", InvalidBid::BadBidId),
        ("<response><status>ok</status><price>2</price>", InvalidBid::Malformed),
        ("<response><status>ok</status></wrong>", InvalidBid::Malformed),
        ("<a/><b/>", InvalidBid::Malformed),
        ("garbage", InvalidBid::Malformed),
        ("", InvalidBid::Malformed),
        ("<response>&bogus;</response>", InvalidBid::Malformed),
    ] {
        assert_eq!(judge(body), BidVerdict::Invalid(reason), "{body}");
    }
    assert_eq!(rules.judge(204, b"", LIMITS), BidVerdict::NoBid);
    assert_eq!(rules.judge(500, b"<response/>", LIMITS), BidVerdict::Invalid(InvalidBid::Status));
}

#[test]
fn json_regex_and_form_bid_answers() {
    let json = bid_rules("[bid]\nprice = { json = \"/result/price\" }\nbid_id = { json = \"/result/id\" }");
    let judge = |body: &str| json.judge(200, body.as_bytes(), LIMITS);
    assert_eq!(judge(r#"{"result":{"price":12.5,"id":77}}"#), bid(12_500_000, Some("77")));
    assert_eq!(judge(r#"{"result":{"price":"2.00"}}"#), bid(2_000_000, None));
    assert_eq!(judge(r#"{"result":{}}"#), BidVerdict::NoBid, "no price and no bid rule: a no-bid");
    assert_eq!(judge(r#"{"result":{"price":[1]}}"#), BidVerdict::Invalid(InvalidBid::NonNumericPrice));
    assert_eq!(judge(r#"{"result":{"price":1e300}}"#), BidVerdict::Invalid(InvalidBid::AboveMax));
    assert_eq!(judge(r#"{"result":{"price":"2","id":{"a":1}}}"#), BidVerdict::Invalid(InvalidBid::BadBidId));
    assert_eq!(judge("<xml/>"), BidVerdict::Invalid(InvalidBid::Malformed));

    let regex = bid_rules("[bid]\nprice = { regex = \"price=([0-9.\\\\-]+)\" }\nbid = { regex = \"(?i)status=ok\" }");
    assert_eq!(regex.judge(200, b"STATUS=OK;price=7.10", LIMITS), bid(7_100_000, None));
    assert_eq!(regex.judge(200, b"status=no;price=7.10", LIMITS), BidVerdict::NoBid);
    assert_eq!(regex.judge(200, b"status=ok;price=-1", LIMITS), BidVerdict::Invalid(InvalidBid::NonPositivePrice));
    assert_eq!(regex.judge(200, b"status=ok", LIMITS), BidVerdict::Invalid(InvalidBid::MissingPrice));

    let form = bid_rules("[bid]\nprice = { form = \"Price\" }\nbid = { form = \"Result\", equals = \"BID\" }");
    assert_eq!(form.judge(200, b"Result=bid&Price=3.5", LIMITS), bid(3_500_000, None));
    assert_eq!(form.judge(200, b"Result=pass", LIMITS), BidVerdict::NoBid);
}

#[test]
fn post_answers() {
    let xml = accept_rules(
        r#"[accepted]
        accepted = { regex = "<status>(?:success|ok)</status>" }
        buyer_lead_id = { xml = "response/lead_id" }
        reason = { xml = "response/message" }"#,
    );
    assert_eq!(
        xml.judge(200, b"<response><status>ok</status><lead_id>L-77</lead_id></response>"),
        PostVerdict::Accepted { buyer_lead_id: Some("L-77".into()) }
    );
    assert_eq!(
        xml.judge(200, b"<response><status>fail</status><message>dup\n</message></response>"),
        PostVerdict::Rejected(PostRejection::Declined(Some("dup".into())))
    );
    assert_eq!(xml.judge(200, b"<status>ok</status> trailing"), PostVerdict::Rejected(PostRejection::Malformed));
    assert_eq!(xml.judge(503, b""), PostVerdict::Rejected(PostRejection::Status(503)));

    let form = accept_rules("[accepted]\naccepted = { form = \"accepted\" }\nbuyer_lead_id = { form = \"id\" }");
    assert_eq!(form.judge(201, b"accepted=Yes&id=9"), PostVerdict::Accepted { buyer_lead_id: Some("9".into()) });
    assert_eq!(form.judge(200, b"accepted=no"), PostVerdict::Rejected(PostRejection::Declined(None)));
    let json = accept_rules("[accepted]\naccepted = { json = \"/ok\" }");
    assert_eq!(json.judge(200, br#"{"ok":true}"#), PostVerdict::Accepted { buyer_lead_id: None });
    assert_eq!(json.judge(200, br#"{"ok":"false"}"#), PostVerdict::Rejected(PostRejection::Declined(None)));
}

proptest::proptest! {
    #[test]
    fn answers_are_judged_without_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        for rules in [
            "[bid]\nprice = { xml = \"r/p\" }\nbid_id = { xml = \"r/@id\" }\nbid = { xml = \"r/s\", equals = \"y\" }",
            "[bid]\nprice = { json = \"/p\" }\nbid_id = { json = \"/id\" }\nbid = { json = \"/s\" }",
            "[bid]\nprice = { regex = \"p=(.*)\" }\nbid_id = { form = \"id\" }",
        ] {
            let _ = bid_rules(rules).judge(200, &body, LIMITS);
        }
        for rules in [
            "[accepted]\naccepted = { xml = \"r/s\" }\nbuyer_lead_id = { xml = \"r/@id\" }\nreason = { regex = \"(.)\" }",
            "[accepted]\naccepted = { form = \"a\" }\nbuyer_lead_id = { json = \"/id\" }",
        ] {
            let _ = accept_rules(rules).judge(200, &body);
        }
    }

    #[test]
    fn xml_shaped_answers_are_judged_without_panic(body in "(<[a-z/@!?\\[]{0,3}[a-z =\"'&;#x0-9]{0,6}>?){0,12}") {
        let rules = bid_rules("[bid]\nprice = { xml = \"r/p\" }\nbid_id = { xml = \"r/@id\" }\nbid = { xml = \"r/s\" }");
        let _ = rules.judge(200, body.as_bytes(), LIMITS);
    }
}
