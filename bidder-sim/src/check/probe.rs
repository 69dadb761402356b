//! The checker's HTTP side: one pooled keep-alive client set up like the engine's buyer client
//! (TCP_NODELAY, a 250 ms connect timeout, Mozilla roots for TLS, HTTP/1.1 or HTTP/2), sending
//! one request at a time and recording what came back, how long the whole answer took, and on
//! which connection. Nothing here judges an answer; `rules` does.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector, HttpInfo};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::flags::{Header, Transport};
use super::sign::Signer;

/// Most of an answer body read. Well above the engine's own limit
/// ([`ENGINE_MAX_ANSWER_BYTES`]), so an oversized answer can be reported with its size, and
/// small enough that a runaway endpoint cannot exhaust our memory.
pub const MAX_READ_BYTES: usize = 64 * 1024;

/// The engine reads at most this much of an answer (`MAX_REPLY_BYTES` in
/// `engine/src/transport/http.rs`); a larger one is a transport error there.
pub const ENGINE_MAX_ANSWER_BYTES: usize = 16 * 1024;

/// The engine gives up on a TCP connect after this long, so the checker does too: a slower
/// connect is what the engine would see as an unreachable buyer.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// What the checker says it is, so a buyer can tell its traffic from the engine's.
const CHECKER_USER_AGENT: &str = concat!("bidder-sim-check/", env!("CARGO_PKG_VERSION"));

/// One request and what came of it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// From just before sending until the whole answer was read (or we stopped waiting), as
    /// the engine counts it: connection setup included.
    pub elapsed: Duration,
    /// The answer, or why there was none.
    pub result: Result<Answer, Failure>,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The `content-type` header, if any (lossy text).
    pub content_type: Option<String>,
    /// The body, at most [`MAX_READ_BYTES`].
    pub body: Bytes,
    /// False when the body was longer than [`MAX_READ_BYTES`] and reading stopped.
    pub complete: bool,
    /// Our end of the connection it came on: a new one means a new connection.
    pub local_addr: Option<SocketAddr>,
}

/// Why a request got no answer.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Connect, TLS, HTTP or I/O failure, with the error text.
    Transport(String),
    /// Nothing complete arrived before we stopped waiting.
    NoAnswer,
}

/// Sends the checker's requests.
#[derive(Debug, Clone)]
pub struct Prober {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    headers: Vec<Header>,
    signer: Option<Signer>,
}

impl Prober {
    /// A client speaking `transport`, adding `headers` to every request and signing with
    /// `signer` when there is one.
    pub fn new(transport: Transport, headers: Vec<Header>, signer: Option<Signer>) -> Prober {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http();
        let http2 = transport == Transport::Http2;
        let connector =
            if http2 { https.enable_http2().wrap_connector(tcp) } else { https.enable_http1().wrap_connector(tcp) };
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_only(http2)
            .build(connector);
        Prober { client, headers, signer }
    }

    /// POSTs `body` to `url` (signed as `message_id`) and waits at most `wait` for the whole
    /// answer.
    pub async fn send(&self, url: &Uri, message_id: &str, body: Bytes, wait: Duration) -> Exchange {
        let request = self.request(url, message_id, body);
        let started = Instant::now();
        let result = match tokio::time::timeout(wait, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::NoAnswer),
        };
        Exchange { elapsed: started.elapsed(), result }
    }

    fn request(&self, url: &Uri, message_id: &str, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = url.clone();
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(CHECKER_USER_AGENT));
        for header in &self.headers {
            headers.insert(header.name.clone(), header.value.clone());
        }
        if let Some(signer) = &self.signer {
            let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let signature = signer.sign(message_id, timestamp, &body);
            let values = [
                ("webhook-id", message_id.to_owned()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ];
            for (name, value) in values {
                // Our ids, digits and base64: always valid header values.
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.insert(name, value);
                }
            }
        }
        request
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<Answer, Failure> {
        let response = self.client.request(request).await.map_err(|e| {
            let prefix = if e.is_connect() { "cannot connect" } else { "request failed" };
            Failure::Transport(format!("{prefix}: {}", error_chain(&e)))
        })?;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let local_addr = response.extensions().get::<HttpInfo>().map(HttpInfo::local_addr);
        let mut body = response.into_body();
        let mut read = BytesMut::new();
        let mut complete = true;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| Failure::Transport(format!("reading the answer failed: {}", error_chain(&e))))?;
            let Ok(data) = frame.into_data() else { continue };
            let room = MAX_READ_BYTES - read.len();
            if data.len() > room {
                read.extend_from_slice(&data[..room]);
                complete = false;
                break;
            }
            read.extend_from_slice(&data);
        }
        Ok(Answer { status, content_type, body: read.freeze(), complete, local_addr })
    }
}

/// An error and its causes, `a: b: c`: hyper's own message alone ("client error (Connect)")
/// does not say what went wrong.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
