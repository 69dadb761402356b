//! The [`Simulator`]: every configured buyer behind one listener, at `/{buyer_id}/ping` and
//! `/{buyer_id}/post`, plus `GET /stats`, `GET /metrics` and `GET /healthz`. HTTP/1.1 and
//! HTTP/2 cleartext on the same port (hyper-util's auto builder), a bound on open connections,
//! and one drain with a deadline on shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::body::SimBody;
use crate::buyer::{self, Buyer, Reply};
use crate::config::{ConfigError, SimConfig};
use crate::conn::{ResetSwitch, ResettableStream};
use crate::metrics::Exporter;
use crate::stats::{StatsSnapshot, bump};

/// Open connections at most; past it, accepting waits (the kernel backlog queues). Far above
/// what an engine opens (a pool per buyer), low enough to stay inside a default fd limit.
const MAX_CONNECTIONS: usize = 10_000;

/// A client must send its request headers within this time (a stalled client frees its slot).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Streams per HTTP/2 connection: the engine multiplexes every ping to the simulator over a
/// few connections, so this must exceed its fan-out at full load.
const MAX_H2_STREAMS: u32 = 4_096;

/// On shutdown, open requests get this long to finish before their connections are dropped:
/// enough for any planned latency, short enough that Ctrl-C does not wait on `never_answer`.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Pause after a failed accept (out of file descriptors and the like) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The error that makes hyper drop a request without answering: on HTTP/1.1 the whole
/// connection (reset), on HTTP/2 the stream (`RST_STREAM`).
#[derive(Debug, thiserror::Error)]
#[error("dropped without an answer (fault injection)")]
struct Dropped;

/// Simulated buyers behind one listener. Build it with [`Simulator::new`], run it with
/// [`Simulator::serve`], and read [`Simulator::stats`] from anywhere while it runs.
#[derive(Debug)]
pub struct Simulator {
    config: SimConfig,
    buyers: Box<[Buyer]>,
    /// Buyer id to index in `buyers`.
    routes: HashMap<Box<str>, usize>,
    /// Requests for a path that names no buyer.
    unroutable: AtomicU64,
    exporter: Exporter,
}

impl Simulator {
    /// Validates `config` and builds its buyers.
    pub fn new(config: SimConfig) -> Result<Arc<Simulator>, ConfigError> {
        config.validate()?;
        let buyers: Box<[Buyer]> =
            config.buyers.iter().map(|spec| Buyer::new(spec, config.seed, config.bid_memory)).collect();
        let routes = buyers.iter().enumerate().map(|(i, buyer)| (buyer.id.clone(), i)).collect();
        Ok(Arc::new(Simulator { config, buyers, routes, unroutable: AtomicU64::new(0), exporter: Exporter::new() }))
    }

    /// The configuration it runs.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Every buyer's counts now.
    pub fn stats(&self) -> StatsSnapshot {
        let buyers = self.buyers.iter().map(|buyer| (buyer.id.to_string(), buyer.counters.snapshot())).collect();
        StatsSnapshot::new(buyers, self.unroutable.load(Ordering::Relaxed))
    }

    /// Serves on `listener` until `shutdown` resolves, then lets open requests finish for a
    /// short grace period and drops what is left.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).keep_alive(true);
        builder.http2().timer(TokioTimer::new()).max_concurrent_streams(MAX_H2_STREAMS);
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => permit.map_err(std::io::Error::other)?,
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Reap finished connections so the set stays as small as the open ones.
            while connections.try_join_next().is_some() {}
            let _ = stream.set_nodelay(true);
            let (stream, reset) = ResettableStream::new(stream);
            let sim = Arc::clone(&self);
            let service = service_fn(move |request| Arc::clone(&sim).handle(request, reset.clone()));
            let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
            let watched = graceful.watch(connection);
            connections.spawn(async move {
                let _ = watched.await;
                drop(permit);
            });
        }
        drop(listener);
        if tokio::time::timeout(DRAIN_GRACE, graceful.shutdown()).await.is_err() {
            tracing::info!("requests still open after the drain grace period; dropping them");
        }
        connections.shutdown().await;
        Ok(())
    }

    /// Routes one request.
    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        reset: ResetSwitch,
    ) -> Result<Response<SimBody>, Dropped> {
        let version = request.version();
        let reply = match (request.method(), request.uri().path()) {
            (&Method::GET, "/stats") => {
                let body = serde_json::to_vec(&self.stats()).unwrap_or_default();
                Reply::Answer(buyer::json(StatusCode::OK, SimBody::full(body)))
            }
            (&Method::GET, "/metrics") => {
                let mut response = Response::new(SimBody::full(self.exporter.render(&self.stats())));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                Reply::Answer(response)
            }
            (&Method::GET, "/healthz") => Reply::Answer(Response::new(SimBody::full("ok\n"))),
            (method, path) => match self.route(path) {
                Some((buyer, Action::Ping)) if method == Method::POST => {
                    buyer.ping(&self.config.fault_settings, request).await
                }
                Some((buyer, Action::Post)) if method == Method::POST => {
                    buyer.post(&self.config.fault_settings, request).await
                }
                Some(_) => {
                    let mut response = buyer::error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
                    response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
                    Reply::Answer(response)
                }
                None => {
                    bump(&self.unroutable);
                    Reply::Answer(buyer::error(StatusCode::NOT_FOUND, "no_such_buyer"))
                }
            },
        };
        match reply {
            Reply::Answer(response) => Ok(response),
            Reply::Drop => {
                // HTTP/2 connections carry other requests: only this stream is reset.
                if version != Version::HTTP_2 {
                    reset.arm();
                }
                Err(Dropped)
            }
        }
    }

    /// The buyer and endpoint of `/{buyer_id}/ping` or `/{buyer_id}/post`.
    fn route(&self, path: &str) -> Option<(&Buyer, Action)> {
        let (id, action) = path.strip_prefix('/')?.split_once('/')?;
        let action = match action {
            "ping" => Action::Ping,
            "post" => Action::Post,
            _ => return None,
        };
        self.routes.get(id).map(|&i| (&self.buyers[i], action))
    }
}

/// The endpoint a path names.
#[derive(Debug, Clone, Copy)]
enum Action {
    Ping,
    Post,
}

/// Builds a [`Simulator`] for `config` and serves it on `listener` until `shutdown`
/// resolves. An invalid config is an [`std::io::ErrorKind::InvalidInput`] error. Use
/// [`Simulator::new`] and [`Simulator::serve`] instead to read stats while it runs.
pub async fn serve(
    config: SimConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let simulator =
        Simulator::new(config).map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    simulator.serve(listener, shutdown).await
}
