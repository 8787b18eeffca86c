//! The run loop on turmoil: build the world from a scenario, step simulated
//! time one tick at a time, apply the fault schedule at its times, heal
//! everything at `heal_at_ms`, then let the queue drain until every
//! acknowledged message is settled or the drain bound runs out.
//!
//! Faults are applied as a desired state (which hosts are down, which links
//! are cut) recomputed at every fault boundary and diffed against the
//! current one, so overlapping faults never restart a host another fault
//! still holds down.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use models::config::GatewayConfig;
use models::env::SharedEnv;
use traces::{EventKind, Log};

use crate::deploy::{self, DNS_HOST, mailbox_host, sender_host};
use crate::engine::drain;
use crate::engine::observer::Observer;
use crate::engine::spool_check::{Residue, SpoolDisks};
use crate::engine::turmoil_env::{DiskFault, Shared, TurmoilEnv};
use crate::faults::{DiskMode, Fault, FaultKind};
use crate::prng::derive_seed;
use crate::scenario::{Scenario, sender_domain};
use crate::workload::dns::MxDirectory;
use crate::workload::{dns, mailbox, sender};

const TICK: Duration = Duration::from_millis(1);
/// How often, in simulated time, the drain check looks at the log.
const DRAIN_CHECK_MS: u64 = 500;

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
}

