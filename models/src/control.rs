//! The control plane: steers senders away from gateways that cannot take
//! mail. Each control-plane host (there are several, on different clouds,
//! each working alone) health-checks every gateway on its peer port once a
//! health interval and tells the MX directory which of each tenant's
//! gateways are healthy.
//!
//! Healthy means the gateway answered and said it can reach a replication
//! quorum; a crashed, isolated or cut-off node drops out of the answers.
//! Residency before availability: a tenant's list only ever holds gateways
//! in the tenant's allowed regions, and when none is healthy the directory
//! falls back to all of them (senders then get refusals or 4xx and keep
//! their mail) — never to a region outside the jurisdiction. Senders cache
//! answers for the TTL and walk the MX list, so steering only shortens how
//! long they knock on dead doors.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use traces::EventKind;

use crate::config::GatewayConfig;
use crate::env::SharedEnv;
use crate::fan_out::fan_out;
use crate::gateway::peer;
use crate::mx;

/// Runs one control-plane host until it is killed.
pub async fn run(env: SharedEnv, config: Rc<GatewayConfig>) {
    let interval_ms = config.knobs.health_interval_ms();
    let mut published: BTreeMap<String, Vec<String>> = BTreeMap::new();
    loop {
        env.sleep(Duration::from_millis(interval_ms)).await;
        let healthy = check_all(&env, &config, interval_ms).await;
        let views = views(&config, &healthy);
        for (domain, hosts) in &views {
            if published.get(domain) != Some(hosts) {
                env.observe(EventKind::GwNote {
                    what: "steering".into(),
                    detail: format!("{domain}: healthy [{}]", hosts.join(", ")),
                });
            }
        }
        // Sent every round, changed or not: the directory forgets views it
        // has not heard again for a while, so a dead controller's stale
        // opinion fades out.
        let _ = mx::publish(env.as_ref(), &config.dns_host, &views, interval_ms).await;
        published = views.into_iter().collect();
    }
}

/// Every gateway, asked at once; the set that answered healthy in time.
async fn check_all(env: &SharedEnv, config: &GatewayConfig, timeout_ms: u64) -> BTreeSet<String> {
    let gateways = config.gateways.iter().map(|g| (g.host.clone(), ()));
    let mut answers = fan_out(env.as_ref(), gateways, |host, ()| {
        let (checker, host) = (env.clone(), host.to_string());
        Box::pin(async move { peer::health(checker.as_ref(), &host, timeout_ms).await })
    });
    let mut healthy = BTreeSet::new();
    while let Some((host, ok)) = answers.next().await {
        if ok {
            healthy.insert(host);
        }
    }
    healthy
}

/// For each tenant domain, its healthy gateways in its allowed regions.
pub fn views(config: &GatewayConfig, healthy: &BTreeSet<String>) -> Vec<(String, Vec<String>)> {
    config
        .tenants
        .iter()
        .map(|tenant| {
            let hosts = config
                .gateways_for_tenant(tenant)
                .into_iter()
                .filter(|n| healthy.contains(&n.host))
                .map(|n| n.host.clone())
                .collect();
            (tenant.domain.clone(), hosts)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Knobs, Node, Region, SpamPolicy, Tenant};

    #[test]
    fn a_view_never_names_a_gateway_outside_the_tenants_regions() {
        let region = |name: &str, jurisdiction: &str| Region {
            name: name.into(),
            cloud: name.into(),
            jurisdiction: jurisdiction.into(),
        };
        let node = |host: &str, region: &str| Node {
            host: host.into(),
            region: region.into(),
        };
        let config = GatewayConfig {
            regions: vec![
                region("us1", "us"),
                region("us2", "us"),
                region("eu1", "eu"),
            ],
            gateways: vec![
                node("gw-us1", "us1"),
                node("gw-us2", "us2"),
                node("gw-eu1", "eu1"),
            ],
            scanners: Vec::new(),
            controllers: Vec::new(),
            tenants: vec![Tenant {
                name: "acme".into(),
                domain: "acme.example".into(),
                users: vec!["bob".into()],
                allowed_regions: vec!["us1".into(), "us2".into()],
                mailbox_host: "mbx-acme".into(),
                backup_mailbox_hosts: Vec::new(),
                spam_policy: SpamPolicy::Tag,
            }],
            dns_host: "dns".into(),
            knobs: Knobs::simulation_defaults(),
            bugs: Vec::new(),
            postmaster: None,
        };
        let healthy: BTreeSet<String> = ["gw-us2", "gw-eu1"].map(String::from).into();
        assert_eq!(
            views(&config, &healthy),
            vec![("acme.example".to_string(), vec!["gw-us2".to_string()])]
        );
        // None healthy in the jurisdiction: an empty view, never gw-eu1.
        let healthy: BTreeSet<String> = ["gw-eu1".to_string()].into();
        assert_eq!(views(&config, &healthy)[0].1, Vec::<String>::new());
    }
}
