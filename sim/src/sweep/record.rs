//! What one seed of a sweep came to: the record written to
//! `DIR/seeds/seed-<N>.json` as soon as the seed finishes, and the report a
//! worker process prints for its run. Records are the sweep's source of
//! truth: `summary.json`, JUnit and the HTML page are all rebuilt from them.

use serde::{Deserialize, Serialize};

/// How a seed ended, as a sweep sees it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    SafetyViolation,
    LivenessViolation,
    /// The engine stopped the run: simulated time stood still.
    Livelock,
    /// Two runs of the same seed gave different digests.
    Nondeterministic,
    /// The run did not finish within `--seed-timeout`; its process was killed.
    Timeout,
    /// The run's process died (panic, abort, signal) before reporting.
    Crashed,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Pass,
        Outcome::SafetyViolation,
        Outcome::LivenessViolation,
        Outcome::Livelock,
        Outcome::Nondeterministic,
        Outcome::Timeout,
        Outcome::Crashed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::SafetyViolation => "safety_violation",
            Outcome::LivenessViolation => "liveness_violation",
            Outcome::Livelock => "livelock",
            Outcome::Nondeterministic => "nondeterministic",
            Outcome::Timeout => "timeout",
            Outcome::Crashed => "crashed",
        }
    }

    pub fn is_failure(self) -> bool {
        self != Outcome::Pass
    }

    /// A property was violated (as opposed to the harness failing to judge).
    pub fn is_violation(self) -> bool {
        matches!(
            self,
            Outcome::SafetyViolation | Outcome::LivenessViolation | Outcome::Livelock
        )
    }
}

/// One violated property, with its reason for a person.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ViolationRecord {
    pub property: String,
    /// `safety` or `liveness`.
    pub kind: String,
    pub reason: String,
}

/// What a worker process prints (one JSON line) after running one seed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerReport {
    pub seed: u64,
    /// `pass`, `safety_violation`, `liveness_violation` or `livelock`.
    pub verdict: String,
    pub digest: String,
    pub violations: Vec<ViolationRecord>,
    /// Violations not counted because the schedule went beyond the fault model.
    pub excused: usize,
    pub within_fault_model: bool,
    pub sim_seconds: f64,
    /// The simulation alone, measured inside the worker.
    pub run_seconds: f64,
    /// Where the worker saved the observation log, if it did.
    pub trace: Option<String>,
    /// BUGGIFY sites that fired in the run (from its `buggify_fired`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buggify_fired: Vec<String>,
}

/// The record of one finished seed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedRecord {
    pub seed: u64,
    /// The family as typed on the command line (`region-outage`).
    pub family: String,
    pub bugs: Vec<String>,
    pub outcome: Outcome,
    /// The run's own verdict when it ran to the end (`pass`,
    /// `safety_violation`, `liveness_violation`); of the first run when
    /// rechecked.
    pub verdict: Option<String>,
    /// Digest of the observation log (of the first run when rechecked).
    pub digest: Option<String>,
    /// Digest of the second run, for a rechecked seed.
    pub recheck_digest: Option<String>,
    pub violations: Vec<ViolationRecord>,
    pub excused: usize,
    pub within_fault_model: Option<bool>,
    pub sim_seconds: Option<f64>,
    /// The whole seed as the sweep saw it: process start to exit, both runs
    /// when rechecked.
    pub wall_seconds: f64,
    /// The command that reproduces it.
    pub repro: String,
    /// For a crash: exit status and the tail of stderr; for a timeout or a
    /// digest mismatch: what happened.
    pub detail: Option<String>,
    /// Paths relative to the sweep directory.
    pub failure_file: Option<String>,
    pub trace_file: Option<String>,
    /// What became of `--shrink` for this seed, when asked.
    pub shrink: Option<String>,
    /// BUGGIFY was on for this seed (`--buggify`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub buggify: bool,
    /// The BUGGIFY sites that fired in its run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buggify_fired: Vec<String>,
    /// The shape of the shrunk failure, when shrinking wrote one: what
    /// failures are grouped by. Absent from records written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<Shape>,
}

/// What is left of a failure after shrinking: its fault kinds and its
/// messages, and the file that holds it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Fault kinds (`fault_started.kind` names), sorted, repeats kept.
    pub faults: Vec<String>,
    pub messages: usize,
    /// The shrunk failure file, relative to the sweep directory.
    pub file: String,
}

impl Shape {
    /// `mailbox_outage+region_crash` or `no faults`.
    pub fn faults_text(&self) -> String {
        if self.faults.is_empty() {
            "no faults".into()
        } else {
            self.faults.join("+")
        }
    }
}

impl SeedRecord {
    /// One line for logs: `seed 3: safety_violation (no_acked_loss)`.
    pub fn headline(&self) -> String {
        let mut properties: Vec<&str> = self
            .violations
            .iter()
            .map(|v| v.property.as_str())
            .collect();
        properties.dedup();
        if properties.is_empty() {
            format!("seed {}: {}", self.seed, self.outcome.name())
        } else {
            format!(
                "seed {}: {} ({})",
                self.seed,
                self.outcome.name(),
                properties.join(", ")
            )
        }
    }

    /// Violated property names, sorted, deduplicated.
    pub fn violated(&self) -> Vec<String> {
        let mut names: Vec<String> = self.violations.iter().map(|v| v.property.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}
