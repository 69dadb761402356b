//! The scenario file (`loadtest/scenarios/*.toml`): the buyers, the auction settings, the
//! load, the rate steps (a list or a ramp) and the SLO. Unknown keys are refused, defaults
//! live in [`defaults`], and every error names its key, as in the engine's and bidder-sim's
//! configs. A [`Scenario`] that loaded is complete: its buyers' sim config is read and
//! validated, its ramp expanded into steps.

use std::path::{Path, PathBuf};

use bidder_sim::SimConfig;
use serde::{Deserialize, Serialize};

use super::error::ScenarioError;
use crate::schedule::Arrivals;

/// Most steps a scenario may have: at 5-10 s a step that is already 8-16 minutes per side
/// (engine, then baseline); a longer list is a typo in a ramp.
pub const MAX_STEPS: usize = 100;

/// Highest rate a step may ask for: one generator on one machine cannot send more, so a higher
/// figure is a typo (or needs several machines, which this tool does not drive).
pub const MAX_RATE: f64 = 100_000.0;

/// Longest step: a step measures one rate; an hour is a soak, not a step.
pub const MAX_STEP_SECONDS: f64 = 3_600.0;

/// Longest scenario name: it names a directory.
const MAX_NAME_LEN: usize = 64;

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    buyers: Option<usize>,
    #[serde(default = "defaults::seed")]
    seed: u64,
    #[serde(default)]
    sim_config: Option<PathBuf>,
    #[serde(default = "defaults::ping_timeout_ms")]
    ping_timeout_ms: u32,
    #[serde(default = "defaults::total_timeout_ms")]
    total_timeout_ms: u32,
    #[serde(default = "defaults::connections")]
    connections: usize,
    #[serde(default = "defaults::arrivals")]
    arrivals: Arrivals,
    #[serde(default = "defaults::client_timeout_ms")]
    client_timeout_ms: u64,
    #[serde(default)]
    steps: Option<Vec<Step>>,
    #[serde(default)]
    ramp: Option<Ramp>,
    #[serde(default = "defaults::stop_after_failures")]
    stop_after_failures: usize,
    slo: Slo,
    #[serde(default)]
    baseline: bool,
    #[serde(default = "defaults::buyer_breakers")]
    buyer_breakers: bool,
}

/// A loaded, validated scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Names the report directory (`target/loadtest/<name>/`); the file's stem by default.
    pub name: String,
    /// Where the simulated buyers come from.
    pub buyers: Buyers,
    /// The buyers' configuration (generated, or read from `sim_config`).
    #[serde(skip)]
    pub sim: SimConfig,
    /// Seed of the arrivals and the synthetic leads (step `i` uses `seed + i`).
    pub seed: u64,
    /// The engine's ping deadline (`[auction] ping_timeout_ms`), also the baseline's.
    pub ping_timeout_ms: u32,
    /// The engine's whole-auction budget (`[auction] total_timeout_ms`), also the baseline's.
    pub total_timeout_ms: u32,
    /// Requests in flight at most from the generator.
    pub connections: usize,
    /// Arrival spacing.
    pub arrivals: Arrivals,
    /// A lead with no answer after this many milliseconds is a client timeout (an error).
    pub client_timeout_ms: u64,
    /// The steps, in the order they run (a ramp is expanded).
    pub steps: Vec<Step>,
    /// Stop after this many failing steps in a row.
    pub stop_after_failures: usize,
    /// What a step must hold to count as sustained.
    pub slo: Slo,
    /// Run the same steps against the bare-hyper baseline after the engine.
    pub baseline: bool,
    /// Leave the engine's buyer circuit breakers on (the default). A scenario that measures
    /// what a failing buyer does to every auction turns them off, or the engine would soon stop
    /// pinging that buyer.
    pub buyer_breakers: bool,
}

/// Where the simulated buyers come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Buyers {
    /// bidder-sim's generated mix (`--buyers N --seed S`).
    Generated {
        /// How many.
        count: usize,
        /// Seed of the mix.
        seed: u64,
    },
    /// A sim.toml.
    File {
        /// Its path (resolved against the scenario file's directory).
        path: PathBuf,
    },
}

