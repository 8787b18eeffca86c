//! Region and cloud failover, end to end: the real gateway on turmoil, with
//! outages placed by hand so each test reaches the state it is about.
//!
//! Each scenario parks mail on the node that is about to fail (its tenant's
//! mailbox server is down when the outage starts), so "loses nothing" means
//! a surviving replica took the mail over and delivered it while the failed
//! node was still gone — not that the node came back and did it itself. A
//! partition that cuts an owner off from its replicas (but not from the
//! mailbox) must end with every message delivered once; with the
//! `no-fencing-on-rejoin` bug the very same schedule must be caught.
//! Residency wins over availability: with every EU region down, EU mail is
//! deferred (never accepted elsewhere) and arrives after the heal. A
//! backlog of hundreds fails over as a whole, not one message per timeout.

use properties::facts::msg_key;
use properties::{Facts, Outcomes};
use sim::deploy;
use sim::faults::{Fault, FaultKind, FaultModel};
use sim::run::{RunOutcome, Verdict};
use sim::scenario::{Family, Scenario};
use traces::{EventKind, Told};

fn facts_of(scenario: &Scenario) -> Facts {
    deploy::facts(scenario, &deploy::gateway_config(scenario))
}

fn fault(at_ms: u64, duration_ms: u64, kind: FaultKind) -> Fault {
    Fault {
        at_ms,
        duration_ms,
        kind,
    }
}

fn mailbox_outage(tenant: &str, at_ms: u64, until_ms: u64) -> Fault {
    fault(
        at_ms,
        until_ms - at_ms,
        FaultKind::MailboxOutage {
            tenant: tenant.into(),
        },
    )
}

/// A calm scenario of `seed` with exactly `faults`.
fn scenario(seed: u64, model: FaultModel, faults: Vec<Fault>) -> Scenario {
    let mut scenario = Scenario::generate_family(seed, Family::Calm);
    scenario.faults.model = model;
    scenario.faults.faults = faults;
    scenario.validate().expect("the edited scenario is valid");
    scenario
}

fn assert_pass(outcome: &RunOutcome, what: &str) {
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{what} (seed {}):\n{}",
        outcome.seed,
        outcome.summary()
    );
}

/// The tenant a workload message is for.
fn tenant_of<'a>(scenario: &'a Scenario, msg: &str) -> &'a str {
    let key = msg_key(msg);
    let plan = scenario
        .workload
        .messages
        .iter()
        .find(|m| msg_key(&m.id) == key);
    plan.map_or("", |m| m.tenant.as_str())
}

fn jurisdiction_of<'a>(scenario: &'a Scenario, tenant: &str) -> &'a str {
    let spec = scenario.tenants.iter().find(|t| t.name == tenant);
    spec.map_or("", |t| t.jurisdiction.as_str())
}

/// (time in ms, told, host that answered) for every send outcome of the
/// tenants `keep` selects.
fn outcomes(
    outcome: &RunOutcome,
    facts: &Facts,
    keep: impl Fn(&str) -> bool,
) -> Vec<(u64, Told, String, String)> {
    let view = Outcomes::build(&outcome.log, facts);
    let events = outcome.log.events();
    (0..events.len())
        .filter_map(|i| match &events[i].kind {
            EventKind::SendOutcome { msg, told, .. } => {
                let tenant = view.message(msg).map(|m| m.tenant.clone())?;
                keep(&tenant).then(|| {
                    let mx = view.mx_for(i).unwrap_or("").to_string();
                    (events[i].t_us / 1_000, *told, mx, msg_key(msg))
                })
            }
            _ => None,
        })
        .collect()
}

