//! `unknown_recipients_refused`: an address no tenant has is refused at
//! RCPT with 550, never accepted and never delivered.
//!
//! RFC 5321 §3.3: "If the recipient is known not to be a deliverable
//! address, the SMTP server returns a 550 reply". The gateway is the MX of
//! its tenants' domains and knows their mailboxes; taking mail for a
//! mailbox nobody has (a catch-all by mistake) turns every dictionary
//! attack into relayed load and every typo into a bounce from downstream
//! to a likely forged sender, and no other property notices: the mailbox
//! witness keeps whatever it is sent. Who exists is the workload's ground
//! truth (the scenario's users of each tenant, `Facts`), plus the
//! postmaster every domain has (RFC 5321 §4.5.1); the workload sometimes
//! adds a user nobody has to a many-recipient message.
//!
//! Judged from the sender and the mailbox servers:
//! - an unknown address of a tenant's domain never gets a 2xx at RCPT
//!   (`rcpt_reply`), and never reaches a mailbox (`mailbox_received`);
//! - in a transaction where a known address of the same tenant got its
//!   250 (so the gateway was taking that tenant's mail there and then),
//!   the unknown one gets 550, or 452 when the transaction was out of room
//!   for recipients (RFC 5321 §4.5.3.1.10, asked before anything else). A
//!   4xx there would have the sender retry an address that will never
//!   exist until its retries run out.

use std::collections::BTreeMap;

use traces::{EventKind, Log};

use crate::facts::{addr_key, domain_of};
use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "unknown_recipients_refused";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "an address no tenant has gets 550 at RCPT (RFC 5321 §3.3), never a \
                               250, and never reaches a mailbox";

/// RFC 5321 §3.3 and §4.2.2: mailbox unavailable, for one known not to be
/// deliverable.
const NO_SUCH_MAILBOX: u16 = 550;
/// RFC 5321 §4.5.3.1.10: too many recipients, send the rest later.
const NO_ROOM: u16 = 452;

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    // (sender host, message) → the RCPT replies of its open attempt:
    // (event index, recipient, tenant if known to us, known, code).
    let mut open: BTreeMap<(&str, &str), Vec<Reply>> = BTreeMap::new();
    for (index, event) in view.events.iter().enumerate() {
        match &event.kind {
            EventKind::SendAttempt { msg, .. } => {
                open.insert((event.host.as_str(), msg.as_str()), Vec::new());
            }
            EventKind::RcptReply { msg, rcpt, code } => {
                let Some(tenant) = tenant_of(view.facts, rcpt) else {
                    continue;
                };
                let known = is_known(view.facts, tenant, rcpt);
                if !known && (200..300).contains(code) {
                    out.push(Violation::new(
                        NAME,
                        KIND,
                        format!(
                            "{rcpt} (no mailbox of tenant {tenant}) was accepted at RCPT with \
                             {code} for message {msg} at {}",
                            ms(event.t_us)
                        ),
                        vec![index],
                    ));
                }
                let replies = open.entry((event.host.as_str(), msg.as_str())).or_default();
                replies.push(Reply {
                    index,
                    rcpt: rcpt.as_str(),
                    tenant,
                    known,
                    code: *code,
                });
            }
            EventKind::SendOutcome { msg, .. } => {
                let replies = open
                    .remove(&(event.host.as_str(), msg.as_str()))
                    .unwrap_or_default();
                out.extend(deferred_unknowns(&replies, msg));
            }
            EventKind::MailboxReceived { msg, rcpt, .. } => {
                let Some(tenant) = tenant_of(view.facts, rcpt) else {
                    continue;
                };
                if !is_known(view.facts, tenant, rcpt) {
                    out.push(Violation::new(
                        NAME,
                        KIND,
                        format!(
                            "message {msg} reached {rcpt} (no mailbox of tenant {tenant}) on \
                             {} at {}",
                            event.host,
                            ms(event.t_us)
                        ),
                        vec![index],
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// RCPT replies to addresses no tenant has: how often the property had
/// something to judge.
pub fn offered(view: &Outcomes<'_>) -> u64 {
    let unknown =
        |rcpt: &str| tenant_of(view.facts, rcpt).is_some_and(|t| !is_known(view.facts, t, rcpt));
    let replies = view.events.iter().filter(|e| match &e.kind {
        EventKind::RcptReply { rcpt, .. } => unknown(rcpt),
        _ => false,
    });
    replies.count() as u64
}

/// One RCPT reply a sender logged.
struct Reply<'a> {
    index: usize,
    rcpt: &'a str,
    tenant: &'a str,
    known: bool,
    code: u16,
}

/// Unknown addresses answered other than 550 (or 452, out of room) in a
/// transaction that took a known address of their tenant.
fn deferred_unknowns(replies: &[Reply<'_>], msg: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    for unknown in replies.iter().filter(|r| !r.known) {
        if matches!(unknown.code, NO_SUCH_MAILBOX | NO_ROOM) || (200..300).contains(&unknown.code) {
            // 2xx is reported where it was logged.
            continue;
        }
        let taken = replies
            .iter()
            .find(|r| r.known && r.tenant == unknown.tenant && (200..300).contains(&r.code));
        if let Some(taken) = taken {
            out.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "{} (no mailbox of tenant {}) got {} at RCPT for message {msg}, where the \
                     same transaction took {} with {}: a mailbox known not to exist gets 550 \
                     (RFC 5321 §3.3)",
                    unknown.rcpt, unknown.tenant, unknown.code, taken.rcpt, taken.code
                ),
                vec![taken.index, unknown.index],
            ));
        }
    }
    out
}

/// The tenant whose domain `rcpt` is at, if it is one whose users we know.
fn tenant_of<'f>(facts: &'f Facts, rcpt: &str) -> Option<&'f str> {
    let domain = domain_of(rcpt)?;
    facts
        .tenants
        .iter()
        .find(|t| t.domain.eq_ignore_ascii_case(domain) && !t.users.is_empty())
        .map(|t| t.name.as_str())
}

