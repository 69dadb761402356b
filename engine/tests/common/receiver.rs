//! A scripted webhook receiver on 127.0.0.1:0: answers from a script (its last reply
//! repeats), records every request, and signals each arrival.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

/// Failure guard for [`Receiver::wait_for`].
const GUARD: Duration = Duration::from_secs(20);

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    StatusRetryAfter(u16, &'static str),
    Hang,
}

#[derive(Clone, Debug)]
pub struct Got {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Got {
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Answers from a script (its last reply repeats) and records every request.
pub struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    count: watch::Receiver<usize>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let (count_tx, count) = watch::channel(0);
        let state = Arc::new((Mutex::new(script), Arc::clone(&got), count_tx));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let state = Arc::clone(&state);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let reply = {
                                let mut script = state.0.lock();
                                if script.len() > 1 { script.remove(0) } else { script[0].clone() }
                            };
                            let n = {
                                let mut got = state.1.lock();
                                got.push(Got { headers: parts.headers, body, at: Instant::now() });
                                got.len()
                            };
                            state.2.send_replace(n);
                            let mut response = Response::new(Full::new(Bytes::new()));
                            match reply {
                                Reply::Hang => std::future::pending::<()>().await,
                                Reply::Status(status) => *response.status_mut() = status.try_into().unwrap(),
                                Reply::StatusRetryAfter(status, after) => {
                                    *response.status_mut() = status.try_into().unwrap();
                                    response.headers_mut().insert("retry-after", after.parse().unwrap());
                                }
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { addr, got, count }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn got(&self) -> Vec<Got> {
        self.got.lock().clone()
    }

    /// Waits for the `n`th request.
    pub async fn wait_for(&self, n: usize) {
        let mut count = self.count.clone();
        let waited = tokio::time::timeout(GUARD, count.wait_for(|c| *c >= n)).await;
        assert!(waited.is_ok(), "expected {n} requests, got {}", self.got.lock().len());
    }

    /// Waits until `done` holds for the requests received so far.
    pub async fn wait_until(&self, done: impl Fn(&[Got]) -> bool) {
        let mut count = self.count.clone();
        loop {
            if done(&self.got.lock()) {
                return;
            }
            if count.changed().await.is_err() {
                return;
            }
        }
    }
}
