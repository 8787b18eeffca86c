//! The test `scripts/mutants.sh` gives cargo-mutants: a fast madsim sweep of
//! every family, a few dozen seeds each, that the correct gateway passes.
//! A mutant of the gateway core is caught when some seed of some family
//! fails a property (or a host panics). `MUTATION_SEEDS` sets the seeds per
//! family (default 24), then `MUTATION_BUGGIFY_SEEDS` more with BUGGIFY on
//! (default 8), since code that only code-level faults reach (a torn spool
//! write, a spurious refusal) is gateway code too. Only in madsim builds
//! (`RUSTFLAGS="--cfg madsim"`): on turmoil this sweep would take an hour
//! per mutant.
//!
//! It stops at the first failing seed: one is enough to kill a mutant, and
//! most mutants die in the first family, so a caught mutant costs seconds
//! and only a missed one pays for the whole sweep.
//!
//! Then the catalogue: every known bug must still be caught within a few
//! seeds of its hunt family. The bugs' switches are code in `models/` too
//! (`if node.config.bug(..)` branches, the `IgnoresShortWrite` durability,
//! the unchecked read), and the sweep above never turns one on, so without
//! this a mutant that silently disabled a bug — leaving a property with no
//! bug to prove it — would count as missed for no fault of the properties.
//!
//! And the corpus: every committed failure's shape, bugs cleared, must
//! pass on madsim, and every madsim entry must still fail with its bug —
//! the rare shapes the fixes were made for, seconds in all.
#![cfg(madsim)]

use clap::ValueEnum;
use sim::bug_hunt;
use sim::engine::Engine;
use sim::scenario::{Family, Scenario};

/// Seeds of a bug's hunt family searched before calling it not caught: on
/// madsim the slowest hunted bug (`slow-fsync-assumed-done`) needed 10 at
/// this writing.
const CATALOGUE_SEEDS_MAX: u64 = 12;

/// Bugs whose hunt from seed 1 does not reach them within the cap: each is
/// proven on a fixed shape by `cargo test` (`sim/tests/bugs.rs`, and the
/// madsim corpus entry in `sim/tests/madsim.rs`), not here.
const PROVEN_ON_FIXED_SHAPES: &[&str] = &[
    "fsync-retry-trusted",
    "successor-waits-for-copyless",
    "claims-never-retried",
    "fresh-copy-taken-for-finished",
    "settled-unspoken",
    "duelling-claims",
    "amnesia-taken-for-forgetting",
    "stale-ballot-counted-as-copy",
    "quorum-below-majority",
    "expiry-waits-for-scan",
    "bounce-while-in-doubt",
    "in-doubt-gives-up",
    "late-after-doubt",
    "late-start-after-expiry",
    "bounce-unquarantined",
    "refusal-despite-copies",
    "expired-after-calling-off",
    "dsn-dropped-after-doubt",
    "quarantine-on-owner-only",
    "dsn-before-refusal-recorded",
];

/// A count from the environment, or `default`.
fn count_from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_family_passes_a_few_dozen_seeds_on_madsim() {
    let seeds = count_from_env("MUTATION_SEEDS", 24);
    // Then a few seeds of each family with BUGGIFY on: the paths only
    // code-level faults take (a torn spool write, a spurious refusal, a
    // stall after a confirmation) are gateway code too, and a mutant there
    // is otherwise never run.
    let buggify_seeds = count_from_env("MUTATION_BUGGIFY_SEEDS", 8);
    let runs = (1..=seeds)
        .map(|seed| (seed, false))
        .chain((1..=buggify_seeds).map(|seed| (seed, true)));
    let runs: Vec<(u64, bool)> = runs.collect();
    let mut failures = Vec::new();
    // Every family the command line knows, so a new family joins the
    // mutation sweep without an edit here.
    'sweep: for &family in Family::value_variants() {
        for &(seed, buggify) in &runs {
            let mut scenario = Scenario::generate_family(seed, family);
            scenario.buggify = buggify;
            let outcome = sim::run::run_on(Engine::Madsim, &scenario, seed);
            if outcome.verdict != sim::run::Verdict::Pass {
                let properties: Vec<&str> = outcome
                    .report
                    .violations
                    .iter()
                    .map(|v| v.property.as_str())
                    .collect();
                failures.push(format!(
                    "{} seed {seed}{}: {:?} {properties:?} {}",
                    family.name(),
                    if buggify { " --buggify" } else { "" },
                    outcome.verdict,
                    outcome.host_failure.unwrap_or_default()
                ));
                break 'sweep;
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_catalogue_bug_is_still_caught_within_a_few_seeds_on_madsim() {
    for (bug, _) in models::bugs::CATALOGUE {
        if PROVEN_ON_FIXED_SHAPES.contains(bug) {
            continue;
        }
        let family = bug_hunt::family_for(bug);
        let hunt = bug_hunt::hunt_range(
            Engine::Madsim,
            bug,
            family,
            1,
            CATALOGUE_SEEDS_MAX,
            &mut |_| {},
        );
        assert!(
            hunt.detection.is_some(),
            "{bug} is no longer caught within {CATALOGUE_SEEDS_MAX} seeds of {}",
            family.name()
        );
    }
}

/// The committed corpus, judged by outcome rather than digest (a mutant may
/// move a digest and break nothing): each entry's scenario with its bugs
/// cleared passes on madsim, so the fix each entry pins is still in place,
/// and each madsim entry still violates what it recorded with its bug on.
/// The sweep above rarely reaches these shapes (the in-doubt wait, a claim
/// over a stranded promise): without this, a mutant that removed
/// `waiting_on_doubt` survived 24 seeds of every family.
#[test]
fn every_corpus_shape_still_passes_without_its_bug_and_fails_with_it_on_madsim() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/corpus");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("the corpus directory")
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus lost its files: {files:?}");
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable corpus file");
        let file = traces::failure::FailureFile::parse(&text, path).expect("a failure file");
        let scenario = sim::failure_file::scenario_of(&file, path).expect("its scenario");
        let mut correct = scenario.clone();
        correct.bugs.clear();
        let outcome = sim::run::run_on(Engine::Madsim, &correct, file.seed);
        if outcome.verdict != sim::run::Verdict::Pass {
            failures.push(format!(
                "{}: the correct gateway fails it: {}",
                path.display(),
                outcome.summary()
            ));
            continue;
        }
        if file.engine != "madsim" {
            continue;
        }
        let judged = sim::run::run_on(Engine::Madsim, &scenario, file.seed);
        let violated: Vec<String> = judged
            .report
            .violations
            .iter()
            .map(|v| v.property.clone())
            .collect();
        let still = file.expected.violated.iter().all(|p| violated.contains(p));
        if !still {
            failures.push(format!(
                "{}: with {:?} it no longer violates {:?} (now {violated:?})",
                path.display(),
                scenario.bugs,
                file.expected.violated
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
