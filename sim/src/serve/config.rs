//! What `mailsim serve` runs: the gateway deployment (the same
//! `GatewayConfig` the simulator builds from a scenario) plus what only real
//! mode needs — which loopback ports stand for which host, the DNS TTL, the
//! seed, and whether hosts log their events.
//!
//! Every field has a default, so a `--config` file names only what it
//! changes; unknown fields are refused so a typo is an error, not a silently
//! ignored setting.

use std::collections::BTreeMap;
use std::path::Path;

use models::config::{GatewayConfig, Knobs, Node, Region, SpamPolicy, Tenant};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The deployment every node sees (replaced as a whole when given).
    pub gateway: GatewayConfig,
    /// First port of the internal port blocks: host number `i` (gateways,
    /// scanners, the DNS host, then mailbox hosts, in config order) owns
    /// `base_port + 10*i ..`, see `serve::ports`.
    pub base_port: u16,
    /// SMTP ingress of gateway number `i` listens on `smtp_port_base + i`
    /// unless `smtp_ports` names its port.
    pub smtp_port_base: u16,
    /// Explicit SMTP ingress ports, by gateway host.
    pub smtp_ports: BTreeMap<String, u16>,
    /// Seeds every host's generator, mixed with the host name and its boot
    /// number; absent, each process draws one seed from the OS.
    pub seed: Option<u64>,
    /// TTL the MX directory hands out.
    pub dns_ttl_ms: u64,
    /// Append each host's observation events to `DATA/<host>/events.jsonl`.
    pub events: bool,
}

impl Default for ServeConfig {
    /// Three regions on three clouds in one jurisdiction, one gateway and
    /// one scanner each (three `serve-node` processes), one tenant
    /// `example.test` with alice and bob. Three, because a copy set needs a
    /// majority left when one region dies: with two, killing either one
    /// stopped acceptance and delivery both.
    fn default() -> Self {
        let region = |name: &str, cloud: &str| Region {
            name: name.into(),
            cloud: cloud.into(),
            jurisdiction: "local".into(),
        };
        let node = |host: &str, region: &str| Node {
            host: host.into(),
            region: region.into(),
        };
        // Real clients on real networks: RFC 5321's timeouts, not the
        // simulation's compressed ones.
        let mut knobs = Knobs::simulation_defaults().with_rfc_5321_smtp_timeouts();
        // Spelled out although they are the defaults today: the quorum is
        // what makes killing one region safe, so it must not drift silently.
        knobs.replica_quorum = 2;
        knobs.replica_clouds_min = 2;
        ServeConfig {
            gateway: GatewayConfig {
                regions: vec![
                    region("local-a", "cloud-a"),
                    region("local-b", "cloud-b"),
                    region("local-c", "cloud-c"),
                ],
                gateways: vec![
                    node("gw-a", "local-a"),
                    node("gw-b", "local-b"),
                    node("gw-c", "local-c"),
                ],
                scanners: vec![
                    node("scan-a", "local-a"),
                    node("scan-b", "local-b"),
                    node("scan-c", "local-c"),
                ],
                // No control plane in real mode yet: the MX answer is static.
                controllers: Vec::new(),
                tenants: vec![Tenant {
                    name: "example".into(),
                    domain: "example.test".into(),
                    users: vec!["alice".into(), "bob".into()],
                    allowed_regions: vec!["local-a".into(), "local-b".into(), "local-c".into()],
                    mailbox_host: "mbx-example".into(),
                    backup_mailbox_hosts: Vec::new(),
                    spam_policy: SpamPolicy::Tag,
                }],
                dns_host: "dns".into(),
                knobs,
                bugs: Vec::new(),
                postmaster: None,
            },
            base_port: 24_000,
            smtp_port_base: 2525,
            smtp_ports: BTreeMap::new(),
            seed: None,
            dns_ttl_ms: 60_000,
            events: true,
        }
    }
}

impl ServeConfig {
    /// Parses a config file's text and validates it.
    pub fn from_json(text: &str) -> Result<ServeConfig, String> {
        let config: ServeConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// The config in `path`, or the default when there is none; validated.
    pub fn load(path: Option<&Path>) -> Result<ServeConfig, String> {
        let Some(path) = path else {
            let config = ServeConfig::default();
            config.validate()?;
            return Ok(config);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        ServeConfig::from_json(&text).map_err(|e| format!("bad config {}: {e}", path.display()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a config always serializes")
    }

    /// Checks everything a node relies on, so bad input is one clear message
    /// up front rather than a node that never answers.
    pub fn validate(&self) -> Result<(), String> {
        crate::serve::validate::check(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_round_trips() {
        let config = ServeConfig::default();
        config.validate().unwrap();
        assert_eq!(ServeConfig::from_json(&config.to_json()).unwrap(), config);
    }

    #[test]
    fn a_file_names_only_what_it_changes() {
        let config = ServeConfig::from_json(r#"{"base_port": 30000, "seed": 7}"#).unwrap();
        assert_eq!(config.base_port, 30_000);
        assert_eq!(config.seed, Some(7));
        assert_eq!(config.gateway, ServeConfig::default().gateway);
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        let top = ServeConfig::from_json(r#"{"base_prot": 30000}"#).unwrap_err();
        assert!(top.contains("unknown field"), "{top}");
        let mut value = serde_json::to_value(ServeConfig::default()).unwrap();
        value["gateway"]["knobs"]["replica_qorum"] = 2.into();
        let nested = ServeConfig::from_json(&value.to_string()).unwrap_err();
        assert!(nested.contains("unknown field"), "{nested}");
    }
}
