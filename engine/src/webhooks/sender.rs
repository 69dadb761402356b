//! The webhook HTTP client: HTTP/1.1 over pooled keep-alive connections, https through rustls
//! with the webpki roots (as `transport/http.rs` builds its clients), and the SSRF guard at
//! connect time ([`GuardedResolver`] for names, [`check_url`] for IP literals, which skip the
//! resolver). One attempt is bounded by the delivery timeout from connect to the last byte
//! read; the answer's body is read up to [`MAX_RESPONSE_BYTES`] and dropped: only the status
//! (and `Retry-After`) matter.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use super::request::Prepared;
use super::retry::Outcome;
use super::ssrf::{GuardedResolver, check_url};
use crate::config::DeliveryConfig;

/// Most of an answer body read (then dropped): subscribers answer with a few bytes, and a
/// huge answer must not cost us memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Idle keep-alive connections kept per endpoint host: the default per-endpoint concurrency.
const POOL_MAX_IDLE_PER_HOST: usize = 8;

/// How long an idle connection is kept: events of a busy subscription come seconds apart.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Longest `Retry-After` value kept (an HTTP-date is 29 bytes).
const MAX_RETRY_AFTER_LEN: usize = 64;

type Connector = HttpsConnector<HttpConnector<GuardedResolver>>;

/// The webhook client.
#[derive(Clone, Debug)]
pub struct Sender {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    allow_private: bool,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// What the retry policy and the breaker look at.
    pub outcome: Outcome,
    /// The endpoint's status, if it answered.
    pub status: Option<u16>,
    /// From sending to the end of the answer (or the failure).
    pub latency: Duration,
    /// What went wrong, for the delivery log (no secrets, no payload).
    pub error: Option<String>,
    /// The raw `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

impl Sender {
    /// A client with the delivery settings' timeout and SSRF policy.
    pub fn new(settings: &DeliveryConfig) -> Sender {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let mut tcp = HttpConnector::new_with_resolver(GuardedResolver::new(settings.allow_private_targets));
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeout));
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(connector);
        Sender { client, timeout, allow_private: settings.allow_private_targets }
    }

    /// Sends one attempt (POST) and reads the answer, all within the timeout.
    pub async fn send(&self, url: &Uri, prepared: Prepared) -> Sent {
        let started = Instant::now();
        let failed = |outcome, error: String| Sent {
            outcome,
            status: None,
            latency: started.elapsed(),
            error: Some(error),
            retry_after: None,
        };
        if let Err(refused) = check_url(url, self.allow_private) {
            return failed(Outcome::Connection, format!("refused: {refused}"));
        }
        let mut request = Request::new(Full::new(prepared.body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = url.clone();
        *request.headers_mut() = prepared.headers;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= MAX_RETRY_AFTER_LEN)
                .map(str::to_owned);
            // The body only matters as far as finishing the exchange: its errors are ignored.
            let _ = Limited::new(response.into_body(), MAX_RESPONSE_BYTES).collect().await;
            Ok::<_, hyper_util::client::legacy::Error>((status, retry_after))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok((status, retry_after))) => Sent {
                outcome: Outcome::Status(status),
                status: Some(status),
                latency: started.elapsed(),
                error: (!(200..300).contains(&status)).then(|| format!("status {status}")),
                retry_after,
            },
            Ok(Err(error)) => failed(Outcome::Connection, describe(&error)),
            Err(_) => failed(Outcome::Timeout, format!("timeout after {} ms", self.timeout.as_millis())),
        }
    }
}

/// `connection failed: <the innermost cause>` (refused, DNS, TLS, the SSRF guard).
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let kind = if error.is_connect() { "connection failed" } else { "connection error" };
    format!("{kind}: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::testing::{Receiver, Reply};

    fn settings(allow_private: bool, timeout_ms: u64) -> DeliveryConfig {
        DeliveryConfig { allow_private_targets: allow_private, timeout_ms, ..DeliveryConfig::default() }
    }

    fn prepared(body: &'static str) -> Prepared {
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", http::HeaderValue::from_static("evt_1"));
        Prepared { body: Bytes::from_static(body.as_bytes()), headers }
    }

    #[tokio::test]
    async fn sends_the_prepared_request_and_reports_the_status() {
        let receiver = Receiver::start(vec![Reply::status(503).retry_after("7"), Reply::status(204)]).await;
        let sender = Sender::new(&settings(true, 2_000));
        let first = sender.send(&receiver.url(), prepared("{\"a\":1}")).await;
        assert_eq!(first.outcome, Outcome::Status(503));
        assert_eq!(first.error.as_deref(), Some("status 503"));
        assert_eq!(first.retry_after.as_deref(), Some("7"));
        let second = sender.send(&receiver.url(), prepared("{\"a\":1}")).await;
        assert_eq!((second.status, second.error), (Some(204), None));
        let got = receiver.received();
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0].body[..], b"{\"a\":1}");
        assert_eq!(got[0].headers.get("webhook-id").and_then(|v| v.to_str().ok()), Some("evt_1"));
    }

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        let receiver = Receiver::start(vec![Reply::status(200)]).await;
        let sender = Sender::new(&settings(false, 2_000));
        let sent = sender.send(&receiver.url(), prepared("{}")).await;
        assert_eq!(sent.outcome, Outcome::Connection);
        assert!(sent.error.as_deref().is_some_and(|e| e.starts_with("refused:")), "{sent:?}");
        let named: Uri = format!("http://localhost:{}/hook", receiver.addr.port()).parse().expect("a URL");
        let sent = sender.send(&named, prepared("{}")).await;
        assert_eq!(sent.outcome, Outcome::Connection);
        assert!(receiver.received().is_empty(), "nothing reached the private address");
        // `localhost` is caught by check_url; a name that resolves inside is caught by the
        // resolver, whose filtering the ssrf tests cover.
        assert!(sent.error.as_deref().is_some_and(|e| e.contains("private")), "{sent:?}");
    }

    #[tokio::test]
    async fn a_hanging_endpoint_times_out_and_a_closed_port_fails_to_connect() {
        let receiver = Receiver::start(vec![Reply::hang()]).await;
        let sender = Sender::new(&settings(true, 200));
        let sent = sender.send(&receiver.url(), prepared("{}")).await;
        assert_eq!(sent.outcome, Outcome::Timeout);
        assert_eq!(sent.error.as_deref(), Some("timeout after 200 ms"));
        assert!(sent.latency >= Duration::from_millis(200));

        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url: Uri = format!("http://{}/hook", closed.local_addr().expect("addr")).parse().expect("a URL");
        drop(closed);
        let sent = sender.send(&url, prepared("{}")).await;
        assert_eq!(sent.outcome, Outcome::Connection);
        assert!(sent.error.as_deref().is_some_and(|e| e.starts_with("connection failed")), "{sent:?}");
    }

    #[tokio::test]
    async fn a_huge_answer_is_cut_off_and_the_status_still_counts() {
        let receiver = Receiver::start(vec![Reply::status(200).body(vec![b'x'; MAX_RESPONSE_BYTES * 4])]).await;
        let sent = Sender::new(&settings(true, 2_000)).send(&receiver.url(), prepared("{}")).await;
        assert_eq!(sent.outcome, Outcome::Status(200));
    }
}
