//! The `mailsim` command line: the contract users and CI script against.
//! Exit codes: 0 pass, 1 safety violation, 3 liveness violation, 2 bad input.

pub mod bench_bugs_cmd;
pub mod bench_cmd;
pub mod bench_explore_cmd;
pub mod bench_scale_cmd;
pub mod bench_sweep_cmd;
pub mod chrome_cmd;
pub mod determinism;
pub mod explore;
pub mod merge_cmd;
pub mod outputs;
pub mod promote_cmd;
pub mod replay_cmd;
pub mod report_cmd;
pub mod run_cmd;
pub mod seeds;
pub mod serve;
pub mod shrink_cmd;
pub mod sweep;
pub mod sweep_worker;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::engine::Engine;
use crate::exit_code::EXIT_BAD_INPUT;
use crate::scenario::{Family, Scenario};

#[derive(Parser, Debug)]
#[command(
    name = "mailsim",
    version,
    about = "Deterministic simulation testbed for a resilient email security gateway",
    long_about = "Runs the whole gateway (SMTP ingress, replicated spool, scanning, delivery, failover) \
                  inside one seeded simulated network and clock, injects faults, and checks from the \
                  outside that no acknowledged mail is lost and none leaks."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one seed and judge it.
    Run(RunArgs),
    /// Run each seed twice and compare digests; name the first event that differs.
    CheckDeterminism(DeterminismArgs),
    /// Print (or save) the scenario a seed draws, without running it.
    Scenario(ScenarioArgs),
    /// List the known bugs that can be switched on with --bug.
    Bugs,
    /// Measure seeds/minute, simulated time per wall second and memory,
    /// beside the bare engine.
    Bench(BenchArgs),
    /// Run the gateway for real on 127.0.0.1 (one process per region) until Ctrl-C.
    Serve(serve::ServeArgs),
    /// One process of `serve`: the named hosts or regions (used by the launcher and tests).
    #[command(hide = true)]
    ServeNode(serve::ServeNodeArgs),
    /// Run many seeds in worker processes: sharded, resumable, with JUnit.
    Sweep(sweep::SweepArgs),
    /// Search guided by coverage: keep the runs that reached something new,
    /// mutate their faults, timings and workloads; a sweep's outputs.
    Explore(explore::ExploreArgs),
    /// Put a (shrunk) failure file into the corpus `cargo test` replays.
    Promote(promote_cmd::PromoteArgs),
    /// Combine the output directories of a sharded sweep into one.
    Merge(merge_cmd::MergeArgs),
    /// Write a sweep directory as one self-contained HTML page.
    Report(report_cmd::ReportArgs),
    /// Internal: run one seed for a sweep and print a JSON report.
    #[command(hide = true)]
    SweepWorker(sweep_worker::SweepWorkerArgs),
    /// Internal: one measurement of `bench --scale`, as JSON.
    #[command(hide = true)]
    BenchRow(bench_scale_cmd::BenchRowArgs),
    /// Rerun a saved failure file; exit 0 if it ends the same way (verdict,
    /// violated properties, digest), 1 if anything changed.
    Replay(ReplayArgs),
    /// Minimise a failure file's faults and workload while the same property
    /// still fails; writes the smaller failure file.
    Shrink(ShrinkArgs),
    /// Convert a saved trace (JSONL) to Chrome trace-event JSON for Perfetto.
    Chrome(ChromeArgs),
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Seeds per configuration [default: 3; 1 with --scale].
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Cost against hosts instead: a table of host counts (about 20, 50,
    /// 100, 200), each measured in a process of its own, beside the bare
    /// engine.
    #[arg(long)]
    pub scale: bool,
    /// The host counts of --scale (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "scale")]
    pub hosts: Vec<usize>,
    /// Only this engine's figures [default: every engine in the build].
    #[arg(long, value_enum)]
    pub engine: Option<Engine>,
    /// A different benchmark; without one, `bench` measures speed.
    #[command(subcommand)]
    pub what: Option<BenchWhat>,
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// For each known bug: which property catches it, after how many seeds
    /// (median over disjoint ranges), how small its shrunk schedule is, and
    /// whether the correct gateway passes the same seeds.
    Bugs(BenchBugsArgs),
    /// For each known bug: runs until first detection by `explore` and by
    /// random swarm seeds, the median over several campaigns, side by side.
    Explore(bench_explore_cmd::BenchExploreArgs),
    /// A sweep's cost per seed beside plain `mailsim run` processes over
    /// the same seeds, in alternating rounds.
    Sweep(bench_sweep_cmd::BenchSweepArgs),
}

