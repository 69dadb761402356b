//! `report.md`: a table per side (rate target and achieved, client latency percentiles, the
//! server's own `timings_ms.total`, errors, SLO), the max sustainable rates, and the engine
//! as a ratio of the baseline.

use std::fmt::Write as _;

use super::summary::{ScenarioReport, Side};

/// File name of the plot, linked from the report.
pub const PLOT_FILE: &str = "latency.svg";

/// The report as Markdown.
pub fn render(report: &ScenarioReport) -> String {
    let s = &report.scenario;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# loadtest scenario `{}`\n", s.name);
    let _ = writeln!(
        out,
        "{} simulated buyers; ping deadline {} ms, auction budget {} ms; {} arrivals, {} connections; \
         services run as {}; {} cores shared by the engine, bidder-sim and the generator.\n",
        s.sim.buyers.len(),
        s.ping_timeout_ms,
        s.total_timeout_ms,
        serde_json::to_value(s.arrivals).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        s.connections,
        report.launch,
        report.cores,
    );
    let _ = writeln!(
        out,
        "SLO: client p99 (from each lead's intended send time) at most {} ms, errors (non-200, client \
         timeouts, connection errors) at most {}% of leads sent.\n",
        s.slo.p99_ms,
        s.slo.max_error_rate * 100.0
    );
    let _ = writeln!(out, "## Verdict\n");
    let _ = writeln!(out, "- engine: {}", max_line(&report.engine));
    if let Some(baseline) = &report.baseline {
        let _ = writeln!(out, "- baseline (bare hyper, same exchanges): {}", max_line(baseline));
    }
    if let Some(ratio) = report.comparison.as_ref().and_then(|c| c.max_rate_ratio) {
        let _ = writeln!(out, "- **engine / baseline max sustainable rate: {ratio:.2}**");
    }
    if let Some(g) = report.engine.rss_growth() {
        let _ = writeln!(
            out,
            "- engine resident memory: {:.1} MiB after the first step, {:.1} MiB after the last ({:+.1}%)",
            g.first_kib as f64 / 1024.0,
            g.last_kib as f64 / 1024.0,
            g.percent
        );
    }
    if let Some(step) = report.engine.at_half_max() {
        let l = &step.report.latency_ms;
        let _ = writeln!(
            out,
            "- engine at half its max ({}/s step): p50 {:.2} ms, p90 {:.2}, p99 {:.2}, p99.9 {:.2}; engine total p99 {:.2} ms",
            step.step.rate, l.p50, l.p90, l.p99, l.p99_9, step.report.engine_total_ms.p99
        );
    }
    let _ = writeln!(out, "\n![latency percentiles by rate step]({PLOT_FILE})\n");
    side_table(&mut out, "Engine", "engine total", &report.engine);
    if let Some(baseline) = &report.baseline {
        side_table(&mut out, "Baseline", "baseline total", baseline);
    }
    if let Some(comparison) = &report.comparison {
        let _ = writeln!(out, "## Engine against baseline, step by step\n");
        let _ = writeln!(out, "| rate/s | engine p99 ms | baseline p99 ms | ratio | engine - baseline ms |");
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
        for c in &comparison.steps {
            let ratio = c.p99_ratio.map_or("-".to_owned(), |r| format!("{r:.2}"));
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.2} | {ratio} | {:.2} |",
                c.rate, c.engine_p99_ms, c.baseline_p99_ms, c.p99_extra_ms
            );
        }
        let _ = writeln!(out);
    }
    out
}

fn max_line(side: &Side) -> String {
    let v = &side.verdict;
    let max =
        v.max_sustainable_rate.map_or("no step held the SLO".to_owned(), |r| format!("**{r}/s** max sustainable"));
    let stop = v.stopped_early.as_deref().map_or(String::new(), |why| format!("; {why}"));
    format!("{max} ({} of {} steps run{stop})", v.steps_run, v.steps_planned)
}

fn side_table(out: &mut String, title: &str, server: &str, side: &Side) {
    let _ = writeln!(out, "## {title}\n");
    let _ = writeln!(
        out,
        "| target/s | achieved/s | sent | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | {server} p50 ms | {server} p99 ms | server ping p99 ms | errors | RSS MiB | SLO |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for step in &side.steps {
        let r = &step.report;
        let l = &r.latency_ms;
        let errors = r.errors_by_status.values().sum::<u64>() + r.client_timeouts + r.connection_errors;
        let rss = step.rss_kib.map_or("-".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0));
        let slo = match &step.miss {
            None => "held".to_owned(),
            Some(miss) => format!("missed: {miss}"),
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {errors} ({:.2}%) | {rss} | {slo} |",
            step.step.rate,
            r.achieved_rate,
            r.sent,
            l.p50,
            l.p90,
            l.p99,
            l.p99_9,
            l.max,
            r.engine_total_ms.p50,
            r.engine_total_ms.p99,
            r.engine_ping_ms.p99,
            step.error_rate * 100.0,
        );
    }
    let _ = writeln!(out);
}
