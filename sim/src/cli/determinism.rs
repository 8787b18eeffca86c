//! `mailsim check-determinism`: every seed runs twice and must give the same
//! digest. On a mismatch it names the first event that differs, which is
//! where to start looking for the unseeded randomness or wall-clock read.
//! On madsim each seed also runs under madsim's own checker, which records
//! every random draw of one run and fails another at the first that differs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cli::DeterminismArgs;
use crate::engine::Engine;
use crate::scenario::Scenario;
use traces::Log;

/// Result of checking one seed.
pub struct SeedCheck {
    pub seed: u64,
    pub digest: String,
    /// (index, first run's line, second run's line) of the first difference.
    pub mismatch: Option<(usize, String, String)>,
    /// What madsim's own checker found wrong (madsim only).
    pub checker: Option<String>,
}

/// Runs `scenario` twice with `seed` on turmoil and compares the logs.
pub fn check_seed(scenario: &Scenario, seed: u64) -> SeedCheck {
    check_seed_on(Engine::Turmoil, scenario, seed)
}

/// Runs `scenario` twice with `seed` on `engine` and compares the logs.
pub fn check_seed_on(engine: Engine, scenario: &Scenario, seed: u64) -> SeedCheck {
    let first = engine.run(scenario, seed).log;
    let second = engine.run(scenario, seed).log;
    let mismatch = first.first_difference(&second).map(|index| {
        let line = |log: &Log| {
            log.events()
                .get(index)
                .map(Log::line)
                .unwrap_or_else(|| "<log ended>".to_string())
        };
        (index, line(&first), line(&second))
    });
    let checker = match engine {
        Engine::Turmoil => None,
        Engine::Madsim => madsim_checker(scenario, seed, &first.digest()),
    };
    SeedCheck {
        seed,
        digest: first.digest(),
        mismatch,
        checker,
    }
}

/// madsim's checker on a third and fourth run; its digest must match ours.
#[cfg(madsim)]
fn madsim_checker(scenario: &Scenario, seed: u64, digest: &str) -> Option<String> {
    match crate::engine::madsim_run::check_determinism(scenario, seed) {
        Ok(checked) if checked == digest => None,
        Ok(checked) => Some(format!(
            "digest {checked} under the checker, {digest} without"
        )),
        Err(why) => Some(why),
    }
}

#[cfg(not(madsim))]
fn madsim_checker(_scenario: &Scenario, _seed: u64, _digest: &str) -> Option<String> {
    None
}

pub fn run(args: &DeterminismArgs) -> i32 {
    if let Err(e) = args.engine.check_available() {
        eprintln!("error: {e}");
        return crate::exit_code::EXIT_BAD_INPUT;
    }
    let jobs = args.jobs.max(1);
    let next = AtomicU64::new(args.seeds.start);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= args.seeds.end {
                        break;
                    }
                    let scenario = Scenario::generate_family(seed, args.family);
                    let check = check_seed_on(args.engine, &scenario, seed);
                    results
                        .lock()
                        .expect("no thread panicked holding it")
                        .push(check);
                }
            });
        }
    });
    let mut results = results.into_inner().expect("threads joined");
    results.sort_by_key(|c| c.seed);
    let mut failed = 0;
    for check in &results {
        if let Some(why) = &check.checker {
            failed += 1;
            println!(
                "seed {}: NONDETERMINISTIC according to madsim's checker: {why}",
                check.seed
            );
            continue;
        }
        match &check.mismatch {
            None => println!("seed {}: ok {}", check.seed, check.digest),
            Some((index, first, second)) => {
                failed += 1;
                println!(
                    "seed {}: NONDETERMINISTIC, first difference at event {index}",
                    check.seed
                );
                println!("  run 1: {first}");
                println!("  run 2: {second}");
            }
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    if failed > 0 { 1 } else { 0 }
}
