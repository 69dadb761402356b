//! Reading leads back from the outside (`GET /v1/leads`, `GET /v1/leads/{id}`): a walk sees
//! every lead exactly once while new ones arrive, each role sees only its own leads and only
//! its share of each, filters select what they say, and cursors are the API's own.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{ADMIN_KEY, Behavior, Engine, FakeBuyers, KEY, admin_toml, buyer_key, buyer_key_toml, config, digest};
use serde_json::Value;
use tokio::sync::mpsc;

/// The second publisher's key.
const KEY2: &str = "test-publisher-key-2";

/// Pages read at most by one walk: far more than any walk here needs.
const MAX_PAGES: usize = 1_000;

/// Buyers `acme` (auto insurance, bids 5.00) and `zeta` (auto insurance at 3.00, and home
/// services), with their keys; publishers `pub1` and `pub2`; an admin.
async fn engine(fake: &FakeBuyers) -> Engine {
    let auction = "[auction]\nping_timeout_ms = 2000\ntotal_timeout_ms = 5000\n";
    let acme = fake.buyer_toml("acme", &buyer_key_toml("acme"));
    let zeta = fake.buyer_toml(
        "zeta",
        &format!("verticals = [\"auto_insurance\", \"home_services\"]\n{}", buyer_key_toml("zeta")),
    );
    let pub2 = format!("[[publishers]]\nid = \"pub2\"\nkey_sha256 = \"{}\"\n", digest(KEY2));
    Engine::start(&config(&format!("{auction}{acme}{zeta}{pub2}{}", admin_toml()))).await
}

async fn buyers() -> FakeBuyers {
    FakeBuyers::start(&[("acme", Behavior::bid("\"5.00\"")), ("zeta", Behavior::bid("\"3.00\""))]).await
}

/// Lead `n`: auto insurance (sold to acme) when `n` is even, home services (zeta) when odd.
fn lead(n: usize) -> String {
    let lead = common::lead_numbered(n);
    if n.is_multiple_of(2) { lead } else { lead.replace("auto_insurance", "home_services") }
}

/// Sends `body` as the publisher with `key`; returns (lead id, buyer id).
async fn send(engine: &Engine, key: &str, body: &str) -> (String, Option<String>) {
    let answer = engine.call("POST", "/v1/leads", key, body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let answer = answer.json();
    (answer["lead_id"].as_str().unwrap().to_owned(), answer["buyer_id"].as_str().map(str::to_owned))
}

async fn get(engine: &Engine, path: &str, key: &str) -> Value {
    let answer = engine.call("GET", path, key, "").await;
    assert_eq!(answer.status, 200, "GET {path}: {:?}", answer.body);
    answer.json()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|item| item["lead_id"].as_str().unwrap().to_owned()).collect()
}

/// Walks `GET /v1/leads?{query}` as `key` to its last page; after each page, waits for one
/// more lead to arrive when `arrivals` is given. The lead ids in walk order.
async fn walk(
    engine: &Engine,
    key: &str,
    query: &str,
    mut arrivals: Option<&mut mpsc::UnboundedReceiver<()>>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..MAX_PAGES {
        let page = get(engine, &format!("/v1/leads?{query}{cursor}"), key).await;
        seen.extend(ids(&page));
        let Some(next) = page["next_cursor"].as_str() else { return seen };
        cursor = format!("&cursor={next}");
        if let Some(arrivals) = arrivals.as_deref_mut() {
            arrivals.recv().await.unwrap();
        }
    }
    panic!("the walk did not end in {MAX_PAGES} pages");
}

/// Another task sending leads one after another (as pub1) until stopped; it signals each.
struct Sender {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(String, Option<String>)>>,
    arrivals: mpsc::UnboundedReceiver<()>,
}

