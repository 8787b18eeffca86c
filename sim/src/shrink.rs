//! Shrinking a failing scenario: the smallest fault schedule and workload we
//! can find that still violates the same property, so the person reading the
//! failure sees only what matters.
//!
//! Steps, each keeping a change only if the run still fails the target:
//! 0. keep only the messages the violation is about (one run; when it
//!    works, every later run is much faster);
//! 1. drop faults: first all of them, then greedy delta debugging (remove
//!    halves, then quarters, ... of the list);
//! 2. drop workload messages: first all but the ones the violation is about,
//!    then delta debugging over what is left;
//! 3. per fault, halve its duration while it still fails, then halve its
//!    start time (moving it earlier) while it still fails;
//! 4. when few messages are left, halve each one's send time while it still
//!    fails, then bring the heal earlier (halving the fault phase, never
//!    before a fault or a message starts), so the repro runs in less
//!    simulated time.
//!
//! Messages go before the per-fault steps because every later run is faster
//! with a smaller workload. Everything is a pure function of the input
//! scenario and seed, so shrinking is deterministic: the same file shrinks to
//! the same file.

use std::collections::BTreeSet;

use crate::engine::Engine;
use crate::report_text::involved_messages;
use crate::run::{self, RunOutcome, Verdict};
use crate::scenario::Scenario;

/// Messages are moved earlier one by one only when this few are left.
const FEW_MESSAGES: usize = 8;

/// Halving stops below this many milliseconds: shorter differences are
/// within a few ticks and not worth another run.
const SMALLEST_STEP_MS: u64 = 50;

/// The result of a shrink.
pub struct Shrunk {
    pub scenario: Scenario,
    /// The run of `scenario` that still fails.
    pub outcome: RunOutcome,
    /// Runs made, the original's included.
    pub runs: u32,
}

/// Why a shrink could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShrinkError {
    /// The original scenario does not violate the target on this build.
    DoesNotFail { violated: Vec<String> },
}

/// Whether a run counts as "still failing the same way".
fn fails(outcome: &RunOutcome, target: &str) -> bool {
    outcome.verdict != Verdict::Pass
        && outcome
            .report
            .violations
            .iter()
            .any(|v| v.property == target)
}

struct Shrinker<'a> {
    engine: Engine,
    seed: u64,
    target: &'a str,
    best: Scenario,
    best_outcome: RunOutcome,
    runs: u32,
    /// Runs allowed, the original's included; a candidate past it is not run.
    runs_max: u32,
    /// Scenarios already run (by digest): delta debugging can propose the
    /// same candidate twice, and a rerun would say nothing new.
    tried: BTreeSet<String>,
    progress: &'a mut dyn FnMut(&str),
}

