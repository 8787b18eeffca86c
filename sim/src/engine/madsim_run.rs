//! The run loop on madsim (builds with `--cfg madsim`): the same hosts, the
//! same fault schedule and the same [`RunLoop`] as on turmoil, but time
//! jumps from event to event instead of advancing every host every tick, so
//! a run costs what happens in it, not hosts × simulated time.
//!
//! Each host is a madsim node whose init task boots it; a crash is
//! `Handle::kill` plus dropping the node's unsynced disk state (our
//! `PowerFailDisk`), a restart is `Handle::restart` (which boots it again
//! from its disk), and a partition is `NetSim::clog_link`. madsim's node
//! init must be `Send`, and our hosts are not (`Rc<dyn Env>`), so the init
//! closure carries only the host's name and finds the run's world in a
//! thread-local: the whole simulation runs on the one thread that calls
//! `block_on`.
//!
//! Same seed, same scenario ⇒ the same digest; the madsim digest of a seed
//! differs from turmoil's (another scheduler), and need not match it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;
use madsim::time::TimeHandle;
use models::env::Disk;
use models::env::{BoxFut, SharedEnv};
use models::spool::{QUARANTINE_DIR, SPOOL_DIR};

use crate::deploy;
use crate::engine::fault_state::WorldControl;
use crate::engine::hosts::{self, Deployment, HostPlan, Role};
use crate::engine::madsim_env::{self, Links, MadsimEnv};
use crate::engine::observer::Observer;
use crate::engine::pause;
use crate::engine::power_fail_disk::PowerFailDisk;
use crate::engine::run_loop::{RunArtifacts, RunLoop};
use crate::engine::seam::Shared;
use crate::engine::spool_check::{SpoolReader, message_ids, record_quarantines};
use crate::prng::{Prng, derive_seed};
use crate::scenario::Scenario;

/// What a booting host needs, for the run on this thread.
struct World {
    seed: u64,
    shared: Rc<Shared>,
    links: Rc<Links>,
    deployment: Deployment,
    plans: BTreeMap<String, HostPlan>,
    boots: BTreeMap<String, Cell<u32>>,
    disks: BTreeMap<String, PowerFailDisk>,
}

thread_local! {
    static WORLD: RefCell<Option<Rc<World>>> = const { RefCell::new(None) };
}

/// Clears the thread's world when the run ends, however it ends.
struct WorldGuard;

impl Drop for WorldGuard {
    fn drop(&mut self) {
        WORLD.with(|w| w.borrow_mut().take());
    }
}

/// A node's init task: boot `host` on the current world.
fn boot(host: &str) -> BoxFut<'static, ()> {
    let Some(world) = WORLD.with(|w| w.borrow().clone()) else {
        return Box::pin(async {});
    };
    let (Some(plan), Some(boots), Some(disk)) = (
        world.plans.get(host),
        world.boots.get(host),
        world.disks.get(host),
    ) else {
        return Box::pin(async {});
    };
    let host_seed = hosts::boot(&world.shared, world.seed, host, boots);
    if world.shared.lost_disks.take(host) {
        disk.wipe();
    }
    // Our disk already lost them in the crash (it keeps the POSIX rule).
    world.shared.unsynced_dirs.take_lost(host);
    let env: SharedEnv = Rc::new(MadsimEnv::new(
        host,
        world.shared.clone(),
        world.links.clone(),
        host_seed,
        disk.clone(),
    ));
    let main = plan.main(env, &world.deployment);
    madsim_env::in_host(
        crate::logging::host_name(host),
        pause::gated(world.shared.clone(), host.to_string(), main),
    )
}

/// madsim's configuration for our runs: no latency or loss of its own
/// (links are ours, see `madsim_env`).
pub fn config() -> madsim::Config {
    let mut config = madsim::Config::default();
    config.net.packet_loss_rate = 0.0;
    config.net.send_latency = Duration::ZERO..Duration::from_nanos(1);
    config
}

/// Runs `scenario` with `seed` on a fresh madsim runtime.
pub fn run(scenario: &Scenario, seed: u64) -> RunArtifacts {
    let shared = new_shared(scenario);
    let deployed = deploy::Deployed::new(scenario);
    let facts = deployed.facts.clone();
    let runtime = Runtime::with_seed_and_config(seed, config());
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(simulate(scenario, seed, deployed, shared.clone()))
    }));
    match outcome {
        Ok(artifacts) => artifacts,
        Err(panic) => {
            // A host panicked: the run is over, the log so far is the record.
            let message = panic_text(panic.as_ref());
            let log = shared.observer.take_log();
            RunArtifacts {
                sim_ms: log.events().last().map_or(0, |e| e.t_us / 1_000),
                log,
                host_failure: Some(format!("host panicked: {message}")),
                spool_residue: Vec::new(),
                facts,
                livelock: shared.livelock.tripped(),
            }
        }
    }
}

