//! Test helpers: a small deployment's [`Facts`] and a builder for logs, so
//! each property's tests read as the story they tell.
//!
//! The clean run exercises every path a correct gateway takes (delivery,
//! tagged spam, quarantined spam, quarantined malware, a bounce, and a
//! duplicate excused by an indefinite reply), so "a clean log passes" is a
//! real test of each checker and not an empty log passing trivially.

use std::collections::BTreeMap;

use traces::{Class, EventKind, Log, Presence, Told, Verdict};

use crate::facts::{Facts, MessageFacts, OutageWindow, TenantFacts};

pub const SENDER: &str = "mta-0";
pub const MX: &str = "gw-eu-west-1-0";
pub const SCANNER: &str = "scanner-eu-west-1-0";

/// [`facts`] plus `m7`, spam for two tenants at once: bob of acme (EU,
/// quarantines spam) and dave of globex (US, tags it).
pub fn facts_with_two_tenant_spam() -> Facts {
    let mut facts = facts();
    facts.messages.insert(
        "m7".into(),
        MessageFacts {
            tenant: "acme".into(),
            sender: "alice@sender.example".into(),
            rcpts: vec!["bob@acme.example".into(), "dave@globex.example".into()],
            malicious: false,
            spam: true,
        },
    );
    facts
}

pub fn facts() -> Facts {
    let message = |tenant: &str, sender: &str, rcpts: &[&str], malicious, spam| MessageFacts {
        tenant: tenant.into(),
        sender: sender.into(),
        rcpts: rcpts.iter().map(|r| r.to_string()).collect(),
        malicious,
        spam,
    };
    let mut messages = BTreeMap::new();
    let alice = "alice@sender.example";
    messages.insert(
        "m1".into(),
        message(
            "acme",
            alice,
            &["bob@acme.example", "carol@acme.example"],
            false,
            false,
        ),
    );
    messages.insert(
        "m2".into(),
        message("globex", alice, &["dave@globex.example"], false, true),
    );
    messages.insert(
        "m3".into(),
        message("acme", alice, &["bob@acme.example"], false, true),
    );
    messages.insert(
        "m4".into(),
        message("acme", alice, &["carol@acme.example"], true, false),
    );
    messages.insert(
        "m5".into(),
        message(
            "acme",
            "erin@sender.example",
            &["bob@acme.example"],
            false,
            false,
        ),
    );
    messages.insert(
        "m6".into(),
        message("globex", alice, &["dave@globex.example"], false, false),
    );
    Facts {
        tenants: vec![
            TenantFacts {
                name: "acme".into(),
                domain: "acme.example".into(),
                mailbox_host: "mbx-acme".into(),
                backup_mailbox_hosts: Vec::new(),
                allowed_regions: vec!["eu-west-1".into(), "eu-central-1".into()],
                spam_policy_quarantine: true,
                users: vec!["bob".into(), "carol".into()],
            },
            TenantFacts {
                name: "globex".into(),
                domain: "globex.example".into(),
                mailbox_host: "mbx-globex".into(),
                backup_mailbox_hosts: Vec::new(),
                allowed_regions: vec!["us-east-1".into(), "us-west-2".into()],
                spam_policy_quarantine: false,
                users: vec!["dave".into()],
            },
        ],
        external_mailboxes: BTreeMap::from([("sender.example".into(), "mbx-ext".into())]),
        messages,
        heal_at_us: 50_000_000,
        drain_bound_us: 60_000_000,
        outage_windows: vec![OutageWindow {
            start_us: 10_000_000,
            end_us: 20_000_000,
            regions_down: vec!["eu-west-1".into()],
        }],
        queue_lifetime_us: 0,
        retry_backoff_us_min: 0,
        expiry_grace_us: 0,
        replica_quorum: 2,
        replica_clouds_min: 2,
        region_clouds: BTreeMap::from([
            ("eu-west-1".into(), "aws".into()),
            ("eu-central-1".into(), "gcp".into()),
            ("us-east-1".into(), "aws".into()),
            ("us-west-2".into(), "gcp".into()),
        ]),
        // Every message of the clean run is built at exactly this size.
        message_bytes_max: 1_000,
    }
}

