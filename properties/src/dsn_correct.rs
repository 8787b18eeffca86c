//! `dsn_correct`: bounces are well-formed, go to the right person, are never
//! about bounces, come once per failed recipient, and only for mail the
//! gateway took.
//!
//! RFC 3461/5321 rules that keep DSNs from doing harm: a DSN has a null
//! return path (`MAIL FROM:<>`) so it can never bounce in turn; it goes to
//! the original envelope sender; nobody bounces a bounce (mail loops); one
//! failed recipient gets one DSN (a gateway that retries the DSN itself
//! after a failover must not send it twice); and a DSN only reports on a
//! pair the gateway acknowledged. "Acknowledged" here includes pairs told
//! indefinite: if the 250 was lost on the wire the gateway did take the
//! message, and bouncing it is exactly right. A second DSN is excused only
//! as a delivery duplicate is: by a `mailbox_reply_lost` for the first (the
//! gateway crashed before hearing the sender's mailbox take it), or by the
//! disk of the gateway that sent the first, lost after it did.
//!
//! DSNs a server refused after DATA (`mailbox_refused`, e.g. a sender's
//! domain that rejects bounces) are judged by the same rules: they were
//! sent. That is how a DSN about a DSN shows: the first DSN is refused, and
//! a gateway that bounces it sends a second one about it (the
//! `dsn-about-dsn` bug, caught in `sim/tests/bugs.rs`).

use std::collections::BTreeSet;

use traces::Log;

use crate::facts::{addr_key, msg_key};
use crate::view::{Arrival, Outcomes, Pair, ms};
use crate::{Facts, Kind, Violation, duplicates_bounded};

pub const NAME: &str = "dsn_correct";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "every DSN has a null return path, goes to the original sender, \
                               is not about a DSN, is unique per recipient, and reports an \
                               acknowledged pair";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

/// How many of these DSN arrivals the gateway may not have heard accepted.
fn lost_dsn_replies(view: &Outcomes<'_>, dsns: &[usize]) -> usize {
    let arrived: BTreeSet<Pair> = dsns
        .iter()
        .filter_map(|&i| match &view.events[i].kind {
            traces::EventKind::MailboxReceived { msg, rcpt, .. } => Some(Pair::new(msg, rcpt)),
            _ => None,
        })
        .collect();
    arrived.iter().map(|p| view.lost_replies(p)).sum()
}

/// Disks lost by a gateway after it delivered one of `dsns`, with a copy
/// arriving after the loss: the record that the DSN went out went with
/// the disk, and its peers send it again rather than risk a loss, as they
/// deliver mail again (`duplicates_bounded`'s allowance, naming the same
/// culprit). Found by `mailsim explore --family swarm --buggify` (run
/// 3051): a DSN's owner lost its disk 61 ms after the DSN arrived.
fn dsn_records_lost(view: &Outcomes<'_>, dsns: &[usize]) -> usize {
    let sent: Vec<(u64, &str)> = (view.dsns.iter())
        .filter(|dsn| dsns.contains(&dsn.index))
        .map(|dsn| (dsn.t_us, dsn.client))
        .collect();
    view.records_lost_before_another(&sent)
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    // A DSN the receiving server refused was still sent: the same rules hold.
    for dsn in view.dsns.iter().chain(&view.refused_dsns) {
        out.extend(judge_one(view, dsn));
    }
    for (pair, dsns) in &view.bounces {
        // One DSN per copy of the message the gateway may hold: a sender
        // told indefinite that sent again left two (madsim swarm seed 2205:
        // the first gateway lost its disk after replicating, before its
        // 250; both copies expired, each bounced once).
        let copies = duplicates_bounded::copies_the_sender_explains(view, pair).max(1);
        if dsns.len() <= copies + lost_dsn_replies(view, dsns) + dsn_records_lost(view, dsns) {
            continue;
        }
        let copies: Vec<String> = dsns
            .iter()
            .map(|&i| {
                let e = &view.events[i];
                let id = e.kind.msg().map(msg_key).unwrap_or_default();
                format!("DSN {id} at {} ({})", e.host, ms(e.t_us))
            })
            .collect();
        out.push(Violation::new(
            NAME,
            KIND,
            format!(
                "{pair} was bounced {} times, but a failed recipient gets one DSN: {}",
                dsns.len(),
                copies.join(", ")
            ),
            dsns.clone(),
        ));
    }
    out
}

