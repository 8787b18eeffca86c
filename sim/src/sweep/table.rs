//! The table a sweep (or a merge) prints at the end: seeds per outcome, per
//! violated property, one row per failure group, the slowest seeds, each failure with its repro line,
//! and one last line saying whether everything passed.

use std::fmt::Write as _;

use crate::sweep::summary::Summary;

/// Failures listed before "... and N more".
const FAILURES_MAX: usize = 50;

pub fn render(summary: &Summary) -> String {
    let totals = &summary.totals;
    let mut out = String::new();
    let rows: Vec<(&str, usize)> = totals
        .by_outcome
        .iter()
        .filter(|(name, count)| **count > 0 || name.as_str() == "pass")
        .map(|(name, count)| (name.as_str(), *count))
        .collect();
    section(&mut out, "outcome", &rows);
    if totals.not_run > 0 {
        let _ = writeln!(out, "  (not run: {})", totals.not_run);
    }
    if !totals.by_property.is_empty() {
        let rows: Vec<(&str, usize)> = totals
            .by_property
            .iter()
            .map(|(name, count)| (name.as_str(), *count))
            .collect();
        section(&mut out, "violated property", &rows);
    }
    if let Some(never) = &summary.buggify_never_fired {
        let sites = if never.is_empty() {
            "none".to_string()
        } else {
            never.join(", ")
        };
        let _ = writeln!(out, "buggify sites that never fired: {sites}");
    }
    if !summary.groups.is_empty() {
        let _ = writeln!(
            out,
            "failure groups (by violated properties and shrunk shape):"
        );
        for group in &summary.groups {
            let size = group
                .smallest_size
                .map(|(f, m)| format!(" ({f} faults, {m} messages)"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:>5} x {} [{}]  smallest{size}: {}",
                group.count,
                group.violated_text(),
                group.shape,
                group.smallest_repro
            );
        }
    }
    if !summary.slowest.is_empty() {
        let slow: Vec<String> = summary
            .slowest
            .iter()
            .map(|s| format!("{} ({:.1}s)", s.seed, s.wall_seconds))
            .collect();
        let _ = writeln!(out, "slowest seeds: {}", slow.join(", "));
    }
    if totals.rechecked > 0 {
        let _ = writeln!(
            out,
            "rechecked: {} seeds ran twice, {} gave different digests",
            totals.rechecked,
            totals
                .by_outcome
                .get("nondeterministic")
                .copied()
                .unwrap_or(0)
        );
    }
    let failures: Vec<_> = summary.failures().collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "failures:");
        for record in failures.iter().take(FAILURES_MAX) {
            let _ = writeln!(out, "  {}", record.headline());
            if let Some(shrink) = &record.shrink {
                let _ = writeln!(out, "    shrink: {shrink}");
            }
            let _ = writeln!(out, "    {}", record.repro);
        }
        if failures.len() > FAILURES_MAX {
            let _ = writeln!(
                out,
                "  ... and {} more (see summary.json)",
                failures.len() - FAILURES_MAX
            );
        }
    }
    let not_run = if totals.not_run > 0 {
        format!(" ({} not run)", totals.not_run)
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "{}{not_run}",
        if totals.failed > 0 {
            format!(
                "FAILED: {} of {} seeds run failed",
                totals.failed, totals.run
            )
        } else {
            format!("PASS: all {} seeds run passed", totals.run)
        }
    );
    out
}

fn section(out: &mut String, title: &str, rows: &[(&str, usize)]) {
    let width = rows
        .iter()
        .map(|(name, _)| name.len())
        .chain([title.len()])
        .max()
        .unwrap_or(0);
    // Rows are indented two spaces under their title; counts line up.
    let _ = writeln!(out, "{title:<w$} {:>5}", "seeds", w = width + 2);
    for (name, count) in rows {
        let _ = writeln!(out, "  {name:<width$} {count:>5}");
    }
}
