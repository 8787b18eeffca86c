//! Host names to loopback ports. In the simulator every host has its own
//! address and all use the well-known ports (25, 2525, 3310, 53); on one
//! machine they share 127.0.0.1, so each host gets a block of ports and each
//! well-known port an offset in it. Gateways' SMTP ingress is the exception:
//! it gets the port people type into their mail client (2525, 2526, ...).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use models::config::{DNS_PORT, PEER_PORT, SCANNER_PORT, SMTP_PORT};

use crate::serve::config::ServeConfig;
use crate::serve::roles::{self, Role};

/// Ports per host block; room to spare beyond the four services.
pub const BLOCK: u16 = 10;

/// Where a well-known port sits inside a host's block.
fn offset(logical_port: u16) -> Option<u16> {
    match logical_port {
        SMTP_PORT => Some(0),
        PEER_PORT => Some(1),
        SCANNER_PORT => Some(2),
        DNS_PORT => Some(3),
        _ => None,
    }
}

/// The real port of every (host, well-known port) of one deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMap {
    blocks: BTreeMap<String, u32>,
    smtp: BTreeMap<String, u16>,
}

impl PortMap {
    /// Builds the map; errors when a block runs past port 65535.
    pub fn new(config: &ServeConfig) -> Result<PortMap, String> {
        let mut blocks = BTreeMap::new();
        for (index, (host, _)) in roles::hosts(config).iter().enumerate() {
            let start = u32::from(config.base_port) + index as u32 * u32::from(BLOCK);
            if start + u32::from(BLOCK) > 65_536 {
                return Err(format!(
                    "base_port {} leaves no room for the port block of host {host} (number {index})",
                    config.base_port
                ));
            }
            blocks.entry(host.clone()).or_insert(start);
        }
        let mut smtp = BTreeMap::new();
        for (index, node) in config.gateway.gateways.iter().enumerate() {
            let port = match config.smtp_ports.get(&node.host) {
                Some(&port) => u32::from(port),
                None => u32::from(config.smtp_port_base) + index as u32,
            };
            let port = u16::try_from(port).map_err(|_| {
                format!(
                    "smtp_port_base {} leaves no SMTP port for gateway {}",
                    config.smtp_port_base, node.host
                )
            })?;
            smtp.insert(node.host.clone(), port);
        }
        Ok(PortMap { blocks, smtp })
    }

    /// The real port behind `host:logical_port`, if there is one.
    pub fn port(&self, host: &str, logical_port: u16) -> Option<u16> {
        if logical_port == SMTP_PORT
            && let Some(&port) = self.smtp.get(host)
        {
            return Some(port);
        }
        let start = self.blocks.get(host)?;
        u16::try_from(start + u32::from(offset(logical_port)?)).ok()
    }

    /// `127.0.0.1:<port>` for `host:logical_port`.
    pub fn addr(&self, host: &str, logical_port: u16) -> Option<SocketAddr> {
        let port = self.port(host, logical_port)?;
        Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// The SMTP ingress port of a gateway.
    pub fn smtp(&self, gateway: &str) -> Option<u16> {
        self.smtp.get(gateway).copied()
    }

    /// Every port some host listens on: (host, well-known port, real port).
    pub fn listening(&self, config: &ServeConfig) -> Vec<(String, u16, u16)> {
        let mut out = Vec::new();
        for (host, role) in roles::hosts(config) {
            let logical: &[u16] = match role {
                Role::Gateway => &[SMTP_PORT, PEER_PORT],
                Role::Scanner => &[SCANNER_PORT],
                Role::Dns => &[DNS_PORT],
                Role::Mailbox { .. } => &[SMTP_PORT],
            };
            for &port in logical {
                if let Some(real) = self.port(&host, port) {
                    out.push((host.clone(), port, real));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_get_blocks_and_gateways_their_smtp_ports() {
        let config = ServeConfig::default();
        let ports = PortMap::new(&config).unwrap();
        assert_eq!(ports.port("gw-a", SMTP_PORT), Some(2525));
        assert_eq!(ports.port("gw-b", SMTP_PORT), Some(2526));
        assert_eq!(ports.port("gw-a", PEER_PORT), Some(24_001));
        assert_eq!(ports.port("gw-b", PEER_PORT), Some(24_011));
        assert_eq!(ports.port("gw-c", SMTP_PORT), Some(2527));
        assert_eq!(ports.port("scan-a", SCANNER_PORT), Some(24_032));
        assert_eq!(ports.port("dns", DNS_PORT), Some(24_063));
        assert_eq!(ports.port("mbx-example", SMTP_PORT), Some(24_070));
        assert_eq!(ports.port("nobody", SMTP_PORT), None);
        assert_eq!(ports.port("gw-a", 8080), None);
        assert_eq!(ports.listening(&config).len(), 11);
    }

    #[test]
    fn explicit_smtp_ports_win_and_overflow_is_an_error() {
        let mut config = ServeConfig::default();
        config.smtp_ports.insert("gw-b".into(), 2600);
        let ports = PortMap::new(&config).unwrap();
        assert_eq!(ports.smtp("gw-a"), Some(2525));
        assert_eq!(ports.smtp("gw-b"), Some(2600));
        config.base_port = 65_500;
        assert!(PortMap::new(&config).unwrap_err().contains("base_port"));
        config.base_port = 24_000;
        config.smtp_ports.clear();
        config.smtp_port_base = 65_534;
        assert!(PortMap::new(&config).unwrap_err().contains("gw-c"));
    }
}
