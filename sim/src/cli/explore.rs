//! `mailsim explore`: the feedback-directed search (`sim::explore`) with a
//! sweep's outputs. Its run ids play the part of a sweep's seeds — sharded,
//! recorded, resumed, merged and reported the same way — and each run's
//! scenario is saved beside its record, so every failure file replays and
//! shrinks like a sweep's. Exit 0 all passed, 1 any run failed, 2 bad input
//! or unwritable output.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::seeds;
use crate::cli::sweep::{checked_bugs, command_line};
use crate::exit_code::EXIT_BAD_INPUT;
use crate::explore::campaign::{self, Settings};
use crate::explore::history::{Curve, History};
use crate::explore::pool_runner::PoolRunner;
use crate::scenario::Family;
use crate::sweep::duration::{human, parse_duration};
use crate::sweep::layout::{Layout, write_atomic};
use crate::sweep::progress::Progress;
use crate::sweep::recheck::parse_percent;
use crate::sweep::shard::{self, Shard};
use crate::sweep::summary::{Meta, ShardInfo, Summary};
use crate::sweep::{clock, junit, pool, table};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Run ids are sharded as sweep seeds are (--shard I/N, MAILSIM_SHARD, \
    JOB_COMPLETION_INDEX with --shard-count, ...); each shard is its own campaign. \
    Rerunning the same command with the same --out resumes: recorded runs are read back, \
    not run again. `mailsim merge` and `mailsim report` take its output like a sweep's."
)]
pub struct ExploreArgs {
    /// Run ids, A..B or A..=B: how many runs, and the seeds fresh scenarios
    /// are drawn from and every run's engine is seeded with.
    #[arg(long, value_parser = seeds::parse_seed_range)]
    pub seeds: Range<u64>,
    /// The family fresh scenarios are drawn from.
    #[arg(long, value_enum, default_value = "swarm")]
    pub family: Family,
    /// Switch on BUGGIFY in every run, so the gateway's injection sites
    /// (`buggify_fired`) count as coverage too.
    #[arg(long)]
    pub buggify: bool,
    /// The campaign's own seed (each shard adds its index).
    #[arg(long, default_value_t = 0)]
    pub explore_seed: u64,
    /// Runs drawn before any is looked at: fixed, so the campaign does not
    /// depend on --jobs.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Share of each batch drawn fresh from the family, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 25)]
    pub fresh: u64,
    /// Runs at once, each in its own process [default: the number of cores].
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard I of N (0-based): the run ids s with s % N == I.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// The number of shards, when the index comes from JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N", conflicts_with = "shard")]
    pub shard_count: Option<u64>,
    /// Output directory (a sweep's layout, plus scenarios/, coverage/ and
    /// coverage.json).
    #[arg(long, value_name = "DIR", default_value = "out-explore")]
    pub out: PathBuf,
    /// Also write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Stop starting new runs after this long; rerun to continue.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub time_budget: Option<Duration>,
    /// The engine (madsim, the fast one, needs a build with RUSTFLAGS="--cfg madsim").
    #[arg(long, value_enum, default_value = "turmoil")]
    pub engine: crate::engine::Engine,
    /// Switch on a known bug in every run (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Minimise each violating run with `mailsim shrink`.
    #[arg(long)]
    pub shrink: bool,
    /// Share of runs made twice to compare digests.
    #[arg(long, value_name = "PCT", default_value = "5", value_parser = parse_percent)]
    pub recheck: f64,
    /// Kill a run's worker after this long and record a timeout.
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = parse_duration)]
    pub seed_timeout: Duration,
}

