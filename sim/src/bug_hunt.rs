//! Hunting the known bugs: for each bug in the catalogue, how many seeds a
//! search needs before some property catches it, which property that is, and
//! how small the shrinker makes the first failing run. This is the evidence
//! behind "every check catches the bug it exists for" (`mailsim bench bugs`).
//!
//! A hunt runs seeds of the family the bug shows up in (see [`family_for`]),
//! over `ranges` disjoint ranges of `seeds_per_range` seeds, so the figure is
//! a median over independent searches rather than one lucky seed. The correct
//! gateway is run over the same seeds: a property that fails there would
//! make every "caught" figure meaningless.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::Engine;
use crate::run::{self, Verdict};
use crate::scenario::{Family, Scenario};
use crate::shrink;

/// The family each bug is hunted in: the one whose schedules reach the
/// state the bug needs — lost unsynced writes need every copy to lose power
/// (power-loss), a single-copy 250 needs the acceptor's disk lost before it
/// could replicate (disk-loss), and so does a 451 with a copy out of reach
/// of its forget, a delete before the mailbox's 250 needs a
/// delivery that fails (bounces: mailboxes down), failover and fencing need
/// a region outage,
/// the DSN and expiry bugs need mail to expire or be refused (bounces), the
/// fail-open scanner and the quarantine of unscanned mail need every scanner
/// of a jurisdiction down, a bounce on a 4xx needs a mailbox that is down
/// (bounces), an altered body needs only a delivery (calm), and so does a
/// message at the size limit (calm: every seed sends one), and so does a
/// catch-all (calm: most seeds offer a user nobody has); a dependency
/// misread (a reset taken for a delivery, a tarpit's silence for a
/// refusal, SERVFAIL for NXDOMAIN) needs a dependency failing that way
/// (dependencies), and a cut spool write needs ENOSPC halfway
/// (disk-faults).
pub const HUNT_FAMILIES: &[(&str, Family)] = &[
    ("ack-before-fsync", Family::PowerLoss),
    ("ack-before-replication-quorum", Family::DiskLoss),
    ("refusal-despite-copies", Family::DiskLoss),
    ("delete-before-downstream-ack", Family::Bounces),
    ("fail-open-scanner", Family::ScannerOutage),
    ("scanner-skips-encoded-attachments", Family::Calm),
    ("scanner-signature-typo", Family::Calm),
    ("failover-ignores-residency", Family::RegionOutage),
    ("no-fencing-on-rejoin", Family::RegionOutage),
    ("dsn-about-dsn", Family::Bounces),
    ("dsn-to-wrong-sender", Family::Bounces),
    ("expiry-without-dsn", Family::Bounces),
    ("retry-forever", Family::Bounces),
    ("cross-tenant-routing", Family::Calm),
    ("split-by-first-tenant", Family::Calm),
    ("truncate-body", Family::Calm),
    ("first-mailbox-only", Family::Dependencies),
    ("null-sender-is-dsn", Family::Dependencies),
    ("retry-without-backoff", Family::Dependencies),
    ("dsn-status-generic", Family::Bounces),
    ("refusal-text-kept-whole", Family::Dependencies),
    ("dsn-delayed-for-expired", Family::Bounces),
    ("answer-451-always", Family::Calm),
    ("report-disk-lost-on-empty-boot", Family::Calm),
    ("ack-before-dir-sync", Family::Calm),
    ("quarantine-clean-mail", Family::ScannerOutage),
    ("bounce-on-4xx", Family::Bounces),
    ("retry-after-5xx", Family::Dependencies),
    ("refusal-cached-per-recipient", Family::Dependencies),
    ("size-limit-off-by-one", Family::Calm),
    ("unknown-users-accepted", Family::Calm),
    ("dsn-replicas-anywhere", Family::Bounces),
    ("scan-head-only", Family::Calm),
    ("deliver-and-bounce", Family::Bounces),
    ("queue-newest-first", Family::PowerLoss),
    ("expiry-trusts-clocks", Family::ClockSkew),
    ("no-parent-dir-sync", Family::Calm),
    ("fsync-retry-trusted", Family::DiskFaults),
    ("spool-trusts-reads", Family::DiskFaults),
    ("read-error-bounces", Family::DiskFaults),
    ("spool-read-retry-hot", Family::DiskFaults),
    ("short-write-ignored", Family::DiskFaults),
    ("slow-fsync-assumed-done", Family::DiskFaults),
    ("drop-means-delivered", Family::Dependencies),
    ("dot-timeout-bounces", Family::Dependencies),
    ("servfail-bounces", Family::Dependencies),
];

