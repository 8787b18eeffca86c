//! Runs a sweep's seeds: `jobs` threads, each taking the next seed, running
//! it in a worker process (twice for a recheck), and writing its failure file
//! and record before taking another. The threads only wait on processes;
//! simulations never share one.
//!
//! A time budget stops the taking of new seeds; seeds already running
//! finish. An error writing the output directory stops the sweep: results
//! that cannot be recorded are not worth computing.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::scenario::Family;
use crate::scenario_source::ScenarioSource;
use crate::sweep::duration::human;
use crate::sweep::invoke::{WorkerEnd, WorkerRun};
use crate::sweep::layout::Layout;
use crate::sweep::progress::Progress;
use crate::sweep::record::{Outcome, SeedRecord, WorkerReport};
use crate::sweep::{clock, failure_file, recheck, shrink};

/// What to run and how.
#[derive(Clone)]
pub struct Plan<'a> {
    /// The mailsim binary to re-execute as workers.
    pub exe: &'a Path,
    pub layout: &'a Layout,
    pub family: Family,
    pub engine: crate::engine::Engine,
    pub bugs: &'a [String],
    /// BUGGIFY on in every seed.
    pub buggify: bool,
    /// Seeds still to run, in the order to take them.
    pub todo: &'a [u64],
    pub jobs: usize,
    pub budget: Option<Duration>,
    pub seed_timeout: Duration,
    pub recheck_percent: f64,
    pub shrink: bool,
    /// `explore`'s runs: seed N runs the scenario file `DIR/seed-N.json`
    /// instead of drawing one from the family, and its worker saves the
    /// run's coverage (`coverage/seed-N.json`) before the record.
    pub scenarios: Option<&'a Path>,
}

/// How the run went.
pub struct PoolEnd {
    /// Seeds finished (and recorded) in this run.
    pub ran: usize,
    /// The budget stopped it with seeds left.
    pub budget_hit: bool,
    pub elapsed: Duration,
    /// An error that stopped the sweep.
    pub fatal: Option<String>,
}

pub fn run(plan: &Plan<'_>, progress: &Progress) -> PoolEnd {
    let started = clock::now();
    let next = AtomicUsize::new(0);
    let ran = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let budget_hit = AtomicBool::new(false);
    let fatal = Mutex::new(None);
    let threads = plan.jobs.min(plan.todo.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    if plan
                        .budget
                        .is_some_and(|budget| started.elapsed() >= budget)
                    {
                        if next.load(Ordering::SeqCst) < plan.todo.len() {
                            budget_hit.store(true, Ordering::SeqCst);
                        }
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&seed) = plan.todo.get(index) else {
                        break;
                    };
                    match run_one(plan, seed) {
                        Ok(record) => {
                            ran.fetch_add(1, Ordering::SeqCst);
                            progress.seed_done(&record);
                        }
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            fatal
                                .lock()
                                .expect("never poisoned")
                                .get_or_insert(format!("seed {seed}: {e}"));
                        }
                    }
                }
            });
        }
    });
    PoolEnd {
        ran: ran.into_inner(),
        budget_hit: budget_hit.into_inner(),
        elapsed: started.elapsed(),
        fatal: fatal.into_inner().expect("never poisoned"),
    }
}

