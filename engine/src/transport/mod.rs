//! Talking to buyers: one request/answer exchange (a ping or a post) behind the [`Transport`]
//! trait, so the auction does not care whether buyers are across the internet (`http`) or
//! in-process (benches and tests plug their own). Timeouts belong to the caller: the auction
//! knows its deadlines, the transport only bounds what it reads.

mod http;
mod memory;
pub mod sign;

use std::future::Future;
use std::sync::Arc;

use ::http::{HeaderName, HeaderValue, Uri};
use bytes::Bytes;

pub use self::http::{HttpTransport, MAX_REPLY_BYTES};
pub use self::memory::MemoryTransport;
use crate::config::TransportKind;
use sign::Signer;

/// Which of a buyer's endpoints an exchange goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// The ping endpoint (no PII).
    Ping,
    /// The post endpoint (full lead).
    Post,
}

/// Where and how to reach one buyer: all the transport needs to know of it.
#[derive(Debug)]
pub struct Endpoint {
    /// The buyer's id (for in-memory buyers and diagnostics).
    pub buyer_id: Arc<str>,
    /// Ping endpoint (`None`: a fixed-price buyer, never pinged).
    pub ping_url: Option<Uri>,
    /// Post endpoint.
    pub post_url: Uri,
    /// Extra headers on every request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Signs requests when the buyer has a secret.
    pub signer: Option<Signer>,
    /// HTTP version to speak.
    pub version: TransportKind,
    /// `Content-Type` of pings: JSON for v1, the mapping's for a mapped ping.
    pub ping_content_type: HeaderValue,
    /// `Content-Type` of posts: JSON for v1, the mapping's for a mapped post.
    pub post_content_type: HeaderValue,
}

/// One request to a buyer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Who.
    pub endpoint: Arc<Endpoint>,
    /// Ping or post.
    pub kind: ExchangeKind,
    /// Unique id of this message (`webhook-id` when signed).
    pub message_id: Arc<str>,
    /// Body: v1 JSON, or the buyer's mapped encoding.
    pub body: Bytes,
}

/// A buyer's answer: status and (size-limited) body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body, at most [`MAX_REPLY_BYTES`].
    pub body: Bytes,
}

/// Why an exchange produced no answer. Whose fault: always the buyer's or the network's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (refused, DNS, TLS, connect timeout).
    #[error("connect failed")]
    Connect,
    /// The connection broke or the peer spoke bad HTTP.
    #[error("connection or protocol error")]
    Protocol,
    /// The answer body exceeded [`MAX_REPLY_BYTES`].
    #[error("answer body too large")]
    TooLarge,
}

/// Sends exchanges to buyers. Returned futures are `'static` so the auction can spawn them
/// and let a late answer finish off its path (keeping an HTTP/1.1 connection reusable).
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and reads the whole answer.
    fn exchange(&self, exchange: Exchange) -> impl Future<Output = Result<Reply, TransportError>> + Send + 'static;
}
