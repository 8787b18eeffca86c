//! The simulated world outside the gateway, run on turmoil without one: a
//! sender finds a mailbox server through the DNS host and delivers to it.
//! These pin down the ground-truth events the properties read (what senders
//! were told, what mailboxes received), so a change in the world's
//! behaviour shows up here and not as a mysterious property failure.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use models::config::SMTP_PORT;
use models::env::SharedEnv;
use models::mime::dsn::{DsnRequest, FailedRecipient, build_dsn};
use models::smtp::client::send_mail;
use models::smtp::session::{RcptCheck, Session, SessionLimits, Step};
use sim::engine::observer::Observer;
use sim::engine::turmoil_env::{Shared, TurmoilEnv};
use sim::scenario::MessagePlan;
use sim::workload::dns::{self, MxDirectory};
use sim::workload::mailbox;
use sim::workload::mime::{MessageKind, MessageSpec, build_message};
use sim::workload::sender::{self, SenderSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use traces::{EventKind, Source, Told};

const ID: &str = "m1.s1@mailsim.test";

/// A world of `dns` (with `mx` as its zone), a mailbox server for
/// acme.example at `mbx-acme`, and an MTA `mta-0` sending one message to
/// `rcpt`. Names in `mx` starting `mbx-dead` boot hosts that listen on
/// nothing; tests boot any other name themselves.
fn world(mx: &[(&str, &[&str])], rcpt: &str) -> (turmoil::Sim<'static>, Rc<Shared>) {
    let shared = Rc::new(Shared {
        observer: Observer::new(),
        host_regions: BTreeMap::new(),
        disk_faults: RefCell::new(BTreeMap::new()),
        lost_disks: Default::default(),
        rejections: Default::default(),
        unsynced_dirs: Default::default(),
        honest_disks: Default::default(),
        slow_disks: Default::default(),
        // Hosts named `mta-*` send and `mbx-*` receive (provenance).
        sources: ["mta-0", "mbx-acme", "mbx-flaky", "mbx-dead"]
            .into_iter()
            .map(|host| {
                let source = if host.starts_with("mta-") {
                    Source::Sender
                } else {
                    Source::Mailbox
                };
                (host.to_string(), vec![source])
            })
            .collect(),
        host_faults: Default::default(),
        livelock: Default::default(),
    });
    let mut sim = turmoil::Builder::new().rng_seed(1).build();
    let env = |host: &str| -> SharedEnv { Rc::new(TurmoilEnv::new(host, shared.clone(), 7)) };
    let domains = mx
        .iter()
        .map(|(d, hosts)| (d.to_string(), hosts.iter().map(|h| h.to_string()).collect()));
    let directory = Rc::new(RefCell::new(MxDirectory {
        domains: domains.collect(),
        ttl_ms: 60_000,
        ..MxDirectory::default()
    }));
    let (dns_env, mbx_env, mta_env) = (env("dns"), env("mbx-acme"), env("mta-0"));
    sim.host("dns", move || {
        dns::serve(dns_env.clone(), directory.clone()).then_ok()
    });
    sim.host("mbx-acme", move || {
        mailbox::serve(
            mbx_env.clone(),
            vec!["acme.example".into()],
            Default::default(),
        )
        .then_ok()
    });
    for (_, hosts) in mx {
        for host in hosts.iter().filter(|h| h.starts_with("mbx-dead")) {
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
        size_octets: None,
        null_reverse_path: false,
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

/// The `mailbox_received` events.
fn received(events: &[EventKind]) -> Vec<&EventKind> {
    events
        .iter()
        .filter(|e| matches!(e, EventKind::MailboxReceived { .. }))
        .collect()
}

/// A DSN from `gw` reporting that alice@acme.example could not get [`ID`].
fn dsn() -> Vec<u8> {
    let to = vec!["alice@acme.example".to_string()];
    let date = "Wed, 25 Nov 2026 00:00:00 +0000";
    let original = build_message(&MessageSpec {
        message_id: ID,
        from: "news@sender0.example",
        to: &to,
        subject_seed: 1,
        body_seed: 2,
        kind: MessageKind::Plain,
        body_bytes_approx: 100,
        date_rfc2822: date,
    });
    build_dsn(&DsnRequest {
        reporting_mta: "gw",
        dsn_message_id: "<dsn.1@gw>",
        original_sender: "news@sender0.example",
        original_message: &original,
        failed: &[FailedRecipient {
            rcpt: to[0].clone(),
            status: "5.1.1".into(),
            diagnostic: "smtp; 550 5.1.1 no such user".into(),
            action: "failed".into(),
        }],
        date_rfc2822: date,
    })
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
    let accepted = outcome(Told::Accepted, 250, &["alice@acme.example"]);
    assert!(events.contains(&accepted), "{events:#?}");
    let [
        EventKind::MailboxReceived {
            msg,
            rcpt,
            mail_from,
            spam_tagged,
            dsn_about,
            ..
        },
    ] = received(&events)[..]
    else {
        panic!("expected one delivery: {events:#?}");
    };
    assert_eq!((msg.as_str(), rcpt.as_str()), (ID, "alice@acme.example"));
    assert_eq!(mail_from, "news@sender0.example");
    assert_eq!((*spam_tagged, dsn_about), (false, &None));
    let gave_up = |e: &EventKind| matches!(e, EventKind::SenderGaveUp { .. });
    assert!(!events.iter().any(gave_up), "{events:#?}");
}

#[test]
fn a_dead_first_mx_makes_the_sender_fall_back_to_the_second() {
    let mx: &[&str] = &["mbx-dead", "mbx-acme"];
    let (mut sim, shared) = world(&[("acme.example", mx)], "alice@acme.example");
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
    let rejected = outcome(Told::Rejected, 550, &[]);
    assert!(events.contains(&rejected), "{events:#?}");
    let gave_up = EventKind::SenderGaveUp {
        msg: ID.into(),
        reason: "rejected: 550".into(),
    };
    assert!(events.contains(&gave_up), "{events:#?}");
    assert!(received(&events).is_empty(), "{events:#?}");
    // Refused for good: one attempt, no retry.
    let attempts = events
        .iter()
        .filter(|e| matches!(e, EventKind::SendAttempt { .. }));
    assert_eq!(attempts.count(), 1, "{events:#?}");
}

#[test]
fn a_domain_without_mx_is_retried_until_the_lifetime_runs_out() {
    let (mut sim, shared) = world(&[], "bob@nowhere.example");
    // Sent at 1 s with a 10 s lifetime: given up at 11 s, not before.
    let early = run(&mut sim, &shared, 10);
    let gave_up = |e: &EventKind| matches!(e, EventKind::SenderGaveUp { .. });
    assert!(!early.iter().any(gave_up), "{early:#?}");
    let late = run(&mut sim, &shared, 2);
    let reasons: Vec<_> = late
        .iter()
        .filter_map(|e| match e {
            EventKind::SenderGaveUp { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{late:#?}");
    assert!(reasons[0].contains("NXDOMAIN"), "{reasons:?}");
    // Never found a host, so never connected.
    let attempts = early.iter().chain(&late);
    assert_eq!(
        attempts
            .filter(|e| matches!(e, EventKind::SendAttempt { .. }))
            .count(),
        0
    );
}

#[test]
fn a_mailbox_that_receives_a_dsn_records_what_it_is_about() {
    let (mut sim, shared) = world(&[], "bob@nowhere.example");
    let gw: SharedEnv = Rc::new(TurmoilEnv::new("gw", shared.clone(), 3));
    sim.host("gw", move || {
        let env = gw.clone();
        async move {
            env.sleep(Duration::from_millis(100)).await;
            let mut conn = env.connect("mbx-acme", SMTP_PORT).await?;
            let to = ["postmaster@acme.example".to_string()];
            send_mail(&*env, &mut conn, "gw", "", &to, &dsn(), 2_000).await?;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let events = run(&mut sim, &shared, 3);
    let [
        EventKind::MailboxReceived {
            msg,
            rcpt,
            mail_from,
            dsn_about,
            dsn_rcpts,
            dsn_statuses,
            dsn_actions,
            dsn_reporting_mta,
            ..
        },
    ] = received(&events)[..]
    else {
        panic!("expected one delivery: {events:#?}");
    };
    assert_eq!(
        (msg.as_str(), rcpt.as_str()),
        ("dsn.1@gw", "postmaster@acme.example")
    );
    assert_eq!(mail_from, "");
    assert_eq!(dsn_about.as_deref(), Some(ID));
    assert_eq!(dsn_rcpts, &["alice@acme.example".to_string()]);
    // The gateway's DSN format, read by the witness's own parser.
    assert_eq!(dsn_statuses, &["5.1.1".to_string()]);
    assert_eq!(dsn_actions, &["failed".to_string()]);
    assert!(dsn_reporting_mta.starts_with("dns;"), "{dsn_reporting_mta}");
}

/// An SMTP server that takes every message and hangs up instead of
/// answering the final dot: the RFC 1047 case.
async fn lose_every_answer(env: SharedEnv) -> turmoil::Result {
    let listener = env.listen(SMTP_PORT).await?;
    loop {
        let (mut conn, _) = listener.accept().await?;
        let mut session = Session::new(SessionLimits {
            hostname: "mbx-flaky".into(),
            message_bytes_max: 1 << 20,
            recipients_max: 10,
            line_bytes_max: 1000,
            postmaster: None,
        });
        conn.write_all(&session.greeting()).await?;
        let mut chunk = [0u8; 4096];
        'conn: loop {
            while let Some(step) = session.next(&mut |_| RcptCheck::Accept) {
                match step {
                    Step::Write(reply) => conn.write_all(&reply).await?,
                    // Dropping the connection unanswered.
                    Step::Message { .. } | Step::Close => break 'conn,
                }
            }
            match conn.read(&mut chunk).await? {
                0 => break,
                n => session.push(&chunk[..n]),
            }
        }
    }
}

#[test]
fn an_answer_lost_after_the_final_dot_is_indefinite_and_the_message_is_sent_again() {
    let mx: &[&str] = &["mbx-flaky", "mbx-acme"];
    let (mut sim, shared) = world(&[("acme.example", mx)], "alice@acme.example");
    let flaky: SharedEnv = Rc::new(TurmoilEnv::new("mbx-flaky", shared.clone(), 5));
    sim.host("mbx-flaky", move || lose_every_answer(flaky.clone()));
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
            attempt(1, "mbx-flaky"),
            outcome(Told::Indefinite, 0, &["alice@acme.example"]),
            attempt(2, "mbx-acme"),
            outcome(Told::Accepted, 250, &["alice@acme.example"]),
        ]
    );
}

#[test]
fn the_gateway_scanner_agrees_with_what_the_workload_built_across_seeds_and_sizes() {
    use models::mime::verdict::{Verdict, scan};
    let kinds = [
        MessageKind::Plain,
        MessageKind::MultipartAttachment,
        MessageKind::Eicar,
        MessageKind::EicarZipLike,
        MessageKind::Spam,
        MessageKind::Html,
    ];
    let to = vec!["bob@rcpt.example".to_string()];
    for kind in kinds {
        let expected = match kind {
            MessageKind::Eicar | MessageKind::EicarZipLike => Verdict::Malware,
            MessageKind::Spam => Verdict::Spam,
            _ => Verdict::Clean,
        };
        for seed in 0..40u64 {
            for size in [0, 100, 3000] {
                let raw = build_message(&MessageSpec {
                    message_id: "m1.s1@senders.example",
                    from: "alice@senders.example",
                    to: &to,
                    subject_seed: seed,
                    body_seed: seed.wrapping_mul(31) ^ 5,
                    kind,
                    body_bytes_approx: size,
                    date_rfc2822: "Wed, 25 Nov 2026 00:00:00 +0000",
                });
                let report = scan(&raw);
                assert_eq!(
                    report.verdict, expected,
                    "{kind:?} seed {seed} size {size}: {}",
                    report.reason
                );
            }
        }
    }
}

#[test]
fn hostile_bytes_reach_the_mailbox_witness_intact_through_the_gateway_client() {
    // Dot lines, a lone dot, a 998-octet line led by a dot, NUL and 8-bit
    // bytes: the gateway's client stuffs, mailin unstuffs, and the witness
    // must record exactly the bytes that were sent.
    let mut body = b"Subject: hostile\r\nMessage-ID: <hostile@gw>\r\n\r\n".to_vec();
    body.extend_from_slice(
        b".\r\n..\r\n.leading\r\nNUL \0 here, 8-bit \xff\xfe, Gr\xc3\xbc\xc3\x9fe\r\n",
    );
    body.extend_from_slice(format!(".{}\r\n", "y".repeat(997)).as_bytes());
    body.extend_from_slice(b"\r\n.\r\nend\r\n");
    let sent_sha256 = traces::sha256_hex(&body);
    let (mut sim, shared) = world(&[], "bob@nowhere.example");
    let gw: SharedEnv = Rc::new(TurmoilEnv::new("gw", shared.clone(), 3));
    sim.host("gw", move || {
        let (env, body) = (gw.clone(), body.clone());
        async move {
            env.sleep(Duration::from_millis(100)).await;
            let mut conn = env.connect("mbx-acme", SMTP_PORT).await?;
            let to = ["alice@acme.example".to_string()];
            send_mail(&*env, &mut conn, "gw", "a@gw", &to, &body, 2_000).await?;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let events = run(&mut sim, &shared, 3);
    let [
        EventKind::MailboxReceived {
            msg, body_sha256, ..
        },
    ] = received(&events)[..]
    else {
        panic!("expected one delivery: {events:#?}");
    };
    assert_eq!(msg, "hostile@gw");
    assert_eq!(body_sha256, &sent_sha256);
}
