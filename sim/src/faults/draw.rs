//! Drawing a fault schedule from a seed, per family. Calm, region-outage and
//! cloud-outage draw exactly what they always did (their seeds are pinned by
//! tests and saved failure files); swarm draws, per seed, its own fault
//! model, mix of fault kinds, number of faults, their lengths and their
//! severity, so a sweep over swarm seeds covers rare mixes as well as the
//! common ones.

use models::config::Knobs;

use crate::faults::dependencies::partitionable_hosts;
use crate::faults::honest_families::DISK_MODES;
use crate::faults::{DnsMode, Fault, FaultKind, FaultModel, FaultSchedule, MailboxMode, families};
use crate::prng::Prng;
use crate::scenario::{Family, TenantSpec, sender_domain};
use crate::topology::Topology;

/// The kinds a swarm can draw, in the order their weights are drawn: every
/// kind of the catalogue (`swarm_draws_every_kind_of_the_catalogue` checks).
const SWARM_KINDS: [&str; 17] = [
    "region_crash",
    "region_isolation",
    "cloud_outage",
    "partition",
    "gray_link",
    "host_crash",
    "disk",
    "scanner_outage",
    "mailbox_outage",
    "stale_dns",
    "disk_lost",
    "mailbox_rejects",
    "mailbox_misbehaves",
    "dns_fails",
    "host_partition",
    "clock",
    "pause",
];

/// Share of the swarm's clock and pause faults drawn beyond their bounds
/// (`models::tolerances`). None yet: beyond the clock bound the correct
/// gateway may expire mail early (queue expiry compares two hosts' clocks),
/// which `no_false_bounce` judges even beyond the model; the `clock-skew`
/// family goes there on purpose instead.
const PROCESS_FAULTS_BEYOND_PERCENT: u64 = 0;

impl FaultSchedule {
    /// Draws a schedule of the given family, ending before `heal_at_ms`.
    pub fn draw(
        prng: &mut Prng,
        family: Family,
        topology: &Topology,
        tenants: &[TenantSpec],
        senders: u32,
        knobs: &Knobs,
        heal_at_ms: u64,
    ) -> FaultSchedule {
        let mut faults = Vec::new();
        let window = |prng: &mut Prng| {
            let at_ms = prng.range(2_000, heal_at_ms / 2);
            let duration_ms = prng.range(3_000, heal_at_ms - at_ms);
            (at_ms, duration_ms)
        };
        let model = match family {
            Family::Calm => FaultModel::OneRegion,
            Family::RegionOutage => {
                let region = prng.pick(&topology.regions).name.clone();
                let (at_ms, duration_ms) = window(prng);
                let kind = if prng.percent(60) {
                    FaultKind::RegionCrash { region }
                } else {
                    FaultKind::RegionIsolation { region }
                };
                faults.push(Fault {
                    at_ms,
                    duration_ms,
                    kind,
                });
                FaultModel::OneRegion
            }
            Family::CloudOutage => {
                let clouds = topology.clouds();
                let cloud = prng.pick(&clouds).clone();
                let (at_ms, duration_ms) = window(prng);
                faults.push(Fault {
                    at_ms,
                    duration_ms,
                    kind: FaultKind::CloudOutage { cloud },
                });
                FaultModel::OneCloud
            }
            Family::Swarm => return swarm(prng, topology, tenants, senders, heal_at_ms),
            Family::Bounces => {
                return families::bounces(
                    prng,
                    tenants,
                    senders,
                    knobs.queue_lifetime_ms,
                    heal_at_ms,
                );
            }
            Family::DiskLoss => return families::disk_loss(prng, topology, heal_at_ms),
            Family::PowerLoss => return families::power_loss(prng, topology, tenants, heal_at_ms),
            Family::ScannerOutage => return families::scanner_outage(prng, topology, heal_at_ms),
            Family::ClockSkew => {
                let bounces =
                    families::bounces(prng, tenants, senders, knobs.queue_lifetime_ms, heal_at_ms);
                return families::clock_skew(prng, topology, bounces, heal_at_ms);
            }
            Family::DiskFaults => {
                return crate::faults::honest_families::disk_faults(prng, topology, heal_at_ms);
            }
            Family::Dependencies => {
                return crate::faults::honest_families::dependencies(
                    prng, tenants, senders, heal_at_ms,
                );
            }
        };
        FaultSchedule {
            model,
            faults,
            torn_write_block_bytes: None,
        }
    }
}

const MAILBOX_MODES: [MailboxMode; 6] = [
    MailboxMode::Greylist,
    MailboxMode::Tarpit,
    MailboxMode::DropAfterData,
    MailboxMode::ResetMidData,
    MailboxMode::UnknownUser,
    MailboxMode::LongRefusal,
];

