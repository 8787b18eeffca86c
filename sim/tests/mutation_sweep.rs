//! The test `scripts/mutants.sh` gives cargo-mutants: a fast madsim sweep of
//! every family, a few dozen seeds each, that the correct gateway passes.
//! A mutant of the gateway core is caught when some seed of some family
//! fails a property (or a host panics). `MUTATION_SEEDS` sets the seeds per
//! family (default 24). Only in madsim builds (`RUSTFLAGS="--cfg madsim"`):
//! on turmoil this sweep would take an hour per mutant.
//!
//! It stops at the first failing seed: one is enough to kill a mutant, and
//! most mutants die in the first family, so a caught mutant costs seconds
//! and only a missed one pays for the whole sweep.
#![cfg(madsim)]

use clap::ValueEnum;
use sim::engine::Engine;
use sim::scenario::{Family, Scenario};

#[test]
fn every_family_passes_a_few_dozen_seeds_on_madsim() {
    let seeds: u64 = std::env::var("MUTATION_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let mut failures = Vec::new();
    // Every family the command line knows, so a new family joins the
    // mutation sweep without an edit here.
    'sweep: for &family in Family::value_variants() {
        for seed in 1..=seeds {
            let scenario = Scenario::generate_family(seed, family);
            let outcome = sim::run::run_on(Engine::Madsim, &scenario, seed);
            if outcome.verdict != sim::run::Verdict::Pass {
                let properties: Vec<&str> = outcome
                    .report
                    .violations
                    .iter()
                    .map(|v| v.property.as_str())
                    .collect();
                failures.push(format!(
                    "{} seed {seed}: {:?} {properties:?} {}",
                    family.name(),
                    outcome.verdict,
                    outcome.host_failure.unwrap_or_default()
                ));
                break 'sweep;
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
