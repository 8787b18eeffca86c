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

    /// Plays `timeline` (time, host, event) onto `run` in time order, then
    /// ends the run at 60 s.
    fn play(mut run: Run, mut timeline: Vec<(u64, String, traces::EventKind)>) -> Run {
        timeline.sort_by_key(|(t_us, _, _)| *t_us);
        for (t_us, host, event) in timeline {
            run.at(t_us);
            run.push(&host, event);
        }
        run.at(60_000_000);
        run.push(
            "world",
            traces::EventKind::Phase {
                phase: "done".into(),
            },
        );
        run
    }

    /// How the pair of `given_up` was given up.
    #[derive(Clone, Copy)]
    enum GivenUp {
        /// bob's server refused m5 after DATA at 1 s.
        AfterData,
        /// bob's server refused erin's mail to bob at RCPT at 1 s.
        AtRcpt,
        /// Nobody refused it: its lifetime (10 s) ran out undelivered.
        Expired,
    }

    /// m5 (erin@sender.example's, accepted at 0) given up as `how`; the
    /// DSN's destination does not resolve from `dns_start_us` until
    /// `dns_end_us`.
    fn given_up(how: GivenUp, dns_start_us: u64, dns_end_us: u64) -> Run {
        given_up_from(how, "erin@sender.example", dns_start_us, dns_end_us)
    }

    /// The same, the refusal's envelope sender `mail_from`.
    fn given_up_from(how: GivenUp, mail_from: &str, dns_start_us: u64, dns_end_us: u64) -> Run {
        let dns_fails = traces::EventKind::FaultStarted {
            fault: 0,
            kind: "dns_fails".into(),
            target: "Sender.example,timeout".into(),
        };
        let refused_at_us = 1_000_000;
        let refusal = traces::EventKind::MailboxRefused {
            msg: matches!(how, GivenUp::AfterData).then(|| "m5".into()),
            mail_from: Some(mail_from.into()),
            client: "gw-eu-west-1-0".into(),
            rcpts: vec!["bob@acme.example".into()],
            code: 550,
            status: Some("5.1.1".into()),
            dsn_about: None,
            dsn_rcpts: Vec::new(),
        };
        let mut timeline = vec![
            (dns_start_us, "world".to_string(), dns_fails),
            (
                dns_end_us,
                "world".to_string(),
                traces::EventKind::FaultEnded { fault: 0 },
            ),
        ];
        if let GivenUp::AfterData | GivenUp::AtRcpt = how {
            timeline.push((refused_at_us, "mbx-acme".to_string(), refusal));
        }
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        play(run, timeline)
    }

    #[test]
    fn a_pair_given_up_whose_dsn_had_no_resolvable_sender_for_a_lifetime_is_settled() {
        let facts = Facts {
            queue_lifetime_us: 10_000_000,
            expiry_grace_us: 2_000_000,
            ..facts()
        };
        let lost = |run: Run| {
            let found = check(&run.log, &facts);
            assert_reported(&found, NAME, "message m5 to bob@acme.example");
        };
        for how in [GivenUp::AfterData, GivenUp::AtRcpt] {
            // Refused at 1 s, unresolvable from 0.5 s to 11 s: the DSN had
            // nowhere to go for its whole lifetime.
            assert_eq!(
                check(&given_up(how, 500_000, 11_000_000).log, &facts),
                vec![]
            );
            // Resolvable again within the lifetime: the DSN could have gone.
            lost(given_up(how, 500_000, 9_000_000));
            // Resolvable when the refusal came: it could have gone at once.
            lost(given_up(how, 1_500_000, 30_000_000));
        }
        // Expired at 10 s (12 s at the latest): unresolvable from 11 s to
        // 21 s covers a lifetime from a moment the DSN may have been born.
        assert_eq!(
            check(
                &given_up(GivenUp::Expired, 11_000_000, 21_000_000).log,
                &facts
            ),
            vec![]
        );
        // Unresolvable only until 19 s: the DSN outlived the failure.
        lost(given_up(GivenUp::Expired, 11_000_000, 19_000_000));
        // Unresolvable only from 13 s: the DSN could have gone before.
        lost(given_up(GivenUp::Expired, 13_000_000, 40_000_000));
    }

    #[test]
    fn a_refusal_at_rcpt_of_another_sender_excuses_nothing() {
        let facts = Facts {
            queue_lifetime_us: 10_000_000,
            ..facts()
        };
        // Unresolvable for a lifetime after the refusal, not after the expiry.
        let run = given_up_from(GivenUp::AtRcpt, "someone@else.example", 500_000, 11_000_000);
        let found = check(&run.log, &facts);
        assert_reported(&found, NAME, "message m5 to bob@acme.example");
    }

    /// m5 accepted, durable on the gateways of `copies` (regions); then
    /// each disk lost over its (start, end) window, in seconds.
    fn disks_lost(copies: &[&str], windows: &[(&str, u64, u64)]) -> Run {
        let mut run = Run::new();
        for region in copies {
            run.durable("m5", region);
        }
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        let mut timeline = Vec::new();
        for (fault, (region, start_s, end_s)) in windows.iter().enumerate() {
            let fault = u32::try_from(fault).expect("few faults");
            let started = traces::EventKind::FaultStarted {
                fault,
                kind: "disk_lost".into(),
                target: format!("gw-{region}-0"),
            };
            timeline.push((start_s * 1_000_000, "world".to_string(), started));
            let ended = traces::EventKind::FaultEnded { fault };
            timeline.push((end_s * 1_000_000, "world".to_string(), ended));
        }
        play(run, timeline)
    }

    #[test]
    fn mail_whose_every_copys_disk_was_lost_at_once_is_destroyed_not_lost() {
        // Two copies across two clouds, as the facts ask of every 250.
        let facts = Facts {
            replica_quorum: 2,
            replica_clouds_min: 2,
            region_clouds: [("eu-west-1", "aws"), ("europe-west3", "gcp")]
                .into_iter()
                .map(|(region, cloud)| (region.to_string(), cloud.to_string()))
                .collect(),
            ..facts()
        };
        let copies = ["eu-west-1", "europe-west3"];
        let lost = |run: Run| {
            assert_reported(
                &check(&run.log, &facts),
                NAME,
                "message m5 to bob@acme.example",
            );
        };
        let both = disks_lost(&copies, &[("eu-west-1", 2, 10), ("europe-west3", 3, 10)]);
        assert_eq!(check(&both.log, &facts), vec![]);
        // One copy's disk survives: the gateway still had the message.
        lost(disks_lost(&copies, &[("eu-west-1", 2, 10)]));
        // Lost in turn, never both at once: a copy was there to restore.
        lost(disks_lost(
            &copies,
            &[("eu-west-1", 2, 4), ("europe-west3", 5, 10)],
        ));
        // Acknowledged on one copy (an early 250): its loss is a loss.
        lost(disks_lost(&["eu-west-1"], &[("eu-west-1", 2, 10)]));
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
