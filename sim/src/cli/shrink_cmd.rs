//! `mailsim shrink FILE [--out FILE] [--property NAME]`: minimise a failure
//! file's fault schedule and workload while the same property still fails
//! (see `crate::shrink`), and write the smaller failure file. Progress goes
//! to stderr, one line per run; the result to stdout. Exit 0 when a file was
//! written, 1 when the file does not fail (any more) on this build, 2 for bad
//! input.

use std::path::{Path, PathBuf};

use crate::cli::{ShrinkArgs, outputs};
use crate::exit_code::EXIT_BAD_INPUT;
use crate::failure_file::{self, failure_file};
use crate::shell::shell_word;
use crate::shrink::{ShrinkError, shrink_on};

/// `x.json` → `x.min.json`; anything else gets `.min.json` appended.
pub fn default_out(path: &Path) -> PathBuf {
    let text = path.display().to_string();
    match text.strip_suffix(".json") {
        Some(stem) => PathBuf::from(format!("{stem}.min.json")),
        None => PathBuf::from(format!("{text}.min.json")),
    }
}

pub fn run(args: &ShrinkArgs) -> i32 {
    let (file, scenario) = match failure_file::load(&args.file) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    // By default the most important violated property: the registry lists
    // them in that order (loss first, drain last).
    let first_violated = properties::all()
        .iter()
        .map(|p| p.name)
        .find(|name| file.expected.violated.iter().any(|v| v == name));
    let target = match (&args.property, first_violated) {
        (Some(name), _) if properties::by_name(name).is_some() => name.clone(),
        (Some(name), _) => {
            let known: Vec<&str> = properties::all().iter().map(|p| p.name).collect();
            eprintln!(
                "error: unknown property {name:?} (one of: {})",
                known.join(", ")
            );
            return EXIT_BAD_INPUT;
        }
        (None, Some(first)) => first.to_string(),
        (None, None) => {
            eprintln!(
                "error: {}: the file records no violated property to keep failing ({}); name one with --property",
                args.file.display(),
                failure_file::describe(&file.expected)
            );
            return EXIT_BAD_INPUT;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.file));
    eprintln!("shrink: {} while {target} still fails", args.file.display());
    let engine = crate::failure_file::engine_of(&file);
    let shrunk = match shrink_on(engine, &scenario, file.seed, &target, &mut |line| {
        eprintln!("shrink: {line}")
    }) {
        Ok(shrunk) => shrunk,
        Err(ShrinkError::DoesNotFail { violated }) => {
            println!(
                "{}: does not violate {target} on this build (violated now: [{}]); nothing to shrink",
                args.file.display(),
                violated.join(", ")
            );
            return 1;
        }
    };
    let repro = format!("mailsim replay {}", shell_word(&out.display().to_string()));
    let smaller = failure_file(&shrunk.outcome, &shrunk.scenario, &repro);
    if let Err(e) = outputs::write_failure(&smaller, &out) {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    println!(
        "shrunk {} in {} runs: faults {} -> {}, messages {} -> {}",
        args.file.display(),
        shrunk.runs,
        scenario.faults.faults.len(),
        shrunk.scenario.faults.faults.len(),
        scenario.workload.messages.len(),
        shrunk.scenario.workload.messages.len()
    );
    for fault in &shrunk.scenario.faults.faults {
        println!("fault: {fault}");
    }
    println!(
        "still violates: {}",
        failure_file::describe(&smaller.expected)
    );
    println!("wrote {}", out.display());
    println!("{repro}");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_output_sits_next_to_the_input() {
        assert_eq!(
            default_out(Path::new("f/seed-1.json")),
            PathBuf::from("f/seed-1.min.json")
        );
        assert_eq!(
            default_out(Path::new("failure")),
            PathBuf::from("failure.min.json")
        );
    }
}
