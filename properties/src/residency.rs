//! `residency`: a tenant's mail is held and processed only in the regions
//! the tenant allows.
//!
//! Data-residency promises (say, EU mail stays in the EU) are what tenants
//! buy; the place they break is failover, when a healthy region outside the
//! allowed set is tempting. Every `bytes_seen` (a disk write or a network
//! receipt, recorded by the engine's seam, not by the gateway) for a message
//! must name a region in its tenant's allowed list.
//!
//! Two exemptions, both outside the gateway's control: the final mailbox
//! servers (the tenant's own, or a DSN's destination) are wherever their
//! owners put them. A DSN has its own Message-ID, which the seam spots as
//! the value of its `Message-ID:` field wherever the DSN is written or
//! sent; its bytes are judged by the tenant of the message it reports on
//! when a DSN arrival reveals that link (a DSN copy outside the tenant's
//! jurisdiction is the `dsn-replicas-anywhere` bug). Bytes of a message
//! that is neither a workload message nor such a DSN cannot be attributed
//! to a tenant and are left to the other properties.
//!
//! A message addressed to several tenants may sit in a region any of them
//! allows: the log does not say whose copy a stored file is, so a copy of
//! tenant B's recipients in tenant A's region is judged by
//! `tenant_isolation` where it arrives, not here.

use std::collections::{BTreeMap, BTreeSet};

use traces::{Log, Presence};

use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, TenantFacts, Violation};

pub const NAME: &str = "residency";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str =
    "a message's bytes are seen only in regions its recipients' tenants allow";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

/// Whose rules a message's bytes follow, and which hosts are final mailboxes.
struct Owner<'a> {
    /// The message's own tenant, named when the facts do not know it.
    tenant_name: &'a str,
    /// Every tenant the message is addressed to: a region any of them allows
    /// may hold it, since the copy kept there may be that tenant's.
    tenants: Vec<&'a TenantFacts>,
    /// The message a DSN reports on, for the reason.
    about: Option<&'a str>,
    mailbox_hosts: BTreeSet<&'a str>,
}

