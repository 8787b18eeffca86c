//! Swarm: each seed draws its own fault model, mix of fault kinds, number
//! of faults, their lengths and severity (`Family::Swarm`), under a third of
//! the standard load spread over the whole fault phase. The shrinker drops
//! faults from the drawn schedule until only the ones that matter are left.
//! Schedules inside their model must keep every property; beyond it, lose
//! nothing acknowledged and drain. The suite fails unless its cases crashed
//! a host and started at least four kinds of fault between them.

mod common;

use common::{Case, Suite, run_suite, seed};
use proptest::prelude::*;
use sim::scenario::{Family, Scenario};

const SUITE: Suite = Suite {
    name: "swarm",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/swarm.txt"
    ),
    rng_seed: 0x0053_5741_524d,
};

fn cases() -> impl Strategy<Value = Case> {
    seed().prop_flat_map(|seed| {
        let drawn = Scenario::generate_family(seed, Family::Swarm);
        let faults = drawn.faults.faults.clone();
        let count = faults.len();
        prop::sample::subsequence(faults, 1..=count.max(1)).prop_map(move |faults| Case {
            seed,
            family: Family::Swarm,
            thin: 3,
            messages: usize::MAX,
            heal_at_ms: drawn.phases.heal_at_ms,
            model: drawn.faults.model,
            faults,
            torn_write_block_bytes: drawn.faults.torn_write_block_bytes,
            dns_ttl_ms: None,
        })
    })
}

#[test]
fn swarms_of_mixed_faults_lose_nothing_acknowledged_and_keep_every_promise_inside_the_model() {
    run_suite(&SUITE, cases(), |reached| {
        // Breadth is what a swarm is for: its few cases must between them
        // start several kinds of fault. Making mail wait is what the
        // targeted suites (partitions, dependencies, outages) demand; with
        // seventeen kinds to spread over, five swarm cases need not.
        let kinds: std::collections::BTreeSet<&str> = reached
            .faults_started
            .keys()
            .map(|kind| kind.split(':').next().unwrap_or(kind))
            .collect();
        if reached.host_crashes == 0 {
            Err("no host crashed".into())
        } else if kinds.len() < 4 {
            Err(format!(
                "only {} kinds of fault started: {kinds:?}",
                kinds.len()
            ))
        } else {
            Ok(())
        }
    });
}
