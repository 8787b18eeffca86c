//! Targeted families: schedules aimed at one hard state each, so the bug
//! hunt (`sim/src/bug_hunt.rs`) reaches the state a known bug needs within a
//! handful of seeds instead of waiting for the swarm to stumble on it.
//!
//! - bounces: tenant mailboxes down past the (short) queue lifetime, or
//!   rejecting mail, and senders' own domains rejecting bounces: expiry,
//!   DSNs, and DSNs that cannot be delivered.
//! - disk-loss: one gateway cut off from the rest of its jurisdiction, then
//!   replaced with an empty disk: only copies on other nodes survive.
//! - power-loss: mail parked behind a mailbox outage, then every region of
//!   its jurisdiction loses power at once (beyond the model: only "nothing
//!   acknowledged is lost" and the drain are still promised).
//! - scanner-outage: every scanner of a jurisdiction down for a while.
//! - clock-skew: the bounces family with every gateway's clock off (within
//!   the bound) for the whole fault phase, and a few short pauses.
//!
//! Each is drawn from its own stream, so the older families' seeds are
//! unchanged.

use crate::faults::{Fault, FaultKind, FaultModel, FaultSchedule};
use crate::prng::Prng;
use crate::scenario::{TenantSpec, sender_domain};
use crate::topology::Topology;

/// The jurisdictions of the topology, in first-seen order.
fn jurisdictions(topology: &Topology) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for region in &topology.regions {
        if !out.contains(&region.jurisdiction) {
            out.push(region.jurisdiction.clone());
        }
    }
    out
}

fn schedule(model: FaultModel, mut faults: Vec<Fault>) -> FaultSchedule {
    faults.sort_by_key(|f| f.at_ms);
    FaultSchedule {
        model,
        faults,
        torn_write_block_bytes: None,
    }
}

/// Mailbox outages outlasting the queue lifetime (`queue_lifetime_ms`, the
/// family's short one), mailbox rejections, and sender domains rejecting
/// bounces. At least one tenant's mailbox misbehaves.
pub fn bounces(
    prng: &mut Prng,
    tenants: &[TenantSpec],
    senders: u32,
    queue_lifetime_ms: u64,
    heal_at_ms: u64,
) -> FaultSchedule {
    let mut faults = Vec::new();
    // One tenant's mailbox is down from early on until about the heal, so
    // its early mail outlives its lifetime by far more than a retry.
    let first = prng.range(0, tenants.len() as u64) as usize;
    let at_ms = prng.range(1_000, heal_at_ms / 8);
    let until_ms = prng.range(heal_at_ms - 2_000, heal_at_ms + 1);
    faults.push(Fault {
        at_ms,
        duration_ms: until_ms - at_ms,
        kind: FaultKind::MailboxOutage {
            tenant: tenants[first].name.clone(),
        },
    });
    for (index, tenant) in tenants.iter().enumerate() {
        if index == first || !prng.percent(50) {
            continue;
        }
        let at_ms = prng.range(1_000, heal_at_ms / 2);
        let kind = if prng.percent(50) {
            FaultKind::MailboxOutage {
                tenant: tenant.name.clone(),
            }
        } else {
            FaultKind::MailboxRejects {
                domain: tenant.domain.clone(),
            }
        };
        let shortest = (queue_lifetime_ms + 2_000).min(heal_at_ms - at_ms);
        faults.push(Fault {
            at_ms,
            duration_ms: prng.range(shortest, heal_at_ms - at_ms + 1),
            kind,
        });
    }
    // Senders' domains that refuse bounces for most of the run: the DSNs
    // for them cannot be delivered, and must be dropped, not bounced.
    for sender in 0..senders {
        if prng.percent(60) {
            let at_ms = prng.range(1_000, heal_at_ms / 4);
            faults.push(Fault {
                at_ms,
                duration_ms: prng.range(heal_at_ms / 2, heal_at_ms - at_ms + 1),
                kind: FaultKind::MailboxRejects {
                    domain: sender_domain(sender),
                },
            });
        }
    }
    schedule(FaultModel::OneRegion, faults)
}

/// One gateway partitioned from the other regions of its jurisdiction, its
/// disk lost while it is cut off. All of it is that one region's failure.
pub fn disk_loss(prng: &mut Prng, topology: &Topology, heal_at_ms: u64) -> FaultSchedule {
    let region = prng.pick(&topology.regions).clone();
    let host = prng.pick(&topology.gateway_hosts(&region)).clone();
    let at_ms = prng.range(2_000, heal_at_ms / 2);
    let cut_ms = prng.range(4_000, 12_000);
    let mut faults: Vec<Fault> = topology
        .regions_in(&region.jurisdiction)
        .into_iter()
        .filter(|r| r.name != region.name)
        .map(|r| Fault {
            at_ms,
            duration_ms: cut_ms,
            kind: FaultKind::Partition {
                from: region.name.clone(),
                to: r.name.clone(),
                one_way: false,
            },
        })
        .collect();
    let lost_at_ms = at_ms + prng.range(500, cut_ms);
    faults.push(Fault {
        at_ms: lost_at_ms,
        duration_ms: prng.range(1_000, 6_000),
        kind: FaultKind::DiskLost { host },
    });
    schedule(FaultModel::OneRegion, faults)
}

