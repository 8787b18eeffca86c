//! `no_retry_after_refusal`: a recipient its server refused with a 5xx at
//! RCPT is not offered to that server again and again.
//!
//! RFC 5321 §4.2.1: a 5yz reply is permanent, and the client "SHOULD NOT
//! repeat the exact request". `no_false_bounce` judges the bounce that
//! follows a 5xx, but not how long it takes: a gateway that takes a 5xx for
//! a 4xx retries the recipient until the queue lifetime runs out, then
//! bounces it "for expiry", and every other property passes while the
//! sender waits days to hear what the server said at once.
//!
//! Judged from the mailbox side alone. A refusal at RCPT does not name its
//! message (the server has seen only the envelope), so the count is per
//! (client host, envelope sender, recipient): the 5xx refusals at RCPT of
//! a workload address (a recipient, or a sender a DSN is addressed to with
//! the null sender) may not exceed the times that client can honestly
//! have offered it, which is one per copy it may hold — one per sender
//! attempt of a message from that sender to that recipient that was not
//! rejected (an indefinite or even a 451 attempt can leave a copy for a
//! while, until it is told to forget it), or for a DSN one per recipient of every
//! attempt of a message the address sent — times one plus the faults that
//! may have made that client forget a refusal: a crash or pause of it, a
//! fault on its region, cloud or links, a fault on the recipient's mail
//! server (a transaction that dies before its dot is kept by nobody), a
//! BUGGIFY site fired on it. The gateway that ignores 5xx offers the
//! recipient once per retry, far beyond that.

use std::collections::BTreeMap;

use traces::{EventKind, Log, Told};

use crate::facts::addr_key;
use crate::view::{Outcomes, Refusal, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "no_retry_after_refusal";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "a recipient refused with a 5xx at RCPT is not offered again by the \
                               same client beyond the copies it may hold and the faults that may \
                               have made it forget (RFC 5321 §4.2.1)";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

/// (client host, normalised envelope sender, normalised recipient).
type Offer = (String, String, String);

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for ((client, sender, rcpt), refusals) in permanent_rcpt_refusals(view) {
        let copies = copies_offered_at_most(view, &sender, &rcpt);
        let forgetting = faults_that_may_forget(view, &client, &rcpt);
        let allowed = copies.saturating_mul(1 + forgetting);
        if refusals.len() <= allowed {
            continue;
        }
        let times: Vec<String> = refusals.iter().map(|&i| ms(view.events[i].t_us)).collect();
        let from = if sender.is_empty() {
            "the null sender (a DSN)".to_string()
        } else {
            sender.clone()
        };
        out.push(Violation::new(
            NAME,
            KIND,
            format!(
                "{rcpt} was refused with a 5xx at RCPT {} times ({}) when {client} offered it \
                 mail from {from}, but {client} can have held at most {copies} copy(ies) of such \
                 mail and met {forgetting} fault(s) that may have made it forget a refusal, \
                 which explain at most {allowed} offer(s): a permanent refusal was retried",
                refusals.len(),
                times.join(", "),
            ),
            refusals,
        ));
    }
    out
}

/// 5xx refusals at RCPT of the workload's addresses (its recipients, and
/// its senders, whom DSNs are addressed to), by offer: the event indices,
/// in log order.
pub fn permanent_rcpt_refusals(view: &Outcomes<'_>) -> BTreeMap<Offer, Vec<usize>> {
    let addresses: std::collections::BTreeSet<String> = view
        .facts
        .messages
        .values()
        .flat_map(|m| m.rcpts.iter().chain(std::iter::once(&m.sender)))
        .map(|address| addr_key(address))
        .collect();
    let mut refused: BTreeMap<Offer, Vec<usize>> = BTreeMap::new();
    for refusal in view.refusals.iter().filter(|r| is_permanent_at_rcpt(r)) {
        let sender = refusal.mail_from.map(addr_key).unwrap_or_default();
        for rcpt in refusal.rcpts.iter().filter(|r| addresses.contains(*r)) {
            refused
                .entry((refusal.client.to_string(), sender.clone(), rcpt.clone()))
                .or_default()
                .push(refusal.index);
        }
    }
    refused
}

fn is_permanent_at_rcpt(refusal: &Refusal<'_>) -> bool {
    refusal.msg.is_none() && refusal.code >= 500
}

