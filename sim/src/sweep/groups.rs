//! Failures grouped, so a night that failed 50 seeds of one bug shows one
//! row: failures are grouped by what they violated (their properties, or
//! their outcome when the harness could not judge: a crash, a timeout, a
//! digest mismatch) and by the shape of their shrunk schedule (the fault
//! kinds left after `--shrink`; `not shrunk` when there is none). Each group
//! has a count, its seeds, and its smallest repro: the shrunk failure with
//! the fewest faults and messages, else its first seed.
//!
//! A pure function of the records, so sweeps, `merge` and `explore` all
//! write the same groups into `summary.json`, the table and the HTML page.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sweep::record::SeedRecord;

/// Seeds listed per group; the count says how many there are.
const SEEDS_LISTED_MAX: usize = 20;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Violated properties, sorted (or the outcome, in brackets, when no
    /// property was judged: `[timeout]`).
    pub violated: Vec<String>,
    /// The shrunk schedule's fault kinds (`mailbox_outage+region_crash`,
    /// `no faults`), or `not shrunk`.
    pub shape: String,
    pub count: usize,
    /// The first seeds, ascending.
    pub seeds: Vec<u64>,
    /// The seed of the smallest repro.
    pub smallest_seed: u64,
    /// The command that reproduces it: a replay of the shrunk failure file
    /// when there is one, else the seed's repro line.
    pub smallest_repro: String,
    /// Faults and messages of the smallest shrunk failure, when shrunk.
    pub smallest_size: Option<(usize, usize)>,
}

impl Group {
    /// `no_acked_loss, drained_after_heal` or `[crashed]`.
    pub fn violated_text(&self) -> String {
        self.violated.join(", ")
    }
}

/// The groups of `results`' failures, largest first (then by name).
pub fn group(results: &[SeedRecord]) -> Vec<Group> {
    let mut by_key: BTreeMap<(Vec<String>, String), Vec<&SeedRecord>> = BTreeMap::new();
    for record in results.iter().filter(|r| r.outcome.is_failure()) {
        let mut violated = record.violated();
        if violated.is_empty() {
            violated.push(format!("[{}]", record.outcome.name()));
        }
        let shape = record
            .shrunk
            .as_ref()
            .map_or_else(|| "not shrunk".to_string(), |s| s.faults_text());
        by_key.entry((violated, shape)).or_default().push(record);
    }
    let mut groups: Vec<Group> = by_key
        .into_iter()
        .map(|((violated, shape), mut members)| {
            members.sort_by_key(|r| r.seed);
            let smallest = members
                .iter()
                .min_by_key(|r| {
                    (
                        r.shrunk
                            .as_ref()
                            .map_or(usize::MAX, |s| s.faults.len() + s.messages),
                        r.seed,
                    )
                })
                .expect("a group has members");
            let (smallest_repro, smallest_size) = match &smallest.shrunk {
                Some(shape) => (
                    format!("mailsim replay {}", shape.file),
                    Some((shape.faults.len(), shape.messages)),
                ),
                None => (smallest.repro.clone(), None),
            };
            Group {
                violated,
                shape,
                count: members.len(),
                seeds: members
                    .iter()
                    .take(SEEDS_LISTED_MAX)
                    .map(|r| r.seed)
                    .collect(),
                smallest_seed: smallest.seed,
                smallest_repro,
                smallest_size,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.violated.cmp(&b.violated))
            .then_with(|| a.shape.cmp(&b.shape))
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::record::{Outcome, Shape, ViolationRecord};

    fn failure(seed: u64, property: &str, shrunk: Option<(Vec<&str>, usize)>) -> SeedRecord {
        SeedRecord {
            seed,
            family: "swarm".into(),
            bugs: vec!["retry-forever".into()],
            outcome: Outcome::SafetyViolation,
            verdict: Some("safety_violation".into()),
            digest: Some("d".into()),
            recheck_digest: None,
            violations: vec![ViolationRecord {
                property: property.into(),
                kind: "safety".into(),
                reason: format!("seed {seed}"),
            }],
            excused: 0,
            within_fault_model: Some(true),
            sim_seconds: Some(1.0),
            wall_seconds: 0.1,
            repro: format!("mailsim run --seed {seed} --family swarm"),
            detail: None,
            failure_file: Some(format!("failures/seed-{seed}.json")),
            trace_file: None,
            shrink: None,
            buggify: false,
            buggify_fired: Vec::new(),
            shrunk: shrunk.map(|(faults, messages)| Shape {
                faults: faults.into_iter().map(String::from).collect(),
                messages,
                file: format!("failures/seed-{seed}.min.json"),
            }),
        }
    }

    #[test]
    fn fifty_seeds_of_one_bug_make_one_group_with_the_smallest_repro() {
        let mut records: Vec<SeedRecord> = (0..50)
            .map(|seed| {
                let messages = 3 + (seed as usize * 7) % 5;
                failure(
                    seed,
                    "expiry_honoured",
                    Some((vec!["mailbox_outage"], messages)),
                )
            })
            .collect();
        records[17].shrunk.as_mut().expect("shrunk").messages = 1;
        let groups = group(&records);
        assert_eq!(groups.len(), 1, "{groups:?}");
        let only = &groups[0];
        assert_eq!(only.count, 50);
        assert_eq!(only.shape, "mailbox_outage");
        assert_eq!(only.smallest_seed, 17);
        assert_eq!(
            only.smallest_repro,
            "mailsim replay failures/seed-17.min.json"
        );
        assert_eq!(only.smallest_size, Some((1, 1)));
        assert_eq!(only.seeds.len(), SEEDS_LISTED_MAX);
    }

    #[test]
    fn another_property_or_another_shrunk_shape_is_another_group() {
        let records = vec![
            failure(
                1,
                "no_acked_loss",
                Some((vec!["region_crash", "mailbox_outage"], 2)),
            ),
            failure(2, "no_acked_loss", Some((vec!["disk_lost"], 1))),
            failure(3, "no_acked_loss", Some((vec!["disk_lost"], 3))),
            failure(4, "integrity", None),
            failure(5, "integrity", None),
        ];
        let groups = group(&records);
        let rows: Vec<(String, String, usize)> = groups
            .iter()
            .map(|g| (g.violated_text(), g.shape.clone(), g.count))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("integrity".into(), "not shrunk".into(), 2),
                ("no_acked_loss".into(), "disk_lost".into(), 2),
                (
                    "no_acked_loss".into(),
                    "region_crash+mailbox_outage".into(),
                    1
                ),
            ]
        );
        assert_eq!(
            groups[0].smallest_repro,
            "mailsim run --seed 4 --family swarm"
        );
    }

    #[test]
    fn failures_without_a_verdict_group_by_their_outcome() {
        let mut crashed = failure(9, "x", None);
        crashed.outcome = Outcome::Crashed;
        crashed.violations.clear();
        let mut passed = failure(10, "x", None);
        passed.outcome = Outcome::Pass;
        let groups = group(&[crashed, passed]);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].violated, vec!["[crashed]".to_string()]);
    }
}
