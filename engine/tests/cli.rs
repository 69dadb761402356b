//! The `engine` binary: a bad config exits with code 64 before binding a port, and the error
//! names the key.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn serve_with(config: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("engine-cli-{}-{}", std::process::id(), config.len()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("engine.toml");
    std::fs::write(&path, config).expect("write config");
    Command::new(env!("CARGO_BIN_EXE_engine")).args(["serve", "--config"]).arg(&path).output().expect("runs")
}

#[test]
fn a_bad_config_exits_64_naming_the_key() {
    for (config, key) in [
        ("listen = \"127.0.0.1:0\"\nlisten_typo = 1\n", "listen_typo"),
        ("[auction]\nping_timeout_ms = \"fast\"\n", "auction.ping_timeout_ms"),
        (
            "[[buyers]]\nid = \"a\"\nping_url = \"ftp://x/ping\"\npost_url = \"http://x/post\"\nverticals = [\"auto\"]\n",
            "buyers[0].ping_url",
        ),
        (
            "[[buyers]]\nid = \"a\"\nping_url = \"http://x/ping\"\npost_url = \"http://x/post\"\nverticals = [\"auto\"]\nstates = [\"WA\", \"Atlantis\"]\n",
            "buyers[0].states",
        ),
        ("[[publishers]]\nid = \"p\"\nkey_sha256 = \"plaintext-key\"\n", "publishers[0].key_sha256"),
    ] {
        let output = serve_with(config);
        assert_eq!(output.status.code(), Some(64), "{config}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(key), "error should name `{key}`: {stderr}");
    }
}

#[test]
fn a_missing_config_file_exits_64() {
    let output = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["serve", "--config", "/nonexistent/engine.toml"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/engine.toml"));
}

#[test]
fn keys_hash_prints_the_sha256() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["keys", "hash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    child.stdin.take().expect("stdin").write_all(b"abc\n").expect("write");
    let output = child.wait_with_output().expect("exits");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

/// The README's first command: the example config serves leads, and SIGTERM drains and exits 0.
#[test]
fn the_example_config_serves_and_sigterm_exits_cleanly() {
    use std::io::{BufRead, BufReader, Read, Write};
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/engine.toml");
    // The example's relative store path lands in a scratch directory.
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["serve", "--config", example, "--listen", "127.0.0.1:0"])
        .current_dir(scratch.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("listen=").nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_owned)
        })
        .expect("the engine logs its address");
    let body = r#"{"vertical":"auto_insurance","attributes":{"zip":"98004","state":"WA"},"contact":{"first_name":"Jane","last_name":"Smith","email":"jane@example.com","phone":"+12065550100"}}"#;
    let mut stream = std::net::TcpStream::connect(&addr).expect("connects");
    write!(
        stream,
        "POST /v1/leads HTTP/1.1\r\nhost: x\r\nauthorization: Bearer demo-publisher-key\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"outcome\":\"unsold\""), "no buyer listens in the example: {answer}");
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(term.success());
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(0), "a clean drain after SIGTERM");
    assert!(scratch.path().join("data/engine.db").exists(), "the example's store was created");
}

/// `engine demo` (the README's first command) runs, sells leads to its simulated buyers and
/// shows its figures, then stops by itself with `--duration`.
#[test]
fn the_demo_runs_and_sells_leads() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["demo", "--listen", "127.0.0.1:0", "--duration", "3", "--rate", "30"])
        .current_dir(scratch.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let totals = stdout.lines().rfind(|l| l.starts_with("total")).unwrap_or_default();
    let sold: f64 = totals
        .split("sold")
        .nth(1)
        .and_then(|rest| rest.trim_start().split('%').next())
        .and_then(|pct| pct.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(sold > 0.0, "the demo sells leads: {stdout}");
    assert!(
        stdout.contains("auctions/s") && stdout.contains("p99") && stdout.contains("timeouts by buyer"),
        "{stdout}"
    );
}