/// The family `bug` is hunted in; swarm (every fault kind) when unlisted, so
/// a bug added to the catalogue without a survey is still searched for.
pub fn family_for(bug: &str) -> Family {
    HUNT_FAMILIES
        .iter()
        .find(|(name, _)| *name == bug)
        .map(|(_, family)| *family)
        .unwrap_or(Family::Swarm)
}

/// The scenario `seed` draws in `family`, with `bugs` switched on.
pub fn scenario_with(seed: u64, family: Family, bugs: &[&str]) -> Scenario {
    let mut scenario = Scenario::generate_family(seed, family);
    scenario.bugs = bugs.iter().map(|b| b.to_string()).collect();
    scenario
}

/// One judged run, reduced to what a hunt needs.
#[derive(Clone, Debug)]
pub struct Judged {
    pub seed: u64,
    pub verdict: Verdict,
    /// Violated property names, sorted and deduplicated.
    pub properties: Vec<String>,
}

impl Judged {
    pub fn failed(&self) -> bool {
        self.verdict != Verdict::Pass
    }
}

/// Runs `seed` of `family` with `bugs` switched on (none: the correct gateway).
pub fn judge(engine: Engine, seed: u64, family: Family, bugs: &[&str]) -> Judged {
    let outcome = run::run_on(engine, &scenario_with(seed, family, bugs), seed);
    let properties: BTreeSet<String> = outcome
        .report
        .violations
        .iter()
        .map(|v| v.property.clone())
        .collect();
    Judged {
        seed,
        verdict: outcome.verdict,
        properties: properties.into_iter().collect(),
    }
}

/// The search over one seed range.
#[derive(Clone, Debug)]
pub struct RangeHunt {
    pub first_seed: u64,
    /// Every seed run, in order (the last one is the detection, if any).
    pub seeds_run: Vec<u64>,
    pub detection: Option<Judged>,
}

impl RangeHunt {
    /// Seeds run until the first detection (1 = the first seed caught it).
    pub fn seeds_until_detection(&self) -> Option<u64> {
        self.detection.as_ref().map(|_| self.seeds_run.len() as u64)
    }
}

/// Runs seeds `first_seed..first_seed + count` with `bug` on until one fails.
pub fn hunt_range(
    engine: Engine,
    bug: &str,
    family: Family,
    first_seed: u64,
    count: u64,
    progress: &mut dyn FnMut(&str),
) -> RangeHunt {
    let mut seeds_run = Vec::new();
    for seed in first_seed..first_seed + count {
        seeds_run.push(seed);
        let judged = judge(engine, seed, family, &[bug]);
        progress(&format!(
            "{bug}: seed {seed}: {}{}",
            judged.verdict.word(),
            if judged.properties.is_empty() {
                String::new()
            } else {
                format!(" ({})", judged.properties.join(","))
            }
        ));
        if judged.failed() {
            return RangeHunt {
                first_seed,
                seeds_run,
                detection: Some(judged),
            };
        }
    }
    RangeHunt {
        first_seed,
        seeds_run,
        detection: None,
    }
}

/// The shrunk first failure: how much schedule and workload the bug needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Minimised {
    pub seed: u64,
    pub property: String,
    pub faults_before: usize,
    pub messages_before: usize,
    pub faults: usize,
    pub messages: usize,
    pub runs: u32,
}

