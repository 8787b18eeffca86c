//! `dsn_status`: every DSN says, for each failed recipient, why it failed:
//! the status its server gave.
//!
//! RFC 3464 §2.3.4: each recipient's group carries a `Status` (an RFC 3463
//! `class.subject.detail` code), and a DSN about a refusal reports the
//! remote server's own enhanced code when its reply gave one (Postfix and
//! Exim do), so the sender learns "no such user" (`5.1.1`) apart from
//! "refused by policy" (`5.7.1`) or "mailbox full" (`5.2.2`). A DSN that
//! goes to the right sender about the right recipients passes
//! `dsn_correct` whatever its `Status` says; this judges the `Status`.
//!
//! Judged from the sender's mail server (its reading of each group's
//! `Status`, `mailbox_received.dsn_statuses`) against the recipient's
//! (`mailbox_refused`, with the enhanced code its reply gave):
//! - every reported recipient has a `Status` of class 4 or 5 (RFC 3464
//!   §2.3.4 and §2.3.3: a failed or delayed recipient);
//! - a recipient its server refused with a 5xx before the DSN (at RCPT, or
//!   after DATA for this message) is reported with the enhanced code of
//!   one of those refusals, or with its class alone (`5.0.0` style) only
//!   when that refusal gave none; a refusal after DATA whose session died
//!   before the client spoke again (`mailbox_refusal_unheard`: a gateway
//!   that crashed as the reply went out) binds nobody, since no gateway
//!   may have heard it;
//! - a recipient nobody refused (its lifetime ran out, or the next hop
//!   lacked an extension the message needs) is held to the syntax only:
//!   RFC 3463 leaves the choice (`4.4.7`, `5.4.7`, the last deferral's).
//!
//! And the fields around it (read as the witness reads them, `dsn_actions`
//! and `dsn_reporting_mta`):
//! - the per-message group (the first of the delivery-status part) names
//!   the `Reporting-MTA` (RFC 3464 §2.2.2, required);
//! - every recipient's `Action` is `failed` or `delayed` (§2.3.3): the
//!   workload never asks for notices of success (no `NOTIFY=` in any
//!   `RCPT`, so RFC 3461 §4.1's default, failure and perhaps delay,
//!   holds), and a group with no `Action` is not a report at all;
//! - a `delayed` recipient's `Status` is of class 4 (§2.3.4: the message
//!   is still queued); whether mail reported only as delayed was then
//!   delivered or bounced is `no_acked_loss`'s to judge (a delay notice
//!   settles nothing, `Arrival::reported_failed`).
//!
//! DSNs from older logs (no statuses read) and DSNs refused by the
//! sender's server (whose groups the witness does not log) are not judged.

use std::collections::BTreeSet;

use traces::Log;

use crate::facts::addr_key;
use crate::no_retry_after_refusal::copies_offered_at_most;
use crate::view::{Arrival, Outcomes, Pair, Refusal, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "dsn_status";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "every recipient a DSN reports has a Status of class 4 or 5 and an \
                               Action of failed or delayed (class 4), one its server refused is \
                               reported with the enhanced code that server gave, and the DSN \
                               names its Reporting-MTA (RFC 3464 §2.2.2, §2.3.3, §2.3.4)";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for dsn in view.dsns.iter().filter(|d| !d.dsn_statuses.is_empty()) {
        let Some(about) = &dsn.dsn_about else {
            continue;
        };
        let actions_read = dsn.actions_read();
        if actions_read && dsn.dsn_reporting_mta.trim().is_empty() {
            out.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "the DSN to {} ({}) about {about} names no Reporting-MTA in its \
                     per-message fields (RFC 3464 §2.2.2: required)",
                    dsn.rcpt,
                    ms(dsn.t_us)
                ),
                vec![dsn.index],
            ));
        }
        for (i, (rcpt, status)) in dsn.dsn_rcpts.iter().zip(dsn.dsn_statuses).enumerate() {
            let pair = Pair::new(about, rcpt);
            let action = actions_read.then(|| dsn.dsn_actions[i].trim());
            if let Some(why) = action.and_then(|a| wrong_action(a, status.trim())) {
                out.push(Violation::new(
                    NAME,
                    KIND,
                    format!(
                        "the DSN to {} ({}) reports {pair} with Action \"{}\": {why}",
                        dsn.rcpt,
                        ms(dsn.t_us),
                        action.unwrap_or_default()
                    ),
                    vec![dsn.index],
                ));
            }
            if let Some(wrong) = misreported(view, dsn, &pair, status.trim()) {
                let mut evidence = vec![dsn.index];
                evidence.extend(wrong.refusals);
                out.push(Violation::new(
                    NAME,
                    KIND,
                    format!(
                        "the DSN to {} ({}) reports {pair} as \"{}\": {}",
                        dsn.rcpt,
                        ms(dsn.t_us),
                        status.trim(),
                        wrong.why
                    ),
                    evidence,
                ));
            }
        }
    }
    out
}

