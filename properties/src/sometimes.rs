//! "Sometimes" counters: how often a run reached the hard states the tests
//! exist for — failovers, fencing, outages hitting open sessions, scans that
//! had to wait, lost replies, bounces, quarantines.
//!
//! They never pass or fail a run. Across many seeds they show whether the
//! fault schedule actually exercises the paths the properties guard: a suite
//! where `failovers` is always zero proves nothing about failover, so the
//! proptest suites sum them over their cases ([`Sometimes::add`]) and fail
//! when their hard state was never reached. This is the one place the
//! gateway's `gw_*` self-reports are read, since only the gateway knows it
//! failed over, was fenced, or could not write its disk.

use serde::{Deserialize, Serialize};
use traces::{EventKind, Log, Told};

use crate::Facts;
use crate::view::Outcomes;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Sometimes {
    /// `gw_note` what=failover: a node took over another's spool.
    pub failovers: u64,
    /// `gw_note` what=fenced: a stale owner was stopped from acting.
    pub fenced_attempts: u64,
    /// `send_outcome`s told deferred or indefinite inside an outage window:
    /// the outage caught a session in flight.
    pub outage_hit_open_session: u64,
    /// `gw_note` what=scan_waited: delivery held for a slow scanner.
    pub scans_waited: u64,
    /// `send_outcome`s told indefinite (RFC 1047 window).
    pub indefinite_outcomes: u64,
    /// DSNs that reached a mailbox.
    pub dsns_sent: u64,
    /// Distinct messages stored in a quarantine.
    pub quarantines: u64,
    /// Delivered copies beyond the first that an indefinite reply excused:
    /// the duplicate path exercised end to end.
    pub excused_duplicates: u64,
    /// Hosts the world crashed.
    pub host_crashes: u64,
    /// Hosts that booted again after a crash.
    pub host_restarts: u64,
    /// `rcpt_reply`s with a 4xx code: a recipient refused for now, e.g. by
    /// a region the tenant may not use that a stale MX record pointed at.
    pub rcpt_deferred: u64,
    /// `gw_deferred`: the gateway answered 4xx at the end of DATA because
    /// it could not take responsibility (spool, replication quorum).
    pub gateway_deferrals: u64,
    /// Gateway disk operations that failed: a spool write that turned into
    /// a 451, or a spool, DSN or quarantine update it had to note.
    pub storage_errors: u64,
    /// Delivered copies whose bytes were compared with what their sender
    /// built (`integrity` had something to judge).
    #[serde(default)]
    pub bodies_compared: u64,
    /// Of those, copies tagged as spam: the declared addition checked.
    #[serde(default)]
    pub tagged_bodies_compared: u64,
    /// Bounced pairs a 5xx from the recipient's server explains
    /// (`no_false_bounce`'s refusal path).
    #[serde(default)]
    pub bounces_after_refusal: u64,
    /// Messages written to a quarantine that no disk held at the end: a
    /// crash undid the write, and only the disks could tell.
    #[serde(default)]
    pub quarantine_writes_undone: u64,
    /// Accepted outcomes `ack_durable` judged against durable copies.
    #[serde(default)]
    pub acks_judged_durable: u64,
    /// Messages exactly at the configured size limit that were accepted:
    /// `size_limit`'s boundary reached from below.
    #[serde(default)]
    pub accepted_at_size_limit: u64,
    /// Messages over the size limit refused with 552: its other side.
    #[serde(default)]
    pub refused_over_size_limit: u64,
    /// Groups of mail parked behind one mailbox outage, by one owner, whose
    /// order after the return `order_after_recovery` judged.
    #[serde(default)]
    pub orders_judged: u64,
    /// Faults that started, by kind (`disk`, `mailbox_misbehaves` and
    /// `dns_fails` by kind and mode, `disk:corrupt_read`): which kinds a
    /// swarm actually drew.
    #[serde(default)]
    pub faults_started: std::collections::BTreeMap<String, u64>,
    /// Spool reads the checksum refused (`spool record corrupt`): a flipped
    /// bit or a torn write caught before it could become mail.
    #[serde(default)]
    pub corrupt_reads_refused: u64,
    /// Recipients a mail server greylisted (`mailbox_refused` 451 at RCPT).
    #[serde(default)]
    pub greylisted: u64,
    /// Replies a mail server's client may never have heard
    /// (`mailbox_reply_lost`: a session died after a 250, or a server hung
    /// up after DATA).
    #[serde(default)]
    pub mailbox_replies_lost: u64,
    /// Refusals after DATA a mail server's client may never have heard
    /// (`mailbox_refusal_unheard`): `dsn_status` let them bind no code.
    #[serde(default)]
    pub refusals_unheard: u64,
    /// Distinct offers (client host, envelope sender, workload address) a
    /// mail server refused with a 5xx at RCPT: `no_retry_after_refusal`
    /// had that many counts to judge.
    #[serde(default)]
    pub rcpts_refused_permanently: u64,
    /// Pairs of mail sent with a null reverse-path that reached a mailbox.
    #[serde(default)]
    pub null_sender_delivered: u64,
    /// Pairs of such mail that ended without a DSN (refused for good by
    /// their server, or past their lifetime): `Settled::Dropped`.
    #[serde(default)]
    pub null_sender_dropped: u64,
    /// Retries after a deferral (a 4xx, or a reply lost after DATA) whose
    /// pacing `retry_paced` judged.
    #[serde(default)]
    pub retries_paced_judged: u64,
    /// Recipients a DSN reported that their server had refused with an
    /// enhanced code: `dsn_status` held the DSN to that code.
    #[serde(default)]
    pub dsn_statuses_held_to_server_code: u64,
    /// RCPTs of an address no tenant has that a gateway answered:
    /// `unknown_recipients_refused` had that many replies to judge.
    #[serde(default)]
    pub unknown_recipients_offered: u64,
}

