//! Whether a schedule stays inside its declared fault model.
//!
//! The model names a unit of failure — a region, or a cloud — and promises
//! that the gateway survives any one unit failing at a time. A schedule
//! stays inside it when, at every instant, one unit can take the blame for
//! every active fault: a region crash is its region's failure; a host crash
//! or a faulty disk is part of its region's; a partition or a gray link
//! between two regions is part of either side's. Scanner and mailbox
//! outages and stale DNS are not gateway failures at all: the gateway must
//! ride through any number of them (mail waits; it is never lost or leaked),
//! so they never push a schedule beyond its model.

use std::collections::BTreeSet;

use crate::faults::{Fault, FaultKind, FaultModel, FaultSchedule, clock, pause};
use crate::topology::Topology;

impl FaultSchedule {
    /// Whether the schedule stays inside its declared model: at every
    /// instant some single region (or cloud) can be blamed for every active
    /// fault.
    pub fn within_model(&self, topology: &Topology, heal_at_ms: u64) -> bool {
        let mut instants: Vec<u64> = self.faults.iter().map(|f| f.at_ms).collect();
        instants.sort();
        instants.dedup();
        // The set of active faults only grows at a start, so checking every
        // start checks every instant.
        instants.into_iter().all(|t| {
            let mut suspects: Option<BTreeSet<String>> = None;
            for fault in &self.faults {
                if !(fault.at_ms <= t && t < fault.end_ms().min(heal_at_ms)) {
                    continue;
                }
                let Some(blamed) = blame(fault, self.model, topology) else {
                    continue;
                };
                suspects = Some(match suspects {
                    None => blamed,
                    Some(before) => before.intersection(&blamed).cloned().collect(),
                });
            }
            suspects.is_none_or(|s| !s.is_empty())
        })
    }
}

