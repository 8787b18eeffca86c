//! What a gateway node knows about the deployment: the nodes and scanners of
//! every region, the tenants and where their mail may live, and the timing
//! knobs. The simulator builds it from a scenario; `mailsim serve` from a
//! file. Plain data, so it prints, compares and serializes.

use serde::{Deserialize, Serialize};

/// Ports every engine uses; hosts are told apart by name, not port.
pub const SMTP_PORT: u16 = 25;
pub const PEER_PORT: u16 = 2525;
pub const SCANNER_PORT: u16 = 3310;
pub const DNS_PORT: u16 = 53;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// e.g. `us-east-1`.
    pub name: String,
    /// e.g. `aws`.
    pub cloud: String,
    /// e.g. `us`.
    pub jurisdiction: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub host: String,
    pub region: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpamPolicy {
    /// Add `X-Spam-Flag: YES` and deliver.
    Tag,
    /// Hold in the tenant's quarantine.
    Quarantine,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub name: String,
    pub domain: String,
    /// Local parts that exist; any other gets 550.
    pub users: Vec<String>,
    /// Regions that may hold or process this tenant's mail.
    pub allowed_regions: Vec<String>,
    /// The tenant's own mailbox server (final destination).
    pub mailbox_host: String,
    /// More servers of the tenant's to deliver to, in order, when the one
    /// before does not take the mail (down, or a 4xx): a delivery route's
    /// backups, as an MX list's lower preferences are (RFC 5321 §5.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_mailbox_hosts: Vec<String>,
    pub spam_policy: SpamPolicy,
}

impl Tenant {
    /// The tenant's mail servers in the order to try them: its mailbox
    /// host, then its backups.
    pub fn delivery_route(&self) -> Vec<String> {
        std::iter::once(&self.mailbox_host)
            .chain(&self.backup_mailbox_hosts)
            .cloned()
            .collect()
    }
}

/// Room above the largest message or DSN in a copy's frame.
pub const COPY_MARGIN_BYTES: u64 = 64 * 1024;

/// Timing and sizing knobs, all in simulated time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    // Saved scenarios and failure files from before the rename (limit last)
    // still load: the old names are aliases.
    #[serde(alias = "max_message_bytes")]
    pub message_bytes_max: u64,
    #[serde(alias = "max_recipients")]
    pub recipients_max: u32,
    /// Limit for one whole SMTP command line at ingress, counted from our
    /// previous reply (or the greeting): a client that trickles a command a
    /// byte at a time gets 421 when it runs out (RFC 5321 §4.5.3.2.7).
    pub smtp_command_timeout_ms: u64,
    /// Limit for a whole message body at ingress, from our 354 to the final
    /// dot; 421 when it runs out.
    #[serde(default = "Knobs::smtp_data_timeout_ms_default")]
    pub smtp_data_timeout_ms: u64,
    /// How long ingress waits for the replica quorum before answering 451.
    pub replication_timeout_ms: u64,
    /// Copies (including the accepting node) needed before 250.
    pub replica_quorum: u32,
    /// Distinct clouds those copies must span.
    pub replica_clouds_min: u32,
    pub scan_timeout_ms: u64,
    pub delivery_timeout_ms: u64,
    pub backoff_ms_min: u64,
    pub backoff_ms_max: u64,
    /// Give up and bounce after this long in the queue.
    pub queue_lifetime_ms: u64,
    /// The longest the queue sleeps unrung: a backstop only, since new
    /// work rings it (`gateway::wakeup`) and a backoff wakes it as it ends.
    pub queue_tick_ms: u64,
    /// An owner unheard of this long may be replaced (failover).
    pub owner_lease_ms: u64,
}

impl Knobs {
    /// Defaults compressed so one run covers load, outage, heal and drain in a
    /// few simulated minutes.
    pub fn simulation_defaults() -> Self {
        Knobs {
            message_bytes_max: 256 * 1024,
            recipients_max: 50,
            smtp_command_timeout_ms: 30_000,
            smtp_data_timeout_ms: Knobs::smtp_data_timeout_ms_default(),
            replication_timeout_ms: 2_000,
            replica_quorum: 2,
            replica_clouds_min: 2,
            scan_timeout_ms: 2_000,
            delivery_timeout_ms: 5_000,
            backoff_ms_min: 1_000,
            backoff_ms_max: 8_000,
            queue_lifetime_ms: 120_000,
            queue_tick_ms: 200,
            owner_lease_ms: 5_000,
        }
    }