/// One rate step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Leads per second.
    pub rate: f64,
    /// How long to send at that rate.
    pub seconds: f64,
}

/// `ramp = { from, to, step, seconds }`: rates `from, from + step, ...` up to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ramp {
    /// First rate.
    pub from: f64,
    /// Last rate (included when the steps land on it).
    pub to: f64,
    /// Increment.
    pub step: f64,
    /// Seconds per step.
    pub seconds: f64,
}

/// `slo = { p99_ms, max_error_rate, min_sold_share }`: what a step must hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Highest acceptable p99 latency, measured by the client from each lead's intended send
    /// time.
    pub p99_ms: f64,
    /// Highest acceptable share of errors (non-200 answers, client timeouts, connection
    /// errors) among the leads sent.
    pub max_error_rate: f64,
    /// Lowest acceptable share of `sold` among the 200 answers, if set: an engine that answers
    /// fast because it stopped selling (every buyer skipped, say) has not sustained the rate.
    #[serde(default)]
    pub min_sold_share: Option<f64>,
}

impl Ramp {
    /// How many steps the ramp has (the float slack keeps `to` when it is a whole number of
    /// steps away).
    fn len(&self) -> usize {
        ((self.to - self.from) / self.step + 1e-9).floor() as usize + 1
    }

    /// The steps.
    pub fn expand(&self) -> Vec<Step> {
        (0..self.len()).map(|i| Step { rate: self.from + i as f64 * self.step, seconds: self.seconds }).collect()
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(self.from) && positive(self.step) && positive(self.seconds) && self.to.is_finite()) {
            return Err(("ramp".into(), "from, step and seconds must be above 0".into()));
        }
        if self.to < self.from {
            return Err(("ramp.to".into(), "must be at least ramp.from".into()));
        }
        if self.len() > MAX_STEPS {
            return Err(("ramp".into(), format!("{} steps; at most {MAX_STEPS}", self.len())));
        }
        Ok(())
    }
}

impl Step {
    fn validate(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= MAX_RATE) {
            return Err(format!("rate must be above 0 and at most {MAX_RATE}"));
        }
        if !(self.seconds.is_finite() && self.seconds > 0.0 && self.seconds <= MAX_STEP_SECONDS) {
            return Err(format!("seconds must be above 0 and at most {MAX_STEP_SECONDS}"));
        }
        Ok(())
    }
}

impl Slo {
    fn validate(&self) -> Result<(), (String, String)> {
        if !(self.p99_ms.is_finite() && self.p99_ms > 0.0) {
            return Err(("slo.p99_ms".into(), "must be above 0".into()));
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err(("slo.max_error_rate".into(), "must be between 0 and 1 (a share, not a percentage)".into()));
        }
        if self.min_sold_share.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
            return Err(("slo.min_sold_share".into(), "must be between 0 and 1 (a share, not a percentage)".into()));
        }
        Ok(())
    }
}

impl Scenario {
    /// Reads and validates a scenario file (and the sim config it names).
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.to_owned(), source })?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
        let dir = path.parent().unwrap_or(Path::new("."));
        Scenario::from_toml(&text, stem, dir).map_err(|(key, message)| ScenarioError::Config {
            path: path.to_owned(),
            key,
            message,
        })
    }

    /// Parses scenario text; `stem` is the default name, `dir` what `sim_config` is relative to.
    /// Errors are `(key, message)`.
    pub fn from_toml(text: &str, stem: &str, dir: &Path) -> Result<Scenario, (String, String)> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| ("(syntax)".to_owned(), e.to_string().trim().to_owned()))?;
        let file: ScenarioFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { "(top level)".to_owned() } else { key };
            (key, e.into_inner().message().trim().to_owned())
        })?;
        file.resolve(stem, dir)
    }
}

