//! `mailsim bench sweep`: a sweep's cost per seed beside plain `mailsim run`
//! processes over the same seeds (`sim::bench_sweep`). Progress on stderr,
//! the table on stdout; exit 0 once measured, 2 on bad input or a child that
//! could not run.

use crate::bench_sweep::{self, SweepBench};
use crate::cli::seeds;
use crate::engine::Engine;
use crate::exit_code::EXIT_BAD_INPUT;
use crate::scenario::Family;

#[derive(clap::Args, Debug)]
pub struct BenchSweepArgs {
    /// The seeds each side runs.
    #[arg(long, value_parser = seeds::parse_seed_range, default_value = "0..60")]
    pub seeds: std::ops::Range<u64>,
    #[arg(long, value_enum, default_value_t = Family::RegionOutage)]
    pub family: Family,
    /// The engine: madsim (with RUSTFLAGS="--cfg madsim") is where per-seed
    /// overhead shows, its seeds being short.
    #[arg(long, value_enum, default_value_t = Engine::Turmoil)]
    pub engine: Engine,
    /// Rounds of sweep then plain runs (the figure is their median ratio).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// The sweep's share of seeds run twice, in percent (as `sweep --recheck`).
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    pub recheck: f64,
}

pub fn run(args: &BenchSweepArgs) -> i32 {
    if let Err(e) = args.engine.check_available() {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    if args.rounds == 0 || !(0.0..=100.0).contains(&args.recheck) {
        eprintln!("error: --rounds must be at least 1 and --recheck between 0 and 100");
        return EXIT_BAD_INPUT;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find this program's own path: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let scratch = std::env::temp_dir().join(format!("mailsim-bench-sweep-{}", std::process::id()));
    let seed_count = args.seeds.end - args.seeds.start;
    let bench = SweepBench {
        exe: &exe,
        seeds: args.seeds.clone(),
        family: args.family,
        engine: args.engine,
        rounds: args.rounds,
        recheck_percent: args.recheck,
        scratch: &scratch,
    };
    eprintln!(
        "bench sweep: {seed_count} {} seeds on {}, {} rounds of sweep (--jobs 1) then plain runs",
        args.family.name(),
        args.engine,
        args.rounds
    );
    let per_second = |d: std::time::Duration| seed_count as f64 / d.as_secs_f64().max(1e-9);
    let measured = bench_sweep::measure(&bench, |index, round| {
        eprintln!(
            "bench sweep: round {}: sweep {:.1} seeds/s, plain runs {:.1} seeds/s",
            index + 1,
            per_second(round.sweep),
            per_second(round.plain)
        );
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let rounds = match measured {
        Ok(rounds) => rounds,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    println!("round  sweep seeds/s  plain seeds/s  sweep/plain time");
    for (index, round) in rounds.iter().enumerate() {
        println!(
            "{:>5}  {:>13.2}  {:>13.2}  {:>16.3}",
            index + 1,
            per_second(round.sweep),
            per_second(round.plain),
            round.ratio()
        );
    }
    if let Some(ratio) = bench_sweep::median_ratio(&rounds) {
        println!(
            "median: a sweep takes {ratio:.3}x the time of plain runs per seed ({:+.1}%), with {}% of its seeds rechecked",
            (ratio - 1.0) * 100.0,
            args.recheck
        );
    }
    0
}