const DNS_MODES: [DnsMode; 3] = [DnsMode::Servfail, DnsMode::Timeout, DnsMode::Flap];

/// A mail domain: a tenant's most of the time, else a sender's own (where
/// DSNs land and the gateway is the one looking up and delivering).
fn mail_domain(prng: &mut Prng, tenants: &[TenantSpec], senders: u32) -> String {
    if senders > 0 && prng.percent(30) {
        sender_domain(prng.range(0, u64::from(senders)) as u32)
    } else {
        prng.pick(tenants).domain.clone()
    }
}

/// How one swarm seed misbehaves: drawn once, then every fault follows it.
struct Mix {
    /// Relative weight of each of [`SWARM_KINDS`]; zero leaves a kind out.
    weights: [u64; SWARM_KINDS.len()],
    /// Longest fault, in ms: some seeds flicker, others stay broken.
    duration_ms_max: u64,
    /// Worst gray-link latency ceiling and loss this seed draws.
    gray_latency_ms_max: u64,
    gray_loss_percent_max: u64,
    /// Relative weight of each disk mode (`honest_families::DISK_MODES`),
    /// of each mail-server misbehaviour and of each DNS failure; zero
    /// leaves a mode out of this seed.
    disk_mode_weights: Vec<u64>,
    mailbox_mode_weights: Vec<u64>,
    dns_mode_weights: Vec<u64>,
}

/// Per-seed weights for `count` modes: each switched off with 40%
/// probability, else weighted 1 to 4; at least one stays on.
fn mode_weights(prng: &mut Prng, count: usize) -> Vec<u64> {
    let mut weights: Vec<u64> = (0..count)
        .map(|_| {
            if prng.percent(40) {
                0
            } else {
                prng.range(1, 5)
            }
        })
        .collect();
    if weights.iter().all(|&w| w == 0) {
        weights[prng.range(0, count as u64) as usize] = 1;
    }
    weights
}

/// An index drawn in proportion to `weights` (not all zero).
fn weighted(prng: &mut Prng, weights: &[u64]) -> usize {
    let mut draw = prng.range(0, weights.iter().sum::<u64>().max(1));
    for (index, &weight) in weights.iter().enumerate() {
        if draw < weight {
            return index;
        }
        draw -= weight;
    }
    0
}

fn draw_mix(prng: &mut Prng, model: FaultModel, heal_at_ms: u64) -> Mix {
    let mut weights = [0u64; SWARM_KINDS.len()];
    for (kind, weight) in SWARM_KINDS.iter().zip(&mut weights) {
        *weight = if prng.percent(40) {
            0
        } else {
            prng.range(1, 5)
        };
        // A cloud outage is always beyond one region: drawing it there
        // would only excuse properties, so only one-cloud seeds draw it.
        if *kind == "cloud_outage" && model == FaultModel::OneRegion {
            *weight = 0;
        }
    }
    if weights.iter().all(|&w| w == 0) {
        weights[prng.range(0, weights.len() as u64) as usize] = 1;
    }
    Mix {
        weights,
        duration_ms_max: prng.range(2_000, heal_at_ms / 2),
        gray_latency_ms_max: prng.range(100, 4_000),
        gray_loss_percent_max: prng.range(0, 40),
        disk_mode_weights: mode_weights(prng, DISK_MODES.len()),
        mailbox_mode_weights: mode_weights(prng, MAILBOX_MODES.len()),
        dns_mode_weights: mode_weights(prng, DNS_MODES.len()),
    }
}

fn swarm(
    prng: &mut Prng,
    topology: &Topology,
    tenants: &[TenantSpec],
    senders: u32,
    heal_at_ms: u64,
) -> FaultSchedule {
    // A quarter of the seeds promise only to survive a whole cloud, so the
    // same mixes are also judged under the wider model.
    let model = if prng.percent(25) {
        FaultModel::OneCloud
    } else {
        FaultModel::OneRegion
    };
    let mix = draw_mix(prng, model, heal_at_ms);
    let torn_write_block_bytes = prng.percent(50).then(|| *prng.pick(&[512, 4_096]));
    let count = prng.range(1, 7);
    let total: u64 = mix.weights.iter().sum();
    let mut faults = Vec::new();
    for _ in 0..count {
        let at_ms = prng.range(1_000, heal_at_ms * 3 / 4);
        let longest = mix.duration_ms_max.min(heal_at_ms - at_ms).max(501);
        let duration_ms = prng.range(500, longest);
        let mut draw = prng.range(0, total);
        let mut chosen = 0;
        for (index, &weight) in mix.weights.iter().enumerate() {
            if draw < weight {
                chosen = index;
                break;
            }
            draw -= weight;
        }
        faults.push(draw_fault(
            prng,
            SWARM_KINDS[chosen],
            &mix,
            topology,
            tenants,
            senders,
            at_ms,
            duration_ms,
        ));
    }
    faults.sort_by_key(|f| f.at_ms);
    FaultSchedule {
        model,
        faults,
        torn_write_block_bytes,
    }
}

