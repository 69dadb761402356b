//! Test harness: in-process fake buyers on a real socket (127.0.0.1:0, HTTP/1.1 and h2c), and
//! the engine started on another, driven by a real HTTP client.

#![allow(dead_code, clippy::unwrap_used)]

pub mod receiver;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The publisher key every test engine accepts.
pub const KEY: &str = "test-publisher-key";

/// The admin key of [`admin_toml`].
pub const ADMIN_KEY: &str = "test-admin-key";

/// The hex SHA-256 of a key, as a config's `key_sha256`.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key))
}

/// An `[[admins]]` block (id `ops`, key [`ADMIN_KEY`]).
pub fn admin_toml() -> String {
    format!("[[admins]]\nid = \"ops\"\nkey_sha256 = \"{}\"\n", digest(ADMIN_KEY))
}

/// The key of the buyer `id` in [`buyer_key_toml`].
pub fn buyer_key(id: &str) -> String {
    format!("test-buyer-key-{id}")
}

/// A `key_sha256` line for buyer `id` (its key: [`buyer_key`]), to pass in `buyer_toml`'s extra.
pub fn buyer_key_toml(id: &str) -> String {
    format!("key_sha256 = \"{}\"\n", digest(&buyer_key(id)))
}

/// How a fake buyer answers pings.
#[derive(Clone, Debug)]
pub enum PingReply {
    /// `{"bid": true, "price": <price>, "bid_id": "bid-<ping_id>"}`; `price` is raw JSON.
    Bid(&'static str),
    /// `{"bid": false}`.
    NoBid,
    /// Any status and body.
    Raw(u16, &'static str),
}

/// How a fake buyer answers posts.
#[derive(Clone, Debug)]
pub enum PostReply {
    /// `{"accepted": true, "buyer_lead_id": ...}`.
    Accept,
    /// `{"accepted": false, "reason": "not today"}`.
    Reject,
    /// Any status and body.
    Raw(u16, &'static str),
}

/// A fake buyer's behaviour.
#[derive(Clone, Debug)]
pub struct Behavior {
    pub ping: PingReply,
    pub ping_delay: Duration,
    pub post: PostReply,
    pub post_delay: Duration,
}

impl Behavior {
    /// Bids `price` (raw JSON, e.g. `"\"12.50\""`) at once and accepts posts.
    pub fn bid(price: &'static str) -> Behavior {
        Behavior {
            ping: PingReply::Bid(price),
            ping_delay: Duration::ZERO,
            post: PostReply::Accept,
            post_delay: Duration::ZERO,
        }
    }
    pub fn ping(ping: PingReply) -> Behavior {
        Behavior { ping, ..Behavior::bid("\"1.00\"") }
    }
    pub fn ping_after(mut self, delay: Duration) -> Behavior {
        self.ping_delay = delay;
        self
    }
    pub fn post(mut self, post: PostReply) -> Behavior {
        self.post = post;
        self
    }
    pub fn post_after(mut self, delay: Duration) -> Behavior {
        self.post_delay = delay;
        self
    }
}

/// A request a fake buyer received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub buyer: String,
    pub body: Bytes,
    pub headers: HeaderMap,
    pub at: Instant,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("buyer received JSON")
    }
}

#[derive(Default)]
struct BuyerState {
    behaviors: Mutex<HashMap<String, Behavior>>,
    pings: Mutex<Vec<Seen>>,
    posts: Mutex<Vec<Seen>>,
    connections: AtomicUsize,
    answered: AtomicUsize,
    received: Notify,
}

/// Many fake buyers on one port at `/{id}/ping` and `/{id}/post`.
pub struct FakeBuyers {
    pub addr: SocketAddr,
    state: Arc<BuyerState>,
    task: JoinHandle<()>,
}

impl Drop for FakeBuyers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBuyers {
    pub async fn start(buyers: &[(&str, Behavior)]) -> FakeBuyers {
        let state = Arc::new(BuyerState::default());
        for (id, behavior) in buyers {
            state.behaviors.lock().insert((*id).to_owned(), behavior.clone());
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                served.connections.fetch_add(1, Ordering::SeqCst);
                let state = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(Arc::clone(&state), request));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeBuyers { addr, state, task }
    }

