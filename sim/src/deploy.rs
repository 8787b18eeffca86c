//! Turns a scenario into what the hosts are given: the gateway's deployment
//! config, the MX directory, and the facts the properties judge against.
//! One place decides host names for senders, mailboxes and DNS.

use std::collections::BTreeMap;
use std::rc::Rc;

use models::config::{GatewayConfig, Node, SpamPolicy, Tenant};
use properties::{Facts, MessageFacts, OutageWindow, TenantFacts};

use crate::faults::FaultKind;
use crate::scenario::{Scenario, TenantSpec, sender_domain};
use crate::workload::dns::MxDirectory;
use crate::workload::mime::MessageKind;

pub const DNS_HOST: &str = "dns";

pub fn mailbox_host(tenant: &str) -> String {
    format!("mbx-{tenant}")
}

/// A tenant's mail servers in route order: its own first, then its backups.
pub fn mailbox_hosts(tenant: &TenantSpec) -> Vec<String> {
    let first = mailbox_host(&tenant.name);
    let backups = (2..=1 + tenant.backup_mailboxes).map(|k| format!("{first}-{k}"));
    std::iter::once(first.clone()).chain(backups).collect()
}

pub fn sender_host(sender: u32) -> String {
    format!("mta-{sender}")
}

/// What one run deploys, worked out once: the gateways' config (every host
/// boots from it) and the facts the properties judge the run against. The
/// engine makes it and hands the facts back with the run's artifacts, so
/// the judge uses exactly what the run was built from.
pub struct Deployed {
    pub config: Rc<GatewayConfig>,
    pub facts: Rc<Facts>,
}

impl Deployed {
    pub fn new(scenario: &Scenario) -> Deployed {
        let config = gateway_config(scenario);
        let facts = facts(scenario, &config);
        Deployed {
            config: Rc::new(config),
            facts: Rc::new(facts),
        }
    }
}

pub fn gateway_config(scenario: &Scenario) -> GatewayConfig {
    let topology = &scenario.topology;
    let nodes = |hosts: fn(&crate::topology::Topology, &models::config::Region) -> Vec<String>| {
        topology
            .regions
            .iter()
            .flat_map(|region| {
                hosts(topology, region).into_iter().map(|host| Node {
                    host,
                    region: region.name.clone(),
                })
            })
            .collect::<Vec<_>>()
    };
    GatewayConfig {
        regions: topology.regions.clone(),
        gateways: nodes(crate::topology::Topology::gateway_hosts),
        scanners: nodes(crate::topology::Topology::scanner_hosts),
        controllers: nodes(crate::topology::Topology::control_hosts),
        tenants: scenario
            .tenants
            .iter()
            .map(|t| Tenant {
                name: t.name.clone(),
                domain: t.domain.clone(),
                users: t.users.clone(),
                allowed_regions: topology
                    .regions_in(&t.jurisdiction)
                    .iter()
                    .map(|r| r.name.clone())
                    .collect(),
                mailbox_host: mailbox_host(&t.name),
                backup_mailbox_hosts: mailbox_hosts(t).split_off(1),
                spam_policy: t.spam_policy,
            })
            .collect(),
        dns_host: DNS_HOST.to_string(),
        knobs: scenario.knobs.clone(),
        bugs: scenario.bugs.clone(),
        postmaster: None,
    }
}

/// The MX directory at the start of the run: each tenant's gateways in its
/// jurisdiction, rotated per tenant so load spreads over regions; each
/// sender domain's own MTA host.
pub fn mx_directory(scenario: &Scenario, config: &GatewayConfig) -> MxDirectory {
    let mut domains = BTreeMap::new();
    for (index, tenant) in config.tenants.iter().enumerate() {
        let mut hosts: Vec<String> = config
            .gateways_for_tenant(tenant)
            .iter()
            .map(|n| n.host.clone())
            .collect();
        if !hosts.is_empty() {
            let shift = index % hosts.len();
            hosts.rotate_left(shift);
        }
        domains.insert(tenant.domain.clone(), hosts);
    }
    for sender in 0..scenario.workload.senders {
        domains.insert(sender_domain(sender), vec![sender_host(sender)]);
    }
    MxDirectory {
        domains,
        ttl_ms: scenario.workload.dns_ttl_ms,
        ..MxDirectory::default()
    }
}

