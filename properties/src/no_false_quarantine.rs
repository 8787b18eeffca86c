//! `no_false_quarantine`: only malware, and spam for a tenant whose policy
//! is to hold it, ends up in a quarantine.
//!
//! Quarantining looks careful, and every check that counts settlements
//! accepts it: a gateway that holds clean mail when it is unsure (a scanner
//! that timed out, a policy looked up wrong) loses that mail for its
//! recipients all the same. Judged against the workload's ground truth (the
//! sender's `message_built` class), never the scanner's verdict.

use traces::{Class, Log};

use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "no_false_quarantine";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str =
    "only malware, or spam for a quarantine-policy tenant, is quarantined (by ground truth)";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (msg, stored) in &view.quarantined {
        let Some(class) = view.class_of(msg) else {
            // Not a workload message (a DSN's id cannot be quarantined by a
            // correct gateway either, but nothing here says what it was).
            continue;
        };
        // Judged per recipient: a quarantine may be the copy of any tenant
        // the message is addressed to, so spam is held rightly when one of
        // them holds spam.
        let tenants = view
            .message(msg)
            .map(|m| view.facts.tenants_of(m))
            .unwrap_or_default();
        let holds_spam = tenants.iter().any(|t| t.spam_policy_quarantine);
        let allowed = match class {
            Class::Malware => true,
            Class::Spam => holds_spam,
            Class::Clean => false,
        };
        if allowed {
            continue;
        }
        let what = match class {
            Class::Clean => "clean mail".to_string(),
            _ => format!(
                "spam for tenant {}, whose policy is to tag and deliver it",
                if tenants.is_empty() {
                    "?".to_string()
                } else {
                    tenants
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                }
            ),
        };
        let first = stored[0];
        let mut evidence = stored.clone();
        if let Some(built) = view.built.get(msg) {
            evidence.push(built.index);
        }
        out.push(Violation::new(
            NAME,
            KIND,
            format!(
                "message {msg} was quarantined on {} ({}) but the sender built {what}",
                view.events[first].host,
                ms(view.events[first].t_us)
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
    use traces::{Told, Verdict};

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn clean_mail_in_quarantine_is_reported_whatever_the_scanner_said() {
        let mut run = Run::new();
        run.build("m1", Class::Clean, "00");
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.scan("m1", Verdict::Malware);
        let held = run.quarantine("m1", "eu-west-1");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "the sender built clean mail");
        // The evidence is the write that settled it (just before the read).
        assert!(found[0].events.contains(&(held - 1)));
    }

    #[test]
    fn spam_held_for_a_message_one_of_whose_tenants_quarantines_passes() {
        let mut run = Run::new();
        run.send(
            "m7",
            Told::Accepted,
            &["bob@acme.example", "dave@globex.example"],
        );
        run.quarantine("m7", "eu-west-1");
        let facts = crate::testkit::facts_with_two_tenant_spam();
        assert_eq!(check(&run.log, &facts), vec![]);
    }

    #[test]
    fn spam_held_for_a_tag_policy_tenant_is_reported() {
        let mut run = Run::new();
        run.build("m2", Class::Spam, "00");
        run.send("m2", Told::Accepted, &["dave@globex.example"]);
        run.quarantine("m2", "us-east-1");
        assert_reported(&check(&run.log, &facts()), NAME, "tenant globex");
    }
}
