//! Disk faults: a gateway's disk fails every fsync (EIO, data left unsynced),
//! is full (ENOSPC on every write), fails reads (EIO), returns reads with a
//! flipped bit, drops the dirty pages of a failed fsync, or stops writes
//! halfway (ENOSPC) for a while, sometimes followed by a
//! crash of the same host, which loses whatever a failed fsync left
//! unsynced. The gateway must answer 4xx rather than acknowledge what it
//! could not make durable, and must not let a failed write turn into lost or
//! doubled mail. One host's disk is part of its region's failure, so the
//! model holds while faults stay in one region. The suite fails if no case
//! ever made a gateway hit a disk error.

mod common;

use common::{Case, Suite, at_ms, duration_ms, gateway_host, messages, run_suite, seed};
use properties::Sometimes;
use proptest::prelude::*;
use sim::faults::{DiskMode, Fault, FaultKind, FaultModel};

const SUITE: Suite = Suite {
    name: "disk",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/disk.txt"
    ),
    rng_seed: 0x4449_534b,
};

const THEN_CRASH: Suite = Suite {
    name: "disk_then_crash",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/disk_then_crash.txt"
    ),
    rng_seed: 0x4449_534b_4352,
};

/// Every way a disk fails (`honest_disk.rs` for the newer ones).
fn mode() -> impl Strategy<Value = DiskMode> {
    prop::sample::select(sim::faults::honest_families::DISK_MODES.to_vec())
}

/// A disk fault on one gateway.
fn disk_fault() -> impl Strategy<Value = Fault> {
    (at_ms(), duration_ms(), gateway_host(), mode()).prop_map(|(at_ms, duration_ms, host, mode)| {
        Fault {
            at_ms,
            duration_ms,
            kind: FaultKind::Disk { host, mode },
        }
    })
}

/// A disk fault on one gateway, then a crash of that gateway
/// `crash_after_ms` after the fault ended, before anything else is likely to
/// have synced its spool again (shrinking toward right at the end).
fn disk_fault_then_crash() -> impl Strategy<Value = Vec<Fault>> {
    (disk_fault(), 0u64..1_500, 500u64..3_000).prop_map(|(disk, crash_after_ms, crash_ms)| {
        let FaultKind::Disk { host, .. } = &disk.kind else {
            unreachable!("disk_fault draws disk faults")
        };
        let crash = Fault {
            at_ms: disk.end_ms() + crash_after_ms,
            duration_ms: crash_ms,
            kind: FaultKind::HostCrash { host: host.clone() },
        };
        vec![disk, crash]
    })
}

fn reached_a_disk_error(reached: &Sometimes) -> Result<(), String> {
    if reached.storage_errors > 0 {
        Ok(())
    } else {
        Err("no gateway ever hit a disk error".into())
    }
}

#[test]
fn disk_faults_lose_nothing_acknowledged_and_keep_every_promise_inside_the_model() {
    let cases = (
        seed(),
        messages(),
        prop::collection::vec(disk_fault(), 1..4),
    )
        .prop_map(|(seed, messages, faults)| {
            Case::calm(seed, messages, FaultModel::OneRegion, faults)
        });
    run_suite(&SUITE, cases, reached_a_disk_error);
}

#[test]
fn a_crash_after_a_disk_fault_neither_loses_nor_duplicates_mail() {
    let troubles = prop::collection::vec(disk_fault_then_crash(), 1..3);
    let cases = (seed(), messages(), troubles).prop_map(|(seed, messages, troubles)| {
        let faults = troubles.into_iter().flatten().collect();
        Case::calm(seed, messages, FaultModel::OneRegion, faults)
    });
    run_suite(&THEN_CRASH, cases, |reached| {
        reached_a_disk_error(reached)?;
        if reached.host_restarts > 0 {
            Ok(())
        } else {
            Err("no host restarted".into())
        }
    });
}