/// Shrinks `seed` of `family` with `bug` on while it still violates `property`.
pub fn minimise(
    engine: Engine,
    bug: &str,
    family: Family,
    seed: u64,
    property: &str,
    progress: &mut dyn FnMut(&str),
) -> Option<Minimised> {
    minimise_within(engine, bug, family, seed, property, u32::MAX, progress)
}

/// [`minimise`] with at most `runs_max` shrinker runs (see
/// [`shrink::shrink_within_on`]).
pub fn minimise_within(
    engine: Engine,
    bug: &str,
    family: Family,
    seed: u64,
    property: &str,
    runs_max: u32,
    progress: &mut dyn FnMut(&str),
) -> Option<Minimised> {
    let scenario = scenario_with(seed, family, &[bug]);
    let shrunk =
        shrink::shrink_within_on(engine, &scenario, seed, property, runs_max, progress).ok()?;
    Some(Minimised {
        seed,
        property: property.to_string(),
        faults_before: scenario.faults.faults.len(),
        messages_before: scenario.workload.messages.len(),
        faults: shrunk.scenario.faults.faults.len(),
        messages: shrunk.scenario.workload.messages.len(),
        runs: shrunk.runs,
    })
}

/// Everything `mailsim bench bugs` reports about one bug.
#[derive(Clone, Debug)]
pub struct BugHunt {
    pub bug: String,
    pub family: Family,
    pub ranges: Vec<RangeHunt>,
    /// How often each property was violated across the detections.
    pub property_counts: BTreeMap<String, u64>,
    pub minimised: Option<Minimised>,
    /// Seeds (of `family`) on which the correct gateway failed, with what.
    pub correct_failures: Vec<Judged>,
    pub correct_runs: u64,
}

impl BugHunt {
    /// The property violated most often. On a tie a safety property wins
    /// over a liveness one (lost mail also never drains, and mail refused
    /// for the wrong reason is also never accepted: the loss or the wrong
    /// refusal is the finding), then the name first in order, so the table
    /// is deterministic.
    pub fn main_property(&self) -> Option<&str> {
        let liveness = |name: &str| {
            properties::by_name(name).is_some_and(|p| p.kind == properties::Kind::Liveness)
        };
        let rank = |name: &str, count: u64| (count, !liveness(name));
        let mut best: Option<(&str, u64)> = None;
        for (name, count) in &self.property_counts {
            if best.is_none_or(|(b, c)| rank(name, *count) > rank(b, c)) {
                best = Some((name, *count));
            }
        }
        best.map(|(name, _)| name)
    }

    /// Median seeds-until-detection over the ranges that found it, and how
    /// many ranges did.
    pub fn median_seeds(&self) -> Option<u64> {
        let mut found: Vec<u64> = self
            .ranges
            .iter()
            .filter_map(RangeHunt::seeds_until_detection)
            .collect();
        if found.len() * 2 <= self.ranges.len() && found.len() < self.ranges.len() {
            // Most ranges never found it: a median over the lucky ones would
            // flatter the checks.
            return None;
        }
        found.sort_unstable();
        found.get(found.len() / 2).copied()
    }

    pub fn ranges_found(&self) -> usize {
        self.ranges.iter().filter(|r| r.detection.is_some()).count()
    }
}

/// Correct-gateway runs already made, by (family, seed): bugs hunted in the
/// same family share seeds, and the correct gateway's run of a seed does not
/// change with the bug being hunted.
pub type CorrectRuns = BTreeMap<(Family, u64), Judged>;

