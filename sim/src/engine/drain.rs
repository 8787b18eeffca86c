//! When a run may stop early: after the heal, once every workload message is
//! finished at its sender (each recipient accepted, refused, or given up) and
//! every acknowledged recipient is settled (delivered, bounced with a DSN, or
//! quarantined). Judged from the log alone, like the properties.

use std::collections::{BTreeMap, BTreeSet};

use properties::{Facts, Outcomes, Pair};
use traces::{EventKind, Log, Told};

pub fn is_drained(log: &Log, facts: &Facts) -> bool {
    senders_finished(log, facts) && acknowledged_settled(log, facts)
}

fn senders_finished(log: &Log, facts: &Facts) -> bool {
    let mut settled: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut gave_up: BTreeSet<&str> = BTreeSet::new();
    for event in log.events() {
        match &event.kind {
            EventKind::RcptReply { msg, rcpt, code } if *code >= 500 => {
                settled.entry(msg).or_default().insert(rcpt);
            }
            EventKind::SendOutcome {
                msg,
                told: Told::Accepted | Told::Rejected,
                rcpts,
                ..
            } => {
                settled
                    .entry(msg)
                    .or_default()
                    .extend(rcpts.iter().map(String::as_str));
            }
            EventKind::SenderGaveUp { msg, .. } => {
                gave_up.insert(msg);
            }
            _ => {}
        }
    }
    facts.messages.iter().all(|(id, message)| {
        gave_up.contains(id.as_str())
            || settled
                .get(id.as_str())
                .is_some_and(|done| message.rcpts.iter().all(|r| done.contains(r.as_str())))
    })
}

fn acknowledged_settled(log: &Log, facts: &Facts) -> bool {
    // The disks are read for quarantines only at the end; until then a
    // quarantine write counts.
    let view = Outcomes::build_during_run(log, facts);
    let pairs: Vec<Pair> = view.acknowledged().map(|(pair, _)| pair.clone()).collect();
    pairs.iter().all(|pair| !view.settlements(pair).is_empty())
}
