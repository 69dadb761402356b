//! The `bidder-sim` binary: `serve` starts on port 0 and answers; `--print-engine-config`
//! writes what the engine accepts; a bad config exits 64 before binding.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use crate::engine_config::engine_config;

const BIN: &str = env!("CARGO_BIN_EXE_bidder-sim");

/// A running `bidder-sim`, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn examples(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn serve_starts_on_port_0_and_answers_a_ping() {
    let child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--buyers", "5", "--seed", "1", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {line:?}"));
    let answer = post_json(&http1(), &format!("http://{addr}/fast_00/ping"), &ping("pg_1", 100)).await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.json()["bid"].is_boolean(), "{:?}", answer.body);
    let stats = get(&http1(), &format!("http://{addr}/stats")).await.json();
    assert_eq!(stats["buyers"]["fast_00"]["pings"], 1);
    assert_eq!(stats["buyers"].as_object().unwrap().len(), 5);
}

#[test]
fn printed_engine_config_is_accepted_by_the_engine() {
    for source in [vec!["--buyers", "20", "--seed", "4"], vec!["--config", &examples("insurance.toml")]] {
        let output = Command::new(BIN)
            .args(["serve", "--listen", "0.0.0.0:9001", "--print-engine-config"])
            .args(&source)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8(output.stdout).unwrap();
        let config = engine_config(&text);
        assert!(!config.buyers.is_empty());
        assert!(
            config
                .buyers
                .iter()
                .all(|b| b.ping_url.as_ref().is_some_and(|u| u.to_string().starts_with("http://127.0.0.1:9001/"))),
            "{text}"
        );
    }
}

#[test]
fn a_printed_sim_config_serves_the_same_buyers() {
    let output =
        Command::new(BIN).args(["serve", "--buyers", "7", "--seed", "2", "--print-sim-config"]).output().unwrap();
    assert!(output.status.success());
    let config = bidder_sim::SimConfig::from_toml(&String::from_utf8(output.stdout).unwrap()).unwrap();
    assert_eq!(config, bidder_sim::SimConfig::generate(7, 2));
}

#[test]
fn bad_configs_and_flags_exit_with_usage_errors() {
    let dir = std::env::temp_dir().join(format!("bidder-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[buyers]]\nid = \"b0\"\nverticals = [\"auto_insurance\"]\n[buyers.ping]\nbid_probability = 2\n",
    )
    .unwrap();
    let run = |args: &[&str]| Command::new(BIN).args(args).output().unwrap();

    let output = run(&["serve", "--listen", "127.0.0.1:0", "--config", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("buyers[0].ping.bid_probability"));

    let output = run(&["serve", "--config", dir.join("missing.toml").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(64));

    let output = run(&["serve", "--listen", "127.0.0.1:0", "--buyers", "3", "--print-engine-config"]);
    assert_eq!(output.status.code(), Some(64), "port 0 cannot be printed");

    assert_eq!(run(&["serve", "--buyers", "0"]).status.code(), Some(2));
    assert_eq!(run(&["serve"]).status.code(), Some(2), "--config or --buyers is required");
    let _ = std::fs::remove_dir_all(&dir);
}
