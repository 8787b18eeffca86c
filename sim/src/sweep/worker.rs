//! The worker side of a sweep: the hidden `mailsim sweep-worker` runs one
//! seed in its own process and prints one JSON [`WorkerReport`] line. A
//! panic or a hang here costs one seed, never the sweep.
//!
//! `MAILSIM_SWEEP_TEST_FAULT` (`crash:3,hang:4,nondeterministic:5`) makes the
//! worker misbehave on purpose for the named seeds, so the sweep's handling
//! of crashes, hangs and digest mismatches can be tested end to end; nothing
//! else reads it.

use std::io::Write as _;
use std::path::Path;

use crate::run::{self, Verdict};
use crate::scenario::Scenario;
use crate::sweep::layout::write_atomic;
use crate::sweep::record::{ViolationRecord, WorkerReport};

pub const TEST_FAULT_VAR: &str = "MAILSIM_SWEEP_TEST_FAULT";

/// The verdict as the records and failure files spell it.
pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::SafetyViolation => "safety_violation",
        Verdict::LivenessViolation => "liveness_violation",
        Verdict::Livelock => "livelock",
    }
}

/// Runs `scenario` with `seed`; saves the log to `trace` if the run failed,
/// and the run's coverage features to `coverage` when asked.
pub fn run_seed(
    engine: crate::engine::Engine,
    scenario: &Scenario,
    seed: u64,
    trace: Option<&Path>,
    coverage: Option<&Path>,
    second_run: bool,
) -> Result<WorkerReport, String> {
    let fault = test_fault(seed);
    match fault.as_deref() {
        Some("crash") => panic!("{TEST_FAULT_VAR}: crashing on seed {seed} as asked"),
        Some("hang") => loop {
            std::thread::sleep(std::time::Duration::from_secs(3_600));
        },
        _ => {}
    }
    let outcome = run::run_on(engine, scenario, seed);
    let mut digest = outcome.digest.clone();
    if second_run && fault.as_deref() == Some("nondeterministic") {
        digest = traces::sha256_hex(format!("{digest} perturbed by {TEST_FAULT_VAR}").as_bytes());
    }
    if let Some(path) = coverage {
        let features = crate::explore::coverage::features(&outcome.log, &outcome.facts);
        let text = serde_json::to_string(&features).expect("features serialize");
        write_atomic(path, text.as_bytes())?;
    }
    let mut saved = None;
    if let (Some(path), true) = (trace, outcome.verdict != Verdict::Pass) {
        let mut bytes = Vec::new();
        outcome
            .log
            .write_jsonl(&mut bytes)
            .and_then(|()| bytes.flush())
            .map_err(|e| format!("cannot serialize the trace: {e}"))?;
        write_atomic(path, &bytes)?;
        saved = Some(path.display().to_string());
    }
    Ok(WorkerReport {
        seed,
        verdict: verdict_name(outcome.verdict).to_string(),
        digest,
        violations: outcome
            .report
            .violations
            .iter()
            .map(|v| ViolationRecord {
                property: v.property.clone(),
                kind: match v.kind {
                    properties::Kind::Safety => "safety".into(),
                    properties::Kind::Liveness => "liveness".into(),
                },
                reason: v.reason.clone(),
            })
            .collect(),
        excused: outcome.excused.len(),
        within_fault_model: outcome.within_fault_model,
        sim_seconds: outcome.sim_seconds,
        run_seconds: outcome.wall_seconds,
        trace: saved,
        buggify_fired: crate::engine::buggify::fired_sites(&outcome.log),
    })
}

/// The misbehaviour asked for `seed` in [`TEST_FAULT_VAR`], if any.
fn test_fault(seed: u64) -> Option<String> {
    let spec = std::env::var(TEST_FAULT_VAR).ok()?;
    spec.split(',').find_map(|item| {
        let (what, at) = item.trim().split_once(':')?;
        (at.trim().parse::<u64>().ok()? == seed).then(|| what.trim().to_string())
    })
}
