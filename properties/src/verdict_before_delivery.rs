//! `verdict_before_delivery`: no message reaches a mailbox before a scanner
//! has judged it deliverable, and spam is handled by the tenant's policy.
//!
//! Scanning is fail-closed: when scanners are slow or unreachable the
//! gateway must hold mail, not wave it through. So each delivered copy needs
//! a `scan_verdict` for its message, from a scanner host, at or before the
//! delivery's time, saying clean or spam; a malware verdict before it means
//! the gateway ignored the scanner. If a scanner said spam, a tenant whose
//! policy is quarantine must get no copy at all, and a tenant whose policy is
//! tag must get copies marked `X-Spam-Flag: YES`. The policy is the message's
//! tenant's (from the facts), or failing that the recipient domain's; with
//! neither known, untagged spam is still wrong under either policy.
//! DSNs carry no scanned content and are not judged here.

use traces::{Log, Verdict};

use crate::view::{Arrival, Outcomes, ms, verdict_word};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "verdict_before_delivery";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "every delivered copy was scanned clean or spam first, and spam \
                               follows the tenant's quarantine or tag policy";

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
    let before: Vec<_> = scans.iter().filter(|s| s.t_us <= arrival.t_us).collect();
    let mut problems = Vec::new();
    let mut events = vec![arrival.index];

    let passing = before
        .iter()
        .any(|s| matches!(s.verdict, Verdict::Clean | Verdict::Spam));
    if !passing {
        let later = scans
            .iter()
            .find(|s| s.t_us > arrival.t_us)
            .map(|s| {
                events.push(s.index);
                format!(
                    "the first verdict after it was {} from {} at {}",
                    verdict_word(s.verdict),
                    s.host,
                    ms(s.t_us)
                )
            })
            .unwrap_or_else(|| "no scanner ever judged it".to_string());
        problems.push(format!("no clean or spam verdict came first ({later})"));
    }
    for scan in before.iter().filter(|s| s.verdict == Verdict::Malware) {
        events.push(scan.index);
        problems.push(format!(
            "scanner {} judged it malware at {}",
            scan.host,
            ms(scan.t_us)
        ));
    }
    if let Some(spam) = before.iter().find(|s| s.verdict == Verdict::Spam) {
        let tenant = view
            .tenant_of(&arrival.msg)
            .or_else(|| view.facts.tenant_for_address(&arrival.rcpt));
        let said = format!("scanner {} said spam at {}", spam.host, ms(spam.t_us));
        match tenant {
            Some(t) if t.spam_policy_quarantine => {
                events.push(spam.index);
                problems.push(format!(
                    "{said} and tenant {} quarantines spam, so no copy may be delivered",
                    t.name
                ));
            }
            _ if !arrival.spam_tagged => {
                events.push(spam.index);
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
    fn a_delivery_after_a_malware_verdict_is_reported_even_if_another_scan_passed_it() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.scan("m1", Verdict::Malware);
        run.scan("m1", Verdict::Clean);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        assert_reported(&check(&run.log, &facts()), NAME, "judged it malware");
    }
}