/// Hunts `bug`: `ranges` disjoint ranges of `seeds_per_range` seeds (range
/// k starts at seed k * seeds_per_range + 1), shrinks the first failure
/// found, and runs the correct gateway over every seed the hunt ran.
pub fn hunt(
    engine: Engine,
    bug: &str,
    seeds_per_range: u64,
    ranges: u64,
    shrink_first: bool,
    correct_runs: &mut CorrectRuns,
    progress: &mut dyn FnMut(&str),
) -> BugHunt {
    let family = family_for(bug);
    let mut hunts = Vec::new();
    let mut property_counts = BTreeMap::new();
    for k in 0..ranges {
        let range = hunt_range(
            engine,
            bug,
            family,
            k * seeds_per_range + 1,
            seeds_per_range,
            progress,
        );
        if let Some(judged) = &range.detection {
            for property in &judged.properties {
                *property_counts.entry(property.clone()).or_insert(0) += 1;
            }
        }
        hunts.push(range);
    }
    let mut result = BugHunt {
        bug: bug.to_string(),
        family,
        ranges: hunts,
        property_counts,
        minimised: None,
        correct_failures: Vec::new(),
        correct_runs: 0,
    };
    if shrink_first {
        let first = result.ranges.iter().find_map(|r| r.detection.clone());
        let property = result.main_property().map(str::to_string);
        if let (Some(first), Some(property)) = (first, property) {
            // The most common property may not be among the first failure's;
            // shrink towards one it does violate, preferring the common one.
            let target = if first.properties.contains(&property) {
                property
            } else {
                first.properties.first().cloned().unwrap_or(property)
            };
            progress(&format!(
                "{bug}: shrinking seed {} for {target}",
                first.seed
            ));
            result.minimised = minimise(engine, bug, family, first.seed, &target, progress);
        }
    }
    let seeds: BTreeSet<u64> = result
        .ranges
        .iter()
        .flat_map(|r| r.seeds_run.iter().copied())
        .collect();
    for seed in seeds {
        let key = (family, seed);
        let judged = match correct_runs.get(&key) {
            Some(judged) => judged.clone(),
            None => {
                let judged = judge(engine, seed, family, &[]);
                progress(&format!(
                    "{bug}: correct gateway, seed {seed}: {}",
                    judged.verdict.word()
                ));
                correct_runs.insert(key, judged.clone());
                judged
            }
        };
        result.correct_runs += 1;
        if judged.failed() {
            result.correct_failures.push(judged);
        }
    }
    result
}

/// The table `mailsim bench bugs` prints.
pub fn table(hunts: &[BugHunt], seeds_per_range: u64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<34} {:<14} {:<24} {:>14} {:>7} {:>17} {:>9}",
        "bug", "family", "property", "seeds to find", "ranges", "shrunk f/m", "correct"
    );
    for hunt in hunts {
        let seeds = match hunt.median_seeds() {
            Some(n) => format!("{n}"),
            None => format!("not found in {seeds_per_range}"),
        };
        let shrunk = match &hunt.minimised {
            Some(m) => format!(
                "{}/{} (from {}/{})",
                m.faults, m.messages, m.faults_before, m.messages_before
            ),
            None => "-".to_string(),
        };
        let correct = format!("{}/{} fail", hunt.correct_failures.len(), hunt.correct_runs);
        let _ = writeln!(
            out,
            "{:<34} {:<14} {:<24} {:>14} {:>7} {:>17} {:>9}",
            hunt.bug,
            hunt.family.name(),
            hunt.main_property().unwrap_or("(none)"),
            seeds,
            format!("{}/{}", hunt.ranges_found(), hunt.ranges.len()),
            shrunk,
            correct
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hunt_with(counts: &[(&str, u64)]) -> BugHunt {
        BugHunt {
            bug: "any".into(),
            family: Family::Calm,
            ranges: Vec::new(),
            property_counts: counts.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            minimised: None,
            correct_failures: Vec::new(),
            correct_runs: 0,
        }
    }

    #[test]
    fn on_a_tie_the_safety_property_is_the_finding() {
        let hunt = hunt_with(&[("progress", 3), ("size_limit", 3)]);
        assert_eq!(hunt.main_property(), Some("size_limit"));
        let hunt = hunt_with(&[("drained_after_heal", 2), ("no_acked_loss", 2)]);
        assert_eq!(hunt.main_property(), Some("no_acked_loss"));
    }

    #[test]
    fn the_property_violated_most_often_wins_whatever_its_kind() {
        let hunt = hunt_with(&[("progress", 3), ("size_limit", 2)]);
        assert_eq!(hunt.main_property(), Some("progress"));
    }
}