/// Pairs acknowledged by `host` before `before_ms`, and when each was
/// first settled (None if never).
fn settled_after_ack_by(
    outcome: &RunOutcome,
    facts: &Facts,
    host: &str,
    before_ms: u64,
) -> Vec<(String, Option<u64>)> {
    let view = Outcomes::build(&outcome.log, facts);
    view.acknowledged()
        .filter(|(_, accepted)| {
            accepted
                .iter()
                .any(|sent| sent.t_us / 1_000 < before_ms && view.mx_for(sent.index) == Some(host))
        })
        .map(|(pair, _)| {
            let first = view.settlements(pair).first().map(|&(i, _)| i);
            (pair.to_string(), first.map(|i| view.events[i].t_us / 1_000))
        })
        .collect()
}

#[test]
fn us_east_1_down_during_load_loses_nothing_and_eu_traffic_is_untouched() {
    const SEED: u64 = 11;
    let (crash_at, back_at) = (8_000, 33_000);
    let us_east = "gw-aws-us-east-1-0";
    // acme's mail goes to us-east-1 first; with acme's mailbox down it is
    // still queued there when the region goes.
    let scenario = scenario(
        SEED,
        FaultModel::OneRegion,
        vec![
            mailbox_outage("acme", 3_000, 10_000),
            fault(
                crash_at,
                back_at - crash_at,
                FaultKind::RegionCrash {
                    region: "us-east-1".into(),
                },
            ),
        ],
    );
    let outcome = sim::run::run(&scenario, SEED);
    assert_pass(&outcome, "us-east-1 down during load");
    assert!(outcome.within_fault_model);
    let facts = facts_of(&scenario);
    let sometimes = &outcome.report.sometimes;
    assert!(sometimes.failovers > 0, "no failover happened");

    // What us-east-1 held when it went down was delivered by a survivor,
    // while us-east-1 was still down.
    let parked = settled_after_ack_by(&outcome, &facts, us_east, crash_at);
    assert!(!parked.is_empty(), "us-east-1 held nothing when it crashed");
    for (pair, settled) in &parked {
        let settled = settled.unwrap_or_else(|| panic!("{pair} never settled"));
        assert!(
            settled < back_at,
            "{pair} waited for us-east-1 to return (settled at {settled} ms)"
        );
    }

    // US mail kept being accepted during the outage, never by us-east-1.
    let us = outcomes(&outcome, &facts, |t| jurisdiction_of(&scenario, t) == "us");
    let during = |&&(t, _, _, _): &&(u64, Told, String, String)| crash_at <= t && t < back_at;
    assert!(
        us.iter()
            .filter(during)
            .any(|(_, told, _, _)| *told == Told::Accepted),
        "no US mail accepted during the outage"
    );
    assert!(
        us.iter()
            .filter(during)
            .all(|(_, told, mx, _)| *told != Told::Accepted || mx != us_east)
    );

    // EU mail never noticed: every attempt answered at once, none deferred.
    let eu = outcomes(&outcome, &facts, |t| jurisdiction_of(&scenario, t) == "eu");
    assert!(!eu.is_empty());
    for (t, told, mx, msg) in &eu {
        assert!(
            matches!(told, Told::Accepted | Told::Rejected),
            "EU message {msg} was told {told:?} by {mx} at {t} ms"
        );
    }
}

