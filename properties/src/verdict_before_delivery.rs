//! `verdict_before_delivery`: no message reaches a mailbox before a scanner
//! has judged the bytes delivered deliverable, and spam is handled by the
//! tenant's policy.
//!
//! Scanning is fail-closed: when scanners are slow or unreachable the
//! gateway must hold mail, not wave it through. A verdict is only worth the
//! bytes it was about, and the id a gateway puts in its request proves
//! nothing (it could scan one copy and deliver another, or scan before a
//! rewrite). So each delivered copy needs a `scan_verdict` for its message,
//! from a scanner host, at or before the delivery's time, saying clean or
//! spam, whose `input_sha256` equals the copy's `unflagged_sha256` (what
//! arrived, less the spam tag that follows the verdict); a malware verdict
//! on those bytes before it means the gateway ignored the scanner.
//!
//! The spam policy is judged against ground truth, the sender's
//! `message_built.class`, not against the scanner: spam to a tenant whose
//! policy is quarantine must get no copy at all, spam to a tenant whose
//! policy is tag must arrive `X-Spam-Flag: YES`, and clean mail must arrive
//! untagged. The policy is the message's tenant's (from the facts), or
//! failing that the recipient domain's; with neither known, untagged spam
//! is still wrong under either policy. A message no sender built (no class)
//! falls back to what a scanner said. DSNs carry no scanned content and are
//! not judged here.

use traces::{Class, Log, Verdict};

use crate::view::{Arrival, Outcomes, Scan, ms, verdict_word};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "verdict_before_delivery";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "every delivered copy's bytes were scanned clean or spam first, and \
                               spam (by ground truth) follows the tenant's quarantine or tag policy";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    // Deliveries are grouped by pair; judge them in log order instead.
    let mut copies: Vec<&Arrival<'_>> = view.deliveries.values().flatten().collect();
    copies.sort_by_key(|a| a.index);
    copies
        .into_iter()
        .filter_map(|a| judge_copy(view, a))
        .collect()
}

