//! `integrity`: every delivered copy is byte for byte what its sender built,
//! plus the gateway's declared additions and nothing else.
//!
//! A gateway that truncates, re-encodes or rewrites a body passes every
//! check that counts deliveries; only a comparison of bytes catches it. The
//! sender logs the SHA-256 of what it built (`message_built`), the mailbox
//! server logs the SHA-256 of what arrived with the header fields added in
//! transit taken off (`mailbox_received.original_sha256`) and names those
//! fields (`additions`). The additions are checked exactly: `Received`
//! fields (one per gateway hop, at most [`RECEIVED_MAX`]) and one
//! `X-Spam-Flag`, present exactly when the copy arrived tagged. DSNs are the
//! gateway's own messages (`dsn_correct` judges them); a copy of a message
//! no sender built is `recipients_only`'s finding.

use traces::Log;

use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "integrity";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str =
    "a delivered copy equals what its sender built, plus only the declared Received and spam tag";

/// `Received` fields a copy may gain: the accepting gateway's, and one more
/// for the delivery hop (RFC 5321 §4.4 lets each relay prepend one).
pub const RECEIVED_MAX: usize = 2;

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (pair, arrivals) in &view.deliveries {
        let Some(built) = view.built.get(&pair.msg) else {
            continue;
        };
        for arrival in arrivals {
            let mut problems = Vec::new();
            if arrival.original_sha256 != built.body_sha256 {
                problems.push(format!(
                    "its bytes without the additions hash to {} but the sender built {} ({} bytes)",
                    short(arrival.original_sha256),
                    short(built.body_sha256),
                    built.size
                ));
            }
            let received = arrival
                .additions
                .iter()
                .filter(|a| a.eq_ignore_ascii_case("Received"))
                .count();
            let flags = arrival
                .additions
                .iter()
                .filter(|a| a.eq_ignore_ascii_case("X-Spam-Flag"))
                .count();
            let undeclared: Vec<&str> = arrival
                .additions
                .iter()
                .filter(|a| {
                    !a.eq_ignore_ascii_case("Received") && !a.eq_ignore_ascii_case("X-Spam-Flag")
                })
                .map(String::as_str)
                .collect();
            if !undeclared.is_empty() {
                problems.push(format!("undeclared additions [{}]", undeclared.join(", ")));
            }
            if received > RECEIVED_MAX {
                problems.push(format!(
                    "{received} Received fields were added (at most {RECEIVED_MAX})"
                ));
            }
            let flags_expected = usize::from(arrival.spam_tagged);
            if flags != flags_expected {
                problems.push(format!(
                    "{flags} X-Spam-Flag fields were added to a copy {}",
                    if arrival.spam_tagged {
                        "tagged as spam (exactly one expected)"
                    } else {
                        "not tagged as spam"
                    }
                ));
            }
            if problems.is_empty() {
                continue;
            }
            out.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "{pair} arrived at {} ({}) altered: {}",
                    arrival.host,
                    ms(arrival.t_us),
                    problems.join("; ")
                ),
                vec![built.index, arrival.index],
            ));
        }
    }
    out
}

/// The first 12 hex digits of a digest, for reasons.
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Arrive, Run, assert_reported, clean_run, facts};
    use traces::{Class, EventKind, Told};

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn a_body_changed_in_transit_is_reported() {
        let mut run = Run::new();
        let built = run.build("m1", Class::Clean, "00");
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        let copy = run.push(
            "mbx-acme",
            EventKind::MailboxReceived {
                msg: "m1".into(),
                rcpt: "bob@acme.example".into(),
                mail_from: "alice@sender.example".into(),
                size: 900,
                body_sha256: "ff".into(),
                additions: vec!["Received".into()],
                original_sha256: "ff".into(),
                spam_tagged: false,
                dsn_about: None,
                dsn_rcpts: vec![],
                dsn_statuses: vec![],
                dsn_actions: vec![],
                dsn_reporting_mta: String::new(),
                unflagged_sha256: "ff".into(),
                client: "gw-us-east-1-0".into(),
            },
        );
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "the sender built 00");
        assert_eq!(found[0].events, vec![built, copy]);
    }

    #[test]
    fn a_spam_flag_on_an_untagged_copy_or_too_many_received_fields_are_reported() {
        let mut run = Run::new();
        run.build("m1", Class::Clean, "00");
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.arrive_with(
            Arrive::default(),
            &["Received", "Received", "Received", "X-Spam-Flag"],
        );
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "3 Received fields");
        assert!(found[0].reason.contains("not tagged as spam"));
    }

    #[test]
    fn a_copy_without_a_built_record_is_left_to_recipients_only() {
        let mut run = Run::new();
        run.deliver("stray", "bob@acme.example", "mbx-acme");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
