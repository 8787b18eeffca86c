//! Every failure in the committed corpus (`traces/corpus/*.json`) still fails
//! exactly as recorded: same verdict, same violated properties, same digest.
//! The replays run on two threads: each is a whole simulation on its own.
//!
//! Each entry replays on the engine it records. A plain build replays the
//! turmoil entries; the madsim build (`.ci/run` runs this test there too)
//! replays the madsim ones — failures that only madsim's interleavings
//! reach, which `mailsim promote` could not move to turmoil.

use std::path::{Path, PathBuf};

use sim::failure_file;

/// The engine entries replayed by this build.
fn engine_here() -> &'static str {
    if cfg!(madsim) { "madsim" } else { "turmoil" }
}

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

/// The engine a corpus file says it was found on, read without loading it
/// (loading refuses an engine this build lacks).
fn recorded_engine(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(value.get("engine")?.as_str()?.to_string())
}

/// The corpus entries this build replays (see the module comment).
fn files_for_this_engine() -> Vec<PathBuf> {
    corpus_files()
        .into_iter()
        .filter(|path| match recorded_engine(path) {
            Some(engine) => engine == engine_here(),
            // Unreadable: replayed (and reported) by every build.
            None => true,
        })
        .collect()
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
    let files = files_for_this_engine();
    let least = if engine_here() == "madsim" { 1 } else { 2 };
    assert!(
        files.len() >= least,
        "the corpus lost its {} files: {files:?}",
        engine_here()
    );
    let (left, right) = files.split_at(files.len() / 2);
    let mismatches: Vec<String> = std::thread::scope(|scope| {
        let other = scope.spawn(|| left.iter().filter_map(|p| mismatch(p)).collect::<Vec<_>>());
        let mut mine: Vec<String> = right.iter().filter_map(|p| mismatch(p)).collect();
        mine.extend(other.join().expect("replays ran"));
        mine
    });
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