fn judge_copy(view: &Outcomes<'_>, arrival: &Arrival<'_>) -> Option<Violation> {
    let scans = view
        .verdicts
        .get(&arrival.msg)
        .map_or(&[][..], Vec::as_slice);
    let before: Vec<&Scan<'_>> = scans.iter().filter(|s| s.t_us <= arrival.t_us).collect();
    let on_these_bytes: Vec<&Scan<'_>> = before
        .iter()
        .copied()
        .filter(|s| s.input_sha256 == arrival.unflagged_sha256)
        .collect();
    let mut problems = Vec::new();
    let mut events = vec![arrival.index];

    let passing = on_these_bytes
        .iter()
        .any(|s| matches!(s.verdict, Verdict::Clean | Verdict::Spam));
    if !passing {
        let why = if let Some(other) = before.last() {
            events.push(other.index);
            format!(
                "the verdicts before it were on other bytes (the last, {} from {} at {}, on \
                 sha256 {}; the copy without its spam tag is {})",
                verdict_word(other.verdict),
                other.host,
                ms(other.t_us),
                short(other.input_sha256),
                short(arrival.unflagged_sha256)
            )
        } else if let Some(later) = scans.iter().find(|s| s.t_us > arrival.t_us) {
            events.push(later.index);
            format!(
                "the first verdict after it was {} from {} at {}",
                verdict_word(later.verdict),
                later.host,
                ms(later.t_us)
            )
        } else {
            "no scanner ever judged it".to_string()
        };
        problems.push(format!(
            "no clean or spam verdict on the delivered bytes came first ({why})"
        ));
    }
    for scan in on_these_bytes
        .iter()
        .filter(|s| s.verdict == Verdict::Malware)
    {
        events.push(scan.index);
        problems.push(format!(
            "scanner {} judged it malware at {}",
            scan.host,
            ms(scan.t_us)
        ));
    }
    let is_spam = match view.class_of(&arrival.msg) {
        Some(class) => {
            if class == Class::Clean && arrival.spam_tagged {
                problems.push(
                    "it was built clean (message_built) and arrived tagged as spam".to_string(),
                );
            }
            class == Class::Spam
        }
        None => before.iter().any(|s| s.verdict == Verdict::Spam),
    };
    if is_spam {
        // The recipient's own tenant decides: one message may be spam for
        // a tenant that quarantines it and for one that tags it.
        let tenant = view
            .facts
            .tenant_for_address(&arrival.rcpt)
            .or_else(|| view.tenant_of(&arrival.msg));
        let said = match view.built.get(&arrival.msg) {
            Some(built) => {
                events.push(built.index);
                format!("its sender built it as spam at {}", ms(built.t_us))
            }
            None => "a scanner said spam".to_string(),
        };
        match tenant {
            Some(t) if t.spam_policy_quarantine => {
                problems.push(format!(
                    "{said} and tenant {} quarantines spam, so no copy may be delivered",
                    t.name
                ));
            }
            _ if !arrival.spam_tagged => {
                let whose = tenant.map_or("the recipient's tenant".to_string(), |t| {
                    format!("tenant {}", t.name)
                });
                problems.push(format!(
                    "{said} but the copy was not tagged (X-Spam-Flag) as {whose}'s tag policy \
                     requires"
                ));
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        return None;
    }
    Some(Violation::new(
        NAME,
        KIND,
        format!(
            "message {} was delivered to {} at {} ({}), but {}",
            arrival.msg,
            arrival.rcpt,
            arrival.host,
            ms(arrival.t_us),
            problems.join("; and ")
        ),
        events,
    ))
}

/// The first 12 hex digits of a digest, for reasons.
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
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
    fn a_message_delivered_before_its_verdict_is_reported() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        let early = run.deliver("m1", "bob@acme.example", "mbx-acme");
        let scan = run.scan("m1", Verdict::Clean);
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 was delivered to bob@acme.example");
        assert!(found[0].reason.contains("first verdict after it was clean"));
        assert!(found[0].reason.contains("on the delivered bytes"));
        assert_eq!(found[0].events, vec![early, scan]);
    }

    #[test]
    fn a_message_never_scanned_is_reported() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "no scanner ever judged it");
    }

    #[test]
    fn spam_delivered_to_a_quarantine_tenant_is_reported() {
        let mut run = Run::new();
        run.send("m3", Told::Accepted, &["bob@acme.example"]);
        run.scan("m3", Verdict::Spam);
        run.deliver_tagged("m3", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m3");
        assert!(found[0].reason.contains("tenant acme quarantines spam"));
    }

    #[test]
    fn spam_for_two_tenants_follows_each_recipients_own_policy() {
        // m7's first recipient is acme's (quarantine); dave is globex's (tag).
        let facts = crate::testkit::facts_with_two_tenant_spam();
        let mut run = Run::new();
        run.send(
            "m7",
            Told::Accepted,
            &["bob@acme.example", "dave@globex.example"],
        );
        run.scan("m7", Verdict::Spam);
        run.deliver_tagged("m7", "dave@globex.example", "mbx-globex");
        assert_eq!(check(&run.log, &facts), vec![]);
        // Filed under globex's policy, bob's copy is delivered: a breach.
        run.deliver_tagged("m7", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts);
        assert_reported(&found, NAME, "tenant acme quarantines spam");
    }

    #[test]
    fn untagged_spam_for_a_tag_tenant_is_reported() {
        let mut run = Run::new();
        run.send("m2", Told::Accepted, &["dave@globex.example"]);
        run.scan("m2", Verdict::Spam);
        run.deliver("m2", "dave@globex.example", "mbx-globex");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m2");
        assert!(found[0].reason.contains("not tagged"));
    }

    #[test]
    fn a_verdict_on_other_bytes_than_those_delivered_is_reported() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        let scan = run.scan_bytes("m1", Verdict::Clean, "ab12");
        let copy = run.deliver("m1", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "verdicts before it were on other bytes");
        assert_eq!(found[0].events, vec![scan, copy]);
        // The same verdict on the delivered bytes passes.
        run.scan("m1", Verdict::Clean);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        assert_eq!(check(&run.log, &facts()).len(), 1);
    }

    #[test]
    fn spam_by_ground_truth_is_judged_whatever_the_scanner_said() {
        // The scanner missed it; the sender built it as spam, so the tag
        // tenant's copy must still be tagged.
        let mut run = Run::new();
        run.build("m2", traces::Class::Spam, "00");
        run.send("m2", Told::Accepted, &["dave@globex.example"]);
        run.scan("m2", Verdict::Clean);
        run.deliver("m2", "dave@globex.example", "mbx-globex");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "its sender built it as spam");
        assert!(found[0].reason.contains("not tagged"));
    }

    #[test]
    fn clean_mail_tagged_as_spam_is_reported() {
        let mut run = Run::new();
        run.build("m6", traces::Class::Clean, "00");
        run.send("m6", Told::Accepted, &["dave@globex.example"]);
        run.scan("m6", Verdict::Spam);
        run.deliver_tagged("m6", "dave@globex.example", "mbx-globex");
        assert_reported(
            &check(&run.log, &facts()),
            NAME,
            "built clean (message_built) and arrived tagged",
        );
    }

    #[test]
    fn a_delivery_after_a_malware_verdict_is_reported_even_if_another_scan_passed_it() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.scan("m1", Verdict::Malware);
        run.scan("m1", Verdict::Clean);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        assert_reported(&check(&run.log, &facts()), NAME, "judged it malware");
    }
}
