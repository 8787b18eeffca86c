//! `mailsim sweep`: many seeds across cores, each in its own worker process
//! with a time limit, sharded across machines, resumable, with a summary,
//! failure files, traces and JUnit in the output directory.
//! Exit 0 all passed, 1 any seed failed, 2 bad input or unwritable output.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::seeds;
use crate::exit_code::EXIT_BAD_INPUT;
use crate::scenario::Family;
use crate::scenario_source::ScenarioSource;
use crate::shell::shell_word;
use crate::sweep::duration::{human, parse_duration};
use crate::sweep::layout::{Layout, write_atomic};
use crate::sweep::progress::Progress;
use crate::sweep::recheck::parse_percent;
use crate::sweep::shard::{self, Shard};
use crate::sweep::summary::{Meta, ShardInfo, Summary};
use crate::sweep::{junit, pool, table};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Shards are 0-based: --shard 0/4 .. 3/4; seed s belongs to shard s % N. \
    Without --shard the shard comes from MAILSIM_SHARD=I/N, a Kubernetes Indexed Job \
    (JOB_COMPLETION_INDEX with --shard-count or MAILSIM_SHARD_COUNT), Buildkite \
    (BUILDKITE_PARALLEL_JOB, BUILDKITE_PARALLEL_JOB_COUNT) or GitLab (CI_NODE_INDEX, CI_NODE_TOTAL). \
    Rerunning the same command with the same --out skips the seeds already done."
)]
pub struct SweepArgs {
    /// Seeds to run, A..B (B excluded) or A..=B.
    #[arg(long, value_parser = seeds::parse_seed_range)]
    pub seeds: Range<u64>,
    /// Which family of fault schedules to draw from.
    #[arg(long, value_enum, default_value = "region-outage")]
    pub family: Family,
    /// Seeds run at once, each in its own process [default: the number of cores].
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard I of N (0-based): the seeds s with s % N == I.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// The number of shards, when the index comes from JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N", conflicts_with = "shard")]
    pub shard_count: Option<u64>,
    /// Output directory (per-seed records, summary.json, failures/, traces/).
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Also write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Stop starting new seeds after this long (e.g. 10m, 1h30m); rerun to continue.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub time_budget: Option<Duration>,
    /// The engine every seed runs on (madsim needs a build with
    /// RUSTFLAGS="--cfg madsim").
    #[arg(long, value_enum, default_value = "turmoil")]
    pub engine: crate::engine::Engine,
    /// Switch on a known bug in every seed (repeatable; see `mailsim bugs`).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Switch on BUGGIFY in every seed; the summary lists the sites that
    /// never fired across the sweep.
    #[arg(long)]
    pub buggify: bool,
    /// Minimise each violating seed with `mailsim shrink` (its output in DIR/shrink/).
    #[arg(long)]
    pub shrink: bool,
    /// Share of seeds run twice to compare digests, chosen from the seed number.
    #[arg(long, value_name = "PCT", default_value = "5", value_parser = parse_percent)]
    pub recheck: f64,
    /// Kill a seed's worker after this long and record a timeout.
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = parse_duration)]
    pub seed_timeout: Duration,
}

