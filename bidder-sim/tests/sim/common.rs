//! Shared test fixtures: a simulator on 127.0.0.1:0, real HTTP clients (HTTP/1.1 and h2c),
//! and contract-v1 ping and post bodies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bidder_sim::{BuyerStats, SimConfig, Simulator};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A request that has not finished by then is a hung test, not a slow one.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A simulator serving in the background; stopped when dropped.
pub struct Sim {
    pub addr: SocketAddr,
    pub simulator: Arc<Simulator>,
    stop: Option<oneshot::Sender<()>>,
}

impl Sim {
    /// Serves the sim.toml `text` on a free port.
    pub async fn start(text: &str) -> Sim {
        let config = SimConfig::from_toml(text).unwrap();
        Sim::start_config(config).await
    }

    /// Serves `config` on a free port.
    pub async fn start_config(config: SimConfig) -> Sim {
        let simulator = Simulator::new(config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(Arc::clone(&simulator).serve(listener, async {
            let _ = stopped.await;
        }));
        Sim { addr, simulator, stop: Some(stop) }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One buyer's counts now.
    pub fn stats(&self, buyer: &str) -> BuyerStats {
        self.simulator.stats().buyer(buyer).cloned().unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTP client: HTTP/1.1 with keep-alive, or HTTP/2 with prior knowledge.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http1() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn http2() -> HttpClient {
    Client::builder(TokioExecutor::new()).http2_only(true).build_http()
}

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// POSTs a JSON body; `Err` when the connection fails (a reset, a dropped stream).
pub async fn post_json(client: &HttpClient, url: &str, body: &str) -> Result<Answer, String> {
    post_with_type(client, url, body, "application/json").await
}

pub async fn post_with_type(client: &HttpClient, url: &str, body: &str, content_type: &str) -> Result<Answer, String> {
    let request = Request::post(url)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let exchange = async {
        let response = client.request(request).await.map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| format!("{e:?}"))?.to_bytes();
        Ok(Answer { status, body })
    };
    tokio::time::timeout(TEST_TIMEOUT, exchange).await.unwrap()
}

pub async fn get(client: &HttpClient, url: &str) -> Answer {
    let request = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    let response = tokio::time::timeout(TEST_TIMEOUT, client.request(request)).await.unwrap().unwrap();
    let status = response.status();
    Answer { status, body: response.into_body().collect().await.unwrap().to_bytes() }
}

/// A contract-v1 ping for an auto insurance lead from Washington.
pub fn ping(ping_id: &str, tmax_ms: u32) -> String {
    ping_with(ping_id, tmax_ms, json!({"zip": "98004", "state": "WA", "credit_tier": "good", "age": 42}))
}

/// A contract-v1 ping with these attributes.
pub fn ping_with(ping_id: &str, tmax_ms: u32, attributes: Value) -> String {
    json!({"ping_id": ping_id, "vertical": "auto_insurance", "attributes": attributes, "tmax_ms": tmax_ms, "test": false})
        .to_string()
}

/// A contract-v1 post following a bid.
pub fn post(ping_id: &str, bid_id: &str, price: &str) -> String {
    json!({
        "ping_id": ping_id, "bid_id": bid_id, "price": price, "lead_id": "ld_1", "vertical": "auto_insurance",
        "attributes": {"zip": "98004", "state": "WA"},
        "contact": {"first_name": "Ava", "last_name": "Reyes", "email": "ava@example.com", "phone": "+12065550100"},
        "consent": null, "test": false
    })
    .to_string()
}

/// A buyer section: `id` with extra lines (its `[buyers.ping]` and so on).
pub fn buyer(id: &str, extra: &str) -> String {
    format!("[[buyers]]\nid = \"{id}\"\nverticals = [\"auto_insurance\"]\n{extra}\n")
}
