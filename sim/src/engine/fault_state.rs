//! The world a fault schedule calls for, engine-independent: at every
//! fault boundary the run loop computes the desired state (which hosts are
//! down, which directed links are cut or gray, which disks fail, which
//! domains resolve stale) from the active faults and applies only the
//! difference through [`WorldControl`], so overlapping faults compose and a
//! host another fault still holds down is never restarted early.
//!
//! Each engine implements [`WorldControl`] on its own primitives (turmoil:
//! crash/bounce/partition; madsim: kill/restart/clog plus our own link
//! delays); the decisions are made once, here.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use models::config::GatewayConfig;
use traces::EventKind;

use crate::deploy::mailbox_hosts;
use crate::engine::dependency_faults::DependencyFaults;
use crate::engine::hosts::all_hosts;
use crate::engine::process_faults::ProcessFaults;
use crate::engine::seam::{DiskFault, Shared};
use crate::faults::{DiskMode, Fault, FaultKind};
use crate::scenario::Scenario;
use crate::topology::Topology;
use crate::workload::dns::MxDirectory;

/// An engine's levers on the simulated world.
pub trait WorldControl {
    /// Takes `host` down (unsynced disk state is lost).
    fn crash(&mut self, host: &str);
    /// Boots `host` again after a crash.
    fn restart(&mut self, host: &str);
    /// Stops traffic from `from` to `to`.
    fn partition_oneway(&mut self, from: &str, to: &str);
    /// Lets traffic from `from` to `to` flow again.
    fn repair_oneway(&mut self, from: &str, to: &str);
    /// Lets traffic flow both ways between `a` and `b`.
    fn repair(&mut self, a: &str, b: &str);
    /// Makes the link between `a` and `b` gray: latency between `base` and
    /// `ceiling`, and `loss_percent` of the traffic lost.
    fn set_gray(&mut self, a: &str, b: &str, base_ms: u64, ceiling_ms: u64, loss_percent: u8);
    /// Gives the link between `a` and `b` its topology latency back, loss-free.
    fn clear_gray(&mut self, a: &str, b: &str, base_ms: u64);
}

/// The faults active at `now_ms`, with their index in the schedule.
pub fn active_faults(faults: &[Fault], now_ms: u64) -> Vec<(u32, &Fault)> {
    faults
        .iter()
        .enumerate()
        .filter(|(_, f)| f.at_ms <= now_ms && now_ms < f.end_ms())
        .map(|(i, f)| (i as u32, f))
        .collect()
}

/// Which hosts are down, which directed links are cut or gray, which disks
/// fail and which domains resolve stale, right now.
#[derive(Default)]
pub struct FaultState {
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
    pub fn apply(
        &mut self,
        sim: &mut dyn WorldControl,
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
        let mut process = ProcessFaults::default();
        let mut dependencies = DependencyFaults::default();
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
                FaultKind::ScannerOutage { region } => {
                    if let Some(r) = topology.region(region) {
                        down.extend(topology.scanner_hosts(r));
                    }
                }
                FaultKind::DiskLost { host } => {
                    down.insert(host.clone());
                    shared.lost_disks.mark(host);
                }
                FaultKind::MailboxRejects { domain } => {
                    rejecting.insert(domain.clone());
                }
                FaultKind::MailboxOutage { tenant } => {
                    let spec = scenario.tenants.iter().find(|t| &t.name == tenant);
                    down.extend(spec.into_iter().flat_map(mailbox_hosts));
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
                    // A full disk fails writes and syncs alike: it wins;
                    // otherwise the later-listed mode of `DiskMode`.
                    let entry = disks.entry(host.clone()).or_insert(*mode);
                    *entry = (*entry).max(*mode);
                }
                FaultKind::StaleDns { tenant } => {
                    stale_tenants.insert(tenant);
                }
                FaultKind::Clock { .. } | FaultKind::Pause { .. } => process.add(fault),
                FaultKind::HostPartition { from, to, one_way } => {
                    cut.insert((from.clone(), to.clone()));
                    if !one_way {
                        cut.insert((to.clone(), from.clone()));
                    }
                }
                FaultKind::MailboxMisbehaves { .. } | FaultKind::DnsFails { .. } => {
                    dependencies.add(&fault.kind);
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
            sim.crash(host);
            observer.record(host, EventKind::HostCrashed {});
        }
        for host in self.down.difference(&down) {
            // The restart is recorded by the host's own boot.
            sim.restart(host);
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
                sim.repair(a, b);
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
            sim.partition_oneway(a, b);
        }
        for (a, b) in self.cut.difference(&cut) {
            sim.repair_oneway(a, b);
        }
        self.apply_gray(sim, topology, gray);
        *shared.disk_faults.borrow_mut() = disks
            .iter()
            .map(|(host, mode)| {
                let fault = match mode {
                    DiskMode::FsyncError => DiskFault::FsyncError,
                    DiskMode::ReadError => DiskFault::ReadError,
                    DiskMode::CorruptRead => DiskFault::CorruptRead,
                    DiskMode::FsyncForgets => DiskFault::FsyncForgets,
                    DiskMode::FullMidWrite => DiskFault::FullMidWrite,
                    DiskMode::Full => DiskFault::Full,
                    DiskMode::Slow => DiskFault::Slow,
                };
                (host.clone(), fault)
            })
            .collect();
        self.apply_stale_dns(directory, scenario, config, &stale_tenants);
        shared.rejections.set(rejecting);
        process.apply(&shared.host_faults);
        dependencies.apply(shared, directory);
        self.active = now_active;
        self.down = down;
        self.cut = cut;
        self.disks = disks;
    }

    /// Sets spiky latency and loss on the links that turned gray and gives
    /// the links that healed their topology latency back, loss-free.
    fn apply_gray(
        &mut self,
        sim: &mut dyn WorldControl,
        topology: &Topology,
        gray: BTreeMap<(String, String), (u64, u8)>,
    ) {
        for ((a, b), (latency_ms, loss_percent)) in &gray {
            if self.gray.get(&(a.clone(), b.clone())) == Some(&(*latency_ms, *loss_percent)) {
                continue;
            }
            let base = topology.latency_ms(topology.region_of_host(a), topology.region_of_host(b));
            // The floor stays at the topology latency; the ceiling rises, so
            // most messages are on time and a few are very late.
            sim.set_gray(a, b, base, (*latency_ms).max(base), *loss_percent);
        }
        for (a, b) in self.gray.keys().filter(|pair| !gray.contains_key(*pair)) {
            let base = topology.latency_ms(topology.region_of_host(a), topology.region_of_host(b));
            sim.clear_gray(a, b, base);
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
