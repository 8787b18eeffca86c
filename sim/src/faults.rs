//! The fault schedule of a run and the fault model it is judged against.
//!
//! A fault is a plain value with a start and a length in simulated time; the
//! engine applies it at its start and undoes it at its end (or at heal time,
//! whichever comes first). The fault model is the gateway's promise: inside
//! it every property must hold; beyond it only "nothing acknowledged is lost"
//! and "drains after heal" must. Families draw schedules in [`draw`]; the
//! model check lives in [`model`].

pub mod clock;
pub mod dependencies;
mod draw;
pub use draw::any_fault;
mod families;
pub mod honest_families;
mod model;
pub mod pause;
pub mod swarm_extremes;

pub use dependencies::{DnsMode, MailboxMode};

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::scenario::{TenantSpec, sender_domain};
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

/// How a faulty disk fails.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DiskMode {
    /// Every fsync (of a file or a directory) fails with EIO; the data stays
    /// unsynced, so a later crash loses it, as on Linux after a failed fsync.
    FsyncError,
    /// Every read fails with EIO (the bytes on disk are fine).
    ReadError,
    /// About half the reads return one bit flipped, with no error: only the
    /// spool's checksums can tell.
    CorruptRead,
    /// The first fsync of each written file fails with EIO and the dirty
    /// pages are dropped, so the next fsync of the same bytes succeeds and
    /// makes nothing durable (the PostgreSQL fsync story): retrying an
    /// fsync proves nothing.
    FsyncForgets,
    /// Every write stops halfway with ENOSPC, leaving a cut-short file.
    FullMidWrite,
    /// Every write fails with ENOSPC; reads, renames and removals still work.
    Full,
    /// Every fsync (of a file or a directory) takes 800 ms of simulated
    /// time before what it makes durable is (`engine/slow_disk.rs`): a
    /// node that waits for it is slower; one that does not has not waited.
    Slow,
}

