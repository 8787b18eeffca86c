//! The harness every proptest suite shares: a case is a seed (drawn, never
//! shrunk), a few scenario knobs, and a fault schedule whose strategies
//! shrink toward fewer, shorter, earlier faults. Each case runs the whole
//! simulation and fails with every violation the judge found, plus the
//! command that replays it; each suite then checks that its cases, summed,
//! reached the hard state it exists for ("sometimes"), so a suite whose
//! faults never bite cannot pass silently.
//!
//! Cases cost a simulated run each (a second or three in the test profile),
//! so suites run few of them by default; `PROPTEST_CASES`,
//! `PROPTEST_MAX_SHRINK_ITERS` and `PROPTEST_RNG_SEED` override the
//! defaults, as in any proptest. Generation is seeded per suite unless
//! `PROPTEST_RNG_SEED` is set, so `cargo test` is as deterministic as the
//! simulator; failures are kept in `tests/proptest-regressions/<suite>.txt`
//! and replayed first on every run (commit them).

// Each suite uses a different part of the harness.
#![allow(dead_code)]

use std::cell::RefCell;
use std::path::PathBuf;

use properties::Sometimes;
use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner,
};
use sim::faults::{Fault, FaultModel};
use sim::run::Verdict;
use sim::scenario::{Family, Scenario};
use sim::topology::Topology;

/// Cases per suite unless `PROPTEST_CASES` says otherwise: with 7 suites of
/// ~2 s runs this keeps `cargo test --workspace` within minutes on 2 cores.
pub const DEFAULT_CASES: u32 = 5;

/// Shrink steps unless `PROPTEST_MAX_SHRINK_ITERS` says otherwise: each is
/// a whole run, and a few dozen get a schedule down to its essentials.
pub const DEFAULT_SHRINK_ITERS: u32 = 48;

/// One suite: its name (for messages and saved scenarios), its regression
/// file, and the seed its cases are generated from.
pub struct Suite {
    pub name: &'static str,
    /// Absolute path of the proptest regression file:
    /// `concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proptest-regressions/<name>.txt")`.
    pub regressions: &'static str,
    pub rng_seed: u64,
}

/// One generated case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Draws the tenants, the workload and the bodies (never shrunk: a
    /// smaller seed is not a simpler scenario).
    pub seed: u64,
    /// The family the base scenario is drawn from (its faults are replaced
    /// by `faults` unless it is the swarm's own).
    pub family: Family,
    /// Keep every `thin`-th workload message, then the first `messages`.
    pub thin: usize,
    pub messages: usize,
    pub heal_at_ms: u64,
    pub model: FaultModel,
    pub faults: Vec<Fault>,
    pub torn_write_block_bytes: Option<u64>,
    /// How long senders trust an MX answer, if not the scenario's.
    pub dns_ttl_ms: Option<u64>,
}

impl Case {
    /// A calm scenario's seed with a short load: the first `messages`
    /// messages (all offered in the first ~12 s) and a heal at 20 s.
    pub fn calm(seed: u64, messages: usize, model: FaultModel, faults: Vec<Fault>) -> Case {
        Case {
            seed,
            family: Family::Calm,
            thin: 1,
            messages,
            heal_at_ms: 20_000,
            model,
            faults,
            torn_write_block_bytes: None,
            dns_ttl_ms: None,
        }
    }

    pub fn scenario(&self) -> Scenario {
        let mut scenario = Scenario::generate_family(self.seed, self.family);
        let messages = std::mem::take(&mut scenario.workload.messages);
        scenario.workload.messages = messages
            .into_iter()
            .step_by(self.thin.max(1))
            .take(self.messages)
            .collect();
        scenario.phases.heal_at_ms = self.heal_at_ms;
        scenario.faults.model = self.model;
        scenario.faults.faults = self.faults.clone();
        scenario.faults.torn_write_block_bytes = self.torn_write_block_bytes;
        if let Some(ttl_ms) = self.dns_ttl_ms {
            scenario.workload.dns_ttl_ms = ttl_ms;
        }
        scenario
    }
}

/// A seed for the base scenario: any, and never shrunk.
pub fn seed() -> impl Strategy<Value = u64> {
    any::<u64>().no_shrink()
}

/// How many messages a case offers: shrinks toward fewer.
pub fn messages() -> impl Strategy<Value = usize> {
    8usize..16
}

/// When a fault starts: within the load, shrinking toward its start.
pub fn at_ms() -> impl Strategy<Value = u64> {
    1_000u64..12_000
}

/// How long a fault lasts: shrinks toward the shortest.
pub fn duration_ms() -> impl Strategy<Value = u64> {
    500u64..8_000
}

pub fn topology() -> Topology {
    Topology::standard()
}

/// A region of the standard topology (shrinks toward the first).
pub fn region() -> impl Strategy<Value = String> {
    let names: Vec<String> = topology().regions.iter().map(|r| r.name.clone()).collect();
    prop::sample::select(names)
}

