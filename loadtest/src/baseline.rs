//! The physical limit: a bare hyper server that takes the same `POST /v1/leads` as the engine
//! and makes the same HTTP exchanges per lead (one ping to each buyer at once under the same
//! deadline, then one post), with none of the auction's logic. Measured with the same
//! generator against the same bidder-sim, its figures are what the engine's are compared to.
//!
//! What it does per lead: read the body (no parse, no validation); render one ping per buyer
//! from a [`PingTemplate`] of fixed attributes; send them all at once over pooled keep-alive
//! clients configured as the engine's; take the answers in arrival order until all came or the
//! ping deadline passed (late answers are read off in the background, as the engine does);
//! post to the first buyer whose 200 answer is a bid (its `bid_id` and `price` are read so
//! the simulator takes its normal post path); answer
//! `{"lead_id":"x","outcome":"sold"|"unsold","timings_ms":{"ping":...,"total":...}}`, `sold` when the
//! post got a 2xx. No ranking, eligibility, caps, records or metrics.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use http::{Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use lead_protocol::bid::{BidVerdict, PriceLimits, judge_bid};
use lead_protocol::geo::{State, Zip};
use lead_protocol::lead::{AttrValue, Attributes};
use lead_protocol::money::Micros;
use lead_protocol::ping::PingTemplate;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Largest lead body read: the engine's default `intake.max_body_bytes`.
const MAX_LEAD_BYTES: usize = 64 * 1024;

/// Largest buyer answer read: the engine's `MAX_REPLY_BYTES`.
const MAX_REPLY_BYTES: usize = 16 * 1024;

/// Connections served at once; past it accepting waits. Far above the generator's in-flight
/// bound, low enough to stay inside a default file-descriptor limit.
const MAX_CONNECTIONS: usize = 10_000;

/// The client pools are the engine's (`transport/http.rs`): the same idle bound per host
/// (every simulated buyer is one host), idle timeout and TCP settings.
const POOL_MAX_IDLE_PER_HOST: usize = 512;
/// See [`POOL_MAX_IDLE_PER_HOST`].
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// See [`POOL_MAX_IDLE_PER_HOST`].
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// Any price is a bid: the baseline judges status and shape, not money.
const ANY_PRICE: PriceLimits = PriceLimits { floor: Micros::ZERO, max: Micros(i64::MAX) };

/// One buyer's endpoints.
#[derive(Debug, Clone)]
pub struct BaselineBuyer {
    /// Where its pings go.
    pub ping_url: Uri,
    /// Where its post goes.
    pub post_url: Uri,
    /// Speak HTTP/2 to it (the engine's `transport = "http2"`).
    pub http2: bool,
}

/// The bare server's state: the buyers, the deadlines, the clients and the prebuilt bodies.
#[derive(Debug)]
pub struct Baseline {
    buyers: Vec<BaselineBuyer>,
    ping_timeout: Duration,
    total_timeout: Duration,
    pings: PingTemplate,
    /// Everything of a post body after `price`, serialized once.
    post_tail: Vec<u8>,
    http1: Client<HttpConnector, Full<Bytes>>,
    http2: Client<HttpConnector, Full<Bytes>>,
}

impl Baseline {
    /// A baseline for these buyers and deadlines.
    pub fn new(buyers: Vec<BaselineBuyer>, ping_timeout: Duration, total_timeout: Duration) -> Arc<Baseline> {
        let (attributes, contact) = fixed_lead();
        let pings = PingTemplate::new(VERTICAL, &attributes, false);
        let mut post_tail = b",\"lead_id\":\"x\",\"vertical\":\"".to_vec();
        post_tail.extend_from_slice(VERTICAL.as_bytes());
        post_tail.extend_from_slice(b"\",\"attributes\":");
        // Writing to a Vec cannot fail, and these values serialize infallibly.
        let _ = serde_json::to_writer(&mut post_tail, &attributes);
        post_tail.extend_from_slice(b",\"contact\":");
        let _ = serde_json::to_writer(&mut post_tail, &contact);
        post_tail.extend_from_slice(b",\"consent\":null,\"test\":false}");
        Arc::new(Baseline {
            buyers,
            ping_timeout,
            total_timeout,
            pings,
            post_tail,
            http1: client(false),
            http2: client(true),
        })
    }

    /// A baseline with the buyers and the `[auction]` deadlines of an engine config.
    pub fn from_engine_config(config: &engine::config::Config) -> Arc<Baseline> {
        let buyers = config
            .buyers
            .iter()
            .filter(|b| b.enabled)
            // The baseline pings: fixed-price buyers (no ping URL) have no part in it.
            .filter_map(|b| {
                Some(BaselineBuyer {
                    ping_url: b.ping_url.clone()?,
                    post_url: b.post_url.clone(),
                    http2: b.transport == engine::config::TransportKind::Http2,
                })
            })
            .collect();
        Baseline::new(
            buyers,
            Duration::from_millis(config.auction.ping_timeout_ms.into()),
            Duration::from_millis(config.auction.total_timeout_ms.into()),
        )
    }

