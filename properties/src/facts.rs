//! What the checkers know besides the log: the tenants and their rules, the
//! workload's messages (the truth about each envelope), and the run's timing.
//!
//! The simulator fills this in from the scenario it generated, so it is the
//! yardstick the gateway is measured against and never comes from the
//! gateway itself. Lookups here normalise names the same way the view does,
//! so a checker never misses a match because of angle brackets or case.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One tenant as the properties need it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TenantFacts {
    pub name: String,
    pub domain: String,
    /// The tenant's own mailbox server, first on its delivery route.
    pub mailbox_host: String,
    /// Its backup servers: with the first, the only hosts that may receive
    /// its mail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_mailbox_hosts: Vec<String>,
    /// Regions that may hold or process this tenant's mail.
    pub allowed_regions: Vec<String>,
    /// Spam is held in quarantine (true) or tagged and delivered (false).
    pub spam_policy_quarantine: bool,
    /// The local parts of its mailboxes, as the scenario made them (empty
    /// in logs from before they were kept: then nobody is judged unknown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

impl TenantFacts {
    /// Every server of the tenant's: where its mail may arrive.
    pub fn mailbox_hosts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.mailbox_host.as_str())
            .chain(self.backup_mailbox_hosts.iter().map(String::as_str))
    }
}

/// One message of the workload, as the sender built it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MessageFacts {
    /// The tenant of the message's first recipient (its name). A message
    /// may name recipients of several tenants: judge each recipient by its
    /// own ([`Facts::tenant_of_rcpt`], [`Facts::tenants_of`]).
    pub tenant: String,
    /// The envelope sender (MAIL FROM), where a DSN must go.
    pub sender: String,
    /// The envelope recipients (RCPT TO): nobody else may receive it.
    pub rcpts: Vec<String>,
    /// Carries malware: must never be delivered nor bounced.
    pub malicious: bool,
    /// Written to look like spam.
    pub spam: bool,
}

/// A stretch of simulated time during which some regions were down.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OutageWindow {
    pub start_us: u64,
    /// Exclusive: the first instant the regions were back.
    pub end_us: u64,
    pub regions_down: Vec<String>,
}

impl OutageWindow {
    /// Whether `t_us` falls inside the window (start inclusive, end exclusive,
    /// so back-to-back windows never both claim an instant).
    pub fn contains(&self, t_us: u64) -> bool {
        self.start_us <= t_us && t_us < self.end_us
    }
}

/// Everything the checkers know that the log does not say.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub tenants: Vec<TenantFacts>,
    /// Mailbox hosts outside any tenant (senders' own servers), by domain.
    pub external_mailboxes: BTreeMap<String, String>,
    /// The workload's messages by Message-ID (without angle brackets).
    pub messages: BTreeMap<String, MessageFacts>,
    /// When the last fault was healed.
    pub heal_at_us: u64,
    /// How long after the heal every acknowledged pair must be settled.
    pub drain_bound_us: u64,
    pub outage_windows: Vec<OutageWindow>,
    /// The gateway's queue lifetime (0: not known, not judged).
    #[serde(default)]
    pub queue_lifetime_us: u64,
    /// The gateway's minimal delay before retrying a deferred recipient
    /// (`knobs.backoff_ms_min`, as deployed; 0: not known, not judged).
    #[serde(default)]
    pub retry_backoff_us_min: u64,
    /// How late after its lifetime a delivery may still come: one retry
    /// interval plus the timeouts and handovers that can delay that retry.
    #[serde(default)]
    pub expiry_grace_us: u64,
    /// Copies (the accepting node's included) that must be durable when a
    /// 250 is sent (0: not judged).
    #[serde(default)]
    pub replica_quorum: u32,
    /// Distinct clouds those durable copies must span.
    #[serde(default)]
    pub replica_clouds_min: u32,
    /// The cloud of every gateway region, by region name.
    #[serde(default)]
    pub region_clouds: BTreeMap<String, String>,
    /// The largest message, in RFC 1870 octets, the gateway is configured
    /// to take (0: not known, not judged).
    #[serde(default)]
    pub message_bytes_max: u64,
}

impl Facts {
    /// The tenant called `name`.
    pub fn tenant(&self, name: &str) -> Option<&TenantFacts> {
        self.tenants.iter().find(|t| t.name == name)
    }

