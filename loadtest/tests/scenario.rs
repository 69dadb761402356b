//! `loadtest scenario` end to end on the `ci-smoke` scenario, with the engine and bidder-sim
//! in-process (their binaries are not built for this package's tests): every step runs and
//! gets answers on both sides, the verdict names a max rate, and the report, its JSON and the
//! plot are written.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The scenario takes about 10 s (four 2 s steps and start-up); past this it hangs.
const BOUND: Duration = Duration::from_secs(50);

#[test]
fn the_ci_smoke_scenario_runs_end_to_end() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ci-smoke.toml");
    let out = std::env::temp_dir().join(format!("loadtest-ci-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let child = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("scenario")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--in-process")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done_tx, done) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let output = child.wait_with_output();
        let _ = done_tx.send(());
        output
    });
    if done.recv_timeout(BOUND).is_err() {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        panic!("the scenario did not finish within {BOUND:?}");
    }
    let output = waiter.join().unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("engine max sustainable rate: 40/s"), "{stdout}\n{stderr}");

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for side in ["engine", "baseline"] {
        let steps = json[side]["steps"].as_array().unwrap_or_else(|| panic!("{side} steps: {json}"));
        assert_eq!(steps.len(), 2, "one entry per step for the {side}");
        for step in steps {
            let report = &step["report"];
            assert!(report["sent"].as_u64().unwrap() > 0, "{side}: {step}");
            assert_eq!(report["latency_ms"]["count"], report["sent"], "{side}: every lead answered: {step}");
            assert!(report["outcomes"].as_object().is_some_and(|o| !o.is_empty()), "{side}: {step}");
        }
        assert!(json[side]["verdict"]["max_sustainable_rate"].as_f64().is_some(), "{side} verdict: {json}");
    }
    assert!(json["comparison"]["max_rate_ratio"].as_f64().is_some(), "{json}");
    assert_eq!(json["comparison"]["steps"].as_array().map(Vec::len), Some(2));

    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("## Engine") && markdown.contains("## Baseline"), "{markdown}");
    assert!(markdown.contains("engine / baseline max sustainable rate"), "{markdown}");
    let svg = std::fs::read_to_string(out.join("latency.svg")).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(100)]);
    assert!(svg.contains("baseline p99"), "the baseline is plotted");
    // The configs it ran are kept beside the report.
    assert!(std::fs::read_to_string(out.join("engine.toml")).unwrap().contains("[[buyers]]"));
    assert!(out.join("sim.toml").is_file());
    let _ = std::fs::remove_dir_all(&out);
}
