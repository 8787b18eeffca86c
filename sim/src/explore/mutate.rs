//! Mutations of a scenario: the moves `mailsim explore` makes from a corpus
//! entry to a new run. Each is small and keeps the scenario valid: shift a
//! fault, stretch or shorten it, add one (any kind in the catalogue, also
//! those the swarm never draws), drop one, change its target, copy it onto
//! a sibling target at the same time (so regions go down together), splice
//! two schedules at a time, and change timings and the workload (a short
//! queue lifetime, a longer or shorter lease, messages moved into a fault's
//! window, fewer messages, the other fault model). And one move steered by
//! what the parent run did (`aim`): a fault put where and when the parent
//! did something it could meet (`coverage::Aim`) — the mail server of a
//! domain a DSN reached refusing mail just before it arrives, the region of
//! a gateway that delivered cut off just before it did, the disk of one
//! that accepted lost just after, the scanners of a region that scanned
//! down while it scans, a mailbox down past a short queue lifetime.
//!
//! Every draw comes from the campaign's own [`Prng`], so a campaign is
//! deterministic given its seed.

use crate::explore::coverage::Aim;
use crate::faults::{DiskMode, Fault, FaultKind, FaultModel};
use crate::prng::Prng;
use crate::scenario::{Scenario, sender_domain};

/// The shortest fault a mutation leaves, in ms.
const FAULT_MS_MIN: u64 = 500;

/// Share of mutants (of a parent that left aims) whose first move is `aim`.
const AIM_FIRST_PERCENT: u64 = 40;

/// Tries per mutation before giving up on a move that keeps failing to
/// validate (then the parent's copy with one fault shifted is used).
const TRIES_MAX: usize = 8;

/// The moves, by name (as recorded in the campaign's history).
pub const MOVES: [&str; 13] = [
    "aim",
    "shift",
    "stretch",
    "add_fault",
    "drop_fault",
    "retarget",
    "widen",
    "splice",
    "short_queue",
    "lease",
    "move_messages",
    "fewer_messages",
    "fault_model",
];

/// A mutant of `parent`: one to three moves, `other` the partner of a
/// splice, `aims` what the parent's run did where (for `aim`). Returns the
/// scenario (validated) and the moves made, joined by `+`.
pub fn mutate(
    prng: &mut Prng,
    parent: &Scenario,
    other: Option<&Scenario>,
    aims: &[Aim],
) -> (Scenario, String) {
    let count = 1 + prng.range(0, 3) as usize;
    let mut scenario = parent.clone();
    let mut made = Vec::new();
    // Aimed first in a share of the mutants: one move in thirteen would
    // leave the feedback from what the run did almost unused.
    let aim_first = !aims.is_empty() && prng.percent(AIM_FIRST_PERCENT);
    for move_index in 0..count {
        for _ in 0..TRIES_MAX {
            let name = match aim_first && move_index == 0 {
                true => "aim",
                false => *prng.pick(&MOVES),
            };
            let mut candidate = scenario.clone();
            let applied = match name {
                "aim" => aim(prng, &mut candidate, aims),
                _ => apply(prng, name, &mut candidate, other),
            };
            if !applied {
                continue;
            }
            candidate.faults.faults.sort_by_key(|f| f.at_ms);
            if candidate.validate().is_ok() && candidate != scenario {
                scenario = candidate;
                made.push(name);
                break;
            }
        }
    }
    if made.is_empty() {
        made.push("none");
    }
    (scenario, made.join("+"))
}

