//! `engine demo`: the engine with simulated buyers and a gentle stream of synthetic leads, in
//! one process, with live figures in the terminal until Ctrl-C (or `--duration`).
//!
//! A binary-only module: it wires the library ([`engine::Engine`], with its embedded store at
//! `--store`) to `bidder-sim` and reads the engine's auction records directly for its figures.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engine::auction::record::{Finished, PingResult};
use engine::config::Config;
use engine::protocol::money::Micros;
use engine::transport::HttpTransport;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// The publisher key of the demo, printed so a person can send leads of their own too.
pub const DEMO_KEY: &str = "demo-publisher-key";

/// Leads sent at once at most; beyond it a tick is skipped (the demo is gentle by design).
const MAX_OUTSTANDING: usize = 256;

/// How often the figures are redrawn.
const TICK: Duration = Duration::from_secs(1);

/// Slowest auction the histograms can hold: far past the engine's total budget.
const MAX_RECORDED_MS: u64 = 60_000;

/// Command-line options of `engine demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Address of the engine (publishers can send their own leads there too).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Simulated buyers.
    #[arg(long, default_value_t = 20)]
    pub buyers: usize,
    /// Synthetic leads per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seed of the buyers' profiles and of the leads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// The embedded store (SQLite; created if missing). Leads, auctions and events of the demo
    /// end up there.
    #[arg(long, default_value = "data/demo.db")]
    pub store: std::path::PathBuf,
}

/// Runs the demo until Ctrl-C or the duration.
pub async fn run(args: DemoArgs) -> std::io::Result<()> {
    let sim_config = bidder_sim::SimConfig::generate(args.buyers, args.seed);
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_addr = sim_listener.local_addr()?;
    let buyers_toml = bidder_sim::engine_buyers_toml(&sim_config, &format!("http://{sim_addr}"));
    let config = Config::from_toml(&format!(
        "listen = \"{}\"\nstore = {}\n[[publishers]]\nid = \"demo\"\nkey_sha256 = \"{}\"\n{buyers_toml}",
        args.listen,
        toml::Value::from(args.store.to_string_lossy().into_owned()),
        hex::encode(Sha256::digest(DEMO_KEY)),
    ))
    .map_err(std::io::Error::other)?;

    let (stop_tx, stop) = watch::channel(false);
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let sim = tokio::spawn(bidder_sim::serve(sim_config, sim_listener, stopped(stop.clone())));
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let engine_addr = listener.local_addr()?;
    let mut started = engine::Engine::start(&config, HttpTransport::new()).await?;
    let records = started.take_records().ok_or_else(|| std::io::Error::other("records already taken"))?;
    let engine = tokio::spawn(started.serve(listener, stopped(stop.clone())));
    let leads = tokio::spawn(send_leads(engine_addr, args.rate, args.seed, stop.clone()));

    println!(
        "engine demo: {} simulated buyers, {} leads/s; engine on http://{engine_addr} (key `{DEMO_KEY}`); Ctrl-C to stop",
        args.buyers, args.rate
    );
    let until = args.duration.map(|s| Instant::now() + Duration::from_secs(s));
    show_figures(records, until).await;

    let _ = stop_tx.send(true);
    let _ = leads.await;
    engine.await.map_err(std::io::Error::other)??;
    sim.await.map_err(std::io::Error::other)??;
    println!("engine demo stopped");
    Ok(())
}

/// Sends synthetic leads at `rate` per second (open loop) until stopped.
async fn send_leads(engine: SocketAddr, rate: f64, seed: u64, mut stop: watch::Receiver<bool>) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut factory = bidder_sim::leads::LeadFactory::new(seed, std::process::id().into());
    let outstanding = Arc::new(Semaphore::new(MAX_OUTSTANDING));
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.clamp(0.1, 10_000.0)));
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let uri = format!("http://{engine}/v1/leads");
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let Ok(permit) = Arc::clone(&outstanding).try_acquire_owned() else { continue };
        let body = Bytes::from(factory.next_lead().to_string());
        let request = http::Request::post(&uri)
            .header("authorization", format!("Bearer {DEMO_KEY}"))
            .header("content-type", "application/json")
            .body(Full::new(body));
        let Ok(request) = request else { continue };
        let client = client.clone();
        tokio::spawn(async move {
            // The figures come from the engine's records; the answer itself is not needed.
            let _ = client.request(request).await;
            drop(permit);
        });
    }
}