    /// The tenant that owns `domain` (domains are case-insensitive).
    pub fn tenant_for_domain(&self, domain: &str) -> Option<&TenantFacts> {
        self.tenants
            .iter()
            .find(|t| t.domain.eq_ignore_ascii_case(domain))
    }

    /// The tenant an address belongs to, if its domain is a tenant's.
    pub fn tenant_for_address(&self, address: &str) -> Option<&TenantFacts> {
        self.tenant_for_domain(domain_of(address)?)
    }

    /// The tenant of recipient `rcpt` of `message`: its address's, else
    /// (an address no tenant owns) the message's own.
    pub fn tenant_of_rcpt(&self, message: &MessageFacts, rcpt: &str) -> Option<&TenantFacts> {
        self.tenant_for_address(rcpt)
            .or_else(|| self.tenant(&message.tenant))
    }

    /// Every tenant `message` is addressed to, each once, in recipient order;
    /// the message's own tenant first when none of its recipients is a
    /// tenant's address.
    pub fn tenants_of(&self, message: &MessageFacts) -> Vec<&TenantFacts> {
        let mut out: Vec<&TenantFacts> = Vec::new();
        let by_rcpt = message
            .rcpts
            .iter()
            .filter_map(|r| self.tenant_for_address(r));
        for tenant in by_rcpt.chain(self.tenant(&message.tenant)) {
            if !out.iter().any(|known| known.name == tenant.name) {
                out.push(tenant);
            }
        }
        out
    }

    /// The mailbox host of a sender outside every tenant, by its domain.
    pub fn external_mailbox_for_address(&self, address: &str) -> Option<&str> {
        let domain = domain_of(address)?;
        self.external_mailboxes
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
            .map(|(_, host)| host.as_str())
    }

    /// Whether `t_us` lies in a window where exactly one region was down:
    /// the case the product promises to ride through.
    pub fn in_single_region_outage(&self, t_us: u64) -> bool {
        self.outage_windows
            .iter()
            .any(|w| w.regions_down.len() == 1 && w.contains(t_us))
    }

    /// Whether a message of `size` RFC 1870 octets is over the gateway's
    /// configured limit (never, when the limit is not known).
    pub fn over_size_limit(&self, size: u64) -> bool {
        self.message_bytes_max > 0 && size > self.message_bytes_max
    }

    /// Whether `t_us` lies in any outage window.
    pub fn in_outage(&self, t_us: u64) -> bool {
        self.outage_windows.iter().any(|w| w.contains(t_us))
    }
}

/// A Message-ID as a map key: surrounding blanks and angle brackets dropped,
/// because senders, mailbox servers and the facts may each write it either way.
pub fn msg_key(msg: &str) -> String {
    let trimmed = msg.trim();
    let inner = trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed);
    inner.trim().to_string()
}

/// An address as a map key: brackets dropped and lower-cased. Domains are
/// case-insensitive by RFC 5321, and every mailbox server in the simulation
/// treats local parts the same way, so a case change is not a misdelivery.
pub fn addr_key(address: &str) -> String {
    msg_key(address).to_ascii_lowercase()
}

/// The domain of an address (after the last `@`), if it has one.
pub fn domain_of(address: &str) -> Option<&str> {
    let domain = address.trim().trim_end_matches('>').rsplit_once('@')?.1;
    (!domain.is_empty()).then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_and_addresses_compare_without_brackets_or_case() {
        assert_eq!(msg_key(" <m1@example> "), "m1@example");
        assert_eq!(msg_key("m1@example"), "m1@example");
        assert_eq!(addr_key("<Bob@ACME.example>"), "bob@acme.example");
        assert_eq!(domain_of("<bob@acme.example>"), Some("acme.example"));
        assert_eq!(domain_of("nobody"), None);
        assert_eq!(domain_of("nobody@"), None);
    }

    #[test]
    fn outage_windows_include_their_start_but_not_their_end() {
        let w = OutageWindow {
            start_us: 10,
            end_us: 20,
            regions_down: vec!["r".into()],
        };
        assert!(w.contains(10));
        assert!(w.contains(19));
        assert!(!w.contains(20));
        assert!(!w.contains(9));
    }
}