impl Shrinker<'_> {
    /// Runs `candidate`; keeps it as the best if it still fails.
    fn try_candidate(&mut self, candidate: Scenario, what: &str) -> bool {
        if self.runs >= self.runs_max {
            return false;
        }
        if candidate.validate().is_err() || !self.tried.insert(candidate.sha256()) {
            return false;
        }
        self.runs += 1;
        let outcome = run::run_on(self.engine, &candidate, self.seed);
        let still = fails(&outcome, self.target);
        (self.progress)(&format!(
            "run {:>3}: {what}: {}",
            self.runs,
            if still {
                "still fails, kept"
            } else {
                "passes or fails otherwise, undone"
            }
        ));
        if still {
            self.best = candidate;
            self.best_outcome = outcome;
        }
        still
    }

    /// Greedy delta debugging over a list of `len` items: tries removing
    /// chunks of halving size; `without(best, kept indices)` builds the
    /// candidate. Returns nothing; `best` moves as removals succeed.
    fn delta_debug(
        &mut self,
        noun: &str,
        len: impl Fn(&Scenario) -> usize,
        keep_only: impl Fn(&Scenario, &[usize]) -> Scenario,
    ) {
        let mut chunks = 2;
        loop {
            let n = len(&self.best);
            if n == 0 {
                return;
            }
            let chunks_now = chunks.min(n);
            let size = n.div_ceil(chunks_now);
            let mut removed_any = false;
            let mut start = 0;
            while start < len(&self.best) {
                let n = len(&self.best);
                let end = (start + size).min(n);
                let kept: Vec<usize> = (0..n).filter(|i| *i < start || *i >= end).collect();
                let candidate = keep_only(&self.best, &kept);
                let what = if end - start == 1 {
                    format!("drop {noun} {start} of {n}")
                } else {
                    format!("drop {noun}s {start}..{} of {n}", end - 1)
                };
                if self.try_candidate(candidate, &what) {
                    removed_any = true;
                    // The same start now names the next chunk.
                } else {
                    start = end;
                }
            }
            if removed_any {
                chunks = (chunks - 1).max(2);
            } else if size == 1 {
                return;
            } else {
                chunks *= 2;
            }
        }
    }

    fn drop_faults(&mut self) {
        if self.best.faults.faults.is_empty() {
            return;
        }
        let mut none = self.best.clone();
        none.faults.faults.clear();
        if self.try_candidate(none, "drop every fault") {
            return;
        }
        self.delta_debug(
            "fault",
            |s| s.faults.faults.len(),
            |s, kept| {
                let mut c = s.clone();
                c.faults.faults = kept.iter().map(|&i| s.faults.faults[i].clone()).collect();
                c
            },
        );
    }

    fn drop_messages(&mut self) {
        self.keep_involved_messages();
        self.delta_debug(
            "message",
            |s| s.workload.messages.len(),
            |s, kept| {
                let mut c = s.clone();
                c.workload.messages = kept
                    .iter()
                    .map(|&i| s.workload.messages[i].clone())
                    .collect();
                c
            },
        );
    }

    /// Tries the workload cut to the messages the violation names.
    fn keep_involved_messages(&mut self) {
        let involved = {
            let found: Vec<&properties::Violation> = self
                .best_outcome
                .report
                .violations
                .iter()
                .filter(|v| v.property == self.target)
                .collect();
            involved_messages(&found, &self.best_outcome.log)
        };
        let is_involved = |id: &str| involved.contains(&properties::facts::msg_key(id));
        let mut only_involved = self.best.clone();
        only_involved
            .workload
            .messages
            .retain(|m| is_involved(&m.id));
        let (before, after) = (
            self.best.workload.messages.len(),
            only_involved.workload.messages.len(),
        );
        if after > 0 && after < before {
            self.try_candidate(
                only_involved,
                &format!("keep only the {after} message(s) the violation is about"),
            );
        }
    }

    /// Lowers one number of the scenario toward `floor_ms` while the run
    /// still fails: the floor itself first (often it just works, and then
    /// one run did it), then halving the distance to it.
    fn lower(
        &mut self,
        describe: impl Fn(u64) -> String,
        current: impl Fn(&Scenario) -> u64,
        set: impl Fn(&mut Scenario, u64),
        floor_ms: u64,
    ) {
        let mut first = true;
        loop {
            let now_ms = current(&self.best);
            if now_ms < floor_ms + SMALLEST_STEP_MS {
                return;
            }
            let next_ms = if first {
                floor_ms
            } else {
                floor_ms + (now_ms - floor_ms) / 2
            };
            let mut candidate = self.best.clone();
            set(&mut candidate, next_ms);
            let kept = self.try_candidate(candidate, &describe(next_ms));
            if !kept && !first {
                return;
            }
            first = false;
        }
    }

    fn shorten_and_move_faults(&mut self) {
        for index in 0..self.best.faults.faults.len() {
            self.lower(
                |ms| format!("shorten fault {index} to {ms} ms"),
                |s| s.faults.faults[index].duration_ms,
                |s, ms| s.faults.faults[index].duration_ms = ms,
                SMALLEST_STEP_MS,
            );
            self.lower(
                |ms| format!("move fault {index} to start at {ms} ms"),
                |s| s.faults.faults[index].at_ms,
                |s, ms| s.faults.faults[index].at_ms = ms,
                0,
            );
        }
    }

    fn send_earlier(&mut self) {
        if self.best.workload.messages.len() > FEW_MESSAGES {
            return;
        }
        for index in 0..self.best.workload.messages.len() {
            let id = self.best.workload.messages[index].id.clone();
            self.lower(
                |ms| format!("send {id} at {ms} ms"),
                |s| s.workload.messages[index].at_ms,
                |s, ms| s.workload.messages[index].at_ms = ms,
                0,
            );
        }
    }

    fn heal_earlier(&mut self) {
        let scenario = &self.best;
        // The heal must stay after every fault and message starts.
        let floor_ms = scenario
            .faults
            .faults
            .iter()
            .map(|f| f.at_ms + 1)
            .chain(scenario.workload.messages.iter().map(|m| m.at_ms + 1))
            .max()
            .unwrap_or(0);
        self.lower(
            |ms| format!("heal at {ms} ms"),
            |s| s.phases.heal_at_ms,
            |s, ms| s.phases.heal_at_ms = ms,
            floor_ms,
        );
        // The heal ends every fault; say so in the schedule, so the file
        // does not claim a fault lasts longer than it can.
        let heal_ms = self.best.phases.heal_at_ms;
        let mut clamped = self.best.clone();
        for fault in &mut clamped.faults.faults {
            fault.duration_ms = fault.duration_ms.min(heal_ms.saturating_sub(fault.at_ms));
        }
        if clamped != self.best {
            self.try_candidate(clamped, "end every fault at the heal");
        }
    }
}

