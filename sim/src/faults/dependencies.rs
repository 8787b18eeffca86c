//! The dependencies a gateway leans on, failing the ways real ones do
//! (issue 16, item 5): mail servers that greylist, tarpit, hang up after
//! DATA or reset the connection mid-message; a DNS that answers SERVFAIL,
//! does not answer, or flaps between two answers; and partitions between
//! two single hosts (inside one region, or across two), not just whole
//! regions.
//!
//! Here: the modes and the checks of the fault kinds that carry them. What
//! each does to the world: `workload/mailbox_faults.rs` (mail servers),
//! `workload/dns.rs` (`MxDirectory::failing`), `engine/fault_state.rs`
//! (host partitions cut the directed links between the two hosts).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::topology::Topology;

/// How a mail server misbehaves while a `mailbox_misbehaves` fault holds
/// its domain.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum MailboxMode {
    /// Greylisting (RFC 6647): a recipient is refused with 451 at RCPT the
    /// first time a (client, sender, recipient) triple is seen, and until
    /// `GREYLIST_MS` has passed; a retry after that is accepted.
    Greylist,
    /// A tarpit: every reply comes `TARPIT_REPLY_MS` late.
    Tarpit,
    /// The server keeps the message at the final dot and hangs up before
    /// its reply: the client cannot know it was delivered (RFC 1047).
    DropAfterData,
    /// The connection is reset in the middle of the message's data: nothing
    /// kept, the client sees the stream die.
    ResetMidData,
    /// The server no longer knows the domain's users: every recipient is
    /// refused at RCPT with 550 5.1.1 (RFC 3463), a permanent refusal the
    /// client must bounce at once and not offer again (RFC 5321 §4.2.1).
    UnknownUser,
    /// The server refuses every message at the final dot with a 554 5.7.1
    /// that explains itself at length: a multi-line reply of
    /// `LONG_REFUSAL_LINES` lines, each within RFC 5321's 512 octets (tens
    /// of KiB in all, as policy texts with links and appeal procedures
    /// run). The client must bounce, and its DSN must still go out.
    LongRefusal,
}

impl MailboxMode {
    pub fn name(self) -> &'static str {
        match self {
            MailboxMode::Greylist => "greylist",
            MailboxMode::Tarpit => "tarpit",
            MailboxMode::DropAfterData => "drop_after_data",
            MailboxMode::ResetMidData => "reset_mid_data",
            MailboxMode::UnknownUser => "unknown_user",
            MailboxMode::LongRefusal => "long_refusal",
        }
    }
}

/// How the `dns` host fails for a domain while a `dns_fails` fault holds it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DnsMode {
    /// Every query for the domain is answered `SERVFAIL`.
    Servfail,
    /// Queries for the domain are never answered (the resolver times out).
    Timeout,
    /// Answers alternate between the live record and the same hosts
    /// rotated by one, as two name servers with different zone serials do.
    Flap,
}

impl DnsMode {
    pub fn name(self) -> &'static str {
        match self {
            DnsMode::Servfail => "servfail",
            DnsMode::Timeout => "timeout",
            DnsMode::Flap => "flap",
        }
    }
}

impl fmt::Display for MailboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for DnsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every gateway-side host of the topology (gateways, scanners, control
/// planes), in topology order: what a host partition may name.
pub fn partitionable_hosts(topology: &Topology) -> Vec<String> {
    topology
        .regions
        .iter()
        .flat_map(|r| topology.hosts_in_region(r))
        .collect()
}

/// Checks a host partition's two ends.
pub fn validate_host_partition(topology: &Topology, from: &str, to: &str) -> Result<(), String> {
    for host in [from, to] {
        if topology.region_of_host(host).is_none() {
            return Err(format!("host partition names unknown host {host:?}"));
        }
    }
    if from == to {
        return Err(format!(
            "host partition needs two different hosts, not {from:?} twice"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_partition_needs_two_known_hosts() {
        let topology = Topology::standard();
        let hosts = partitionable_hosts(&topology);
        assert!(hosts.len() > 2);
        assert!(validate_host_partition(&topology, &hosts[0], &hosts[1]).is_ok());
        assert!(validate_host_partition(&topology, &hosts[0], &hosts[0]).is_err());
        let unknown = validate_host_partition(&topology, "gw-nowhere-0", &hosts[0]);
        assert!(unknown.unwrap_err().contains("gw-nowhere-0"));
    }
}