    pub fn set(&self, id: &str, behavior: Behavior) {
        self.state.behaviors.lock().insert(id.to_owned(), behavior);
    }

    pub fn pings(&self) -> Vec<Seen> {
        self.state.pings.lock().clone()
    }

    pub fn posts(&self) -> Vec<Seen> {
        self.state.posts.lock().clone()
    }

    pub fn pings_to(&self, buyer: &str) -> Vec<Seen> {
        self.pings().into_iter().filter(|s| s.buyer == buyer).collect()
    }

    pub fn posts_to(&self, buyer: &str) -> Vec<Seen> {
        self.posts().into_iter().filter(|s| s.buyer == buyer).collect()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Answers fully sent so far.
    pub fn answered(&self) -> usize {
        self.state.answered.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` pings have arrived.
    pub async fn wait_for_pings(&self, n: usize) {
        loop {
            let notified = self.state.received.notified();
            if self.state.pings.lock().len() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Waits until at least `n` posts have arrived.
    pub async fn wait_for_posts(&self, n: usize) {
        loop {
            let notified = self.state.received.notified();
            if self.state.posts.lock().len() >= n {
                return;
            }
            notified.await;
        }
    }

    /// The `[[buyers]]` block for fake buyer `id`, plus `extra` TOML lines (verticals default
    /// to `auto_insurance`).
    pub fn buyer_toml(&self, id: &str, extra: &str) -> String {
        let verticals = if extra.contains("verticals") { "" } else { "verticals = [\"auto_insurance\"]\n" };
        format!(
            "[[buyers]]\nid = \"{id}\"\nping_url = \"http://{addr}/{id}/ping\"\npost_url = \"http://{addr}/{id}/post\"\n{verticals}{extra}\n",
            addr = self.addr
        )
    }
}

async fn answer(state: Arc<BuyerState>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().trim_start_matches('/').to_owned();
    let headers = request.headers().clone();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let (buyer, kind) = path.split_once('/').unwrap_or((&path, ""));
    let behavior = state.behaviors.lock().get(buyer).cloned();
    let Some(behavior) = behavior else { return Ok(reply(404, "{}".into())) };
    let seen = Seen { buyer: buyer.to_owned(), body: body.clone(), headers, at: Instant::now() };
    let (delay, status, text) = match kind {
        "ping" => {
            state.pings.lock().push(seen);
            state.received.notify_waiters();
            let ping_id = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["ping_id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let (status, text) = match behavior.ping {
                PingReply::Bid(price) => (200, format!(r#"{{"bid":true,"price":{price},"bid_id":"bid-{ping_id}"}}"#)),
                PingReply::NoBid => (200, r#"{"bid":false}"#.to_owned()),
                PingReply::Raw(status, text) => (status, text.to_owned()),
            };
            (behavior.ping_delay, status, text)
        }
        "post" => {
            state.posts.lock().push(seen);
            state.received.notify_waiters();
            let (status, text) = match behavior.post {
                PostReply::Accept => (200, format!(r#"{{"accepted":true,"buyer_lead_id":"{buyer}-lead"}}"#)),
                PostReply::Reject => (200, r#"{"accepted":false,"reason":"not today"}"#.to_owned()),
                PostReply::Raw(status, text) => (status, text.to_owned()),
            };
            (behavior.post_delay, status, text)
        }
        _ => (Duration::ZERO, 404, "{}".to_owned()),
    };
    // The delay is the fake buyer's own behaviour (a slow buyer), not test synchronization.
    tokio::time::sleep(delay).await;
    state.answered.fetch_add(1, Ordering::SeqCst);
    Ok(reply(status, text))
}

fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    response
}

/// A config with one publisher (key [`KEY`]) and the given extra TOML.
pub fn config(extra: &str) -> String {
    let digest = hex::encode(Sha256::digest(KEY));
    format!("listen = \"127.0.0.1:0\"\n{extra}\n[[publishers]]\nid = \"pub1\"\nkey_sha256 = \"{digest}\"\n")
}

/// A running engine, with its store in a temporary directory (unless the config names one).
pub struct Engine {
    pub addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<oneshot::Sender<()>>,
    pub done: Option<JoinHandle<std::io::Result<()>>>,
    /// The store's directory, removed on drop.
    pub dir: tempfile::TempDir,
}

/// An answer from the engine.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("JSON answer, got {:?}", self.body))
    }
    /// The `error.code` of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
    pub fn field(&self) -> Option<String> {
        self.json()["error"]["field"].as_str().map(str::to_owned)
    }
}

impl Engine {
    pub async fn start(config_toml: &str) -> Engine {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = toml::Value::from(dir.path().join("engine.db").to_string_lossy().into_owned());
        let config_toml = if config_toml.lines().any(|l| l.starts_with("store")) {
            config_toml.to_owned()
        } else {
            format!("store = {store}\n{config_toml}")
        };
        let config = engine::config::Config::from_toml(&config_toml).expect("test config is valid");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(engine::run(config, listener, async move {
            let _ = rx.await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Engine { addr, client, shutdown: Some(tx), done: Some(done), dir }
    }

    /// Sends a request; `headers` are added as given.
    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
        let mut request = Request::builder().method(method).uri(format!("http://{}{}", self.addr, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response =
            self.client.request(request.body(Full::new(body.into())).unwrap()).await.expect("engine answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, headers, body }
    }

    /// A JSON API call with `key` (`body`: JSON text, or empty for none).
    pub async fn call(&self, method: &str, path: &str, key: &str, body: &str) -> Answer {
        let auth = format!("Bearer {key}");
        let mut headers = vec![("authorization", auth.as_str())];
        if !body.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        self.send(method, path, &headers, body.to_owned()).await
    }

    /// `POST /v1/leads` with the test key and JSON content type.
    pub async fn lead(&self, body: &str) -> Answer {
        self.lead_with(body, &[]).await
    }

    /// `POST /v1/leads` with the test key, JSON content type and extra headers.
    pub async fn lead_with(&self, body: &str, extra: &[(&str, &str)]) -> Answer {
        let auth = format!("Bearer {KEY}");
        let mut headers = vec![("authorization", auth.as_str()), ("content-type", "application/json")];
        headers.extend_from_slice(extra);
        self.send("POST", "/v1/leads", &headers, body.to_owned()).await
    }

    /// Asks the engine to stop and waits for it.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.done.take().unwrap().await.unwrap()
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The DESIGN.md example lead.
pub const LEAD: &str = r#"{"vertical": "auto_insurance",
 "attributes": {"zip": "98004", "state": "WA", "credit_tier": "good", "age": 42},
 "contact": {"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com",
             "phone": "+12065550100", "address": "1 Main St", "city": "Bellevue"},
 "consent": {"trustedform_cert_url": "https://cert.trustedform.com/abc", "jornaya_leadid": "LEADID-123",
             "ip": "203.0.113.9", "consent_text": "I agree to be contacted.", "captured_at": "2026-11-23T12:00:00Z"},
 "source": {"sub_id": "s1", "utm": {"utm_source": "google"}},
 "test": false}"#;

/// A lead with distinct contact data (for many leads at once).
pub fn lead_numbered(n: usize) -> String {
    LEAD.replace("jane@example.com", &format!("jane{n}@example.com")).replace("Jane", &format!("Jane{n}"))
}

/// Contact values of [`LEAD`] that must never appear in a ping, in every form a buyer
/// could recognise.
pub const CONTACT_VALUES: [&str; 9] = [
    "Jane",
    "Smith",
    "jane@example.com",
    "+12065550100",
    "2065550100",
    "555-0100",
    "1 Main St",
    "Bellevue",
    "203.0.113.9",
];
