//! `tenant_isolation`: mail reaches only the mailbox server of the tenant
//! that owns the recipient's domain.
//!
//! The gateway is shared by tenants; routing one tenant's mail to another's
//! server (a stale routing table, a mixed-up connection pool) is a breach
//! even if the recipient address is right. For a DSN the recipient is the
//! original sender, whose server is an external mailbox (or a tenant's, if
//! the sender is one). An address whose domain nobody owns has no legitimate
//! server, so any arrival for it is reported.
//!
//! A server that refuses what it is offered (`mailbox_refused`) was still
//! offered it: a recipient of tenant A named in RCPT TO at tenant B's server
//! has already leaked A's envelope (who writes to whom) to B, and after DATA
//! the message itself, whatever B answered. Real servers refuse a domain
//! they do not host, so judging only what they accepted would let a
//! misrouting gateway pass with a bounce; judging the offer catches the
//! `cross-tenant-routing` bug (`sim/tests/bugs.rs`).

use traces::Log;

use crate::view::{Arrival, Outcomes, Refusal, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "tenant_isolation";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str =
    "every copy is received by the mailbox server that owns the recipient's domain";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let arrivals = view.deliveries.values().flatten().chain(view.dsns.iter());
    let mut out: Vec<Violation> = arrivals.filter_map(|a| misrouted(view.facts, a)).collect();
    out.extend(view.refusals.iter().flat_map(|r| misoffered(view.facts, r)));
    // Deliveries are grouped by pair; report in log order instead.
    out.sort_by_key(|v| v.events.first().copied());
    out
}

/// Where an arrival should have gone, described, and whether it went there.
fn misrouted(facts: &Facts, arrival: &Arrival<'_>) -> Option<Violation> {
    let what = match &arrival.dsn_about {
        None => format!("message {} for {}", arrival.msg, arrival.rcpt),
        Some(about) => format!("DSN {} (about {about}) for {}", arrival.msg, arrival.rcpt),
    };
    let expected: Option<(String, Vec<&str>)> = match &arrival.dsn_about {
        None => facts
            .tenant_for_address(&arrival.rcpt)
            .map(|t| (format!("tenant {}", t.name), t.mailbox_hosts().collect())),
        // A DSN goes back to the sender: external first, as most senders are.
        Some(_) => facts
            .external_mailbox_for_address(&arrival.rcpt)
            .map(|h| ("the sender's external domain".to_string(), vec![h]))
            .or_else(|| {
                facts
                    .tenant_for_address(&arrival.rcpt)
                    .map(|t| (format!("tenant {}", t.name), t.mailbox_hosts().collect()))
            }),
    };
    let reason = match expected {
        Some((_, hosts)) if hosts.contains(&arrival.host) => return None,
        Some((owner, hosts)) => format!(
            "{what} was received by {} at {}, but {owner}'s mailbox hosts are {}",
            arrival.host,
            ms(arrival.t_us),
            hosts.join(", ")
        ),
        None => format!(
            "{what} was received by {} at {}, but no tenant or known external mailbox owns \
             that recipient's domain",
            arrival.host,
            ms(arrival.t_us)
        ),
    };
    Some(Violation::new(NAME, KIND, reason, vec![arrival.index]))
}

/// Recipients of a refusal that were offered to a server not theirs.
fn misoffered(facts: &Facts, refusal: &Refusal<'_>) -> Vec<Violation> {
    refusal
        .rcpts
        .iter()
        .filter_map(|rcpt| {
            let (owner, hosts): (String, Vec<&str>) = match facts.tenant_for_address(rcpt) {
                Some(t) => (format!("tenant {}", t.name), t.mailbox_hosts().collect()),
                None => (
                    "the sender's external domain".to_string(),
                    vec![facts.external_mailbox_for_address(rcpt)?],
                ),
            };
            if hosts.contains(&refusal.host) {
                return None;
            }
            let host = hosts.join(", ");
            let what = match &refusal.msg {
                None => format!("recipient {rcpt} was offered (RCPT TO)"),
                Some(msg) => format!("message {msg} for {rcpt} was offered"),
            };
            Some(Violation::new(
                NAME,
                KIND,
                format!(
                    "{what} to {} at {}, which refused it ({}), but {owner}'s mailbox hosts are \
                     {host}: the envelope crossed to another server all the same",
                    refusal.host,
                    ms(refusal.t_us),
                    refusal.code
                ),
                vec![refusal.index],
            ))
        })
        .collect()
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
    fn a_message_received_by_another_tenants_server_is_reported() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        let wrong = run.deliver("m1", "bob@acme.example", "mbx-globex");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 for bob@acme.example");
        assert!(found[0].reason.contains("received by mbx-globex"));
        assert!(
            found[0]
                .reason
                .contains("tenant acme's mailbox hosts are mbx-acme")
        );
        assert_eq!(found[0].events, vec![wrong]);
    }

    #[test]
    fn a_tenants_backup_server_may_receive_its_mail_and_another_tenants_backup_may_not() {
        let mut facts = facts();
        facts.tenants[0].backup_mailbox_hosts = vec!["mbx-acme-2".into()];
        facts.tenants[1].backup_mailbox_hosts = vec!["mbx-globex-2".into()];
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.deliver("m1", "bob@acme.example", "mbx-acme-2");
        assert_eq!(check(&run.log, &facts), vec![]);
        let wrong = run.deliver("m1", "bob@acme.example", "mbx-globex-2");
        let found = check(&run.log, &facts);
        assert_reported(&found, NAME, "received by mbx-globex-2");
        assert!(
            found[0]
                .reason
                .contains("mailbox hosts are mbx-acme, mbx-acme-2")
        );
        assert_eq!(found[0].events, vec![wrong]);
    }

    #[test]
    fn a_dsn_delivered_to_a_tenant_server_instead_of_the_sender_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.dsn(
            "d5",
            "m5",
            &["bob@acme.example"],
            "erin@sender.example",
            "mbx-acme",
        );
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "about m5");
        assert!(found[0].reason.contains("mbx-ext"));
    }

    #[test]
    fn a_recipient_offered_to_another_tenants_server_is_reported_even_if_refused() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        let offered = run.push(
            "mbx-globex",
            traces::EventKind::MailboxRefused {
                msg: None,
                mail_from: None,
                client: "gw-eu-west-1-0".into(),
                rcpts: vec!["bob@acme.example".into()],
                code: 550,
                status: None,
                dsn_about: None,
                dsn_rcpts: vec![],
            },
        );
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "recipient bob@acme.example was offered");
        assert!(found[0].reason.contains("mbx-globex"));
        assert_eq!(found[0].events, vec![offered]);
    }

    #[test]
    fn a_message_refused_by_its_own_server_is_no_breach() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.push(
            "mbx-acme",
            traces::EventKind::MailboxRefused {
                msg: Some("m1".into()),
                mail_from: Some("erin@sender.example".into()),
                client: "gw-eu-west-1-0".into(),
                rcpts: vec!["bob@acme.example".into()],
                code: 554,
                status: None,
                dsn_about: None,
                dsn_rcpts: vec![],
            },
        );
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_recipient_in_nobodys_domain_is_reported() {
        let mut run = Run::new();
        run.deliver("m1", "mallory@elsewhere.example", "mbx-elsewhere");
        assert_reported(&check(&run.log, &facts()), NAME, "message m1");
    }
}