    /// The most a peer may send as one spooled copy (a replica's copy, a
    /// scan request): a message as received, with what the gateway prepends
    /// to it (its `Received:` line, a few hundred bytes), or a DSN
    /// (`dsn::bytes_max` for the most recipients a message may have), with
    /// [`COPY_MARGIN_BYTES`] to spare. Anything larger is a broken peer.
    pub fn copy_bytes_max(&self) -> u64 {
        let recipients = usize::try_from(self.recipients_max).unwrap_or(usize::MAX);
        let dsn_bytes_max =
            u64::try_from(crate::mime::dsn::bytes_max(recipients)).unwrap_or(u64::MAX);
        self.message_bytes_max
            .max(dsn_bytes_max)
            .saturating_add(COPY_MARGIN_BYTES)
    }

    /// The simulation's DATA limit, also what a scenario saved before the
    /// knob existed gets.
    fn smtp_data_timeout_ms_default() -> u64 {
        60_000
    }

    /// What RFC 5321 §4.5.3.2 suggests for a server on the real network:
    /// five minutes for a command, and for a body the ten minutes a client
    /// waits for the answer to its final dot.
    pub fn with_rfc_5321_smtp_timeouts(mut self) -> Self {
        self.smtp_command_timeout_ms = 5 * 60_000;
        self.smtp_data_timeout_ms = 10 * 60_000;
        self
    }

    /// How often a node syncs ballots with its peers: several times per
    /// lease, so one lost round never looks like a dead owner.
    pub fn sync_interval_ms(&self) -> u64 {
        (self.owner_lease_ms / 4).max(1)
    }

    /// How often the control plane health-checks every gateway.
    pub fn health_interval_ms(&self) -> u64 {
        (self.owner_lease_ms / 5).max(1)
    }

    /// How long a gateway with the `in-doubt-gives-up` (or
    /// `bounce-while-in-doubt`) bug holds a message its predecessor was
    /// delivering when it went quiet before it stops waiting to hear
    /// whether it got through. The correct gateway waits until it hears.
    pub fn in_doubt_give_up_ms(&self) -> u64 {
        self.queue_lifetime_ms / 2
    }

    /// How long a finished message's copy may linger on a node that missed
    /// the news (it was down or cut off): a few leases of reconciliation.
    pub fn spool_retention_ms(&self) -> u64 {
        self.owner_lease_ms.saturating_mul(3)
    }
}

/// The whole deployment as one node sees it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub regions: Vec<Region>,
    pub gateways: Vec<Node>,
    pub scanners: Vec<Node>,
    /// Control-plane hosts (health checks and MX steering), spread over
    /// several clouds so no single outage takes steering down.
    #[serde(default)]
    pub controllers: Vec<Node>,
    pub tenants: Vec<Tenant>,
    /// The MX directory, used to send DSNs to senders' domains.
    pub dns_host: String,
    pub knobs: Knobs,
    /// Known bugs switched on (see `bugs`); empty for the correct gateway.
    pub bugs: Vec<String>,
    /// Where a domainless `RCPT TO:<Postmaster>` goes: the operator's
    /// postmaster, a tenant's address (RFC 5321 §4.5.1: every SMTP server
    /// MUST take mail for it). None: the first tenant's postmaster
    /// ([`GatewayConfig::operator_postmaster`]).
    #[serde(default)]
    pub postmaster: Option<String>,
}

