//! Runs a campaign's batches the way `mailsim sweep` runs seeds: each run in
//! a worker process from the sweep's pool (`sweep::pool`), `--jobs` at a
//! time, its record, failure file and trace written as it finishes. The
//! scenario of run N is saved first as `scenarios/seed-N.json`; the worker
//! saves what the run reached as `coverage/seed-N.json` before its record.
//!
//! Resuming: a run whose record is already there is not run again; its
//! result is read back from the record and its coverage file, after
//! checking that the campaign drew the same scenario for it (else the
//! directory holds another campaign, and that is an error).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::explore::campaign::{Candidate, RunResult, Runner};
use crate::explore::coverage::Features;
use crate::scenario::Scenario;
use crate::sweep::layout::{Layout, write_atomic};
use crate::sweep::pool::{self, PoolEnd};
use crate::sweep::progress::Progress;
use crate::sweep::record::SeedRecord;

/// Everything of a sweep's plan but the seeds.
pub struct PoolRunner<'a> {
    pub plan: pool::Plan<'a>,
    pub progress: &'a Progress,
    /// The whole campaign's time budget, counted from `started`.
    pub budget: Option<std::time::Duration>,
    pub started: std::time::Instant,
    /// Runs made in this process (not read back).
    pub ran: usize,
    pub budget_hit: bool,
    pub fatal: Option<String>,
}

impl PoolRunner<'_> {
    fn scenario_path(&self, run_id: u64) -> PathBuf {
        self.plan.layout.path("scenarios", run_id)
    }

    /// Whether the run recorded for `candidate` ran its scenario.
    fn check_saved(&self, candidate: &Candidate) -> Result<(), String> {
        let path = self.scenario_path(candidate.run_id);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let saved = Scenario::from_json(&text)
            .map_err(|e| format!("bad scenario {}: {e}", path.display()))?;
        if saved != candidate.scenario {
            return Err(format!(
                "{} holds another campaign: run {} there ran another scenario than this \
                 campaign draws (another --explore-seed, --batch or --family?); use another --out",
                self.plan.layout.root.display(),
                candidate.run_id
            ));
        }
        Ok(())
    }

    /// The result of a run already recorded (its scenario checked first).
    fn read_back(&self, candidate: &Candidate, record: &SeedRecord) -> RunResult {
        let coverage = self.plan.layout.path("coverage", candidate.run_id);
        // A run that crashed or timed out reached nothing the campaign can
        // use; an unreadable file (a writer killed mid-way cannot leave one:
        // writes are atomic) counts the same.
        let features: Features = std::fs::read_to_string(&coverage)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        RunResult {
            failed: record.outcome.is_failure(),
            properties: record.violated(),
            features,
        }
    }
}

impl Runner for PoolRunner<'_> {
    fn run_batch(&mut self, batch: &[Candidate]) -> Result<Vec<Option<RunResult>>, String> {
        let layout: &Layout = self.plan.layout;
        let (records, _) = layout.read_records()?;
        let mut todo = Vec::new();
        for candidate in batch {
            if records.contains_key(&candidate.run_id) {
                self.check_saved(candidate)?;
                continue;
            }
            let text = candidate.scenario.to_json() + "\n";
            write_atomic(&self.scenario_path(candidate.run_id), text.as_bytes())?;
            todo.push(candidate.run_id);
        }
        let left = self
            .budget
            .map(|budget| budget.saturating_sub(self.started.elapsed()));
        if left.is_some_and(|left| left.is_zero()) && !todo.is_empty() {
            self.budget_hit = true;
            todo.clear();
        }
        if !todo.is_empty() {
            let plan = pool::Plan {
                todo: &todo,
                budget: left,
                ..self.plan.clone()
            };
            let PoolEnd {
                ran,
                budget_hit,
                fatal,
                ..
            } = pool::run(&plan, self.progress);
            self.ran += ran;
            self.budget_hit |= budget_hit;
            if let Some(fatal) = fatal {
                self.fatal = Some(fatal.clone());
                return Err(fatal);
            }
        }
        let (records, _): (BTreeMap<u64, SeedRecord>, _) = layout.read_records()?;
        batch
            .iter()
            .map(|candidate| match records.get(&candidate.run_id) {
                Some(record) => Ok(Some(self.read_back(candidate, record))),
                None => Ok(None),
            })
            .collect()
    }
}