/// Two different regions in one jurisdiction (where replicas go), or any
/// two with the given odds in percent.
pub fn region_pair(cross_percent: u32) -> impl Strategy<Value = (String, String)> {
    let topology = topology();
    let mut pairs = Vec::new();
    let mut cross = Vec::new();
    for a in &topology.regions {
        for b in &topology.regions {
            if a.name == b.name {
                continue;
            }
            let pair = (a.name.clone(), b.name.clone());
            if a.jurisdiction == b.jurisdiction {
                pairs.push(pair);
            } else {
                cross.push(pair);
            }
        }
    }
    prop_oneof![
        100 - cross_percent => prop::sample::select(pairs),
        cross_percent => prop::sample::select(cross),
    ]
}

/// A gateway host of the standard topology.
pub fn gateway_host() -> impl Strategy<Value = String> {
    let topology = topology();
    let hosts: Vec<String> = topology
        .regions
        .iter()
        .flat_map(|r| topology.gateway_hosts(r))
        .collect();
    prop::sample::select(hosts)
}

/// A tenant of the standard scenarios.
pub fn tenant() -> impl Strategy<Value = String> {
    let tenants: Vec<String> = Scenario::generate_family(0, Family::Calm)
        .tenants
        .iter()
        .map(|t| t.name.clone())
        .collect();
    prop::sample::select(tenants)
}

/// A fault of `kind` at a drawn time for a drawn length.
pub fn timed(kind: impl Strategy<Value = sim::faults::FaultKind>) -> impl Strategy<Value = Fault> {
    (at_ms(), duration_ms(), kind).prop_map(|(at_ms, duration_ms, kind)| Fault {
        at_ms,
        duration_ms,
        kind,
    })
}

fn config(suite: &Suite) -> Config {
    let set = |name: &str| std::env::var_os(name).is_some();
    // Config::default() has already read every PROPTEST_* variable.
    let mut config = Config::default();
    if !set("PROPTEST_CASES") {
        config.cases = DEFAULT_CASES;
    }
    if !set("PROPTEST_MAX_SHRINK_ITERS") {
        config.max_shrink_iters = DEFAULT_SHRINK_ITERS;
    }
    if !set("PROPTEST_RNG_SEED") {
        config.rng_seed = RngSeed::Fixed(suite.rng_seed);
    }
    if config.failure_persistence.is_some() {
        config.failure_persistence =
            Some(Box::new(FileFailurePersistence::Direct(suite.regressions)));
    }
    config
}

/// Runs one case and judges it: every promised property must hold (all of
/// them inside the fault model, loss and drain beyond it). Returns the
/// run's counters.
pub fn check(suite: &Suite, case: &Case) -> Result<Sometimes, TestCaseError> {
    let scenario = case.scenario();
    if let Err(why) = scenario.validate() {
        return Err(TestCaseError::reject(why));
    }
    // MAILSIM_ENGINE=madsim runs the suites on madsim (in a --cfg madsim build).
    let engine = sim::engine::Engine::from_env().map_err(TestCaseError::fail)?;
    let outcome = sim::run::run_on(engine, &scenario, case.seed);
    if outcome.verdict == Verdict::Pass {
        return Ok(outcome.report.sometimes);
    }
    let saved = save(suite, &scenario);
    let mut reasons: Vec<String> = outcome
        .report
        .violations
        .iter()
        .map(|v| format!("{}: {}", v.property, v.reason))
        .collect();
    if let Some(failure) = &outcome.host_failure {
        reasons.push(format!("host failure: {failure}"));
    }
    Err(TestCaseError::fail(format!(
        "{} ({} the fault model {:?})\n{}\nreplay: mailsim run --seed {} --scenario {} --engine {}",
        outcome.verdict.word(),
        if outcome.within_fault_model {
            "inside"
        } else {
            "beyond"
        },
        scenario.faults.model,
        reasons.join("\n"),
        case.seed,
        saved,
        engine,
    )))
}

/// Saves a failing case's scenario where `mailsim run --scenario` can read
/// it; returns the path (or why it could not be written).
fn save(suite: &Suite, scenario: &Scenario) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("proptest-cases");
    let path = dir.join(format!("{}-{}.json", suite.name, &scenario.sha256()[..16]));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, scenario.to_json() + "\n"));
    match written {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("<could not save {}: {e}>", path.display()),
    }
}

/// Runs a suite: every case must pass, and the counters summed over its
/// cases must satisfy `reached` (the suite's "sometimes" check).
pub fn run_suite<S>(suite: &Suite, cases: S, reached: impl Fn(&Sometimes) -> Result<(), String>)
where
    S: Strategy<Value = Case>,
{
    let mut runner = TestRunner::new(config(suite));
    let totals = RefCell::new(Sometimes::default());
    let ran = RefCell::new(0u32);
    let result = runner.run(&cases, |case| {
        let counters = check(suite, &case)?;
        totals.borrow_mut().add(&counters);
        *ran.borrow_mut() += 1;
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => {
            panic!(
                "suite {}: {reason}\nminimal failing case: {case:#?}",
                suite.name
            )
        }
        Err(TestError::Abort(reason)) => panic!("suite {} aborted: {reason}", suite.name),
    }
    let totals = totals.into_inner();
    if let Err(why) = reached(&totals) {
        panic!(
            "suite {}: its {} cases never reached the state it exists for: {why}\ncounters: {totals:#?}",
            suite.name,
            ran.into_inner()
        );
    }
}
