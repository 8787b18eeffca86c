//! `mailsim merge`: the output directories of a sharded sweep, combined into
//! one, as if one machine had run every seed: records, failure files, traces
//! and shrink logs copied, `summary.json` rebuilt, JUnit regenerated.
//!
//! Shards must be of the same sweep (family, bugs) and must not overlap: a
//! seed in two inputs is an error — "conflicting" when they disagree on its
//! outcome or digest, "overlapping" when they agree — because either means
//! the shards were not cut the way the summary would claim.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::sweep::layout::{Layout, write_atomic};
use crate::sweep::record::SeedRecord;
use crate::sweep::summary::{Meta, Summary};

/// A merged summary and what the merge noticed without failing.
pub struct Merged {
    pub summary: Summary,
    pub warnings: Vec<String>,
}

/// Merges `inputs` into `out`; `command` is the merge's own command line.
pub fn merge(inputs: &[PathBuf], out: &Path, command: String) -> Result<Merged, String> {
    if inputs.is_empty() {
        return Err("nothing to merge: name at least one sweep directory".into());
    }
    let out_canonical = std::fs::canonicalize(out).ok();
    let mut summaries = Vec::new();
    for dir in inputs {
        if out_canonical.is_some() && std::fs::canonicalize(dir).ok() == out_canonical {
            return Err(format!(
                "{} is both an input and --out; merge into a new directory",
                dir.display()
            ));
        }
        let path = Layout::new(dir).summary();
        if !path.exists() {
            return Err(format!(
                "{}: no summary.json — the sweep there did not finish; rerun it with the same \
                 arguments (it resumes), then merge",
                dir.display()
            ));
        }
        summaries.push(Summary::load(&path)?);
    }
    let first = &summaries[0];
    for (dir, summary) in inputs.iter().zip(&summaries).skip(1) {
        if summary.family != first.family || summary.bugs != first.bugs {
            return Err(format!(
                "{} and {} are different sweeps (family {} bugs [{}] vs family {} bugs [{}]); \
                 only shards of one sweep merge",
                inputs[0].display(),
                dir.display(),
                first.family,
                first.bugs.join(","),
                summary.family,
                summary.bugs.join(",")
            ));
        }
    }

    // Every seed each input was asked for (run or not), to find overlaps.
    let mut owner: BTreeMap<u64, usize> = BTreeMap::new();
    let mut records: BTreeMap<u64, SeedRecord> = BTreeMap::new();
    let mut not_run = BTreeSet::new();
    for (i, summary) in summaries.iter().enumerate() {
        let seeds = summary
            .results
            .iter()
            .map(|r| r.seed)
            .chain(summary.not_run.iter().copied());
        for seed in seeds {
            if let Some(&j) = owner.get(&seed) {
                return Err(overlap(
                    seed,
                    (&inputs[j], &summaries[j]),
                    (&inputs[i], summary),
                ));
            }
            owner.insert(seed, i);
        }
        for record in &summary.results {
            records.insert(record.seed, record.clone());
        }
        not_run.extend(summary.not_run.iter().copied());
    }

    let layout = Layout::new(out);
    layout.create()?;
    for record in records.values() {
        let from = Layout::new(&inputs[owner[&record.seed]]);
        for relative in [&record.failure_file, &record.trace_file]
            .into_iter()
            .flatten()
        {
            copy(&from.root.join(relative), &layout.root.join(relative))?;
        }
        // Shrink logs and shrunk failures; explore's scenarios and coverage.
        for kind in ["shrink", "shrunk", "scenarios", "coverage"] {
            let relative = Layout::relative(kind, record.seed);
            if from.root.join(&relative).exists() {
                copy(&from.root.join(&relative), &layout.root.join(&relative))?;
            }
        }
        layout.write_record(record)?;
    }
    let _ = std::fs::remove_dir(layout.tmp_dir());

    let mut commands: Vec<String> = summaries.iter().flat_map(|s| s.commands.clone()).collect();
    commands.push(command);
    let meta = Meta {
        commands,
        family: first.family.clone(),
        bugs: first.bugs.clone(),
        shards: summaries.iter().flat_map(|s| s.shards.clone()).collect(),
        recheck_percent: first.recheck_percent,
        time_budget_seconds: first.time_budget_seconds,
        budget_exhausted: summaries.iter().any(|s| s.budget_exhausted),
    };
    let summary = Summary::from_parts(
        meta,
        records.into_values().collect(),
        not_run.into_iter().collect(),
    );
    summary.save(&layout.summary())?;
    // `explore` shards: every campaign's coverage curve, side by side.
    if let Some(history) = crate::explore::history::History::merged(inputs)? {
        history.save(&layout.root)?;
    }
    let warnings = missing_shards(&summary);
    Ok(Merged { summary, warnings })
}

fn overlap(seed: u64, a: (&PathBuf, &Summary), b: (&PathBuf, &Summary)) -> String {
    let find = |s: &Summary| s.results.iter().find(|r| r.seed == seed).cloned();
    let describe = |r: &Option<SeedRecord>| match r {
        Some(r) => format!(
            "{} {}",
            r.outcome.name(),
            r.digest.as_deref().unwrap_or("(no digest)")
        ),
        None => "not run".to_string(),
    };
    let (ra, rb) = (find(a.1), find(b.1));
    let agree = match (&ra, &rb) {
        (Some(x), Some(y)) => x.outcome == y.outcome && x.digest == y.digest,
        (None, None) => true,
        _ => false,
    };
    let shards = |s: &Summary| {
        s.shards
            .iter()
            .map(|i| format!("{}/{} of {}", i.index, i.count, i.range))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{} seed {seed}: it is in both {} (shard {}: {}) and {} (shard {}: {}); shards must be disjoint",
        if agree { "overlapping" } else { "conflicting" },
        a.0.display(),
        shards(a.1),
        describe(&ra),
        b.0.display(),
        shards(b.1),
        describe(&rb)
    )
}

/// Shards of the same cut (range and count) that were not merged.
fn missing_shards(summary: &Summary) -> Vec<String> {
    let mut cuts: BTreeMap<(String, u64), BTreeSet<u64>> = BTreeMap::new();
    for shard in &summary.shards {
        cuts.entry((shard.range.clone(), shard.count))
            .or_default()
            .insert(shard.index);
    }
    cuts.into_iter()
        .filter(|((_, count), present)| present.len() as u64 != *count)
        .map(|((range, count), present)| {
            let missing: Vec<String> = (0..count)
                .filter(|i| !present.contains(i))
                .map(|i| i.to_string())
                .collect();
            format!(
                "seeds {range} were cut into {count} shards but shard(s) {} of them are missing: their seeds are not in this merge",
                missing.join(", ")
            )
        })
        .collect()
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    let bytes = std::fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    write_atomic(to, &bytes)
}