/// Makes one move; false when it does not apply (no fault to shift, ...).
fn apply(prng: &mut Prng, name: &str, scenario: &mut Scenario, other: Option<&Scenario>) -> bool {
    let heal_at_ms = scenario.phases.heal_at_ms;
    let faults = &mut scenario.faults.faults;
    match name {
        "shift" => {
            let Some(fault) = pick_mut(prng, faults) else {
                return false;
            };
            fault.at_ms = prng.range(0, heal_at_ms - 1);
            fault.duration_ms = fault.duration_ms.max(FAULT_MS_MIN);
            true
        }
        "stretch" => {
            let Some(fault) = pick_mut(prng, faults) else {
                return false;
            };
            // Between a quarter and four times as long.
            let scaled = fault.duration_ms * prng.range(25, 401) / 100;
            fault.duration_ms = scaled.clamp(FAULT_MS_MIN, heal_at_ms);
            true
        }
        "add_fault" => {
            let at_ms = prng.range(0, heal_at_ms - 1);
            let duration_ms = prng.range(FAULT_MS_MIN, heal_at_ms / 2);
            let fault = crate::faults::any_fault(
                prng,
                &scenario.topology,
                &scenario.tenants,
                scenario.workload.senders,
                at_ms,
                duration_ms,
            );
            scenario.faults.faults.push(fault);
            true
        }
        "drop_fault" => {
            if faults.is_empty() {
                return false;
            }
            let index = prng.range(0, faults.len() as u64) as usize;
            faults.remove(index);
            true
        }
        "retarget" | "widen" => {
            if faults.is_empty() {
                return false;
            }
            let index = prng.range(0, faults.len() as u64) as usize;
            let mut fault = faults[index].clone();
            fault.kind = if name == "retarget" {
                same_kind_elsewhere(prng, scenario, &fault.kind)
            } else {
                sibling(prng, scenario, &fault.kind)
            };
            if name == "retarget" {
                scenario.faults.faults[index] = fault;
            } else {
                scenario.faults.faults.push(fault);
            }
            true
        }
        "splice" => {
            let Some(other) = other else {
                return false;
            };
            let cut_ms = prng.range(0, heal_at_ms);
            // The partner may have drawn another topology (the swarm's):
            // only its faults that name hosts and regions of this one fit.
            let mut probe = scenario.clone();
            let mut fits = |fault: &Fault| {
                probe.faults.faults = vec![fault.clone()];
                probe.validate().is_ok()
            };
            let spliced: Vec<Fault> = (other.faults.faults.iter())
                .filter(|f| f.at_ms >= cut_ms && f.at_ms < heal_at_ms)
                .filter(|f| fits(f))
                .cloned()
                .collect();
            let faults = &mut scenario.faults.faults;
            faults.retain(|f| f.at_ms < cut_ms);
            faults.extend(spliced);
            true
        }
        "short_queue" => {
            if scenario.knobs.queue_lifetime_ms <= 8_000 {
                return false;
            }
            crate::scenario::bounce_knobs(prng, &mut scenario.knobs);
            true
        }
        "lease" => {
            let lease = scenario.knobs.owner_lease_ms;
            scenario.knobs.owner_lease_ms = if prng.percent(50) {
                (lease / 2).max(1_000)
            } else {
                lease * 2
            };
            true
        }
        "move_messages" => {
            // Into the window of a fault, where they meet it.
            let (from_ms, until_ms) = match faults.is_empty() {
                true => (0, heal_at_ms / 2),
                false => {
                    let fault = prng.pick(faults);
                    (
                        fault.at_ms,
                        fault.end_ms().min(heal_at_ms).max(fault.at_ms + 1),
                    )
                }
            };
            let messages = &mut scenario.workload.messages;
            if messages.is_empty() {
                return false;
            }
            let moved = 1 + messages.len() / 4;
            for _ in 0..moved {
                let index = prng.range(0, messages.len() as u64) as usize;
                messages[index].at_ms = prng.range(from_ms, until_ms);
            }
            messages.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.id.cmp(&b.id)));
            true
        }
        "fewer_messages" => {
            let messages = &mut scenario.workload.messages;
            if messages.len() < 4 {
                return false;
            }
            let mut index = 0;
            messages.retain(|_| {
                index += 1;
                index % 2 == 0
            });
            true
        }
        "fault_model" => {
            scenario.faults.model = match scenario.faults.model {
                FaultModel::OneRegion => FaultModel::OneCloud,
                FaultModel::OneCloud => FaultModel::OneRegion,
            };
            true
        }
        _ => false,
    }
}

