//! Host crashes and restarts: gateways (and sometimes scanners) crash at
//! any instant of the load — unsynced writes and directory entries are lost,
//! and, when the case switches torn writes on, unsynced writes may survive
//! as a prefix of whole blocks — then boot again from their disks. A crash
//! is part of its region's failure, so crashes in one region at a time stay
//! inside the model and every property must hold; a crash between the fsync
//! and the 250 may only cost the RFC 1047 duplicate. The suite fails if no
//! case ever restarted a host or left a sender with an indefinite reply.

mod common;

use common::{Case, Suite, at_ms, gateway_host, messages, run_suite, seed, timed, topology};
use proptest::prelude::*;
use sim::faults::{Fault, FaultKind, FaultModel};

const SUITE: Suite = Suite {
    name: "crashes",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/crashes.txt"
    ),
    rng_seed: 0x0043_5241_5348,
};

const MID_DELIVERY: Suite = Suite {
    name: "crash_mid_delivery",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/crash_mid_delivery.txt"
    ),
    rng_seed: 0x4d49_4444_454c,
};

fn scanner_host() -> impl Strategy<Value = String> {
    let topology = topology();
    let hosts: Vec<String> = (topology.regions.iter())
        .flat_map(|r| topology.scanner_hosts(r))
        .collect();
    prop::sample::select(hosts)
}

fn crash() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        4 => gateway_host().prop_map(|host| FaultKind::HostCrash { host }),
        1 => scanner_host().prop_map(|host| FaultKind::HostCrash { host }),
    ]
}

/// Torn writes off (what it shrinks to) or on, at a sector or a page.
fn torn_writes() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), Just(Some(512)), Just(Some(4_096))]
}

fn cases() -> impl Strategy<Value = Case> {
    let crashes = prop::collection::vec(timed(crash()), 1..4);
    (seed(), messages(), crashes, torn_writes()).prop_map(|(seed, messages, faults, torn)| {
        let mut case = Case::calm(seed, messages, FaultModel::OneRegion, faults);
        case.torn_write_block_bytes = torn;
        case
    })
}

#[test]
fn host_crashes_lose_nothing_acknowledged_and_keep_every_promise_inside_the_model() {
    run_suite(&SUITE, cases(), |reached| {
        if reached.indefinite_outcomes + reached.host_restarts > 0 {
            Ok(())
        } else {
            Err("no host restarted and no reply was lost".into())
        }
    });
}

/// Many short gateway crashes: enough that some land while the crashed
/// gateway's own delivery to a mailbox server is in flight (final dot sent,
/// 250 not yet recorded), the RFC 1047 window of the delivery hop.
#[test]
fn a_gateway_crash_during_its_own_delivery_does_not_deliver_twice() {
    let crash =
        (at_ms(), 300u64..1_500, gateway_host()).prop_map(|(at_ms, duration_ms, host)| Fault {
            at_ms,
            duration_ms,
            kind: FaultKind::HostCrash { host },
        });
    let cases = (seed(), messages(), prop::collection::vec(crash, 1..7)).prop_map(
        |(seed, messages, faults)| Case::calm(seed, messages, FaultModel::OneRegion, faults),
    );
    run_suite(&MID_DELIVERY, cases, |reached| {
        if reached.host_restarts > 0 {
            Ok(())
        } else {
            Err("no host restarted".into())
        }
    });
}
