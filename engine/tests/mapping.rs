//! Per-buyer payload mapping end to end over real sockets: a legacy XML buyer and a legacy
//! form-encoded buyer each receive their mapped fields in their own encoding, answer in it,
//! and win; their answers are parsed (price, bid id, acceptance, their lead id). A mapped
//! buyer answering garbage gets an invalid bid with its reason, and the auction goes on.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::{Behavior, CONTACT_VALUES, Engine, FakeBuyers, LEAD, PingReply, PostReply, Seen, config};

const XML_MAPPING: &str = r#"
[buyers.mapping]
format = "xml"
xml_root = "lead"
[buyers.mapping.ping]
xml_root = "PingRequest"
fields = [
  { from = "attributes.zip", to = "Location.ZipCode" },
  { from = "attributes.state", to = "Location.State", format = "state_name" },
  { from = "attributes.credit_tier", to = "Credit" },
  { value = "ABC123", to = "AffiliateId" },
]
[buyers.mapping.post]
fields = [
  { from = "bid_id", to = "BidId" },
  { from = "price", to = "Price" },
  { from = "contact.first_name", to = "Applicant.FirstName" },
  { from = "contact.phone", to = "Applicant.Phone", format = "phone_dashes" },
  { from = "consent.captured_at", to = "ConsentDate", format = "date:%m/%d/%Y" },
]
[buyers.mapping.bid]
price = { xml = "response/price" }
bid_id = { xml = "response/@id" }
bid = { xml = "response/status", equals = "accepted" }
[buyers.mapping.accepted]
accepted = { regex = "<status>(success|ok)</status>" }
buyer_lead_id = { xml = "response/lead_id" }
"#;

const FORM_MAPPING: &str = r#"
[buyers.mapping]
format = "form"
[buyers.mapping.ping]
fields = [
  { from = "attributes.state", to = "State", format = "state_name" },
  { from = "attributes.zip", to = "Zip" },
  { from = "test", to = "IsTest", format = "y_n" },
]
[buyers.mapping.post]
fields = [
  { from = "contact.email", to = "Email" },
  { from = "contact.phone", to = "Phone", format = "phone_digits" },
  { from = "contact.address", to = "Street" },
  { from = "attributes.state", to = "State", format = "state_name" },
  { from = "bid_id", to = "Ref" },
]
[buyers.mapping.bid]
price = { form = "amount" }
bid_id = { form = "ref" }
bid = { form = "result", equals = ["bid", "yes"] }
[buyers.mapping.accepted]
accepted = { form = "status", equals = "OK" }
buyer_lead_id = { form = "lead_ref" }
"#;

/// The store file of a test engine (WAL: readable while the engine runs).
fn store(engine: &Engine) -> PathBuf {
    engine.dir.path().join("engine.db")
}

