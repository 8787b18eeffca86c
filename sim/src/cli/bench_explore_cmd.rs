//! `mailsim bench explore`: per catalogue bug (or the named ones), runs
//! until first detection by `explore` and by random swarm seeds, the median
//! over several campaigns side by side (`sim::explore::bench`). Progress on
//! stderr, the table on stdout. Exit 0 when explore found every bug in the
//! median campaign, 1 otherwise, 2 bad input.

use crate::engine::Engine;
use crate::exit_code::EXIT_BAD_INPUT;
use crate::explore::bench::{self, BenchSettings};

#[derive(clap::Args, Debug)]
pub struct BenchExploreArgs {
    /// Campaigns per bug and method (the figure is their median).
    #[arg(long, default_value_t = 5)]
    pub campaigns: u64,
    /// Runs per campaign before the bug counts as not found.
    #[arg(long, default_value_t = 200)]
    pub runs_max: u64,
    /// Explore's batch: runs drawn before their results are looked at.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Share of explore's runs drawn fresh from the swarm, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 25)]
    pub fresh: u64,
    /// Only these bugs (repeatable); all of the catalogue by default.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// The engine: madsim (with RUSTFLAGS="--cfg madsim") is the one to use.
    #[arg(long, value_enum, default_value_t = Engine::Turmoil)]
    pub engine: Engine,
}

pub fn run(args: &BenchExploreArgs) -> i32 {
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
    if args.campaigns == 0 || args.runs_max == 0 || args.batch == 0 || args.fresh > 100 {
        eprintln!(
            "error: --campaigns, --runs-max and --batch must be at least 1, --fresh at most 100"
        );
        return EXIT_BAD_INPUT;
    }
    let settings = BenchSettings {
        engine: args.engine,
        campaigns: args.campaigns,
        runs_max: args.runs_max,
        batch: args.batch,
        fresh_percent: args.fresh,
    };
    let mut races = Vec::new();
    for (i, bug) in bugs.iter().enumerate() {
        eprintln!("bench explore: [{}/{}] {bug}", i + 1, bugs.len());
        match bench::race(bug, settings, &mut |line| eprintln!("  {line}")) {
            Ok(race) => races.push(race),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    print!("{}", bench::table(&races, settings));
    let missed = races
        .iter()
        .filter(|r| bench::median(&r.explore).is_none())
        .count();
    if missed > 0 { 1 } else { 0 }
}
