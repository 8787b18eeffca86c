//! Small scenarios for tests that need a whole run but not a long one: a
//! calm world, three messages (clean, spam, malware), a short fault phase.
//! They run in well under a second and give logs a person can read through.

#![allow(dead_code)] // each test file uses its own part of this

use sim::scenario::{Family, Scenario};
use sim::workload::mime::MessageKind;

/// Seed 1's calm scenario cut down to its first plain, spam and EICAR
/// messages, sent at 0.1 s, 0.6 s and 1.1 s, healed at 3 s.
pub fn tiny_scenario() -> Scenario {
    let mut scenario = Scenario::generate_family(1, Family::Calm);
    let mut kept = Vec::new();
    for kind in [MessageKind::Plain, MessageKind::Spam, MessageKind::Eicar] {
        let plan = scenario
            .workload
            .messages
            .iter()
            // Not one padded to the size limit: the tiny run stays tiny.
            .find(|m| m.kind == kind && m.size_octets.is_none())
            .expect("seed 1 draws every kind");
        kept.push(plan.clone());
    }
    for (index, plan) in kept.iter_mut().enumerate() {
        plan.at_ms = 100 + 500 * index as u64;
    }
    scenario.workload.messages = kept;
    scenario.phases.heal_at_ms = 3_000;
    scenario.phases.drain_bound_ms = 10_000;
    scenario.validate().expect("the tiny scenario is valid");
    scenario
}

/// The tiny scenario with a scanner that misses base64 attachments: its
/// EICAR message is delivered, a safety violation.
pub fn tiny_failing_scenario() -> Scenario {
    let mut scenario = tiny_scenario();
    scenario
        .bugs
        .push("scanner-skips-encoded-attachments".to_string());
    scenario
}

/// A fresh directory for one test's files.
pub fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mailsim-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A catalogue bug's regression on a fixed shape: the correct gateway
/// passes `scenario` inside the fault model, and with `bug` switched on the
/// same run violates `property`.
pub fn correct_passes_and_bug_violates(
    engine: sim::engine::Engine,
    scenario: &Scenario,
    bug: &str,
    property: &str,
) {
    regression(engine, scenario, scenario.seed, bug, property, true);
}

/// The same, run with `run_seed` (a failure file's seed, which a shrunk
/// or hand-made scenario need not share with its `seed` field).
pub fn correct_passes_and_bug_violates_at(
    engine: sim::engine::Engine,
    scenario: &Scenario,
    run_seed: u64,
    bug: &str,
    property: &str,
) {
    regression(engine, scenario, run_seed, bug, property, true);
}

/// The same for a shape beyond the fault model, where safety and the drain
/// are still promised: the correct gateway passes it all the same (only
/// the madsim build's tests have such a shape).
pub fn correct_passes_beyond_the_model_and_bug_violates(
    engine: sim::engine::Engine,
    scenario: &Scenario,
    bug: &str,
    property: &str,
) {
    regression(engine, scenario, scenario.seed, bug, property, false);
}

fn regression(
    engine: sim::engine::Engine,
    scenario: &Scenario,
    run_seed: u64,
    bug: &str,
    property: &str,
    inside: bool,
) {
    let mut correct = scenario.clone();
    correct.bugs.clear();
    let outcome = sim::run::run_on(engine, &correct, run_seed);
    assert_eq!(
        outcome.within_fault_model, inside,
        "the schedule is inside the model: {}",
        outcome.within_fault_model
    );
    assert_eq!(
        outcome.verdict,
        sim::run::Verdict::Pass,
        "{}",
        outcome.summary()
    );
    let mut buggy = scenario.clone();
    buggy.bugs = vec![bug.to_string()];
    let judged = sim::run::run_on(engine, &buggy, run_seed);
    let violated: Vec<&str> = (judged.report.violations.iter())
        .map(|v| v.property.as_str())
        .collect();
    assert!(violated.contains(&property), "{bug}: {violated:?}");
}