pub fn run(scenario: &Scenario, seed: u64) -> RunArtifacts {
    let config = Rc::new(deploy::gateway_config(scenario));
    let directory = Rc::new(RefCell::new(deploy::mx_directory(scenario, &config)));
    let facts = deploy::facts(scenario, &config);
    let topology = &scenario.topology;

    let mut host_regions = BTreeMap::new();
    for region in &topology.regions {
        for host in topology.hosts_in_region(region) {
            host_regions.insert(host, region.name.clone());
        }
    }
    let shared = Rc::new(Shared {
        observer: Observer::new(),
        host_regions,
        disk_faults: RefCell::new(BTreeMap::new()),
        lost_disks: Default::default(),
        rejections: Default::default(),
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

    let boot_env = {
        let shared = shared.clone();
        move |host: &str, boots: &Cell<u32>| -> SharedEnv {
            boots.set(boots.get() + 1);
            if boots.get() > 1 {
                shared.observer.record(host, EventKind::HostRestarted {});
            }
            let host_seed = derive_seed(seed, &format!("{host}#{}", boots.get()));
            Rc::new(TurmoilEnv::new(host, shared.clone(), host_seed))
        }
    };

    let spool_disks = SpoolDisks::default();
    for gateway in &config.gateways {
        let (config, boot_env, name) = (config.clone(), boot_env.clone(), gateway.host.clone());
        let boots = Cell::new(0);
        let disks = spool_disks.clone();
        let shared = shared.clone();
        sim.host(gateway.host.as_str(), move || {
            let env = boot_env(&name, &boots);
            let (config, disks, name) = (config.clone(), disks.clone(), name.clone());
            let shared = shared.clone();
            async move {
                disks.capture(&name);
                shared.lost_disks.wipe_if_lost(&name);
                models::gateway::run(env, config).await;
                Ok(())
            }
        });
    }
    for controller in &config.controllers {
        let (config, boot_env, name) = (config.clone(), boot_env.clone(), controller.host.clone());
        let boots = Cell::new(0);
        sim.host(controller.host.as_str(), move || {
            let env = boot_env(&name, &boots);
            let config = config.clone();
            async move {
                models::control::run(env, config).await;
                Ok(())
            }
        });
    }
    for scanner in &config.scanners {
        let (config, boot_env, name) = (config.clone(), boot_env.clone(), scanner.host.clone());
        let boots = Cell::new(0);
        sim.host(scanner.host.as_str(), move || {
            let env = boot_env(&name, &boots);
            let config = config.clone();
            async move {
                models::scanner::run(env, config).await;
                Ok(())
            }
        });
    }
    {
        let (boot_env, directory) = (boot_env.clone(), directory.clone());
        let controllers: Vec<String> = config.controllers.iter().map(|n| n.host.clone()).collect();
        let boots = Cell::new(0);
        sim.host(DNS_HOST, move || {
            let env = boot_env(DNS_HOST, &boots);
            let (directory, controllers) = (directory.clone(), controllers.clone());
            async move {
                dns::serve_steered(env, directory, controllers).await;
                Ok(())
            }
        });
    }
    for tenant in &config.tenants {
        let (boot_env, name, domain) = (
            boot_env.clone(),
            mailbox_host(&tenant.name),
            tenant.domain.clone(),
        );
        let boots = Cell::new(0);
        let rejections = shared.rejections.clone();
        sim.host(name.clone().as_str(), move || {
            let env = boot_env(&name, &boots);
            let domains = vec![domain.clone()];
            let rejections = rejections.clone();
            async move {
                mailbox::serve(env, domains, rejections).await;
                Ok(())
            }
        });
    }
    for index in 0..scenario.workload.senders {
        let plans: Vec<_> = scenario
            .workload
            .messages
            .iter()
            .filter(|m| m.sender == index)
            .cloned()
            .collect();
        let settings = sender::SenderSettings {
            dns_host: DNS_HOST.to_string(),
            lifetime_ms: scenario.workload.sender_lifetime_ms,
            backoff_ms_min: scenario.workload.sender_backoff_ms_min,
            backoff_ms_max: scenario.workload.sender_backoff_ms_max,
            smtp_timeout_ms: scenario.knobs.smtp_command_timeout_ms.min(10_000),
        };
        let (boot_env, name) = (boot_env.clone(), sender_host(index));
        let boots = Cell::new(0);
        let rejections = shared.rejections.clone();
        sim.host(name.clone().as_str(), move || {
            let env = boot_env(&name, &boots);
            let (plans, settings) = (plans.clone(), settings.clone());
            let rejections = rejections.clone();
            let own_domain = vec![sender_domain(index)];
            async move {
                // The host lives as long as its DSN mailbox, not just until
                // its last send: DSNs arrive after that.
                let receiver = env.clone();
                tokio::join!(
                    sender::run(env, plans, settings),
                    mailbox::serve(receiver, own_domain, rejections)
                );
                Ok(())
            }
        });
    }

    set_latencies(&sim, scenario, &config);

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

    let mut world = FaultState::default();
    let mut healed = false;
    // Once drained, the world keeps running until every spool is empty or
    // the retention allowance is over (see `spool_check`).
    let mut drained_at_ms: Option<u64> = None;
    let retention_ms = scenario.knobs.spool_retention_ms();
    let mut host_failure = None;
    let end_ms = scenario.end_ms();
    let faults = &scenario.faults.faults;
    let mut boundaries: BTreeSet<u64> = faults
        .iter()
        .flat_map(|f| [f.at_ms, f.end_ms()])
        .filter(|&t| t < scenario.phases.heal_at_ms)
        .collect();
    boundaries.insert(scenario.phases.heal_at_ms);

    loop {
        let now_ms = sim.elapsed().as_millis() as u64;
        observer.set_now_us(sim.elapsed().as_micros() as u64);
        if boundaries.first().is_some_and(|&t| t <= now_ms) {
            while boundaries.first().is_some_and(|&t| t <= now_ms) {
                boundaries.pop_first();
            }
            if now_ms >= scenario.phases.heal_at_ms && !healed {
                healed = true;
                world.apply(&mut sim, &shared, &directory, scenario, &[], &config);
                observer.record(
                    "world",
                    EventKind::Phase {
                        phase: "drain".into(),
                    },
                );
            } else if !healed {
                let active: Vec<(u32, &Fault)> = faults
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.at_ms <= now_ms && now_ms < f.end_ms())
                    .map(|(i, f)| (i as u32, f))
                    .collect();
                world.apply(&mut sim, &shared, &directory, scenario, &active, &config);
            }
        }
        if healed && now_ms.is_multiple_of(DRAIN_CHECK_MS) {
            if drained_at_ms.is_none() && observer.with_log(|log| drain::is_drained(log, &facts)) {
                drained_at_ms = Some(now_ms);
            }
            if drained_at_ms
                .is_some_and(|at| spool_disks.all_empty() || now_ms >= at + retention_ms)
            {
                break;
            }
        }
        if now_ms >= end_ms && drained_at_ms.is_none() {
            break;
        }
        observer.set_now_us((sim.elapsed() + TICK).as_micros() as u64);
        if let Err(e) = sim.step() {
            host_failure = Some(e.to_string());
            break;
        }
    }
    observer.record(
        "world",
        EventKind::Phase {
            phase: "done".into(),
        },
    );
    let log = observer.take_log();
    let spool_residue = match drained_at_ms {
        Some(_) => spool_disks.residue(&log),
        None => Vec::new(),
    };
    RunArtifacts {
        log,
        sim_ms: sim.elapsed().as_millis() as u64,
        host_failure,
        spool_residue,
    }
}

fn set_latencies(sim: &turmoil::Sim<'_>, scenario: &Scenario, config: &GatewayConfig) {
    let topology = &scenario.topology;
    let hosts = all_hosts(scenario, config);
    for (i, a) in hosts.iter().enumerate() {
        for b in &hosts[i + 1..] {
            let latency =
                topology.latency_ms(topology.region_of_host(a), topology.region_of_host(b));
            sim.set_link_latency(a.as_str(), b.as_str(), Duration::from_millis(latency));
            sim.set_link_latency(b.as_str(), a.as_str(), Duration::from_millis(latency));
        }
    }
}

fn all_hosts(scenario: &Scenario, config: &GatewayConfig) -> Vec<String> {
    let mut hosts: Vec<String> = config.gateways.iter().map(|n| n.host.clone()).collect();
    hosts.extend(config.scanners.iter().map(|n| n.host.clone()));
    hosts.extend(config.controllers.iter().map(|n| n.host.clone()));
    hosts.push(DNS_HOST.to_string());
    hosts.extend(config.tenants.iter().map(|t| mailbox_host(&t.name)));
    hosts.extend((0..scenario.workload.senders).map(sender_host));
    hosts
}

/// Which hosts are down, which directed links are cut or gray, which disks
/// fail and which domains resolve stale, right now.
#[derive(Default)]
struct FaultState {
    active: BTreeSet<u32>,
    down: BTreeSet<String>,
    cut: BTreeSet<(String, String)>,
    /// Host pair (in name order) → (latency ceiling ms, loss percent).
    gray: BTreeMap<(String, String), (u64, u8)>,
    disks: BTreeMap<String, DiskMode>,
    /// Domain → the stale MX record served for it, fixed when it went stale.
    stale: BTreeMap<String, Vec<String>>,
}

impl FaultState {
    /// Moves the world to the state the `active` faults call for.
    fn apply(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        shared: &Shared,
        directory: &RefCell<MxDirectory>,
        scenario: &Scenario,
        active: &[(u32, &Fault)],
        config: &GatewayConfig,
    ) {
        let observer = &shared.observer;
        let topology = &scenario.topology;
        let all = all_hosts(scenario, config);
        let mut down = BTreeSet::new();
        let mut cut = BTreeSet::new();
        let mut gray: BTreeMap<(String, String), (u64, u8)> = BTreeMap::new();
        let mut disks: BTreeMap<String, DiskMode> = BTreeMap::new();
        let mut stale_tenants: BTreeSet<&str> = BTreeSet::new();
        let mut rejecting: BTreeSet<String> = BTreeSet::new();
        for (_, fault) in active {
            let region_hosts = |name: &str| {
                topology
                    .region(name)
                    .map(|r| topology.hosts_in_region(r))
                    .unwrap_or_default()
            };
            match &fault.kind {
                FaultKind::RegionCrash { region } => down.extend(region_hosts(region)),
                FaultKind::CloudOutage { cloud } => {
                    for region in topology.regions.iter().filter(|r| &r.cloud == cloud) {
                        down.extend(topology.hosts_in_region(region));
                    }
                }
                FaultKind::HostCrash { host } => {
                    down.insert(host.clone());
                }
                FaultKind::DiskLost { host } => {
                    down.insert(host.clone());
                    shared.lost_disks.mark(host);
                }
                FaultKind::MailboxRejects { domain } => {
                    rejecting.insert(domain.clone());
                }
                FaultKind::ScannerOutage { region } => {
                    if let Some(r) = topology.region(region) {
                        down.extend(topology.scanner_hosts(r));
                    }
                }
                FaultKind::MailboxOutage { tenant } => {
                    down.insert(mailbox_host(tenant));
                }
                FaultKind::RegionIsolation { region } => {
                    let inside = region_hosts(region);
                    for a in &inside {
                        for b in all.iter().filter(|h| !inside.contains(h)) {
                            cut.insert((a.clone(), b.clone()));
                            cut.insert((b.clone(), a.clone()));
                        }
                    }
                }
                FaultKind::Partition { from, to, one_way } => {
                    for a in region_hosts(from) {
                        for b in region_hosts(to) {
                            cut.insert((a.clone(), b.clone()));
                            if !one_way {
                                cut.insert((b.clone(), a.clone()));
                            }
                        }
                    }
                }
                FaultKind::GrayLink {
                    from,
                    to,
                    latency_ms,
                    loss_percent,
                } => {
                    for a in region_hosts(from) {
                        for b in region_hosts(to) {
                            // Overlapping gray links on one pair: the worst of each.
                            let pair = if a < b {
                                (a.clone(), b)
                            } else {
                                (b, a.clone())
                            };
                            let entry = gray.entry(pair).or_insert((0, 0));
                            entry.0 = entry.0.max(*latency_ms);
                            entry.1 = entry.1.max(*loss_percent);
                        }
                    }
                }
                FaultKind::Disk { host, mode } => {
                    // A full disk fails writes and syncs alike: it wins.
                    let entry = disks.entry(host.clone()).or_insert(*mode);
                    *entry = (*entry).max(*mode);
                }
                FaultKind::StaleDns { tenant } => {
                    stale_tenants.insert(tenant);
                }
            }
        }
        let now_active: BTreeSet<u32> = active.iter().map(|(i, _)| *i).collect();
        for ended in self.active.difference(&now_active) {
            observer.record("world", EventKind::FaultEnded { fault: *ended });
        }
        for (index, fault) in active {
            if !self.active.contains(index) {
                observer.record(
                    "world",
                    EventKind::FaultStarted {
                        fault: *index,
                        kind: fault.kind.name().to_string(),
                        target: fault.kind.target(),
                    },
                );
            }
        }
        for host in down.difference(&self.down) {
            sim.crash(host.as_str());
            observer.record(host, EventKind::HostCrashed {});
        }
        for host in self.down.difference(&down) {
            // The restart is recorded by the host's own boot.
            sim.bounce(host.as_str());
        }
        // A cut dominates a gray link's loss on the same pair: when turmoil
        // drops a message on a link it marks both directions failed and
        // heals both on the next message, which would lift a one-way cut.
        // So a cut pair carries no loss, and a pair that was lossy until
        // now is made healthy before it is cut (all its directions again).
        let is_cut = |a: &String, b: &String| {
            cut.contains(&(a.clone(), b.clone())) || cut.contains(&(b.clone(), a.clone()))
        };
        for ((a, b), (_, loss_percent)) in &self.gray {
            if *loss_percent > 0 && is_cut(a, b) {
                sim.repair(a.as_str(), b.as_str());
                self.cut.remove(&(a.clone(), b.clone()));
                self.cut.remove(&(b.clone(), a.clone()));
            }
        }
        for ((a, b), (_, loss_percent)) in gray.iter_mut() {
            if is_cut(a, b) {
                *loss_percent = 0;
            }
        }
        for (a, b) in cut.difference(&self.cut) {
            sim.partition_oneway(a.as_str(), b.as_str());
        }
        for (a, b) in self.cut.difference(&cut) {
            sim.repair_oneway(a.as_str(), b.as_str());
        }
        self.apply_gray(sim, topology, gray);
        *shared.disk_faults.borrow_mut() = disks
            .iter()
            .map(|(host, mode)| {
                let fault = match mode {
                    DiskMode::FsyncError => DiskFault::FsyncError,
                    DiskMode::Full => DiskFault::Full,
                };
                (host.clone(), fault)
            })
            .collect();
        self.apply_stale_dns(directory, scenario, config, &stale_tenants);
        shared.rejections.set(rejecting);
        self.active = now_active;
        self.down = down;
        self.cut = cut;
        self.disks = disks;
    }

    /// Sets spiky latency and loss on the links that turned gray and gives
    /// the links that healed their topology latency back, loss-free.
    fn apply_gray(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        topology: &crate::topology::Topology,
        gray: BTreeMap<(String, String), (u64, u8)>,
    ) {
        for ((a, b), (latency_ms, loss_percent)) in &gray {
            if self.gray.get(&(a.clone(), b.clone())) == Some(&(*latency_ms, *loss_percent)) {
                continue;
            }
            let base = topology.latency_ms(topology.region_of_host(a), topology.region_of_host(b));
            // The floor stays at the topology latency; the ceiling rises, so
            // most messages are on time and a few are very late.
            sim.set_link_latency(a.as_str(), b.as_str(), Duration::from_millis(base));
            let ceiling = Duration::from_millis((*latency_ms).max(base));
            sim.set_link_max_message_latency(a.as_str(), b.as_str(), ceiling);
            sim.set_link_fail_rate(a.as_str(), b.as_str(), f64::from(*loss_percent) / 100.0);
        }
        for (a, b) in self.gray.keys().filter(|pair| !gray.contains_key(*pair)) {
            let base = topology.latency_ms(topology.region_of_host(a), topology.region_of_host(b));
            sim.set_link_latency(a.as_str(), b.as_str(), Duration::from_millis(base));
            sim.set_link_fail_rate(a.as_str(), b.as_str(), 0.0);
        }
        self.gray = gray;
    }

    /// Makes the `dns` host serve a stale record for each newly stale
    /// tenant's domain (fixed now, from the live record), and the live one
    /// again for domains no longer stale.
    fn apply_stale_dns(
        &mut self,
        directory: &RefCell<MxDirectory>,
        scenario: &Scenario,
        config: &GatewayConfig,
        stale_tenants: &BTreeSet<&str>,
    ) {
        let mut stale = BTreeMap::new();
        for tenant in config
            .tenants
            .iter()
            .filter(|t| stale_tenants.contains(t.name.as_str()))
        {
            let record = match self.stale.remove(&tenant.domain) {
                Some(record) => record,
                None => stale_record(scenario, config, tenant, &directory.borrow()),
            };
            stale.insert(tenant.domain.clone(), record);
        }
        let mut directory = directory.borrow_mut();
        for domain in self.stale.keys() {
            directory.stale.remove(domain);
        }
        for (domain, record) in &stale {
            directory.stale.insert(domain.clone(), record.clone());
        }
        self.stale = stale;
    }
}

/// The record from before `tenant` was bound to its jurisdiction: every
/// gateway outside it first (in topology order), then the tenant's gateways
/// as the live record lists them now.
fn stale_record(
    scenario: &Scenario,
    config: &GatewayConfig,
    tenant: &models::config::Tenant,
    directory: &MxDirectory,
) -> Vec<String> {
    let jurisdiction = scenario
        .tenants
        .iter()
        .find(|t| t.name == tenant.name)
        .map(|t| t.jurisdiction.clone())
        .unwrap_or_default();
    let mut record: Vec<String> = config
        .gateways
        .iter()
        .filter(|n| {
            config
                .region(&n.region)
                .is_some_and(|r| r.jurisdiction != jurisdiction)
        })
        .map(|n| n.host.clone())
        .collect();
    record.extend(
        directory
            .hosts(&tenant.domain)
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
    );
    record
}
