//! The run loop on turmoil: build the world from a scenario, step simulated
//! time one tick at a time, and let the engine-independent [`RunLoop`]
//! apply the fault schedule, heal, and judge when the drain is over.
//!
//! turmoil advances every host on every tick, so a run's cost grows with
//! the number of hosts times the simulated time; it is the reference
//! engine (and the one real mode mirrors). See `madsim_run` for the fast one.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use models::config::GatewayConfig;
use models::env::SharedEnv;

use crate::deploy;
use crate::engine::disk_loss;
use crate::engine::fault_state::WorldControl;
use crate::engine::hosts::{self, Deployment, Role};
use crate::engine::observer::Observer;
use crate::engine::pause;
pub use crate::engine::run_loop::RunArtifacts;
use crate::engine::run_loop::RunLoop;
use crate::engine::spool_check::{SpoolDisks, SpoolReader, record_quarantines};
use crate::engine::turmoil_env::{Shared, TurmoilEnv};
use crate::scenario::Scenario;

const TICK: Duration = Duration::from_millis(1);

pub fn run(scenario: &Scenario, seed: u64) -> RunArtifacts {
    let deployed = deploy::Deployed::new(scenario);
    let config = deployed.config.clone();
    let directory = Rc::new(RefCell::new(deploy::mx_directory(scenario, &config)));
    let topology = &scenario.topology;
    let shared = Rc::new(Shared {
        observer: Observer::new(),
        host_regions: hosts::host_regions(scenario),
        disk_faults: RefCell::new(BTreeMap::new()),
        lost_disks: Default::default(),
        unsynced_dirs: Default::default(),
        honest_disks: Default::default(),
        rejections: Default::default(),
        sources: hosts::host_sources(scenario),
        host_faults: Default::default(),
        livelock: Default::default(),
    });

    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .tick_duration(TICK)
        .simulation_duration(Duration::from_millis(scenario.end_ms() + 60_000))
        .min_message_latency(Duration::from_millis(topology.latency_ms_intra))
        .max_message_latency(Duration::from_millis(topology.latency_ms_intra))
        .tcp_capacity(1 << 16);
    if let Some(bytes) = scenario.faults.torn_write_block_bytes {
        // Torn writes on crash; off by default so other runs draw nothing.
        builder.fs().block_size(bytes);
    }
    let mut sim = builder.build();

    let deployment = Deployment {
        config: config.clone(),
        directory: directory.clone(),
        rejections: shared.rejections.clone(),
    };
    let spool_disks = SpoolDisks::default();
    for plan in hosts::plan(scenario, &config) {
        let (shared, deployment, disks) = (shared.clone(), deployment.clone(), spool_disks.clone());
        let boots = Cell::new(0);
        let name = plan.name.clone();
        sim.host(name.as_str(), move || {
            let host_seed = hosts::boot(&shared, seed, &plan.name, &boots);
            let env: SharedEnv = Rc::new(TurmoilEnv::new(&plan.name, shared.clone(), host_seed));
            let main = pause::gated(
                shared.clone(),
                plan.name.clone(),
                plan.main(env, &deployment),
            );
            let capture =
                matches!(plan.role, Role::Gateway).then(|| (disks.clone(), plan.name.clone()));
            let lost = shared.lost_disks.take(&plan.name);
            let lost_dirs = shared.unsynced_dirs.take_lost(&plan.name);
            async move {
                if let Some((disks, name)) = capture {
                    disks.capture(&name);
                }
                disk_loss::remove_lost_dirs_turmoil(&lost_dirs);
                if lost {
                    disk_loss::wipe_turmoil_disk();
                }
                main.await;
                Ok(())
            }
        });
    }

    set_latencies(&sim, scenario, &config);

    let mut run_loop = RunLoop::start(scenario, seed, &deployed, directory, shared.clone());
    let observer = &shared.observer;
    let mut host_failure = None;
    loop {
        let now_ms = sim.elapsed().as_millis() as u64;
        observer.set_now_us(sim.elapsed().as_micros() as u64);
        let mut control = TurmoilControl { sim: &mut sim };
        if run_loop.tick(now_ms, &mut control, &|| spool_disks.all_empty()) {
            break;
        }
        observer.set_now_us((sim.elapsed() + TICK).as_micros() as u64);
        if let Err(e) = sim.step() {
            host_failure = Some(e.to_string());
            break;
        }
        if shared.livelock.tripped().is_some() {
            break;
        }
    }
    record_quarantines(&spool_disks, &shared);
    let log = run_loop.finish();
    let spool_residue = match run_loop.drained() {
        true => spool_disks.residue(&log),
        false => Vec::new(),
    };
    RunArtifacts {
        log,
        sim_ms: sim.elapsed().as_millis() as u64,
        host_failure,
        spool_residue,
        facts: deployed.facts,
        livelock: shared.livelock.tripped(),
    }
}

fn set_latencies(sim: &turmoil::Sim<'_>, scenario: &Scenario, config: &GatewayConfig) {
    let topology = &scenario.topology;
    let hosts = hosts::all_hosts(scenario, config);
    for (i, a) in hosts.iter().enumerate() {
        for b in &hosts[i + 1..] {
            let latency =
                topology.latency_ms(topology.region_of_host(a), topology.region_of_host(b));
            sim.set_link_latency(a.as_str(), b.as_str(), Duration::from_millis(latency));
            sim.set_link_latency(b.as_str(), a.as_str(), Duration::from_millis(latency));
        }
    }
}

/// turmoil's levers: crash and bounce hosts, partition and repair links,
/// per-link latency and fail rate for gray links.
struct TurmoilControl<'s, 'a> {
    sim: &'s mut turmoil::Sim<'a>,
}

impl WorldControl for TurmoilControl<'_, '_> {
    fn crash(&mut self, host: &str) {
        self.sim.crash(host);
    }

    fn restart(&mut self, host: &str) {
        self.sim.bounce(host);
    }

    fn partition_oneway(&mut self, from: &str, to: &str) {
        self.sim.partition_oneway(from, to);
    }

    fn repair_oneway(&mut self, from: &str, to: &str) {
        self.sim.repair_oneway(from, to);
    }

    fn repair(&mut self, a: &str, b: &str) {
        self.sim.repair(a, b);
    }

    fn set_gray(&mut self, a: &str, b: &str, base_ms: u64, ceiling_ms: u64, loss_percent: u8) {
        self.sim
            .set_link_latency(a, b, Duration::from_millis(base_ms));
        self.sim
            .set_link_max_message_latency(a, b, Duration::from_millis(ceiling_ms));
        self.sim
            .set_link_fail_rate(a, b, f64::from(loss_percent) / 100.0);
    }

    fn clear_gray(&mut self, a: &str, b: &str, base_ms: u64) {
        self.sim
            .set_link_latency(a, b, Duration::from_millis(base_ms));
        self.sim.set_link_fail_rate(a, b, 0.0);
    }
}
