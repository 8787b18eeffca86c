//! Drawing a fault schedule from a seed, per family. Calm, region-outage and
//! cloud-outage draw exactly what they always did (their seeds are pinned by
//! tests and saved failure files); swarm draws, per seed, its own fault
//! model, mix of fault kinds, number of faults, their lengths and their
//! severity, so a sweep over swarm seeds covers rare mixes as well as the
//! common ones.

use models::config::Knobs;

use crate::faults::{DiskMode, Fault, FaultKind, FaultModel, FaultSchedule, families};
use crate::prng::Prng;
use crate::scenario::{Family, TenantSpec};
use crate::topology::Topology;

/// The kinds a swarm can draw, in the order their weights are drawn.
const SWARM_KINDS: [&str; 10] = [
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
];

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
            Family::Swarm => return swarm(prng, topology, tenants, heal_at_ms),
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
        };
        FaultSchedule {
            model,
            faults,
            torn_write_block_bytes: None,
        }
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
    /// Share of disk faults that are full disks (the rest fail fsync).
    disk_full_percent: u64,
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
        disk_full_percent: prng.range(0, 101),
    }
}

fn swarm(
    prng: &mut Prng,
    topology: &Topology,
    tenants: &[TenantSpec],
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
        let kind = swarm_kind(prng, SWARM_KINDS[chosen], &mix, topology, tenants);
        faults.push(Fault {
            at_ms,
            duration_ms,
            kind,
        });
    }
    faults.sort_by_key(|f| f.at_ms);
    FaultSchedule {
        model,
        faults,
        torn_write_block_bytes,
    }
}

fn swarm_kind(
    prng: &mut Prng,
    name: &str,
    mix: &Mix,
    topology: &Topology,
    tenants: &[TenantSpec],
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
            mode: if prng.percent(mix.disk_full_percent) {
                DiskMode::Full
            } else {
                DiskMode::FsyncError
            },
        },
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
