//! Checks a serve config before any process starts: names that become
//! directories, regions that exist, a quorum the deployment can reach,
//! knobs the gateway's arithmetic accepts, and ports that do not collide.
//! Each failure is one sentence naming the culprit.

use std::collections::{BTreeMap, BTreeSet};

use crate::serve::config::ServeConfig;
use crate::serve::ports::PortMap;
use crate::serve::roles;

pub fn check(config: &ServeConfig) -> Result<(), String> {
    let gw = &config.gateway;
    if gw.regions.is_empty() || gw.gateways.is_empty() || gw.tenants.is_empty() {
        return Err("gateway needs at least one region, one gateway and one tenant".into());
    }
    check_names(config)?;
    let regions: BTreeSet<&str> = gw.regions.iter().map(|r| r.name.as_str()).collect();
    if regions.len() != gw.regions.len() {
        return Err("two regions have the same name".into());
    }
    for node in gw.gateways.iter().chain(&gw.scanners) {
        if !regions.contains(node.region.as_str()) {
            return Err(format!(
                "host {} is in region {:?}, which is not in gateway.regions",
                node.host, node.region
            ));
        }
    }
    let mut domains = BTreeSet::new();
    for tenant in &gw.tenants {
        if tenant.domain.is_empty() || !domains.insert(tenant.domain.to_ascii_lowercase()) {
            return Err(format!(
                "tenant {}: domain {:?} is empty or used twice",
                tenant.name, tenant.domain
            ));
        }
        if tenant.users.is_empty() {
            return Err(format!("tenant {} has no users", tenant.name));
        }
        for region in &tenant.allowed_regions {
            if !regions.contains(region.as_str()) {
                return Err(format!(
                    "tenant {} allows region {region:?}, which is not in gateway.regions",
                    tenant.name
                ));
            }
        }
        check_quorum(config, tenant)?;
    }
    if let Some(postmaster) = &gw.postmaster {
        // RFC 5321 §4.1.1.3: the bare <Postmaster> must reach someone.
        let domain = postmaster.rsplit_once('@').map_or("", |(_, d)| d);
        if !domains.contains(&domain.to_ascii_lowercase()) {
            return Err(format!(
                "gateway.postmaster {postmaster:?} is not an address of a tenant's domain"
            ));
        }
    }
    check_knobs(config)?;
    for bug in &gw.bugs {
        if !models::bugs::is_known(bug) {
            return Err(format!(
                "unknown bug {bug:?} (see `mailsim bugs` for the list)"
            ));
        }
    }
    check_ports(config)
}

/// Host names become directories under the data dir and words on a command
/// line, so they are plain: letters, digits, '.', '-', '_', not starting with '.'.
fn check_names(config: &ServeConfig) -> Result<(), String> {
    let mut seen: BTreeMap<String, &'static str> = BTreeMap::new();
    for (host, role) in roles::hosts(config) {
        let plain = !host.is_empty()
            && host.len() <= 64
            && !host.starts_with('.')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !plain {
            return Err(format!(
                "host name {host:?} must be 1-64 letters, digits, '-', '_' or '.', not starting with '.'"
            ));
        }
        if let Some(other) = seen.insert(host.clone(), role.name()) {
            return Err(format!(
                "host name {host} is used twice (as {other} and as {})",
                role.name()
            ));
        }
    }
    for name in config.smtp_ports.keys() {
        if config.gateway.node(name).is_none() {
            return Err(format!("smtp_ports names {name}, which is not a gateway"));
        }
    }
    Ok(())
}

/// A quorum the tenant's regions cannot reach would turn every message into
/// a 451; say so now rather than let every sender find out.
fn check_quorum(config: &ServeConfig, tenant: &models::config::Tenant) -> Result<(), String> {
    let gw = &config.gateway;
    let nodes = gw.gateways_for_tenant(tenant);
    let clouds: BTreeSet<&str> = nodes
        .iter()
        .filter_map(|n| gw.cloud_of_host(&n.host))
        .collect();
    let knobs = &gw.knobs;
    if (nodes.len() as u64) < u64::from(knobs.replica_quorum)
        || (clouds.len() as u64) < u64::from(knobs.replica_clouds_min)
    {
        return Err(format!(
            "tenant {}: its regions have {} gateways on {} clouds, but the quorum needs {} copies on {} clouds",
            tenant.name,
            nodes.len(),
            clouds.len(),
            knobs.replica_quorum,
            knobs.replica_clouds_min
        ));
    }
    Ok(())
}

