//! The RFC 1047 window on the gateway's own hop: when a gateway hands a copy
//! to a mailbox server and then dies, or loses its link, before it has heard
//! and recorded the 250, it must deliver again — losing mail would be worse.
//! That duplicate is excused only when the world really hit the deliverer
//! in that window, judged from the world's own record: a crash of the host
//! that handed the copy over, or a fault over its region, cloud, links or
//! disk active between the copy's arrival and the delivery timeout after it.

use std::collections::BTreeMap;

use traces::{Event, EventKind};

use crate::Facts;

/// Stretches of simulated time (inclusive) during which each gateway host
/// could lose a delivery it had already made.
#[derive(Debug, Default)]
pub struct Hazards {
    by_host: BTreeMap<String, Vec<(u64, u64)>>,
}

impl Hazards {
    pub fn build(events: &[Event], facts: &Facts) -> Hazards {
        let mut hazards = Hazards::default();
        let mut open: BTreeMap<u32, (u64, String, String)> = BTreeMap::new();
        let end_us = events.last().map_or(0, |e| e.t_us);
        let mut faults: Vec<(u64, u64, String, String)> = Vec::new();
        for event in events {
            match &event.kind {
                EventKind::HostCrashed {} => hazards.add(&event.host, event.t_us, event.t_us),
                EventKind::FaultStarted {
                    fault,
                    kind,
                    target,
                } => {
                    open.insert(*fault, (event.t_us, kind.clone(), target.clone()));
                }
                EventKind::FaultEnded { fault } => {
                    if let Some((start, kind, target)) = open.remove(fault) {
                        faults.push((start, event.t_us, kind, target));
                    }
                }
                _ => {}
            }
        }
        faults.extend(
            open.into_values()
                .map(|(start, kind, target)| (start, end_us, kind, target)),
        );
        for (start, end, kind, target) in faults {
            for host in hosts_hit(facts, &kind, &target) {
                hazards.add(&host, start, end);
            }
        }
        hazards
    }

    fn add(&mut self, host: &str, from_us: u64, to_us: u64) {
        self.by_host
            .entry(host.to_string())
            .or_default()
            .push((from_us, to_us));
    }

    /// Whether `host` was hit at any time in `from_us..=to_us`.
    pub fn hit(&self, host: &str, from_us: u64, to_us: u64) -> bool {
        self.by_host
            .get(host)
            .is_some_and(|spans| spans.iter().any(|&(a, b)| a <= to_us && from_us <= b))
    }
}

/// Gateway hosts a fault, as logged (`kind`, `target`), can cut off.
fn hosts_hit(facts: &Facts, kind: &str, target: &str) -> Vec<String> {
    let in_regions = |regions: &[&str]| -> Vec<String> {
        facts
            .host_regions
            .iter()
            .filter(|(_, region)| regions.contains(&region.as_str()))
            .map(|(host, _)| host.clone())
            .collect()
    };
    match kind {
        "region_crash" | "region_isolation" => in_regions(&[target]),
        "partition" | "gray_link" => in_regions(&target.split(',').collect::<Vec<_>>()),
        "cloud_outage" => {
            let regions: Vec<&str> = facts
                .region_clouds
                .iter()
                .filter(|(_, cloud)| cloud.as_str() == target)
                .map(|(region, _)| region.as_str())
                .collect();
            in_regions(&regions)
        }
        "host_crash" | "disk" => vec![target.to_string()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::facts;
    use traces::Log;

    #[test]
    fn a_crash_and_a_region_fault_are_hazards_for_their_hosts_only() {
        let mut log = Log::new();
        log.push(1_000, "gw-eu-a", EventKind::HostCrashed {});
        log.push(
            5_000,
            "world",
            EventKind::FaultStarted {
                fault: 0,
                kind: "region_isolation".into(),
                target: "eu-central-1".into(),
            },
        );
        log.push(9_000, "world", EventKind::FaultEnded { fault: 0 });
        let hazards = Hazards::build(log.events(), &facts());
        assert!(hazards.hit("gw-eu-a", 0, 1_000));
        assert!(!hazards.hit("gw-eu-a", 1_001, 20_000));
        assert!(hazards.hit("gw-eu-b", 8_000, 8_000));
        assert!(!hazards.hit("gw-eu-b", 9_001, 20_000));
    }

    #[test]
    fn a_cloud_outage_hits_the_hosts_of_that_clouds_regions() {
        let mut log = Log::new();
        log.push(
            0,
            "world",
            EventKind::FaultStarted {
                fault: 3,
                kind: "cloud_outage".into(),
                target: "gcp".into(),
            },
        );
        let hazards = Hazards::build(log.events(), &facts());
        assert!(hazards.hit("gw-eu-b", 10, 10));
        assert!(!hazards.hit("gw-eu-a", 10, 10));
    }
}