#[test]
fn a_whole_cloud_outage_loses_nothing_for_tenants_whose_regions_span_two_clouds() {
    const SEED: u64 = 12;
    let (down_at, back_at) = (8_000, 33_000);
    // acme (US) and lemonde (EU) send to aws first; their mailboxes being
    // down when aws goes leaves mail queued on both aws gateways.
    let scenario = scenario(
        SEED,
        FaultModel::OneCloud,
        vec![
            mailbox_outage("acme", 3_000, 10_000),
            mailbox_outage("lemonde", 3_000, 10_000),
            fault(
                down_at,
                back_at - down_at,
                FaultKind::CloudOutage {
                    cloud: "aws".into(),
                },
            ),
        ],
    );
    let outcome = sim::run::run(&scenario, SEED);
    assert_pass(&outcome, "aws down");
    assert!(outcome.within_fault_model);
    let facts = facts_of(&scenario);
    assert!(
        outcome.report.sometimes.failovers >= 2,
        "a failover per aws node"
    );

    for aws in ["gw-aws-us-east-1-0", "gw-aws-eu-west-1-0"] {
        let parked = settled_after_ack_by(&outcome, &facts, aws, down_at);
        assert!(!parked.is_empty(), "{aws} held nothing when aws went down");
        for (pair, settled) in &parked {
            let settled = settled.unwrap_or_else(|| panic!("{pair} never settled"));
            assert!(settled < back_at, "{pair} waited for aws ({settled} ms)");
        }
    }
    // Both jurisdictions kept taking mail on their other two clouds.
    for jurisdiction in ["us", "eu"] {
        let sent = outcomes(&outcome, &facts, |t| {
            jurisdiction_of(&scenario, t) == jurisdiction
        });
        let accepted_during = sent
            .iter()
            .filter(|(t, told, _, _)| down_at <= *t && *t < back_at && *told == Told::Accepted)
            .count();
        assert!(accepted_during > 0, "{jurisdiction}: nothing accepted");
    }
}

/// us-east-1 cut off from the other US regions (both ways) while acme's
/// mailbox is down: the owner keeps running and can still reach the
/// mailbox, but not its replicas. Senders still reach it too.
fn partition_scenario(bugs: &[&str]) -> Scenario {
    const SEED: u64 = 13;
    let partition = |to: &str| {
        fault(
            6_000,
            19_000,
            FaultKind::Partition {
                from: "us-east-1".into(),
                to: to.into(),
                one_way: false,
            },
        )
    };
    let mut scenario = scenario(
        SEED,
        FaultModel::OneRegion,
        vec![
            mailbox_outage("acme", 2_000, 14_000),
            partition("us-central1"),
            partition("eastus"),
        ],
    );
    scenario.bugs = bugs.iter().map(|b| b.to_string()).collect();
    scenario
}

#[test]
fn a_partition_that_isolates_an_owner_and_then_heals_delivers_nothing_twice() {
    let scenario = partition_scenario(&[]);
    let outcome = sim::run::run(&scenario, scenario.seed);
    assert_pass(&outcome, "owner partitioned from its replicas");
    assert!(outcome.within_fault_model);
    let sometimes = &outcome.report.sometimes;
    assert!(sometimes.failovers > 0, "no failover happened");
    assert!(
        sometimes.fenced_attempts > 0,
        "the old owner was never stopped"
    );
    assert_eq!(outcome.report.figures.duplicates, 0);
    let facts = facts_of(&scenario);
    let parked = settled_after_ack_by(&outcome, &facts, "gw-aws-us-east-1-0", 6_000);
    assert!(!parked.is_empty(), "the owner held nothing when cut off");

    // The same schedule with the old owner trusting its own copy.
    let buggy = partition_scenario(&["no-fencing-on-rejoin"]);
    let caught = sim::run::run(&buggy, buggy.seed);
    assert_eq!(
        caught.verdict,
        Verdict::SafetyViolation,
        "the bug went unnoticed:\n{}",
        caught.summary()
    );
    assert!(
        caught.report.violations.iter().any(|v| matches!(
            v.property.as_str(),
            "duplicates_bounded" | "no_unacked_delivery"
        )),
        "{}",
        caught.summary()
    );
}