pub fn run(args: &ExploreArgs) -> i32 {
    match explore(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

fn explore(args: &ExploreArgs) -> Result<i32, String> {
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    if args.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    if args.fresh > 100 {
        return Err("--fresh is a percentage: 0 to 100".into());
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
    for dir in ["scenarios", "coverage"] {
        let path = layout.root.join(dir);
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    }
    let (records, unreadable) = layout.read_records()?;
    for problem in &unreadable {
        eprintln!("warning: unreadable run record {problem}; that run is made again");
    }
    if let Some(other) = records
        .values()
        .find(|r| r.family != family || r.bugs != bugs)
    {
        return Err(format!(
            "{} holds results of a different search (run {} had --family {} and bugs [{}]); \
             use another --out, or remove it",
            args.out.display(),
            other.seed,
            other.family,
            other.bugs.join(",")
        ));
    }
    let done = selection.iter().filter(|s| records.contains_key(s)).count();
    let campaign_seed = args.explore_seed.wrapping_add(choice.shard.index);
    eprintln!(
        "explore: run ids {range_text}, shard {} ({}): {} runs; family {family}; campaign seed \
         {campaign_seed}; batch {}; {}% fresh; {jobs} jobs; out {}",
        choice.shard,
        choice.source,
        selection.len(),
        args.batch,
        args.fresh,
        args.out.display()
    );
    if done > 0 {
        eprintln!(
            "resuming in {}: {done} of {} runs recorded; they are read back, not run again",
            args.out.display(),
            selection.len()
        );
    }

    let scenarios_dir = layout.root.join("scenarios");
    let progress = Progress::new((selection.len() - done) as u64);
    let mut runner = PoolRunner {
        plan: pool::Plan {
            exe: &exe,
            layout: &layout,
            family: args.family,
            engine: args.engine,
            bugs: &bugs,
            buggify: args.buggify,
            todo: &[],
            jobs,
            budget: None,
            seed_timeout: args.seed_timeout,
            recheck_percent: args.recheck,
            shrink: args.shrink,
            scenarios: Some(&scenarios_dir),
        },
        progress: &progress,
        budget: args.time_budget,
        started: clock::now(),
        ran: 0,
        budget_hit: false,
        fatal: None,
    };
    let settings = Settings {
        family: args.family,
        seed: campaign_seed,
        bugs: bugs.clone(),
        batch: args.batch,
        fresh_percent: args.fresh,
    };
    let explored = campaign::explore(settings, &selection, &mut runner, false);
    progress.finish();
    let _ = std::fs::remove_dir(layout.tmp_dir());
    let explored = match explored {
        Ok(explored) => explored,
        Err(e) if runner.fatal.is_some() => {
            eprintln!("error: the search stopped: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
        Err(e) => return Err(e),
    };

    let label = format!(
        "shard {} of {range_text}, campaign seed {campaign_seed}",
        choice.shard
    );
    let history = History {
        campaigns: vec![Curve {
            label,
            points: explored.history.clone(),
        }],
    };
    history.save(&layout.root)?;
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
        budget_exhausted: explored.cut_short,
    };
    let selected: BTreeSet<u64> = selection.iter().copied().collect();
    let summary = Summary::build(meta, &selected, &records);
    summary.save(&layout.summary())?;
    let mut wrote = vec![
        layout.summary().display().to_string(),
        layout
            .root
            .join(crate::explore::history::FILE)
            .display()
            .to_string(),
    ];
    if let Some(path) = &args.junit {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        write_atomic(path, junit::render(&summary)?.as_bytes())?;
        wrote.push(path.display().to_string());
    }
    if explored.cut_short {
        println!(
            "time budget {} reached after {} runs this time; {} runs not made \
             (rerun the same command to continue)",
            human(args.time_budget.unwrap_or_default()),
            runner.ran,
            summary.totals.not_run
        );
    }
    let last = explored.history.last();
    println!(
        "explored {} runs ({} made now, {done} read back): {} features reached, corpus of {}, \
         {} mutants",
        explored.history.len(),
        runner.ran,
        last.map_or(0, |p| p.features),
        last.map_or(0, |p| p.corpus),
        explored
            .history
            .iter()
            .filter(|p| p.parent.is_some())
            .count()
    );
    println!("wrote {}", wrote.join(", "));
    println!("{}", table::render(&summary));
    Ok(if summary.totals.failed > 0 { 1 } else { 0 })
}