/// The units (regions or clouds, as the model counts) whose failure would
/// include `fault`; None when the fault is not a failure of the gateway.
fn blame(fault: &Fault, model: FaultModel, topology: &Topology) -> Option<BTreeSet<String>> {
    let region_of_host = |host: &str| topology.region_of_host(host).map(|r| r.name.clone());
    let regions: BTreeSet<String> = match &fault.kind {
        FaultKind::RegionCrash { region } | FaultKind::RegionIsolation { region } => {
            [region.clone()].into()
        }
        FaultKind::CloudOutage { .. } => fault.regions_down(topology).into_iter().collect(),
        FaultKind::Partition { from, to, .. } | FaultKind::GrayLink { from, to, .. } => {
            [from.clone(), to.clone()].into()
        }
        FaultKind::HostCrash { host }
        | FaultKind::Disk { host, .. }
        | FaultKind::DiskLost { host } => region_of_host(host).into_iter().collect(),
        // Like a partition between regions: either end's region can take it.
        FaultKind::HostPartition { from, to, .. } => region_of_host(from)
            .into_iter()
            .chain(region_of_host(to))
            .collect(),
        FaultKind::ScannerOutage { .. }
        | FaultKind::MailboxOutage { .. }
        | FaultKind::MailboxRejects { .. }
        | FaultKind::MailboxMisbehaves { .. }
        | FaultKind::DnsFails { .. }
        | FaultKind::StaleDns { .. } => return None,
        // Within its bound a wrong clock is no failure at all; beyond it
        // no unit can take the blame.
        FaultKind::Clock { .. } if clock::within_bound(fault) => return None,
        FaultKind::Clock { .. } => return Some(BTreeSet::new()),
        FaultKind::Pause { host } if pause::within_bound(fault) => {
            region_of_host(host).into_iter().collect()
        }
        FaultKind::Pause { .. } => return Some(BTreeSet::new()),
    };
    let cloud_of = |region: &String| topology.region(region).map(|r| r.cloud.clone());
    Some(match (&fault.kind, model) {
        // A cloud outage takes down all its regions at once: one region can
        // carry the blame only if the cloud has just that one.
        (FaultKind::CloudOutage { .. }, FaultModel::OneRegion) if regions.len() > 1 => {
            BTreeSet::new()
        }
        (FaultKind::CloudOutage { cloud }, FaultModel::OneCloud) => [cloud.clone()].into(),
        (_, FaultModel::OneRegion) => regions,
        (_, FaultModel::OneCloud) => regions.iter().filter_map(cloud_of).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::DiskMode;

    fn fault(at_ms: u64, duration_ms: u64, kind: FaultKind) -> Fault {
        Fault {
            at_ms,
            duration_ms,
            kind,
        }
    }

    fn inside(model: FaultModel, faults: Vec<Fault>) -> bool {
        let schedule = FaultSchedule {
            model,
            faults,
            torn_write_block_bytes: None,
        };
        schedule.within_model(&Topology::standard(), 40_000)
    }

    fn crash(region: &str) -> FaultKind {
        FaultKind::RegionCrash {
            region: region.into(),
        }
    }

    fn partition(from: &str, to: &str) -> FaultKind {
        FaultKind::Partition {
            from: from.into(),
            to: to.into(),
            one_way: false,
        }
    }

    #[test]
    fn one_region_down_with_its_own_host_and_disk_faults_is_inside_one_region() {
        let host = "gw-aws-us-east-1-0".to_string();
        let faults = vec![
            fault(1_000, 10_000, crash("us-east-1")),
            fault(2_000, 1_000, FaultKind::HostCrash { host: host.clone() }),
            fault(
                3_000,
                1_000,
                FaultKind::Disk {
                    host,
                    mode: DiskMode::Full,
                },
            ),
            fault(4_000, 1_000, partition("eastus", "us-east-1")),
        ];
        assert!(inside(FaultModel::OneRegion, faults));
    }

    #[test]
    fn a_lost_disk_cut_off_from_its_jurisdiction_is_its_regions_failure_and_rejects_are_none() {
        // The disk-loss family's shape: all of it blamed on us-east-1.
        let faults = vec![
            fault(1_000, 8_000, partition("us-east-1", "us-central1")),
            fault(1_000, 8_000, partition("us-east-1", "eastus")),
            fault(
                3_000,
                2_000,
                FaultKind::DiskLost {
                    host: "gw-aws-us-east-1-0".into(),
                },
            ),
            fault(
                0,
                30_000,
                FaultKind::MailboxRejects {
                    domain: "acme.example".into(),
                },
            ),
        ];
        assert!(inside(FaultModel::OneRegion, faults));
        let elsewhere = vec![
            fault(1_000, 8_000, crash("eastus")),
            fault(
                3_000,
                2_000,
                FaultKind::DiskLost {
                    host: "gw-aws-us-east-1-0".into(),
                },
            ),
        ];
        assert!(!inside(FaultModel::OneRegion, elsewhere));
    }

    #[test]
    fn a_single_host_crash_is_inside_one_region() {
        let host = FaultKind::HostCrash {
            host: "gw-gcp-europe-west3-0".into(),
        };
        assert!(inside(
            FaultModel::OneRegion,
            vec![fault(1_000, 5_000, host)]
        ));
    }

    #[test]
    fn two_regions_failing_at_once_are_beyond_one_region_but_not_if_they_take_turns() {
        let overlapping = vec![
            fault(1_000, 10_000, crash("us-east-1")),
            fault(5_000, 10_000, crash("eastus")),
        ];
        assert!(!inside(FaultModel::OneRegion, overlapping));
        let in_turn = vec![
            fault(1_000, 4_000, crash("us-east-1")),
            fault(5_000, 10_000, crash("eastus")),
        ];
        assert!(inside(FaultModel::OneRegion, in_turn));
    }

    #[test]
    fn a_host_crash_in_another_region_during_an_outage_is_beyond_one_region() {
        let faults = vec![
            fault(1_000, 10_000, crash("us-east-1")),
            fault(
                2_000,
                1_000,
                FaultKind::HostCrash {
                    host: "gw-azure-eastus-0".into(),
                },
            ),
        ];
        assert!(!inside(FaultModel::OneRegion, faults));
    }

    #[test]
    fn partitions_and_gray_links_are_blamed_on_either_side() {
        let gray = FaultKind::GrayLink {
            from: "eastus".into(),
            to: "us-central1".into(),
            latency_ms: 500,
            loss_percent: 5,
        };
        // Both touch eastus: eastus can be the one failed region.
        let sharing = vec![
            fault(1_000, 10_000, partition("us-east-1", "eastus")),
            fault(2_000, 10_000, gray.clone()),
        ];
        assert!(inside(FaultModel::OneRegion, sharing));
        // Two cuts with no region in common are two failures.
        let disjoint = vec![
            fault(1_000, 10_000, partition("us-east-1", "eastus")),
            fault(2_000, 10_000, partition("eu-west-1", "westeurope")),
        ];
        assert!(!inside(FaultModel::OneRegion, disjoint));
        // Under one cloud, eastus and westeurope are both azure.
        let azure = vec![
            fault(1_000, 10_000, partition("us-east-1", "eastus")),
            fault(2_000, 10_000, partition("eu-west-1", "westeurope")),
        ];
        assert!(inside(FaultModel::OneCloud, azure));
    }

    #[test]
    fn dependency_outages_and_stale_dns_never_leave_the_model() {
        let faults = vec![
            fault(1_000, 10_000, crash("us-east-1")),
            fault(
                1_000,
                10_000,
                FaultKind::ScannerOutage {
                    region: "eastus".into(),
                },
            ),
            fault(
                1_000,
                10_000,
                FaultKind::MailboxOutage {
                    tenant: "acme".into(),
                },
            ),
            fault(
                1_000,
                10_000,
                FaultKind::StaleDns {
                    tenant: "acme".into(),
                },
            ),
        ];
        assert!(inside(FaultModel::OneRegion, faults));
    }

    #[test]
    fn a_cloud_outage_is_inside_one_cloud_and_beyond_one_region() {
        let aws = FaultKind::CloudOutage {
            cloud: "aws".into(),
        };
        assert!(inside(
            FaultModel::OneCloud,
            vec![fault(1_000, 5_000, aws.clone())]
        ));
        assert!(!inside(
            FaultModel::OneRegion,
            vec![fault(1_000, 5_000, aws.clone())]
        ));
        // With a crash of a gcp region at the same time: two clouds.
        let both = vec![
            fault(1_000, 5_000, aws),
            fault(2_000, 5_000, crash("us-central1")),
        ];
        assert!(!inside(FaultModel::OneCloud, both));
    }

    #[test]
    fn clocks_within_the_bound_blame_nobody_and_pauses_blame_their_region() {
        let clock = |offset_ms: i64, host: &str| FaultKind::Clock {
            host: host.into(),
            offset_ms,
            drift_ppm: 0,
            wander_ms: 0,
            wander_period_ms: 0,
        };
        let pause = |host: &str| FaultKind::Pause { host: host.into() };
        // Wrong clocks in two regions at once, with a region down: inside.
        let faults = vec![
            fault(1_000, 10_000, clock(900, "gw-aws-us-east-1-0")),
            fault(1_000, 10_000, clock(-900, "gw-gcp-us-central1-0")),
            fault(2_000, 5_000, crash("eastus")),
        ];
        assert!(inside(FaultModel::OneRegion, faults));
        // A step past the bound is beyond the model on its own.
        let far = vec![fault(1_000, 10_000, clock(1_001, "gw-aws-us-east-1-0"))];
        assert!(!inside(FaultModel::OneCloud, far));
        // A short pause is its region's failure: with another region down, beyond.
        let short = fault(2_000, 2_000, pause("gw-aws-us-east-1-0"));
        assert!(inside(FaultModel::OneRegion, vec![short.clone()]));
        assert!(!inside(
            FaultModel::OneRegion,
            vec![short, fault(2_500, 1_000, crash("eastus"))]
        ));
        let long = fault(2_000, 2_001, pause("gw-aws-us-east-1-0"));
        assert!(!inside(FaultModel::OneRegion, vec![long]));
    }
}
