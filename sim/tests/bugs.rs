//! The known-bug catalogue, proven caught: for each bug, one small run in
//! which the bug is on must violate the property that exists for it, and the
//! same run with the correct gateway must pass. If a check stopped seeing
//! its bug, or started failing the correct gateway, one of these fails.
//!
//! Where a generated family catches the bug on its first seed (survey of
//! seeds 1..=6 in every family), the test uses that seed as drawn. The DSN
//! and scanner bugs need states no generated family reaches (faults all
//! heal long before the 120 s queue lifetime, so nothing ever expires; a
//! scanner outage is always one region, and the node asks the others), so
//! their tests edit a calm scenario by hand: a short queue lifetime under a
//! mailbox outage, or every scanner down. The catalogue bugs no check sees
//! yet are listed in the `not_yet_caught` module, ignored with the reason,
//! so the gap shows in `cargo test` rather than hiding.

use sim::faults::{Fault, FaultKind, FaultModel};
use sim::run::{RunOutcome, Verdict};
use sim::scenario::{Family, Scenario};

/// Runs `scenario` twice, with `bug` on and with the correct gateway, and
/// asserts the bug violates `property` while the correct gateway passes.
fn caught(scenario: Scenario, bug: &str, property: &str) {
    let seed = scenario.seed;
    let mut buggy = scenario.clone();
    buggy.bugs = vec![bug.to_string()];
    let outcome = sim::run::run(&buggy, seed);
    assert!(
        outcome
            .report
            .violations
            .iter()
            .any(|v| v.property == property),
        "{bug} was not caught as {property} on seed {seed}:\n{}",
        outcome.summary()
    );
    assert_ne!(outcome.verdict, Verdict::Pass);
    let correct = sim::run::run(&scenario, seed);
    assert_passes(&correct, bug);
}

fn assert_passes(outcome: &RunOutcome, bug: &str) {
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "the correct gateway failed the run used for {bug}:\n{}",
        outcome.summary()
    );
}

/// A generated scenario of `family` for `seed`.
fn drawn(seed: u64, family: Family) -> Scenario {
    Scenario::generate_family(seed, family)
}

/// Calm seed 1 cut to the mail sent in the first 9 s, healed at 25 s with
/// 30 s to drain, with exactly `faults`: small enough to run in seconds.
fn calm_edited(queue_lifetime_ms: u64, faults: Vec<Fault>) -> Scenario {
    let mut scenario = Scenario::generate_family(1, Family::Calm);
    scenario.workload.messages.retain(|m| m.at_ms < 9_000);
    scenario.phases.heal_at_ms = 25_000;
    // A buggy run that loses mail waits out the whole drain bound; 30 s is
    // ample for the correct gateway (backoff tops out at 8 s) and halves it.
    scenario.phases.drain_bound_ms = 30_000;
    scenario.knobs.queue_lifetime_ms = queue_lifetime_ms;
    scenario.faults.model = FaultModel::OneRegion;
    scenario.faults.faults = faults;
    scenario.validate().expect("the edited scenario is valid");
    scenario
}

/// acme's mailbox down for 20 s with a 10 s queue lifetime: acme's early
/// mail expires, so the gateway must bounce it with a DSN to its sender.
fn expiry_scenario() -> Scenario {
    calm_edited(
        10_000,
        vec![Fault {
            at_ms: 0,
            duration_ms: 20_000,
            kind: FaultKind::MailboxOutage {
                tenant: "acme".into(),
            },
        }],
    )
}

#[test]
fn scanner_skips_encoded_attachments_is_caught_as_malware_delivered() {
    caught(
        drawn(1, Family::Calm),
        "scanner-skips-encoded-attachments",
        "no_malware_delivered",
    );
}

#[test]
fn failover_ignores_residency_is_caught_as_a_residency_breach() {
    caught(
        drawn(1, Family::RegionOutage),
        "failover-ignores-residency",
        "residency",
    );
}

#[test]
fn delete_before_downstream_ack_is_caught_as_loss() {
    caught(
        drawn(1, Family::Swarm),
        "delete-before-downstream-ack",
        "no_acked_loss",
    );
}

#[test]
fn fail_open_scanner_is_caught_as_delivery_without_verdict() {
    // Every scanner down (scanner outages are outside the fault model's
    // count, so this is still a run that must pass every property).
    let regions = [
        "us-east-1",
        "us-central1",
        "eastus",
        "eu-west-1",
        "europe-west3",
        "westeurope",
    ];
    let faults = regions
        .iter()
        .map(|region| Fault {
            at_ms: 0,
            duration_ms: 20_000,
            kind: FaultKind::ScannerOutage {
                region: region.to_string(),
            },
        })
        .collect();
    caught(
        calm_edited(120_000, faults),
        "fail-open-scanner",
        "verdict_before_delivery",
    );
}

