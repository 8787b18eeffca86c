//! Region outages: a whole region crashes (unsynced writes lost) or is cut
//! off from everything else, under load, and heals. Inside the one-region
//! model every property must hold; overlapping outages go beyond it, where
//! nothing acknowledged may still be lost and everything must drain. The
//! suite fails if no case ever caught a session in flight or crashed a host.

mod common;

use common::{Case, Suite, messages, region, run_suite, seed, timed};
use proptest::prelude::*;
use sim::faults::{FaultKind, FaultModel};

const SUITE: Suite = Suite {
    name: "region_outage",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/region_outage.txt"
    ),
    rng_seed: 0x5245_4749_4f4e,
};

fn outage() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        region().prop_map(|region| FaultKind::RegionCrash { region }),
        region().prop_map(|region| FaultKind::RegionIsolation { region }),
    ]
}

fn cases() -> impl Strategy<Value = Case> {
    (
        seed(),
        messages(),
        prop::collection::vec(timed(outage()), 1..3),
    )
        .prop_map(|(seed, messages, faults)| {
            Case::calm(seed, messages, FaultModel::OneRegion, faults)
        })
}

#[test]
fn region_outages_lose_nothing_acknowledged_and_keep_every_promise_inside_the_model() {
    run_suite(&SUITE, cases(), |reached| {
        if reached.outage_hit_open_session + reached.host_crashes > 0 {
            Ok(())
        } else {
            Err("no outage hit an open session and no host crashed".into())
        }
    });
}
