//! `mailsim bench sweep`: what a sweep costs per seed, beside the same seeds
//! run one plain `mailsim run` process after another. A sweep buys crash and
//! hang isolation, records, rechecks and resumability; this measures what
//! that costs, so "a sweep within 10% of plain runs" is a figure one reads.
//!
//! Both sides run as child processes of this binary, one seed at a time
//! (`--jobs 1`), in alternation (sweep, plain, sweep, plain, ...), so a
//! machine whose speed drifts slows both alike; the figure is the median of
//! the per-round ratios. The sweep rechecks 5% of its seeds by default, as
//! `sweep` does: that is part of what a sweep costs (`--recheck 0` leaves
//! only the machinery).

use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::engine::Engine;
use crate::scenario::Family;
use crate::sweep::clock;

/// What to measure.
pub struct SweepBench<'a> {
    pub exe: &'a Path,
    pub seeds: Range<u64>,
    pub family: Family,
    pub engine: Engine,
    pub rounds: u32,
    /// The sweep's `--recheck`: share of seeds it runs twice, in percent.
    pub recheck_percent: f64,
    /// Scratch space for the sweeps' output directories (emptied after each).
    pub scratch: &'a Path,
}

/// One round: the sweep and the plain runs over the same seeds.
#[derive(Clone, Debug)]
pub struct Round {
    pub sweep: Duration,
    pub plain: Duration,
}

impl Round {
    /// The sweep's wall time over the plain runs': above 1, the sweep is slower.
    pub fn ratio(&self) -> f64 {
        self.sweep.as_secs_f64() / self.plain.as_secs_f64().max(1e-9)
    }
}

/// Runs `bench.rounds` rounds; `on_round` hears each as it finishes.
pub fn measure(
    bench: &SweepBench<'_>,
    mut on_round: impl FnMut(u32, &Round),
) -> Result<Vec<Round>, String> {
    let mut rounds = Vec::new();
    for index in 0..bench.rounds {
        let out = bench.scratch.join(format!("round-{index}"));
        let sweep = timed(sweep_command(bench, &out), "sweep")?;
        std::fs::remove_dir_all(&out)
            .map_err(|e| format!("cannot remove {}: {e}", out.display()))?;
        let mut plain = Duration::ZERO;
        for seed in bench.seeds.clone() {
            plain += timed(run_command(bench, seed), "run")?;
        }
        let round = Round { sweep, plain };
        on_round(index, &round);
        rounds.push(round);
    }
    Ok(rounds)
}

fn sweep_command(bench: &SweepBench<'_>, out: &Path) -> Command {
    let mut command = Command::new(bench.exe);
    command
        .arg("sweep")
        .arg("--seeds")
        .arg(format!("{}..{}", bench.seeds.start, bench.seeds.end))
        .args([
            "--family",
            &bench.family.name(),
            "--engine",
            bench.engine.name(),
        ])
        .args(["--recheck", &bench.recheck_percent.to_string()])
        .args(["--jobs", "1", "--out"])
        .arg(out);
    command
}

fn run_command(bench: &SweepBench<'_>, seed: u64) -> Command {
    let mut command = Command::new(bench.exe);
    command.args(["run", "--seed", &seed.to_string()]).args([
        "--family",
        &bench.family.name(),
        "--engine",
        bench.engine.name(),
    ]);
    command
}

/// Wall time of one child, which must end with a verdict: 0 (pass), 1
/// (safety) or 3 (liveness). The seeds are the same on both sides, so a
/// failing seed costs both alike; a crash or bad input stops the bench.
fn timed(mut command: Command, what: &str) -> Result<Duration, String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = clock::now();
    let status = command
        .status()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let elapsed = started.elapsed();
    match status.code() {
        Some(0 | 1 | 3) => Ok(elapsed),
        _ => Err(format!(
            "{what} ended badly ({status}): rerun it by hand to see why"
        )),
    }
}

/// The median of the per-round ratios (the lower middle on an even count).
pub fn median_ratio(rounds: &[Round]) -> Option<f64> {
    let mut ratios: Vec<f64> = rounds.iter().map(Round::ratio).collect();
    ratios.sort_by(f64::total_cmp);
    ratios.get(ratios.len().saturating_sub(1) / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(sweep_ms: u64, plain_ms: u64) -> Round {
        Round {
            sweep: Duration::from_millis(sweep_ms),
            plain: Duration::from_millis(plain_ms),
        }
    }

    #[test]
    fn the_figure_is_the_median_of_the_rounds_ratios() {
        let rounds = [round(1_200, 1_000), round(900, 1_000), round(3_000, 1_000)];
        assert_eq!(median_ratio(&rounds), Some(1.2));
        assert_eq!(median_ratio(&rounds[..2]), Some(0.9));
        assert_eq!(median_ratio(&[]), None);
    }
}
