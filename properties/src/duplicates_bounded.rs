//! `duplicates_bounded`: a pair is delivered more than once only when the
//! sender's own retries explain it.
//!
//! SMTP's one unavoidable duplicate is RFC 1047's: the connection dies after
//! the final dot, the sender never hears the 250, and resends. So for each
//! pair, deliveries may not exceed the `send_outcome`s (accepted or
//! indefinite) that cover it, and every copy beyond the first needs its own
//! indefinite outcome. Anything more is the gateway duplicating mail itself
//! (say, two nodes both delivering after a failover). A single delivery with
//! no cover at all is `no_unacked_delivery`'s finding, not a duplicate.
//!
//! The same window exists on the gateway's own delivery leg: a gateway that
//! crashes between its final dot and the mailbox's 250 cannot know the mail
//! got through, and must deliver again rather than risk a loss. The mailbox
//! server sees that window from its side (`mailbox_reply_lost`: its 250 was
//! never followed by the client's next command), and each one excuses one
//! more copy of the pair.
//!
//! And a gateway whose disk is lost after it delivered (the `disk_lost`
//! fault: the VM replaced with its disk) may take the only record of that
//! delivery with it; its peers, still holding the message, must deliver it
//! again rather than risk a loss. The allowance names the culprit: a disk
//! lost at `t` by host `H` excuses one more copy of a pair only if `H`
//! itself delivered a copy of that pair before `t` (the mailbox's
//! `client`, as the network named it) and another copy arrived after `t`.
//! A lost disk of a host that merely stored the message, or one lost
//! before the host delivered, excuses nothing. (Found on madsim: disk-loss
//! seeds 17 and 31 of the correct gateway.)
//!
//! The replication leg has no window of its own. An MX that stored a
//! message and copied it to a replica, then missed the quorum, may answer
//! 451 only once its copies are told to forget it; when it cannot tell
//! them (a partition, a pause in which a replica took the message over),
//! it must hang up without a reply, so the sender's resend is covered by
//! an indefinite outcome like any other. A copy delivered beside the
//! resend of an attempt told 451 is the gateway's own (this once had an
//! allowance, found on madsim disk-loss seed 442; the gateway now keeps
//! its 451s, and catalogue bug `refusal-despite-copies` breaks them).

use traces::{Log, Told};

use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "duplicates_bounded";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "a pair is delivered more than once only as often as \
                               indefinite replies to the sender explain";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

/// How many copies of a pair the gateway may have taken by its sender's
/// outcomes: no more than the outcomes themselves, and one plus the
/// indefinite ones (each a 250 that may have been lost on the wire, RFC
/// 1047, before the sender tried again).
pub fn copies_the_sender_explains(view: &Outcomes<'_>, pair: &crate::Pair) -> usize {
    let covers = view.covers.get(pair).map_or(&[][..], Vec::as_slice);
    let indefinite = covers.iter().filter(|s| s.told == Told::Indefinite).count();
    covers.len().min(1 + indefinite)
}

