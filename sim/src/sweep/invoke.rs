//! The sweep's side of a worker: start `mailsim sweep-worker` for one seed
//! (the same binary, re-executed), wait with a time limit, and tell a report
//! from a timeout from a crash.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::scenario::Family;
use crate::sweep::child;
use crate::sweep::record::WorkerReport;

/// One worker run for one seed.
pub struct WorkerRun<'a> {
    pub exe: &'a Path,
    pub seed: u64,
    pub family: Family,
    pub engine: crate::engine::Engine,
    pub bugs: &'a [String],
    pub buggify: bool,
    /// Run this scenario file instead of drawing from `family`.
    pub scenario: Option<&'a Path>,
    /// Where to save the run's coverage features (explore).
    pub coverage: Option<&'a Path>,
    /// Where to save the observation log if the run fails.
    pub trace: Option<&'a Path>,
    pub second_run: bool,
    pub limit: Duration,
    /// Base name for the captured output (`tmp/seed-7.run1`).
    pub capture: &'a Path,
}

/// How a worker run ended, and how long the sweep waited for it.
pub enum WorkerEnd {
    Reported(WorkerReport),
    TimedOut,
    /// Why, for a person: exit status and the tail of stderr.
    Crashed(String),
}

impl WorkerRun<'_> {
    pub fn run(&self) -> (WorkerEnd, Duration) {
        let mut command = Command::new(self.exe);
        command
            .arg("sweep-worker")
            .arg("--seed")
            .arg(self.seed.to_string());
        match self.scenario {
            Some(file) => command.arg("--scenario").arg(file),
            None => command.arg("--family").arg(self.family.name()),
        };
        if let Some(file) = self.coverage {
            command.arg("--coverage").arg(file);
        }
        for bug in self.bugs {
            command.arg("--bug").arg(bug);
        }
        if self.buggify {
            command.arg("--buggify");
        }
        command.arg("--engine").arg(self.engine.name());
        if let Some(trace) = self.trace {
            command.arg("--trace").arg(trace);
        }
        if self.second_run {
            command.arg("--second-run");
        }
        let exit = match child::run(command, self.limit, self.capture) {
            Ok(exit) => exit,
            Err(e) => {
                let why = format!("could not start {} sweep-worker: {e}", self.exe.display());
                return (WorkerEnd::Crashed(why), Duration::ZERO);
            }
        };
        let end = match exit.status {
            None => WorkerEnd::TimedOut,
            Some(status) => {
                let report = exit
                    .stdout
                    .lines()
                    .rev()
                    .find(|line| !line.trim().is_empty())
                    .and_then(|line| serde_json::from_str::<WorkerReport>(line).ok());
                match report {
                    Some(report) if status.success() => WorkerEnd::Reported(report),
                    _ => {
                        let mut why = format!("worker {}", child::describe(status));
                        if !exit.stderr_excerpt.is_empty() {
                            why.push_str("; stderr:\n");
                            why.push_str(&exit.stderr_excerpt);
                        }
                        WorkerEnd::Crashed(why)
                    }
                }
            }
        };
        (end, exit.elapsed)
    }
}
