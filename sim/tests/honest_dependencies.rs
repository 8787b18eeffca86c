//! Dependencies that fail the ways real ones do (issue 16, item 5): each
//! kind visibly changes a run, on every engine in this build, and the
//! correct gateway keeps every promise under it.
//!
//! - a greylisting mail server: 451 at RCPT, let in on a later try; a
//!   gateway that takes a 4xx for a 5xx (`bounce-on-4xx`) bounces mail
//!   that was never refused, and `no_false_bounce` says so;
//! - a mail server that no longer knows its users: 550 at RCPT, and the
//!   recipients bounced at once; a gateway that takes the 5xx for a 4xx
//!   (`retry-after-5xx`) offers them again at every retry, and
//!   `no_retry_after_refusal` says so;
//! - a tarpit: every reply late, deliveries later than without it; a
//!   gateway that waits only 1 s for the reply to its final dot and takes
//!   the silence for a refusal (`dot-timeout-bounces`) bounces mail the
//!   server kept, and `no_false_bounce` says so;
//! - a hang-up after DATA: the server kept the message and the gateway
//!   never heard, so it delivers again, and the copy is excused;
//! - a refusal that explains itself at length (a 554 of 120 lines): the
//!   recipients bounced in one DSN; a gateway that keeps the whole text
//!   for each (`refusal-text-kept-whole`) makes a DSN too big to copy,
//!   which never goes out (`no_acked_loss`);
//! - a reset mid-data: nothing arrives while it lasts, all of it after; a
//!   gateway that takes the dead stream for a delivery
//!   (`drop-means-delivered`) loses the mail (`no_acked_loss`);
//! - DNS that fails (SERVFAIL, silence) or flaps for a tenant's domain,
//!   and for senders' domains while their DSNs wait: a gateway that takes
//!   SERVFAIL for NXDOMAIN (`servfail-bounces`) gives the DSNs up, and the
//!   senders never hear (`no_acked_loss`);
//! - a partition between two single gateways of one jurisdiction.

use std::collections::BTreeSet;

use properties::facts::msg_key;
use sim::deploy;
use sim::engine::Engine;
use sim::faults::{DnsMode, Fault, FaultKind, MailboxMode};
use sim::run::{RunOutcome, Verdict};
use sim::scenario::{Family, Scenario};
use traces::{EventKind, Presence};

fn small(seed: u64) -> Scenario {
    let mut scenario = Scenario::generate_family(seed, Family::Calm);
    scenario.workload.messages.truncate(16);
    scenario.phases.heal_at_ms = 20_000;
    scenario.validate().expect("the cut-down scenario is valid");
    scenario
}

fn with_fault(scenario: &Scenario, duration_ms: u64, kind: FaultKind) -> Scenario {
    let mut faulted = scenario.clone();
    faulted.faults.faults = vec![Fault {
        at_ms: 0,
        duration_ms,
        kind,
    }];
    faulted.validate().expect("the faulted scenario is valid");
    faulted
}

fn engines() -> Vec<Engine> {
    [Engine::Turmoil, Engine::Madsim]
        .into_iter()
        .filter(|e| e.available())
        .collect()
}

fn passes(engine: Engine, scenario: &Scenario) -> RunOutcome {
    let outcome = sim::run::run_on(engine, scenario, scenario.seed);
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{engine}: {}",
        outcome.summary()
    );
    assert_eq!(outcome.counts.still_queued, 0, "{engine}");
    outcome
}

fn acme_messages(scenario: &Scenario) -> BTreeSet<String> {
    let acme: BTreeSet<String> = (scenario.workload.messages.iter())
        .filter(|m| m.tenant == "acme")
        .map(|m| msg_key(&m.id))
        .collect();
    assert!(!acme.is_empty(), "the workload has acme mail");
    acme
}

/// Times (ms) at which acme's mailbox received a copy of a workload message.
fn acme_arrivals(outcome: &RunOutcome, acme: &BTreeSet<String>) -> Vec<u64> {
    (outcome.log.events().iter())
        .filter_map(|e| match &e.kind {
            EventKind::MailboxReceived { msg, .. } if acme.contains(&msg_key(msg)) => {
                Some(e.t_us / 1_000)
            }
            _ => None,
        })
        .collect()
}

/// `scenario` with `bug` switched on violates `property` on `engine`.
fn assert_caught(engine: Engine, scenario: &Scenario, bug: &str, property: &str) {
    let violated = violated_with(engine, scenario, bug);
    assert!(
        violated.iter().any(|p| p == property),
        "{engine}, {bug}: {violated:?}"
    );
}

