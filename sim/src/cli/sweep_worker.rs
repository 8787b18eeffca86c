//! The hidden `mailsim sweep-worker`: runs one seed for a sweep, in its own
//! process, and prints one JSON line (`sweep::record::WorkerReport`). Exit 0
//! whenever the run finished, whatever its verdict: the verdict is in the
//! report, and any other exit means the worker itself failed.

use std::path::PathBuf;

use crate::exit_code::EXIT_BAD_INPUT;
use crate::scenario_source::ScenarioSource;
use crate::sweep::worker;

#[derive(clap::Args, Debug)]
pub struct SweepWorkerArgs {
    #[command(flatten)]
    pub source: ScenarioSource,
    /// Save the observation log here if the run fails.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Save the run's coverage features here (JSON list; `mailsim explore`).
    #[arg(long, value_name = "FILE")]
    pub coverage: Option<PathBuf>,
    /// This is a recheck's second run.
    #[arg(long)]
    pub second_run: bool,
}

pub fn run(args: &SweepWorkerArgs) -> i32 {
    if let Err(e) = args.source.engine.check_available() {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    let scenario = match args.source.load() {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    match worker::run_seed(
        args.source.engine,
        &scenario,
        args.source.seed,
        args.trace.as_deref(),
        args.coverage.as_deref(),
        args.second_run,
    ) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string(&report).expect("reports serialize")
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}
