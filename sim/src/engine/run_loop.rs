//! The engine-independent run loop: a fault phase, the heal at
//! `heal_at_ms`, then the drain. The engine drives time (turmoil one tick at
//! a time, madsim from event to event) and calls [`RunLoop::tick`] whenever
//! [`RunLoop::next_due_ms`] says something is due; the loop applies the
//! fault schedule, notices when everything has drained, and says when to
//! stop: once drained and every spool is empty (or the retention allowance
//! has passed), or at `end_ms` if the run never drained.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use models::config::GatewayConfig;
use properties::Facts;
use traces::{EventKind, Log};

use crate::deploy::Deployed;
use crate::engine::drain;
use crate::engine::fault_state::{FaultState, WorldControl, active_faults};
use crate::engine::seam::Shared;
use crate::engine::spool_check::Residue;
use crate::scenario::Scenario;
use crate::workload::dns::MxDirectory;

/// How often, in simulated time, the drain check looks at the log.
pub const DRAIN_CHECK_MS: u64 = 500;

/// What one run produced.
pub struct RunArtifacts {
    pub log: Log,
    /// Simulated time when the run stopped.
    pub sim_ms: u64,
    /// A host's software failed (panicked or returned an error): the message.
    pub host_failure: Option<String>,
    /// Message files still on a gateway's spool once the drain was over and
    /// the retention allowance had passed (empty if the run never drained).
    pub spool_residue: Vec<Residue>,
    /// The facts the run was deployed with, for judging its log.
    pub facts: Rc<Facts>,
    /// The run was stopped because simulated time stood still (`livelock`).
    pub livelock: Option<crate::engine::livelock::Livelock>,
}

/// The state of one run between ticks.
pub struct RunLoop<'a> {
    scenario: &'a Scenario,
    config: Rc<GatewayConfig>,
    directory: Rc<RefCell<MxDirectory>>,
    shared: Rc<Shared>,
    facts: Rc<Facts>,
    world: FaultState,
    boundaries: BTreeSet<u64>,
    healed: bool,
    next_drain_check_ms: u64,
    /// Once drained, the world keeps running until every spool is empty or
    /// the retention allowance is over (see `spool_check`).
    drained_at_ms: Option<u64>,
}

impl<'a> RunLoop<'a> {
    /// Logs the start of the run and its fault phase.
    pub fn start(
        scenario: &'a Scenario,
        seed: u64,
        deployed: &Deployed,
        directory: Rc<RefCell<MxDirectory>>,
        shared: Rc<Shared>,
    ) -> Self {
        let mut boundaries: BTreeSet<u64> = scenario
            .faults
            .faults
            .iter()
            .flat_map(|f| [f.at_ms, f.end_ms()])
            .filter(|&t| t < scenario.phases.heal_at_ms)
            .collect();
        boundaries.insert(scenario.phases.heal_at_ms);
        if scenario.buggify {
            let buggify_seed = crate::prng::derive_seed(seed, "buggify");
            shared.host_faults.buggify.switch_on(buggify_seed);
        }
        let observer = &shared.observer;
        observer.record(
            "world",
            EventKind::RunStarted {
                seed,
                schema: traces::SCHEMA_VERSION,
                scenario_sha256: scenario.sha256(),
            },
        );
        observer.record(
            "world",
            EventKind::Phase {
                phase: "faults".into(),
            },
        );
        RunLoop {
            scenario,
            config: deployed.config.clone(),
            directory,
            shared,
            facts: deployed.facts.clone(),
            world: FaultState::default(),
            boundaries,
            healed: false,
            next_drain_check_ms: 0,
            drained_at_ms: None,
        }
    }

    /// Does what is due at `now_ms`; true when the run should stop.
    pub fn tick(
        &mut self,
        now_ms: u64,
        sim: &mut dyn WorldControl,
        spools_empty: &dyn Fn() -> bool,
    ) -> bool {
        let scenario = self.scenario;
        if self.boundaries.first().is_some_and(|&t| t <= now_ms) {
            while self.boundaries.first().is_some_and(|&t| t <= now_ms) {
                self.boundaries.pop_first();
            }
            if now_ms >= scenario.phases.heal_at_ms && !self.healed {
                self.healed = true;
                self.next_drain_check_ms = now_ms.div_ceil(DRAIN_CHECK_MS) * DRAIN_CHECK_MS;
                self.apply(sim, &[]);
                self.shared.observer.record(
                    "world",
                    EventKind::Phase {
                        phase: "drain".into(),
                    },
                );
            } else if !self.healed {
                let active = active_faults(&scenario.faults.faults, now_ms);
                self.apply(sim, &active);
            }
        }
        if self.healed && now_ms >= self.next_drain_check_ms {
            self.next_drain_check_ms = (now_ms / DRAIN_CHECK_MS + 1) * DRAIN_CHECK_MS;
            if self.drained_at_ms.is_none()
                && self
                    .shared
                    .observer
                    .with_log(|log| drain::is_drained(log, &self.facts))
            {
                self.drained_at_ms = Some(now_ms);
            }
            let retention_ms = scenario.knobs.spool_retention_ms();
            if self
                .drained_at_ms
                .is_some_and(|at| spools_empty() || now_ms >= at + retention_ms)
            {
                return true;
            }
        }
        now_ms >= scenario.end_ms() && self.drained_at_ms.is_none()
    }

    fn apply(&mut self, sim: &mut dyn WorldControl, active: &[(u32, &crate::faults::Fault)]) {
        self.world.apply(
            sim,
            &self.shared,
            &self.directory,
            self.scenario,
            active,
            &self.config,
        );
    }

    /// The next time after `now_ms` at which [`RunLoop::tick`] has work: a
    /// fault boundary, a drain check, or the end.
    pub fn next_due_ms(&self, now_ms: u64) -> u64 {
        let mut due = Vec::new();
        due.extend(self.boundaries.first().copied());
        if self.healed {
            due.push(self.next_drain_check_ms);
        }
        if self.drained_at_ms.is_none() {
            due.push(self.scenario.end_ms());
        }
        due.into_iter()
            .min()
            .unwrap_or(now_ms + DRAIN_CHECK_MS)
            .max(now_ms + 1)
    }

    /// Whether the run drained (so the spools are worth judging).
    pub fn drained(&self) -> bool {
        self.drained_at_ms.is_some()
    }

    /// Logs the end of the run and hands the log over.
    pub fn finish(&self) -> Log {
        self.shared.observer.record(
            "world",
            EventKind::Phase {
                phase: "done".into(),
            },
        );
        self.shared.observer.take_log()
    }
}