    /// Serves `POST /v1/leads` on `listener` until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let builder = auto::Builder::new(TokioExecutor::new());
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => permit.map_err(std::io::Error::other)?,
                () = &mut shutdown => return Ok(()),
            };
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => accepted?,
                () = &mut shutdown => return Ok(()),
            };
            let _ = stream.set_nodelay(true);
            let baseline = Arc::clone(&self);
            let service = service_fn(move |request| Arc::clone(&baseline).handle(request));
            let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
            tokio::spawn(async move {
                let _ = connection.await;
                drop(permit);
            });
        }
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        if request.method() != Method::POST || request.uri().path() != "/v1/leads" {
            return Ok(answer(StatusCode::NOT_FOUND, Bytes::from_static(br#"{"error":{"code":"not_found"}}"#)));
        }
        if Limited::new(request.into_body(), MAX_LEAD_BYTES).collect().await.is_err() {
            return Ok(answer(StatusCode::BAD_REQUEST, Bytes::from_static(br#"{"error":{"code":"bad_body"}}"#)));
        }
        let started = Instant::now();
        let (sold, ping) = self.auction(started).await;
        let body = format!(
            r#"{{"lead_id":"x","outcome":"{}","timings_ms":{{"ping":{:.3},"total":{:.3}}}}}"#,
            if sold { "sold" } else { "unsold" },
            ping.as_secs_f64() * 1000.0,
            started.elapsed().as_secs_f64() * 1000.0
        );
        Ok(answer(StatusCode::OK, Bytes::from(body)))
    }

    /// The exchanges of one lead; whether the post got a 2xx, and how long the pings took.
    async fn auction(self: &Arc<Self>, started: Instant) -> (bool, Duration) {
        let tmax_ms = u32::try_from(self.ping_timeout.as_millis()).unwrap_or(u32::MAX);
        let mut answers: FuturesUnordered<_> = (0..self.buyers.len())
            .map(|i| {
                let baseline = Arc::clone(self);
                async move {
                    let ping_id = lead_protocol::ids::ping_id();
                    let buyer = &baseline.buyers[i];
                    let body = baseline.pings.render(&ping_id, tmax_ms);
                    (i, ping_id, baseline.exchange(&buyer.ping_url, buyer.http2, body).await)
                }
            })
            .collect();
        let mut first_bid = None;
        let all_answers = async {
            while let Some((i, ping_id, answer)) = answers.next().await {
                if first_bid.is_some() {
                    continue;
                }
                if let Some((200, body)) = answer
                    && let BidVerdict::Bid { price, bid_id } = judge_bid(200, &body, ANY_PRICE)
                {
                    first_bid = Some((i, ping_id, price, bid_id));
                }
            }
        };
        let _ = tokio::time::timeout_at(started + self.ping_timeout, all_answers).await;
        if !answers.is_empty() {
            // Late answers are not waited for, but read off their connections in the
            // background (as the engine does) so the keep-alive pool is not torn down.
            tokio::spawn(async move { while answers.next().await.is_some() {} });
        }
        let ping = started.elapsed();
        let Some((i, ping_id, price, bid_id)) = first_bid else { return (false, ping) };
        let buyer = &self.buyers[i];
        let mut body = Vec::with_capacity(96 + self.post_tail.len());
        body.extend_from_slice(b"{\"ping_id\":\"");
        body.extend_from_slice(ping_id.as_bytes());
        body.extend_from_slice(b"\",\"bid_id\":");
        let _ = serde_json::to_writer(&mut body, &bid_id.as_deref());
        body.extend_from_slice(b",\"price\":");
        let _ = serde_json::to_writer(&mut body, &price);
        body.extend_from_slice(&self.post_tail);
        let post = self.exchange(&buyer.post_url, buyer.http2, Bytes::from(body));
        let sold =
            matches!(tokio::time::timeout_at(started + self.total_timeout, post).await, Ok(Some((200..=299, _))));
        (sold, ping)
    }

    /// One POST: its status and body, or `None` if it failed.
    async fn exchange(&self, url: &Uri, http2: bool, body: Bytes) -> Option<(u16, Bytes)> {
        let request = Request::post(url).header(header::CONTENT_TYPE, "application/json").body(Full::new(body)).ok()?;
        let client = if http2 { &self.http2 } else { &self.http1 };
        let response = client.request(request).await.ok()?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_REPLY_BYTES).collect().await.ok()?.to_bytes();
        Some((status, body))
    }
}

/// The vertical of every baseline ping: the one most buyers take.
const VERTICAL: &str = "auto_insurance";

/// The fixed attributes of every ping and the fixed contact of every post (the size of a
/// typical synthetic lead's).
fn fixed_lead() -> (Attributes, serde_json::Value) {
    let attributes = Attributes {
        zip: Zip::parse("90210").expect("a valid ZIP"),
        state: State::parse("CA").expect("a valid state"),
        extra: vec![
            ("age".into(), AttrValue::Number(42.into())),
            ("credit_tier".into(), AttrValue::Text("good".into())),
            ("homeowner".into(), AttrValue::Bool(true)),
        ],
    };
    let contact = serde_json::json!({
        "first_name": "Ava", "last_name": "Chen", "email": "ava.chen@example.com", "phone": "+12065550100",
    });
    (attributes, contact)
}

fn client(http2: bool) -> Client<HttpConnector, Full<Bytes>> {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    tcp.set_keepalive(Some(Duration::from_secs(60)));
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .http2_only(http2)
        .build(tcp)
}

fn answer(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}