/// One mailbox arrival with every field spelled out.
pub struct Arrive<'a> {
    pub host: &'a str,
    pub msg: &'a str,
    pub rcpt: &'a str,
    pub mail_from: &'a str,
    pub spam_tagged: bool,
    pub dsn_about: Option<&'a str>,
    pub dsn_rcpts: &'a [&'a str],
    /// For a DSN: the `Status` of each of `dsn_rcpts` (none: not read).
    pub dsn_statuses: &'a [&'a str],
    /// For a DSN: the `Action` of each of `dsn_rcpts` (none: not read).
    pub dsn_actions: &'a [&'a str],
    /// For a DSN: its `Reporting-MTA` ("": none, or not read).
    pub dsn_reporting_mta: &'a str,
    /// The host that delivered it.
    pub client: &'a str,
}

impl Default for Arrive<'_> {
    fn default() -> Self {
        Arrive {
            host: "mbx-acme",
            msg: "m1",
            rcpt: "bob@acme.example",
            mail_from: "alice@sender.example",
            spam_tagged: false,
            dsn_about: None,
            dsn_rcpts: &[],
            dsn_statuses: &[],
            dsn_actions: &[],
            dsn_reporting_mta: "",
            client: "gw-us-east-1-0",
        }
    }
}

/// A log under construction; each event is 1ms after the previous one.
pub struct Run {
    pub log: Log,
    t_us: u64,
}

impl Run {
    pub fn new() -> Self {
        Run {
            log: Log::new(),
            t_us: 0,
        }
    }

    /// Moves the clock to `t_us` (never backwards).
    pub fn at(&mut self, t_us: u64) -> &mut Self {
        self.t_us = self.t_us.max(t_us);
        self
    }

    /// Appends an event 1ms after the last; returns its index.
    pub fn push(&mut self, host: &str, kind: EventKind) -> usize {
        self.t_us += 1_000;
        self.log.push(self.t_us, host, kind);
        self.log.len() - 1
    }

    /// One SMTP transaction: attempt, RCPT replies, outcome. Returns the
    /// outcome's index.
    pub fn send(&mut self, msg: &str, told: Told, rcpts: &[&str]) -> usize {
        self.push(
            SENDER,
            EventKind::SendAttempt {
                msg: msg.into(),
                attempt: 1,
                mx: MX.into(),
            },
        );
        for rcpt in rcpts {
            self.push(
                SENDER,
                EventKind::RcptReply {
                    msg: msg.into(),
                    rcpt: rcpt.to_string(),
                    code: 250,
                },
            );
        }
        let code = match told {
            Told::Accepted => 250,
            Told::Deferred => 451,
            Told::Rejected => 550,
            Told::Indefinite => 0,
        };
        self.push(
            SENDER,
            EventKind::SendOutcome {
                msg: msg.into(),
                told,
                code,
                rcpts: rcpts.iter().map(|r| r.to_string()).collect(),
            },
        )
    }

    /// What a sender built: `message_built` with the body's digest.
    pub fn build(&mut self, msg: &str, class: Class, body_sha256: &str) -> usize {
        self.push(
            SENDER,
            EventKind::MessageBuilt {
                msg: msg.into(),
                class,
                body_sha256: body_sha256.into(),
                size: 1_000,
                mail_from: "alice@sender.example".into(),
                rcpts: Vec::new(),
            },
        )
    }

    /// An arrival as a correct gateway makes it: one `Received` added, and
    /// `X-Spam-Flag` when tagged; the rest as sent (digest "00").
    pub fn arrive(&mut self, a: Arrive<'_>) -> usize {
        let additions: &[&str] = if a.spam_tagged {
            &["Received", "X-Spam-Flag"]
        } else {
            &["Received"]
        };
        self.arrive_with(a, additions)
    }

