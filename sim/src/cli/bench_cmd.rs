//! `mailsim bench`: the standard scenario and a topology three times larger,
//! each beside the bare engine running a TCP echo with the same number of
//! hosts for the same simulated time — on turmoil, and on madsim too when
//! the build has it (`--cfg madsim`). Prints figures; asserts nothing about
//! speed (that is for people and trend lines, not tests). With `--scale`,
//! the table of cost against hosts instead (`bench_scale_cmd`).

use crate::bench::{self, Figures};
use crate::cli::BenchArgs;
use crate::engine::Engine;
use crate::exit_code::EXIT_BAD_INPUT;

/// The bare engine's echo for `engine`, for `hosts` hosts.
fn bare(engine: Engine, label: &str, hosts: usize, sim_seconds: f64, runs: u64) -> Figures {
    match engine {
        Engine::Turmoil => bench::measure_bare_turmoil(label, hosts, sim_seconds, runs),
        #[cfg(madsim)]
        Engine::Madsim => bench::measure_bare_madsim(label, hosts, sim_seconds, runs),
        #[cfg(not(madsim))]
        Engine::Madsim => unreachable!("checked available before"),
    }
}

pub fn run(args: &BenchArgs) -> i32 {
    let engines: Vec<Engine> = match args.engine {
        Some(engine) => {
            if let Err(e) = engine.check_available() {
                eprintln!("error: {e}");
                return EXIT_BAD_INPUT;
            }
            vec![engine]
        }
        None => [Engine::Turmoil, Engine::Madsim]
            .into_iter()
            .filter(|e| e.available())
            .collect(),
    };
    if args.scale {
        return crate::cli::bench_scale_cmd::run(args, &engines);
    }
    let seeds = 0..args.seeds.unwrap_or(3).max(1);
    let mut rows: Vec<Figures> = Vec::new();
    let mut ratios = Vec::new();
    for &engine in &engines {
        for (label, scale) in [("standard", 1u32), ("3x topology", 3u32)] {
            eprintln!("bench: {engine} {label} ({} seeds)...", seeds.end);
            let harness = bench::measure_harness(
                engine,
                &format!("mailsim {engine} {label}"),
                scale,
                seeds.clone(),
            );
            let per_run_sim = harness.sim_seconds / harness.runs as f64;
            eprintln!("bench: bare {engine} echo, {} hosts...", harness.hosts);
            let bare = bare(
                engine,
                &format!("bare {engine} echo ({label})"),
                harness.hosts,
                per_run_sim,
                harness.runs,
            );
            ratios.push((engine, label, harness.clone(), bare.clone()));
            rows.push(harness);
            rows.push(bare);
        }
    }
    print!("{}", bench::table(&rows));
    for (engine, label, harness, bare) in ratios {
        let (h, b) = (harness.sim_per_wall(), bare.sim_per_wall());
        let cpu = match (harness.sim_per_cpu(), bare.sim_per_cpu()) {
            (Some(h), Some(b)) => format!(
                " (by CPU time: {h:.1}x and {b:.1}x, a ratio of {:.2}x)",
                b / h.max(1e-9)
            ),
            _ => String::new(),
        };
        println!(
            "{engine} {label}: harness runs at {h:.1}x real time, bare engine {b:.1}x; harness cost per simulated second = {:.2}x the bare engine's{cpu}",
            b / h.max(1e-9)
        );
    }
    if !Engine::Madsim.available() {
        println!(
            "madsim: not in this build; for its figures: {}",
            crate::engine::choice::MADSIM_BUILD
        );
    }
    0
}