pub fn run(args: &SweepArgs) -> i32 {
    match sweep(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

fn sweep(args: &SweepArgs) -> Result<i32, String> {
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    if args.seed_timeout.is_zero() {
        return Err("--seed-timeout must be longer than 0".into());
    }
    let bugs = checked_bugs(
        &args.bugs,
        args.seeds.start,
        args.family,
        args.buggify,
        args.engine,
    )?;
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let choice = shard::detect(args.shard, args.shard_count, &env)?;
    let range_text = format!("{}..{}", args.seeds.start, args.seeds.end);
    let selection: Vec<u64> = choice.shard.seeds(args.seeds.clone());
    let family = args.family.name();
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the mailsim binary to run workers: {e}"))?;

    let layout = Layout::new(&args.out);
    layout.create()?;
    let (records, unreadable) = layout.read_records()?;
    for problem in &unreadable {
        eprintln!("warning: unreadable seed record {problem}; that seed runs again");
    }
    // A record's repro line names its engine when it is not turmoil.
    let engine_flag = format!(" --engine {}", crate::engine::Engine::Madsim);
    let madsim = args.engine == crate::engine::Engine::Madsim;
    if let Some(other) = records
        .values()
        .find(|r| r.family != family || r.bugs != bugs || r.repro.contains(&engine_flag) != madsim)
    {
        return Err(format!(
            "{} holds results of a different sweep (seed {} ran with --family {}{}, \
             another --engine perhaps); use another --out, or remove it",
            args.out.display(),
            other.seed,
            other.family,
            other
                .bugs
                .iter()
                .map(|b| format!(" --bug {b}"))
                .collect::<String>()
        ));
    }
    let todo: Vec<u64> = selection
        .iter()
        .copied()
        .filter(|seed| !records.contains_key(seed))
        .collect();

    eprintln!(
        "sweep: seeds {range_text}, shard {} ({}): {} seeds; family {family}; {jobs} jobs; \
         recheck {}%; seed timeout {}{}; out {}",
        choice.shard,
        choice.source,
        selection.len(),
        args.recheck,
        human(args.seed_timeout),
        args.time_budget
            .map(|b| format!("; time budget {}", human(b)))
            .unwrap_or_default(),
        args.out.display()
    );
    if todo.len() < selection.len() {
        eprintln!(
            "resuming in {}: {} of {} seeds already done, {} to run",
            args.out.display(),
            selection.len() - todo.len(),
            selection.len(),
            todo.len()
        );
    }

    let progress = Progress::new(todo.len() as u64);
    let plan = pool::Plan {
        exe: &exe,
        layout: &layout,
        family: args.family,
        engine: args.engine,
        bugs: &bugs,
        buggify: args.buggify,
        todo: &todo,
        jobs,
        budget: args.time_budget,
        seed_timeout: args.seed_timeout,
        recheck_percent: args.recheck,
        shrink: args.shrink,
        scenarios: None,
    };
    let end = pool::run(&plan, &progress);
    progress.finish();
    // Only removes it when empty: leftovers are a worker's output worth a look.
    let _ = std::fs::remove_dir(layout.tmp_dir());

    let (records, _) = layout.read_records()?;
    let meta = Meta {
        commands: vec![command_line()],
        family,
        bugs: bugs.clone(),
        shards: vec![ShardInfo {
            index: choice.shard.index,
            count: choice.shard.count,
            source: choice.source.clone(),
            range: range_text,
        }],
        recheck_percent: args.recheck,
        time_budget_seconds: args.time_budget.map(|b| b.as_secs_f64()),
        budget_exhausted: end.budget_hit,
    };
    let selected: BTreeSet<u64> = selection.iter().copied().collect();
    let summary = Summary::build(meta, &selected, &records);
    summary.save(&layout.summary())?;
    let mut wrote = vec![layout.summary().display().to_string()];
    if let Some(path) = &args.junit {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        write_atomic(path, junit::render(&summary)?.as_bytes())?;
        wrote.push(path.display().to_string());
    }

    if end.budget_hit {
        println!(
            "time budget {} reached: stopped starting seeds after {} this run; {} seeds not run \
             (skipped in JUnit; rerun the same command to continue)",
            human(args.time_budget.unwrap_or_default()),
            end.ran,
            summary.totals.not_run
        );
    }
    let minutes = end.elapsed.as_secs_f64() / 60.0;
    println!(
        "ran {} seeds in {} with {jobs} jobs ({:.1} seeds/min); {} done before",
        end.ran,
        human(end.elapsed),
        if minutes > 0.0 {
            end.ran as f64 / minutes
        } else {
            0.0
        },
        selection.len() - todo.len()
    );
    println!("wrote {}", wrote.join(", "));
    println!("{}", table::render(&summary));
    if let Some(fatal) = end.fatal {
        eprintln!("error: the sweep stopped: {fatal}");
        return Ok(EXIT_BAD_INPUT);
    }
    Ok(if summary.totals.failed > 0 { 1 } else { 0 })
}

/// This process's command line, as a shell would take it back.
/// The `--bug` names sorted and deduplicated, so `--bug a --bug b` and
/// `--bug b --bug a` are the same sweep when resuming or merging; an unknown
/// bug or an engine missing from this build is bad input for the whole
/// sweep (or campaign), not a crash per seed.
pub fn checked_bugs(
    bugs: &[String],
    seed: u64,
    family: Family,
    buggify: bool,
    engine: crate::engine::Engine,
) -> Result<Vec<String>, String> {
    let mut bugs = bugs.to_vec();
    bugs.sort();
    bugs.dedup();
    ScenarioSource {
        seed,
        scenario: None,
        family,
        bugs: bugs.clone(),
        buggify,
        engine,
    }
    .load()?;
    engine.check_available()?;
    Ok(bugs)
}

pub fn command_line() -> String {
    let mut words = vec!["mailsim".to_string()];
    words.extend(
        std::env::args_os()
            .skip(1)
            .map(|a| shell_word(&a.to_string_lossy())),
    );
    words.join(" ")
}