/// `(result, reason, bid_id)` of each buyer's ping in the store.
fn stored_pings(engine: &Engine, lead_id: &str) -> HashMap<String, (String, Option<String>, Option<String>)> {
    let db = rusqlite::Connection::open(store(engine)).unwrap();
    let mut rows = db.prepare("SELECT buyer_id, result, reason, bid_id FROM pings WHERE lead_id = ?1").unwrap();
    rows.query_map([lead_id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The accepted post's `(buyer_id, buyer_lead_id)` in the store.
fn accepted_post(engine: &Engine, lead_id: &str) -> (String, Option<String>) {
    let db = rusqlite::Connection::open(store(engine)).unwrap();
    db.query_row(
        "SELECT buyer_id, buyer_lead_id FROM post_attempts WHERE lead_id = ?1 AND result = 'accepted'",
        [lead_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn only(seen: Vec<Seen>) -> Seen {
    assert_eq!(seen.len(), 1, "exactly one request");
    seen.into_iter().next().unwrap()
}

fn text(seen: &Seen) -> String {
    String::from_utf8(seen.body.to_vec()).unwrap()
}

fn content_type(seen: &Seen) -> &str {
    seen.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

fn form(seen: &Seen) -> HashMap<String, String> {
    form_urlencoded::parse(&seen.body).into_owned().collect()
}

#[tokio::test]
async fn an_xml_buyer_wins_with_its_mapped_fields_and_its_answers_are_parsed() {
    let ping_answer =
        r#"<?xml version="1.0"?><response id="XB-1"><status>accepted</status><price>14.25</price></response>"#;
    let post_answer = "<response><status>success</status><lead_id>XL-77</lead_id></response>";
    let fake = FakeBuyers::start(&[
        ("legacy_xml", Behavior::ping(PingReply::Raw(200, ping_answer)).post(PostReply::Raw(200, post_answer))),
        ("v1", Behavior::bid("\"10.00\"")),
    ])
    .await;
    let buyers = fake.buyer_toml("legacy_xml", XML_MAPPING) + &fake.buyer_toml("v1", "");
    let engine = Engine::start(&config(&buyers)).await;

    let answer = engine.lead(LEAD).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let body = answer.json();
    assert_eq!((body["outcome"].as_str(), body["buyer_id"].as_str()), (Some("sold"), Some("legacy_xml")));
    assert_eq!(body["price"], "14.25", "the price parsed from the XML answer");

    let ping = only(fake.pings_to("legacy_xml"));
    assert_eq!(content_type(&ping), "application/xml");
    assert_eq!(
        text(&ping),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PingRequest><Location><ZipCode>98004</ZipCode>\
         <State>Washington</State></Location><Credit>good</Credit><AffiliateId>ABC123</AffiliateId></PingRequest>"
    );
    let post = only(fake.posts_to("legacy_xml"));
    assert_eq!(content_type(&post), "application/xml");
    assert_eq!(
        text(&post),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><lead><BidId>XB-1</BidId><Price>14.25</Price><Applicant>\
         <FirstName>Jane</FirstName><Phone>206-555-0100</Phone></Applicant><ConsentDate>11/23/2026</ConsentDate></lead>"
    );
    // The v1 buyer next to it still gets the v1 ping, as JSON.
    assert_eq!(only(fake.pings_to("v1")).json()["attributes"]["state"], "WA");

    let lead_id = body["lead_id"].as_str().unwrap();
    let pings = stored_pings(&engine, lead_id);
    assert_eq!(pings["legacy_xml"], ("bid".into(), None, Some("XB-1".into())), "the bid id from the XML attribute");
    assert_eq!(accepted_post(&engine, lead_id), ("legacy_xml".into(), Some("XL-77".into())));
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn a_form_encoded_buyer_wins_with_its_mapped_fields_and_its_answers_are_parsed() {
    let fake = FakeBuyers::start(&[
        (
            "legacy_form",
            Behavior::ping(PingReply::Raw(200, "result=bid&amount=13.00&ref=F%2D1"))
                .post(PostReply::Raw(200, "status=ok&lead_ref=FL-9")),
        ),
        ("v1", Behavior::bid("\"12.99\"")),
    ])
    .await;
    let buyers = fake.buyer_toml("legacy_form", FORM_MAPPING) + &fake.buyer_toml("v1", "");
    let engine = Engine::start(&config(&buyers)).await;

    let answer = engine.lead(LEAD).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let body = answer.json();
    assert_eq!((body["outcome"].as_str(), body["buyer_id"].as_str()), (Some("sold"), Some("legacy_form")));
    assert_eq!(body["price"], "13.00", "the price parsed from the form answer");

    let ping = only(fake.pings_to("legacy_form"));
    assert_eq!(content_type(&ping), "application/x-www-form-urlencoded");
    assert_eq!(text(&ping), "State=Washington&Zip=98004&IsTest=N");
    for value in CONTACT_VALUES {
        assert!(!text(&ping).contains(value), "invariant 1: {value} in a mapped ping");
    }
    let post = only(fake.posts_to("legacy_form"));
    assert_eq!(content_type(&post), "application/x-www-form-urlencoded");
    let fields = form(&post);
    let expect = [
        ("Email", "jane@example.com"),
        ("Phone", "2065550100"),
        ("Street", "1 Main St"),
        ("State", "Washington"),
        ("Ref", "F-1"),
    ];
    assert_eq!(fields, expect.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());

    let lead_id = body["lead_id"].as_str().unwrap();
    assert_eq!(stored_pings(&engine, lead_id)["legacy_form"].2.as_deref(), Some("F-1"));
    assert_eq!(accepted_post(&engine, lead_id), ("legacy_form".into(), Some("FL-9".into())));
    engine.stop().await.unwrap();
}

/// Invariant 7: bad prices and garbage from a mapped buyer are invalid bids with their reason,
/// never a panic, and the auction goes on without them.
#[tokio::test]
async fn invariant_7_a_mapped_buyer_answering_garbage_gets_an_invalid_bid_with_a_reason() {
    let negative = r#"<response id="n"><status>accepted</status><price>-3.00</price></response>"#;
    let fake = FakeBuyers::start(&[
        ("garbage", Behavior::ping(PingReply::Raw(200, "<response><status>accepted<price>9</response"))),
        ("negative", Behavior::ping(PingReply::Raw(200, negative))),
        ("words", Behavior::ping(PingReply::Raw(200, "result=bid&amount=lots"))),
        ("v1", Behavior::bid("\"5.00\"")),
    ])
    .await;
    let buyers = fake.buyer_toml("garbage", XML_MAPPING)
        + &fake.buyer_toml("negative", XML_MAPPING)
        + &fake.buyer_toml("words", FORM_MAPPING)
        + &fake.buyer_toml("v1", "");
    let engine = Engine::start(&config(&buyers)).await;

    let answer = engine.lead(LEAD).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let body = answer.json();
    assert_eq!((body["outcome"].as_str(), body["buyer_id"].as_str()), (Some("sold"), Some("v1")));
    let pings = stored_pings(&engine, body["lead_id"].as_str().unwrap());
    let reason = |buyer: &str| (pings[buyer].0.as_str(), pings[buyer].1.as_deref());
    assert_eq!(reason("garbage"), ("invalid", Some("malformed")));
    assert_eq!(reason("negative"), ("invalid", Some("non_positive_price")));
    assert_eq!(reason("words"), ("invalid", Some("non_numeric_price")));
    assert!(fake.posts_to("garbage").is_empty() && fake.posts_to("negative").is_empty());
    engine.stop().await.unwrap();
}