/// How many deliveries of a pair its send outcomes explain: no more than
/// the outcomes themselves, and one plus the indefinite ones; plus one per
/// delivery whose 250 the mailbox saw go unheard, one per disk its
/// delivering gateway lost after it delivered.
pub fn allowed_deliveries(view: &Outcomes<'_>, pair: &crate::Pair) -> usize {
    copies_the_sender_explains(view, pair)
        + view.lost_replies(pair)
        + view.delivery_records_lost(pair)
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (pair, arrivals) in &view.deliveries {
        if arrivals.len() < 2 {
            continue;
        }
        let allowed = allowed_deliveries(view, pair);
        if arrivals.len() <= allowed {
            continue;
        }
        let covers = view.covers.get(pair).map_or(&[][..], Vec::as_slice);
        let accepted = covers.iter().filter(|s| s.told == Told::Accepted).count();
        let indefinite = covers.len() - accepted;
        let copies: Vec<String> = arrivals
            .iter()
            .map(|a| format!("{} at {}", a.host, ms(a.t_us)))
            .collect();
        let mut events: Vec<usize> = arrivals.iter().map(|a| a.index).collect();
        events.extend(covers.iter().map(|s| s.index));
        out.push(Violation::new(
            NAME,
            KIND,
            format!(
                "{pair} was delivered {} times ({}) but the sender saw {accepted} accepted and \
                 {indefinite} indefinite outcome(s), the mailbox {} lost reply(ies) and {} \
                 gateway(s) lost their disk after delivering it, which explain at most \
                 {allowed}: the gateway added {} copy(ies) of its own",
                arrivals.len(),
                copies.join(", "),
                view.lost_replies(pair),
                view.delivery_records_lost(pair),
                arrivals.len() - allowed
            ),
            events,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn a_message_delivered_twice_after_one_clean_acceptance_is_reported() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert!(found[0].reason.contains("delivered 2 times"));
        assert!(found[0].reason.contains("added 1 copy(ies)"));
    }

    #[test]
    fn two_accepted_outcomes_without_an_indefinite_explain_only_one_copy() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        assert_reported(&check(&run.log, &facts()), NAME, "message m1");
    }

    #[test]
    fn a_delivery_whose_250_the_mailbox_saw_go_unheard_excuses_one_more_copy() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        run.push(
            "mbx-acme",
            traces::EventKind::MailboxReplyLost {
                msg: "<m1>".into(),
                rcpts: vec!["Bob@acme.example".into()],
            },
        );
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        assert_eq!(check(&run.log, &facts()), vec![]);
        // One lost reply excuses one copy, not two.
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert!(found[0].reason.contains("1 lost reply(ies)"));
    }

    #[test]
    fn three_copies_need_two_indefinite_outcomes() {
        let mut run = Run::new();
        run.send("m6", Told::Indefinite, &["dave@globex.example"]);
        run.send("m6", Told::Accepted, &["dave@globex.example"]);
        for _ in 0..3 {
            run.deliver("m6", "dave@globex.example", "mbx-globex");
        }
        assert_reported(&check(&run.log, &facts()), NAME, "message m6");

        let mut run = Run::new();
        run.send("m6", Told::Indefinite, &["dave@globex.example"]);
        run.send("m6", Told::Indefinite, &["dave@globex.example"]);
        run.send("m6", Told::Accepted, &["dave@globex.example"]);
        for _ in 0..3 {
            run.deliver("m6", "dave@globex.example", "mbx-globex");
        }
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_lost_disk_that_held_the_message_excuses_one_more_copy_and_only_then() {
        let lose = |run: &mut Run, host: &str| {
            run.push(
                "world",
                traces::EventKind::FaultStarted {
                    fault: 0,
                    kind: "disk_lost".into(),
                    target: host.into(),
                },
            );
        };
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.store("m1", "us-east-1", "spool/m1.msg");
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        lose(&mut run, "gw-us-east-1-0");
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        assert_eq!(check(&run.log, &facts()), vec![]);
        // One lost disk excuses one copy, not two.
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert!(found[0].reason.contains("1 gateway(s) lost their disk"));

        // A disk that never held the message excuses nothing.
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.store("m1", "us-east-1", "spool/m1.msg");
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        lose(&mut run, "gw-eu-west-1-0");
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        assert_reported(&check(&run.log, &facts()), NAME, "message m1");
    }

    /// m1 offered to the testkit's MX, which copied it to `replica` and
    /// then told the sender `told` (`code`); then accepted elsewhere.
    fn replicated_then_told(replica: &str, told: Told, code: u16) -> Run {
        use traces::{EventKind, Presence};
        let mut run = Run::new();
        run.push(
            crate::testkit::SENDER,
            EventKind::SendAttempt {
                msg: "m1".into(),
                attempt: 1,
                mx: crate::testkit::MX.into(),
            },
        );
        run.push(
            replica,
            EventKind::BytesSeen {
                msg: "m1".into(),
                region: "us-east-1".into(),
                presence: Presence::Received,
                place: crate::testkit::MX.into(),
            },
        );
        run.push(
            crate::testkit::SENDER,
            EventKind::SendOutcome {
                msg: "m1".into(),
                told,
                code,
                rcpts: vec!["bob@acme.example".into()],
            },
        );
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run
    }

    #[test]
    fn a_refused_attempt_whose_replica_delivered_is_the_gateway_s_own_copy() {
        // The replica of an attempt told 451 delivers its orphan, the
        // accepted resend's owner delivers too (disk-loss seed 442, before
        // the gateway kept its 451s): the sender was told no, so no
        // second copy is its doing.
        let two_copies = |told, code| {
            let mut run = replicated_then_told("gw-us-east-1-0", told, code);
            run.deliver("m1", "bob@acme.example", "mbx-acme");
            run.arrive(crate::testkit::Arrive {
                client: crate::testkit::MX,
                ..Default::default()
            });
            check(&run.log, &facts())
        };
        let found = two_copies(Told::Deferred, 451);
        assert_reported(&found, NAME, "the gateway added 1 copy(ies) of its own");
        // Hung up on instead, the same two copies are the resend's RFC
        // 1047 window.
        assert_eq!(two_copies(Told::Indefinite, 0), vec![]);
    }

    #[test]
    fn a_lost_disk_excuses_a_copy_only_when_its_host_delivered_before_losing_it() {
        let lose = |run: &mut Run, host: &str| {
            run.push(
                "world",
                traces::EventKind::FaultStarted {
                    fault: 0,
                    kind: "disk_lost".into(),
                    target: host.into(),
                },
            );
        };
        let copy_from = |run: &mut Run, client: &str| {
            run.arrive(crate::testkit::Arrive {
                client,
                ..Default::default()
            });
        };
        // A replica that stored the message loses its disk; the owner
        // delivered twice: the replica's loss took no delivery record.
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.store("m1", "us-east-1", "spool/m1.msg");
        run.store("m1", "us-west-2", "spool/m1.msg");
        copy_from(&mut run, "gw-us-east-1-0");
        lose(&mut run, "gw-us-west-2-0");
        copy_from(&mut run, "gw-us-east-1-0");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert!(found[0].reason.contains("0 gateway(s) lost their disk"));

        // The delivering host loses its disk, its peer delivers again.
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        copy_from(&mut run, "gw-us-east-1-0");
        lose(&mut run, "gw-us-east-1-0");
        copy_from(&mut run, "gw-us-west-2-0");
        assert_eq!(check(&run.log, &facts()), vec![]);

        // The same host's disk lost before it delivered excuses nothing.
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.store("m1", "us-east-1", "spool/m1.msg");
        lose(&mut run, "gw-us-east-1-0");
        copy_from(&mut run, "gw-us-east-1-0");
        copy_from(&mut run, "gw-us-west-2-0");
        assert_reported(&check(&run.log, &facts()), NAME, "message m1");
    }
}
