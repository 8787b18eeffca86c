//! The fault schedule of a run and the fault model it is judged against.
//!
//! A fault is a plain value with a start and a length in simulated time; the
//! engine applies it at its start and undoes it at its end (or at heal time,
//! whichever comes first). The fault model is the gateway's promise: inside
//! it every property must hold; beyond it only "nothing acknowledged is lost"
//! and "drains after heal" must.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::prng::Prng;
use crate::scenario::{Family, TenantSpec};
use crate::topology::Topology;

/// What the gateway promises to survive at one time.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultModel {
    /// Any one region down (crashed or isolated) at a time.
    OneRegion,
    /// Any one cloud provider down at a time.
    OneCloud,
}

impl fmt::Display for FaultModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultModel::OneRegion => write!(f, "one region down at a time"),
            FaultModel::OneCloud => write!(f, "one cloud down at a time"),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Every host of the region crashes (unsynced writes lost), restarts at the end.
    RegionCrash { region: String },
    /// The region is cut off from everything else; its processes keep running.
    RegionIsolation { region: String },
    /// Every host of every region of one cloud crashes.
    CloudOutage { cloud: String },
    /// Traffic between two regions is dropped; one-way drops only `from`→`to`.
    Partition {
        from: String,
        to: String,
        one_way: bool,
    },
    /// One host crashes and restarts at the end.
    HostCrash { host: String },
    /// The region's scanners are down.
    ScannerOutage { region: String },
    /// A tenant's mailbox server is down.
    MailboxOutage { tenant: String },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub at_ms: u64,
    pub duration_ms: u64,
    /// What goes wrong (`{"kind": "region_crash", "region": "us-east-1"}`).
    #[serde(rename = "fault")]
    pub kind: FaultKind,
}

impl Fault {
    pub fn end_ms(&self) -> u64 {
        self.at_ms + self.duration_ms
    }

    /// Regions this fault takes out entirely while active.
    pub fn regions_down(&self, topology: &Topology) -> Vec<String> {
        match &self.kind {
            FaultKind::RegionCrash { region } | FaultKind::RegionIsolation { region } => {
                vec![region.clone()]
            }
            FaultKind::CloudOutage { cloud } => topology
                .regions
                .iter()
                .filter(|r| &r.cloud == cloud)
                .map(|r| r.name.clone())
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            FaultKind::RegionCrash { region } => format!("region crash {region}"),
            FaultKind::RegionIsolation { region } => format!("region isolation {region}"),
            FaultKind::CloudOutage { cloud } => format!("cloud outage {cloud}"),
            FaultKind::Partition { from, to, one_way } => {
                let arrow = if *one_way { "->" } else { "<->" };
                format!("partition {from} {arrow} {to}")
            }
            FaultKind::HostCrash { host } => format!("host crash {host}"),
            FaultKind::ScannerOutage { region } => format!("scanner outage {region}"),
            FaultKind::MailboxOutage { tenant } => format!("mailbox outage {tenant}"),
        };
        write!(f, "{what} at {} ms for {} ms", self.at_ms, self.duration_ms)
    }
}