#[test]
fn an_eu_only_tenant_with_every_eu_region_down_gets_4xx_and_after_heal_everything_arrives() {
    const SEED: u64 = 14;
    let (down_at, back_at) = (8_000, 28_000);
    let eu_regions = ["eu-west-1", "europe-west3", "westeurope"];
    let faults = eu_regions
        .iter()
        .map(|region| {
            fault(
                down_at,
                back_at - down_at,
                FaultKind::RegionCrash {
                    region: region.to_string(),
                },
            )
        })
        .collect();
    let scenario = scenario(SEED, FaultModel::OneRegion, faults);
    let outcome = sim::run::run(&scenario, SEED);
    // Beyond the model every safety promise still holds (residency above
    // all); only liveness could be excused, and nothing needs to be.
    assert!(!outcome.within_fault_model);
    assert_pass(&outcome, "every EU region down");
    assert!(
        outcome.excused.is_empty(),
        "violations beyond the model: {:#?}",
        outcome.excused
    );
    let facts = facts_of(&scenario);

    let eu = outcomes(&outcome, &facts, |t| jurisdiction_of(&scenario, t) == "eu");
    // Mail in flight at the crash may still hear its 250 a moment later.
    let settle_ms = 100;
    let during: Vec<_> = eu
        .iter()
        .filter(|(t, _, _, _)| down_at + settle_ms <= *t && *t < back_at)
        .collect();
    assert!(!during.is_empty(), "no EU sender tried during the outage");
    for (t, told, mx, msg) in &during {
        assert_eq!(
            *told,
            Told::Deferred,
            "EU message {msg} was told {told:?} by {mx} at {t} ms"
        );
    }
    // Everything deferred then got its answer after the heal: accepted
    // (and, being acknowledged, delivered — no_acked_loss and the drain
    // passed), or refused for a recipient that does not exist.
    let mut accepted_after = 0;
    for (_, _, _, msg) in &during {
        let answers: Vec<Told> = eu
            .iter()
            .filter(|(t, _, _, m)| m == msg && *t >= back_at)
            .map(|(_, told, _, _)| *told)
            .collect();
        assert!(
            answers.contains(&Told::Accepted) || answers.contains(&Told::Rejected),
            "{msg} got no answer after the heal: {answers:?}"
        );
        accepted_after += usize::from(answers.contains(&Told::Accepted));
    }
    assert!(accepted_after > 0);
    // EU bytes never left the EU, whatever the senders tried.
    let eu_regions: Vec<&str> = eu_regions.to_vec();
    for event in outcome.log.events() {
        if let EventKind::BytesSeen { msg, region, .. } = &event.kind
            && jurisdiction_of(&scenario, tenant_of(&scenario, msg)) == "eu"
        {
            assert!(
                eu_regions.contains(&region.as_str()),
                "{msg} seen in {region}"
            );
        }
    }
}

/// One plain message to one acme user, offered at 1 s: its owner is acme's
/// first MX. Everything is over long before the heal at 6 s.
fn one_message_scenario() -> Scenario {
    let mut scenario = Scenario::generate_family(7, Family::Calm);
    let tenant = scenario.tenants[0].clone();
    let message = sim::scenario::MessagePlan {
        at_ms: 1_000,
        rcpts: vec![format!("{}@{}", tenant.users[0], tenant.domain)],
        tenant: tenant.name.clone(),
        kind: sim::workload::mime::MessageKind::Plain,
        size_octets: None,
        null_reverse_path: false,
        ..scenario.workload.messages[0].clone()
    };
    scenario.workload.messages = vec![message];
    scenario.phases.heal_at_ms = 6_000;
    scenario.phases.drain_bound_ms = 20_000;
    scenario.validate().expect("the edited scenario is valid");
    scenario
}

fn first_arrival_ms(outcome: &RunOutcome) -> u64 {
    let arrival = outcome
        .log
        .events()
        .iter()
        .find(|e| matches!(e.kind, EventKind::MailboxReceived { .. }));
    arrival.expect("the message arrived").t_us / 1_000
}