impl GatewayConfig {
    /// The address a domainless `<Postmaster>` stands for here: the
    /// configured one, else the first tenant's postmaster (the operator is
    /// a tenant of its own gateway); None with no tenants at all.
    pub fn operator_postmaster(&self) -> Option<String> {
        self.postmaster.clone().or_else(|| {
            self.tenants
                .first()
                .map(|t| format!("postmaster@{}", t.domain))
        })
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    pub fn node(&self, host: &str) -> Option<&Node> {
        self.gateways.iter().find(|n| n.host == host)
    }

    pub fn cloud_of_host(&self, host: &str) -> Option<&str> {
        let node = self.node(host)?;
        self.region(&node.region).map(|r| r.cloud.as_str())
    }

    /// The tenant that owns `domain` (case-insensitive).
    pub fn tenant_for_domain(&self, domain: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.domain.eq_ignore_ascii_case(domain))
    }

    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.name == name)
    }

    /// The tenant an address belongs to, if its domain is ours.
    pub fn tenant_for_address(&self, address: &str) -> Option<&Tenant> {
        let domain = address.rsplit_once('@')?.1;
        self.tenant_for_domain(domain)
    }

    /// Gateway nodes in the tenant's allowed regions, in config order.
    pub fn gateways_for_tenant(&self, tenant: &Tenant) -> Vec<&Node> {
        self.gateways
            .iter()
            .filter(|n| tenant.allowed_regions.contains(&n.region))
            .collect()
    }

    /// Scanners in the tenant's allowed regions, those in `prefer_region` first.
    pub fn scanners_for_tenant(&self, tenant: &Tenant, prefer_region: &str) -> Vec<&Node> {
        let mut scanners: Vec<&Node> = self
            .scanners
            .iter()
            .filter(|n| tenant.allowed_regions.contains(&n.region))
            .collect();
        scanners.sort_by_key(|n| n.region != prefer_region);
        scanners
    }

    /// Other gateways that can share a message with `me`: every gateway in
    /// the allowed regions of a tenant whose mail `me` may hold, in config
    /// order. They are the ones `me` keeps in touch with.
    pub fn jurisdiction_peers(&self, me: &str) -> Vec<&Node> {
        let Some(mine) = self.node(me) else {
            return Vec::new();
        };
        // The regions first, then the gateways in them: asked per request
        // (a node's health), so a cost of tenants times gateways grew
        // with the square of a deployment's size.
        let regions: std::collections::BTreeSet<&str> = self
            .tenants
            .iter()
            .filter(|t| t.allowed_regions.contains(&mine.region))
            .flat_map(|t| t.allowed_regions.iter().map(String::as_str))
            .collect();
        self.gateways
            .iter()
            .filter(|n| n.host != me && regions.contains(n.region.as_str()))
            .collect()
    }

    pub fn bug(&self, name: &str) -> bool {
        self.bugs.iter().any(|b| b == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_may_be_the_largest_message_or_the_largest_dsn_with_room_to_spare() {
        let knobs = Knobs::simulation_defaults();
        let dsn_max = |k: &Knobs| crate::mime::dsn::bytes_max(k.recipients_max as usize) as u64;
        // The largest message (256 KiB) is larger than any DSN about 50
        // recipients, so the budget is as before.
        assert!(knobs.message_bytes_max > dsn_max(&knobs));
        assert_eq!(knobs.copy_bytes_max(), 256 * 1024 + COPY_MARGIN_BYTES);
        // Small messages, many recipients: the DSN sets the budget.
        let small = Knobs {
            message_bytes_max: 10_000,
            recipients_max: 200,
            ..knobs.clone()
        };
        assert!(dsn_max(&small) > small.message_bytes_max);
        assert_eq!(small.copy_bytes_max(), dsn_max(&small) + COPY_MARGIN_BYTES);
    }

    #[test]
    fn knobs_saved_under_the_old_limit_first_names_still_load() {
        let mut json = serde_json::to_value(Knobs::simulation_defaults()).unwrap();
        let fields = json.as_object_mut().unwrap();
        let bytes = fields.remove("message_bytes_max").unwrap();
        let rcpts = fields.remove("recipients_max").unwrap();
        fields.insert("max_message_bytes".into(), bytes);
        fields.insert("max_recipients".into(), rcpts);
        let old: Knobs = serde_json::from_value(json).unwrap();
        assert_eq!(old, Knobs::simulation_defaults());
    }
}
