//! The dependency faults in force (`mailbox_misbehaves`, `dns_fails`),
//! gathered from the active faults at each boundary and handed to the
//! world's mail servers and DNS host in one piece, so a fault that ends
//! is undone by the next boundary's smaller set. Host partitions need no
//! state of their own: they are directed cuts like any partition.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::engine::seam::Shared;
use crate::faults::{DnsMode, FaultKind, MailboxMode};
use crate::workload::dns::MxDirectory;

/// Domain → how its mail server misbehaves, and how the DNS fails for it.
#[derive(Default, Debug)]
pub struct DependencyFaults {
    mailboxes: BTreeMap<String, MailboxMode>,
    dns: BTreeMap<String, DnsMode>,
}

impl DependencyFaults {
    /// Takes one active fault into account; overlapping faults on one
    /// domain: the later-listed mode wins (each is drawn alone anyway).
    pub fn add(&mut self, kind: &FaultKind) {
        match kind {
            FaultKind::MailboxMisbehaves { domain, mode } => {
                let entry = self
                    .mailboxes
                    .entry(domain.to_ascii_lowercase())
                    .or_insert(*mode);
                *entry = (*entry).max(*mode);
            }
            FaultKind::DnsFails { domain, mode } => {
                let entry = self.dns.entry(domain.to_ascii_lowercase()).or_insert(*mode);
                *entry = (*entry).max(*mode);
            }
            _ => {}
        }
    }

    /// Puts exactly these faults in force (and lifts the others).
    pub fn apply(self, shared: &Shared, directory: &RefCell<MxDirectory>) {
        shared.rejections.misbehaviours().set(self.mailboxes);
        directory.borrow_mut().failing = self.dns;
    }
}
