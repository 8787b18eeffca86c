//! `progress` (liveness): inside the fault model, clean mail to a
//! deliverable recipient is accepted before the run ends, and no sender
//! gives such mail up.
//!
//! Every safety property passes a gateway that answers 451 to everything:
//! nothing accepted, nothing lost, nothing leaked. Progress is what such a
//! gateway breaks. A pair is owed acceptance when the workload built the
//! message clean and the recipient was never refused with a 5xx at RCPT
//! (an unknown user is the sender's problem); it is kept when some
//! `send_outcome` accepted it. The run ends at the latest at the heal plus
//! the drain bound, and a healed gateway must take mail within that bound,
//! so a pair still unaccepted at the end, or a `sender_gave_up`, is a
//! violation. Delivery within a bound after acceptance or the heal is
//! `drained_after_heal`'s. Beyond the fault model progress is excused
//! (`sim::run`); availability is reported as a figure there.

use std::collections::BTreeSet;

use traces::{Class, EventKind, Log};

use crate::facts::{addr_key, msg_key};
use crate::view::{Outcomes, Pair};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "progress";
pub const KIND: Kind = Kind::Liveness;
pub const DESCRIPTION: &str =
    "clean mail to a deliverable recipient is accepted before the run ends; no sender gives it up";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut refused: BTreeSet<Pair> = BTreeSet::new();
    let mut gave_up: Vec<(String, usize)> = Vec::new();
    for (index, event) in view.events.iter().enumerate() {
        match &event.kind {
            EventKind::RcptReply { msg, rcpt, code } if *code >= 500 => {
                refused.insert(Pair::new(msg, rcpt));
            }
            EventKind::SenderGaveUp { msg, .. } => gave_up.push((msg_key(msg), index)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (msg, built) in &view.built {
        // Mail over the configured size limit is owed a refusal, not an
        // acceptance (`size_limit`).
        if built.class != Class::Clean || view.facts.over_size_limit(built.size) {
            continue;
        }
        let Some(message) = view.message(msg) else {
            continue;
        };
        let owed: Vec<Pair> = message
            .rcpts
            .iter()
            .map(|r| Pair::new(msg, &addr_key(r)))
            .filter(|pair| !refused.contains(pair))
            .collect();
        let missing: Vec<&Pair> = owed
            .iter()
            .filter(|pair| view.accepted(pair).is_empty())
            .collect();
        if missing.is_empty() {
            continue;
        }
        let mut evidence = vec![built.index];
        evidence.extend(view.sends_by_msg.get(msg).into_iter().flatten().copied());
        let given_up = gave_up.iter().find(|(m, _)| m == msg).map(|&(_, i)| i);
        evidence.extend(given_up);
        let rcpts: Vec<&str> = missing.iter().map(|p| p.rcpt.as_str()).collect();
        let end = match given_up {
            Some(i) => format!(
                "its sender gave up at {}",
                crate::view::ms(view.events[i].t_us)
            ),
            None => "it was still unaccepted when the run ended".to_string(),
        };
        out.push(Violation::new(
            NAME,
            KIND,
            format!(
                "clean message {msg} to deliverable [{}] was never accepted ({}); {end}",
                rcpts.join(", "),
                view.describe_sends(msg)
            ),
            evidence,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};
    use traces::Told;

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn clean_mail_deferred_until_the_end_is_reported() {
        let mut run = Run::new();
        run.build("m1", Class::Clean, "00");
        run.send(
            "m1",
            Told::Deferred,
            &["bob@acme.example", "carol@acme.example"],
        );
        run.send(
            "m1",
            Told::Deferred,
            &["bob@acme.example", "carol@acme.example"],
        );
        let gave_up = run.push(
            "mta-0",
            EventKind::SenderGaveUp {
                msg: "m1".into(),
                reason: "lifetime over; last error: 451".into(),
            },
        );
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "clean message m1");
        assert!(found[0].reason.contains("its sender gave up"));
        assert!(found[0].events.contains(&gave_up));
    }

    #[test]
    fn a_recipient_refused_with_a_5xx_is_not_owed_and_spam_is_not_judged() {
        let mut run = Run::new();
        run.build("m1", Class::Clean, "00");
        run.push(
            "mta-0",
            EventKind::RcptReply {
                msg: "m1".into(),
                rcpt: "carol@acme.example".into(),
                code: 550,
            },
        );
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.build("m3", Class::Spam, "00");
        run.send("m3", Told::Deferred, &["bob@acme.example"]);
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
