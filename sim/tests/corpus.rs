//! Every failure in the committed corpus (`traces/corpus/*.json`) still fails
//! exactly as recorded: same verdict, same violated properties, same digest.
//! The replays run on two threads: each is a whole simulation on its own.

use std::path::{Path, PathBuf};

use sim::failure_file;

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// The replay's verdict on one file: None if it matches.
fn mismatch(path: &Path) -> Option<String> {
    let (file, scenario) = match failure_file::load(path) {
        Ok(loaded) => loaded,
        Err(e) => return Some(e),
    };
    if file.expected.verdict == "pass" {
        return Some(format!(
            "{}: records a passing run; the corpus is for failures",
            path.display()
        ));
    }
    let replay = failure_file::replay(&file, &scenario);
    (!replay.matches()).then(|| {
        format!(
            "{} no longer ends as recorded (if the change is intended: mailsim replay {} --update):\n  {}",
            path.display(),
            path.display(),
            replay.differences().join("\n  ")
        )
    })
}

#[test]
fn every_corpus_failure_replays_with_the_same_outcome_and_digest() {
    let files = corpus_files();
    assert!(files.len() >= 2, "the corpus lost its files: {files:?}");
    let (left, right) = files.split_at(files.len() / 2);
    let mismatches: Vec<String> = std::thread::scope(|scope| {
        let other = scope.spawn(|| left.iter().filter_map(|p| mismatch(p)).collect::<Vec<_>>());
        let mut mine: Vec<String> = right.iter().filter_map(|p| mismatch(p)).collect();
        mine.extend(other.join().expect("replays ran"));
        mine
    });
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
