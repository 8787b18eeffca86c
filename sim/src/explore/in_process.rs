//! Runs a campaign's batches one after another in this process: no worker
//! processes, no files. The benchmark uses it (thousands of short madsim
//! runs, where starting a process per run would cost more than the run) and
//! so do the tests.

use crate::engine::Engine;
use crate::explore::campaign::{Candidate, RunResult, Runner};
use crate::explore::coverage;
use crate::run::{self, Verdict};

pub struct InProcess {
    pub engine: Engine,
    /// Runs made so far.
    pub runs: u64,
}

impl InProcess {
    pub fn new(engine: Engine) -> InProcess {
        InProcess { engine, runs: 0 }
    }
}

/// Runs one candidate and reduces it to what the campaign needs.
pub fn run_one(engine: Engine, candidate: &Candidate) -> RunResult {
    let outcome = run::run_on(engine, &candidate.scenario, candidate.run_id);
    let mut properties: Vec<String> = outcome
        .report
        .violations
        .iter()
        .map(|v| v.property.clone())
        .collect();
    properties.sort();
    properties.dedup();
    RunResult {
        failed: outcome.verdict != Verdict::Pass,
        properties,
        features: coverage::features(&outcome.log, &outcome.facts),
    }
}

impl Runner for InProcess {
    fn run_batch(&mut self, batch: &[Candidate]) -> Result<Vec<Option<RunResult>>, String> {
        self.runs += batch.len() as u64;
        Ok(batch
            .iter()
            .map(|candidate| Some(run_one(self.engine, candidate)))
            .collect())
    }
}
