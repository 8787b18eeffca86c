//! `mailsim bench --scale` (the table of hosts against cost, for every
//! engine in the build) and the hidden `mailsim bench-row` it runs once per
//! measurement, so each has a process, and a peak memory, of its own.

use crate::bench_scale::{self, RowKind, ScaleRow};
use crate::cli::BenchArgs;
use crate::engine::Engine;
use crate::exit_code::EXIT_BAD_INPUT;

/// Seeds per measurement unless `--seeds` says otherwise: the 200-host
/// rows on turmoil take minutes each.
const SEEDS_DEFAULT: u64 = 1;

#[derive(clap::Args, Debug)]
pub struct BenchRowArgs {
    #[arg(long, value_enum)]
    pub engine: Engine,
    #[arg(long, value_enum)]
    pub kind: RowKind,
    /// The scenario's scale (mailsim rows).
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    #[arg(long, default_value_t = SEEDS_DEFAULT)]
    pub seeds: u64,
    /// Hosts of the bare echo (bare rows).
    #[arg(long, default_value_t = 2)]
    pub hosts: usize,
    /// Simulated seconds per bare run (bare rows).
    #[arg(long, default_value_t = 60.0)]
    pub sim_seconds: f64,
}

/// The child: one measurement, its figures as one JSON line on stdout.
pub fn row(args: &BenchRowArgs) -> i32 {
    if let Err(e) = args.engine.check_available() {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    if args.scale == 0 || !(args.sim_seconds > 0.0 && args.sim_seconds.is_finite()) {
        eprintln!("error: --scale and --sim-seconds must be positive");
        return EXIT_BAD_INPUT;
    }
    let figures = bench_scale::measure_row(
        args.engine,
        args.kind,
        args.scale,
        args.seeds,
        args.hosts,
        args.sim_seconds,
    );
    match serde_json::to_string(&figures) {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(e) => {
            eprintln!("error: cannot print figures: {e}");
            1
        }
    }
}

/// The parent: every engine in the build (or `--engine`), every host count.
pub fn run(args: &BenchArgs, engines: &[Engine]) -> i32 {
    let hosts = if args.hosts.is_empty() {
        bench_scale::HOSTS_DEFAULT.to_vec()
    } else {
        args.hosts.clone()
    };
    if hosts.iter().any(|&h| h < 2) {
        eprintln!("error: --hosts wants counts of at least 2");
        return EXIT_BAD_INPUT;
    }
    let seeds = args.seeds.unwrap_or(SEEDS_DEFAULT).max(1);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find the mailsim binary to run rows in: {e}");
            return 1;
        }
    };
    // Rows print as they finish: the big ones take minutes each.
    print!("{}", bench_scale::header());
    for &engine in engines {
        for &target in &hosts {
            let scale = bench_scale::scale_for_hosts(0, target);
            eprintln!("bench --scale: {engine}, about {target} hosts (x{scale}), mailsim...");
            let mailsim =
                bench_scale::measure_in_child(&exe, engine, RowKind::Mailsim, scale, seeds, None);
            let mailsim = match mailsim {
                Ok(figures) => figures,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            let per_run_sim = mailsim.sim_seconds / mailsim.runs.max(1) as f64;
            eprintln!(
                "bench --scale: {engine}, {} hosts, bare echo for {per_run_sim:.1} s...",
                mailsim.hosts
            );
            let bare = bench_scale::measure_in_child(
                &exe,
                engine,
                RowKind::Bare,
                scale,
                seeds,
                Some((mailsim.hosts, per_run_sim)),
            );
            let bare = match bare {
                Ok(figures) => figures,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            print!(
                "{}",
                bench_scale::line(&ScaleRow {
                    engine,
                    scale,
                    mailsim,
                    bare,
                })
            );
            // Flushed, so a table cut short still shows its finished rows.
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
    }
    print!("{}", bench_scale::footer());
    if !Engine::Madsim.available() {
        println!(
            "madsim: not in this build; for its rows: {}",
            crate::engine::choice::MADSIM_BUILD
        );
    }
    0
}
