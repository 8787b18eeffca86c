//! What the swarm borrows from the targeted families, on a share of its
//! seeds: a queue lifetime short enough that mail expires inside the fault
//! phase (the bounces family's timers), and every scanner of one
//! jurisdiction out at once (the scanner-outage family's shape).
//!
//! Why: the swarm's own draw never expires mail (its queue lifetime is
//! the default, far past the run) and takes scanners down one region at a
//! time, so the DSN and expiry bugs and the fail-closed scanning bugs were
//! never found from it (`mailsim bench explore`: none of six in 60 random
//! swarm runs). Swarm testing's point is that any seed may meet any corner;
//! these two were walled off.
//!
//! Drawn from a generator of its own (`derive_seed(seed, "swarm_extremes")`),
//! after everything else, so a seed that draws neither is the scenario it
//! was before they existed.

use crate::faults::{FaultSchedule, families};
use crate::prng::Prng;
use crate::scenario::bounce_knobs;
use crate::topology::Topology;
use models::config::Knobs;

/// Share of swarm seeds whose mail may expire inside the run.
const SHORT_QUEUE_LIFETIME_PERCENT: u64 = 15;

/// Share of swarm seeds with every scanner of one jurisdiction down at once.
const JURISDICTION_SCANNERS_DOWN_PERCENT: u64 = 10;

/// Applies this seed's extremes, if it draws any, to `knobs` and `schedule`.
pub fn add(
    prng: &mut Prng,
    topology: &Topology,
    knobs: &mut Knobs,
    schedule: &mut FaultSchedule,
    heal_at_ms: u64,
) {
    let short_lifetime = prng.percent(SHORT_QUEUE_LIFETIME_PERCENT);
    let scanners_down = prng.percent(JURISDICTION_SCANNERS_DOWN_PERCENT);
    if short_lifetime {
        bounce_knobs(prng, knobs);
    }
    if scanners_down {
        let outage = families::scanner_outage(prng, topology, heal_at_ms);
        schedule.faults.extend(outage.faults);
        schedule.faults.sort_by_key(|f| f.at_ms);
    }
}

#[cfg(test)]
mod tests {
    use crate::faults::FaultKind;
    use crate::scenario::{Family, Scenario};

    #[test]
    fn some_swarm_seeds_expire_mail_and_some_lose_a_jurisdictions_scanners() {
        let default_lifetime = models::config::Knobs::simulation_defaults().queue_lifetime_ms;
        let (mut short, mut scanners_down) = (0, 0);
        for seed in 0..200 {
            let scenario = Scenario::generate_family(seed, Family::Swarm);
            if scenario.knobs.queue_lifetime_ms < default_lifetime {
                short += 1;
                assert!(scenario.knobs.queue_lifetime_ms <= 8_000);
            }
            let outages: Vec<&String> = scenario
                .faults
                .faults
                .iter()
                .filter_map(|f| match &f.kind {
                    FaultKind::ScannerOutage { region } => Some(region),
                    _ => None,
                })
                .collect();
            let jurisdictions_all_down = scenario
                .topology
                .regions
                .iter()
                .map(|r| &r.jurisdiction)
                .any(|j| {
                    scenario
                        .topology
                        .regions_in(j)
                        .iter()
                        .all(|r| outages.contains(&&r.name))
                });
            scanners_down += usize::from(jurisdictions_all_down);
            assert!(scenario.faults.faults.is_sorted_by_key(|f| f.at_ms));
        }
        // 15% and 10% of 200, give or take what chance does.
        assert!((15..=50).contains(&short), "{short} short lifetimes");
        assert!((8..=40).contains(&scanners_down), "{scanners_down} seeds");
    }

    #[test]
    fn the_other_families_draw_no_extremes() {
        for seed in 0..50 {
            let scenario = Scenario::generate_family(seed, Family::RegionOutage);
            let default = models::config::Knobs::simulation_defaults();
            assert_eq!(scenario.knobs.queue_lifetime_ms, default.queue_lifetime_ms);
        }
    }
}