#[derive(clap::Args, Debug)]
pub struct BenchBugsArgs {
    /// Seeds in each range searched.
    #[arg(long, default_value_t = 50)]
    pub seeds_per_range: u64,
    /// Disjoint seed ranges searched per bug (the figure is their median).
    #[arg(long, default_value_t = 3)]
    pub ranges: u64,
    /// Only these bugs (repeatable); all of the catalogue by default.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Skip shrinking the first failure (much faster).
    #[arg(long)]
    pub no_shrink: bool,
    /// The engine every hunt runs on: madsim (with RUSTFLAGS="--cfg madsim")
    /// makes the full 200-seed search a matter of minutes.
    #[arg(long, value_enum, default_value_t = Engine::Turmoil)]
    pub engine: Engine,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: crate::scenario_source::ScenarioSource,
    /// Write the observation log (JSONL) here.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Write the run as Chrome trace-event JSON (open in ui.perfetto.dev).
    #[arg(long, value_name = "FILE")]
    pub chrome: Option<PathBuf>,
    /// If the run fails, write a failure file here (for `mailsim replay`).
    #[arg(long, value_name = "FILE")]
    pub save_failure: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The failure file (JSON) to rerun.
    pub file: PathBuf,
    /// Write the replay's observation log (JSONL) here.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write the replay as Chrome trace-event JSON here.
    #[arg(long, value_name = "FILE")]
    pub chrome: Option<PathBuf>,
    /// When the run still fails but differently (e.g. after an intended
    /// change to the gateway), rewrite the file's expected outcome.
    #[arg(long)]
    pub update: bool,
}

#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// The failure file (JSON) to minimise.
    pub file: PathBuf,
    /// Where to write the smaller failure file [default: FILE with .min.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The property that must keep failing [default: the file's most
    /// important, in `mailsim run`'s order].
    #[arg(long, value_name = "NAME")]
    pub property: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ChromeArgs {
    /// The observation log (JSONL), as written by `mailsim run --trace`.
    pub trace: PathBuf,
    /// Where to write the Chrome trace-event JSON.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The run's scenario, to place hosts in regions exactly (otherwise
    /// regions are read from the trace's `bytes_seen` events).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct DeterminismArgs {
    /// Seeds to check, A..B (B excluded) or A..=B.
    #[arg(long, value_parser = seeds::parse_seed_range)]
    pub seeds: std::ops::Range<u64>,
    #[arg(long, value_enum, default_value = "region-outage")]
    pub family: Family,
    /// Seeds run at once (threads); each seed's two runs still compare.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// The engine (madsim needs a build with RUSTFLAGS="--cfg madsim").
    #[arg(long, value_enum, default_value = "turmoil")]
    pub engine: Engine,
}

#[derive(clap::Args, Debug)]
pub struct ScenarioArgs {
    #[arg(long)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "region-outage")]
    pub family: Family,
    /// Write the scenario JSON here instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// Runs the parsed command; returns the process exit code.
pub fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(args) => run_cmd::run(&args),
        Command::CheckDeterminism(args) => determinism::run(&args),
        Command::Scenario(args) => {
            let scenario = Scenario::generate_family(args.seed, args.family);
            match args.save {
                Some(path) => match std::fs::write(&path, scenario.to_json() + "\n") {
                    Ok(()) => {
                        println!(
                            "saved scenario for seed {} to {}",
                            args.seed,
                            path.display()
                        );
                        0
                    }
                    Err(e) => {
                        eprintln!("error: cannot write {}: {e}", path.display());
                        EXIT_BAD_INPUT
                    }
                },
                None => {
                    println!("{}", scenario.to_json());
                    0
                }
            }
        }
        Command::Bench(args) => match &args.what {
            Some(BenchWhat::Bugs(bugs)) => bench_bugs_cmd::run(bugs),
            Some(BenchWhat::Explore(explore)) => bench_explore_cmd::run(explore),
            Some(BenchWhat::Sweep(sweep)) => bench_sweep_cmd::run(sweep),
            None => bench_cmd::run(&args),
        },
        Command::Bugs => {
            for (name, what) in models::bugs::CATALOGUE {
                println!("{name:32} {what}");
            }
            0
        }
        Command::Serve(args) => serve::serve(&args),
        Command::ServeNode(args) => serve::serve_node(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Explore(args) => explore::run(&args),
        Command::Promote(args) => promote_cmd::run(&args),
        Command::Merge(args) => merge_cmd::run(&args),
        Command::Report(args) => report_cmd::run(&args),
        Command::SweepWorker(args) => sweep_worker::run(&args),
        Command::BenchRow(args) => bench_scale_cmd::row(&args),
        Command::Replay(args) => replay_cmd::run(&args),
        Command::Shrink(args) => shrink_cmd::run(&args),
        Command::Chrome(args) => chrome_cmd::run(&args),
    }
}