/// Puts one fault where the parent run did something (`aims`); false when
/// it left no aim this move can use.
fn aim(prng: &mut Prng, scenario: &mut Scenario, aims: &[Aim]) -> bool {
    if aims.is_empty() {
        return false;
    }
    // A kind of aim first, then one of its targets: a run leaves an aim per
    // gateway that accepted, and one per domain a DSN reached, and the rare
    // kinds must not drown.
    let kinds: std::collections::BTreeSet<&str> = aims.iter().map(|a| a.what.as_str()).collect();
    let kinds: Vec<&str> = kinds.into_iter().collect();
    let kind = *prng.pick(&kinds);
    let of_kind: Vec<&Aim> = aims.iter().filter(|a| a.what == kind).collect();
    let aim = (*prng.pick(&of_kind)).clone();
    let heal_at_ms = scenario.phases.heal_at_ms;
    // A fault lasts at least FAULT_MS_MIN and ends by the heal.
    let latest_start_ms = heal_at_ms.saturating_sub(FAULT_MS_MIN);
    let lease_ms = scenario.knobs.owner_lease_ms;
    let before =
        |prng: &mut Prng, window_ms: u64| aim.t_ms.saturating_sub(prng.range(0, window_ms));
    let region_of = |host: &str| {
        (scenario.topology)
            .region_of_host(host)
            .map(|r| r.name.clone())
    };
    let tenant_of = |domain: &str| {
        (scenario.tenants.iter())
            .find(|t| t.domain.eq_ignore_ascii_case(domain))
            .map(|t| t.name.clone())
    };
    let (at_ms, duration_ms, kind, short_queue) = match aim.what.as_str() {
        // The DSN refused for good: what a DSN must never be answered with.
        "dsn_to" => (
            before(prng, 3_000),
            prng.range(2_000, heal_at_ms / 2 + 2_001),
            FaultKind::MailboxRejects {
                domain: aim.target.clone(),
            },
            false,
        ),
        "mail_to" => match tenant_of(&aim.target) {
            // Down past a short lifetime: the expiry and DSN paths.
            Some(tenant) if prng.percent(60) => (
                before(prng, 3_000),
                prng.range(heal_at_ms / 4, heal_at_ms + 1),
                FaultKind::MailboxOutage { tenant },
                true,
            ),
            _ => (
                before(prng, 3_000),
                prng.range(2_000, heal_at_ms / 2 + 2_001),
                FaultKind::MailboxRejects {
                    domain: aim.target.clone(),
                },
                false,
            ),
        },
        // The owner cut off, paused or crashed on its way to delivering:
        // long enough for a successor to take over.
        "delivering" => {
            let Some(region) = region_of(&aim.target) else {
                return false;
            };
            let at_ms = before(prng, 1_500);
            let duration_ms = prng.range(lease_ms * 2, lease_ms * 6 + 1);
            let kind = match prng.range(0, 4) {
                0 => FaultKind::RegionIsolation { region },
                1 => FaultKind::Pause {
                    host: aim.target.clone(),
                },
                2 => FaultKind::HostCrash {
                    host: aim.target.clone(),
                },
                // Or its disk failing the read of what it is to deliver.
                _ => FaultKind::Disk {
                    host: aim.target.clone(),
                    mode: *prng.pick(&[DiskMode::ReadError, DiskMode::CorruptRead]),
                },
            };
            (at_ms, duration_ms, kind, false)
        }
        // The acceptor's disk lost just after its 250, or failing the
        // writes and syncs of the message it is about to acknowledge (the
        // read-path modes are the deliverer's, above).
        "accepted" if prng.percent(30) => (
            aim.t_ms + prng.range(0, 300),
            prng.range(2_000, heal_at_ms / 2 + 2_001),
            FaultKind::DiskLost {
                host: aim.target.clone(),
            },
            false,
        ),
        "accepted" => {
            let at_ms = before(prng, 1_500);
            let duration_ms = prng.range(2_000, 10_001);
            // Half the time its region is cut off from a neighbour
            // meanwhile, so the 250 leans on the copies this disk holds (a
            // third copy elsewhere would hide one that is not durable).
            let region = region_of(&aim.target).unwrap_or_default();
            let neighbours: Vec<String> = (scenario.topology.region(&region).into_iter())
                .flat_map(|r| scenario.topology.regions_in(&r.jurisdiction))
                .filter(|r| r.name != region)
                .map(|r| r.name.clone())
                .collect();
            if !neighbours.is_empty() && at_ms < heal_at_ms && prng.percent(50) {
                let at_ms = at_ms.min(latest_start_ms);
                scenario.faults.faults.push(Fault {
                    at_ms,
                    duration_ms: duration_ms.clamp(FAULT_MS_MIN, heal_at_ms - at_ms),
                    kind: FaultKind::Partition {
                        from: region,
                        to: prng.pick(&neighbours).clone(),
                        one_way: false,
                    },
                });
            }
            let kind = FaultKind::Disk {
                host: aim.target.clone(),
                mode: *prng.pick(&WRITE_PATH_DISK_MODES),
            };
            (at_ms, duration_ms, kind, false)
        }
        // The region's scanners down while mail waits for a verdict, or
        // every scanner of its jurisdiction (the fail-closed wait) past a
        // short queue lifetime.
        "scanning" => {
            let Some(region) = region_of(&aim.target) else {
                return false;
            };
            let at_ms = before(prng, 2_000);
            let duration_ms = prng.range(heal_at_ms / 4, heal_at_ms + 1);
            if prng.percent(50) {
                let jurisdiction = (scenario.topology.region(&region))
                    .map(|r| r.jurisdiction.clone())
                    .unwrap_or_default();
                let others: Vec<String> = (scenario.topology.regions.iter())
                    .filter(|r| r.jurisdiction == jurisdiction && r.name != region)
                    .map(|r| r.name.clone())
                    .collect();
                for other in others {
                    scenario.faults.faults.push(Fault {
                        at_ms: at_ms.min(latest_start_ms),
                        duration_ms: duration_ms
                            .clamp(FAULT_MS_MIN, heal_at_ms - at_ms.min(latest_start_ms)),
                        kind: FaultKind::ScannerOutage { region: other },
                    });
                }
                (
                    at_ms,
                    duration_ms,
                    FaultKind::ScannerOutage { region },
                    true,
                )
            } else {
                (
                    at_ms,
                    duration_ms,
                    FaultKind::ScannerOutage { region },
                    false,
                )
            }
        }
        _ => return false,
    };
    if at_ms >= heal_at_ms {
        return false;
    }
    let at_ms = at_ms.min(latest_start_ms);
    let duration_ms = duration_ms.clamp(FAULT_MS_MIN, heal_at_ms - at_ms);
    if short_queue && scenario.knobs.queue_lifetime_ms > 8_000 {
        crate::scenario::bounce_knobs(prng, &mut scenario.knobs);
    }
    scenario.faults.faults.push(Fault {
        at_ms,
        duration_ms,
        kind,
    });
    true
}