/// Figures over a window of auctions.
struct Figures {
    auctions: u64,
    sold: u64,
    revenue: Micros,
    total_ms: hdrhistogram::Histogram<u64>,
}

impl Figures {
    fn new() -> Figures {
        let histogram = hdrhistogram::Histogram::new_with_bounds(1, MAX_RECORDED_MS * 1000, 3)
            .unwrap_or_else(|_| unreachable!("valid histogram bounds"));
        Figures { auctions: 0, sold: 0, revenue: Micros::ZERO, total_ms: histogram }
    }

    fn add(&mut self, (_, record): &Finished) {
        self.auctions += 1;
        if !record.sales.is_empty() {
            self.sold += 1;
            self.revenue = Micros(self.revenue.0 + record.revenue().0);
        }
        let micros = u64::try_from(record.times.total.as_micros()).unwrap_or(u64::MAX);
        let _ = self.total_ms.record(micros.clamp(1, MAX_RECORDED_MS * 1000));
    }

    fn line(&self, label: &str, seconds: f64) -> String {
        let sold_pct = if self.auctions == 0 { 0.0 } else { 100.0 * self.sold as f64 / self.auctions as f64 };
        // Shown to the cent.
        let cents = if self.sold == 0 { 0 } else { (self.revenue.0 / self.sold as i64 + 5_000) / 10_000 };
        let average = Micros(cents * 10_000);
        let ms = |q: f64| self.total_ms.value_at_quantile(q) as f64 / 1000.0;
        format!(
            "{label:<8} {:>7.1} auctions/s  sold {sold_pct:>5.1}%  avg price {average:>7}  auction p50 {:>6.1} ms  p99 {:>6.1} ms",
            self.auctions as f64 / seconds.max(0.001),
            ms(0.50),
            ms(0.99),
        )
    }
}

/// Reads auction records and prints figures every [`TICK`] until Ctrl-C or `until`.
async fn show_figures(mut records: mpsc::Receiver<Finished>, until: Option<Instant>) {
    let terminal = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut total = Figures::new();
    let mut window = Figures::new();
    let mut timeouts: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    let mut tick = tokio::time::interval_at(Instant::now() + TICK, TICK);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            Some(finished) = records.recv() => {
                for ping in finished.1.pings.iter().filter(|p| p.result == PingResult::Timeout) {
                    *timeouts.entry(Arc::clone(&ping.buyer.id)).or_default() += 1;
                }
                total.add(&finished);
                window.add(&finished);
            }
            _ = tick.tick() => {
                let mut out = String::new();
                if terminal {
                    out.push_str("\x1b[2J\x1b[H");
                }
                out.push_str(&window.line("last 1s", TICK.as_secs_f64()));
                out.push('\n');
                out.push_str(&total.line("total", started.elapsed().as_secs_f64()));
                out.push('\n');
                let mut slowest: Vec<_> = timeouts.iter().collect();
                slowest.sort_by(|a, b| b.1.cmp(a.1));
                let listed: Vec<String> = slowest.iter().take(8).map(|(id, n)| format!("{id} {n}")).collect();
                out.push_str(&format!("timeouts by buyer: {}\n", if listed.is_empty() { "none".into() } else { listed.join(", ") }));
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(out.as_bytes());
                let _ = stdout.flush();
                window = Figures::new();
                if until.is_some_and(|u| Instant::now() >= u) {
                    return;
                }
            }
            _ = &mut ctrl_c => return,
        }
    }
}