/// Reported recipients held to a code their server gave: how often the
/// strict rule had something to judge.
pub fn held_to_a_server_code(view: &Outcomes<'_>) -> u64 {
    let mut count = 0;
    for dsn in view.dsns.iter().filter(|d| !d.dsn_statuses.is_empty()) {
        let Some(about) = &dsn.dsn_about else {
            continue;
        };
        for rcpt in &dsn.dsn_rcpts {
            let pair = Pair::new(about, rcpt);
            if refusals_before(view, dsn, &pair)
                .iter()
                .any(|r| r.status.is_some())
            {
                count += 1;
            }
        }
    }
    count
}

/// The 5xx refusals of `pair`'s recipient seen before `dsn` that were of
/// this message: after DATA of it, or at RCPT in a transaction only it can
/// have been (a refusal at RCPT names no message: it counts when its
/// envelope sender is the message's and no other attempt the workload
/// made could have offered that sender's mail to that recipient; a
/// refusal of another message to the same recipient says nothing of this
/// one's fate, madsim swarm seed 4157).
fn refusals_before<'v, 'a>(
    view: &'v Outcomes<'a>,
    dsn: &Arrival<'_>,
    pair: &Pair,
) -> Vec<&'v Refusal<'a>> {
    let sender = view.message(&pair.msg).map(|m| addr_key(&m.sender));
    let at_rcpt_is_this_message = sender
        .as_deref()
        .is_some_and(|s| !s.is_empty() && copies_offered_at_most(view, s, &pair.rcpt) == 1);
    view.refusals
        .iter()
        .filter(|r| {
            r.code >= 500
                && !r.unheard
                && r.index < dsn.index
                && r.rcpts.contains(&pair.rcpt)
                && match &r.msg {
                    Some(m) => *m == pair.msg,
                    None => {
                        at_rcpt_is_this_message
                            && r.mail_from.map(addr_key).as_deref() == sender.as_deref()
                    }
                }
        })
        .collect()
}

/// Why a reported status is wrong, and the refusals that show it.
struct Misreport {
    why: String,
    refusals: Vec<usize>,
}

fn misreported(
    view: &Outcomes<'_>,
    dsn: &Arrival<'_>,
    pair: &Pair,
    status: &str,
) -> Option<Misreport> {
    let Some(class) = status_class(status) else {
        return Some(Misreport {
            why: "not a status code of class 4 or 5 (RFC 3463 class.subject.detail)".into(),
            refusals: Vec::new(),
        });
    };
    let refusals = refusals_before(view, dsn, pair);
    if refusals.is_empty() {
        return None;
    }
    let given: BTreeSet<&str> = refusals.iter().filter_map(|r| r.status).collect();
    let class_only = refusals.iter().any(|r| r.status.is_none()) && class == 5;
    if given.contains(status) || (class_only && status.ends_with(".0.0")) {
        return None;
    }
    let said: Vec<String> = refusals
        .iter()
        .map(|r| match r.status {
            Some(s) => format!("{} {s} ({}, {})", r.code, r.host, ms(r.t_us)),
            None => format!(
                "{} with no enhanced code ({}, {})",
                r.code,
                r.host,
                ms(r.t_us)
            ),
        })
        .collect();
    Some(Misreport {
        why: format!(
            "its server refused it with {}, and a DSN reports the server's own code",
            said.join(", ")
        ),
        refusals: refusals.iter().map(|r| r.index).collect(),
    })
}

