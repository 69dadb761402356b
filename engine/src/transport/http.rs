//! The real transport: HTTP/1.1 or HTTP/2 (cleartext or TLS) over pooled keep-alive
//! connections, with TCP_NODELAY, a connect timeout, signing, and a cap on answer size so a
//! buyer cannot exhaust our memory.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::{Exchange, ExchangeKind, Reply, Transport, TransportError};
use crate::config::TransportKind;

/// Largest answer body read from a buyer: a bid or a post answer is well under 1 KiB.
pub const MAX_REPLY_BYTES: usize = 16 * 1024;

/// A buyer that cannot complete a TCP connect in this time is down for this auction (the ping
/// deadline is 100 ms by default; a TLS handshake after it is bounded by that deadline).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// Idle keep-alive connections are kept this long: buyers get pinged every few seconds at
/// least, and reconnecting costs a round trip (several with TLS).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Idle connections kept per buyer host: enough for the concurrent auctions of a busy node.
const POOL_MAX_IDLE_PER_HOST: usize = 512;

type Connector = HttpsConnector<HttpConnector>;

/// HTTP client for buyers, one pool per protocol version.
#[derive(Clone, Debug)]
pub struct HttpTransport {
    http1: Client<Connector, Full<Bytes>>,
    http2: Client<Connector, Full<Bytes>>,
}

impl HttpTransport {
    /// Builds both pools.
    pub fn new() -> HttpTransport {
        let connector = |http2: bool| {
            let mut tcp = HttpConnector::new();
            tcp.set_nodelay(true);
            tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
            tcp.set_keepalive(Some(Duration::from_secs(60)));
            tcp.enforce_http(false);
            let builder = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http();
            if http2 { builder.enable_http2().wrap_connector(tcp) } else { builder.enable_http1().wrap_connector(tcp) }
        };
        let client = |http2: bool| {
            Client::builder(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
                .http2_only(http2)
                .build(connector(http2))
        };
        HttpTransport { http1: client(false), http2: client(true) }
    }
}

impl Default for HttpTransport {
    fn default() -> Self {
        HttpTransport::new()
    }
}

impl Transport for HttpTransport {
    fn exchange(
        &self,
        exchange: Exchange,
    ) -> impl std::future::Future<Output = Result<Reply, TransportError>> + Send + 'static {
        let client = match exchange.endpoint.version {
            TransportKind::Http1 => self.http1.clone(),
            TransportKind::Http2 => self.http2.clone(),
        };
        async move {
            // No ping URL: a fixed-price buyer, which the auction never pings.
            let request = build_request(&exchange).ok_or(TransportError::Connect)?;
            let response = client
                .request(request)
                .await
                .map_err(|e| if e.is_connect() { TransportError::Connect } else { TransportError::Protocol })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_REPLY_BYTES).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    TransportError::TooLarge
                } else {
                    TransportError::Protocol
                }
            })?;
            Ok(Reply { status, body: body.to_bytes() })
        }
    }
}

fn build_request(exchange: &Exchange) -> Option<Request<Full<Bytes>>> {
    let endpoint = &exchange.endpoint;
    let (uri, content_type) = match exchange.kind {
        ExchangeKind::Ping => (endpoint.ping_url.clone()?, &endpoint.ping_content_type),
        ExchangeKind::Post => (endpoint.post_url.clone(), &endpoint.post_content_type),
    };
    let mut request = Request::new(Full::new(exchange.body.clone()));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, content_type.clone());
    headers.insert(USER_AGENT, HeaderValue::from_static(concat!("lead-engine/", env!("CARGO_PKG_VERSION"))));
    for (name, value) in &endpoint.headers {
        headers.insert(name.clone(), value.clone());
    }
    if let Some(signer) = &endpoint.signer {
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let signature = signer.sign(&exchange.message_id, timestamp, &exchange.body);
        let mut ts = itoa::Buffer::new();
        let values = [
            ("webhook-id", HeaderValue::from_str(&exchange.message_id)),
            ("webhook-timestamp", HeaderValue::from_str(ts.format(timestamp))),
            ("webhook-signature", HeaderValue::from_str(&signature)),
        ];
        for (name, value) in values {
            if let Ok(value) = value {
                headers.insert(name, value);
            }
        }
    }
    Some(request)
}