impl ScenarioFile {
    fn resolve(self, stem: &str, dir: &Path) -> Result<Scenario, (String, String)> {
        let err = |key: &str, message: &str| (key.to_owned(), message.to_owned());
        let name = self.name.unwrap_or_else(|| stem.to_owned());
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            && !name.starts_with('.');
        if !name_ok {
            return Err(err("name", "1-64 letters, digits, `_`, `-`, `.` (it names a directory)"));
        }
        let (buyers, sim) = match (self.buyers, self.sim_config) {
            (Some(count), None) => {
                if !(1..=bidder_sim::config::MAX_BUYERS).contains(&count) {
                    return Err(err("buyers", "must be between 1 and 1000 (bidder-sim's limit)"));
                }
                (Buyers::Generated { count, seed: self.seed }, SimConfig::generate(count, self.seed))
            }
            (None, Some(path)) => {
                let path = dir.join(path);
                let sim = SimConfig::load(&path).map_err(|e| ("sim_config".to_owned(), e.to_string()))?;
                (Buyers::File { path }, sim)
            }
            _ => {
                return Err(err("buyers", "give either `buyers = N` (generated) or `sim_config = \"FILE\"`, not both"));
            }
        };
        if self.ping_timeout_ms == 0 || self.total_timeout_ms < self.ping_timeout_ms {
            return Err(err("total_timeout_ms", "ping_timeout_ms must be above 0 and total_timeout_ms at least it"));
        }
        if self.connections == 0 {
            return Err(err("connections", "must be at least 1"));
        }
        if self.client_timeout_ms == 0 {
            return Err(err("client_timeout_ms", "must be at least 1"));
        }
        let steps = match (self.steps, self.ramp) {
            (Some(steps), None) => {
                if steps.is_empty() || steps.len() > MAX_STEPS {
                    return Err(err("steps", &format!("list 1 to {MAX_STEPS} steps")));
                }
                for (i, step) in steps.iter().enumerate() {
                    step.validate().map_err(|m| (format!("steps[{i}]"), m))?;
                }
                steps
            }
            (None, Some(ramp)) => {
                ramp.validate()?;
                let steps = ramp.expand();
                if let Some(i) = steps.iter().position(|s| s.validate().is_err()) {
                    let message = steps[i].validate().err().unwrap_or_default();
                    return Err((format!("ramp (step {i})"), message));
                }
                steps
            }
            _ => return Err(err("steps", "give either `steps = [...]` or `ramp = { ... }`, not both")),
        };
        if self.stop_after_failures == 0 {
            return Err(err("stop_after_failures", "must be at least 1"));
        }
        self.slo.validate()?;
        Ok(Scenario {
            name,
            buyers,
            sim,
            seed: self.seed,
            ping_timeout_ms: self.ping_timeout_ms,
            total_timeout_ms: self.total_timeout_ms,
            connections: self.connections,
            arrivals: self.arrivals,
            client_timeout_ms: self.client_timeout_ms,
            steps,
            stop_after_failures: self.stop_after_failures,
            slo: self.slo,
            baseline: self.baseline,
            buyer_breakers: self.buyer_breakers,
        })
    }
}

/// Every default of a scenario file, in one place.
mod defaults {
    use crate::schedule::Arrivals;