fn new_shared(scenario: &Scenario) -> Rc<Shared> {
    let clock = Box::new(|| madsim_env::elapsed().as_micros() as u64);
    Rc::new(Shared {
        observer: Observer::with_clock(clock),
        host_regions: hosts::host_regions(scenario),
        disk_faults: RefCell::new(BTreeMap::new()),
        lost_disks: Default::default(),
        unsynced_dirs: Default::default(),
        honest_disks: Default::default(),
        rejections: Default::default(),
        sources: hosts::host_sources(scenario),
        host_faults: Default::default(),
        livelock: Default::default(),
    })
}

/// The run itself, inside the runtime.
async fn simulate(
    scenario: &Scenario,
    seed: u64,
    deployed: deploy::Deployed,
    shared: Rc<Shared>,
) -> RunArtifacts {
    let config = deployed.config.clone();
    let directory = Rc::new(RefCell::new(deploy::mx_directory(scenario, &config)));
    let plans = hosts::plan(scenario, &config);
    let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let links = Rc::new(Links::new(&names, scenario.topology.clone()));
    let torn = scenario.faults.torn_write_block_bytes;
    let world = Rc::new(World {
        seed,
        shared: shared.clone(),
        links: links.clone(),
        deployment: Deployment {
            config: config.clone(),
            directory: directory.clone(),
            rejections: shared.rejections.clone(),
        },
        boots: names.iter().map(|n| (n.clone(), Cell::new(0))).collect(),
        disks: names
            .iter()
            .map(|n| (n.clone(), PowerFailDisk::new(torn)))
            .collect(),
        plans: plans.into_iter().map(|p| (p.name.clone(), p)).collect(),
    });
    WORLD.with(|w| *w.borrow_mut() = Some(world.clone()));
    let _guard = WorldGuard;

    let handle = Handle::current();
    let mut nodes = BTreeMap::new();
    for name in &names {
        let Some(ip) = links.addrs.get(name).copied() else {
            continue;
        };
        let host = name.clone();
        let node = handle
            .create_node()
            .name(name.as_str())
            .ip(ip)
            .init(move || boot(&host))
            .build();
        nodes.insert(name.clone(), node.id());
    }
    let gateways: Vec<String> = world
        .plans
        .values()
        .filter(|p| matches!(p.role, Role::Gateway))
        .map(|p| p.name.clone())
        .collect();
    let spools = Spools {
        disks: gateways
            .iter()
            .map(|g| (g.clone(), world.disks[g].clone()))
            .collect(),
    };
    let mut control = MadsimControl {
        handle: handle.clone(),
        net: NetSim::current(),
        nodes,
        links: links.clone(),
        disks: world.disks.clone(),
        tear: Prng::new(derive_seed(seed, "madsim-torn-writes")),
    };

    let time = TimeHandle::current();
    let origin = time.now_instant() - time.elapsed();
    let mut run_loop = RunLoop::start(scenario, seed, &deployed, directory, shared.clone());
    loop {
        let now_ms = time.elapsed().as_millis() as u64;
        // Every host is frozen once the guard trips: nothing left to judge.
        if shared.livelock.tripped().is_some() {
            break;
        }
        if run_loop.tick(now_ms, &mut control, &|| spools.all_empty()) {
            break;
        }
        let due = run_loop.next_due_ms(now_ms);
        time.sleep_until(origin + Duration::from_millis(due)).await;
    }
    record_quarantines(&spools, &shared);
    let log = run_loop.finish();
    let spool_residue = match run_loop.drained() {
        true => spools.residue(&log),
        false => Vec::new(),
    };
    let sim_ms = time.elapsed().as_millis() as u64;
    // Tear the hosts down while the executor still runs: a pending task and
    // the timer that will wake it hold each other, so a runtime dropped with
    // live hosts keeps every host's memory (and our world) for good. Killed,
    // their tasks are dropped at the executor's next turn.
    for id in control.nodes.values() {
        control.handle.kill(*id);
    }
    time.sleep(Duration::from_millis(1)).await;
    RunArtifacts {
        log,
        sim_ms,
        host_failure: None,
        spool_residue,
        facts: deployed.facts,
        livelock: shared.livelock.tripped(),
    }
}