/// Runs one seed to its record, written to disk (failure file first, so a
/// record never points at a file that is not there).
fn run_one(plan: &Plan<'_>, seed: u64) -> Result<SeedRecord, String> {
    let scenario_file = plan
        .scenarios
        .map(|dir| dir.join(format!("seed-{seed}.json")));
    let coverage = plan.scenarios.map(|_| layout_coverage(plan.layout, seed));
    let source = ScenarioSource {
        seed,
        scenario: scenario_file.clone(),
        family: plan.family,
        bugs: plan.bugs.to_vec(),
        buggify: plan.buggify,
        engine: plan.engine,
    };
    let scenario = source.load()?;
    let layout = plan.layout;
    let trace = layout.path("traces", seed);
    let capture = |run: &str| layout.tmp_dir().join(format!("seed-{seed}.{run}"));
    let (first_capture, second_capture) = (capture("run1"), capture("run2"));
    let worker = |second_run: bool| WorkerRun {
        exe: plan.exe,
        seed,
        family: plan.family,
        engine: plan.engine,
        bugs: plan.bugs,
        buggify: plan.buggify,
        scenario: scenario_file.as_deref(),
        coverage: coverage.as_deref().filter(|_| !second_run),
        trace: (!second_run).then_some(trace.as_path()),
        second_run,
        limit: plan.seed_timeout,
        capture: if second_run {
            &second_capture
        } else {
            &first_capture
        },
    };
    let mut record = SeedRecord {
        seed,
        family: plan.family.name(),
        bugs: plan.bugs.to_vec(),
        outcome: Outcome::Pass,
        verdict: None,
        digest: None,
        recheck_digest: None,
        violations: Vec::new(),
        excused: 0,
        within_fault_model: None,
        sim_seconds: None,
        wall_seconds: 0.0,
        repro: format!("mailsim run {}", source.repro_flags()),
        detail: None,
        failure_file: None,
        trace_file: None,
        shrink: None,
        buggify: plan.buggify,
        buggify_fired: Vec::new(),
        shrunk: None,
    };
    let (first, first_took) = worker(false).run();
    record.wall_seconds = first_took.as_secs_f64();
    match first {
        WorkerEnd::TimedOut => {
            record.outcome = Outcome::Timeout;
            record.detail = Some(format!(
                "no result within --seed-timeout {}; the worker was killed",
                human(plan.seed_timeout)
            ));
        }
        WorkerEnd::Crashed(why) => {
            record.outcome = Outcome::Crashed;
            record.detail = Some(why);
        }
        WorkerEnd::Reported(report) => {
            fill_from_report(&mut record, &report);
            if recheck::rechecked(seed, plan.recheck_percent) {
                let (second, second_took) = worker(true).run();
                record.wall_seconds += second_took.as_secs_f64();
                compare_recheck(&mut record, second, plan);
            }
        }
    }
    if record.outcome.is_failure() {
        let file = failure_file::build(&scenario, &record, plan.engine);
        let path = layout.path("failures", seed);
        file.save(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        record.failure_file = Some(crate::sweep::layout::Layout::relative("failures", seed));
        if plan.shrink && record.outcome.is_violation() {
            record.shrink = Some(shrink::shrink(plan.exe, layout, seed, plan.seed_timeout));
            record.shrunk = shrink::shape(layout, seed);
        }
    }
    layout.write_record(&record)?;
    Ok(record)
}

/// Where the worker of an explore run saves its coverage.
fn layout_coverage(layout: &Layout, seed: u64) -> std::path::PathBuf {
    layout.path("coverage", seed)
}

fn fill_from_report(record: &mut SeedRecord, report: &WorkerReport) {
    record.outcome = match report.verdict.as_str() {
        "pass" => Outcome::Pass,
        "liveness_violation" => Outcome::LivenessViolation,
        "livelock" => Outcome::Livelock,
        _ => Outcome::SafetyViolation,
    };
    record.verdict = Some(report.verdict.clone());
    record.digest = Some(report.digest.clone());
    record.violations = report.violations.clone();
    record.excused = report.excused;
    record.within_fault_model = Some(report.within_fault_model);
    record.sim_seconds = Some(report.sim_seconds);
    record.buggify_fired = report.buggify_fired.clone();
    if report.trace.is_some() {
        record.trace_file = Some(Layout::relative("traces", record.seed));
    }
}

/// The second run of a rechecked seed must give the first run's digest.
fn compare_recheck(record: &mut SeedRecord, second: WorkerEnd, plan: &Plan<'_>) {
    let seed = record.seed;
    match second {
        WorkerEnd::Reported(again) => {
            let first = record.digest.clone().unwrap_or_default();
            if again.digest != first {
                record.outcome = Outcome::Nondeterministic;
                record.detail = Some(format!(
                    "the same seed gave two digests: {first} (first run, {}) then {} (recheck run, {}); \
                     `mailsim check-determinism --seeds {seed}..={seed} --family {}` names the first event that differs",
                    record.verdict.as_deref().unwrap_or("?"),
                    again.digest,
                    again.verdict,
                    plan.family.name(),
                ));
            }
            record.recheck_digest = Some(again.digest);
        }
        WorkerEnd::TimedOut => {
            record.outcome = Outcome::Timeout;
            record.detail = Some(format!(
                "the recheck run (the same seed again) gave no result within --seed-timeout {}; the first run finished",
                human(plan.seed_timeout)
            ));
        }
        WorkerEnd::Crashed(why) => {
            record.outcome = Outcome::Crashed;
            record.detail = Some(format!(
                "the recheck run (the same seed again) crashed; the first run finished: {why}"
            ));
        }
    }
}
