//! `mailsim bench`: the standard scenario and a topology three times larger,
//! each beside the bare turmoil engine running a TCP echo with the same
//! number of hosts for the same simulated time. Prints figures; asserts
//! nothing about speed (that is for people and trend lines, not tests).

use crate::bench::{self, Figures};
use crate::cli::BenchArgs;

pub fn run(args: &BenchArgs) -> i32 {
    let seeds = 0..args.seeds.max(1);
    let mut rows: Vec<Figures> = Vec::new();
    let mut ratios = Vec::new();
    for (label, scale) in [("standard", 1u32), ("3x topology", 3u32)] {
        eprintln!("bench: {label} ({} seeds)...", seeds.end);
        let harness = bench::measure_harness(&format!("mailsim {label}"), scale, seeds.clone());
        let per_run_sim = harness.sim_seconds / harness.runs as f64;
        eprintln!("bench: bare turmoil echo, {} hosts...", harness.hosts);
        let bare = bench::measure_bare_turmoil(
            &format!("bare turmoil echo ({label})"),
            harness.hosts,
            per_run_sim,
            harness.runs,
        );
        ratios.push((label, harness.sim_per_wall(), bare.sim_per_wall()));
        rows.push(harness);
        rows.push(bare);
    }
    print!("{}", bench::table(&rows));
    for (label, harness, bare) in ratios {
        println!(
            "{label}: harness runs at {:.1}x real time, bare engine {:.1}x; harness cost per simulated second = {:.2}x the bare engine's",
            harness,
            bare,
            bare / harness.max(1e-9)
        );
    }
    println!("madsim: not built yet (issue: fast engine); figures are turmoil only");
    0
}