pub fn facts(scenario: &Scenario, config: &GatewayConfig) -> Facts {
    let tenants = scenario
        .tenants
        .iter()
        .map(|t| {
            let mut servers = mailbox_hosts(t);
            TenantFacts {
                name: t.name.clone(),
                domain: t.domain.clone(),
                mailbox_host: servers.remove(0),
                backup_mailbox_hosts: servers,
                allowed_regions: scenario
                    .topology
                    .regions_in(&t.jurisdiction)
                    .iter()
                    .map(|r| r.name.clone())
                    .collect(),
                spam_policy_quarantine: t.spam_policy == SpamPolicy::Quarantine,
                users: t.users.clone(),
            }
        })
        .collect();
    let external_mailboxes = (0..scenario.workload.senders)
        .map(|s| (sender_domain(s), sender_host(s)))
        .collect();
    let messages = scenario
        .workload
        .messages
        .iter()
        .map(|m| {
            (
                m.id.clone(),
                MessageFacts {
                    tenant: m.tenant.clone(),
                    sender: m.envelope_sender().to_string(),
                    rcpts: m.rcpts.clone(),
                    malicious: matches!(m.kind, MessageKind::Eicar | MessageKind::EicarZipLike),
                    spam: m.kind == MessageKind::Spam,
                },
            )
        })
        .collect();
    let heal_at_ms = scenario.phases.heal_at_ms;
    let outage_windows = scenario
        .faults
        .faults
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                FaultKind::RegionCrash { .. }
                    | FaultKind::RegionIsolation { .. }
                    | FaultKind::CloudOutage { .. }
            )
        })
        .map(|f| OutageWindow {
            start_us: f.at_ms * 1_000,
            end_us: f.end_ms().min(heal_at_ms) * 1_000,
            regions_down: f.regions_down(&scenario.topology),
        })
        .collect();
    Facts {
        tenants,
        external_mailboxes,
        messages,
        heal_at_us: heal_at_ms * 1_000,
        drain_bound_us: scenario.phases.drain_bound_ms * 1_000,
        outage_windows,
        queue_lifetime_us: scenario.knobs.queue_lifetime_ms * 1_000,
        retry_backoff_us_min: scenario.knobs.backoff_ms_min * 1_000,
        expiry_grace_us: expiry_grace_ms(&scenario.knobs) * 1_000,
        replica_quorum: config.knobs.replica_quorum,
        replica_clouds_min: config.knobs.replica_clouds_min,
        region_clouds: config
            .regions
            .iter()
            .map(|r| (r.name.clone(), r.cloud.clone()))
            .collect(),
        message_bytes_max: config.knobs.message_bytes_max,
    }
}

/// How late past its queue lifetime a correct gateway may still deliver a
/// recipient: the retry that finds it expired comes up to one maximal
/// backoff after the lifetime, may itself be delayed by a scan, a
/// replication and two delivery timeouts, by a failover (two leases), and
/// by the clock error the gateway allows for (its acceptor's clock against
/// its owner's). Not by an in-doubt wait: mail held that long for a
/// previous owner's delivery is bounced, not delivered (it once allowed
/// half the lifetime for it, slack a gateway delivering that late used).
pub fn expiry_grace_ms(knobs: &models::config::Knobs) -> u64 {
    2 * models::tolerances::CLOCK_ERROR_MS_MAX
        + knobs.backoff_ms_max
        + knobs.scan_timeout_ms
        + knobs.replication_timeout_ms
        + 2 * knobs.delivery_timeout_ms
        + 2 * knobs.owner_lease_ms
}
