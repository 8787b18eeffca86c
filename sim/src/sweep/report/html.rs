//! The HTML page around the timelines: a header with the build and command
//! lines, totals per outcome and per property, shards, the slowest seeds,
//! then each failure with its repro line, violations, detail and timeline.
//! Inline CSS only; every piece of text from a record is escaped.

use std::fmt::Write as _;

use crate::sweep::record::SeedRecord;
use crate::sweep::summary::Summary;
use crate::sweep::xml::{attr, text};

/// Violations listed per failure; the rest are in summary.json.
const LISTED_MAX: usize = 20;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1160px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
h3 { font-size: 15px; margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; } .fail { color: #cf222e; }
.verdict { font-size: 18px; font-weight: bold; margin: 10px 0; }
pre, code { font-family: ui-monospace, monospace; font-size: 12px; }
pre.repro { background: #f6f8fa; border: 1px solid #ddd; padding: 8px; white-space: pre-wrap; }
pre.detail { background: #fff8f0; border: 1px solid #f0d8c0; padding: 8px; white-space: pre-wrap; }
section.failure { border: 1px solid #e5e5e5; border-radius: 6px; padding: 4px 14px 12px; margin: 14px 0; }
ul.violations li { margin: 2px 0; font-size: 13px; }
.muted { color: #666; font-size: 12px; }
";

/// The page; `coverage` is explore's coverage-over-time section, if any.
pub fn page(
    summary: &Summary,
    coverage: Option<&str>,
    timelines: &[(u64, Result<String, String>)],
) -> String {
    let totals = &summary.totals;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>mailsim sweep: {} of {} seeds failed</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        totals.failed, totals.run
    );
    let _ = writeln!(
        out,
        "<h1>mailsim sweep — family {}</h1>",
        text(&summary.family)
    );
    let (class, verdict) = if totals.failed > 0 {
        (
            "fail",
            format!(
                "FAILED: {} of {} seeds run failed",
                totals.failed, totals.run
            ),
        )
    } else {
        ("pass", format!("PASS: all {} seeds run passed", totals.run))
    };
    let _ = writeln!(out, "<p class=\"verdict {class}\">{}</p>", text(&verdict));
    let _ = writeln!(out, "<p class=\"muted\">{}", text(&summary.build_id));
    if !summary.bugs.is_empty() {
        let _ = write!(
            out,
            " · bugs switched on: {}",
            text(&summary.bugs.join(", "))
        );
    }
    out.push_str("</p>\n");
    for command in &summary.commands {
        let _ = writeln!(out, "<pre class=\"repro\">{}</pre>", text(command));
    }

    out.push_str("<h2>Totals</h2>\n<table>\n<tr><th colspan=\"2\">seeds</th></tr>\n");
    let rows = [
        ("selected", totals.selected),
        ("run", totals.run),
        ("passed", totals.passed),
        ("failed", totals.failed),
        ("not run", totals.not_run),
        ("rechecked (ran twice)", totals.rechecked),
    ];
    for (name, count) in rows {
        let _ = writeln!(out, "<tr><td>{name}</td><td class=\"n\">{count}</td></tr>");
    }
    out.push_str("</table>\n");
    if summary.budget_exhausted {
        out.push_str("<p>The time budget ran out: seeds not run are listed as skipped; rerunning the same command continues.</p>\n");
    }
    out.push_str("<table>\n<tr><th>outcome</th><th>seeds</th></tr>\n");
    for (name, count) in &totals.by_outcome {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{count}</td></tr>",
            text(name)
        );
    }
    out.push_str("</table>\n");
    if !totals.by_property.is_empty() {
        out.push_str("<table>\n<tr><th>violated property</th><th>seeds</th></tr>\n");
        for (name, count) in &totals.by_property {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"n\">{count}</td></tr>",
                text(name)
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(never) = &summary.buggify_never_fired {
        let sites = if never.is_empty() {
            "none".to_string()
        } else {
            never.join(", ")
        };
        let _ = writeln!(
            out,
            "<p>BUGGIFY sites that never fired: {}</p>",
            text(&sites)
        );
    }
    groups(&mut out, summary);
    out.push_str("<table>\n<tr><th>shard</th><th>of seeds</th><th>from</th></tr>\n");
    for shard in &summary.shards {
        let _ = writeln!(
            out,
            "<tr><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            shard.index,
            shard.count,
            text(&shard.range),
            text(&shard.source)
        );
    }
    out.push_str("</table>\n");
    if !summary.slowest.is_empty() {
        let slow: Vec<String> = summary
            .slowest
            .iter()
            .map(|s| format!("{} ({:.1} s)", s.seed, s.wall_seconds))
            .collect();
        let _ = writeln!(out, "<p>Slowest seeds: {}</p>", text(&slow.join(", ")));
    }

    if let Some(coverage) = coverage {
        out.push_str(coverage);
    }
    let failures: Vec<&SeedRecord> = summary.failures().collect();
    let _ = writeln!(out, "<h2>Failures ({})</h2>", failures.len());
    if failures.is_empty() {
        out.push_str("<p class=\"pass\">None.</p>\n");
    }
    for record in failures {
        failure(
            &mut out,
            record,
            timelines
                .iter()
                .find(|(s, _)| *s == record.seed)
                .map(|(_, t)| t),
        );
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// One row per failure group: what it violated, its shrunk shape, how many
/// seeds, and the smallest repro.
fn groups(out: &mut String, summary: &Summary) {
    if summary.groups.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2>Failure groups ({})</h2>\n<table>\n<tr><th>violated</th><th>shrunk shape</th><th>seeds</th><th>smallest repro</th></tr>",
        summary.groups.len()
    );
    for group in &summary.groups {
        let size = group
            .smallest_size
            .map(|(f, m)| format!(" ({f} faults, {m} messages)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td><a href=\"#seed-{}\">seed {}</a>{}<br><code>{}</code></td></tr>",
            text(&group.violated_text()),
            text(&group.shape),
            group.count,
            group.smallest_seed,
            group.smallest_seed,
            text(&size),
            text(&group.smallest_repro)
        );
    }
    out.push_str("</table>\n");
}

fn failure(out: &mut String, record: &SeedRecord, timeline: Option<&Result<String, String>>) {
    let _ = writeln!(
        out,
        "<section class=\"failure\" id=\"seed-{}\">\n<h3 class=\"fail\">{}</h3>",
        record.seed,
        text(&record.headline())
    );
    let _ = writeln!(out, "<pre class=\"repro\">{}</pre>", text(&record.repro));
    if !record.violations.is_empty() {
        out.push_str("<ul class=\"violations\">\n");
        for violation in record.violations.iter().take(LISTED_MAX) {
            let _ = writeln!(
                out,
                "<li><b>{}</b> [{}]: {}</li>",
                text(&violation.property),
                text(&violation.kind),
                text(&violation.reason)
            );
        }
        if record.violations.len() > LISTED_MAX {
            let _ = writeln!(
                out,
                "<li>… and {} more (summary.json)</li>",
                record.violations.len() - LISTED_MAX
            );
        }
        out.push_str("</ul>\n");
    }
    if let Some(detail) = &record.detail {
        let _ = writeln!(out, "<pre class=\"detail\">{}</pre>", text(detail));
    }
    let mut files = Vec::new();
    for (name, path) in [
        ("failure file", &record.failure_file),
        ("trace", &record.trace_file),
    ] {
        if let Some(path) = path {
            files.push(format!("<a href=\"{}\">{name}</a>", attr(path)));
        }
    }
    if let Some(shrink) = &record.shrink {
        files.push(format!("shrink: {}", text(shrink)));
    }
    if let Some(digest) = &record.digest {
        files.push(format!("digest <code>{}</code>", text(digest)));
    }
    if !files.is_empty() {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", files.join(" · "));
    }
    match timeline {
        Some(Ok(svg)) => {
            out.push_str(svg);
            out.push('\n');
        }
        Some(Err(why)) => {
            let _ = writeln!(out, "<p class=\"muted\">No timeline: {}</p>", text(why));
        }
        None => {
            let _ = writeln!(
                out,
                "<p class=\"muted\">No timeline (only the first {} failures get one).</p>",
                super::TIMELINES_MAX
            );
        }
    }
    out.push_str("</section>\n");
}