    /// An arrival with the header fields the mailbox took off named.
    pub fn arrive_with(&mut self, a: Arrive<'_>, additions: &[&str]) -> usize {
        self.push(
            a.host,
            EventKind::MailboxReceived {
                msg: a.msg.into(),
                rcpt: a.rcpt.into(),
                mail_from: a.mail_from.into(),
                size: 1_000,
                body_sha256: "00".into(),
                additions: additions.iter().map(|a| a.to_string()).collect(),
                original_sha256: "00".into(),
                spam_tagged: a.spam_tagged,
                dsn_about: a.dsn_about.map(str::to_string),
                dsn_rcpts: a.dsn_rcpts.iter().map(|r| r.to_string()).collect(),
                dsn_statuses: a.dsn_statuses.iter().map(|s| s.to_string()).collect(),
                dsn_actions: a.dsn_actions.iter().map(|s| s.to_string()).collect(),
                dsn_reporting_mta: a.dsn_reporting_mta.into(),
                unflagged_sha256: "00".into(),
                client: a.client.into(),
            },
        )
    }

    /// A plain, untagged delivery.
    pub fn deliver(&mut self, msg: &str, rcpt: &str, host: &str) -> usize {
        self.arrive(Arrive {
            host,
            msg,
            rcpt,
            ..Arrive::default()
        })
    }

    /// A delivery tagged as spam.
    pub fn deliver_tagged(&mut self, msg: &str, rcpt: &str, host: &str) -> usize {
        self.arrive(Arrive {
            host,
            msg,
            rcpt,
            spam_tagged: true,
            ..Arrive::default()
        })
    }

    /// A correct DSN: null return path, to `to` at `host`.
    pub fn dsn(&mut self, id: &str, about: &str, rcpts: &[&str], to: &str, host: &str) -> usize {
        self.arrive(Arrive {
            host,
            msg: id,
            rcpt: to,
            mail_from: "",
            dsn_about: Some(about),
            dsn_rcpts: rcpts,
            ..Arrive::default()
        })
    }

    /// erin's m5 to bob bounced: its DSN arrives at erin's server (the
    /// clean run's one DSN).
    pub fn bounce_m5(&mut self) -> usize {
        self.dsn(
            "dsn-m5",
            "m5",
            &["bob@acme.example"],
            "erin@sender.example",
            "mbx-ext",
        )
    }

    /// `mbx-acme` refuses `rcpt` at RCPT with `code` when `client` offers
    /// it mail from `from` (the server has seen only the envelope).
    pub fn refuse_at_rcpt(&mut self, client: &str, from: &str, rcpt: &str, code: u16) -> usize {
        self.push(
            "mbx-acme",
            EventKind::MailboxRefused {
                msg: None,
                mail_from: Some(from.into()),
                client: client.into(),
                rcpts: vec![rcpt.into()],
                code,
                status: None,
                dsn_about: None,
                dsn_rcpts: Vec::new(),
            },
        )
    }

    /// `mbx-acme` refuses `rcpt` of a null reverse-path transaction from
    /// gw-eu-west-1-0 with `code`: after DATA when `msg` names the message,
    /// at RCPT when it is None.
    pub fn refuse_null_sender(&mut self, msg: Option<&str>, rcpt: &str, code: u16) -> usize {
        self.push(
            "mbx-acme",
            EventKind::MailboxRefused {
                msg: msg.map(Into::into),
                mail_from: Some(String::new()),
                client: "gw-eu-west-1-0".into(),
                rcpts: vec![rcpt.into()],
                code,
                status: None,
                dsn_about: None,
                dsn_rcpts: Vec::new(),
            },
        )
    }

    /// A verdict on the bytes every arrival here carries (digest "00").
    pub fn scan(&mut self, msg: &str, verdict: Verdict) -> usize {
        self.scan_bytes(msg, verdict, "00")
    }

    /// A verdict on bytes with digest `input_sha256`.
    pub fn scan_bytes(&mut self, msg: &str, verdict: Verdict, input_sha256: &str) -> usize {
        self.push(
            SCANNER,
            EventKind::ScanVerdict {
                msg: msg.into(),
                verdict,
                input_sha256: input_sha256.into(),
            },
        )
    }

    /// Bytes written to a gateway disk in `region`.
    pub fn store(&mut self, msg: &str, region: &str, place: &str) -> usize {
        let host = format!("gw-{region}-0");
        self.push(
            &host,
            EventKind::BytesSeen {
                msg: msg.into(),
                region: region.into(),
                presence: Presence::Stored,
                place: place.into(),
            },
        )
    }

    /// The message's bytes made durable on `region`'s gateway.
    pub fn durable(&mut self, msg: &str, region: &str) -> usize {
        let host = format!("gw-{region}-0");
        self.push(
            &host,
            EventKind::BytesDurable {
                msg: msg.into(),
                region: region.into(),
                place: format!("spool/{msg}.msg"),
            },
        )
    }

