//! Invariant 6, nothing accepted is lost: the `engine` binary is killed with SIGKILL while a
//! post is in flight, then restarted on the same store. Every lead that got a 2xx is in the
//! store; the interrupted one is `in_doubt` (never re-sold) and its publisher's retry gets
//! that answer; every event reaches the webhook subscriber at least once, always with the
//! same event id.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::receiver::{Got, Receiver, Reply};
use common::{Behavior, FakeBuyers, KEY};
use engine::store::Store;
use engine::store::sqlite::{SqliteOptions, SqliteStore};
use engine::transport::sign::Signer;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Signing secret of the test subscription (the Standard Webhooks example secret).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Failure guard for anything awaited here: far beyond what the steps take.
const GUARD: Duration = Duration::from_secs(60);

/// Leads sold before the crash.
const SOLD: usize = 20;

fn lead(state: &str, zip: &str) -> String {
    format!(
        r#"{{"vertical":"auto_insurance","attributes":{{"zip":"{zip}","state":"{state}"}},
            "contact":{{"first_name":"Jane","last_name":"Smith","email":"jane@example.com","phone":"+12065550100"}}}}"#
    )
}

/// Starts `engine serve` on `config` and returns it with its address, once it says it
/// listens (after opening and recovering the store). Its output keeps being read so the pipe
/// never fills.
async fn start_engine(config: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(GUARD, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("engine listening") {
                let addr = line.split_whitespace().find_map(|w| w.strip_prefix("listen="));
                return addr.unwrap().parse::<SocketAddr>().unwrap();
            }
        }
        panic!("the engine exited before listening");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

async fn post_lead(addr: SocketAddr, body: String, key: Option<&str>) -> reqwest_like::Answer {
    reqwest_like::post(addr, "/v1/leads", &body, key).await
}

/// A bare HTTP/1.1 client, one connection per request (the engine it talks to gets killed).
mod reqwest_like {
    use std::net::SocketAddr;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    pub struct Answer {
        pub status: u16,
        pub json: serde_json::Value,
    }

    pub async fn post(addr: SocketAddr, path: &str, body: &str, key: Option<&str>) -> Answer {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut request = http::Request::post(format!("http://{addr}{path}"))
            .header("authorization", format!("Bearer {}", super::KEY))
            .header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = client.request(request.body(Full::new(Bytes::from(body.to_owned()))).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, json: serde_json::from_slice(&body).unwrap_or_default() }
    }
}

/// (lead id, event type) of a delivery.
fn about(seen: &Got) -> (String, String) {
    let json = seen.json();
    (json["data"]["lead_id"].as_str().unwrap_or_default().to_owned(), json["type"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariant_6_nothing_accepted_is_lost_across_kill_9() {
    let buyers = FakeBuyers::start(&[
        ("fast", Behavior::bid("\"5.00\"")),
        // Bids more, then never answers the post: the engine is mid-post when it dies.
        ("stuck", Behavior::bid("\"9.00\"").post_after(Duration::from_secs(3600))),
    ])
    .await;
    let hooks = Receiver::start(vec![Reply::Status(200)]).await;
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("engine.db");
    let config = format!(
        "store = {store}\n{engine}\n[delivery]\nallow_private_targets = true\nretry_schedule_ms = [0, 50, 100, 200, 400, 800, 1600]\n\
         [[webhooks]]\nid = \"all\"\nurl = \"{url}\"\nevents = [\"*\"]\nsecret = \"{SECRET}\"\n\n{fast}\n{stuck}",
        store = toml::Value::from(store_path.to_string_lossy().into_owned()),
        url = hooks.url(),
        engine = common::config(""),
        fast = buyers.buyer_toml("fast", "states = [\"WA\"]"),
        stuck = buyers.buyer_toml("stuck", "states = [\"OR\"]"),
    );
    let config_path = dir.path().join("engine.toml");
    std::fs::write(&config_path, config).unwrap();

    let (mut engine, addr) = start_engine(&config_path).await;
    let mut sold = Vec::new();
    for n in 0..SOLD {
        let answer = post_lead(addr, lead("WA", &format!("980{n:02}")), None).await;
        assert_eq!((answer.status, answer.json["outcome"].as_str()), (200, Some("sold")), "{}", answer.json);
        sold.push(answer.json["lead_id"].as_str().unwrap().to_owned());
    }
    // The Oregon lead goes to `stuck`, whose post never returns; SIGKILL once it has it.
    let interrupted = tokio::spawn(post_lead(addr, lead("OR", "97201"), Some("crash-1")));
    tokio::time::timeout(GUARD, buyers.wait_for_posts(SOLD + 1)).await.unwrap();
    engine.kill().await.unwrap();
    // The request task panics on the broken connection: the publisher got no answer.
    assert!(interrupted.await.is_err(), "the engine answered before it was killed");
    let stuck_posts = buyers.posts_to("stuck");
    assert_eq!(stuck_posts.len(), 1);
    let in_doubt_id = stuck_posts[0].json()["lead_id"].as_str().unwrap().to_owned();

    // Restart on the same store: the retry gets the recovered answer, not a second auction.
    let (mut engine, addr) = start_engine(&config_path).await;
    let retry = post_lead(addr, lead("OR", "97201"), Some("crash-1")).await;
    assert_eq!(retry.status, 200, "{}", retry.json);
    assert_eq!(retry.json["outcome"], "in_doubt", "{}", retry.json);
    assert_eq!(retry.json["lead_id"], in_doubt_id.as_str());
    assert_eq!(buyers.posts_to("stuck").len(), 1, "an in-doubt lead is never posted again");

    // Every event of every accepted lead arrives, each (lead, type) always under one event id.
    let expected: BTreeSet<(String, String)> = sold
        .iter()
        .flat_map(|id| [(id.clone(), "lead.received".to_owned()), (id.clone(), "lead.sold".to_owned())])
        .chain([(in_doubt_id.clone(), "lead.received".into()), (in_doubt_id.clone(), "lead.in_doubt".into())])
        .collect();
    tokio::time::timeout(
        GUARD,
        hooks.wait_until(|seen| {
            let got: BTreeSet<_> = seen.iter().map(about).collect();
            expected.is_subset(&got)
        }),
    )
    .await
    .expect("every event delivered");
    let signer = Signer::new(&engine::config::SigningSecret::parse(SECRET).unwrap().0);
    let mut ids: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for seen in hooks.got() {
        let header = |name: &str| seen.headers.get(name).unwrap().to_str().unwrap().to_owned();
        let id = header("webhook-id");
        assert_eq!(seen.json()["id"].as_str(), Some(id.as_str()), "webhook-id is the event id");
        let timestamp: u64 = header("webhook-timestamp").parse().unwrap();
        assert!(header("webhook-signature").split(' ').any(|s| s == signer.sign(&id, timestamp, &seen.body)));
        ids.entry(about(&seen)).or_default().insert(id);
    }
    for (event, ids) in &ids {
        assert_eq!(ids.len(), 1, "{event:?} was delivered under several ids: {ids:?}");
    }
    engine.kill().await.unwrap();

    // The store holds every accepted lead with its contact data and outcome.
    let store = SqliteStore::open(&store_path, SqliteOptions::default()).unwrap();
    for id in &sold {
        let stored = store.lead(id).await.unwrap().unwrap_or_else(|| panic!("{id} is in the store"));
        assert_eq!((stored.status.as_str(), stored.buyer_id.as_deref()), ("sold", Some("fast")));
        assert!(String::from_utf8_lossy(&stored.lead_json).contains("+12065550100"));
    }
    let stored = store.lead(&in_doubt_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "in_doubt");
    assert_eq!(stored.posts.iter().map(|p| p.result.as_str()).collect::<Vec<_>>(), ["in_doubt"]);
}