impl Sender {
    fn start(engine: &Arc<Engine>, from: usize) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, arrivals) = mpsc::unbounded_channel();
        let (engine, stopped) = (Arc::clone(engine), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            let mut sent = Vec::new();
            for n in from.. {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                sent.push(send(&engine, KEY, &lead(n)).await);
                let _ = tx.send(());
            }
            sent
        });
        Sender { stop, task, arrivals }
    }

    async fn stop(self) -> Vec<(String, Option<String>)> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

/// The walk holds no lead twice and is the start of `expected` (all leads it may see, in the
/// order they were committed), with at least `at_least` of them.
fn assert_once_in_order(walk: &[String], expected: &[String], at_least: usize, who: &str) {
    let distinct: HashSet<&String> = walk.iter().collect();
    assert_eq!(distinct.len(), walk.len(), "{who}: a lead seen twice");
    assert!(walk.len() >= at_least, "{who}: {} leads seen, {at_least} expected at least", walk.len());
    assert_eq!(walk, &expected[..walk.len()], "{who}: every lead in commit order, none skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_walk_returns_every_lead_once_while_new_leads_arrive_for_admins_publishers_and_buyers() {
    let fake = buyers().await;
    let engine = Arc::new(engine(&fake).await);
    let mut sent = Vec::new();
    for n in 0..20 {
        sent.push(send(&engine, KEY, &lead(n)).await);
    }
    let acme_key = buyer_key("acme");
    for (who, key) in [("admin", ADMIN_KEY), ("publisher", KEY), ("buyer", acme_key.as_str())] {
        let before = sent.clone();
        let mut sender = Sender::start(&engine, sent.len());
        let seen = walk(&engine, key, "limit=3", Some(&mut sender.arrivals)).await;
        sent.extend(sender.stop().await);
        let mine = |leads: &[(String, Option<String>)]| -> Vec<String> {
            let acme = Some("acme".to_owned());
            leads.iter().filter(|(_, buyer)| who != "buyer" || *buyer == acme).map(|(id, _)| id.clone()).collect()
        };
        // Every lead sent before the walk began, and at least one that arrived during it.
        assert_once_in_order(&seen, &mine(&sent), mine(&before).len() + 1, who);
    }
    Arc::into_inner(engine).unwrap().stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_ending_exactly_at_the_end_is_the_last_and_resume_cursor_finds_only_later_leads() {
    let fake = buyers().await;
    let engine = engine(&fake).await;
    let mut sent = Vec::new();
    for n in 0..4 {
        sent.push(send(&engine, KEY, &lead(n * 2)).await.0);
    }
    let first = get(&engine, "/v1/leads?limit=2", ADMIN_KEY).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let last = get(&engine, &format!("/v1/leads?limit=2&cursor={cursor}"), ADMIN_KEY).await;
    assert_eq!([ids(&first), ids(&last)].concat(), sent);
    assert_eq!(last["next_cursor"], Value::Null, "four leads, two pages of two: the second is the last");
    let resume = last["resume_cursor"].as_str().unwrap().to_owned();
    let nothing = get(&engine, &format!("/v1/leads?cursor={resume}"), ADMIN_KEY).await;
    assert!(ids(&nothing).is_empty());
    assert_eq!(nothing["resume_cursor"].as_str(), Some(resume.as_str()), "an empty page keeps the cursor sent");
    let later = send(&engine, KEY, &lead(100)).await.0;
    assert_eq!(ids(&get(&engine, &format!("/v1/leads?cursor={resume}"), ADMIN_KEY).await), [later]);
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_only_its_own_leads_and_only_its_share_of_each() {
    let fake = buyers().await;
    let engine = engine(&fake).await;
    let (auto1, buyer) = send(&engine, KEY, &lead(0)).await;
    assert_eq!(buyer.as_deref(), Some("acme"));
    let (home1, buyer) = send(&engine, KEY, &lead(1)).await;
    assert_eq!(buyer.as_deref(), Some("zeta"));
    let (auto2, _) = send(&engine, KEY2, &lead(2)).await;
    let (acme, zeta) = (buyer_key("acme"), buyer_key("zeta"));

    // Buyers: only what they bought, with the PII they bought.
    let page = get(&engine, "/v1/leads", &acme).await;
    assert_eq!(ids(&page), [auto1.clone(), auto2.clone()]);
    let item = &page["data"][0];
    assert_eq!(
        (item["price"].as_str(), item["status"].clone(), item["test"].as_bool()),
        (Some("5.00"), Value::Null, Some(false))
    );
    assert_eq!(item["lead"]["contact"]["email"], "jane0@example.com");
    assert_eq!(item["lead"]["consent"]["ip"], "203.0.113.9");
    assert!(item["sold_at"].is_string() && item["returned_at"].is_null());
    assert!(item.get("payout").is_none() && item.get("margin").is_none(), "the broker's split is not the buyer's");
    assert_eq!(ids(&get(&engine, "/v1/leads", &zeta).await), [home1.as_str()]);

    // Another buyer's lead is as unknown as a lead that does not exist.
    let other = engine.call("GET", &format!("/v1/leads/{home1}"), &acme, "").await;
    let unknown = engine.call("GET", "/v1/leads/ld_doesnotexist", &acme, "").await;
    assert_eq!((other.status.as_u16(), unknown.status.as_u16()), (404, 404));
    assert_eq!(other.code(), unknown.code());
    let mine = get(&engine, &format!("/v1/leads/{auto1}"), &acme).await;
    assert_eq!((mine["sale"]["price"].as_str(), mine["sale"]["return"].clone()), (Some("5.00"), Value::Null));
    assert!(mine["sale"].get("payout").is_none() && mine.get("margin").is_none(), "{mine}");
    assert_eq!(mine["lead"]["contact"]["email"], "jane0@example.com");
    let buyers_of = |rows: &Value| -> Vec<String> {
        rows.as_array().unwrap().iter().map(|r| r["buyer_id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(buyers_of(&mine["pings"]), ["acme"], "zeta was pinged too, but acme sees only its own ping");
    assert_eq!(buyers_of(&mine["posts"]), ["acme"]);
    assert!(mine["pings"][0].get("score").is_none(), "a buyer does not see its quality-weighted score");

    // Publishers: their own leads' outcomes; no buyer, no price, no contact, no consent.
    let page = engine.call("GET", "/v1/leads", KEY, "").await;
    assert_eq!(ids(&page.json()), [auto1.clone(), home1.clone()]);
    for item in page.json()["data"].as_array().unwrap() {
        for hidden in ["buyer_id", "price", "contact", "consent", "status", "lead"] {
            assert!(item.get(hidden).is_none(), "a publisher's item has no {hidden}: {item}");
        }
        assert_eq!((item["outcome"].as_str(), item["attributes"]["state"].as_str()), (Some("sold"), Some("WA")));
        assert_eq!(item["source"]["sub_id"], "s1");
        assert!(item.get("margin").is_none() && item.get("sales").is_none(), "{item}");
    }
    // What it is paid for each (on the default terms, the whole price).
    let payouts: Vec<_> = page.json()["data"].as_array().unwrap().iter().map(|i| i["payout"].clone()).collect();
    assert_eq!(payouts, ["5.00", "3.00"]);
    let text = String::from_utf8_lossy(&page.body);
    for leak in ["acme", "zeta", "@example.com", "+1206", "203.0.113.9"] {
        assert!(!text.contains(leak), "{leak} in a publisher's page");
    }
    assert_eq!(ids(&get(&engine, "/v1/leads", KEY2).await), [auto2.as_str()]);
    assert_eq!(engine.call("GET", &format!("/v1/leads/{auto2}"), KEY, "").await.status, 404);
    let own = engine.call("GET", &format!("/v1/leads/{auto1}"), KEY, "").await;
    assert_eq!((own.json()["outcome"].as_str(), own.json()["payout"].as_str()), (Some("sold"), Some("5.00")));
    assert!(own.json().get("margin").is_none());
    assert!(own.json()["timings"]["total_ms"].is_number());
    let text = String::from_utf8_lossy(&own.body);
    for leak in ["acme", "buyer", "price", "@example.com", "203.0.113.9", "pings"] {
        assert!(!text.contains(leak), "{leak} in a publisher's lead: {text}");
    }

    // Admins: everything, with the PII.
    let page = get(&engine, "/v1/leads", ADMIN_KEY).await;
    assert_eq!(ids(&page), [auto1.clone(), home1.clone(), auto2.clone()]);
    let item = &page["data"][2];
    assert_eq!(
        (item["publisher_id"].as_str(), item["buyer_id"].as_str(), item["price"].as_str()),
        (Some("pub2"), Some("acme"), Some("5.00"))
    );
    assert_eq!(item["contact"]["email"], "jane2@example.com");
    assert_eq!((item["payout"].as_str(), item["margin"].as_str()), (Some("5.00"), Some("0.00")));
    let sales = item["sales"].as_array().unwrap();
    assert_eq!(sales.len(), 1);
    assert_eq!(
        (sales[0]["buyer_id"].as_str(), sales[0]["price"].as_str(), sales[0]["payout"].as_str()),
        (Some("acme"), Some("5.00"), Some("5.00"))
    );
    assert_eq!(item["consent"]["jornaya_leadid"], "LEADID-123");
    let all = get(&engine, &format!("/v1/leads/{auto1}"), ADMIN_KEY).await;
    assert_eq!(buyers_of(&all["pings"]), ["acme", "zeta"]);
    assert_eq!(all["pings"][1]["price"], "3.00");
    assert!(all["pings"][0]["score"].is_string() && all["pings"][0]["latency_ms"].is_number());
    assert_eq!(
        (all["posts"][0]["result"].as_str(), all["posts"][0]["buyer_lead_id"].as_str()),
        (Some("accepted"), Some("acme-lead"))
    );
    assert_eq!(
        (all["sales"][0]["buyer_id"].as_str(), all["sales"][0]["history"].clone()),
        (Some("acme"), Value::Array(vec![]))
    );
    assert_eq!(
        (all["sales"][0]["price"].as_str(), all["sales"][0]["payout"].as_str(), all["sales"][0]["margin"].as_str()),
        (Some("5.00"), Some("5.00"), Some("0.00"))
    );
    assert_eq!((all["payout"].as_str(), all["margin"].as_str()), (Some("5.00"), Some("0.00")));
    let events: Vec<&str> = all["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(events, ["lead.received", "lead.sold"]);
    assert_eq!(all["lead"]["contact"]["email"], "jane0@example.com");
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_by_vertical_outcome_status_and_time_and_bad_values_name_their_field() {
    let fake = buyers().await;
    let engine = engine(&fake).await;
    let (auto, _) = send(&engine, KEY, &lead(0)).await;
    let (home, _) = send(&engine, KEY, &lead(1)).await;
    // Nobody buys pet insurance.
    let (pet, buyer) = send(&engine, KEY, &lead(2).replace("auto_insurance", "pet_insurance")).await;
    assert_eq!(buyer, None);

    let admin = |query: &'static str| {
        let engine = &engine;
        async move { ids(&get(engine, &format!("/v1/leads?{query}"), ADMIN_KEY).await) }
    };
    assert_eq!(admin("vertical=home_services").await, [home.as_str()]);
    assert_eq!(admin("outcome=unsold").await, [pet.as_str()]);
    assert_eq!(admin("outcome=sold").await, [auto.clone(), home.clone()]);
    assert!(admin("outcome=duplicate").await.is_empty());
    assert_eq!(admin("status=new").await, [auto.clone(), home.clone()], "sold, not yet dispositioned");
    assert!(admin("status=converted").await.is_empty());
    assert!(admin("since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z").await.is_empty());
    assert_eq!(admin("since=2020-01-01T00:00:00Z").await.len(), 3);
    assert_eq!(ids(&get(&engine, "/v1/leads?outcome=unsold", KEY).await), [pet.as_str()]);
    assert_eq!(ids(&get(&engine, "/v1/leads?status=new&outcome=sold", &buyer_key("acme")).await), [auto.as_str()]);

    for (key, query, code, field) in [
        (ADMIN_KEY, "outcome=won", "invalid_outcome", "outcome"),
        (ADMIN_KEY, "status=lost", "invalid_status", "status"),
        (ADMIN_KEY, "vertical=Auto", "invalid_vertical", "vertical"),
        (ADMIN_KEY, "since=last-week", "invalid_time", "since"),
        (ADMIN_KEY, "limit=501", "invalid_limit", "limit"),
        (ADMIN_KEY, "buyer=acme", "unknown_parameter", "buyer"),
        (KEY, "status=converted", "invalid_status", "status"),
        (buyer_key("acme").as_str(), "outcome=unsold", "invalid_outcome", "outcome"),
    ] {
        let answer = engine.call("GET", &format!("/v1/leads?{query}"), key, "").await;
        assert_eq!(
            (answer.status.as_u16(), answer.code(), answer.field()),
            (400, code.to_owned(), Some(field.to_owned())),
            "{query}"
        );
    }
    engine.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_the_api_did_not_give_or_from_another_walk_is_a_400_invalid_cursor() {
    let fake = buyers().await;
    let engine = engine(&fake).await;
    for n in 0..3 {
        send(&engine, KEY, &lead(n * 2)).await;
    }
    let buyer_cursor =
        get(&engine, "/v1/leads?limit=1", &buyer_key("acme")).await["next_cursor"].as_str().unwrap().to_owned();
    for cursor in ["garbage", "1", "bGVhZDphYmM", buyer_cursor.as_str()] {
        let answer = engine.call("GET", &format!("/v1/leads?cursor={cursor}"), ADMIN_KEY, "").await;
        assert_eq!(
            (answer.status.as_u16(), answer.code(), answer.field()),
            (400, "invalid_cursor".to_owned(), Some("cursor".to_owned())),
            "{cursor}"
        );
    }
    // The same cursor is good for the walk it came from.
    let page = get(&engine, &format!("/v1/leads?cursor={buyer_cursor}"), &buyer_key("acme")).await;
    assert_eq!(ids(&page).len(), 2);
    engine.stop().await.unwrap();
}

/// A publisher polling with `resume_cursor` sees a lead whose auction was still running when
/// its page was read again, with its outcome, and never skips it.
#[tokio::test]
async fn a_publishers_resume_cursor_comes_back_to_a_lead_still_running() {
    let fake = buyers().await;
    let engine = engine(&fake).await;
    let (finished, _) = send(&engine, KEY, &lead(0)).await;
    for id in ["acme", "zeta"] {
        fake.set(id, Behavior::bid("\"5.00\"").ping_after(std::time::Duration::from_millis(1_500)));
    }
    let body = lead(2);
    let running = send(&engine, KEY, &body);
    let poll = async {
        // Both buyers have the second lead's ping: its auction is running.
        fake.wait_for_pings(4).await;
        let page = get(&engine, "/v1/leads", KEY).await;
        let outcomes: Vec<&str> =
            page["data"].as_array().unwrap().iter().map(|i| i["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["sold", "running"]);
        page["resume_cursor"].as_str().unwrap().to_owned()
    };
    let ((second, _), resume) = tokio::join!(running, poll);
    let later = get(&engine, &format!("/v1/leads?cursor={resume}"), KEY).await;
    assert_eq!(ids(&later), [second], "resumed before the running lead, after {finished}");
    assert_eq!(later["data"][0]["outcome"], "sold");
    engine.stop().await.unwrap();
}