/// One fault of the kind `name` from `at_ms`, its target and severity
/// drawn under `mix`. Clocks and pauses carry their own lengths and bounds.
#[allow(clippy::too_many_arguments)]
fn draw_fault(
    prng: &mut Prng,
    name: &str,
    mix: &Mix,
    topology: &Topology,
    tenants: &[TenantSpec],
    senders: u32,
    at_ms: u64,
    duration_ms: u64,
) -> Fault {
    let gateways = |prng: &mut Prng| topology.gateway_hosts(&prng.pick(&topology.regions).clone());
    match name {
        "clock" => {
            let hosts = gateways(prng);
            crate::faults::clock::draw(
                prng,
                &hosts,
                at_ms,
                duration_ms,
                PROCESS_FAULTS_BEYOND_PERCENT,
            )
        }
        "pause" => {
            let hosts = gateways(prng);
            crate::faults::pause::draw(prng, &hosts, at_ms, PROCESS_FAULTS_BEYOND_PERCENT)
        }
        name => Fault {
            at_ms,
            duration_ms,
            kind: swarm_kind(prng, name, mix, topology, tenants, senders),
        },
    }
}

/// A fault of any kind the swarm can draw, every kind and mode equally
/// likely, from `at_ms`: what a search adds to a schedule, so it can reach
/// every fault the swarm can (clocks, pauses, honest disks and
/// dependencies included), not a shorter list of its own.
pub fn any_fault(
    prng: &mut Prng,
    topology: &Topology,
    tenants: &[TenantSpec],
    senders: u32,
    at_ms: u64,
    duration_ms: u64,
) -> Fault {
    let name = *prng.pick(&SWARM_KINDS);
    let mix = Mix {
        weights: [1; SWARM_KINDS.len()],
        duration_ms_max: duration_ms,
        gray_latency_ms_max: prng.range(100, 4_000),
        gray_loss_percent_max: prng.range(0, 40),
        disk_mode_weights: vec![1; DISK_MODES.len()],
        mailbox_mode_weights: vec![1; MAILBOX_MODES.len()],
        dns_mode_weights: vec![1; DNS_MODES.len()],
    };
    draw_fault(
        prng,
        name,
        &mix,
        topology,
        tenants,
        senders,
        at_ms,
        duration_ms,
    )
}

