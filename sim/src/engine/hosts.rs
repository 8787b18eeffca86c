//! Which hosts a scenario boots and what each one runs, for every simulated
//! engine: gateways, control planes, scanners, the DNS/MX host, each
//! tenant's mailbox server and the sender MTAs (each with its own DSN
//! mailbox). An engine registers one factory per [`HostPlan`]; a restart
//! calls [`boot`] and [`HostPlan::main`] again, rebuilding the host from its
//! disk, exactly as a real machine would come back.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use models::config::GatewayConfig;
use models::env::BoxFut;
use models::env::SharedEnv;
use traces::{EventKind, Source};

use crate::deploy::{DNS_HOST, mailbox_hosts, sender_host};
use crate::engine::seam::Shared;
use crate::prng::derive_seed;
use crate::scenario::{MessagePlan, Scenario, sender_domain};
use crate::workload::dns::MxDirectory;
use crate::workload::{dns, mailbox, sender};

/// What a host is.
#[derive(Clone)]
pub enum Role {
    Gateway,
    Controller,
    Scanner,
    Dns {
        controllers: Vec<String>,
    },
    Mailbox {
        domain: String,
    },
    /// A tenant's retired first server: named on its route, running
    /// nothing, so every connection to it is refused.
    Retired,
    Sender {
        plans: Vec<MessagePlan>,
        settings: sender::SenderSettings,
        own_domain: String,
    },
}

/// One host to boot: its name and what it runs.
#[derive(Clone)]
pub struct HostPlan {
    pub name: String,
    pub role: Role,
}

/// What the hosts of one run share, outside any host: the gateway config and
/// the MX directory (the `dns` host's table, which stale-DNS faults edit).
#[derive(Clone)]
pub struct Deployment {
    pub config: Rc<GatewayConfig>,
    pub directory: Rc<RefCell<MxDirectory>>,
    /// The domains whose servers reject everything right now.
    pub rejections: Rc<mailbox::Rejections>,
}

/// Every host of the scenario, in the order engines register them.
pub fn plan(scenario: &Scenario, config: &GatewayConfig) -> Vec<HostPlan> {
    let mut hosts = Vec::new();
    let named = |name: &str, role: Role| HostPlan {
        name: name.to_string(),
        role,
    };
    for gateway in &config.gateways {
        hosts.push(named(&gateway.host, Role::Gateway));
    }
    for controller in &config.controllers {
        hosts.push(named(&controller.host, Role::Controller));
    }
    for scanner in &config.scanners {
        hosts.push(named(&scanner.host, Role::Scanner));
    }
    let controllers = config.controllers.iter().map(|n| n.host.clone()).collect();
    hosts.push(named(DNS_HOST, Role::Dns { controllers }));
    for tenant in &scenario.tenants {
        for (rank, host) in mailbox_hosts(tenant).iter().enumerate() {
            let role = if rank == 0 && tenant.first_mailbox_retired {
                Role::Retired
            } else {
                Role::Mailbox {
                    domain: tenant.domain.clone(),
                }
            };
            hosts.push(named(host, role));
        }
    }
    for index in 0..scenario.workload.senders {
        let plans: Vec<_> = scenario
            .workload
            .messages
            .iter()
            .filter(|m| m.sender == index)
            .cloned()
            .collect();
        let settings = sender::SenderSettings {
            dns_host: DNS_HOST.to_string(),
            lifetime_ms: scenario.workload.sender_lifetime_ms,
            backoff_ms_min: scenario.workload.sender_backoff_ms_min,
            backoff_ms_max: scenario.workload.sender_backoff_ms_max,
            smtp_timeout_ms: scenario.knobs.smtp_command_timeout_ms.min(10_000),
        };
        let role = Role::Sender {
            plans,
            settings,
            own_domain: sender_domain(index),
        };
        hosts.push(named(&sender_host(index), role));
    }
    hosts
}

/// Every host name, gateways first (the order fault sets are built in).
pub fn all_hosts(scenario: &Scenario, config: &GatewayConfig) -> Vec<String> {
    let mut hosts: Vec<String> = config.gateways.iter().map(|n| n.host.clone()).collect();
    hosts.extend(config.scanners.iter().map(|n| n.host.clone()));
    hosts.extend(config.controllers.iter().map(|n| n.host.clone()));
    hosts.push(DNS_HOST.to_string());
    hosts.extend(scenario.tenants.iter().flat_map(mailbox_hosts));
    hosts.extend((0..scenario.workload.senders).map(sender_host));
    hosts
}

/// Host name → the classes of event source it may report as (provenance,
/// enforced by `Shared::observe_from`): a sender host also runs its
/// domain's mailbox server (for DSNs); the DNS host reports nothing.
pub fn host_sources(scenario: &Scenario) -> BTreeMap<String, Vec<Source>> {
    let config = crate::deploy::gateway_config(scenario);
    plan(scenario, &config)
        .into_iter()
        .map(|host| {
            let sources = match host.role {
                Role::Gateway | Role::Controller => vec![Source::Gateway],
                // A scanner is the gateway's own service: its notes are
                // self-reports like a node's.
                Role::Scanner => vec![Source::Scanner, Source::Gateway],
                Role::Dns { .. } | Role::Retired => Vec::new(),
                Role::Mailbox { .. } => vec![Source::Mailbox],
                Role::Sender { .. } => vec![Source::Sender, Source::Mailbox],
            };
            (host.name, sources)
        })
        .collect()
}

/// Host name → region name, for the hosts inside the gateway's regions.
pub fn host_regions(scenario: &Scenario) -> BTreeMap<String, String> {
    let topology = &scenario.topology;
    let mut regions = BTreeMap::new();
    for region in &topology.regions {
        for host in topology.hosts_in_region(region) {
            regions.insert(host, region.name.clone());
        }
    }
    regions
}

/// Counts a boot of `host` and returns the seed of its generator for this
/// boot; every boot after the first is logged as a restart.
pub fn boot(shared: &Shared, run_seed: u64, host: &str, boots: &Cell<u32>) -> u64 {
    boots.set(boots.get() + 1);
    if boots.get() > 1 {
        shared.observer.record(host, EventKind::HostRestarted {});
    }
    derive_seed(run_seed, &format!("{host}#{}", boots.get()))
}

impl HostPlan {
    /// The host's software, on `env`; it runs until the host is killed.
    pub fn main(&self, env: SharedEnv, deployment: &Deployment) -> BoxFut<'static, ()> {
        let config = deployment.config.clone();
        match &self.role {
            Role::Gateway => Box::pin(models::gateway::run(env, config)),
            Role::Controller => Box::pin(models::control::run(env, config)),
            Role::Scanner => Box::pin(models::scanner::run(env, config)),
            Role::Dns { controllers } => Box::pin(dns::serve_steered(
                env,
                deployment.directory.clone(),
                controllers.clone(),
            )),
            Role::Mailbox { domain } => Box::pin(mailbox::serve(
                env,
                vec![domain.clone()],
                deployment.rejections.clone(),
            )),
            Role::Retired => Box::pin(std::future::pending()),
            Role::Sender {
                plans,
                settings,
                own_domain,
            } => {
                let (plans, settings) = (plans.clone(), settings.clone());
                let own_domain = vec![own_domain.clone()];
                let rejections = deployment.rejections.clone();
                Box::pin(async move {
                    // The host lives as long as its DSN mailbox, not just
                    // until its last send: DSNs arrive after that.
                    let receiver = env.clone();
                    tokio::join!(
                        sender::run(env, plans, settings),
                        mailbox::serve(receiver, own_domain, rejections)
                    );
                })
            }
        }
    }
}
