//! `no_acked_loss`: every (message, recipient) pair the gateway acknowledged
//! ends delivered, bounced, or quarantined.
//!
//! A 250 after end-of-DATA transfers responsibility: the sender deletes its
//! copy, so from then on the gateway is the only holder. If the pair is
//! never seen again at a mailbox (as the message or as a DSN about it) and
//! never stored in quarantine, mail was lost. It is a safety property judged
//! at the end of the log: a run that stops early may report pairs that were
//! merely late, which is why the simulator drains before judging.
//!
//! Pairs told `indefinite` only are not covered: the gateway may never have
//! had them, and the sender still holds its copy.

use traces::Log;

use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "no_acked_loss";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str =
    "every acknowledged (message, recipient) pair ends delivered, bounced, or quarantined";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let end = view.events.last().map_or(0, |e| e.t_us);
    view.acknowledged()
        .filter(|(pair, _)| view.settlements(pair).is_empty())
        .map(|(pair, accepted)| {
            let told: Vec<String> = accepted.iter().map(|s| view.describe_send(s)).collect();
            Violation::new(
                NAME,
                KIND,
                format!(
                    "{pair} was acknowledged ({}) but by the end of the log ({}) it was never \
                     delivered, bounced, or stored in quarantine: the gateway lost it",
                    told.join("; "),
                    ms(end)
                ),
                accepted.iter().map(|s| s.index).collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Arrive, Run, assert_reported, clean_run, facts};
    use traces::{Told, Verdict};

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn an_acknowledged_message_never_delivered_is_reported_lost() {
        let mut run = Run::new();
        let ack = run.send(
            "m1",
            Told::Accepted,
            &["bob@acme.example", "carol@acme.example"],
        );
        run.scan("m1", Verdict::Clean);
        // Only carol gets it; bob's copy vanishes.
        run.deliver("m1", "carol@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].events, vec![ack]);
        assert!(found[0].reason.contains("via gw-eu-west-1-0"));
    }

    #[test]
    fn a_pair_told_only_indefinite_may_vanish() {
        let mut run = Run::new();
        run.send("m1", Told::Indefinite, &["bob@acme.example"]);
        run.send("m1", Told::Deferred, &["bob@acme.example"]);
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_bounce_or_a_quarantine_settles_an_acknowledged_pair() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.dsn(
            "d",
            "m5",
            &["bob@acme.example"],
            "erin@sender.example",
            "mbx-ext",
        );
        run.send("m3", Told::Accepted, &["bob@acme.example"]);
        run.quarantine("m3", "eu-west-1");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_refusal_whose_dsn_had_no_resolvable_sender_for_a_lifetime_settles_the_pair() {
        // m5 (erin@sender.example's) refused by bob's server at 1 s; the
        // DSN's destination does not resolve from 0.5 s until `dns_end`.
        let run_with = |dns_end_us: u64| {
            let mut run = Run::new();
            run.send("m5", Told::Accepted, &["bob@acme.example"]);
            run.at(500_000);
            run.push(
                "world",
                traces::EventKind::FaultStarted {
                    fault: 0,
                    kind: "dns_fails".into(),
                    target: "Sender.example,timeout".into(),
                },
            );
            run.at(1_000_000);
            run.push(
                "mbx-acme",
                traces::EventKind::MailboxRefused {
                    msg: Some("m5".into()),
                    mail_from: Some("erin@sender.example".into()),
                    client: "gw-eu-west-1-0".into(),
                    rcpts: vec!["bob@acme.example".into()],
                    code: 554,
                    status: Some("5.7.1".into()),
                    dsn_about: None,
                    dsn_rcpts: Vec::new(),
                },
            );
            run.at(dns_end_us);
            run.push("world", traces::EventKind::FaultEnded { fault: 0 });
            run.at(60_000_000);
            run.push(
                "world",
                traces::EventKind::Phase {
                    phase: "done".into(),
                },
            );
            run
        };
        let facts = Facts {
            queue_lifetime_us: 10_000_000,
            ..facts()
        };
        assert_eq!(check(&run_with(11_000_000).log, &facts), vec![]);
        // Resolvable again within the lifetime: the DSN could have gone.
        let found = check(&run_with(9_000_000).log, &facts);
        assert_reported(&found, NAME, "message m5 to bob@acme.example");
    }

    #[test]
    fn only_a_recipient_reported_failed_is_settled_by_a_dsn() {
        for (action, settled) in [("failed", true), ("delayed", false), ("", false)] {
            let mut run = Run::new();
            run.send("m5", Told::Accepted, &["bob@acme.example"]);
            run.arrive(Arrive {
                host: "mbx-ext",
                msg: "d",
                rcpt: "erin@sender.example",
                mail_from: "",
                dsn_about: Some("m5"),
                dsn_rcpts: &["bob@acme.example"],
                dsn_statuses: &["4.4.7"],
                dsn_actions: &[action],
                dsn_reporting_mta: "dns; gw-1",
                ..Arrive::default()
            });
            let found = check(&run.log, &facts());
            if settled {
                assert_eq!(found, vec![], "{action}");
            } else {
                assert_reported(&found, NAME, "m5");
            }
        }
    }

    #[test]
    fn a_quarantine_write_the_disk_no_longer_holds_settles_nothing() {
        // Written to the quarantine, then undone by a crash before its
        // fsync: the disks read at the end do not have it.
        let mut run = Run::new();
        run.send("m3", Told::Accepted, &["bob@acme.example"]);
        run.store("m3", "eu-west-1", "quarantine/m3");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m3 to bob@acme.example");
        // While the run goes on, the write counts (the drain check).
        let facts = facts();
        let view = Outcomes::build_during_run(&run.log, &facts);
        assert!(
            !view
                .settlements(&crate::Pair::new("m3", "bob@acme.example"))
                .is_empty()
        );
    }

    #[test]
    fn a_dsn_its_senders_server_refused_at_rcpt_settles_one_message_of_that_sender() {
        let refuse_dsn = |run: &mut Run| {
            run.push(
                "mbx-ext",
                traces::EventKind::MailboxRefused {
                    msg: None,
                    mail_from: Some(String::new()),
                    client: "gw-eu-west-1-0".into(),
                    rcpts: vec!["alice@sender.example".into()],
                    code: 550,
                    status: None,
                    dsn_about: None,
                    dsn_rcpts: Vec::new(),
                },
            )
        };
        // alice's m1 and m6 both acknowledged, neither delivered: one DSN
        // refused at RCPT accounts for one of them (the older), not both.
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.send("m6", Told::Accepted, &["dave@globex.example"]);
        refuse_dsn(&mut run);
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m6 to dave@globex.example");
        assert_eq!(found.len(), 1);
        refuse_dsn(&mut run);
        assert_eq!(check(&run.log, &facts()), vec![]);
        // A refusal before the gateway took the message excuses nothing,
        // nor does one of a message's DSN to someone else.
        let mut run = Run::new();
        refuse_dsn(&mut run);
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        assert_reported(&check(&run.log, &facts()), NAME, "message m1");
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        refuse_dsn(&mut run);
        assert_reported(&check(&run.log, &facts()), NAME, "message m5");
    }

    /// Facts where m1 came with a null reverse-path and the queue lifetime
    /// is `lifetime_us`.
    fn null_sender_facts(lifetime_us: u64) -> crate::Facts {
        let mut facts = facts();
        facts.messages.get_mut("m1").expect("m1").sender = String::new();
        facts.queue_lifetime_us = lifetime_us;
        facts
    }

    #[test]
    fn a_null_sender_pair_refused_for_good_by_its_server_ends_without_a_dsn() {
        let mut run = Run::new();
        run.send(
            "m1",
            Told::Accepted,
            &["bob@acme.example", "carol@acme.example"],
        );
        run.refuse_null_sender(Some("m1"), "bob@acme.example", 554);
        run.refuse_null_sender(None, "carol@acme.example", 550);
        assert_eq!(check(&run.log, &null_sender_facts(0)), vec![]);
        // The same refusals of mail that has a return path owe a DSN.
        let found = check(&run.log, &facts());
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn a_refusal_at_rcpt_is_not_spent_on_a_quarantined_null_sender_message() {
        // m3 (to bob) sits in quarantine; m1's bob is the one the server
        // refused. Found by madsim dependencies seed 163.
        let mut facts = null_sender_facts(0);
        facts.messages.get_mut("m3").expect("m3").sender = String::new();
        let mut run = Run::new();
        run.send("m3", Told::Accepted, &["bob@acme.example"]);
        run.quarantine("m3", "eu-west-1");
        run.send(
            "m1",
            Told::Accepted,
            &["bob@acme.example", "carol@acme.example"],
        );
        run.deliver("m1", "carol@acme.example", "mbx-acme");
        run.refuse_null_sender(None, "bob@acme.example", 550);
        assert_eq!(check(&run.log, &facts), vec![]);
    }

    #[test]
    fn a_null_sender_pair_vanishing_inside_its_lifetime_is_lost() {
        let mut run = Run::new();
        run.send(
            "m1",
            Told::Accepted,
            &["bob@acme.example", "carol@acme.example"],
        );
        run.deliver("m1", "carol@acme.example", "mbx-acme");
        // A 4xx settles nothing; a refusal of carol does not cover bob.
        run.refuse_null_sender(None, "bob@acme.example", 451);
        run.refuse_null_sender(None, "carol@acme.example", 550);
        run.at(50_000_000).note("end");
        let found = check(&run.log, &null_sender_facts(60_000_000));
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert_eq!(found.len(), 1);
        // Past its lifetime the gateway may have expired it, and tells
        // nobody: a null reverse-path has no DSN.
        run.at(70_000_000).note("later");
        assert_eq!(check(&run.log, &null_sender_facts(60_000_000)), vec![]);
    }
}
