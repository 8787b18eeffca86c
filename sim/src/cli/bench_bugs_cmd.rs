//! `mailsim bench bugs`: hunts every known bug (or the named ones) and prints
//! one row per bug — the property that caught it, the median seeds until it
//! was caught, the size of the shrunk first failure, and how the correct
//! gateway did on the same seeds. Progress goes to stderr, the table to
//! stdout, so `> table.txt` keeps only the result.

use crate::bug_hunt;
use crate::cli::BenchBugsArgs;
use crate::exit_code::EXIT_BAD_INPUT;

pub fn run(args: &BenchBugsArgs) -> i32 {
    let bugs: Vec<String> = if args.bugs.is_empty() {
        models::bugs::CATALOGUE
            .iter()
            .map(|(name, _)| name.to_string())
            .collect()
    } else {
        args.bugs.clone()
    };
    if let Some(unknown) = bugs.iter().find(|b| !models::bugs::is_known(b)) {
        eprintln!("error: unknown bug {unknown:?}; see `mailsim bugs`");
        return EXIT_BAD_INPUT;
    }
    if let Err(e) = args.engine.check_available() {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    let seeds_per_range = args.seeds_per_range.max(1);
    let ranges = args.ranges.max(1);
    let mut hunts = Vec::new();
    let mut correct_runs = bug_hunt::CorrectRuns::new();
    for (i, bug) in bugs.iter().enumerate() {
        eprintln!(
            "bench bugs: [{}/{}] {bug} ({} ranges of {seeds_per_range} seeds, {})",
            i + 1,
            bugs.len(),
            ranges,
            bug_hunt::family_for(bug).name()
        );
        let hunt = bug_hunt::hunt(
            args.engine,
            bug,
            seeds_per_range,
            ranges,
            !args.no_shrink,
            &mut correct_runs,
            &mut |line| eprintln!("  {line}"),
        );
        hunts.push(hunt);
    }
    print!("{}", bug_hunt::table(&hunts, seeds_per_range));
    let correct_failures: usize = hunts.iter().map(|h| h.correct_failures.len()).sum();
    for hunt in &hunts {
        for judged in &hunt.correct_failures {
            println!(
                "correct gateway FAILED: mailsim run --seed {} --family {}{} ({})",
                judged.seed,
                hunt.family.name(),
                match args.engine {
                    crate::engine::Engine::Turmoil => String::new(),
                    engine => format!(" --engine {engine}"),
                },
                judged.properties.join(",")
            );
        }
    }
    println!(
        "seeds to find: median over {ranges} disjoint ranges of {seeds_per_range} seeds; \
         shrunk f/m: faults/messages after shrinking the first failure"
    );
    let missed = hunts.iter().filter(|h| h.ranges_found() == 0).count();
    if missed > 0 || correct_failures > 0 {
        1
    } else {
        0
    }
}