/// Properties `scenario` with `bug` switched on violates on `engine`.
fn violated_with(engine: Engine, scenario: &Scenario, bug: &str) -> Vec<String> {
    let mut buggy = scenario.clone();
    buggy.bugs = vec![bug.to_string()];
    let judged = sim::run::run_on(engine, &buggy, buggy.seed);
    (judged.report.violations.iter())
        .map(|v| v.property.clone())
        .collect()
}

fn mailbox_fault(mode: MailboxMode) -> FaultKind {
    FaultKind::MailboxMisbehaves {
        domain: "acme.example".into(),
        mode,
    }
}

#[test]
fn a_greylisting_mailbox_is_retried_and_a_gateway_that_bounces_on_4xx_is_caught() {
    for engine in engines() {
        let scenario = small(12);
        let faulted = with_fault(&scenario, 15_000, mailbox_fault(MailboxMode::Greylist));
        let outcome = passes(engine, &faulted);
        let greylisted = (outcome.log.events().iter())
            .filter(|e| {
                e.host == "mbx-acme"
                    && matches!(e.kind, EventKind::MailboxRefused { code: 451, .. })
            })
            .count();
        assert!(greylisted > 0, "{engine}: {}", outcome.summary());
        assert_eq!(outcome.report.sometimes.greylisted, greylisted as u64);
        assert_caught(engine, &faulted, "bounce-on-4xx", "no_false_bounce");
        // The retries were paced, as judged from the server's side; a
        // gateway that retries at once is seen there.
        assert!(
            outcome.report.sometimes.retries_paced_judged > 0,
            "{engine}"
        );
        assert_caught(engine, &faulted, "retry-without-backoff", "retry_paced");
    }
}

#[test]
fn users_unknown_are_refused_at_rcpt_bounced_once_and_a_gateway_that_retries_is_caught() {
    for engine in engines() {
        let scenario = small(12);
        let acme = acme_messages(&scenario);
        let faulted = with_fault(&scenario, 15_000, mailbox_fault(MailboxMode::UnknownUser));
        let outcome = passes(engine, &faulted);
        let refused = (outcome.log.events().iter())
            .filter(|e| {
                e.host == "mbx-acme"
                    && matches!(
                        &e.kind,
                        EventKind::MailboxRefused { code: 550, msg: None, client, .. }
                            if client.starts_with("gw-")
                    )
            })
            .count();
        assert!(refused > 0, "{engine}: {}", outcome.summary());
        assert!(
            outcome.report.sometimes.rcpts_refused_permanently > 0,
            "{engine}"
        );
        // Refused while the fault held from the start: every acme message
        // offered then is bounced, so fewer copies arrive than without it.
        let calm = passes(engine, &scenario);
        assert!(
            acme_arrivals(&outcome, &acme).len() < acme_arrivals(&calm, &acme).len(),
            "{engine}"
        );
        assert!(
            outcome.report.sometimes.bounces_after_refusal > 0,
            "{engine}"
        );
        // Each DSN says 5.1.1, as the server did; one that says only
        // 5.0.0 is caught by the sender's server's reading of it.
        assert!(
            outcome.report.sometimes.dsn_statuses_held_to_server_code > 0,
            "{engine}"
        );
        assert_caught(engine, &faulted, "dsn-status-generic", "dsn_status");
        assert_caught(
            engine,
            &faulted,
            "retry-after-5xx",
            "no_retry_after_refusal",
        );
        // Without the fault nothing refuses at RCPT: the bug is invisible.
        let unfaulted = violated_with(engine, &scenario, "retry-after-5xx");
        assert!(unfaulted.is_empty(), "{engine}: {unfaulted:?}");
    }
}