#[test]
fn an_owner_that_crashes_between_its_final_dot_and_the_reply_redelivers_only_as_rfc_1047_allows() {
    let scenario = one_message_scenario();
    let owner = "gw-aws-us-east-1-0";
    let calm = sim::run::run(&scenario, 1);
    assert_pass(&calm, "the unfaulted single-message run");
    // The mailbox logs the arrival at the dot; the owner sent the dot one
    // link latency (20 ms) before and hears the 250 one after. Crash it
    // before, inside and after that window.
    let arrived = first_arrival_ms(&calm);
    let mut lost_replies = 0;
    for crash_at_ms in (arrived - 25..arrived + 30).step_by(10) {
        let mut crashed = scenario.clone();
        crashed.faults.faults = vec![fault(
            crash_at_ms,
            2_000,
            FaultKind::HostCrash { host: owner.into() },
        )];
        let outcome = sim::run::run(&crashed, 1);
        assert_pass(&outcome, &format!("owner crash at {crash_at_ms} ms"));
        let lost = outcome
            .log
            .events()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::MailboxReplyLost { .. }))
            .count();
        // A second copy only ever comes with a lost reply to excuse it.
        assert!(outcome.report.figures.duplicates as usize <= lost);
        lost_replies += lost;
    }
    assert!(
        lost_replies > 0,
        "no crash fell between the dot and the reply"
    );
}

#[test]
fn a_backlog_of_hundreds_fails_over_while_its_owners_region_is_down() {
    const SEED: u64 = 1;
    const MESSAGES: usize = 400;
    let (crash_at, back_at) = (25_000, 100_000);
    let us_east = "gw-aws-us-east-1-0";
    // acme's mail goes to us-east-1 first and parks there behind acme's
    // mailbox outage; the region goes down five seconds before the
    // mailbox comes back. A claim that also waited for the silent owner
    // (a connection that never opens, twice per message) took over one
    // message per four seconds, and most of the backlog waited for the
    // region to return.
    let mut scenario = scenario(
        SEED,
        FaultModel::OneRegion,
        vec![
            mailbox_outage("acme", 50, 30_000),
            fault(
                crash_at,
                back_at - crash_at,
                FaultKind::RegionCrash {
                    region: "us-east-1".into(),
                },
            ),
        ],
    );
    let template = (scenario.workload.messages.iter())
        .find(|m| m.tenant == "acme" && m.kind == sim::workload::mime::MessageKind::Plain)
        .expect("seed 1 has plain acme mail")
        .clone();
    scenario.workload.messages = (0..MESSAGES)
        .map(|n| {
            let mut message = template.clone();
            message.id = format!("backlog{n}.s{SEED}@mailsim.test");
            message.at_ms = 100 + 30 * n as u64;
            message.body_seed = n as u64 + 1;
            message.null_reverse_path = false;
            message.size_octets = None;
            message
        })
        .collect();
    scenario.phases.heal_at_ms = back_at + 100;
    scenario.validate().expect("the backlog scenario is valid");
    let outcome = sim::run::run(&scenario, SEED);
    assert_pass(&outcome, "a backlog behind a region outage");
    let facts = facts_of(&scenario);
    let parked = settled_after_ack_by(&outcome, &facts, us_east, crash_at);
    assert!(parked.len() >= MESSAGES / 2, "{} parked", parked.len());
    for (pair, settled) in &parked {
        let settled = settled.unwrap_or_else(|| panic!("{pair} never settled"));
        assert!(
            settled < back_at,
            "{pair} waited for us-east-1 to return (settled at {settled} ms)"
        );
    }
    // A sync round reconciles its copies side by side: one claim after
    // another (a round trip or two each) took about 33 s for 400.
    let failovers: Vec<u64> = (outcome.log.events().iter())
        .filter(|e| matches!(&e.kind, EventKind::GwNote { what, .. } if what == "failover"))
        .map(|e| e.t_us / 1000)
        .collect();
    assert!(
        failovers.len() >= parked.len(),
        "{} failovers",
        failovers.len()
    );
    let (first, last) = (failovers[0], failovers[failovers.len() - 1]);
    assert!(
        last - first < 15_000,
        "the backlog failed over from {first} ms to {last} ms"
    );
}