fn swarm_kind(
    prng: &mut Prng,
    name: &str,
    mix: &Mix,
    topology: &Topology,
    tenants: &[TenantSpec],
    senders: u32,
) -> FaultKind {
    let region = prng.pick(&topology.regions).clone();
    // A second region, never the first: a link from a region to itself is
    // not a link between regions.
    let mut other = || {
        let others: Vec<_> = topology
            .regions
            .iter()
            .filter(|r| r.name != region.name)
            .collect();
        if others.is_empty() {
            region.name.clone()
        } else {
            prng.pick(&others).name.clone()
        }
    };
    match name {
        "region_crash" => FaultKind::RegionCrash {
            region: region.name.clone(),
        },
        "region_isolation" => FaultKind::RegionIsolation {
            region: region.name.clone(),
        },
        "cloud_outage" => FaultKind::CloudOutage {
            cloud: region.cloud.clone(),
        },
        "partition" => {
            let to = other();
            FaultKind::Partition {
                from: region.name.clone(),
                to,
                one_way: prng.percent(50),
            }
        }
        "gray_link" => {
            let to = other();
            let floor = topology.latency_ms_inter;
            FaultKind::GrayLink {
                from: region.name.clone(),
                to,
                latency_ms: prng.range(floor, mix.gray_latency_ms_max.max(floor + 1)),
                loss_percent: prng.range(0, mix.gray_loss_percent_max + 1) as u8,
            }
        }
        "host_crash" => FaultKind::HostCrash {
            host: prng.pick(&topology.gateway_hosts(&region)).clone(),
        },
        "disk" => FaultKind::Disk {
            host: prng.pick(&topology.gateway_hosts(&region)).clone(),
            mode: DISK_MODES[weighted(prng, &mix.disk_mode_weights)],
        },
        "disk_lost" => FaultKind::DiskLost {
            host: prng.pick(&topology.gateway_hosts(&region)).clone(),
        },
        "mailbox_rejects" => FaultKind::MailboxRejects {
            domain: mail_domain(prng, tenants, senders),
        },
        "mailbox_misbehaves" => FaultKind::MailboxMisbehaves {
            domain: mail_domain(prng, tenants, senders),
            mode: MAILBOX_MODES[weighted(prng, &mix.mailbox_mode_weights)],
        },
        "dns_fails" => FaultKind::DnsFails {
            domain: mail_domain(prng, tenants, senders),
            mode: DNS_MODES[weighted(prng, &mix.dns_mode_weights)],
        },
        "host_partition" => {
            // Two single hosts: inside the region half the time, else any.
            let inside = topology.hosts_in_region(&region);
            let all = partitionable_hosts(topology);
            let pool = if inside.len() > 1 && prng.percent(50) {
                inside
            } else {
                all
            };
            let from = prng.pick(&pool).clone();
            let others: Vec<String> = pool.iter().filter(|h| **h != from).cloned().collect();
            let to = if others.is_empty() {
                from.clone()
            } else {
                prng.pick(&others).clone()
            };
            FaultKind::HostPartition {
                from,
                to,
                one_way: prng.percent(50),
            }
        }
        "scanner_outage" => FaultKind::ScannerOutage {
            region: region.name.clone(),
        },
        "mailbox_outage" => FaultKind::MailboxOutage {
            tenant: prng.pick(tenants).name.clone(),
        },
        _ => FaultKind::StaleDns {
            tenant: prng.pick(tenants).name.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::scenario::Scenario;

    /// Every `"name"` that `FaultKind::name` returns, read from its source,
    /// so a kind added to the catalogue without a swarm draw fails here.
    fn catalogue_kinds() -> BTreeSet<String> {
        let source = include_str!("../faults.rs");
        let body = source
            .split("pub fn name(&self) -> &'static str {")
            .nth(1)
            .expect("FaultKind::name in faults.rs");
        let body = &body[..body.find("\n    }\n").expect("end of name")];
        body.lines()
            .filter_map(|line| line.split("=> \"").nth(1))
            .map(|rest| rest.trim_end_matches("\",").to_string())
            .collect()
    }

    #[test]
    fn swarm_draws_every_kind_of_the_catalogue_and_every_mode() {
        let catalogue = catalogue_kinds();
        assert!(catalogue.len() >= 15, "{catalogue:?}");
        let listed: BTreeSet<String> = SWARM_KINDS.iter().map(|k| k.to_string()).collect();
        assert_eq!(listed, catalogue, "SWARM_KINDS against FaultKind::name");
        let mut drawn = BTreeSet::new();
        for seed in 0..400 {
            let scenario = Scenario::generate_family(seed, Family::Swarm);
            scenario.validate().expect("a swarm scenario is valid");
            for fault in &scenario.faults.faults {
                drawn.insert(fault.kind.name().to_string());
                let mode = match &fault.kind {
                    FaultKind::Disk { mode, .. } => Some(mode.name().to_string()),
                    FaultKind::MailboxMisbehaves { mode, .. } => Some(mode.name().to_string()),
                    FaultKind::DnsFails { mode, .. } => Some(mode.name().to_string()),
                    _ => None,
                };
                drawn.extend(mode.map(|m| format!("{}:{m}", fault.kind.name())));
            }
        }
        for kind in &catalogue {
            assert!(drawn.contains(kind), "no swarm seed drew {kind}");
        }
        let modes = DISK_MODES.len() + MAILBOX_MODES.len() + DNS_MODES.len();
        assert_eq!(drawn.len(), catalogue.len() + modes, "{drawn:?}");
    }

    #[test]
    fn a_search_can_add_every_kind_and_mode_the_swarm_draws() {
        let parent = Scenario::generate_family(3, Family::Swarm);
        let mut prng = Prng::new(5);
        let mut drawn = BTreeSet::new();
        for _ in 0..2_000 {
            let mut scenario = parent.clone();
            let fault = any_fault(
                &mut prng,
                &scenario.topology,
                &scenario.tenants,
                scenario.workload.senders,
                10_000,
                5_000,
            );
            drawn.insert(fault.kind.name().to_string());
            if let FaultKind::Disk { mode, .. } = &fault.kind {
                drawn.insert(format!("disk:{}", mode.name()));
            }
            scenario.faults.faults.push(fault);
            scenario.faults.faults.sort_by_key(|f| f.at_ms);
            scenario
                .validate()
                .expect("an added fault keeps the scenario valid");
        }
        assert_eq!(
            drawn.len(),
            SWARM_KINDS.len() + DISK_MODES.len(),
            "{drawn:?}"
        );
    }
}
