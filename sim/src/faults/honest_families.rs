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
//!   `spool-trusts-reads`, `short-write-ignored`,
//!   `slow-fsync-assumed-done`) runs here.
//! - dependencies: one tenant's mail server refusing everything for a
//!   while (so DSNs go out through the DNS), the other tenants' servers
//!   tarpitting, hanging up after DATA, resetting mid-data, greylisting,
//!   forgetting their users or refusing at length, and senders' domains whose DNS answers
//!   SERVFAIL or times out while their DSNs wait, or tenants' domains
//!   whose answers flap (a sender's domain has one MX host: rotated, its
//!   answer is the same). Inside the model:
//!   a dependency's failure is not the gateway's. The hunts for the bugs that misread a failing dependency
//!   (`drop-means-delivered`, `dot-timeout-bounces`, `servfail-bounces`)
//!   run here.

use crate::faults::{DiskMode, DnsMode, Fault, FaultKind, FaultModel, FaultSchedule, MailboxMode};
use crate::prng::Prng;
use crate::scenario::{TenantSpec, sender_domain};
use crate::topology::Topology;

/// Every disk mode, in the order a draw picks from.
pub const DISK_MODES: [DiskMode; 7] = [
    DiskMode::FsyncError,
    DiskMode::ReadError,
    DiskMode::CorruptRead,
    DiskMode::FsyncForgets,
    DiskMode::FullMidWrite,
    DiskMode::Full,
    DiskMode::Slow,
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

/// How a tenant's mail server misbehaves in the dependencies family: the
/// three that leave the gateway unsure what happened to its message,
/// greylisting, users it no longer knows (a permanent refusal), and a
/// refusal that explains itself at length.
pub const MAILBOX_MODES: [MailboxMode; 6] = [
    MailboxMode::Tarpit,
    MailboxMode::DropAfterData,
    MailboxMode::ResetMidData,
    MailboxMode::Greylist,
    MailboxMode::UnknownUser,
    MailboxMode::LongRefusal,
];

/// How a sender domain's DNS fails in the dependencies family.
pub const DNS_MODES: [DnsMode; 3] = [DnsMode::Servfail, DnsMode::Timeout, DnsMode::Flap];

/// One tenant's mail server refuses everything for a while (so DSNs go
/// out to senders' domains), the others' misbehave (at least one), and
/// senders' domains' DNS fails (at least one) from early on until before
/// the heal. The knobs stay the standard ones: a 5 s delivery timeout a
/// tarpit's 1.5 s replies fit in, and a queue lifetime (2 min) that no DSN
/// outlives while its sender's DNS fails, so the correct gateway delivers
/// every DSN once the DNS answers again.
pub fn dependencies(
    prng: &mut Prng,
    tenants: &[TenantSpec],
    senders: u32,
    heal_at_ms: u64,
) -> FaultSchedule {
    let mut faults = Vec::new();
    let refusing = prng.range(0, tenants.len() as u64) as usize;
    let at_ms = prng.range(500, heal_at_ms / 8);
    faults.push(Fault {
        at_ms,
        duration_ms: prng.range(heal_at_ms / 4, heal_at_ms / 2),
        kind: FaultKind::MailboxRejects {
            domain: tenants[refusing].domain.clone(),
        },
    });
    let others: Vec<usize> = (0..tenants.len()).filter(|i| *i != refusing).collect();
    let first_misbehaving = *prng.pick(&others);
    for index in others {
        if index != first_misbehaving && !prng.percent(60) {
            continue;
        }
        let at_ms = prng.range(500, heal_at_ms / 2);
        faults.push(Fault {
            at_ms,
            duration_ms: prng.range(4_000, heal_at_ms - at_ms + 1),
            kind: FaultKind::MailboxMisbehaves {
                domain: tenants[index].domain.clone(),
                mode: *prng.pick(&MAILBOX_MODES),
            },
        });
    }
    let first_sender = prng.range(0, u64::from(senders.max(1))) as u32;
    for sender in 0..senders {
        if sender != first_sender && !prng.percent(60) {
            continue;
        }
        // While the refused mail's DSNs look their sender's domain up. A
        // sender's domain has one MX host, so answers that flap (the hosts
        // rotated) would change nothing there: a flap goes to a tenant's
        // domain, whose gateways senders then reach in two orders.
        let at_ms = prng.range(1_000, heal_at_ms / 4);
        let duration_ms = prng.range(heal_at_ms / 4, heal_at_ms / 2);
        let mode = *prng.pick(&DNS_MODES);
        let domain = match mode {
            DnsMode::Flap => tenants[sender as usize % tenants.len()].domain.clone(),
            _ => sender_domain(sender),
        };
        faults.push(Fault {
            at_ms,
            duration_ms,
            kind: FaultKind::DnsFails { domain, mode },
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

    use crate::faults::{DnsMode, FaultKind};
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

    #[test]
    fn dependencies_draws_every_mailbox_and_dns_mode_inside_the_model() {
        let mut mailbox_modes = BTreeSet::new();
        let mut dns_modes = BTreeSet::new();
        for seed in 1..=40 {
            let scenario = Scenario::generate_family(seed, Family::Dependencies);
            scenario.validate().expect("a drawn scenario is valid");
            assert!(
                scenario
                    .faults
                    .within_model(&scenario.topology, scenario.phases.heal_at_ms)
            );
            let mut kinds = BTreeSet::new();
            for fault in &scenario.faults.faults {
                match &fault.kind {
                    FaultKind::MailboxMisbehaves { mode, .. } => {
                        mailbox_modes.insert(*mode);
                    }
                    FaultKind::DnsFails { mode, domain } => {
                        dns_modes.insert(*mode);
                        // A flap only shows on a domain of several MX hosts.
                        let tenant = scenario.tenants.iter().any(|t| t.domain == *domain);
                        assert_eq!(*mode == DnsMode::Flap, tenant, "seed {seed}: {domain}");
                    }
                    _ => {}
                }
                kinds.insert(fault.kind.name());
            }
            assert!(
                kinds.contains("mailbox_misbehaves"),
                "seed {seed}: {kinds:?}"
            );
            assert!(kinds.contains("dns_fails"), "seed {seed}: {kinds:?}");
        }
        assert_eq!(mailbox_modes.len(), super::MAILBOX_MODES.len());
        assert_eq!(dns_modes.len(), super::DNS_MODES.len());
    }
}
