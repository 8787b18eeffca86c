//! The deployment the simulation builds: regions on clouds in jurisdictions,
//! the hosts in each, and the latency between them.
//!
//! Host names carry role, cloud and region (`gw-aws-us-east-1-0`), so one
//! regular expression selects a whole region or a whole cloud for a fault.
//! The control plane lives in regions too (`ctl-gcp-europe-west3-0`), so
//! region and cloud outages hit it like anything else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use models::config::Region;

mod drawn;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub regions: Vec<Region>,
    pub gateways_per_region: u32,
    pub scanners_per_region: u32,
    /// Regions whose gateway count is not `gateways_per_region` (drawn
    /// topologies). Omitted from the JSON when empty, so scenarios saved
    /// before it existed keep their hash.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gateways_by_region: BTreeMap<String, u32>,
    /// The same for scanners.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scanners_by_region: BTreeMap<String, u32>,
    pub latency_ms_intra: u64,
    pub latency_ms_inter: u64,
    pub latency_ms_cross_jurisdiction: u64,
}

impl Topology {
    /// SPEC's standard topology: three clouds, US and EU, one region per cloud
    /// in each, so any one region or cloud can fail and every tenant still has
    /// regions on two clouds.
    pub fn standard() -> Topology {
        let region = |name: &str, cloud: &str, jurisdiction: &str| Region {
            name: name.into(),
            cloud: cloud.into(),
            jurisdiction: jurisdiction.into(),
        };
        Topology {
            regions: vec![
                region("us-east-1", "aws", "us"),
                region("us-central1", "gcp", "us"),
                region("eastus", "azure", "us"),
                region("eu-west-1", "aws", "eu"),
                region("europe-west3", "gcp", "eu"),
                region("westeurope", "azure", "eu"),
            ],
            gateways_per_region: 1,
            scanners_per_region: 1,
            gateways_by_region: BTreeMap::new(),
            scanners_by_region: BTreeMap::new(),
            latency_ms_intra: 1,
            latency_ms_inter: 20,
            latency_ms_cross_jurisdiction: 45,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.regions.is_empty() {
            return Err("topology needs at least one region".into());
        }
        if self.gateways_per_region == 0 {
            return Err("topology.gateways_per_region must be at least 1".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for region in &self.regions {
            if !names.insert(region.name.as_str()) {
                return Err(format!("region {} appears twice", region.name));
            }
            let valid = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            };
            if !valid(&region.name) || !valid(&region.cloud) || !valid(&region.jurisdiction) {
                return Err(format!(
                    "region {:?}: names must be lowercase letters, digits and '-'",
                    region.name
                ));
            }
            if region.cloud.contains('-') {
                return Err(format!("cloud {:?} must not contain '-'", region.cloud));
            }
        }
        for (what, counts) in [
            ("gateways_by_region", &self.gateways_by_region),
            ("scanners_by_region", &self.scanners_by_region),
        ] {
            for (name, count) in counts {
                if self.region(name).is_none() {
                    return Err(format!("topology.{what} names unknown region {name:?}"));
                }
                if what == "gateways_by_region" && *count == 0 {
                    return Err(format!("topology.{what}: region {name} needs a gateway"));
                }
            }
        }
        // Scanning is fail-closed: a jurisdiction without a scanner could
        // deliver nothing, and its queued mail would read as lost.
        for region in &self.regions {
            let jurisdiction = &region.jurisdiction;
            let scanners: usize = (self.regions.iter())
                .filter(|r| r.jurisdiction == *jurisdiction)
                .map(|r| self.scanner_hosts(r).len())
                .sum();
            if scanners == 0 {
                return Err(format!(
                    "topology: jurisdiction {jurisdiction} has no scanner \
                     (scanners_per_region or scanners_by_region)"
                ));
            }
        }
        if self.latency_ms_intra == 0 {
            return Err("topology.latency_ms_intra must be at least 1".into());
        }
        Ok(())
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    pub fn clouds(&self) -> Vec<String> {
        let mut clouds: Vec<String> = self.regions.iter().map(|r| r.cloud.clone()).collect();
        clouds.sort();
        clouds.dedup();
        clouds
    }

    pub fn regions_in(&self, jurisdiction: &str) -> Vec<&Region> {
        self.regions
            .iter()
            .filter(|r| r.jurisdiction == jurisdiction)
            .collect()
    }

    pub fn gateway_hosts(&self, region: &Region) -> Vec<String> {
        let count =
            (self.gateways_by_region.get(&region.name)).unwrap_or(&self.gateways_per_region);
        (0..*count).map(|i| region_host("gw", region, i)).collect()
    }

    pub fn scanner_hosts(&self, region: &Region) -> Vec<String> {
        let count =
            (self.scanners_by_region.get(&region.name)).unwrap_or(&self.scanners_per_region);
        (0..*count)
            .map(|i| region_host("scan", region, i))
            .collect()
    }

    /// Regions that run a control-plane host: one per jurisdiction, each on
    /// a cloud not used yet, and at least two clouds if the topology has
    /// them, so neither one region nor one cloud can take steering down.
    pub fn control_regions(&self) -> Vec<&Region> {
        let mut chosen: Vec<&Region> = Vec::new();
        let unused_cloud =
            |chosen: &[&Region], r: &Region| chosen.iter().all(|c| c.cloud != r.cloud);
        let mut jurisdictions: Vec<&str> = Vec::new();
        for region in &self.regions {
            if !jurisdictions.contains(&region.jurisdiction.as_str()) {
                jurisdictions.push(&region.jurisdiction);
            }
        }
        for jurisdiction in jurisdictions {
            if let Some(region) = self
                .regions
                .iter()
                .find(|r| r.jurisdiction == jurisdiction && unused_cloud(&chosen, r))
            {
                chosen.push(region);
            }
        }
        if chosen.len() < 2
            && let Some(region) = self.regions.iter().find(|r| unused_cloud(&chosen, r))
        {
            chosen.push(region);
        }
        if chosen.is_empty() {
            chosen.extend(self.regions.first());
        }
        chosen
    }

    pub fn control_hosts(&self, region: &Region) -> Vec<String> {
        if self.control_regions().iter().any(|r| r.name == region.name) {
            vec![region_host("ctl", region, 0)]
        } else {
            Vec::new()
        }
    }

    /// Every host that lives in `region`.
    pub fn hosts_in_region(&self, region: &Region) -> Vec<String> {
        let mut hosts = self.gateway_hosts(region);
        hosts.extend(self.scanner_hosts(region));
        hosts.extend(self.control_hosts(region));
        hosts
    }

    /// The region a host lives in (None for hosts outside the gateway).
    pub fn region_of_host(&self, host: &str) -> Option<&Region> {
        self.regions
            .iter()
            .find(|region| self.hosts_in_region(region).iter().any(|h| h == host))
    }

    /// One-way latency between two hosts' regions (None = outside: intra).
    pub fn latency_ms(&self, a: Option<&Region>, b: Option<&Region>) -> u64 {
        match (a, b) {
            (Some(a), Some(b)) if a.name == b.name => self.latency_ms_intra,
            (Some(a), Some(b)) if a.jurisdiction == b.jurisdiction => self.latency_ms_inter,
            (Some(_), Some(_)) => self.latency_ms_cross_jurisdiction,
            // Senders, DNS and mailboxes sit "on the internet": one inter hop.
            _ => self.latency_ms_inter,
        }
    }
}

/// `role-cloud-region-index`, e.g. `gw-aws-us-east-1-0`.
pub fn region_host(role: &str, region: &Region, index: u32) -> String {
    format!("{role}-{}-{}-{index}", region.cloud, region.name)
}

/// Regex that selects every host of a region.
pub fn region_selector(region: &Region) -> String {
    format!(
        "^[a-z]+-{}-{}-[0-9]+$",
        regex::escape(&region.cloud),
        regex::escape(&region.name)
    )
}

/// Regex that selects every host of a cloud.
pub fn cloud_selector(cloud: &str) -> String {
    format!("^[a-z]+-{}-.+-[0-9]+$", regex::escape(cloud))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_jurisdiction_spans_three_clouds_in_the_standard_topology() {
        let topology = Topology::standard();
        for jurisdiction in ["us", "eu"] {
            let mut clouds: Vec<_> = topology
                .regions_in(jurisdiction)
                .iter()
                .map(|r| r.cloud.clone())
                .collect();
            clouds.dedup();
            assert_eq!(clouds.len(), 3, "{jurisdiction}");
        }
    }

    #[test]
    fn a_jurisdiction_without_a_scanner_is_refused_and_one_region_without_is_not() {
        let mut topology = Topology::standard();
        topology.scanners_by_region.insert("us-east-1".into(), 0);
        assert_eq!(topology.validate(), Ok(()));
        topology.scanners_per_region = 0;
        topology.scanners_by_region.insert("eastus".into(), 1);
        let error = topology.validate().unwrap_err();
        assert!(error.contains("jurisdiction eu has no scanner"), "{error}");
        topology.scanners_per_region = 1;
        topology.scanners_by_region.insert("us-central1".into(), 0);
        assert_eq!(topology.validate(), Ok(()));
    }

    #[test]
    fn the_control_plane_spans_two_clouds_and_both_jurisdictions() {
        let topology = Topology::standard();
        let hosts: Vec<String> = topology
            .regions
            .iter()
            .flat_map(|r| topology.control_hosts(r))
            .collect();
        assert_eq!(hosts, vec!["ctl-aws-us-east-1-0", "ctl-gcp-europe-west3-0"]);
        let eu = topology.region("europe-west3").unwrap();
        assert!(topology.hosts_in_region(eu).contains(&hosts[1]));
    }

    #[test]
    fn a_region_selector_matches_its_hosts_and_no_other() {
        let topology = Topology::standard();
        let aws_us = topology.region("us-east-1").unwrap();
        let selector = regex::Regex::new(&region_selector(aws_us)).unwrap();
        for region in &topology.regions {
            for host in topology.hosts_in_region(region) {
                assert_eq!(
                    selector.is_match(&host),
                    region.name == "us-east-1",
                    "{host}"
                );
            }
        }
        let cloud = regex::Regex::new(&cloud_selector("aws")).unwrap();
        assert!(cloud.is_match("gw-aws-eu-west-1-0"));
        assert!(!cloud.is_match("gw-gcp-us-central1-0"));
        assert!(!cloud.is_match("mta-0"));
    }
}
