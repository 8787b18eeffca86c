//! The search itself: a corpus of scenarios that reached something new,
//! grown batch by batch. Each batch is drawn from the campaign's own seed
//! and the corpus as it stood (a share fresh scenarios of the family, the
//! rest mutants of corpus entries, entries holding rarely reached features
//! picked more often), then run — by whatever [`Runner`] the caller has: a
//! pool of worker processes for `mailsim explore`, the same process for the
//! benchmark — and absorbed in batch order. So the campaign is a pure
//! function of its settings and the runs' results: the same seed and the
//! same run ids give the same scenarios whatever `--jobs` is, and a resumed
//! campaign replays the runs already recorded instead of running them.
//!
//! A failing run is recorded but does not join the corpus: the search goes
//! on looking for other bugs rather than around the one it found.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::explore::coverage::{self, Features};
use crate::explore::mutate;
use crate::prng::{Prng, derive_seed};
use crate::scenario::{Family, Scenario};

/// How a campaign draws its runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The family fresh scenarios are drawn from.
    pub family: Family,
    /// The campaign's own seed: every choice and mutation comes from it.
    pub seed: u64,
    /// Known bugs switched on in every run.
    pub bugs: Vec<String>,
    /// Runs drawn before any of them is absorbed. Fixed, not `--jobs`, so
    /// the campaign does not depend on the machine.
    pub batch: usize,
    /// Share of a batch drawn fresh from the family once the corpus has
    /// entries.
    pub fresh_percent: u64,
}

/// One run to make: a scenario and the seed (run id) it runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub run_id: u64,
    pub scenario: Scenario,
    /// The corpus entry it was mutated from (None: drawn fresh).
    pub parent: Option<u64>,
    /// The moves made (`fresh` for a fresh draw).
    pub moves: String,
}

/// What a run came to, as the campaign needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    pub failed: bool,
    /// Violated properties, sorted.
    pub properties: Vec<String>,
    pub features: Features,
}

/// Runs a batch; `None` for a candidate not run (a time budget ran out).
pub trait Runner {
    fn run_batch(&mut self, batch: &[Candidate]) -> Result<Vec<Option<RunResult>>, String>;
}

/// One run in the campaign's history: the coverage-over-time figure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// 1 for the campaign's first run.
    pub run: u64,
    pub run_id: u64,
    pub parent: Option<u64>,
    pub moves: String,
    /// Features this run showed first.
    pub new_features: usize,
    /// Distinct features seen so far, this run included.
    pub features: usize,
    pub corpus: usize,
    pub failed: bool,
}

struct Entry {
    run_id: u64,
    scenario: Scenario,
    features: Features,
}

pub struct Campaign {
    settings: Settings,
    prng: Prng,
    corpus: Vec<Entry>,
    /// Feature → runs that showed it.
    seen: BTreeMap<String, u64>,
    history: Vec<Point>,
}

/// How a campaign ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Explored {
    pub history: Vec<Point>,
    /// The 1-based run and the run id of the first failure, if any.
    pub first_failure: Option<(u64, u64)>,
    /// Stopped before its run ids were used up (a time budget).
    pub cut_short: bool,
}

