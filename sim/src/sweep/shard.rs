//! Sharding: which seeds of a range one machine of N runs, and where I and N
//! come from when `--shard` is not given (the CI engine's own variables).
//!
//! Shard indices are 0-based everywhere in mailsim (`--shard 0/4` … `3/4`),
//! like Kubernetes' `JOB_COMPLETION_INDEX` and Buildkite's
//! `BUILDKITE_PARALLEL_JOB`; GitLab's 1-based `CI_NODE_INDEX` is converted.
//! Seed `s` belongs to shard `s % N`: interleaving, not blocks, so every
//! shard gets the same mix of low and high seeds, a shard cut short by a time
//! budget still covers the whole range thinly, and a seed's shard does not
//! depend on where the range starts.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

/// One shard of N, 0-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole range on one machine.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 {
            return Err("the shard count must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is out of range for {count} shards (indices are 0-based: 0..={})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` (0-based I).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard {text:?}: expected I/N with 0 <= I < N, e.g. 0/4");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index = index.trim().parse().map_err(|_| bad())?;
        let count = count.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count).map_err(|e| format!("invalid shard {text:?}: {e}"))
    }

    pub fn contains(self, seed: u64) -> bool {
        seed % self.count == self.index
    }

    /// This shard's seeds of `range`, ascending.
    pub fn seeds(self, range: Range<u64>) -> Vec<u64> {
        // Step from the first member instead of filtering, so a wide range on
        // many shards does not walk every seed.
        let rest = range.start % self.count;
        let offset = if self.index >= rest {
            self.index - rest
        } else {
            self.count - rest + self.index
        };
        let Some(first) = range.start.checked_add(offset) else {
            return Vec::new();
        };
        (first..range.end)
            .step_by(usize::try_from(self.count).unwrap_or(usize::MAX))
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A shard and where it was found, for the output ("shard 2/8 from
/// JOB_COMPLETION_INDEX").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardChoice {
    pub shard: Shard,
    pub source: String,
}

/// Picks the shard: `--shard` first, then `MAILSIM_SHARD=I/N`, then the CI
/// engine's variables (Kubernetes Indexed Job, Buildkite, GitLab), else the
/// whole range. Pure: the environment comes in as a map, so it is testable.
pub fn detect(
    flag: Option<Shard>,
    count_flag: Option<u64>,
    env: &BTreeMap<String, String>,
) -> Result<ShardChoice, String> {
    // An empty variable is treated as unset: engines and shells leave those.
    let var = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let number = |name: &str, value: &str| -> Result<u64, String> {
        value
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a non-negative integer"))
    };
    let chosen = |shard: Shard, source: &str| ShardChoice {
        shard,
        source: source.to_string(),
    };
    if let Some(shard) = flag {
        return Ok(chosen(shard, "--shard"));
    }
    if let Some(text) = var("MAILSIM_SHARD") {
        let shard = Shard::parse(text).map_err(|e| format!("MAILSIM_SHARD: {e}"))?;
        return Ok(chosen(shard, "MAILSIM_SHARD"));
    }
    if let Some(index) = var("JOB_COMPLETION_INDEX") {
        let index = number("JOB_COMPLETION_INDEX", index)?;
        let count = match (count_flag, var("MAILSIM_SHARD_COUNT")) {
            (Some(count), _) => count,
            (None, Some(count)) => number("MAILSIM_SHARD_COUNT", count)?,
            (None, None) => {
                return Err(format!(
                    "JOB_COMPLETION_INDEX={index} is set (Kubernetes Indexed Job) but not the number of shards: \
                     pass --shard-count N or set MAILSIM_SHARD_COUNT to the Job's completions"
                ));
            }
        };
        let shard = Shard::new(index, count).map_err(|e| format!("JOB_COMPLETION_INDEX: {e}"))?;
        return Ok(chosen(shard, "JOB_COMPLETION_INDEX"));
    }
    if count_flag.is_some() {
        return Err(
            "--shard-count goes with JOB_COMPLETION_INDEX (Kubernetes Indexed Job), which is not set; \
             use --shard I/N elsewhere"
                .into(),
        );
    }
    if let Some(shard) = pair(
        &var,
        &number,
        "BUILDKITE_PARALLEL_JOB",
        "BUILDKITE_PARALLEL_JOB_COUNT",
        0,
    )? {
        return Ok(chosen(shard, "BUILDKITE_PARALLEL_JOB"));
    }
    if let Some(shard) = pair(&var, &number, "CI_NODE_INDEX", "CI_NODE_TOTAL", 1)? {
        return Ok(chosen(shard, "CI_NODE_INDEX"));
    }
    Ok(chosen(Shard::ALL, "unsharded"))
}

/// An engine's (index, count) variable pair; `base` is the engine's first
/// index (GitLab counts from 1).
fn pair<'a>(
    var: &impl Fn(&str) -> Option<&'a str>,
    number: &impl Fn(&str, &str) -> Result<u64, String>,
    index_name: &str,
    count_name: &str,
    base: u64,
) -> Result<Option<Shard>, String> {
    match (var(index_name), var(count_name)) {
        (None, None) => Ok(None),
        (Some(index), Some(count)) => {
            let raw = number(index_name, index)?;
            let count = number(count_name, count)?;
            let index = raw.checked_sub(base).ok_or_else(|| {
                format!("{index_name}={raw} is below {base}, where this engine starts counting")
            })?;
            Shard::new(index, count)
                .map(Some)
                .map_err(|e| format!("{index_name}={raw}, {count_name}={count}: {e}"))
        }
        (Some(_), None) => Err(format!("{index_name} is set but {count_name} is not")),
        (None, Some(_)) => Err(format!("{count_name} is set but {index_name} is not")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_range() {
        for range in [0..1, 0..10, 3..17, 5..6, 1000..1037, 7..8] {
            for count in 1..=6 {
                let mut all = Vec::new();
                for index in 0..count {
                    let shard = Shard::new(index, count).unwrap();
                    let seeds = shard.seeds(range.clone());
                    assert!(seeds.iter().all(|&s| shard.contains(s)));
                    assert!(seeds.windows(2).all(|w| w[0] < w[1]));
                    all.extend(seeds);
                }
                all.sort_unstable();
                let expected: Vec<u64> = range.clone().collect();
                assert_eq!(all, expected, "{range:?} over {count} shards");
            }
        }
    }

    #[test]
    fn a_seed_belongs_to_shard_seed_mod_count() {
        assert_eq!(Shard::new(1, 3).unwrap().seeds(0..10), vec![1, 4, 7]);
        assert_eq!(Shard::new(0, 3).unwrap().seeds(2..10), vec![3, 6, 9]);
        assert_eq!(
            Shard::new(2, 4).unwrap().seeds(u64::MAX - 3..u64::MAX),
            vec![u64::MAX - 1]
        );
    }

    #[test]
    fn shard_text_parses_and_bad_shards_are_refused() {
        assert_eq!(Shard::parse("2/8"), Ok(Shard { index: 2, count: 8 }));
        for bad in ["8/8", "1/0", "x/2", "3", "-1/2", "1/2/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert!(Shard::parse("4/4").unwrap_err().contains("0-based"));
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let e = env(&[("JOB_COMPLETION_INDEX", "1"), ("MAILSIM_SHARD_COUNT", "4")]);
        let choice = detect(Some(Shard::parse("3/5").unwrap()), None, &e).unwrap();
        assert_eq!(choice.shard, Shard { index: 3, count: 5 });
        assert_eq!(choice.source, "--shard");
    }

    #[test]
    fn mailsim_shard_is_read_for_github_actions_and_anything_else() {
        let choice = detect(None, None, &env(&[("MAILSIM_SHARD", "1/3")])).unwrap();
        assert_eq!(
            (choice.shard, choice.source.as_str()),
            (Shard { index: 1, count: 3 }, "MAILSIM_SHARD")
        );
    }

    #[test]
    fn kubernetes_indexed_jobs_are_0_based_and_need_a_count() {
        let e = env(&[("JOB_COMPLETION_INDEX", "2"), ("MAILSIM_SHARD_COUNT", "4")]);
        assert_eq!(
            detect(None, None, &e).unwrap().shard,
            Shard { index: 2, count: 4 }
        );
        let e = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(
            detect(None, Some(3), &e).unwrap().shard,
            Shard { index: 2, count: 3 }
        );
        let error = detect(None, None, &e).unwrap_err();
        assert!(error.contains("--shard-count"), "{error}");
        let e = env(&[("JOB_COMPLETION_INDEX", "4"), ("MAILSIM_SHARD_COUNT", "4")]);
        assert!(detect(None, None, &e).is_err());
        assert!(detect(None, Some(4), &env(&[])).is_err());
    }

    #[test]
    fn buildkite_parallel_jobs_are_0_based() {
        let e = env(&[
            ("BUILDKITE_PARALLEL_JOB", "0"),
            ("BUILDKITE_PARALLEL_JOB_COUNT", "5"),
        ]);
        let choice = detect(None, None, &e).unwrap();
        assert_eq!(choice.shard, Shard { index: 0, count: 5 });
        assert_eq!(choice.source, "BUILDKITE_PARALLEL_JOB");
        assert!(detect(None, None, &env(&[("BUILDKITE_PARALLEL_JOB", "0")])).is_err());
    }

    #[test]
    fn gitlab_parallel_jobs_are_1_based_and_converted() {
        let e = env(&[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "3")]);
        assert_eq!(
            detect(None, None, &e).unwrap().shard,
            Shard { index: 0, count: 3 }
        );
        let e = env(&[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "3")]);
        assert_eq!(
            detect(None, None, &e).unwrap().shard,
            Shard { index: 2, count: 3 }
        );
        let e = env(&[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "3")]);
        assert!(detect(None, None, &e).unwrap_err().contains("below 1"));
        let e = env(&[("CI_NODE_INDEX", "one"), ("CI_NODE_TOTAL", "3")]);
        assert!(detect(None, None, &e).is_err());
    }

    #[test]
    fn no_variables_means_the_whole_range_and_empty_ones_are_unset() {
        let e = env(&[("CI_NODE_INDEX", ""), ("JOB_COMPLETION_INDEX", " ")]);
        let choice = detect(None, None, &e).unwrap();
        assert_eq!(
            (choice.shard, choice.source.as_str()),
            (Shard::ALL, "unsharded")
        );
    }
}
