//! The failure file of a failed seed (`DIR/failures/seed-<N>.json`): the
//! scenario, seed, build, expected outcome and repro line, in the shared
//! `traces::FailureFile` format that `mailsim replay` and the corpus read.
//!
//! A crash or a timeout has no verdict or digest to expect; its file says
//! `crashed` or `timeout` with an empty digest, and still carries the
//! scenario, which is what makes the seed reproducible on another build.

use traces::{Expected, FAILURE_FILE_VERSION, FailureFile};

use crate::scenario::Scenario;
use crate::sweep::record::SeedRecord;

/// The failure file for `record`, whose run drew `scenario`.
pub fn build(
    scenario: &Scenario,
    record: &SeedRecord,
    engine: crate::engine::Engine,
) -> FailureFile {
    let verdict = record
        .verdict
        .clone()
        .unwrap_or_else(|| record.outcome.name().to_string());
    FailureFile {
        version: FAILURE_FILE_VERSION,
        seed: record.seed,
        engine: engine.name().into(),
        build_id: traces::failure::build_id(),
        scenario: serde_json::to_value(scenario).expect("scenarios serialize"),
        expected: Expected {
            verdict,
            violated: record.violated(),
            digest: record.digest.clone().unwrap_or_default(),
        },
        repro: record.repro.clone(),
    }
}