/// How many copies of mail from `sender` to `rcpt` a client may hold: one
/// per sender attempt that listed `rcpt` and was not rejected; for a DSN
/// (`sender` empty), one per recipient of every such attempt of a message
/// `rcpt` sent, plus one per attempt that listed `rcpt` of a message the
/// workload sent with a null reverse-path.
pub(crate) fn copies_offered_at_most(view: &Outcomes<'_>, sender: &str, rcpt: &str) -> usize {
    let mut copies = 0;
    for (msg, sends) in &view.sends_by_msg {
        let Some(facts) = view.message(msg) else {
            continue;
        };
        let from = addr_key(&facts.sender);
        for &index in sends {
            let EventKind::SendOutcome { told, rcpts, .. } = &view.events[index].kind else {
                continue;
            };
            if *told == Told::Rejected {
                continue;
            }
            let lists_rcpt = rcpts.iter().any(|r| addr_key(r) == rcpt);
            if sender.is_empty() {
                if from == rcpt {
                    copies += rcpts.len();
                } else if from.is_empty() && lists_rcpt {
                    // Mail the workload itself sent with a null reverse-path.
                    copies += 1;
                }
            } else if from == sender && lists_rcpt {
                copies += 1;
            }
        }
    }
    copies
}

/// Events that may have cost `client` its record of a refusal of `rcpt`:
/// its crashes and fired BUGGIFY sites, and faults whose target names it,
/// its region or cloud (a gateway's name carries both), or `rcpt`'s mail
/// domain.
fn faults_that_may_forget(view: &Outcomes<'_>, client: &str, rcpt: &str) -> usize {
    let domain = rcpt.rsplit_once('@').map_or("", |(_, d)| d);
    let concerns = |part: &str| {
        let part = part.trim().to_ascii_lowercase();
        !part.is_empty() && (client.contains(part.as_str()) || part == domain)
    };
    view.events
        .iter()
        .filter(|e| match &e.kind {
            EventKind::HostCrashed {} | EventKind::BuggifyFired { .. } => e.host == client,
            EventKind::FaultStarted { target, .. } => target.split(',').any(concerns),
            _ => false,
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{MX, Run, assert_reported, clean_run, facts};

    const OTHER_MX: &str = "gw-us-east-1-0";

    /// erin's m5 to bob, refused at RCPT by `client`.
    fn refuse_m5(run: &mut Run, client: &str) -> usize {
        run.refuse_at_rcpt(client, "erin@sender.example", "bob@acme.example", 550)
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn one_refusal_per_copy_passes_and_a_retry_by_the_same_client_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        refuse_m5(&mut run, MX);
        assert_eq!(check(&run.log, &facts()), vec![]);
        run.refuse_at_rcpt(MX, "Erin@sender.example", "Bob@acme.example", 550);
        let found = check(&run.log, &facts());
        assert_reported(
            &found,
            NAME,
            "bob@acme.example was refused with a 5xx at RCPT 2 times",
        );
        assert_eq!(found[0].events.len(), 2);
    }

    #[test]
    fn another_client_offering_its_own_copy_is_counted_apart() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        refuse_m5(&mut run, MX);
        refuse_m5(&mut run, OTHER_MX);
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn temporary_refusals_and_refusals_after_data_are_not_counted() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        for _ in 0..3 {
            run.refuse_at_rcpt(MX, "erin@sender.example", "bob@acme.example", 451);
        }
        refuse_m5(&mut run, MX);
        run.push(
            "mbx-acme",
            EventKind::MailboxRefused {
                msg: Some("m5".into()),
                mail_from: Some("erin@sender.example".into()),
                client: MX.into(),
                rcpts: vec!["bob@acme.example".into()],
                code: 554,
                status: None,
                dsn_about: None,
                dsn_rcpts: Vec::new(),
            },
        );
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn every_copy_a_sender_attempt_may_have_left_buys_one_offer() {
        let mut run = Run::new();
        // alice's m1 and m3 both name bob, and m3 was tried twice.
        let bob = "bob@acme.example";
        run.send("m1", Told::Accepted, &[bob, "carol@acme.example"]);
        run.send("m3", Told::Deferred, &[bob]);
        run.send("m3", Told::Accepted, &[bob]);
        for _ in 0..3 {
            run.refuse_at_rcpt(MX, "alice@sender.example", bob, 550);
        }
        assert_eq!(check(&run.log, &facts()), vec![]);
        run.refuse_at_rcpt(MX, "alice@sender.example", bob, 550);
        assert_reported(&check(&run.log, &facts()), NAME, "at most 3 copy(ies)");
    }

    #[test]
    fn a_rejected_attempt_leaves_no_copy() {
        let mut run = Run::new();
        run.send("m5", Told::Rejected, &["bob@acme.example"]);
        refuse_m5(&mut run, MX);
        assert_reported(&check(&run.log, &facts()), NAME, "at most 0 copy(ies)");
    }

    #[test]
    fn a_fault_on_the_client_buys_each_copy_one_more_offer_and_one_elsewhere_does_not() {
        let fault = |run: &mut Run, target: &str| {
            run.push(
                "world",
                EventKind::FaultStarted {
                    fault: 0,
                    kind: "region_crash".into(),
                    target: target.into(),
                },
            );
        };
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        refuse_m5(&mut run, MX);
        fault(&mut run, "us-east-1");
        refuse_m5(&mut run, MX);
        assert_reported(&check(&run.log, &facts()), NAME, "met 0 fault(s)");

        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        refuse_m5(&mut run, MX);
        fault(&mut run, "eu-west-1");
        refuse_m5(&mut run, MX);
        assert_eq!(check(&run.log, &facts()), vec![]);
        refuse_m5(&mut run, MX);
        assert_reported(&check(&run.log, &facts()), NAME, "met 1 fault(s)");

        // A crash of the client, or a fault at the recipient's server.
        for event in [
            (MX, EventKind::HostCrashed {}),
            (
                "world",
                EventKind::FaultStarted {
                    fault: 1,
                    kind: "mailbox_misbehaves".into(),
                    target: "acme.example,reset_mid_data".into(),
                },
            ),
        ] {
            let mut run = Run::new();
            run.send("m5", Told::Accepted, &["bob@acme.example"]);
            refuse_m5(&mut run, MX);
            run.push(event.0, event.1);
            refuse_m5(&mut run, MX);
            assert_eq!(check(&run.log, &facts()), vec![]);
        }
    }

    #[test]
    fn an_address_the_workload_does_not_know_is_not_judged() {
        let mut run = Run::new();
        run.send("m2", Told::Accepted, &["dave@globex.example"]);
        for _ in 0..5 {
            run.refuse_at_rcpt(MX, "", "mallory@elsewhere.example", 550);
        }
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_sender_refusing_its_dsns_is_offered_one_per_recipient_it_sent_to() {
        // erin sent m5 to bob alone: one DSN at most per attempt.
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.refuse_at_rcpt(MX, "", "erin@sender.example", 550);
        assert_eq!(check(&run.log, &facts()), vec![]);
        run.refuse_at_rcpt(MX, "", "erin@sender.example", 550);
        assert_reported(&check(&run.log, &facts()), NAME, "the null sender (a DSN)");
    }

    #[test]
    fn mail_and_dsns_to_one_address_are_counted_apart() {
        let mut facts = facts();
        facts.messages.insert(
            "m8".into(),
            crate::MessageFacts {
                tenant: "globex".into(),
                sender: "bob@acme.example".into(),
                rcpts: vec!["dave@globex.example".into()],
                malicious: false,
                spam: false,
            },
        );
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.send("m8", Told::Accepted, &["dave@globex.example"]);
        refuse_m5(&mut run, MX);
        run.refuse_at_rcpt(MX, "", "bob@acme.example", 550);
        assert_eq!(check(&run.log, &facts), vec![]);
        run.refuse_at_rcpt(MX, "", "bob@acme.example", 550);
        assert_reported(&check(&run.log, &facts), NAME, "the null sender");
    }

    #[test]
    fn mail_sent_with_a_null_reverse_path_is_refused_once_per_copy() {
        let mut facts = facts();
        facts.messages.get_mut("m5").expect("m5").sender = String::new();
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.refuse_at_rcpt(MX, "", "bob@acme.example", 550);
        assert_eq!(check(&run.log, &facts), vec![]);
        run.refuse_at_rcpt(MX, "", "bob@acme.example", 550);
        assert_reported(
            &check(&run.log, &facts),
            NAME,
            "bob@acme.example was refused with a 5xx at RCPT 2 times",
        );
    }
}