/// Whether `rcpt` is a mailbox of `tenant`: one of its users, or its
/// postmaster (RFC 5321 §4.5.1); local parts compared without case, as
/// the scenario spells them in one case only.
fn is_known(facts: &Facts, tenant: &str, rcpt: &str) -> bool {
    let key = addr_key(rcpt);
    let local = key.rsplit_once('@').map_or("", |(local, _)| local);
    local == "postmaster"
        || facts
            .tenants
            .iter()
            .filter(|t| t.name == tenant)
            .flat_map(|t| &t.users)
            .any(|u| u.eq_ignore_ascii_case(local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, SENDER, assert_reported, clean_run, facts};
    use traces::Told;

    /// One attempt of `msg` from the sender with the given RCPT replies.
    fn attempt(run: &mut Run, msg: &str, replies: &[(&str, u16)]) {
        run.push(
            SENDER,
            EventKind::SendAttempt {
                msg: msg.into(),
                attempt: 1,
                mx: "gw-eu-west-1-0".into(),
            },
        );
        for (rcpt, code) in replies {
            run.push(
                SENDER,
                EventKind::RcptReply {
                    msg: msg.into(),
                    rcpt: (*rcpt).into(),
                    code: *code,
                },
            );
        }
        let taken: Vec<String> = (replies.iter())
            .filter(|(_, code)| *code == 250)
            .map(|(rcpt, _)| (*rcpt).to_string())
            .collect();
        run.push(
            SENDER,
            EventKind::SendOutcome {
                msg: msg.into(),
                told: if taken.is_empty() {
                    Told::Rejected
                } else {
                    Told::Accepted
                },
                code: 250,
                rcpts: taken,
            },
        );
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn an_unknown_address_refused_with_550_or_out_of_room_passes() {
        let mut run = Run::new();
        attempt(
            &mut run,
            "m1",
            &[("bob@acme.example", 250), ("nobody@acme.example", 550)],
        );
        attempt(
            &mut run,
            "m2",
            &[("bob@acme.example", 250), ("Nobody@Acme.example", 452)],
        );
        // The postmaster is everybody's, and another tenant's address
        // deferred (one tenant per transaction) is not this one's business.
        attempt(
            &mut run,
            "m3",
            &[
                ("PostMaster@acme.example", 250),
                ("nobody@globex.example", 451),
            ],
        );
        // Deferred with nobody of its tenant taken: the gateway was not
        // taking that tenant's mail (residency, quorum), which says nothing.
        attempt(&mut run, "m4", &[("nobody@acme.example", 451)]);
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn an_unknown_address_accepted_or_delivered_is_reported() {
        let mut run = Run::new();
        attempt(
            &mut run,
            "m1",
            &[("bob@acme.example", 250), ("nobody@acme.example", 250)],
        );
        assert_reported(
            &check(&run.log, &facts()),
            NAME,
            "nobody@acme.example (no mailbox of tenant acme) was accepted at RCPT with 250",
        );
        let mut run = Run::new();
        run.deliver("m1", "nobody@globex.example", "mbx-globex");
        assert_reported(
            &check(&run.log, &facts()),
            NAME,
            "message m1 reached nobody@globex.example",
        );
    }

    #[test]
    fn an_unknown_address_deferred_beside_a_known_one_taken_is_reported() {
        let mut run = Run::new();
        attempt(
            &mut run,
            "m1",
            &[("nobody@acme.example", 451), ("carol@acme.example", 250)],
        );
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "got 451 at RCPT for message m1");
        assert_eq!(found[0].events.len(), 2);
    }

    #[test]
    fn replies_to_unknown_addresses_are_counted() {
        let mut run = Run::new();
        attempt(
            &mut run,
            "m1",
            &[("bob@acme.example", 250), ("nobody@acme.example", 550)],
        );
        attempt(&mut run, "m2", &[("nobody@globex.example", 451)]);
        assert_eq!(offered(&Outcomes::build(&run.log, &facts())), 2);
    }

    #[test]
    fn tenants_whose_users_are_not_known_judge_nobody() {
        let mut facts = facts();
        for tenant in &mut facts.tenants {
            tenant.users.clear();
        }
        let mut run = Run::new();
        attempt(&mut run, "m1", &[("nobody@acme.example", 250)]);
        run.deliver("m1", "nobody@acme.example", "mbx-acme");
        assert_eq!(check(&run.log, &facts), vec![]);
    }
}
