//! `mailsim promote FAILURE.json`: puts a (shrunk) failure into the corpus
//! `cargo test` replays (`traces/corpus/`, see its README) in one command.
//!
//! The corpus is replayed on turmoil, the engine every build has, so the
//! failure is run there again: it must still fail, violating at least one
//! of the properties the file recorded, and its file is written with
//! turmoil's digest (a madsim failure from a nightly becomes a turmoil
//! entry). A row naming it is added to the corpus README's table. Exit 0
//! promoted, 1 the run no longer fails as recorded (nothing written), 2 bad
//! input (unreadable file, a passing one, no corpus, a name taken).

use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::exit_code::EXIT_BAD_INPUT;
use crate::run::{self, Verdict};
use crate::sweep::layout::write_atomic;

#[derive(clap::Args, Debug)]
pub struct PromoteArgs {
    /// A failure file (from `run --save-failure`, a sweep's or explore's
    /// `failures/`, or `shrink`'s `.min.json`).
    #[arg(value_name = "FAILURE")]
    pub file: PathBuf,
    /// The corpus directory.
    #[arg(long, value_name = "DIR", default_value = "traces/corpus")]
    pub corpus: PathBuf,
    /// The entry's file name [default: BUGS-seed-N(.min).json].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Replace an entry of the same name.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &PromoteArgs) -> i32 {
    match promote(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

fn promote(args: &PromoteArgs) -> Result<i32, String> {
    let file = traces::FailureFile::load(&args.file)?;
    let scenario = crate::failure_file::scenario_of(&file, &args.file)?;
    if file.expected.verdict == "pass" {
        return Err(format!(
            "{}: records a passing run; the corpus is for failures",
            args.file.display()
        ));
    }
    if !args.corpus.is_dir() {
        return Err(format!(
            "{}: no corpus directory here (run from the repository root, or pass --corpus DIR)",
            args.corpus.display()
        ));
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.file, &scenario.bugs, file.seed));
    if !name.ends_with(".json") || name.contains('/') {
        return Err(format!("--name {name:?}: a file name ending in .json"));
    }
    let target = args.corpus.join(&name);
    if target.exists() && !args.force {
        return Err(format!(
            "{} already exists; pass --name or --force",
            target.display()
        ));
    }
    let outcome = run::run_on(Engine::Turmoil, &scenario, file.seed);
    let entry = crate::failure_file::failure_file(
        &outcome,
        &scenario,
        &format!("mailsim replay {}", target.display()),
    );
    let shared: Vec<&String> = entry
        .expected
        .violated
        .iter()
        .filter(|p| file.expected.violated.contains(p))
        .collect();
    if outcome.verdict == Verdict::Pass || shared.is_empty() {
        println!(
            "not promoted: on turmoil (the engine the corpus is replayed on) the run {}; \
             the file recorded {} on {}",
            if outcome.verdict == Verdict::Pass {
                "passes".to_string()
            } else {
                format!("violates {}", entry.expected.violated.join(", "))
            },
            file.expected.violated.join(", "),
            file.engine
        );
        return Ok(1);
    }
    let text = serde_json::to_string_pretty(&entry).expect("failure files serialize") + "\n";
    write_atomic(&target, text.as_bytes())?;
    let row = format!(
        "| `{name}` | promoted from `{}`: {} with {} on ({} faults, {} messages) |",
        args.file.display(),
        entry.expected.violated.join(", "),
        if scenario.bugs.is_empty() {
            "no bug".to_string()
        } else {
            scenario.bugs.join(", ")
        },
        scenario.faults.faults.len(),
        scenario.workload.messages.len()
    );
    add_readme_row(&args.corpus, &name, &row)?;
    println!(
        "promoted {} to {} ({}; digest {})",
        args.file.display(),
        target.display(),
        entry.expected.violated.join(", "),
        entry.expected.digest
    );
    println!("`cargo test -p sim --test corpus` now replays it");
    Ok(0)
}

/// `retry-forever-seed-17.min.json` from `failures/seed-17.min.json`.
fn default_name(path: &Path, bugs: &[String], seed: u64) -> String {
    let what = if bugs.is_empty() {
        "correct".to_string()
    } else {
        bugs.join("+")
    };
    let shrunk = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".min.json"));
    format!(
        "{what}-seed-{seed}{}.json",
        if shrunk { ".min" } else { "" }
    )
}

/// Adds `row` after the last row of the README's table (once per name).
fn add_readme_row(corpus: &Path, name: &str, row: &str) -> Result<(), String> {
    let readme = corpus.join("README.md");
    let Ok(text) = std::fs::read_to_string(&readme) else {
        return Ok(());
    };
    if text.contains(&format!("| `{name}` |")) {
        return Ok(());
    }
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .rposition(|line| line.starts_with("| `"))
        .map_or(lines.len(), |i| i + 1);
    lines.insert(at, row);
    write_atomic(&readme, (lines.join("\n") + "\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_says_the_bug_the_seed_and_whether_it_was_shrunk() {
        let bugs = vec!["retry-forever".to_string()];
        assert_eq!(
            default_name(Path::new("out/failures/seed-17.min.json"), &bugs, 17),
            "retry-forever-seed-17.min.json"
        );
        assert_eq!(
            default_name(Path::new("f.json"), &[], 3),
            "correct-seed-3.json"
        );
    }
}