/// Why a recipient's `Action` is wrong beside its `Status`, if it is.
fn wrong_action(action: &str, status: &str) -> Option<&'static str> {
    if action.eq_ignore_ascii_case("failed") {
        return None;
    }
    if action.eq_ignore_ascii_case("delayed") {
        return (status_class(status) != Some(4))
            .then_some("a delay is reported with a status of class 4 (RFC 3464 §2.3.4)");
    }
    Some(if action.is_empty() {
        "every recipient's group has an Action (RFC 3464 §2.3.3)"
    } else {
        "the sender asked to hear of failures (and delays) only (RFC 3461 §4.1), \
         and this is neither"
    })
}

/// The class (4 or 5) of a well-formed RFC 3463 status of a failure.
fn status_class(status: &str) -> Option<u8> {
    let mut parts = status.split('.');
    let class = match parts.next()? {
        "4" => 4,
        "5" => 5,
        _ => return None,
    };
    let number = |part: Option<&str>| {
        part.is_some_and(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    };
    (number(parts.next()) && number(parts.next()) && parts.next().is_none()).then_some(class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Arrive, MX, Run, assert_reported, clean_run, facts};
    use traces::{EventKind, Told};

    const BOB: &str = "bob@acme.example";

    /// m5 (erin's, to bob) accepted; bob refused with `code` and `status`.
    fn refused_m5(code: u16, status: Option<&str>, after_data: bool) -> Run {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        let msg = after_data.then_some("m5");
        refuse_bob(&mut run, msg, "erin@sender.example", code, status);
        run
    }

    /// Bob's server refuses him: in `msg`'s transaction after DATA, or at
    /// RCPT (`msg` None) in one from `mail_from`.
    fn refuse_bob(
        run: &mut Run,
        msg: Option<&str>,
        mail_from: &str,
        code: u16,
        status: Option<&str>,
    ) {
        run.push(
            "mbx-acme",
            EventKind::MailboxRefused {
                msg: msg.map(Into::into),
                mail_from: Some(mail_from.into()),
                client: MX.into(),
                rcpts: vec![BOB.into()],
                code,
                status: status.map(Into::into),
                dsn_about: None,
                dsn_rcpts: Vec::new(),
            },
        );
    }

    /// The DSN about m5 reaching erin, reporting bob with `status` (and
    /// no `Action` or `Reporting-MTA` read, as in older logs).
    fn dsn_reporting(run: &mut Run, status: &str) {
        dsn_arrives(run, status, &[], "");
    }

    /// The same DSN with its `Action` and `Reporting-MTA` read.
    fn dsn_with(run: &mut Run, status: &str, action: &str, reporting_mta: &str) {
        dsn_arrives(run, status, &[action], reporting_mta);
    }

    fn dsn_arrives(run: &mut Run, status: &str, actions: &[&str], reporting_mta: &str) {
        run.arrive(Arrive {
            host: "mbx-ext",
            msg: "dsn-m5",
            rcpt: "erin@sender.example",
            mail_from: "",
            dsn_about: Some("m5"),
            dsn_rcpts: &[BOB],
            dsn_statuses: &[status],
            dsn_actions: actions,
            dsn_reporting_mta: reporting_mta,
            ..Arrive::default()
        });
    }

    fn accepted_m5() -> Run {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run
    }

    #[test]
    fn failed_of_either_class_and_delayed_of_class_4_pass() {
        for (status, action) in [
            ("5.1.1", "failed"),
            ("4.4.7", "Failed"),
            ("4.4.7", "delayed"),
        ] {
            let mut run = accepted_m5();
            dsn_with(&mut run, status, action, "dns; gw-1");
            assert_eq!(check(&run.log, &facts()), vec![], "{status} {action}");
        }
    }

    #[test]
    fn a_delay_of_class_5_or_an_action_nobody_asked_for_is_reported() {
        let cases = [
            ("5.1.1", "delayed", "class 4"),
            ("5.1.1", "delivered", "failures (and delays) only"),
            ("4.4.7", "relayed", "failures (and delays) only"),
            ("5.1.1", "", "has an Action"),
        ];
        for (status, action, why) in cases {
            let mut run = accepted_m5();
            dsn_with(&mut run, status, action, "dns; gw-1");
            assert_reported(&check(&run.log, &facts()), NAME, why);
        }
    }

    #[test]
    fn a_dsn_without_a_reporting_mta_is_reported_once_read() {
        let mut run = accepted_m5();
        dsn_with(&mut run, "5.1.1", "failed", " ");
        assert_reported(&check(&run.log, &facts()), NAME, "no Reporting-MTA");
        // An old log (no actions read) is not held to it.
        let mut run = accepted_m5();
        dsn_reporting(&mut run, "5.1.1");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn the_servers_own_code_passes_and_a_generic_one_is_reported() {
        for after_data in [false, true] {
            let mut run = refused_m5(550, Some("5.1.1"), after_data);
            dsn_reporting(&mut run, "5.1.1");
            assert_eq!(check(&run.log, &facts()), vec![]);
            let mut run = refused_m5(550, Some("5.1.1"), after_data);
            dsn_reporting(&mut run, "5.0.0");
            let found = check(&run.log, &facts());
            assert_reported(&found, NAME, "refused it with 550 5.1.1");
            assert_eq!(found[0].events.len(), 2);
        }
    }

    #[test]
    fn a_refusal_whose_session_died_unheard_binds_no_code_and_one_heard_does() {
        // madsim explore (swarm, campaign seed 7) run 1213: the delivering
        // gateway lost its disk 17 µs before bob's server said 554 5.7.1,
        // so nobody heard it, and the DSN at the end of the lifetime said
        // 4.4.7.
        let unheard = |host: &str| {
            let mut run = refused_m5(554, Some("5.7.1"), true);
            run.push(
                host,
                EventKind::MailboxRefusalUnheard {
                    msg: "m5".into(),
                    rcpts: vec![BOB.into()],
                },
            );
            dsn_reporting(&mut run, "4.4.7");
            check(&run.log, &facts())
        };
        assert_eq!(unheard("mbx-acme"), vec![]);
        // Another server's session says nothing of this refusal.
        assert_reported(&unheard("mbx-globex"), NAME, "refused it with 554 5.7.1");
        let mut run = refused_m5(554, Some("5.7.1"), true);
        dsn_reporting(&mut run, "4.4.7");
        assert_reported(
            &check(&run.log, &facts()),
            NAME,
            "refused it with 554 5.7.1",
        );
    }

    #[test]
    fn a_refusal_at_rcpt_of_another_senders_message_says_nothing_of_this_one() {
        // Bob refused at RCPT in alice's transaction; erin's m5 to bob
        // expired unoffered, and its DSN says so.
        let mut run = accepted_m5();
        refuse_bob(&mut run, None, "alice@sender.example", 550, Some("5.1.1"));
        dsn_reporting(&mut run, "4.4.7");
        assert_eq!(check(&run.log, &facts()), vec![]);
        // Twice offered by erin (a retry after an unclear answer): which
        // transaction the refusal was cannot be told, so it is not judged.
        let mut run = refused_m5(550, Some("5.1.1"), false);
        run.send("m5", Told::Indefinite, &[BOB]);
        dsn_reporting(&mut run, "4.4.7");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_refusal_without_a_code_allows_its_class_alone() {
        let mut run = refused_m5(550, None, false);
        dsn_reporting(&mut run, "5.0.0");
        assert_eq!(check(&run.log, &facts()), vec![]);
        let mut run = refused_m5(550, None, false);
        dsn_reporting(&mut run, "5.2.2");
        assert_reported(&check(&run.log, &facts()), NAME, "no enhanced code");
    }

    #[test]
    fn a_missing_or_malformed_status_is_reported_even_for_expired_mail() {
        for bad in ["", "2.0.0", "5.1", "5.x.1", "5.1.1.1", "5.1.1234"] {
            let mut run = Run::new();
            run.send("m5", Told::Accepted, &[BOB]);
            dsn_reporting(&mut run, bad);
            assert_reported(&check(&run.log, &facts()), NAME, "not a status code");
        }
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        dsn_reporting(&mut run, "4.4.7");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_temporary_refusal_or_one_of_another_message_after_data_sets_no_code() {
        let mut run = refused_m5(451, Some("4.7.1"), false);
        dsn_reporting(&mut run, "4.4.7");
        assert_eq!(check(&run.log, &facts()), vec![]);
        let mut run = accepted_m5();
        refuse_bob(
            &mut run,
            Some("m1"),
            "alice@sender.example",
            554,
            Some("5.7.1"),
        );
        dsn_reporting(&mut run, "4.4.7");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
