//! `mailsim bench explore`: for each catalogue bug, how many runs until the
//! first detection by `explore` and by random seeds of the swarm family —
//! never the bug's own family, so both searches start from the same place
//! and neither is told where the bug lives — as the median over several
//! campaigns, side by side.
//!
//! Random search is a campaign that only draws fresh scenarios (the same
//! code, the same run ids), so the two differ only in the feedback. A
//! failure counts as a detection only if the correct gateway passes the
//! same scenario and seed; a scenario that fails without the bug (a mutation
//! can build one) is a false alarm, counted, and the search goes on.

use std::fmt::Write as _;

use crate::engine::Engine;
use crate::explore::campaign::{self, Candidate, RunResult, Runner, Settings};
use crate::explore::in_process::{self, InProcess};
use crate::scenario::Family;

/// How a bench campaign is drawn.
#[derive(Clone, Copy, Debug)]
pub struct BenchSettings {
    pub engine: Engine,
    pub campaigns: u64,
    /// Runs per campaign before it counts as not found.
    pub runs_max: u64,
    pub batch: usize,
    pub fresh_percent: u64,
}

/// One bug's race.
#[derive(Clone, Debug)]
pub struct Race {
    pub bug: String,
    /// Runs until detection per campaign (None: not within `runs_max`).
    pub random: Vec<Option<u64>>,
    pub explore: Vec<Option<u64>>,
    /// Failures the correct gateway shared, per method.
    pub random_false_alarms: u64,
    pub explore_false_alarms: u64,
}

/// Wraps a runner: a failure whose scenario also fails with no bug on is
/// not a detection.
struct Verified {
    inner: InProcess,
    false_alarms: u64,
}

impl Runner for Verified {
    fn run_batch(&mut self, batch: &[Candidate]) -> Result<Vec<Option<RunResult>>, String> {
        let mut results = self.inner.run_batch(batch)?;
        for (candidate, result) in batch.iter().zip(results.iter_mut()) {
            let Some(result) = result else { continue };
            if !result.failed {
                continue;
            }
            let mut correct = candidate.clone();
            correct.scenario.bugs.clear();
            if in_process::run_one(self.inner.engine, &correct).failed {
                self.false_alarms += 1;
                result.failed = false;
            }
        }
        Ok(results)
    }
}

/// Runs until detection in one campaign; None if not within the run ids.
fn campaign_runs(
    settings: Settings,
    bench: BenchSettings,
    run_ids: &[u64],
    false_alarms: &mut u64,
) -> Result<Option<u64>, String> {
    let mut runner = Verified {
        inner: InProcess::new(bench.engine),
        false_alarms: 0,
    };
    let explored = campaign::explore(settings, run_ids, &mut runner, true)?;
    *false_alarms += runner.false_alarms;
    Ok(explored.first_failure.map(|(run, _)| run))
}

/// Races `bug`: `campaigns` campaigns each way over the same run ids.
pub fn race(
    bug: &str,
    bench: BenchSettings,
    progress: &mut dyn FnMut(&str),
) -> Result<Race, String> {
    let mut race = Race {
        bug: bug.to_string(),
        random: Vec::new(),
        explore: Vec::new(),
        random_false_alarms: 0,
        explore_false_alarms: 0,
    };
    for c in 0..bench.campaigns {
        let first = c * bench.runs_max + 1;
        let run_ids: Vec<u64> = (first..first + bench.runs_max).collect();
        let settings = |fresh_percent| Settings {
            family: Family::Swarm,
            seed: c,
            bugs: vec![bug.to_string()],
            batch: bench.batch,
            fresh_percent,
        };
        let random = campaign_runs(
            settings(100),
            bench,
            &run_ids,
            &mut race.random_false_alarms,
        )?;
        let explore = campaign_runs(
            settings(bench.fresh_percent),
            bench,
            &run_ids,
            &mut race.explore_false_alarms,
        )?;
        progress(&format!(
            "{bug}: campaign {c}: random {}, explore {}",
            shown(random, bench.runs_max),
            shown(explore, bench.runs_max)
        ));
        race.random.push(random);
        race.explore.push(explore);
    }
    Ok(race)
}

/// The median, counting "not found" as more than any number of runs: None
/// when the median campaign did not find it.
pub fn median(runs: &[Option<u64>]) -> Option<u64> {
    let mut sorted: Vec<u64> = runs.iter().map(|r| r.unwrap_or(u64::MAX)).collect();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .filter(|&n| n != u64::MAX)
}

fn shown(runs: Option<u64>, runs_max: u64) -> String {
    runs.map_or_else(|| format!(">{runs_max}"), |n| n.to_string())
}

/// The table, and a last line on the bugs random search finds slowest.
pub fn table(races: &[Race], bench: BenchSettings) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<34} {:<14} {:>10} {:>7} {:>10} {:>7} {:>8} {:>12}",
        "bug", "own family", "random", "found", "explore", "found", "ratio", "false alarms"
    );
    let found = |runs: &[Option<u64>]| {
        format!(
            "{}/{}",
            runs.iter().filter(|r| r.is_some()).count(),
            runs.len()
        )
    };
    for race in races {
        let (random, explore) = (median(&race.random), median(&race.explore));
        let ratio = match (random, explore) {
            (Some(r), Some(e)) => format!("{:.1}x", r as f64 / e as f64),
            (None, Some(e)) => format!(">{:.1}x", bench.runs_max as f64 / e as f64),
            (Some(r), None) => format!("<{:.1}x", r as f64 / bench.runs_max as f64),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<34} {:<14} {:>10} {:>7} {:>10} {:>7} {:>8} {:>12}",
            race.bug,
            crate::bug_hunt::family_for(&race.bug).name(),
            shown(random, bench.runs_max),
            found(&race.random),
            shown(explore, bench.runs_max),
            found(&race.explore),
            ratio,
            format!("{}/{}", race.random_false_alarms, race.explore_false_alarms)
        );
    }
    // The slowest third for random search, by its median (not found counts
    // as runs_max, which flatters random search).
    let mut by_random: Vec<&Race> = races.iter().collect();
    by_random.sort_by_key(|r| std::cmp::Reverse(median(&r.random).unwrap_or(bench.runs_max)));
    let slowest = &by_random[..races.len().div_ceil(3)];
    let sum = |pick: fn(&Race) -> &Vec<Option<u64>>| -> u64 {
        slowest
            .iter()
            .map(|r| median(pick(r)).unwrap_or(bench.runs_max))
            .sum()
    };
    let (random_sum, explore_sum) = (sum(|r| &r.random), sum(|r| &r.explore));
    let _ = writeln!(
        out,
        "medians over {} campaigns of at most {} runs (\">N\": not found within N), all from the swarm family; \
         ratio = random / explore; false alarms (random/explore): failures the correct gateway shared, not counted",
        bench.campaigns, bench.runs_max
    );
    let _ = writeln!(
        out,
        "slowest third for random ({}): {} runs by random, {} by explore ({:.1}x; not found counted as {})",
        slowest
            .iter()
            .map(|r| r.bug.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        random_sum,
        explore_sum,
        random_sum as f64 / explore_sum.max(1) as f64,
        bench.runs_max
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_counts_not_found_as_the_slowest() {
        assert_eq!(median(&[Some(3), None, Some(1)]), Some(3));
        assert_eq!(median(&[Some(3), None, None]), None);
        assert_eq!(median(&[Some(2), Some(8)]), Some(2));
        assert_eq!(median(&[]), None);
    }
}