    pub fn seed() -> u64 {
        1
    }
    /// The engine's own default deadline.
    pub fn ping_timeout_ms() -> u32 {
        100
    }
    /// The engine's own default budget.
    pub fn total_timeout_ms() -> u32 {
        1_000
    }
    /// Room for 2,000 leads/s at 250 ms each before a lead waits for a connection (and that
    /// wait still counts in its latency).
    pub fn connections() -> usize {
        512
    }
    /// Independent arrivals, as real publishers send.
    pub fn arrivals() -> Arrivals {
        Arrivals::Poisson
    }
    /// Five times the engine's default budget: an answer that late is a failure either way.
    pub fn client_timeout_ms() -> u64 {
        5_000
    }
    /// Two failing steps in a row: one can be a hiccup of a shared machine, two are a limit.
    pub fn buyer_breakers() -> bool {
        true
    }
    pub fn stop_after_failures() -> usize {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, (String, String)> {
        Scenario::from_toml(text, "stem", Path::new("."))
    }

    const SLO: &str = "slo = { p99_ms = 150, max_error_rate = 0.001 }\n";

    #[test]
    fn a_ramp_expands_from_to_inclusive() {
        let ramp = Ramp { from: 100.0, to: 500.0, step: 100.0, seconds: 5.0 };
        let rates: Vec<f64> = ramp.expand().iter().map(|s| s.rate).collect();
        assert_eq!(rates, [100.0, 200.0, 300.0, 400.0, 500.0]);
        assert!(ramp.expand().iter().all(|s| s.seconds == 5.0));
        // `to` off the grid: the last step is the last one below it.
        let rates: Vec<f64> =
            Ramp { from: 100.0, to: 450.0, step: 100.0, seconds: 1.0 }.expand().iter().map(|s| s.rate).collect();
        assert_eq!(rates, [100.0, 200.0, 300.0, 400.0]);
        // Fractional steps keep `to` despite float rounding.
        assert_eq!(Ramp { from: 0.1, to: 0.3, step: 0.1, seconds: 1.0 }.expand().len(), 3);
        assert_eq!(Ramp { from: 50.0, to: 50.0, step: 10.0, seconds: 1.0 }.expand().len(), 1);
    }

    #[test]
    fn a_generated_scenario_with_a_ramp_loads_with_defaults() {
        let s =
            parse(&format!("buyers = 4\nseed = 9\nramp = {{ from = 100, to = 300, step = 100, seconds = 2 }}\n{SLO}"))
                .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(s.name, "stem");
        assert_eq!(s.buyers, Buyers::Generated { count: 4, seed: 9 });
        assert_eq!(s.sim.buyers.len(), 4);
        assert_eq!(s.steps.len(), 3);
        assert_eq!((s.ping_timeout_ms, s.total_timeout_ms, s.stop_after_failures), (100, 1000, 2));
        assert_eq!(s.arrivals, Arrivals::Poisson);
        assert!(!s.baseline);
    }

    #[test]
    fn errors_name_the_key() {
        let key = |text: &str| parse(text).err().map(|(key, _)| key).unwrap_or_default();
        let steps = "steps = [{ rate = 10, seconds = 1 }]\n";
        assert_eq!(key(&format!("buyers = 3\n{steps}{SLO}unknown = 1\n")), "unknown");
        assert_eq!(key(&format!("buyers = 3\n{steps}slo = {{ p99_ms = 150 }}\n")), "slo");
        assert_eq!(
            key(&format!("buyers = 3\n{steps}slo = {{ p99_ms = 150, max_error_rate = 2 }}\n")),
            "slo.max_error_rate"
        );
        assert_eq!(key(&format!("{steps}{SLO}")), "buyers");
        assert_eq!(key(&format!("buyers = 3\nsim_config = \"x.toml\"\n{steps}{SLO}")), "buyers");
        assert_eq!(key(&format!("buyers = 3\n{SLO}")), "steps");
        assert_eq!(key(&format!("buyers = 3\nsteps = [{{ rate = 0, seconds = 1 }}]\n{SLO}")), "steps[0]");
        assert_eq!(key(&format!("buyers = 3\nsteps = [{{ rate = 5, seconds = 1, x = 1 }}]\n{SLO}")), "steps[0].x");
        assert_eq!(key(&format!("buyers = 3\nramp = {{ from = 1, to = 1000, step = 1, seconds = 1 }}\n{SLO}")), "ramp");
        assert_eq!(
            key(&format!("buyers = 3\nramp = {{ from = 10, to = 5, step = 1, seconds = 1 }}\n{SLO}")),
            "ramp.to"
        );
        assert_eq!(key(&format!("buyers = 3\nname = \"../x\"\n{steps}{SLO}")), "name");
        assert_eq!(key(&format!("sim_config = \"does-not-exist.toml\"\n{steps}{SLO}")), "sim_config");
        assert_eq!(
            key(&format!("buyers = 3\nping_timeout_ms = 200\ntotal_timeout_ms = 100\n{steps}{SLO}")),
            "total_timeout_ms"
        );
    }

    /// Every scenario shipped in `loadtest/scenarios/` loads (with its sim config).
    #[test]
    fn shipped_scenarios_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if name.ends_with(".toml") && !name.ends_with(".sim.toml") {
                let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(!scenario.steps.is_empty(), "{name}");
                seen += 1;
            }
        }
        assert!(seen >= 2, "ten-buyers and ci-smoke at least");
    }
}
