//! Which logical hosts a real deployment has and what each one runs. The
//! simulator boots the same hosts from a scenario; here they come from the
//! serve config, and one order (gateways, scanners, the DNS host, mailbox
//! hosts) fixes each host's port block and the launcher's grouping.

use crate::serve::config::ServeConfig;

/// What a host runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// `models::gateway::run`: SMTP ingress, spool replica, queue.
    Gateway,
    /// `models::scanner::run`.
    Scanner,
    /// The MX directory (`workload::dns::serve`).
    Dns,
    /// A tenant mailbox server writing Maildir, for these domains.
    Mailbox { domains: Vec<String> },
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Scanner => "scanner",
            Role::Dns => "dns",
            Role::Mailbox { .. } => "mailbox",
        }
    }
}

/// Every host with its role, in the one fixed order. Names may repeat only
/// if the config is invalid (validation reports that).
pub fn hosts(config: &ServeConfig) -> Vec<(String, Role)> {
    let gw = &config.gateway;
    let mut hosts: Vec<(String, Role)> = Vec::new();
    hosts.extend(gw.gateways.iter().map(|n| (n.host.clone(), Role::Gateway)));
    hosts.extend(gw.scanners.iter().map(|n| (n.host.clone(), Role::Scanner)));
    hosts.push((gw.dns_host.clone(), Role::Dns));
    for tenant in &gw.tenants {
        for server in tenant.delivery_route() {
            // Tenants may share a mailbox host: one server for all their
            // domains.
            let existing = hosts
                .iter_mut()
                .find(|(host, role)| *host == server && matches!(role, Role::Mailbox { .. }));
            match existing {
                Some((_, Role::Mailbox { domains })) => {
                    if !domains.contains(&tenant.domain) {
                        domains.push(tenant.domain.clone());
                    }
                }
                _ => hosts.push((
                    server,
                    Role::Mailbox {
                        domains: vec![tenant.domain.clone()],
                    },
                )),
            }
        }
    }
    hosts
}

/// The role of `host`, if the config has it.
pub fn role_of(config: &ServeConfig, host: &str) -> Option<Role> {
    hosts(config)
        .into_iter()
        .find(|(name, _)| name == host)
        .map(|(_, role)| role)
}

/// The hosts of one region: its gateways and scanners (what a region outage
/// takes down).
pub fn region_hosts(config: &ServeConfig, region: &str) -> Vec<String> {
    let gw = &config.gateway;
    gw.gateways
        .iter()
        .chain(&gw.scanners)
        .filter(|n| n.region == region)
        .map(|n| n.host.clone())
        .collect()
}

/// Hosts outside every region: the DNS host and the mailbox servers.
pub fn outside_hosts(config: &ServeConfig) -> Vec<String> {
    hosts(config)
        .into_iter()
        .filter(|(_, role)| matches!(role, Role::Dns | Role::Mailbox { .. }))
        .map(|(host, _)| host)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_has_eight_hosts_in_the_fixed_order() {
        let names: Vec<String> = hosts(&ServeConfig::default())
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(
            names,
            [
                "gw-a",
                "gw-b",
                "gw-c",
                "scan-a",
                "scan-b",
                "scan-c",
                "dns",
                "mbx-example"
            ]
        );
        assert_eq!(
            region_hosts(&ServeConfig::default(), "local-a"),
            ["gw-a", "scan-a"]
        );
        assert_eq!(
            outside_hosts(&ServeConfig::default()),
            ["dns", "mbx-example"]
        );
    }

    #[test]
    fn tenants_sharing_a_mailbox_host_share_one_server() {
        let mut config = ServeConfig::default();
        let mut second = config.gateway.tenants[0].clone();
        second.name = "other".into();
        second.domain = "other.test".into();
        config.gateway.tenants.push(second);
        assert_eq!(
            role_of(&config, "mbx-example"),
            Some(Role::Mailbox {
                domains: vec!["example.test".into(), "other.test".into()]
            })
        );
        assert_eq!(hosts(&config).len(), 8);
    }

    #[test]
    fn a_tenants_backup_servers_each_run_a_mailbox_for_its_domain() {
        let mut config = ServeConfig::default();
        config.gateway.tenants[0].backup_mailbox_hosts = vec!["mbx-example-2".into()];
        let mailbox = Some(Role::Mailbox {
            domains: vec!["example.test".into()],
        });
        assert_eq!(role_of(&config, "mbx-example"), mailbox);
        assert_eq!(role_of(&config, "mbx-example-2"), mailbox);
        assert_eq!(hosts(&config).len(), 9);
    }
}