/// Shrinks `scenario` (run with `seed` on `engine`, the one the failure was
/// found on) while it still violates `target`. `progress` gets one line per
/// run.
pub fn shrink_on(
    engine: Engine,
    scenario: &Scenario,
    seed: u64,
    target: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Shrunk, ShrinkError> {
    shrink_within_on(engine, scenario, seed, target, u32::MAX, progress)
}

/// [`shrink_on`] with at most `runs_max` runs (the original's included): the
/// steps run in the same order and stop trying candidates when the budget is
/// spent, so a test can afford the first, largest reductions (faults, then
/// the messages the violation is not about) and leave the polish to
/// `mailsim shrink`.
pub fn shrink_within_on(
    engine: Engine,
    scenario: &Scenario,
    seed: u64,
    target: &str,
    runs_max: u32,
    progress: &mut dyn FnMut(&str),
) -> Result<Shrunk, ShrinkError> {
    let original = run::run_on(engine, scenario, seed);
    let violated: Vec<String> = original
        .report
        .violations
        .iter()
        .map(|v| v.property.clone())
        .collect();
    progress(&format!(
        "run   1: the original ({} faults, {} messages): {}",
        scenario.faults.faults.len(),
        scenario.workload.messages.len(),
        if fails(&original, target) {
            "fails, shrinking"
        } else {
            "does not fail"
        }
    ));
    if !fails(&original, target) {
        let mut violated = violated;
        violated.dedup();
        return Err(ShrinkError::DoesNotFail { violated });
    }
    let mut shrinker = Shrinker {
        engine,
        seed,
        target,
        best: scenario.clone(),
        best_outcome: original,
        runs: 1,
        runs_max,
        tried: BTreeSet::from([scenario.sha256()]),
        progress,
    };
    // One cheap try first: with only the messages the violation is about,
    // every later run is much faster.
    shrinker.keep_involved_messages();
    shrinker.drop_faults();
    shrinker.drop_messages();
    shrinker.shorten_and_move_faults();
    shrinker.send_earlier();
    shrinker.heal_earlier();
    Ok(Shrunk {
        scenario: shrinker.best,
        outcome: shrinker.best_outcome,
        runs: shrinker.runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Family;

    #[test]
    fn a_scenario_that_does_not_fail_is_not_shrunk() {
        let mut scenario = Scenario::generate_family(1, Family::Calm);
        scenario.workload.messages.truncate(1);
        scenario.phases.heal_at_ms = 1_000;
        scenario.phases.drain_bound_ms = 5_000;
        let mut lines = Vec::new();
        let result = shrink_on(Engine::Turmoil, &scenario, 1, "no_acked_loss", &mut |l| {
            lines.push(l.to_string())
        });
        assert!(matches!(result, Err(ShrinkError::DoesNotFail { .. })));
        assert_eq!(lines.len(), 1);
    }
}