/// A tenant's mailbox down (so its mail waits on the spools), then every
/// region of that tenant's jurisdiction crashing together.
pub fn power_loss(
    prng: &mut Prng,
    topology: &Topology,
    tenants: &[TenantSpec],
    heal_at_ms: u64,
) -> FaultSchedule {
    let tenant = prng.pick(tenants).clone();
    let mut faults = vec![Fault {
        at_ms: 0,
        duration_ms: prng.range(heal_at_ms / 2, heal_at_ms + 1),
        kind: FaultKind::MailboxOutage {
            tenant: tenant.name.clone(),
        },
    }];
    let at_ms = prng.range(5_000, heal_at_ms / 2);
    let duration_ms = prng.range(2_000, 8_000);
    for region in topology.regions_in(&tenant.jurisdiction) {
        faults.push(Fault {
            at_ms,
            duration_ms,
            kind: FaultKind::RegionCrash {
                region: region.name.clone(),
            },
        });
    }
    schedule(FaultModel::OneRegion, faults)
}

/// Every scanner of one jurisdiction down at once, for a while.
pub fn scanner_outage(prng: &mut Prng, topology: &Topology, heal_at_ms: u64) -> FaultSchedule {
    let all = jurisdictions(topology);
    let jurisdiction = prng.pick(&all).clone();
    let at_ms = prng.range(1_000, heal_at_ms / 2);
    let duration_ms = prng.range(5_000, heal_at_ms - at_ms + 1);
    let faults = topology
        .regions_in(&jurisdiction)
        .into_iter()
        .map(|r| Fault {
            at_ms,
            duration_ms,
            kind: FaultKind::ScannerOutage {
                region: r.name.clone(),
            },
        })
        .collect();
    schedule(FaultModel::OneRegion, faults)
}

/// `schedule` with every gateway's clock stepped forward by two to two and
/// a half times the model's bound (and drifting a little faster) at some
/// point of the first half of the fault phase until the heal — a step while
/// mail is queued is what moves an acceptance time against its owner's
/// clock, and forward is the direction that makes mail look older — and one
/// to three pauses of gateways within the bound. The steps are beyond the
/// model on purpose: a bounce reaches its sender two seconds or more after
/// the expiry that caused it (the next retry, then the DSN's own
/// replication and delivery), so `no_false_bounce` can only see an expiry
/// brought forward by more than that. The gateway's allowance for clock
/// error (twice the bound) plus that lag covers these steps (the correct
/// gateway passed seeds 1-10; steps of three times the bound already fail
/// it on some: expiry is judged by wall clocks, and the seam has no
/// monotonic clock); a gateway without the allowance
/// (`expiry-trusts-clocks`) bounces early (4 of those 10 seeds). (The
/// swarm's `clock::draw` steps either way, mostly within the bound.)
pub fn clock_skew(
    prng: &mut Prng,
    topology: &Topology,
    mut schedule: FaultSchedule,
    heal_at_ms: u64,
) -> FaultSchedule {
    let gateways: Vec<String> = topology
        .regions
        .iter()
        .flat_map(|r| topology.gateway_hosts(r))
        .collect();
    for host in &gateways {
        let at_ms = prng.range(1_000, heal_at_ms / 2);
        let bound_ms = models::tolerances::CLOCK_ERROR_MS_MAX;
        let fault = Fault {
            at_ms,
            duration_ms: heal_at_ms - at_ms,
            kind: FaultKind::Clock {
                host: host.clone(),
                offset_ms: prng.range(bound_ms * 2, bound_ms * 5 / 2 + 1) as i64,
                drift_ppm: prng.range(0, 101) as i64,
                wander_ms: 0,
                wander_period_ms: 0,
            },
        };
        schedule.faults.push(fault);
    }
    for _ in 0..prng.range(1, 4) {
        let at_ms = prng.range(1_000, heal_at_ms - 3_000);
        schedule
            .faults
            .push(crate::faults::pause::draw(prng, &gateways, at_ms, 0));
    }
    schedule.faults.sort_by_key(|f| f.at_ms);
    schedule
}

#[cfg(test)]
mod tests {
    use crate::faults::FaultKind;
    use crate::scenario::{Family, Scenario};

    #[test]
    fn every_targeted_family_draws_valid_scenarios_inside_or_beyond_the_model_as_meant() {
        for seed in 1..=30 {
            for family in [
                Family::Bounces,
                Family::DiskLoss,
                Family::PowerLoss,
                Family::ScannerOutage,
            ] {
                let scenario = Scenario::generate_family(seed, family);
                scenario.validate().expect("a drawn scenario is valid");
                assert_eq!(scenario, Scenario::generate_family(seed, family));
                let inside = scenario
                    .faults
                    .within_model(&scenario.topology, scenario.phases.heal_at_ms);
                // Only power-loss takes a whole jurisdiction down.
                assert_eq!(
                    inside,
                    family != Family::PowerLoss,
                    "{family:?} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn bounces_keeps_one_mailbox_down_past_the_short_lifetime() {
        for seed in 1..=30 {
            let scenario = Scenario::generate_family(seed, Family::Bounces);
            let lifetime_ms = scenario.knobs.queue_lifetime_ms;
            assert!(lifetime_ms < 10_000);
            let long_outage = scenario.faults.faults.iter().any(|f| {
                matches!(f.kind, FaultKind::MailboxOutage { .. }) && f.duration_ms > 3 * lifetime_ms
            });
            assert!(long_outage, "seed {seed}: {:?}", scenario.faults.faults);
        }
    }

    #[test]
    fn a_rejecting_domain_must_be_a_tenants_or_a_senders() {
        let mut scenario = Scenario::generate_family(1, Family::Bounces);
        scenario.faults.faults.push(crate::faults::Fault {
            at_ms: 1_000,
            duration_ms: 1_000,
            kind: FaultKind::MailboxRejects {
                domain: "nowhere.example".into(),
            },
        });
        let error = scenario
            .validate()
            .expect_err("an unknown domain is refused");
        assert!(error.contains("nowhere.example"), "{error}");
    }
}
