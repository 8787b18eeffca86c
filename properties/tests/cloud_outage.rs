//! Cloud outages: every region of one cloud provider crashes at once (one
//! region per jurisdiction in the standard topology), under load, and
//! heals; sometimes a region of the same cloud fails again on its own.
//! Declared one-cloud, so every property must hold while only one cloud is
//! out. The suite fails if no case crashed a host or caught a sender's
//! session in the outage.

mod common;

use common::{Case, Suite, messages, region, run_suite, seed, timed, topology};
use proptest::prelude::*;
use sim::faults::{FaultKind, FaultModel};

const SUITE: Suite = Suite {
    name: "cloud_outage",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/cloud_outage.txt"
    ),
    rng_seed: 0x0043_4c4f_5544,
};

fn cloud() -> impl Strategy<Value = String> {
    prop::sample::select(topology().clouds())
}

fn fault() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        3 => cloud().prop_map(|cloud| FaultKind::CloudOutage { cloud }),
        1 => region().prop_map(|region| FaultKind::RegionCrash { region }),
    ]
}

fn cases() -> impl Strategy<Value = Case> {
    let first = timed(cloud().prop_map(|cloud| FaultKind::CloudOutage { cloud }));
    let more = prop::collection::vec(timed(fault()), 0..2);
    (seed(), messages(), first, more).prop_map(|(seed, messages, first, more)| {
        let faults = std::iter::once(first).chain(more).collect();
        Case::calm(seed, messages, FaultModel::OneCloud, faults)
    })
}

#[test]
fn a_cloud_outage_loses_nothing_acknowledged_and_keeps_every_promise_inside_the_model() {
    run_suite(&SUITE, cases(), |reached| {
        if reached.host_crashes == 0 {
            Err("no host crashed".into())
        } else if reached.outage_hit_open_session == 0 {
            Err("no sender's session was caught by the outage".into())
        } else {
            Ok(())
        }
    });
}