fn owners<'a>(view: &'a Outcomes<'a>) -> BTreeMap<&'a str, Owner<'a>> {
    let facts = view.facts;
    let mut out: BTreeMap<&'a str, Owner<'a>> = BTreeMap::new();
    for dsn in &view.dsns {
        let Some(about) = dsn.dsn_about.as_deref() else {
            continue;
        };
        let Some(m) = view.message(about) else {
            continue;
        };
        let owner = out.entry(dsn.msg.as_str()).or_insert_with(|| Owner {
            tenant_name: &m.tenant,
            tenants: facts.tenants_of(m),
            about: Some(about),
            mailbox_hosts: BTreeSet::new(),
        });
        owner.mailbox_hosts.insert(dsn.host);
        if let Some(host) = facts.external_mailbox_for_address(&m.sender) {
            owner.mailbox_hosts.insert(host);
        }
    }
    out
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let facts = view.facts;
    let dsn_owners = owners(view);
    let mut out = Vec::new();
    for bytes in &view.bytes {
        let owner = match view.message(&bytes.msg) {
            Some(m) => {
                let tenants = facts.tenants_of(m);
                Owner {
                    mailbox_hosts: tenants.iter().flat_map(|t| t.mailbox_hosts()).collect(),
                    tenant_name: &m.tenant,
                    tenants,
                    about: None,
                }
            }
            None => match dsn_owners.get(bytes.msg.as_str()) {
                Some(o) => Owner {
                    tenant_name: o.tenant_name,
                    tenants: o.tenants.clone(),
                    about: o.about,
                    mailbox_hosts: o.mailbox_hosts.clone(),
                },
                None => continue,
            },
        };
        if owner.mailbox_hosts.contains(bytes.host) {
            continue;
        }
        let what = match owner.about {
            None => format!("message {}", bytes.msg),
            Some(about) => format!("DSN {} (about message {about})", bytes.msg),
        };
        let how = match bytes.presence {
            Presence::Stored => "stored",
            Presence::Received => "received",
        };
        let allowed = |t: &&TenantFacts| t.allowed_regions.iter().any(|r| r == bytes.region);
        if owner.tenants.iter().any(allowed) {
            continue;
        }
        let reason = if owner.tenants.is_empty() {
            format!(
                "{what} belongs to tenant {}, which the facts do not know, so no region is \
                 allowed, yet it was {how} in region {} on {} at {}",
                owner.tenant_name,
                bytes.region,
                bytes.host,
                ms(bytes.t_us)
            )
        } else {
            let names: Vec<&str> = owner.tenants.iter().map(|t| t.name.as_str()).collect();
            let mut regions: Vec<&str> = Vec::new();
            for region in owner.tenants.iter().flat_map(|t| &t.allowed_regions) {
                if !regions.contains(&region.as_str()) {
                    regions.push(region);
                }
            }
            format!(
                "{what} of tenant {} was {how} in region {} on {} ({}) at {}, but {} \
                 only [{}]",
                names.join(" and "),
                bytes.region,
                bytes.host,
                bytes.place,
                ms(bytes.t_us),
                if names.len() == 1 {
                    "the tenant allows"
                } else {
                    "they allow"
                },
                regions.join(", ")
            )
        };
        out.push(Violation::new(NAME, KIND, reason, vec![bytes.index]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};
    use traces::{EventKind, Told};

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn a_message_replicated_outside_its_tenants_regions_is_reported() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.store("m1", "eu-west-1", "spool/m1");
        let stray = run.store("m1", "us-east-1", "spool/m1");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 of tenant acme");
        assert!(found[0].reason.contains("region us-east-1"));
        assert!(found[0].reason.contains("[eu-west-1, eu-central-1]"));
        assert_eq!(found[0].events, vec![stray]);
    }

    #[test]
    fn a_message_for_two_tenants_may_sit_in_either_ones_regions_only() {
        let facts = crate::testkit::facts_with_two_tenant_spam();
        let mut run = Run::new();
        run.send(
            "m7",
            Told::Accepted,
            &["bob@acme.example", "dave@globex.example"],
        );
        run.store("m7", "eu-west-1", "spool/m7");
        run.store("m7", "us-east-1", "spool/m7");
        assert_eq!(check(&run.log, &facts), vec![]);
        let stray = run.store("m7", "ap-south-1", "spool/m7");
        let found = check(&run.log, &facts);
        assert_reported(&found, NAME, "message m7 of tenant acme and globex");
        assert!(found[0].reason.contains("they allow only"));
        assert_eq!(found[0].events, vec![stray]);
    }

    #[test]
    fn a_quarantine_outside_the_allowed_regions_is_reported() {
        let mut run = Run::new();
        run.quarantine("m3", "us-west-2");
        assert_reported(&check(&run.log, &facts()), NAME, "message m3");
    }

    #[test]
    fn a_dsn_spooled_outside_the_original_tenants_regions_is_reported() {
        let mut run = Run::new();
        run.store("dsn-m5", "us-east-1", "spool/dsn-m5");
        run.bounce_m5();
        assert_reported(&check(&run.log, &facts()), NAME, "about message m5");
    }

    #[test]
    fn a_dsn_spooled_inside_the_original_tenants_regions_passes() {
        let mut run = Run::new();
        run.store("dsn-m5", "eu-central-1", "spool/dsn-m5");
        run.bounce_m5();
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_dsn_is_judged_by_the_tenant_of_the_message_it_reports_on() {
        // m6 is globex's (US): the same store in eu-central-1 that passes
        // for acme's m5 above is a breach for a DSN about m6.
        let mut run = Run::new();
        let stray = run.store("dsn-m6", "eu-central-1", "spool/dsn-m6");
        run.dsn(
            "dsn-m6",
            "m6",
            &["dave@globex.example"],
            "alice@sender.example",
            "mbx-ext",
        );
        let found = check(&run.log, &facts());
        assert_reported(
            &found,
            NAME,
            "DSN dsn-m6 (about message m6) of tenant globex",
        );
        assert_eq!(found[0].events, vec![stray]);
    }

    #[test]
    fn a_dsn_whose_subject_never_arrived_is_not_attributed() {
        let mut run = Run::new();
        run.store("dsn-unknown", "us-east-1", "spool/dsn-unknown");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn the_final_mailbox_servers_are_exempt() {
        let mut run = Run::new();
        run.push(
            "mbx-acme",
            EventKind::BytesSeen {
                msg: "m1".into(),
                region: "on-premises".into(),
                presence: Presence::Received,
                place: "gw-eu-west-1-0".into(),
            },
        );
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
