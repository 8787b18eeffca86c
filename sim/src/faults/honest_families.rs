//! Targeted families for the faults real fleets have (issue 16), each drawn
//! from its own stream so the older families' seeds are unchanged:
//!
//! - disk-faults: the disks of one region's gateways misbehave the ways
//!   real disks do (EIO on read, reads with a flipped bit, a failed fsync
//!   that drops the dirty pages, ENOSPC halfway through a write, as well as
//!   plain fsync errors and full disks), a few times during the run, and
//!   half the time that region is also cut off from another region of its
//!   jurisdiction meanwhile, so its 250s lean on the one replica it can
//!   reach (a third copy elsewhere would hide a copy that is not durable).
//!   Inside the model: all of it is that one region's failure. The hunt for
//!   the spool bugs that trust a disk (`fsync-retry-trusted`,
//!   `spool-trusts-reads`) runs here.

use crate::faults::{DiskMode, Fault, FaultKind, FaultModel, FaultSchedule};
use crate::prng::Prng;
use crate::topology::Topology;

/// Every disk mode, in the order a draw picks from.
pub const DISK_MODES: [DiskMode; 6] = [
    DiskMode::FsyncError,
    DiskMode::ReadError,
    DiskMode::CorruptRead,
    DiskMode::FsyncForgets,
    DiskMode::FullMidWrite,
    DiskMode::Full,
];

/// One region's gateway disks fail, one to four times, in drawn modes.
pub fn disk_faults(prng: &mut Prng, topology: &Topology, heal_at_ms: u64) -> FaultSchedule {
    let region = prng.pick(&topology.regions).clone();
    let hosts = topology.gateway_hosts(&region);
    let count = prng.range(1, 5);
    let mut faults = Vec::new();
    for _ in 0..count {
        let at_ms = prng.range(1_000, heal_at_ms / 2);
        let duration_ms = prng.range(4_000, heal_at_ms - at_ms + 1);
        faults.push(Fault {
            at_ms,
            duration_ms,
            kind: FaultKind::Disk {
                host: prng.pick(&hosts).clone(),
                mode: *prng.pick(&DISK_MODES),
            },
        });
    }
    let neighbours: Vec<&str> = (topology.regions_in(&region.jurisdiction).into_iter())
        .filter(|r| r.name != region.name)
        .map(|r| r.name.as_str())
        .collect();
    if !neighbours.is_empty() && prng.percent(50) {
        let during = faults[prng.range(0, faults.len() as u64) as usize].clone();
        faults.push(Fault {
            kind: FaultKind::Partition {
                from: region.name.clone(),
                to: prng.pick(&neighbours).to_string(),
                one_way: false,
            },
            ..during
        });
    }
    faults.sort_by_key(|f| f.at_ms);
    FaultSchedule {
        model: FaultModel::OneRegion,
        faults,
        torn_write_block_bytes: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::faults::FaultKind;
    use crate::scenario::{Family, Scenario};

    #[test]
    fn disk_faults_draws_every_mode_on_one_regions_gateways_inside_the_model() {
        let mut modes = BTreeSet::new();
        for seed in 1..=40 {
            let scenario = Scenario::generate_family(seed, Family::DiskFaults);
            scenario.validate().expect("a drawn scenario is valid");
            assert!(
                scenario
                    .faults
                    .within_model(&scenario.topology, scenario.phases.heal_at_ms)
            );
            for fault in &scenario.faults.faults {
                match fault.kind {
                    FaultKind::Disk { mode, .. } => {
                        modes.insert(mode);
                    }
                    FaultKind::Partition { .. } => {}
                    _ => panic!("seed {seed}: {fault} is neither a disk fault nor a partition"),
                }
            }
        }
        assert_eq!(modes.len(), super::DISK_MODES.len(), "{modes:?}");
    }
}
