//! `DIR/summary.json`: every selected seed's record, totals per outcome and
//! per violated property, the slowest seeds, the seeds not run, and the
//! command lines that produced it. Rebuilt from the per-seed records at the
//! end of every sweep (and by `mailsim merge` from shards' summaries), so it
//! is always consistent with them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::sweep::layout::write_atomic;
use crate::sweep::record::{Outcome, SeedRecord};
use crate::sweep::shard::Shard;

/// Bump on any change an older reader would misread.
pub const SUMMARY_VERSION: u32 = 1;

/// How many of the slowest seeds are listed.
const SLOWEST: usize = 5;

/// One shard that contributed, and where its index came from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    pub index: u64,
    pub count: u64,
    /// `--shard`, `JOB_COMPLETION_INDEX`, `unsharded`, ...
    pub source: String,
    /// The seed range that shard was asked for (`0..400`).
    pub range: String,
}

impl ShardInfo {
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Seeds the sweep was asked to run (after sharding).
    pub selected: usize,
    pub run: usize,
    pub passed: usize,
    pub failed: usize,
    /// Seeds left when a time budget ran out (or a sweep was cut short).
    pub not_run: usize,
    pub rechecked: usize,
    /// Seeds per outcome; every outcome is listed, zeros included.
    pub by_outcome: BTreeMap<String, usize>,
    /// Seeds that violated each property (a seed counts once per property).
    pub by_property: BTreeMap<String, usize>,
    /// Sum of the seeds' wall times (machine time spent, not elapsed time).
    pub seed_wall_seconds: f64,
    pub sim_seconds: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Slow {
    pub seed: u64,
    pub wall_seconds: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub version: u32,
    pub build_id: String,
    /// The command lines that produced it: one for a sweep, one per shard
    /// and the merge's own after `mailsim merge`.
    pub commands: Vec<String>,
    pub family: String,
    pub bugs: Vec<String>,
    pub shards: Vec<ShardInfo>,
    pub recheck_percent: f64,
    pub time_budget_seconds: Option<f64>,
    /// A time budget stopped the sweep with seeds left (see `not_run`).
    pub budget_exhausted: bool,
    pub totals: Totals,
    pub slowest: Vec<Slow>,
    /// By seed, ascending.
    pub results: Vec<SeedRecord>,
    /// Selected seeds with no record, ascending.
    pub not_run: Vec<u64>,
    /// With BUGGIFY on in some seed: the gateway's sites (`models::buggify`)
    /// that fired in none of them, so the rare paths they open went untested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buggify_never_fired: Option<Vec<String>>,
    /// The failures grouped by violated properties and shrunk shape,
    /// largest group first (`sweep::groups`). Rebuilt from `results`;
    /// absent from summaries written before it.
    #[serde(default)]
    pub groups: Vec<crate::sweep::groups::Group>,
}

/// What describes a sweep besides its records.
#[derive(Clone, Debug)]
pub struct Meta {
    pub commands: Vec<String>,
    pub family: String,
    pub bugs: Vec<String>,
    pub shards: Vec<ShardInfo>,
    pub recheck_percent: f64,
    pub time_budget_seconds: Option<f64>,
    pub budget_exhausted: bool,
}

impl Summary {
    /// The summary of `selected` seeds given the records found.
    pub fn build(
        meta: Meta,
        selected: &BTreeSet<u64>,
        records: &BTreeMap<u64, SeedRecord>,
    ) -> Summary {
        let results: Vec<SeedRecord> = selected
            .iter()
            .filter_map(|seed| records.get(seed).cloned())
            .collect();
        let not_run: Vec<u64> = selected
            .iter()
            .copied()
            .filter(|seed| !records.contains_key(seed))
            .collect();
        Summary::from_parts(meta, results, not_run)
    }

    /// The summary of these results (sorted here) and unrun seeds.
    pub fn from_parts(meta: Meta, mut results: Vec<SeedRecord>, mut not_run: Vec<u64>) -> Summary {
        results.sort_by_key(|r| r.seed);
        not_run.sort_unstable();
        let mut slowest: Vec<Slow> = results
            .iter()
            .map(|r| Slow {
                seed: r.seed,
                wall_seconds: r.wall_seconds,
            })
            .collect();
        slowest.sort_by(|a, b| {
            b.wall_seconds
                .total_cmp(&a.wall_seconds)
                .then(a.seed.cmp(&b.seed))
        });
        slowest.truncate(SLOWEST);
        let buggify_never_fired = buggify_never_fired(&results);
        Summary {
            version: SUMMARY_VERSION,
            build_id: traces::failure::build_id(),
            commands: meta.commands,
            family: meta.family,
            bugs: meta.bugs,
            shards: meta.shards,
            recheck_percent: meta.recheck_percent,
            time_budget_seconds: meta.time_budget_seconds,
            budget_exhausted: meta.budget_exhausted,
            totals: totals(&results, not_run.len()),
            groups: crate::sweep::groups::group(&results),
            slowest,
            results,
            not_run,
            buggify_never_fired,
        }
    }

    pub fn failures(&self) -> impl Iterator<Item = &SeedRecord> {
        self.results.iter().filter(|r| r.outcome.is_failure())
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).expect("summaries serialize") + "\n";
        write_atomic(path, text.as_bytes())
    }

    pub fn load(path: &Path) -> Result<Summary, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a sweep summary: {e}", path.display()))?;
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SUMMARY_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "{}: summary version {v}; this build reads version {SUMMARY_VERSION}",
                    path.display()
                ));
            }
            None => {
                return Err(format!(
                    "{}: not a sweep summary (no \"version\")",
                    path.display()
                ));
            }
        }
        serde_json::from_value(value)
            .map_err(|e| format!("{}: bad sweep summary: {e}", path.display()))
    }
}

/// The sites no seed fired, when any seed ran with BUGGIFY on.
fn buggify_never_fired(results: &[SeedRecord]) -> Option<Vec<String>> {
    if !results.iter().any(|r| r.buggify) {
        return None;
    }
    let fired: BTreeSet<&str> = results
        .iter()
        .flat_map(|r| r.buggify_fired.iter().map(String::as_str))
        .collect();
    Some(
        models::buggify::SITES
            .iter()
            .map(|(site, _)| *site)
            .filter(|site| !fired.contains(site))
            .map(str::to_string)
            .collect(),
    )
}

fn totals(results: &[SeedRecord], not_run: usize) -> Totals {
    let mut by_outcome: BTreeMap<String, usize> = Outcome::ALL
        .iter()
        .map(|o| (o.name().to_string(), 0))
        .collect();
    let mut by_property = BTreeMap::new();
    for record in results {
        *by_outcome
            .entry(record.outcome.name().to_string())
            .or_default() += 1;
        for property in record.violated() {
            *by_property.entry(property).or_default() += 1;
        }
    }
    let failed = results.iter().filter(|r| r.outcome.is_failure()).count();
    Totals {
        selected: results.len() + not_run,
        run: results.len(),
        passed: results.len() - failed,
        failed,
        not_run,
        rechecked: results
            .iter()
            .filter(|r| r.recheck_digest.is_some())
            .count(),
        by_outcome,
        by_property,
        seed_wall_seconds: results.iter().map(|r| r.wall_seconds).sum(),
        sim_seconds: results.iter().filter_map(|r| r.sim_seconds).sum(),
    }
}