/// The ways a disk fails a write or its sync: what an acceptor meets
/// while it stores a message.
const WRITE_PATH_DISK_MODES: [DiskMode; 5] = [
    DiskMode::FsyncError,
    DiskMode::FsyncForgets,
    DiskMode::FullMidWrite,
    DiskMode::Full,
    DiskMode::Slow,
];

fn pick_mut<'a>(prng: &mut Prng, faults: &'a mut [Fault]) -> Option<&'a mut Fault> {
    if faults.is_empty() {
        return None;
    }
    let index = prng.range(0, faults.len() as u64) as usize;
    faults.get_mut(index)
}

/// The same fault on a sibling of its target that it does not already
/// hit: another region of the same jurisdiction (so a whole jurisdiction
/// can go down, or every scanner of it), a partition from the same region
/// to another of its jurisdiction (so a region is cut off from all of its
/// own); any other target for the other kinds.
fn sibling(prng: &mut Prng, scenario: &Scenario, kind: &FaultKind) -> FaultKind {
    let topology = &scenario.topology;
    let taken: Vec<String> = scenario
        .faults
        .faults
        .iter()
        .filter(|f| f.kind.name() == kind.name())
        .map(|f| f.kind.target())
        .collect();
    let siblings = |region: &str| -> Vec<String> {
        let Some(jurisdiction) = topology.region(region).map(|r| r.jurisdiction.clone()) else {
            return Vec::new();
        };
        topology
            .regions_in(&jurisdiction)
            .into_iter()
            .map(|r| r.name.clone())
            .filter(|name| name != region)
            .collect()
    };
    match kind {
        FaultKind::RegionCrash { region }
        | FaultKind::RegionIsolation { region }
        | FaultKind::ScannerOutage { region } => {
            let free: Vec<String> = siblings(region)
                .into_iter()
                .filter(|name| !taken.contains(name))
                .collect();
            if free.is_empty() {
                return same_kind_elsewhere(prng, scenario, kind);
            }
            let region = prng.pick(&free).clone();
            match kind {
                FaultKind::RegionCrash { .. } => FaultKind::RegionCrash { region },
                FaultKind::RegionIsolation { .. } => FaultKind::RegionIsolation { region },
                _ => FaultKind::ScannerOutage { region },
            }
        }
        FaultKind::Partition { from, one_way, .. } => {
            let free: Vec<String> = siblings(from)
                .into_iter()
                .filter(|to| !taken.contains(&format!("{from},{to}")))
                .collect();
            if free.is_empty() {
                return same_kind_elsewhere(prng, scenario, kind);
            }
            FaultKind::Partition {
                from: from.clone(),
                to: prng.pick(&free).clone(),
                one_way: *one_way,
            }
        }
        _ => same_kind_elsewhere(prng, scenario, kind),
    }
}

