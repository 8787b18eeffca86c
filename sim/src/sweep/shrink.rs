//! `--shrink`: minimise each violating seed's failure with `mailsim shrink
//! FILE`, in a child process like the seed itself (so a shrink that panics
//! or hangs costs that seed's shrink, not the sweep), its output kept in
//! `shrink/seed-<N>.log`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::sweep::child;
use crate::sweep::layout::{Layout, write_atomic};

/// Runs `exe shrink FILE` for `seed`'s failure file, keeps its output in
/// `shrink/seed-<N>.log`, and says how it went.
pub fn shrink(exe: &Path, layout: &Layout, seed: u64, limit: Duration) -> String {
    let file = layout.path("failures", seed);
    let log = Layout::relative("shrink", seed);
    let mut command = Command::new(exe);
    command.arg("shrink").arg(&file);
    let capture = layout.tmp_dir().join(format!("seed-{seed}.shrink"));
    let exit = match child::run(command, limit, &capture) {
        Ok(exit) => exit,
        Err(e) => return format!("failed: could not start `mailsim shrink`: {e}"),
    };
    let dir = layout.root.join("shrink");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return format!("failed: cannot create {}: {e}", dir.display());
    }
    let text = format!(
        "{}\n--- stderr (excerpt) ---\n{}\n",
        exit.stdout, exit.stderr_excerpt
    );
    if let Err(e) = write_atomic(&layout.root.join(&log), text.as_bytes()) {
        return format!("failed: {e}");
    }
    match exit.status {
        None => format!(
            "timed out after {}; partial output in {log}",
            crate::sweep::duration::human(limit)
        ),
        Some(status) if status.success() => format!("done: output in {log}"),
        Some(status) => format!(
            "failed: `mailsim shrink` {}; see {log}",
            child::describe(status)
        ),
    }
}

/// The shape of the shrunk failure `mailsim shrink` left beside `seed`'s
/// failure file, if it left one that reads.
pub fn shape(layout: &Layout, seed: u64) -> Option<crate::sweep::record::Shape> {
    let relative = Layout::relative("shrunk", seed);
    let file = traces::FailureFile::load(&layout.root.join(&relative)).ok()?;
    let scenario: crate::scenario::Scenario = serde_json::from_value(file.scenario).ok()?;
    let mut faults: Vec<String> = scenario
        .faults
        .faults
        .iter()
        .map(|f| f.kind.name().to_string())
        .collect();
    faults.sort();
    Some(crate::sweep::record::Shape {
        faults,
        messages: scenario.workload.messages.len(),
        file: relative,
    })
}