impl FaultKind {
    /// Short name, as in the log's `fault_started.kind`.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::RegionCrash { .. } => "region_crash",
            FaultKind::RegionIsolation { .. } => "region_isolation",
            FaultKind::CloudOutage { .. } => "cloud_outage",
            FaultKind::Partition { .. } => "partition",
            FaultKind::HostCrash { .. } => "host_crash",
            FaultKind::ScannerOutage { .. } => "scanner_outage",
            FaultKind::MailboxOutage { .. } => "mailbox_outage",
        }
    }

    /// What it targets, as in the log's `fault_started.target`.
    pub fn target(&self) -> String {
        match self {
            FaultKind::RegionCrash { region }
            | FaultKind::RegionIsolation { region }
            | FaultKind::ScannerOutage { region } => region.clone(),
            FaultKind::CloudOutage { cloud } => cloud.clone(),
            FaultKind::Partition { from, to, .. } => format!("{from},{to}"),
            FaultKind::HostCrash { host } => host.clone(),
            FaultKind::MailboxOutage { tenant } => tenant.clone(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FaultSchedule {
    pub model: FaultModel,
    pub faults: Vec<Fault>,
}

impl FaultSchedule {
    /// Draws a schedule of the given family, ending before `heal_at_ms`.
    pub fn draw(
        prng: &mut Prng,
        family: Family,
        topology: &Topology,
        tenants: &[TenantSpec],
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
            Family::Swarm => {
                let count = prng.range(1, 5);
                for _ in 0..count {
                    let (at_ms, duration_ms) = window(prng);
                    let region = prng.pick(&topology.regions).clone();
                    let kind = match prng.range(0, 6) {
                        0 => FaultKind::RegionCrash {
                            region: region.name,
                        },
                        1 => FaultKind::RegionIsolation {
                            region: region.name,
                        },
                        2 => {
                            let other = prng.pick(&topology.regions).name.clone();
                            FaultKind::Partition {
                                from: region.name,
                                to: other,
                                one_way: prng.percent(50),
                            }
                        }
                        3 => FaultKind::HostCrash {
                            host: prng.pick(&topology.gateway_hosts(&region)).clone(),
                        },
                        4 => FaultKind::ScannerOutage {
                            region: region.name,
                        },
                        _ => FaultKind::MailboxOutage {
                            tenant: prng.pick(tenants).name.clone(),
                        },
                    };
                    faults.push(Fault {
                        at_ms,
                        duration_ms,
                        kind,
                    });
                }
                faults.sort_by_key(|f| f.at_ms);
                FaultModel::OneRegion
            }
        };
        FaultSchedule { model, faults }
    }

    pub fn validate(
        &self,
        topology: &Topology,
        tenants: &[TenantSpec],
        heal_at_ms: u64,
    ) -> Result<(), String> {
        let region = |name: &str| {
            topology
                .region(name)
                .map(|_| ())
                .ok_or_else(|| format!("fault names unknown region {name:?}"))
        };
        for fault in &self.faults {
            if fault.at_ms >= heal_at_ms {
                return Err(format!(
                    "fault '{fault}' starts at or after heal time {heal_at_ms} ms"
                ));
            }
            match &fault.kind {
                FaultKind::RegionCrash { region: r }
                | FaultKind::RegionIsolation { region: r }
                | FaultKind::ScannerOutage { region: r } => region(r)?,
                FaultKind::Partition { from, to, .. } => {
                    region(from)?;
                    region(to)?;
                }
                FaultKind::CloudOutage { cloud } => {
                    if !topology.clouds().contains(cloud) {
                        return Err(format!("fault names unknown cloud {cloud:?}"));
                    }
                }
                FaultKind::HostCrash { host } => {
                    if topology.region_of_host(host).is_none() {
                        return Err(format!("fault names unknown gateway host {host:?}"));
                    }
                }
                FaultKind::MailboxOutage { tenant } => {
                    if !tenants.iter().any(|t| &t.name == tenant) {
                        return Err(format!("fault names unknown tenant {tenant:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the schedule stays inside its declared model: at no instant
    /// are more regions (or clouds) down than the model allows.
    pub fn within_model(&self, topology: &Topology, heal_at_ms: u64) -> bool {
        let mut instants: Vec<u64> = self.faults.iter().map(|f| f.at_ms).collect();
        instants.sort();
        instants.into_iter().all(|t| {
            let mut down: Vec<String> = self
                .faults
                .iter()
                .filter(|f| f.at_ms <= t && t < f.end_ms().min(heal_at_ms))
                .flat_map(|f| f.regions_down(topology))
                .collect();
            down.sort();
            down.dedup();
            match self.model {
                FaultModel::OneRegion => down.len() <= 1,
                FaultModel::OneCloud => {
                    let mut clouds: Vec<&str> = down
                        .iter()
                        .filter_map(|r| topology.region(r).map(|r| r.cloud.as_str()))
                        .collect();
                    clouds.dedup();
                    clouds.len() <= 1
                }
            }
        })
    }
}
