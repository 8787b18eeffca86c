//! `mailsim replay FILE`: rerun a saved failure and say whether it ends the
//! same way — verdict, violated properties and digest. Exit 0 when all three
//! match, 1 when anything changed (each change named), 2 for a file that
//! cannot be replayed (unreadable, not a failure file, newer format, other
//! engine, bad scenario).
//!
//! The failure report is printed too: replaying is how a person gets to see
//! a failure someone else found.

use crate::cli::{ReplayArgs, outputs};
use crate::exit_code::EXIT_BAD_INPUT;
use crate::failure_file::{self, describe};
use crate::report_text::failure_report;
use crate::run::Verdict;

pub fn run(args: &ReplayArgs) -> i32 {
    let path = &args.file;
    let (mut file, scenario) = match failure_file::load(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    println!(
        "replay: {} (seed {}, engine {}, written by {})",
        path.display(),
        file.seed,
        file.engine,
        file.build_id
    );
    println!("expected: {}", describe(&file.expected));
    let replay = failure_file::replay(&file, &scenario);
    let outcome = &replay.outcome;
    if let Some(trace) = &args.trace
        && let Err(e) = outputs::write_trace(&outcome.log, trace)
    {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    if let Some(chrome) = &args.chrome
        && let Err(e) =
            outputs::write_chrome(&outcome.log, &outputs::host_regions(&scenario), chrome)
    {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    if outcome.verdict != Verdict::Pass {
        print!("{}", failure_report(outcome, &scenario, &file.repro));
    }
    println!("actual:   {}", describe(&replay.actual));
    if replay.matches() {
        println!("replay: same outcome");
        return 0;
    }
    for difference in replay.differences() {
        println!("changed: {difference}");
    }
    if file.build_id != traces::failure::build_id() {
        println!(
            "note: the file was written by {}; this is {}",
            file.build_id,
            traces::failure::build_id()
        );
    }
    if args.update {
        if outcome.verdict == Verdict::Pass {
            println!(
                "replay: DIFFERENT, and the run now passes: not updated (fixed? then remove the file)"
            );
            return 1;
        }
        file.expected = replay.actual.clone();
        file.build_id = traces::failure::build_id();
        if let Err(e) = outputs::write_failure(&file, path) {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
        println!(
            "replay: DIFFERENT; updated the expected outcome in {}",
            path.display()
        );
        return 0;
    }
    println!("replay: DIFFERENT");
    1
}