/// The gateway asserts on some of these (backoff) or spins on others (a zero
/// tick); refuse them here instead.
fn check_knobs(config: &ServeConfig) -> Result<(), String> {
    let k = &config.gateway.knobs;
    let positive = [
        ("message_bytes_max", k.message_bytes_max),
        ("recipients_max", u64::from(k.recipients_max)),
        ("smtp_command_timeout_ms", k.smtp_command_timeout_ms),
        ("smtp_data_timeout_ms", k.smtp_data_timeout_ms),
        ("replication_timeout_ms", k.replication_timeout_ms),
        ("scan_timeout_ms", k.scan_timeout_ms),
        ("delivery_timeout_ms", k.delivery_timeout_ms),
        ("backoff_ms_min", k.backoff_ms_min),
        ("queue_lifetime_ms", k.queue_lifetime_ms),
        ("queue_tick_ms", k.queue_tick_ms),
    ];
    for (name, value) in positive {
        if value == 0 {
            return Err(format!("knobs.{name} must be positive"));
        }
    }
    if k.backoff_ms_min > k.backoff_ms_max {
        return Err("knobs.backoff_ms_min must not exceed knobs.backoff_ms_max".into());
    }
    // Frames carry lengths as u32.
    if k.message_bytes_max > u64::from(u32::MAX / 2) {
        return Err("knobs.message_bytes_max must be below 2 GiB".into());
    }
    Ok(())
}

fn check_ports(config: &ServeConfig) -> Result<(), String> {
    let ports = PortMap::new(config)?;
    let mut used: BTreeMap<u16, String> = BTreeMap::new();
    for (host, logical, real) in ports.listening(config) {
        if real == 0 {
            return Err(format!("host {host} would listen on port 0"));
        }
        let what = format!("{host} (port {logical})");
        if let Some(other) = used.insert(real, what.clone()) {
            return Err(format!("port {real} is given to both {other} and {what}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(change: impl FnOnce(&mut ServeConfig)) -> String {
        let mut config = ServeConfig::default();
        change(&mut config);
        config.validate().unwrap_err()
    }

    #[test]
    fn bad_configs_are_refused_with_the_culprit_named() {
        assert!(error_of(|c| c.gateway.gateways[0].host = "../etc".into()).contains("../etc"));
        assert!(error_of(|c| c.gateway.scanners[0].host = "gw-b".into()).contains("gw-b"));
        assert!(error_of(|c| c.gateway.gateways[1].region = "mars".into()).contains("mars"));
        assert!(error_of(|c| c.gateway.knobs.replica_quorum = 4).contains("quorum"));
        assert!(error_of(|c| c.gateway.knobs.queue_tick_ms = 0).contains("queue_tick_ms"));
        assert!(error_of(|c| c.gateway.knobs.backoff_ms_max = 1).contains("backoff"));
        assert!(error_of(|c| c.gateway.bugs.push("nope".into())).contains("nope"));
        assert!(error_of(|c| c.gateway.tenants[0].users.clear()).contains("no users"));
        let postmaster =
            |c: &mut ServeConfig| c.gateway.postmaster = Some("pm@nowhere.test".into());
        assert!(error_of(postmaster).contains("pm@nowhere.test"));
        assert!(
            error_of(|c| {
                c.smtp_ports.insert("gw-z".into(), 1);
            })
            .contains("gw-z")
        );
        assert!(error_of(|c| c.smtp_port_base = 24_001).contains("24001"));
        assert!(
            error_of(|c| {
                c.smtp_ports.insert("gw-a".into(), 0);
            })
            .contains("port 0")
        );
    }
}
