//! Topologies drawn per seed (issue 16, item 6), so the rules that depend
//! on the shape of the fleet meet more than one shape: the standard six
//! regions, then, per seed,
//!
//! - a second region of one cloud inside a jurisdiction (`us-east-2` on
//!   aws beside `us-east-1`; `europe-west4` on gcp beside `europe-west3`),
//!   so a rule that counts regions where it means clouds is reachable: two
//!   copies in two regions may still be one cloud;
//! - a jurisdiction with four regions;
//! - uneven gateway and scanner counts per region (one to three gateways,
//!   one or two scanners), so a rule that assumes one gateway per region is
//!   reachable.
//!
//! Every jurisdiction keeps regions on at least two clouds, so one region
//! or one cloud down still leaves a quorum across clouds. Only the swarm
//! family draws these; every other family (and `mailsim run --seed N`)
//! keeps `Topology::standard`.

use std::collections::BTreeMap;

use models::config::Region;

use crate::prng::Prng;
use crate::topology::Topology;

fn region(name: &str, cloud: &str, jurisdiction: &str) -> Region {
    Region {
        name: name.into(),
        cloud: cloud.into(),
        jurisdiction: jurisdiction.into(),
    }
}

impl Topology {
    /// A topology drawn from `prng`: the standard one, perhaps with a
    /// second region of one cloud in a jurisdiction, perhaps a fourth
    /// region, and per-region gateway and scanner counts.
    pub fn drawn(prng: &mut Prng) -> Topology {
        let mut topology = Topology::standard();
        // Same-cloud siblings of a standard region.
        let siblings = [
            region("us-east-2", "aws", "us"),
            region("us-west1", "gcp", "us"),
            region("europe-west4", "gcp", "eu"),
            region("northeurope", "azure", "eu"),
        ];
        let extra = prng.range(0, 3);
        let mut pool: Vec<Region> = siblings.to_vec();
        for _ in 0..extra {
            let index = prng.range(0, pool.len() as u64) as usize;
            topology.regions.push(pool.remove(index));
        }
        let mut gateways = BTreeMap::new();
        let mut scanners = BTreeMap::new();
        for r in &topology.regions {
            // Mostly one gateway, as today; sometimes two or three.
            let count = *prng.pick(&[1, 1, 2, 3]);
            if count != topology.gateways_per_region {
                gateways.insert(r.name.clone(), count);
            }
            let count = *prng.pick(&[1, 1, 2]);
            if count != topology.scanners_per_region {
                scanners.insert(r.name.clone(), count);
            }
        }
        topology.gateways_by_region = gateways;
        topology.scanners_by_region = scanners;
        topology
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn drawn_topologies_reach_same_cloud_pairs_four_region_jurisdictions_and_uneven_counts() {
        let mut same_cloud_pair = false;
        let mut four_regions = false;
        let mut uneven = false;
        for seed in 0..60 {
            let topology = Topology::drawn(&mut Prng::new(seed));
            topology.validate().expect("a drawn topology is valid");
            assert_eq!(topology, Topology::drawn(&mut Prng::new(seed)));
            for jurisdiction in ["us", "eu"] {
                let regions = topology.regions_in(jurisdiction);
                let clouds: BTreeSet<&str> = regions.iter().map(|r| r.cloud.as_str()).collect();
                assert!(clouds.len() >= 2, "seed {seed}: {jurisdiction}");
                same_cloud_pair |= clouds.len() < regions.len();
                four_regions |= regions.len() == 4;
            }
            let counts: BTreeSet<usize> = (topology.regions.iter())
                .map(|r| topology.gateway_hosts(r).len())
                .collect();
            uneven |= counts.len() > 1;
        }
        assert!(same_cloud_pair && four_regions && uneven);
    }
}