/// The gateways' disks, read for the spool check.
struct Spools {
    disks: BTreeMap<String, PowerFailDisk>,
}

impl SpoolReader for Spools {
    fn spool_ids(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (host, disk) in &self.disks {
            found.extend(message_ids(host, &disk.files_in(SPOOL_DIR)));
        }
        found
    }

    fn quarantine_files(&self) -> Vec<(String, String, Vec<u8>)> {
        let mut found = Vec::new();
        for (host, disk) in &self.disks {
            for name in disk.files_in(QUARANTINE_DIR) {
                let path = format!("{QUARANTINE_DIR}/{name}");
                if let Ok(bytes) = disk.read(&path) {
                    found.push((host.clone(), path, bytes));
                }
            }
        }
        found
    }
}

/// madsim's levers, plus our disks and link table.
struct MadsimControl {
    handle: Handle,
    net: std::sync::Arc<NetSim>,
    nodes: BTreeMap<String, NodeId>,
    links: Rc<Links>,
    disks: BTreeMap<String, PowerFailDisk>,
    tear: Prng,
}

impl MadsimControl {
    fn node(&self, host: &str) -> Option<NodeId> {
        self.nodes.get(host).copied()
    }

    fn link(&self, from: &str, to: &str) -> Option<(NodeId, NodeId)> {
        Some((self.node(from)?, self.node(to)?))
    }

    fn gray_key(a: &str, b: &str) -> (String, String) {
        if a < b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        }
    }
}

impl WorldControl for MadsimControl {
    fn crash(&mut self, host: &str) {
        if let Some(id) = self.node(host) {
            self.handle.kill(id);
        }
        if let Some(disk) = self.disks.get(host) {
            disk.crash(&mut self.tear);
        }
    }

    fn restart(&mut self, host: &str) {
        if let Some(id) = self.node(host) {
            self.handle.restart(id);
        }
    }

    fn partition_oneway(&mut self, from: &str, to: &str) {
        if let Some((a, b)) = self.link(from, to) {
            self.net.clog_link(a, b);
        }
    }

    fn repair_oneway(&mut self, from: &str, to: &str) {
        if let Some((a, b)) = self.link(from, to) {
            self.net.unclog_link(a, b);
        }
    }

    fn repair(&mut self, a: &str, b: &str) {
        self.repair_oneway(a, b);
        self.repair_oneway(b, a);
    }

    fn set_gray(&mut self, a: &str, b: &str, _base_ms: u64, ceiling_ms: u64, loss_percent: u8) {
        self.links
            .gray
            .borrow_mut()
            .insert(Self::gray_key(a, b), (ceiling_ms, loss_percent));
    }

    fn clear_gray(&mut self, a: &str, b: &str, _base_ms: u64) {
        self.links.gray.borrow_mut().remove(&Self::gray_key(a, b));
    }
}

/// One scenario run under `Runtime::check_determinism`, which takes a plain
/// `fn`: the scenario waits here.
static CHECKED: Mutex<Option<(Scenario, u64)>> = Mutex::new(None);
/// One check at a time per process.
static CHECK_GATE: Mutex<()> = Mutex::new(());

fn checked_run() -> BoxFut<'static, String> {
    let pending = CHECKED.lock().ok().and_then(|guard| guard.clone());
    Box::pin(async move {
        let Some((scenario, seed)) = pending else {
            return String::new();
        };
        let shared = new_shared(&scenario);
        let deployed = deploy::Deployed::new(&scenario);
        simulate(&scenario, seed, deployed, shared)
            .await
            .log
            .digest()
    })
}

/// Runs `scenario` twice under madsim's own determinism checker, which
/// records every random draw of the first run and fails the second at the
/// first draw that differs. Returns the digest, or what madsim reported.
pub fn check_determinism(scenario: &Scenario, seed: u64) -> Result<String, String> {
    let _gate = CHECK_GATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(mut slot) = CHECKED.lock() {
        *slot = Some((scenario.clone(), seed));
    }
    let result = catch_unwind(|| Runtime::check_determinism(seed, config(), checked_run));
    if let Ok(mut slot) = CHECKED.lock() {
        *slot = None;
    }
    result.map_err(|panic| panic_text(panic.as_ref()))
}

/// What a panic said, when it said it as text.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