fn judge_one(view: &Outcomes<'_>, dsn: &Arrival<'_>) -> Vec<Violation> {
    let Some(about) = dsn.dsn_about.as_deref() else {
        return Vec::new();
    };
    let what = format!(
        "DSN {} about message {about}, received for {} at {} ({})",
        dsn.msg,
        dsn.rcpt,
        dsn.host,
        ms(dsn.t_us)
    );
    let mut problems = Vec::new();
    let mut events = vec![dsn.index];
    // Mailbox servers may log the null path as "" or "<>": both are null.
    if !msg_key(dsn.mail_from).is_empty() {
        problems.push(format!(
            "its return path is {:?}, not the null path <>",
            dsn.mail_from
        ));
    }
    match view.message(about) {
        None if view.dsn_ids.contains(about) => {
            problems.push(format!(
                "{about} is itself a DSN: bounces must never bounce"
            ));
        }
        None => problems.push(format!("{about} is not a workload message")),
        Some(m) => {
            if addr_key(&m.sender) != dsn.rcpt {
                problems.push(format!(
                    "it went to {} but the original sender was {}",
                    dsn.rcpt, m.sender
                ));
            }
        }
    }
    if dsn.dsn_rcpts.is_empty() {
        problems.push("it names no failed recipient".to_string());
    }
    let rcpts: BTreeSet<&String> = dsn.dsn_rcpts.iter().collect();
    for rcpt in rcpts {
        let pair = Pair {
            msg: about.to_string(),
            rcpt: rcpt.clone(),
        };
        if !view.covered(&pair) {
            events.extend(view.sends_by_msg.get(about).into_iter().flatten());
            problems.push(format!(
                "it reports on {rcpt}, which the gateway never acknowledged (sender was told: {})",
                view.describe_sends(about)
            ));
        }
    }
    if problems.is_empty() {
        return Vec::new();
    }
    vec![Violation::new(
        NAME,
        KIND,
        format!("{what}: {}", problems.join("; ")),
        events,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Arrive, Run, assert_reported, clean_run, facts};
    use traces::Told;

    const BOB: &str = "bob@acme.example";
    const ERIN: &str = "erin@sender.example";

    #[test]
    fn a_second_dsn_is_excused_only_by_the_disk_of_the_gateway_that_sent_the_first() {
        let dsn_from = |run: &mut Run, client: &str| {
            run.arrive(Arrive {
                host: "mbx-ext",
                msg: "d5",
                rcpt: ERIN,
                mail_from: "",
                dsn_about: Some("m5"),
                dsn_rcpts: &[BOB],
                client,
                ..Arrive::default()
            });
        };
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
        for (lost, excused) in [("gw-us-east-1-0", true), ("gw-us-west-2-0", false)] {
            let mut run = Run::new();
            run.send("m5", Told::Accepted, &[BOB]);
            dsn_from(&mut run, "gw-us-east-1-0");
            lose(&mut run, lost);
            dsn_from(&mut run, "gw-us-west-2-0");
            let found = check(&run.log, &facts());
            if excused {
                assert_eq!(found, vec![], "{lost}");
            } else {
                assert_reported(&found, NAME, "gets one DSN");
            }
        }
        // The sender's disk lost before it sent excuses nothing.
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        lose(&mut run, "gw-us-east-1-0");
        dsn_from(&mut run, "gw-us-east-1-0");
        dsn_from(&mut run, "gw-us-west-2-0");
        assert_reported(&check(&run.log, &facts()), NAME, "gets one DSN");
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn a_dsn_with_a_return_path_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.arrive(Arrive {
            host: "mbx-ext",
            msg: "d5",
            rcpt: ERIN,
            mail_from: "postmaster@acme.example",
            dsn_about: Some("m5"),
            dsn_rcpts: &[BOB],
            ..Arrive::default()
        });
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "about message m5");
        assert!(found[0].reason.contains("not the null path"));
    }

    #[test]
    fn a_null_path_written_with_brackets_is_accepted() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.arrive(Arrive {
            host: "mbx-ext",
            msg: "d5",
            rcpt: ERIN,
            mail_from: "<>",
            dsn_about: Some("m5"),
            dsn_rcpts: &[BOB],
            ..Arrive::default()
        });
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_dsn_to_someone_other_than_the_sender_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.dsn("d5", "m5", &[BOB], "alice@sender.example", "mbx-ext");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "about message m5");
        assert!(
            found[0]
                .reason
                .contains("original sender was erin@sender.example")
        );
    }

    #[test]
    fn a_dsn_about_a_dsn_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.dsn("d5", "m5", &[BOB], ERIN, "mbx-ext");
        run.dsn(
            "d5b",
            "d5",
            &[ERIN],
            "mailer-daemon@acme.example",
            "mbx-acme",
        );
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "about message d5");
        assert!(found[0].reason.contains("itself a DSN"));
    }

    #[test]
    fn two_dsns_for_one_failed_recipient_are_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.dsn("d5", "m5", &[BOB], ERIN, "mbx-ext");
        run.dsn("d5-again", "m5", &[BOB], ERIN, "mbx-ext");
        let found = check(&run.log, &facts());
        assert_reported(
            &found,
            NAME,
            "message m5 to bob@acme.example was bounced 2 times",
        );
    }

    #[test]
    fn a_pair_sent_again_after_an_indefinite_reply_may_bounce_once_per_copy() {
        let mut run = Run::new();
        run.send("m5", Told::Indefinite, &[BOB]);
        run.send("m5", Told::Accepted, &[BOB]);
        run.dsn("d5", "m5", &[BOB], ERIN, "mbx-ext");
        run.dsn("d5-again", "m5", &[BOB], ERIN, "mbx-ext");
        assert_eq!(check(&run.log, &facts()), vec![]);
        run.dsn("d5-third", "m5", &[BOB], ERIN, "mbx-ext");
        let found = check(&run.log, &facts());
        assert_reported(
            &found,
            NAME,
            "message m5 to bob@acme.example was bounced 3 times",
        );
    }

    #[test]
    fn a_bounce_of_a_deferred_pair_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Deferred, &[BOB]);
        run.dsn("d5", "m5", &[BOB], ERIN, "mbx-ext");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "about message m5");
        assert!(found[0].reason.contains("never acknowledged"));
    }

    #[test]
    fn a_bounce_of_a_pair_told_indefinite_is_correct() {
        let mut run = Run::new();
        run.send("m5", Told::Indefinite, &[BOB]);
        run.dsn("d5", "m5", &[BOB], ERIN, "mbx-ext");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