impl Campaign {
    pub fn new(settings: Settings) -> Campaign {
        let prng = Prng::new(derive_seed(settings.seed, "explore"));
        Campaign {
            settings,
            prng,
            corpus: Vec::new(),
            seen: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    /// The next batch, one candidate per run id.
    pub fn next_batch(&mut self, run_ids: &[u64]) -> Vec<Candidate> {
        run_ids
            .iter()
            .map(|&run_id| {
                let fresh =
                    self.corpus.is_empty() || self.prng.percent(self.settings.fresh_percent);
                if fresh {
                    let mut scenario = Scenario::generate_family(run_id, self.settings.family);
                    scenario.bugs = self.settings.bugs.clone();
                    return Candidate {
                        run_id,
                        scenario,
                        parent: None,
                        moves: "fresh".into(),
                    };
                }
                let parent = self.choose();
                let partner = self.choose();
                let aims = coverage::aims(&self.corpus[parent].features);
                let (mut scenario, moves) = mutate::mutate(
                    &mut self.prng,
                    &self.corpus[parent].scenario,
                    Some(&self.corpus[partner].scenario),
                    &aims,
                );
                scenario.seed = run_id;
                Candidate {
                    run_id,
                    scenario,
                    parent: Some(self.corpus[parent].run_id),
                    moves,
                }
            })
            .collect()
    }

    /// A corpus entry, weighted toward those holding rarely seen features.
    fn choose(&mut self) -> usize {
        let weights: Vec<u64> = self
            .corpus
            .iter()
            .map(|entry| {
                1 + entry
                    .features
                    .iter()
                    .filter(|f| !coverage::is_aim(f))
                    .map(|f| 64 / self.seen.get(f).copied().unwrap_or(1).max(1))
                    .sum::<u64>()
            })
            .collect();
        let total: u64 = weights.iter().sum();
        let mut draw = self.prng.range(0, total.max(1));
        for (index, weight) in weights.iter().enumerate() {
            if draw < *weight {
                return index;
            }
            draw -= weight;
        }
        self.corpus.len() - 1
    }

    /// Takes in one run's result; returns how many features it showed first.
    pub fn absorb(&mut self, candidate: &Candidate, result: &RunResult) -> usize {
        let mut new_features = 0;
        for feature in result.features.iter().filter(|f| !coverage::is_aim(f)) {
            let count = self.seen.entry(feature.clone()).or_insert(0);
            if *count == 0 {
                new_features += 1;
            }
            *count += 1;
        }
        if new_features > 0 && !result.failed {
            self.corpus.push(Entry {
                run_id: candidate.run_id,
                scenario: candidate.scenario.clone(),
                features: result.features.clone(),
            });
        }
        self.history.push(Point {
            run: self.history.len() as u64 + 1,
            run_id: candidate.run_id,
            parent: candidate.parent,
            moves: candidate.moves.clone(),
            new_features,
            features: self.seen.len(),
            corpus: self.corpus.len(),
            failed: result.failed,
        });
        new_features
    }

    pub fn history(&self) -> &[Point] {
        &self.history
    }
}

/// Runs a campaign over `run_ids` (in order, a batch at a time) until they
/// are used up, the runner stops, or — with `stop_at_failure` — a run fails.
pub fn explore(
    settings: Settings,
    run_ids: &[u64],
    runner: &mut dyn Runner,
    stop_at_failure: bool,
) -> Result<Explored, String> {
    let batch_size = settings.batch.max(1);
    let mut campaign = Campaign::new(settings);
    let mut first_failure = None;
    for ids in run_ids.chunks(batch_size) {
        let batch = campaign.next_batch(ids);
        let results = runner.run_batch(&batch)?;
        if results.iter().any(Option::is_none) {
            // A batch is absorbed whole or not at all, so a resumed campaign
            // draws its next batch from the same state.
            return Ok(Explored {
                history: campaign.history,
                first_failure,
                cut_short: true,
            });
        }
        for (candidate, result) in batch.iter().zip(results.into_iter().flatten()) {
            campaign.absorb(candidate, &result);
            if result.failed && first_failure.is_none() {
                first_failure = Some((campaign.history.len() as u64, candidate.run_id));
                if stop_at_failure {
                    return Ok(Explored {
                        history: campaign.history,
                        first_failure,
                        cut_short: false,
                    });
                }
            }
        }
    }
    Ok(Explored {
        history: campaign.history,
        first_failure,
        cut_short: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use models::config::Knobs;

    /// Pretends to run: a scenario's features are its fault kinds, and it
    /// fails when a disk is lost while a partition is on.
    struct Fake {
        ran: Vec<u64>,
    }

    impl Runner for Fake {
        fn run_batch(&mut self, batch: &[Candidate]) -> Result<Vec<Option<RunResult>>, String> {
            Ok(batch
                .iter()
                .map(|c| {
                    self.ran.push(c.run_id);
                    let features: Features = c
                        .scenario
                        .faults
                        .faults
                        .iter()
                        .map(|f| f.kind.name().to_string())
                        .collect();
                    // The swarm never lengthens the owner lease (some of
                    // its seeds shorten it, with the queue lifetime); only
                    // a mutation (`lease`) can.
                    let default_lease_ms = Knobs::simulation_defaults().owner_lease_ms;
                    let failed = c.scenario.knobs.owner_lease_ms > default_lease_ms;
                    Some(RunResult {
                        failed,
                        properties: Vec::new(),
                        features,
                    })
                })
                .collect())
        }
    }

    fn settings(seed: u64) -> Settings {
        Settings {
            family: Family::Swarm,
            seed,
            bugs: Vec::new(),
            batch: 4,
            fresh_percent: 25,
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_campaign_and_another_seed_another() {
        let ids: Vec<u64> = (100..140).collect();
        let run = |seed| explore(settings(seed), &ids, &mut Fake { ran: Vec::new() }, false);
        let first = run(1).expect("runs");
        assert_eq!(first.history.len(), 40);
        assert_eq!(run(1).expect("runs"), first);
        assert_ne!(run(2).expect("runs").history, first.history);
    }

    #[test]
    fn mutants_of_the_corpus_find_a_scenario_the_swarm_never_draws() {
        // The swarm never draws a lease longer than the default; only a
        // mutation can.
        let ids: Vec<u64> = (1..400).collect();
        let explored =
            explore(settings(7), &ids, &mut Fake { ran: Vec::new() }, true).expect("runs");
        let (run, _) = explored.first_failure.expect("a longer lease was drawn");
        assert_eq!(explored.history.len() as u64, run);
        assert!(explored.history.iter().any(|p| p.parent.is_some()));
    }

    #[test]
    fn the_first_batch_is_the_familys_fresh_draws() {
        let mut campaign = Campaign::new(settings(1));
        let batch = campaign.next_batch(&[5, 6]);
        assert_eq!(
            batch[0].scenario,
            Scenario::generate_family(5, Family::Swarm)
        );
        assert!(
            batch
                .iter()
                .all(|c| c.parent.is_none() && c.moves == "fresh")
        );
    }
}