    /// The message written to `region`'s quarantine and found there at
    /// the end; returns the `quarantine_held`'s index.
    pub fn quarantine(&mut self, msg: &str, region: &str) -> usize {
        let place = format!("quarantine/{msg}");
        self.store(msg, region, &place);
        self.push(
            &format!("gw-{region}-0"),
            EventKind::QuarantineHeld {
                msg: msg.into(),
                region: region.into(),
                place,
            },
        )
    }

    pub fn note(&mut self, what: &str) -> usize {
        self.push(
            MX,
            EventKind::GwNote {
                what: what.into(),
                detail: String::new(),
            },
        )
    }
}

/// A run where a correct gateway handled every message of [`facts`].
pub fn clean_run() -> Run {
    let mut run = Run::new();
    let bob = "bob@acme.example";
    let carol = "carol@acme.example";
    let dave = "dave@globex.example";
    for (msg, class) in [
        ("m1", Class::Clean),
        ("m2", Class::Spam),
        ("m3", Class::Spam),
        ("m4", Class::Malware),
        ("m5", Class::Clean),
        ("m6", Class::Clean),
    ] {
        run.build(msg, class, "00");
    }

    // Every accepted message is durable on two clouds before its 250.
    for (msg, regions) in [
        ("m1", ["eu-west-1", "eu-central-1"]),
        ("m2", ["us-east-1", "us-west-2"]),
        ("m3", ["eu-west-1", "eu-central-1"]),
        ("m4", ["eu-west-1", "eu-central-1"]),
        ("m5", ["eu-west-1", "eu-central-1"]),
        ("m6", ["us-east-1", "us-west-2"]),
    ] {
        for region in regions {
            run.durable(msg, region);
        }
    }

    // m1: clean, two recipients, replicated across two allowed regions.
    run.send("m1", Told::Accepted, &[bob, carol]);
    run.store("m1", "eu-west-1", "spool/m1");
    run.store("m1", "eu-central-1", "spool/m1");
    run.scan("m1", Verdict::Clean);
    run.deliver("m1", bob, "mbx-acme");
    run.deliver("m1", carol, "mbx-acme");

    // m2: spam for a tag-policy tenant: delivered tagged.
    run.send("m2", Told::Accepted, &[dave]);
    run.store("m2", "us-east-1", "spool/m2");
    run.scan("m2", Verdict::Spam);
    run.deliver_tagged("m2", dave, "mbx-globex");

    // m3: spam for a quarantine-policy tenant: held.
    run.send("m3", Told::Accepted, &[bob]);
    run.store("m3", "eu-west-1", "spool/m3");
    run.scan("m3", Verdict::Spam);
    run.quarantine("m3", "eu-west-1");

    // m4: malware: held, never delivered nor bounced.
    run.send("m4", Told::Accepted, &[carol]);
    run.scan("m4", Verdict::Malware);
    run.quarantine("m4", "eu-central-1");

    // m5: clean but undeliverable: one DSN to its sender.
    run.send("m5", Told::Accepted, &[bob]);
    run.scan("m5", Verdict::Clean);
    run.bounce_m5();

    // m6: the first 250 was lost (indefinite), the sender retried: two
    // copies, the second excused by the indefinite reply.
    run.send("m6", Told::Indefinite, &[dave]);
    run.send("m6", Told::Accepted, &[dave]);
    run.scan("m6", Verdict::Clean);
    run.deliver("m6", dave, "mbx-globex");
    run.deliver("m6", dave, "mbx-globex");
    run
}

/// Asserts `violations` is one or more, each mentioning `needle`.
pub fn assert_reported(violations: &[crate::Violation], property: &str, needle: &str) {
    assert!(
        !violations.is_empty(),
        "{property}: expected a violation mentioning {needle:?}"
    );
    for v in violations {
        assert_eq!(v.property, property);
        assert!(
            v.reason.contains(needle),
            "{property}: reason does not mention {needle:?}: {}",
            v.reason
        );
        assert!(
            !v.events.is_empty(),
            "{property}: no evidence: {}",
            v.reason
        );
    }
}