impl Sometimes {
    /// How many faults of `kind` started (any mode).
    pub fn started(&self, kind: &str) -> u64 {
        self.faults_started
            .iter()
            .filter(|(k, _)| *k == kind || k.starts_with(&format!("{kind}:")))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Gateway notes that say a disk operation failed.
const STORAGE_NOTES: &[&str] = &[
    "spool_read_failed",
    "spool_update_failed",
    "spool_remove_failed",
    "dsn_spool_failed",
    "quarantine_failed",
];

impl Sometimes {
    /// Adds another run's counters to these, so a suite can ask whether any
    /// of its cases reached a state.
    pub fn add(&mut self, other: &Sometimes) {
        self.failovers += other.failovers;
        self.fenced_attempts += other.fenced_attempts;
        self.outage_hit_open_session += other.outage_hit_open_session;
        self.scans_waited += other.scans_waited;
        self.indefinite_outcomes += other.indefinite_outcomes;
        self.dsns_sent += other.dsns_sent;
        self.quarantines += other.quarantines;
        self.excused_duplicates += other.excused_duplicates;
        self.host_crashes += other.host_crashes;
        self.host_restarts += other.host_restarts;
        self.rcpt_deferred += other.rcpt_deferred;
        self.gateway_deferrals += other.gateway_deferrals;
        self.storage_errors += other.storage_errors;
        self.bodies_compared += other.bodies_compared;
        self.tagged_bodies_compared += other.tagged_bodies_compared;
        self.bounces_after_refusal += other.bounces_after_refusal;
        self.quarantine_writes_undone += other.quarantine_writes_undone;
        self.acks_judged_durable += other.acks_judged_durable;
        self.accepted_at_size_limit += other.accepted_at_size_limit;
        self.refused_over_size_limit += other.refused_over_size_limit;
        self.orders_judged += other.orders_judged;
        for (kind, n) in &other.faults_started {
            *self.faults_started.entry(kind.clone()).or_default() += n;
        }
        self.corrupt_reads_refused += other.corrupt_reads_refused;
        self.greylisted += other.greylisted;
        self.mailbox_replies_lost += other.mailbox_replies_lost;
        self.refusals_unheard += other.refusals_unheard;
        self.rcpts_refused_permanently += other.rcpts_refused_permanently;
        self.null_sender_delivered += other.null_sender_delivered;
        self.null_sender_dropped += other.null_sender_dropped;
        self.retries_paced_judged += other.retries_paced_judged;
        self.dsn_statuses_held_to_server_code += other.dsn_statuses_held_to_server_code;
        self.unknown_recipients_offered += other.unknown_recipients_offered;
    }
}

/// The counters of one run.
pub fn sometimes(log: &Log, facts: &Facts) -> Sometimes {
    from_view(&Outcomes::build(log, facts))
}

/// The counters from a view already built.
pub fn from_view(view: &Outcomes<'_>) -> Sometimes {
    let facts = view.facts;
    let mut s = Sometimes::default();
    for event in view.events {
        match &event.kind {
            EventKind::GwNote { what, detail } => match what.as_str() {
                "failover" => s.failovers += 1,
                "fenced" => s.fenced_attempts += 1,
                "scan_waited" => s.scans_waited += 1,
                what if STORAGE_NOTES.contains(&what) => {
                    s.storage_errors += 1;
                    if detail.contains("spool record corrupt") {
                        s.corrupt_reads_refused += 1;
                    }
                }
                _ => {}
            },
            EventKind::FaultStarted { kind, target, .. } => {
                // Kinds with modes say their mode last in the target.
                let key = match kind.as_str() {
                    "disk" | "mailbox_misbehaves" | "dns_fails" => {
                        let mode = target.rsplit_once(',').map_or("", |(_, m)| m);
                        format!("{kind}:{mode}")
                    }
                    _ => kind.clone(),
                };
                *s.faults_started.entry(key).or_default() += 1;
            }
            EventKind::MailboxRefused { code: 451, .. } => s.greylisted += 1,
            EventKind::MailboxReplyLost { .. } => s.mailbox_replies_lost += 1,
            EventKind::MailboxRefusalUnheard { .. } => s.refusals_unheard += 1,
            EventKind::GwDeferred { reason, .. } => {
                s.gateway_deferrals += 1;
                // Ingress's wording for a spool it could not write or sync.
                if reason.contains("spool write failed") {
                    s.storage_errors += 1;
                }
            }
            EventKind::RcptReply { code, .. } if (400..500).contains(code) => {
                s.rcpt_deferred += 1;
            }
            EventKind::HostRestarted {} => s.host_restarts += 1,
            EventKind::SendOutcome { told, .. } => {
                if *told == Told::Indefinite {
                    s.indefinite_outcomes += 1;
                }
                if matches!(told, Told::Deferred | Told::Indefinite) && facts.in_outage(event.t_us)
                {
                    s.outage_hit_open_session += 1;
                }
            }
            EventKind::HostCrashed {} => s.host_crashes += 1,
            _ => {}
        }
        if let EventKind::SendOutcome {
            told: Told::Accepted,
            msg,
            ..
        } = &event.kind
            && facts.replica_quorum > 0
            && view.durable.contains_key(&crate::facts::msg_key(msg))
        {
            s.acks_judged_durable += 1;
        }
    }
    for (pair, arrivals) in &view.deliveries {
        if view.built.contains_key(&pair.msg) {
            s.bodies_compared += arrivals.len() as u64;
            s.tagged_bodies_compared += arrivals.iter().filter(|a| a.spam_tagged).count() as u64;
        }
    }
    s.bounces_after_refusal = view
        .bounces
        .keys()
        .chain(view.refused_bounces.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|pair| {
            view.refusals.iter().any(|r| {
                r.code >= 500
                    && r.rcpts.contains(&pair.rcpt)
                    && r.msg.as_ref().is_none_or(|m| *m == pair.msg)
            })
        })
        .count() as u64;
    s.rcpts_refused_permanently =
        crate::no_retry_after_refusal::permanent_rcpt_refusals(view).len() as u64;
    s.quarantine_writes_undone = view
        .quarantine_writes
        .keys()
        .filter(|msg| !view.quarantine_held.contains_key(*msg))
        .count() as u64;
    for (msg, built) in &view.built {
        let told = |wanted: Told, code_wanted: Option<u16>| {
            view.sends_by_msg.get(msg).into_iter().flatten().any(|&i| {
                matches!(&view.events[i].kind, EventKind::SendOutcome { told, code, .. }
                    if *told == wanted && code_wanted.is_none_or(|c| c == *code))
            })
        };
        let limit = facts.message_bytes_max;
        if limit > 0 && built.size == limit && told(Told::Accepted, None) {
            s.accepted_at_size_limit += 1;
        }
        if facts.over_size_limit(built.size) && told(Told::Rejected, Some(552)) {
            s.refused_over_size_limit += 1;
        }
    }
    for pair in view.covers.keys() {
        if view.message(&pair.msg).is_none_or(|m| !m.sender.is_empty()) {
            continue;
        }
        if view.deliveries.contains_key(pair) {
            s.null_sender_delivered += 1;
        }
        if view
            .settlements(pair)
            .iter()
            .any(|&(_, how)| how == crate::view::Settled::Dropped)
        {
            s.null_sender_dropped += 1;
        }
    }
    s.orders_judged = crate::order_after_recovery::groups_judged(view);
    s.retries_paced_judged = crate::retry_paced::judged_retries(view).retries;
    s.dsn_statuses_held_to_server_code = crate::dsn_status::held_to_a_server_code(view);
    s.unknown_recipients_offered = crate::unknown_recipients_refused::offered(view);
    s.dsns_sent = view.dsns.len() as u64;
    s.quarantines = view.quarantined.len() as u64;
    s.excused_duplicates = view
        .deliveries
        .iter()
        .map(|(pair, arrivals)| {
            let copies = arrivals.len();
            let allowed = crate::duplicates_bounded::allowed_deliveries(view, pair).max(1);
            copies.min(allowed).saturating_sub(1) as u64
        })
        .sum();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, clean_run, facts};

    #[test]
    fn the_clean_run_reaches_bounce_quarantine_and_indefinite_states() {
        let s = sometimes(&clean_run().log, &facts());
        assert_eq!(s.indefinite_outcomes, 1);
        assert_eq!(s.dsns_sent, 1);
        assert_eq!(s.quarantines, 2);
        assert_eq!(s.excused_duplicates, 1);
        // m1 twice, m2 (tagged) once, m6 twice; every 250 had durable copies.
        assert_eq!((s.bodies_compared, s.tagged_bodies_compared), (5, 1));
        assert_eq!(s.acks_judged_durable, 6);
        // Every message is built at the limit; m1..m6 were all accepted.
        assert_eq!(s.accepted_at_size_limit, 6);
        assert_eq!(s.refused_over_size_limit, 0);
        assert_eq!(s.quarantine_writes_undone, 0);
        assert_eq!(s.failovers, 0);
    }

    #[test]
    fn gateway_notes_and_outage_deferrals_are_counted() {
        let mut run = Run::new();
        run.note("failover");
        run.note("fenced");
        run.note("fenced");
        run.note("scan_waited");
        run.note("something_else");
        run.at(15_000_000);
        run.send("m1", Told::Deferred, &["bob@acme.example"]);
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        let s = sometimes(&run.log, &facts());
        assert_eq!((s.failovers, s.fenced_attempts, s.scans_waited), (1, 2, 1));
        assert_eq!(s.outage_hit_open_session, 1);
    }

    #[test]
    fn restarts_refused_recipients_deferrals_and_disk_errors_are_counted() {
        let mut run = Run::new();
        run.push("gw-a", EventKind::HostCrashed {});
        run.push("gw-a", EventKind::HostRestarted {});
        let rcpt_reply = |code| EventKind::RcptReply {
            msg: "m1".into(),
            rcpt: "bob@acme.example".into(),
            code,
        };
        run.push("mta-0", rcpt_reply(451));
        run.push("mta-0", rcpt_reply(250));
        run.push("mta-0", rcpt_reply(550));
        let deferred = |reason: &str| EventKind::GwDeferred {
            msg: "m1".into(),
            reason: reason.into(),
        };
        run.push(
            "gw-a",
            deferred("0a: spool write failed: no space left on device"),
        );
        run.push(
            "gw-a",
            deferred("0b: replication quorum not reached in 2000 ms"),
        );
        run.note("spool_update_failed");
        run.note("boot");
        let s = sometimes(&run.log, &facts());
        assert_eq!((s.host_crashes, s.host_restarts), (1, 1));
        assert_eq!(s.rcpt_deferred, 1);
        assert_eq!(s.gateway_deferrals, 2);
        assert_eq!(s.storage_errors, 2);
    }

    #[test]
    fn adding_counters_sums_every_field() {
        // Every field set to a different number through JSON, so a field
        // added later and forgotten in `add` fails here.
        let mut fields = serde_json::to_value(Sometimes::default()).unwrap();
        let map = fields.as_object_mut().unwrap();
        for (n, value) in map.values_mut().enumerate() {
            // Counts by kind are maps: one key each.
            *value = if value.is_object() {
                serde_json::json!({ "x": n + 1 })
            } else {
                serde_json::json!(n + 1)
            };
        }
        let one: Sometimes = serde_json::from_value(fields.clone()).unwrap();
        let mut total = one.clone();
        total.add(&one);
        let summed = serde_json::to_value(&total).unwrap();
        for (name, value) in fields.as_object().unwrap() {
            let expected = match value.as_object() {
                Some(by_kind) => serde_json::json!({ "x": 2 * by_kind["x"].as_u64().unwrap() }),
                None => serde_json::json!(2 * value.as_u64().unwrap()),
            };
            assert_eq!(summed[name], expected, "{name}");
        }
    }

    #[test]
    fn fault_kinds_refused_corrupt_reads_greylisting_and_lost_replies_are_counted() {
        let mut run = Run::new();
        let started = |fault, kind: &str, target: &str| EventKind::FaultStarted {
            fault,
            kind: kind.into(),
            target: target.into(),
        };
        run.push("world", started(0, "disk", "gw-a,corrupt_read"));
        run.push("world", started(1, "host_crash", "gw-a"));
        run.push(
            "world",
            started(2, "mailbox_misbehaves", "acme.example,greylist"),
        );
        run.push(
            "gw-a",
            EventKind::GwNote {
                what: "spool_read_failed".into(),
                detail: "0a: spool record corrupt: checksum mismatch".into(),
            },
        );
        run.push(
            "gw-a",
            EventKind::GwNote {
                what: "spool_read_failed".into(),
                detail: "0a: read failed: input/output error".into(),
            },
        );
        run.push(
            "mbx-acme",
            EventKind::MailboxRefused {
                msg: None,
                mail_from: None,
                client: "gw-eu-west-1-0".into(),
                rcpts: vec!["bob@acme.example".into()],
                code: 451,
                status: None,
                dsn_about: None,
                dsn_rcpts: vec![],
            },
        );
        run.push(
            "mbx-acme",
            EventKind::MailboxReplyLost {
                msg: "m1".into(),
                rcpts: vec!["bob@acme.example".into()],
            },
        );
        run.push(
            "mbx-acme",
            EventKind::MailboxRefusalUnheard {
                msg: "m2".into(),
                rcpts: vec!["bob@acme.example".into()],
            },
        );
        let s = sometimes(&run.log, &facts());
        assert_eq!(s.refusals_unheard, 1);
        assert_eq!(s.started("disk"), 1);
        assert_eq!(s.faults_started["disk:corrupt_read"], 1);
        assert_eq!(s.started("host_crash"), 1);
        assert_eq!(s.started("mailbox_misbehaves"), 1);
        assert_eq!(s.started("dns_fails"), 0);
        assert_eq!((s.corrupt_reads_refused, s.storage_errors), (1, 2));
        assert_eq!((s.greylisted, s.mailbox_replies_lost), (1, 1));
    }

    #[test]
    fn mail_with_a_null_reverse_path_delivered_or_dropped_is_counted() {
        let mut facts = facts();
        facts.messages.get_mut("m1").expect("m1").sender = String::new();
        let mut run = Run::new();
        run.send(
            "m1",
            Told::Accepted,
            &["bob@acme.example", "carol@acme.example"],
        );
        run.deliver("m1", "carol@acme.example", "mbx-acme");
        run.refuse_null_sender(Some("m1"), "bob@acme.example", 554);
        let counted = sometimes(&run.log, &facts);
        assert_eq!(counted.null_sender_delivered, 1);
        assert_eq!(counted.null_sender_dropped, 1);
        // With a return path, the same refusal owes a DSN: nothing dropped.
        let counted = sometimes(&run.log, &crate::testkit::facts());
        assert_eq!(counted.null_sender_delivered, 0);
        assert_eq!(counted.null_sender_dropped, 0);
    }
}