/// `kind` with its target drawn again (another region, host, cloud, tenant
/// or domain; the same one may come back).
fn same_kind_elsewhere(prng: &mut Prng, scenario: &Scenario, kind: &FaultKind) -> FaultKind {
    let topology = &scenario.topology;
    let region = prng.pick(&topology.regions).clone();
    let others: Vec<String> = topology
        .regions
        .iter()
        .filter(|r| r.name != region.name)
        .map(|r| r.name.clone())
        .collect();
    let other = if others.is_empty() {
        region.name.clone()
    } else {
        prng.pick(&others).clone()
    };
    let gateways = topology.gateway_hosts(&region);
    let host = prng.pick(&gateways).clone();
    let tenant = prng.pick(&scenario.tenants).clone();
    match kind {
        FaultKind::RegionCrash { .. } => FaultKind::RegionCrash {
            region: region.name,
        },
        FaultKind::RegionIsolation { .. } => FaultKind::RegionIsolation {
            region: region.name,
        },
        FaultKind::CloudOutage { .. } => FaultKind::CloudOutage {
            cloud: region.cloud,
        },
        FaultKind::Partition { one_way, .. } => FaultKind::Partition {
            from: region.name,
            to: other,
            one_way: *one_way,
        },
        FaultKind::GrayLink {
            latency_ms,
            loss_percent,
            ..
        } => FaultKind::GrayLink {
            from: region.name,
            to: other,
            latency_ms: *latency_ms,
            loss_percent: *loss_percent,
        },
        FaultKind::HostCrash { .. } => FaultKind::HostCrash { host },
        FaultKind::Pause { .. } => FaultKind::Pause { host },
        FaultKind::Clock {
            offset_ms,
            drift_ppm,
            wander_ms,
            wander_period_ms,
            ..
        } => FaultKind::Clock {
            host,
            offset_ms: *offset_ms,
            drift_ppm: *drift_ppm,
            wander_ms: *wander_ms,
            wander_period_ms: *wander_period_ms,
        },
        FaultKind::Disk { mode, .. } => FaultKind::Disk { host, mode: *mode },
        FaultKind::HostPartition { one_way, .. } => {
            let peers: Vec<String> = gateways.iter().filter(|h| **h != host).cloned().collect();
            if peers.is_empty() {
                return kind.clone();
            }
            let to = prng.pick(&peers).clone();
            FaultKind::HostPartition {
                from: host,
                to,
                one_way: *one_way,
            }
        }
        FaultKind::MailboxMisbehaves { mode, .. } => FaultKind::MailboxMisbehaves {
            domain: tenant.domain,
            mode: *mode,
        },
        FaultKind::DnsFails { mode, .. } => FaultKind::DnsFails {
            domain: tenant.domain,
            mode: *mode,
        },
        FaultKind::DiskLost { .. } => FaultKind::DiskLost { host },
        FaultKind::ScannerOutage { .. } => FaultKind::ScannerOutage {
            region: region.name,
        },
        FaultKind::MailboxOutage { .. } => FaultKind::MailboxOutage {
            tenant: tenant.name,
        },
        FaultKind::MailboxRejects { .. } => {
            let senders = scenario.workload.senders.max(1);
            let domain = if prng.percent(50) {
                tenant.domain
            } else {
                sender_domain(prng.range(0, u64::from(senders)) as u32)
            };
            FaultKind::MailboxRejects { domain }
        }
        FaultKind::StaleDns { .. } => FaultKind::StaleDns {
            tenant: tenant.name,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Family;

    #[test]
    fn every_move_keeps_the_scenario_valid() {
        let parent = Scenario::generate_family(3, Family::Swarm);
        let other = Scenario::generate_family(4, Family::Swarm);
        let mut prng = Prng::new(9);
        for name in MOVES {
            for _ in 0..20 {
                let mut scenario = parent.clone();
                if apply(&mut prng, name, &mut scenario, Some(&other)) {
                    scenario.faults.faults.sort_by_key(|f| f.at_ms);
                    assert_eq!(scenario.validate(), Ok(()), "{name}: {scenario}");
                }
            }
        }
    }

    #[test]
    fn aiming_puts_a_valid_fault_where_and_when_the_parent_acted() {
        let parent = Scenario::generate_family(3, Family::Calm);
        let region = &parent.topology.regions[0];
        let gateway = parent.topology.gateway_hosts(region)[0].clone();
        let scanner = parent.topology.scanner_hosts(region)[0].clone();
        let tenant = &parent.tenants[0];
        let at = |what: &str, target: &str| Aim {
            what: what.into(),
            target: target.into(),
            t_ms: 20_000,
        };
        let cases: [(Aim, &[&str]); 5] = [
            (at("dsn_to", "sender0.example"), &["mailbox_rejects"]),
            (at("delivering", &gateway), &[]),
            (at("accepted", &gateway), &["disk_lost", "disk"]),
            (at("scanning", &scanner), &["scanner_outage"]),
            (at("mail_to", &tenant.domain), &[]),
        ];
        let mut accepted_kinds = std::collections::BTreeSet::new();
        for (seed, (aim_at, kinds)) in cases.iter().enumerate() {
            for draw in 0..10 {
                let mut prng = Prng::new(seed as u64 * 100 + draw);
                let mut scenario = parent.clone();
                assert!(aim(&mut prng, &mut scenario, std::slice::from_ref(aim_at)));
                scenario.faults.faults.sort_by_key(|f| f.at_ms);
                assert_eq!(scenario.validate(), Ok(()), "{aim_at:?}: {scenario}");
                let added: Vec<&Fault> = (scenario.faults.faults.iter())
                    .filter(|f| !parent.faults.faults.contains(f))
                    .collect();
                assert!(!added.is_empty(), "a fault added");
                for fault in &added {
                    assert!(fault.at_ms.abs_diff(aim_at.t_ms) <= 3_000, "{fault}");
                }
                if !kinds.is_empty() {
                    let aimed = (added.iter())
                        .find(|f| kinds.contains(&f.kind.name()))
                        .unwrap_or_else(|| panic!("none of {kinds:?} in {added:?}"));
                    if aim_at.what == "accepted" {
                        assert!(aimed.kind.target().starts_with(&gateway), "{aimed}");
                        accepted_kinds.insert(aimed.kind.name());
                    }
                }
            }
        }
        // The acceptor's disk is both lost and failing, over the draws.
        assert_eq!(accepted_kinds.len(), 2, "{accepted_kinds:?}");
        // An aim just before the heal leaves no room for a whole fault
        // after it: the fault starts early enough, it does not panic.
        let heal_at_ms = parent.phases.heal_at_ms;
        for (aim_at, _) in &cases {
            for late_ms in [1, 100, FAULT_MS_MIN - 1] {
                let late = Aim {
                    t_ms: heal_at_ms - late_ms,
                    ..aim_at.clone()
                };
                for draw in 0..10 {
                    let mut scenario = parent.clone();
                    aim(
                        &mut Prng::new(draw),
                        &mut scenario,
                        std::slice::from_ref(&late),
                    );
                    scenario.faults.faults.sort_by_key(|f| f.at_ms);
                    assert_eq!(scenario.validate(), Ok(()), "{late:?}: {scenario}");
                }
            }
        }
        let mut scenario = parent.clone();
        assert!(!aim(&mut Prng::new(1), &mut scenario, &[]));
        assert!(!aim(
            &mut Prng::new(1),
            &mut scenario,
            &[at("scanning", "nowhere")]
        ));
    }

    #[test]
    fn mutants_differ_from_their_parent_and_are_drawn_from_the_seed() {
        let parent = Scenario::generate_family(5, Family::Swarm);
        let draw = |seed| mutate(&mut Prng::new(seed), &parent, None, &[]);
        let (first, moves) = draw(1);
        assert_ne!(first, parent, "{moves}");
        assert_eq!(draw(1), (first, moves));
        assert_ne!(draw(1).0, draw(2).0);
    }

    #[test]
    fn widening_puts_the_same_kind_of_fault_on_another_target_at_the_same_time() {
        let parent = Scenario::generate_family(1, Family::RegionOutage);
        let mut prng = Prng::new(1);
        let mut scenario = parent.clone();
        assert!(apply(&mut prng, "widen", &mut scenario, None));
        let faults = &scenario.faults.faults;
        assert_eq!(faults.len(), parent.faults.faults.len() + 1);
        let (first, last) = (&faults[0], faults.last().expect("a fault"));
        assert_eq!(last.at_ms, first.at_ms);
        assert_eq!(last.kind.name(), first.kind.name());
        assert_ne!(last.kind.target(), first.kind.target());
        // Region faults widen within their jurisdiction: us stays us.
        let jurisdiction = |fault: &Fault| {
            let region = fault.kind.target();
            let region = region.split(',').next().unwrap_or_default().to_string();
            scenario
                .topology
                .region(&region)
                .map(|r| r.jurisdiction.clone())
        };
        assert_eq!(jurisdiction(last), jurisdiction(first));
    }

    #[test]
    fn widening_twice_takes_a_whole_jurisdiction_down() {
        let mut scenario = Scenario::generate_family(1, Family::RegionOutage);
        scenario.faults.faults.truncate(1);
        let mut prng = Prng::new(3);
        for _ in 0..2 {
            assert!(apply(&mut prng, "widen", &mut scenario, None));
        }
        let targets: std::collections::BTreeSet<String> = scenario
            .faults
            .faults
            .iter()
            .map(|f| f.kind.target())
            .collect();
        assert_eq!(targets.len(), 3, "{scenario}");
    }
}
