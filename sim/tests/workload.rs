//! The simulated world outside the gateway, run on turmoil without one: a
//! sender finds a mailbox server through the DNS host and delivers to it.
//! These pin down the ground-truth events the properties read (what senders
//! were told, what mailboxes received), so a change in the world's
//! behaviour shows up here and not as a mysterious property failure.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use models::env::{Env, SharedEnv};
use models::mime::dsn::{DsnRequest, FailedRecipient, build_dsn};
use models::smtp::client::send_mail;
use sim::engine::observer::Observer;
use sim::engine::turmoil_env::{Shared, TurmoilEnv};
use sim::scenario::MessagePlan;
use sim::workload::dns::{self, MxDirectory};
use sim::workload::mailbox;
use sim::workload::mime::{MessageKind, MessageSpec, build_message};
use sim::workload::sender::{self, SenderSettings};
use traces::{EventKind, Told};

const ID: &str = "m1.s1@mailsim.test";

/// A world of `dns` (with `mx` as its zone), a mailbox server for
/// acme.example at `mbx-acme`, and an MTA `mta-0` sending one message to
/// `rcpt`. Every other name in `mx` boots a host that listens on nothing.
fn world(mx: &[(&str, &[&str])], rcpt: &str) -> (turmoil::Sim<'static>, Rc<Shared>) {
    let shared = Rc::new(Shared {
        observer: Observer::new(),
        host_regions: BTreeMap::new(),
        disk_faults: RefCell::new(BTreeMap::new()),
    });
    let mut sim = turmoil::Builder::new().rng_seed(1).build();
    let env = |host: &str| -> SharedEnv { Rc::new(TurmoilEnv::new(host, shared.clone(), 7)) };
    let domains = mx
        .iter()
        .map(|(d, hosts)| (d.to_string(), hosts.iter().map(|h| h.to_string()).collect()));
    let directory = Rc::new(RefCell::new(MxDirectory {
        domains: domains.collect(),
        ttl_ms: 60_000,
    }));
    let (dns_env, mbx_env, mta_env) = (env("dns"), env("mbx-acme"), env("mta-0"));
    sim.host("dns", move || {
        dns::serve(dns_env.clone(), directory.clone()).then_ok()
    });
    sim.host("mbx-acme", move || {
        mailbox::serve(mbx_env.clone(), vec!["acme.example".into()]).then_ok()
    });
    for (_, hosts) in mx {
        for host in hosts.iter().filter(|h| **h != "mbx-acme") {
            sim.host(*host, || std::future::pending::<()>().then_ok());
        }
    }
    let plan = MessagePlan {
        id: ID.into(),
        at_ms: 1_000,
        sender: 0,
        mail_from: "news@sender0.example".into(),
        rcpts: vec![rcpt.into()],
        tenant: "acme".into(),
        kind: MessageKind::Plain,
        body_bytes_approx: 500,
        body_seed: 42,
    };
    let settings = SenderSettings {
        dns_host: "dns".into(),
        lifetime_ms: 10_000,
        backoff_ms_min: 1_000,
        backoff_ms_max: 4_000,
        smtp_timeout_ms: 2_000,
    };
    sim.host("mta-0", move || {
        sender::run(mta_env.clone(), vec![plan.clone()], settings.clone()).then_ok()
    });
    (sim, shared)
}

/// Turns a host's endless (or finished) work into turmoil's host result.
trait ThenOk: std::future::Future<Output = ()> + Sized + 'static {
    fn then_ok(self) -> impl std::future::Future<Output = turmoil::Result> + 'static {
        async move {
            self.await;
            Ok(())
        }
    }
}
impl<F: std::future::Future<Output = ()> + 'static> ThenOk for F {}

/// Steps `seconds` of simulated time and returns the events, in order.
fn run(sim: &mut turmoil::Sim<'static>, shared: &Shared, seconds: u64) -> Vec<EventKind> {
    for _ in 0..seconds * 1000 {
        shared.observer.set_now_us(sim.elapsed().as_micros() as u64);
        sim.step().expect("the world runs");
    }
    shared
        .observer
        .take_log()
        .events()
        .iter()
        .map(|e| e.kind.clone())
        .collect()
}

fn attempt(attempt: u32, mx: &str) -> EventKind {
    EventKind::SendAttempt {
        msg: ID.into(),
        attempt,
        mx: mx.into(),
    }
}

fn outcome(told: Told, code: u16, rcpts: &[&str]) -> EventKind {
    let rcpts = rcpts.iter().map(|r| r.to_string()).collect();
    EventKind::SendOutcome {
        msg: ID.into(),
        told,
        code,
        rcpts,
    }
}