#[test]
fn expiry_without_dsn_is_caught_as_loss() {
    // The sender was told 250 and never hears of its mail again.
    caught(expiry_scenario(), "expiry-without-dsn", "no_acked_loss");
}

#[test]
fn dsn_to_wrong_sender_is_caught_as_loss() {
    // The bounce never reaches the sender, so the acknowledged pair ends
    // neither delivered nor bounced-with-DSN.
    caught(expiry_scenario(), "dsn-to-wrong-sender", "no_acked_loss");
}

#[test]
fn ack_before_fsync_is_caught_as_loss_when_every_copy_loses_power() {
    // Mail parked (two mailboxes down) on the spool of all three US regions,
    // which then crash together: beyond the one-region model, where only
    // "nothing acknowledged is lost" is still promised. Fsynced copies come
    // back after the restart; unsynced ones are gone.
    let mut faults: Vec<Fault> = ["us-east-1", "us-central1", "eastus"]
        .iter()
        .map(|region| Fault {
            at_ms: 10_000,
            duration_ms: 5_000,
            kind: FaultKind::RegionCrash {
                region: region.to_string(),
            },
        })
        .collect();
    for tenant in ["acme", "initech"] {
        faults.push(Fault {
            at_ms: 0,
            duration_ms: 20_000,
            kind: FaultKind::MailboxOutage {
                tenant: tenant.into(),
            },
        });
    }
    caught(
        calm_edited(120_000, faults),
        "ack-before-fsync",
        "no_acked_loss",
    );
}

#[test]
fn no_fencing_on_rejoin_is_caught_as_unexcused_duplicates() {
    // The schedule of the failover suite: acme's owner in us-east-1 is cut
    // off from its replicas while acme's mailbox is down, a replica takes
    // over, and after the heal the old owner delivers what it lost.
    let mut scenario = Scenario::generate_family(13, Family::Calm);
    scenario.faults.model = FaultModel::OneRegion;
    scenario.faults.faults = vec![Fault {
        at_ms: 2_000,
        duration_ms: 12_000,
        kind: FaultKind::MailboxOutage {
            tenant: "acme".into(),
        },
    }];
    for to in ["us-central1", "eastus"] {
        scenario.faults.faults.push(Fault {
            at_ms: 6_000,
            duration_ms: 19_000,
            kind: FaultKind::Partition {
                from: "us-east-1".into(),
                to: to.into(),
                one_way: false,
            },
        });
    }
    scenario.validate().expect("the edited scenario is valid");
    caught(scenario, "no-fencing-on-rejoin", "duplicates_bounded");
}

/// Catalogue bugs that no property catches yet: each test states the gap and
/// the run that shows it. `cargo test --test bugs -- --ignored` fails until
/// a check (or the bug) is fixed; un-ignore it then.
mod not_yet_caught {
    use super::*;

    /// Asserts some property catches `bug` in `scenario`.
    fn some_property_catches(scenario: Scenario, bug: &str) {
        let mut buggy = scenario;
        buggy.bugs = vec![bug.to_string()];
        let outcome = sim::run::run(&buggy, buggy.seed);
        assert_ne!(
            outcome.verdict,
            Verdict::Pass,
            "{bug} went unnoticed:\n{}",
            outcome.summary()
        );
    }

    #[test]
    #[ignore = "gap: the other tenant's mailbox refuses relay, so the misrouted \
                recipients bounce with a DSN, which every property accepts as a \
                legitimate outcome (calm seed 1: 8 DSNs, PASS)"]
    fn cross_tenant_routing_is_caught() {
        some_property_catches(drawn(1, Family::Calm), "cross-tenant-routing");
    }

    #[test]
    #[ignore = "gap: every fault heals, so mail retried past its queue lifetime \
                is delivered late, which no property forbids (needs an \
                'expiry honoured' check)"]
    fn retry_forever_is_caught() {
        some_property_catches(expiry_scenario(), "retry-forever");
    }

    #[test]
    #[ignore = "gap: senders' domains never fail, so no DSN ever bounces and the \
                bug's code path is never reached (needs a sender-domain outage fault)"]
    fn dsn_about_dsn_is_caught() {
        some_property_catches(expiry_scenario(), "dsn-about-dsn");
    }

    #[test]
    #[ignore = "gap: the acceptor's own copy is fsynced and disks survive crashes, \
                so a 250 with one copy is never lost in the fault model; needs a \
                check of copies at 250 time or a lost-disk fault"]
    fn ack_before_replication_quorum_is_caught() {
        some_property_catches(
            drawn(1, Family::CloudOutage),
            "ack-before-replication-quorum",
        );
    }
}
