//! The open-loop run: each lead is sent at its intended time whatever happened to the ones
//! before, through at most `connections` requests in flight; a lead that has to wait for a
//! free connection waits *in its latency*, which is measured from the intended time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use crate::report::{EngineTimings, Recorder, Report, Sample};
use crate::schedule::{Arrivals, offsets};

/// Largest answer body read; the engine's answers are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Base URL of the engine (`http://127.0.0.1:8080`).
    pub target: Uri,
    /// Publisher key.
    pub key: String,
    /// Leads per second.
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// Requests in flight at most (and so connections).
    pub connections: usize,
    /// Arrival spacing.
    pub arrivals: Arrivals,
    /// A lead with no answer after this is a client timeout.
    pub timeout: Duration,
    /// Seed of the arrivals and the leads.
    pub seed: u64,
}

/// Progress, reported about once a second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Time since the start.
    pub elapsed: Duration,
    /// Scheduled duration.
    pub duration: Duration,
    /// Requests sent.
    pub sent: u64,
    /// Answers received.
    pub answered: u64,
}

/// Runs the load and returns the report.
pub async fn run(options: &RunOptions, mut progress: impl FnMut(Progress)) -> Report {
    let mut connector = HttpConnector::new();
    // Small requests answered at once: Nagle's algorithm would only add delay.
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(options.connections).build(connector);
    let url: Arc<str> = format!("{}/v1/leads", options.target.to_string().trim_end_matches('/')).into();
    let auth: Arc<str> = format!("Bearer {}", options.key).into();
    let slots = Arc::new(Semaphore::new(options.connections.max(1)));
    let (samples_tx, mut samples) = mpsc::unbounded_channel::<Sample>();
    // Contact data unique per run, so the engine's dedupe never sees two runs' leads as one.
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut leads = bidder_sim::leads::LeadFactory::new(options.seed, run_id);
    let mut recorder = Recorder::new();
    let start = Instant::now();
    let mut next_progress = start + Duration::from_secs(1);

    for offset in offsets(options.arrivals, options.rate, options.duration, options.seed) {
        let body = Bytes::from(leads.next_lead().to_string());
        let intended = start + offset;
        // Take in the answers that came in while waiting for the next send time.
        loop {
            tokio::select! {
                biased;
                Some(sample) = samples.recv() => recorder.record(sample),
                () = tokio::time::sleep_until(intended) => break,
            }
        }
        recorder.count_sent();
        let request = Exchange {
            client: client.clone(),
            url: Arc::clone(&url),
            auth: Arc::clone(&auth),
            body,
            intended,
            timeout: options.timeout,
        };
        let slots = Arc::clone(&slots);
        let samples_tx = samples_tx.clone();
        tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else { return };
            let _ = samples_tx.send(request.send().await);
        });
        if Instant::now() >= next_progress {
            next_progress += Duration::from_secs(1);
            progress(Progress {
                elapsed: start.elapsed(),
                duration: options.duration,
                sent: recorder.sent(),
                answered: recorder.answered(),
            });
        }
    }
    drop(samples_tx);
    while let Some(sample) = samples.recv().await {
        recorder.record(sample);
    }
    recorder.report(options.rate, options.duration, start.elapsed())
}

/// One lead to send.
struct Exchange {
    client: Client<HttpConnector, Full<Bytes>>,
    url: Arc<str>,
    auth: Arc<str>,
    body: Bytes,
    intended: Instant,
    timeout: Duration,
}

impl Exchange {
    async fn send(self) -> Sample {
        let request = http::Request::post(self.url.as_ref())
            .header("authorization", self.auth.as_ref())
            .header("content-type", "application/json")
            .body(Full::new(self.body));
        let Ok(request) = request else { return Sample::ConnectionError };
        let deadline = self.intended + self.timeout;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|_| ())?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect().await.map_err(|_| ())?;
            Ok::<_, ()>((status, body.to_bytes()))
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) => Sample::Timeout,
            Ok(Err(())) => Sample::ConnectionError,
            Ok(Ok((status, body))) => {
                let latency = self.intended.elapsed();
                let answer: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
                let field = |f: fn(&serde_json::Value) -> Option<&serde_json::Value>| answer.as_ref().and_then(f);
                Sample::Answer {
                    latency,
                    status,
                    outcome: field(|a| a.get("outcome")).and_then(|o| o.as_str()).map(str::to_owned),
                    engine: EngineTimings {
                        ping: field(|a| a.get("timings_ms")?.get("ping")).and_then(serde_json::Value::as_f64),
                        total: field(|a| a.get("timings_ms")?.get("total")).and_then(serde_json::Value::as_f64),
                    },
                }
            }
        }
    }
}