#[test]
fn a_sender_delivers_to_a_mailbox_found_through_dns() {
    let (mut sim, shared) = world(&[("acme.example", &["mbx-acme"])], "alice@acme.example");
    let events = run(&mut sim, &shared, 5);
    assert!(events.contains(&attempt(1, "mbx-acme")), "{events:#?}");
    let rcpt = EventKind::RcptReply {
        msg: ID.into(),
        rcpt: "alice@acme.example".into(),
        code: 250,
    };
    assert!(events.contains(&rcpt), "{events:#?}");
    assert!(
        events.contains(&outcome(Told::Accepted, 250, &["alice@acme.example"])),
        "{events:#?}"
    );
    let received: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::MailboxReceived {
                msg,
                rcpt,
                mail_from,
                spam_tagged,
                dsn_about,
                ..
            } => Some((
                msg.as_str(),
                rcpt.as_str(),
                mail_from.as_str(),
                *spam_tagged,
                dsn_about.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        received,
        vec![(
            ID,
            "alice@acme.example",
            "news@sender0.example",
            false,
            None
        )]
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::SenderGaveUp { .. }))
    );
}

#[test]
fn a_dead_first_mx_makes_the_sender_fall_back_to_the_second() {
    let (mut sim, shared) = world(
        &[("acme.example", &["mbx-dead", "mbx-acme"])],
        "alice@acme.example",
    );
    let events = run(&mut sim, &shared, 5);
    let sends: Vec<_> = events
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                EventKind::SendAttempt { .. } | EventKind::SendOutcome { .. }
            )
        })
        .collect();
    assert_eq!(
        sends,
        vec![
            attempt(1, "mbx-dead"),
            outcome(Told::Deferred, 0, &[]),
            attempt(2, "mbx-acme"),
            outcome(Told::Accepted, 250, &["alice@acme.example"]),
        ]
    );
}

#[test]
fn a_recipient_in_a_domain_the_mailbox_does_not_serve_is_refused_and_given_up() {
    let (mut sim, shared) = world(&[("other.example", &["mbx-acme"])], "bob@other.example");
    let events = run(&mut sim, &shared, 5);
    let rcpt = EventKind::RcptReply {
        msg: ID.into(),
        rcpt: "bob@other.example".into(),
        code: 550,
    };
    assert!(events.contains(&rcpt), "{events:#?}");
    assert!(
        events.contains(&outcome(Told::Rejected, 550, &[])),
        "{events:#?}"
    );
    let gave_up = EventKind::SenderGaveUp {
        msg: ID.into(),
        reason: "rejected: 550".into(),
    };
    assert!(events.contains(&gave_up), "{events:#?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::MailboxReceived { .. }))
    );
    // Refused for good: one attempt, no retry.
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, EventKind::SendAttempt { .. }))
            .count(),
        1
    );
}

#[test]
fn a_mailbox_that_receives_a_dsn_records_what_it_is_about() {
    let (mut sim, shared) = world(&[], "nobody@nowhere.example");
    let gw: SharedEnv = Rc::new(TurmoilEnv::new("gw", shared.clone(), 3));
    sim.host("gw", move || {
        let env = gw.clone();
        async move {
            let to = vec!["alice@acme.example".to_string()];
            let date = "Wed, 25 Nov 2026 00:00:00 +0000";
            let spec = MessageSpec {
                message_id: ID,
                from: "news@sender0.example",
                to: &to,
                subject_seed: 1,
                body_seed: 2,
                kind: MessageKind::Plain,
                body_bytes_approx: 100,
                date_rfc2822: date,
            };
            let original = build_message(&spec);
            let failed = [FailedRecipient {
                rcpt: to[0].clone(),
                status: "5.1.1".into(),
                diagnostic: "smtp; 550 5.1.1 no such user".into(),
                action: "failed".into(),
            }];
            let dsn = build_dsn(&DsnRequest {
                reporting_mta: "gw",
                dsn_message_id: "<dsn.1@gw>",
                original_sender: "news@sender0.example",
                original_message: &original,
                failed: &failed,
                date_rfc2822: date,
            });
            env.sleep(Duration::from_millis(100)).await;
            let mut conn = env.connect("mbx-acme", models::config::SMTP_PORT).await?;
            send_mail(
                &*env,
                &mut conn,
                "gw",
                "",
                &["postmaster@acme.example".to_string()],
                &dsn,
                2_000,
            )
            .await?;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let events = run(&mut sim, &shared, 3);
    let dsn = events.iter().find_map(|e| match e {
        EventKind::MailboxReceived {
            msg,
            mail_from,
            dsn_about,
            dsn_rcpts,
            ..
        } => Some((
            msg.as_str(),
            mail_from.as_str(),
            dsn_about.as_deref(),
            dsn_rcpts.clone(),
        )),
        _ => None,
    });
    assert_eq!(
        dsn,
        Some((
            "dsn.1@gw",
            "",
            Some(ID),
            vec!["alice@acme.example".to_string()]
        ))
    );
}