#[test]
fn a_refusal_at_length_is_bounced_in_a_dsn_and_a_gateway_that_keeps_it_whole_is_caught() {
    for engine in engines() {
        // One message to every acme user: its DSN reports them all.
        let mut scenario = small(12);
        let users = (scenario.tenants.iter())
            .find(|t| t.name == "acme")
            .map(|t| t.users.iter().map(|u| format!("{u}@acme.example")))
            .expect("the scenario has acme")
            .collect::<Vec<_>>();
        assert!(users.len() >= 3, "{users:?}");
        let message = (scenario.workload.messages.iter_mut())
            .find(|m| m.tenant == "acme")
            .expect("the workload has acme mail");
        message.rcpts = users.clone();
        let about = msg_key(&message.id);
        let faulted = with_fault(&scenario, 15_000, mailbox_fault(MailboxMode::LongRefusal));
        let outcome = passes(engine, &faulted);
        let refused: BTreeSet<String> = (outcome.log.events().iter())
            .filter_map(|e| match &e.kind {
                EventKind::MailboxRefused {
                    code: 554,
                    msg: Some(msg),
                    ..
                } if e.host == "mbx-acme" => Some(msg_key(msg)),
                _ => None,
            })
            .collect();
        assert!(refused.contains(&about), "{engine}: {}", outcome.summary());
        // The sender hears of all of them, in one DSN.
        let reported: BTreeSet<String> = (outcome.log.events().iter())
            .filter_map(|e| match &e.kind {
                EventKind::MailboxReceived {
                    dsn_about: Some(a),
                    dsn_rcpts,
                    ..
                } if msg_key(a) == about => Some(dsn_rcpts.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            reported,
            users.iter().cloned().collect(),
            "{engine}: {}",
            outcome.summary()
        );
        // Kept whole, four refusals of about 58 KiB each make a DSN no
        // peer takes a copy of: it never goes out.
        assert_caught(engine, &faulted, "refusal-text-kept-whole", "no_acked_loss");
        let unfaulted = violated_with(engine, &scenario, "refusal-text-kept-whole");
        assert!(unfaulted.is_empty(), "{engine}: {unfaulted:?}");
    }
}

#[test]
fn a_tarpit_makes_every_delivery_to_it_slower_and_none_is_lost() {
    for engine in engines() {
        let scenario = small(12);
        let acme = acme_messages(&scenario);
        let calm = passes(engine, &scenario);
        let faulted = with_fault(&scenario, 15_000, mailbox_fault(MailboxMode::Tarpit));
        let outcome = passes(engine, &faulted);
        assert_ne!(outcome.digest, calm.digest, "{engine}");
        let (before, after) = (acme_arrivals(&calm, &acme), acme_arrivals(&outcome, &acme));
        assert_eq!(before.len(), after.len(), "{engine}");
        let first = |times: &[u64]| times.iter().min().copied().unwrap_or_default();
        // The greeting, EHLO, MAIL and DATA's 354 at least (RCPT may be
        // pipelined): four late replies before the first copy is in.
        assert!(
            first(&after) >= first(&before) + 4 * 1_500,
            "{engine}: first arrival {} ms, without the tarpit {} ms",
            first(&after),
            first(&before)
        );
        assert_caught(engine, &faulted, "dot-timeout-bounces", "no_false_bounce");
        // Replies in time: the short wait never runs out.
        let unfaulted = violated_with(engine, &scenario, "dot-timeout-bounces");
        assert!(unfaulted.is_empty(), "{engine}: {unfaulted:?}");
    }
}

#[test]
fn a_hang_up_after_data_loses_the_reply_and_the_copy_delivered_again_is_excused() {
    for engine in engines() {
        let scenario = small(12);
        let faulted = with_fault(&scenario, 6_000, mailbox_fault(MailboxMode::DropAfterData));
        let outcome = passes(engine, &faulted);
        let lost = (outcome.log.events().iter())
            .filter(|e| {
                e.host == "mbx-acme" && matches!(e.kind, EventKind::MailboxReplyLost { .. })
            })
            .count();
        assert!(lost > 0, "{engine}: {}", outcome.summary());
        assert!(
            outcome.report.sometimes.excused_duplicates > 0,
            "{engine}: {}",
            outcome.summary()
        );
    }
}

#[test]
fn a_reset_in_the_middle_of_the_data_delivers_nothing_until_it_ends() {
    for engine in engines() {
        let scenario = small(12);
        let acme = acme_messages(&scenario);
        let faulted = with_fault(&scenario, 10_000, mailbox_fault(MailboxMode::ResetMidData));
        let outcome = passes(engine, &faulted);
        let arrivals = acme_arrivals(&outcome, &acme);
        assert!(!arrivals.is_empty(), "{engine}");
        assert!(
            arrivals.iter().all(|&t| t >= 10_000),
            "{engine}: acme received mail at {arrivals:?} ms during the resets"
        );
        assert_caught(engine, &faulted, "drop-means-delivered", "no_acked_loss");
        let unfaulted = violated_with(engine, &scenario, "drop-means-delivered");
        assert!(unfaulted.is_empty(), "{engine}: {unfaulted:?}");
    }
}

#[test]
fn dsns_wait_out_a_senders_failing_dns_and_a_gateway_that_takes_servfail_for_nxdomain_loses_them() {
    for engine in engines() {
        let scenario = small(12);
        // acme refuses everything at first, so its mail bounces at once and
        // the DSNs look their senders' domains up while those fail.
        let mut faulted = with_fault(
            &scenario,
            6_000,
            FaultKind::MailboxRejects {
                domain: "acme.example".into(),
            },
        );
        for sender in 0..scenario.workload.senders {
            faulted.faults.faults.push(Fault {
                at_ms: 0,
                duration_ms: 12_000,
                kind: FaultKind::DnsFails {
                    domain: sim::scenario::sender_domain(sender),
                    mode: if sender % 2 == 0 {
                        DnsMode::Servfail
                    } else {
                        DnsMode::Timeout
                    },
                },
            });
        }
        faulted.validate().expect("the faulted scenario is valid");
        let outcome = passes(engine, &faulted);
        let dsns_delivered: Vec<u64> = (outcome.log.events().iter())
            .filter(|e| {
                matches!(
                    &e.kind,
                    EventKind::MailboxReceived {
                        dsn_about: Some(_),
                        ..
                    }
                )
            })
            .map(|e| e.t_us / 1_000)
            .collect();
        assert!(
            !dsns_delivered.is_empty(),
            "{engine}: {}",
            outcome.summary()
        );
        assert!(
            dsns_delivered.iter().all(|&t| t >= 12_000),
            "{engine}: DSNs arrived at {dsns_delivered:?} ms with no MX answer"
        );
        assert_caught(engine, &faulted, "servfail-bounces", "no_acked_loss");
        // With the DNS answering, every DSN finds its way.
        let refusing_only = with_fault(
            &scenario,
            6_000,
            FaultKind::MailboxRejects {
                domain: "acme.example".into(),
            },
        );
        let unfaulted = violated_with(engine, &refusing_only, "servfail-bounces");
        assert!(unfaulted.is_empty(), "{engine}: {unfaulted:?}");
    }
}

/// The MX host and time (ms) of every first attempt at an acme message.
fn first_attempts(outcome: &RunOutcome, acme: &BTreeSet<String>) -> Vec<(u64, String)> {
    let mut seen = BTreeSet::new();
    (outcome.log.events().iter())
        .filter_map(|e| match &e.kind {
            EventKind::SendAttempt { msg, mx, .. }
                if acme.contains(&msg_key(msg)) && seen.insert(msg_key(msg)) =>
            {
                Some((e.t_us / 1_000, mx.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_dns_that_fails_or_stays_silent_holds_senders_back_until_it_answers() {
    for engine in engines() {
        for mode in [DnsMode::Servfail, DnsMode::Timeout] {
            let scenario = small(12);
            let acme = acme_messages(&scenario);
            let kind = FaultKind::DnsFails {
                domain: "acme.example".into(),
                mode,
            };
            let outcome = passes(engine, &with_fault(&scenario, 8_000, kind));
            let attempts = first_attempts(&outcome, &acme);
            assert_eq!(attempts.len(), acme.len(), "{engine} {mode}");
            assert!(
                attempts.iter().all(|(t, _)| *t >= 8_000),
                "{engine} {mode}: acme mail was sent at {attempts:?} without an MX answer"
            );
        }
    }
}

#[test]
fn flapping_dns_answers_send_senders_to_more_than_one_first_mx() {
    for engine in engines() {
        let mut scenario = small(12);
        // Short-lived answers, so senders ask often and see both.
        scenario.workload.dns_ttl_ms = 500;
        let acme = acme_messages(&scenario);
        let calm = passes(engine, &scenario);
        let kind = FaultKind::DnsFails {
            domain: "acme.example".into(),
            mode: DnsMode::Flap,
        };
        let outcome = passes(engine, &with_fault(&scenario, 20_000, kind));
        let hosts = |o: &RunOutcome| -> BTreeSet<String> {
            first_attempts(o, &acme)
                .into_iter()
                .map(|(_, mx)| mx)
                .collect()
        };
        assert_eq!(hosts(&calm).len(), 1, "{engine}: {:?}", hosts(&calm));
        assert!(hosts(&outcome).len() > 1, "{engine}: {:?}", hosts(&outcome));
    }
}

#[test]
fn a_partition_between_two_single_gateways_stops_their_copies_and_nothing_else() {
    for engine in engines() {
        let scenario = small(12);
        let config = deploy::gateway_config(&scenario);
        let domain = &config.tenant("acme").expect("tenant").domain;
        let mx = deploy::mx_directory(&scenario, &config);
        let hosts = mx.hosts(domain).expect("MX hosts");
        let (a, b) = (hosts[0].clone(), hosts[1].clone());
        let copies_between = |o: &RunOutcome| {
            (o.log.events().iter())
                .filter(|e| e.t_us < 10_000_000 && (e.host == a || e.host == b))
                .filter(|e| {
                    matches!(&e.kind, EventKind::BytesSeen { presence: Presence::Received, place, .. }
                        if *place == a || *place == b)
                })
                .count()
        };
        let calm = passes(engine, &scenario);
        assert!(
            copies_between(&calm) > 0,
            "{engine}: {a} and {b} never copied"
        );
        let kind = FaultKind::HostPartition {
            from: a.clone(),
            to: b.clone(),
            one_way: false,
        };
        let outcome = passes(engine, &with_fault(&scenario, 10_000, kind));
        assert_eq!(
            copies_between(&outcome),
            0,
            "{engine}: bytes crossed {a} <-> {b}"
        );
        assert_eq!(outcome.counts.accepted, calm.counts.accepted, "{engine}");
    }
}
