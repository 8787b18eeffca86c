//! Failure files from runs, and replays of them: what `mailsim run
//! --save-failure`, sweeps and shrink write, and what `mailsim replay` and
//! the corpus test check — the same scenario and seed, rerun, must end with
//! the same verdict, the same violated properties and the same digest.
//!
//! The file format itself lives in `traces::failure`; this is the part that
//! knows scenarios and runs.

use std::path::Path;

use serde::Deserialize;
use traces::failure::build_id;
use traces::{Expected, FAILURE_FILE_VERSION, FailureFile};

use crate::engine::Engine;
use crate::run::{self, RunOutcome};
use crate::scenario::Scenario;

/// Listed among the violated properties when a host's software failed (a
/// panic or an error out of a host): that fails a run without any property.
pub const HOST_FAILURE: &str = "host_failure";

/// What a run ended with, in the failure file's terms.
pub fn expected(outcome: &RunOutcome) -> Expected {
    let verdict = serde_json::to_value(outcome.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("verdicts serialize as strings");
    let mut violated: Vec<String> = outcome
        .report
        .violations
        .iter()
        .map(|v| v.property.clone())
        .collect();
    if outcome.host_failure.is_some() {
        violated.push(HOST_FAILURE.to_string());
    }
    violated.sort();
    violated.dedup();
    Expected {
        verdict,
        violated,
        digest: outcome.digest.clone(),
    }
}

/// The failure file for a run of `scenario`; `repro` is the command line
/// that reproduces it.
pub fn failure_file(outcome: &RunOutcome, scenario: &Scenario, repro: &str) -> FailureFile {
    FailureFile {
        version: FAILURE_FILE_VERSION,
        seed: outcome.seed,
        engine: outcome.engine.to_string(),
        build_id: build_id(),
        scenario: serde_json::to_value(scenario).expect("scenarios serialize"),
        expected: expected(outcome),
        repro: repro.to_string(),
    }
}

/// The file's scenario, validated; errors name the file.
pub fn scenario_of(file: &FailureFile, path: &Path) -> Result<Scenario, String> {
    let scenario = Scenario::deserialize(&file.scenario)
        .map_err(|e| format!("{}: bad scenario in failure file: {e}", path.display()))?;
    scenario
        .validate()
        .map_err(|e| format!("{}: bad scenario in failure file: {e}", path.display()))?;
    Ok(scenario)
}

/// Loads a failure file and checks it can be replayed here. A JSONL trace
/// passed by mistake gets its own explanation.
pub fn load(path: &Path) -> Result<(FailureFile, Scenario), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if traces::read::looks_like_trace(&text) {
        return Err(format!(
            "{}:1: not a failure file: this is an observation log (JSONL trace); \
             failure files come from `mailsim run --save-failure FILE`",
            path.display()
        ));
    }
    let file = FailureFile::parse(&text, path)?;
    let engine = Engine::from_name(&file.engine).ok_or_else(|| {
        format!(
            "{}: unknown engine {:?} (turmoil or madsim)",
            path.display(),
            file.engine
        )
    })?;
    engine
        .check_available()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let scenario = scenario_of(&file, path)?;
    Ok((file, scenario))
}

/// A rerun of a failure file, next to what the file expected.
pub struct Replay {
    pub expected: Expected,
    pub actual: Expected,
    pub outcome: RunOutcome,
}

/// The engine a (loaded) failure file was found on.
pub fn engine_of(file: &FailureFile) -> Engine {
    Engine::from_name(&file.engine).unwrap_or_default()
}

/// Reruns the file's scenario with its seed, on the file's engine.
pub fn replay(file: &FailureFile, scenario: &Scenario) -> Replay {
    let outcome = run::run_on(engine_of(file), scenario, file.seed);
    Replay {
        expected: file.expected.clone(),
        actual: expected(&outcome),
        outcome,
    }
}

impl Replay {
    pub fn matches(&self) -> bool {
        self.expected == self.actual
    }

    /// What changed, one line each; empty when it matches.
    pub fn differences(&self) -> Vec<String> {
        differences(&self.expected, &self.actual)
    }
}

/// What changed from `was` to `now`, one line each; empty when nothing did.
pub fn differences(was: &Expected, now: &Expected) -> Vec<String> {
    let mut out = Vec::new();
    if was.verdict != now.verdict {
        out.push(format!("verdict: was {}, now {}", was.verdict, now.verdict));
    }
    let gone: Vec<&String> = was
        .violated
        .iter()
        .filter(|p| !now.violated.contains(p))
        .collect();
    let new: Vec<&String> = now
        .violated
        .iter()
        .filter(|p| !was.violated.contains(p))
        .collect();
    if !gone.is_empty() {
        out.push(format!("no longer violated: {}", join(&gone)));
    }
    if !new.is_empty() {
        out.push(format!("newly violated: {}", join(&new)));
    }
    if was.digest != now.digest {
        out.push(format!(
            "digest: was {}, now {} (the run took a different path)",
            was.digest, now.digest
        ));
    }
    out
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `verdict [properties] digest`, for one line of output.
pub fn describe(expected: &Expected) -> String {
    format!(
        "{} [{}] digest {}",
        expected.verdict,
        expected.violated.join(", "),
        expected.digest
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(verdict: &str, violated: &[&str], digest: &str) -> Expected {
        Expected {
            verdict: verdict.into(),
            violated: violated.iter().map(|s| s.to_string()).collect(),
            digest: digest.into(),
        }
    }

    #[test]
    fn differences_name_the_verdict_the_properties_and_the_digest() {
        let lines = differences(
            &expected("safety_violation", &["a", "b"], "d1"),
            &expected("liveness_violation", &["b", "c"], "d2"),
        );
        assert_eq!(
            lines,
            [
                "verdict: was safety_violation, now liveness_violation",
                "no longer violated: a",
                "newly violated: c",
                "digest: was d1, now d2 (the run took a different path)",
            ]
        );
        let same = expected("pass", &[], "d");
        assert!(differences(&same, &same).is_empty());
    }
}