impl DiskMode {
    pub fn name(self) -> &'static str {
        match self {
            DiskMode::FsyncError => "fsync_error",
            DiskMode::ReadError => "read_error",
            DiskMode::CorruptRead => "corrupt_read",
            DiskMode::FsyncForgets => "fsync_forgets",
            DiskMode::FullMidWrite => "full_mid_write",
            DiskMode::Full => "full",
            DiskMode::Slow => "slow",
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
    /// A gray failure between two regions' hosts, both ways (turmoil keeps
    /// one link per host pair, not per direction): each message takes from
    /// the topology latency up to `latency_ms`, mostly near the low end
    /// (turmoil's exponential latency curve), and with `loss_percent`
    /// probability it is dropped with whatever else is in flight on that
    /// link. Turmoil's TCP does not retransmit, so a loss stalls the
    /// connection until its owner times out: a lossy link shows as hung and
    /// slow exchanges, which is what a gray link looks like to a gateway.
    GrayLink {
        from: String,
        to: String,
        latency_ms: u64,
        loss_percent: u8,
    },
    /// One host crashes and restarts at the end.
    HostCrash { host: String },
    /// A gateway host's disk fails in `mode` while the fault lasts.
    Disk { host: String, mode: DiskMode },
    /// The region's scanners are down.
    ScannerOutage { region: String },
    /// One gateway host's disk is lost: the host goes down at the start and
    /// comes back at the end with an empty disk, as when a cloud VM and its
    /// local disk are replaced. Only the copies on other nodes survive.
    DiskLost { host: String },
    /// A tenant's mailbox server is down.
    MailboxOutage { tenant: String },
    /// The mail server of `domain` (a tenant's, or a sender's own domain
    /// where DSNs land) rejects every message at the end of DATA with 554
    /// 5.7.1, as a content or backscatter filter does: the gateway gets a
    /// permanent failure, so it must bounce (and a DSN it cannot deliver is
    /// dropped, never bounced in turn).
    MailboxRejects { domain: String },
    /// Senders resolve the tenant's domain to a stale MX record: the one from
    /// before its mail was bound to its jurisdiction (every other
    /// jurisdiction's gateways first), followed by its own gateways as they
    /// were listed when the fault began. The `dns` host serves that record
    /// instead of the live one until the fault ends, so MX rewrites made
    /// meanwhile (a control plane steering around a dead region) reach no
    /// sender; resolvers then keep the stale answer for its TTL. The gateway
    /// must refuse (4xx) in regions the tenant may not use, and senders must
    /// fall back along the list (RFC 5321 §5.1).
    StaleDns { tenant: String },
    /// A gateway-side host's clock is off while the fault lasts: stepped by
    /// `offset_ms` when it begins, drifting by `drift_ppm`, wandering by up
    /// to `wander_ms` over `wander_period_ms`; stepped back to true time
    /// when it ends (`faults/clock.rs`, `engine/host_clock.rs`).
    Clock {
        host: String,
        offset_ms: i64,
        #[serde(default)]
        drift_ppm: i64,
        #[serde(default)]
        wander_ms: u64,
        #[serde(default)]
        wander_period_ms: u64,
    },
    /// A gateway-side host's processes freeze (a GC or VM stall) while the
    /// fault lasts, and resume with the beliefs they had
    /// (`faults/pause.rs`, `engine/pause.rs`).
    Pause { host: String },
    /// The mail server of `domain` (a tenant's, or a sender's) misbehaves
    /// in `mode`: greylisting, a tarpit, a hang-up after DATA, a reset in
    /// the middle of the data.
    MailboxMisbehaves { domain: String, mode: MailboxMode },
    /// The `dns` host fails for `domain` (a tenant's, which senders look
    /// up, or a sender's, which the gateway looks up to deliver DSNs) in
    /// `mode`: SERVFAIL, no answer, or answers that flap.
    DnsFails { domain: String, mode: DnsMode },
    /// Traffic between two single gateway-side hosts (same region or not)
    /// is dropped; one-way drops only `from`→`to`.
    HostPartition {
        from: String,
        to: String,
        one_way: bool,
    },
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
            FaultKind::GrayLink {
                from,
                to,
                latency_ms,
                loss_percent,
            } => format!(
                "gray link {from} <-> {to} (latency up to {latency_ms} ms, {loss_percent}% loss)"
            ),
            FaultKind::HostCrash { host } => format!("host crash {host}"),
            FaultKind::DiskLost { host } => format!("disk lost on {host}"),
            FaultKind::MailboxRejects { domain } => format!("mailbox for {domain} rejects"),
            FaultKind::Disk { host, mode } => format!("disk {} on {host}", mode.name()),
            FaultKind::ScannerOutage { region } => format!("scanner outage {region}"),
            FaultKind::MailboxOutage { tenant } => format!("mailbox outage {tenant}"),
            FaultKind::StaleDns { tenant } => format!("stale dns for {tenant}"),
            FaultKind::Clock { .. } => clock::describe(&self.kind),
            FaultKind::Pause { host } => format!("pause of {host}"),
            FaultKind::MailboxMisbehaves { domain, mode } => {
                format!("mailbox for {domain} misbehaves ({mode})")
            }
            FaultKind::DnsFails { domain, mode } => format!("dns fails for {domain} ({mode})"),
            FaultKind::HostPartition { from, to, one_way } => {
                let arrow = if *one_way { "->" } else { "<->" };
                format!("host partition {from} {arrow} {to}")
            }
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
            FaultKind::GrayLink { .. } => "gray_link",
            FaultKind::HostCrash { .. } => "host_crash",
            FaultKind::DiskLost { .. } => "disk_lost",
            FaultKind::MailboxRejects { .. } => "mailbox_rejects",
            FaultKind::Disk { .. } => "disk",
            FaultKind::ScannerOutage { .. } => "scanner_outage",
            FaultKind::MailboxOutage { .. } => "mailbox_outage",
            FaultKind::StaleDns { .. } => "stale_dns",
            FaultKind::Clock { .. } => "clock",
            FaultKind::Pause { .. } => "pause",
            FaultKind::MailboxMisbehaves { .. } => "mailbox_misbehaves",
            FaultKind::DnsFails { .. } => "dns_fails",
            FaultKind::HostPartition { .. } => "host_partition",
        }
    }

    /// What it targets, as in the log's `fault_started.target`.
    pub fn target(&self) -> String {
        match self {
            FaultKind::RegionCrash { region }
            | FaultKind::RegionIsolation { region }
            | FaultKind::ScannerOutage { region } => region.clone(),
            FaultKind::CloudOutage { cloud } => cloud.clone(),
            FaultKind::Partition { from, to, .. } | FaultKind::GrayLink { from, to, .. } => {
                format!("{from},{to}")
            }
            FaultKind::HostCrash { host }
            | FaultKind::DiskLost { host }
            | FaultKind::Clock { host, .. }
            | FaultKind::Pause { host } => host.clone(),
            FaultKind::MailboxRejects { domain } => domain.clone(),
            FaultKind::Disk { host, mode } => format!("{host},{}", mode.name()),
            FaultKind::MailboxOutage { tenant } | FaultKind::StaleDns { tenant } => tenant.clone(),
            FaultKind::MailboxMisbehaves { domain, mode } => format!("{domain},{mode}"),
            FaultKind::DnsFails { domain, mode } => format!("{domain},{mode}"),
            FaultKind::HostPartition { from, to, .. } => format!("{from},{to}"),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FaultSchedule {
    pub model: FaultModel,
    pub faults: Vec<Fault>,
    /// Disk block size for torn writes: when set, a crash applies a random
    /// whole-block prefix of each unsynced write to a file whose name was
    /// already durable, as a real disk may (turmoil's `FsConfig::block_size`).
    /// None keeps unsynced writes all-or-nothing. Omitted from the JSON when
    /// None, so scenarios saved before it existed keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torn_write_block_bytes: Option<u64>,
}

impl FaultSchedule {
    pub fn validate(
        &self,
        topology: &Topology,
        tenants: &[TenantSpec],
        senders: u32,
        heal_at_ms: u64,
    ) -> Result<(), String> {
        let region = |name: &str| {
            topology
                .region(name)
                .map(|_| ())
                .ok_or_else(|| format!("fault names unknown region {name:?}"))
        };
        let tenant = |name: &str| {
            if tenants.iter().any(|t| t.name == name) {
                Ok(())
            } else {
                Err(format!("fault names unknown tenant {name:?}"))
            }
        };
        if self.torn_write_block_bytes == Some(0) {
            return Err("faults.torn_write_block_bytes must be positive".into());
        }
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
                FaultKind::GrayLink {
                    from,
                    to,
                    loss_percent,
                    ..
                } => {
                    region(from)?;
                    region(to)?;
                    if from == to {
                        return Err(format!("fault '{fault}' needs two different regions"));
                    }
                    if *loss_percent > 100 {
                        return Err(format!("fault '{fault}': loss_percent is at most 100"));
                    }
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
                FaultKind::MailboxRejects { domain }
                | FaultKind::MailboxMisbehaves { domain, .. }
                | FaultKind::DnsFails { domain, .. } => {
                    let known = tenants.iter().any(|t| t.domain == *domain)
                        || (0..senders).any(|s| sender_domain(s) == *domain);
                    if !known {
                        return Err(format!(
                            "fault names unknown mail domain {domain:?} (a tenant's or a sender's)"
                        ));
                    }
                }
                FaultKind::Disk { host, .. } | FaultKind::DiskLost { host } => {
                    let is_gateway = topology
                        .regions
                        .iter()
                        .any(|r| topology.gateway_hosts(r).contains(host));
                    // Only gateways keep a disk; a disk fault elsewhere would
                    // silently do nothing.
                    if !is_gateway {
                        return Err(format!("disk fault names unknown gateway host {host:?}"));
                    }
                }
                FaultKind::MailboxOutage { tenant: t } | FaultKind::StaleDns { tenant: t } => {
                    tenant(t)?
                }
                FaultKind::Clock { .. } => clock::validate(fault, topology)?,
                FaultKind::Pause { .. } => pause::validate(fault, topology)?,
                FaultKind::HostPartition { from, to, .. } => {
                    dependencies::validate_host_partition(topology, from, to)?
                }
            }
        }
        Ok(())
    }
}
