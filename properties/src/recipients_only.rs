//! `recipients_only`: a message reaches only the recipients on its envelope.
//!
//! The envelope (RCPT TO) is the sender's instruction; delivering to anyone
//! else leaks mail, for example when a spool entry's recipient list gets
//! mixed up with another message's after a failover. Judged against the
//! workload's facts, not against what the gateway recorded. A message the
//! workload never sent has no envelope, so any delivery of it is reported.
//! DSNs are judged by `dsn_correct` (they go to the original sender).

use std::collections::BTreeSet;

use traces::Log;

use crate::facts::addr_key;
use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "recipients_only";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "a message is delivered only to recipients on its envelope";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (pair, arrivals) in &view.deliveries {
        let problem = match view.message(&pair.msg) {
            None => "it is not a workload message, so it has no envelope".to_string(),
            Some(m) => {
                let envelope: BTreeSet<String> = m.rcpts.iter().map(|r| addr_key(r)).collect();
                if envelope.contains(&pair.rcpt) {
                    continue;
                }
                format!(
                    "the envelope names only [{}]",
                    envelope.into_iter().collect::<Vec<_>>().join(", ")
                )
            }
        };
        for arrival in arrivals {
            out.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "{pair} arrived at {} ({}) but {problem}",
                    arrival.host,
                    ms(arrival.t_us)
                ),
                vec![arrival.index],
            ));
        }
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
    fn a_message_delivered_to_someone_off_its_envelope_is_reported() {
        let mut run = Run::new();
        run.send("m3", Told::Accepted, &["bob@acme.example"]);
        let leak = run.deliver("m3", "carol@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m3 to carol@acme.example");
        assert!(found[0].reason.contains("[bob@acme.example]"));
        assert_eq!(found[0].events, vec![leak]);
    }

    #[test]
    fn a_message_without_facts_has_no_envelope() {
        let mut run = Run::new();
        run.deliver("stray", "bob@acme.example", "mbx-acme");
        assert_reported(&check(&run.log, &facts()), NAME, "message stray");
    }
}
