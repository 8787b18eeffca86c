//! Disks that fail the ways real disks do (issue 16, item 4): each mode of
//! the `disk` fault visibly changes a run, on every engine in this build,
//! the correct gateway keeps every promise under it, and the catalogue bug
//! it exists for is caught by its property on the same schedule.
//!
//! - read errors and corrupted reads: the owner cannot read its copy (or
//!   the checksum refuses what it read), so delivery waits; delivered
//!   bytes stay the sender's (`spool-trusts-reads` breaks `integrity`);
//! - a failed fsync that forgets the dirty pages: 451 while it lasts
//!   (`fsync-retry-trusted` acknowledges bytes that are on no disk, and
//!   `ack_durable` sees it at the instant of the 250);
//! - ENOSPC halfway through a write: the cut-short file holds the message's
//!   first bytes, the sender hears 451, and no copy of it is ever mail
//!   (`short-write-ignored` acknowledges the cut copy);
//! - a slow disk: fsyncs complete 800 ms late, so the 250s come later, never
//!   before the bytes are durable (`slow-fsync-assumed-done` answers after
//!   500 ms, and `ack_durable` sees it at the instant of the 250);
//! - the spool directory's name needs its parent synced
//!   (`no-parent-dir-sync` breaks `ack_durable` with no fault at all).

use properties::Sometimes;
use sim::deploy;
use sim::engine::Engine;
use sim::faults::{DiskMode, Fault, FaultKind};
use sim::run::{RunOutcome, Verdict};
use sim::scenario::{Family, Scenario};
use traces::{EventKind, Presence};

/// A calm scenario cut down to its first 16 messages, healed at 20 s.
fn small(seed: u64) -> Scenario {
    let mut scenario = Scenario::generate_family(seed, Family::Calm);
    scenario.workload.messages.truncate(16);
    scenario.phases.heal_at_ms = 20_000;
    scenario.validate().expect("the cut-down scenario is valid");
    scenario
}

/// The first MX host of acme's domain: it accepts, and so owns, acme's mail.
fn first_mx(scenario: &Scenario) -> String {
    let config = deploy::gateway_config(scenario);
    let domain = &config.tenant("acme").expect("tenant").domain;
    let directory = deploy::mx_directory(scenario, &config);
    directory.hosts(domain).expect("MX hosts")[0].clone()
}

/// Seed 12's first 16 messages bring acme mail to its first MX within the
/// first 8 s (the disk faults of `sim/tests/faults.rs` use it too).
///
/// `scenario` with the first MX's disk in `mode` from `at_ms` for `duration_ms`.
fn with_disk_fault(scenario: &Scenario, mode: DiskMode, at_ms: u64, duration_ms: u64) -> Scenario {
    with_faults(
        scenario,
        vec![Fault {
            at_ms,
            duration_ms,
            kind: FaultKind::Disk {
                host: first_mx(scenario),
                mode,
            },
        }],
    )
}

fn with_faults(scenario: &Scenario, faults: Vec<Fault>) -> Scenario {
    let mut faulted = scenario.clone();
    faulted.faults.faults = faults;
    faulted.validate().expect("the faulted scenario is valid");
    faulted
}

fn with_bug(scenario: &Scenario, bug: &str) -> Scenario {
    let mut buggy = scenario.clone();
    buggy.bugs = vec![bug.to_string()];
    buggy
}

fn engines() -> Vec<Engine> {
    [Engine::Turmoil, Engine::Madsim]
        .into_iter()
        .filter(|e| e.available())
        .collect()
}

fn passes(engine: Engine, scenario: &Scenario) -> RunOutcome {
    let outcome = sim::run::run_on(engine, scenario, scenario.seed);
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{engine}: {}",
        outcome.summary()
    );
    assert_eq!(outcome.counts.still_queued, 0, "{engine}");
    outcome
}

fn violated(engine: Engine, scenario: &Scenario) -> Vec<String> {
    let outcome = sim::run::run_on(engine, scenario, scenario.seed);
    outcome
        .report
        .violations
        .iter()
        .map(|v| v.property.clone())
        .collect()
}

/// `gw_note` details of kind `what` from `host`, with their time in ms.
fn notes(outcome: &RunOutcome, host: &str, what: &str) -> Vec<(u64, String)> {
    (outcome.log.events().iter())
        .filter(|e| e.host == host)
        .filter_map(|e| match &e.kind {
            EventKind::GwNote { what: w, detail } if w == what => {
                Some((e.t_us / 1_000, detail.clone()))
            }
            _ => None,
        })
        .collect()
}

fn deferred_by(outcome: &RunOutcome, host: &str) -> Vec<(u64, String)> {
    (outcome.log.events().iter())
        .filter(|e| e.host == host)
        .filter_map(|e| match &e.kind {
            EventKind::GwDeferred { reason, .. } => Some((e.t_us / 1_000, reason.clone())),
            _ => None,
        })
        .collect()
}

fn sometimes(outcome: &RunOutcome) -> &Sometimes {
    &outcome.report.sometimes
}

#[test]
fn a_disk_that_fails_reads_holds_delivery_back_until_it_recovers() {
    // acme's first MX accepts (writes work) but cannot read its copies
    // back to scan and deliver them until the disk recovers.
    for engine in engines() {
        let scenario = small(21);
        let calm = passes(engine, &scenario);
        let faulted = with_disk_fault(&scenario, DiskMode::ReadError, 0, 12_000);
        let host = first_mx(&scenario);
        let outcome = passes(engine, &faulted);
        assert_ne!(outcome.digest, calm.digest, "{engine}");
        let failed = notes(&outcome, &host, "spool_read_failed");
        assert!(!failed.is_empty(), "{engine}: {}", outcome.summary());
        for (t_ms, detail) in &failed {
            assert!(detail.contains("input/output error"), "{detail}");
            assert!(*t_ms < 12_000, "{engine}: read failed at {t_ms} ms");
        }
        assert!(sometimes(&outcome).storage_errors > 0, "{engine}");
    }
}

#[test]
fn a_corrupted_read_is_refused_by_the_checksum_and_a_spool_that_trusts_it_delivers_it() {
    for engine in engines() {
        let scenario = small(22);
        let host = first_mx(&scenario);
        let faulted = with_disk_fault(&scenario, DiskMode::CorruptRead, 0, 12_000);
        let outcome = passes(engine, &faulted);
        let refused = notes(&outcome, &host, "spool_read_failed");
        assert!(!refused.is_empty(), "{engine}: {}", outcome.summary());
        assert!(
            refused
                .iter()
                .any(|(_, d)| d.contains("spool record corrupt")),
            "{engine}: {refused:?}"
        );
        // The same schedule with the checksum ignored hands a mailbox bytes
        // no sender sent.
        let buggy = violated(engine, &with_bug(&faulted, "spool-trusts-reads"));
        assert!(
            buggy.iter().any(|p| p == "integrity"),
            "{engine}: {buggy:?}"
        );
    }
}

#[test]
fn a_failed_fsync_forgets_its_pages_so_believing_the_retry_acknowledges_nothing_durable() {
    for engine in engines() {
        let scenario = small(12);
        let host = first_mx(&scenario);
        let calm = passes(engine, &scenario);
        // The first MX's region is also cut off from acme's third MX's, so
        // its 250s lean on the one replica it reaches: a third copy would
        // make the quorum without the first MX's own.
        let topology = &scenario.topology;
        let config = deploy::gateway_config(&scenario);
        let domain = &config.tenant("acme").expect("tenant").domain;
        let mx = deploy::mx_directory(&scenario, &config);
        let third = &mx.hosts(domain).expect("MX hosts")[2];
        let region_of = |h: &str| topology.region_of_host(h).expect("a region").name.clone();
        let mut faults = with_disk_fault(&scenario, DiskMode::FsyncForgets, 0, 8_000)
            .faults
            .faults;
        faults.push(Fault {
            at_ms: 0,
            duration_ms: 8_000,
            kind: FaultKind::Partition {
                from: region_of(&host),
                to: region_of(third),
                one_way: false,
            },
        });
        let faulted = with_faults(&scenario, faults);
        let outcome = passes(engine, &faulted);
        assert_ne!(outcome.digest, calm.digest, "{engine}");
        let deferred = deferred_by(&outcome, &host);
        assert!(!deferred.is_empty(), "{engine}: {}", outcome.summary());
        for (t_ms, reason) in &deferred {
            assert!(reason.contains("fsync failed"), "{reason}");
            assert!(*t_ms < 8_000, "{engine}: deferred at {t_ms} ms");
        }
        let buggy = violated(engine, &with_bug(&faulted, "fsync-retry-trusted"));
        assert!(
            buggy.iter().any(|p| p == "ack_durable"),
            "{engine}: {buggy:?}"
        );
        // Without the fault the retry never happens: the bug is invisible.
        let unfaulted = violated(engine, &with_bug(&scenario, "fsync-retry-trusted"));
        assert!(unfaulted.is_empty(), "{engine}: {unfaulted:?}");
    }
}

#[test]
fn enospc_halfway_through_a_write_leaves_a_cut_short_copy_that_is_never_mail() {
    for engine in engines() {
        let scenario = small(12);
        let host = first_mx(&scenario);
        let faulted = with_disk_fault(&scenario, DiskMode::FullMidWrite, 0, 8_000);
        let outcome = passes(engine, &faulted);
        let deferred = deferred_by(&outcome, &host);
        assert!(!deferred.is_empty(), "{engine}: {}", outcome.summary());
        for (_, reason) in &deferred {
            assert!(reason.contains("no space left on device"), "{reason}");
        }
        // The first half of the message reached the disk: the seam saw its
        // Message-ID stored there, on a host that then answered 451.
        let stored_early = outcome.log.events().iter().any(|e| {
            e.host == host
                && e.t_us < 8_000_000
                && matches!(&e.kind, EventKind::BytesSeen { presence: Presence::Stored, place, .. }
                    if place.ends_with(".msg"))
        });
        assert!(stored_early, "{engine}: no cut-short copy was written");
        let buggy = violated(engine, &with_bug(&faulted, "short-write-ignored"));
        assert!(!buggy.is_empty(), "{engine}: the cut copy went unseen");
        // Without ENOSPC every write is whole: the bug is invisible.
        let unfaulted = violated(engine, &with_bug(&scenario, "short-write-ignored"));
        assert!(unfaulted.is_empty(), "{engine}: {unfaulted:?}");
    }
}

/// `scenario` with the first MX's disk in `mode` for the first 8 s, its
/// region cut off from the third MX's meanwhile: a 250 then needs the
/// first MX's own copy (a third copy would make the quorum without it).
fn leaning_on_own_copy(scenario: &Scenario, mode: DiskMode) -> Scenario {
    let host = first_mx(scenario);
    let config = deploy::gateway_config(scenario);
    let domain = &config.tenant("acme").expect("tenant").domain;
    let mx = deploy::mx_directory(scenario, &config);
    let third = &mx.hosts(domain).expect("MX hosts")[2];
    let topology = &scenario.topology;
    let region_of = |h: &str| topology.region_of_host(h).expect("a region").name.clone();
    let mut faults = with_disk_fault(scenario, mode, 0, 8_000).faults.faults;
    faults.push(Fault {
        at_ms: 0,
        duration_ms: 8_000,
        kind: FaultKind::Partition {
            from: region_of(&host),
            to: region_of(third),
            one_way: false,
        },
    });
    with_faults(scenario, faults)
}

/// Times (ms) at which `host` told a sender 250.
fn accepted_by(outcome: &RunOutcome, host: &str) -> Vec<u64> {
    (outcome.log.events().iter())
        .filter(|e| e.host == host && matches!(e.kind, EventKind::GwAccepted { .. }))
        .map(|e| e.t_us / 1_000)
        .collect()
}

#[test]
fn a_slow_disk_delays_every_250_until_its_fsync_is_done_and_a_gateway_that_stops_waiting_is_caught()
{
    for engine in engines() {
        let scenario = small(12);
        let host = first_mx(&scenario);
        let calm = passes(engine, &scenario);
        // As for fsync_forgets: the first MX's region is cut off from the
        // third MX's, so its 250s lean on its own (slow) copy.
        let faulted = leaning_on_own_copy(&scenario, DiskMode::Slow);
        let outcome = passes(engine, &faulted);
        assert_ne!(outcome.digest, calm.digest, "{engine}");
        // Each 250 of the slow host waits for the fsyncs before it to
        // complete: its first comes 800 ms later at least.
        let (before, after) = (accepted_by(&calm, &host), accepted_by(&outcome, &host));
        assert!(!before.is_empty() && !after.is_empty(), "{engine}");
        assert!(
            after[0] >= before[0] + 800,
            "{engine}: first 250 at {} ms, {} ms without the slow disk",
            after[0],
            before[0]
        );
        let buggy = violated(engine, &with_bug(&faulted, "slow-fsync-assumed-done"));
        assert!(
            buggy.iter().any(|p| p == "ack_durable"),
            "{engine}: {buggy:?}"
        );
        // A disk that is not slow is done before the patience runs out.
        let unfaulted = violated(engine, &with_bug(&scenario, "slow-fsync-assumed-done"));
        assert!(unfaulted.is_empty(), "{engine}: {unfaulted:?}");
    }
}

#[test]
fn a_spool_directory_whose_own_name_was_never_synced_acknowledges_nothing_durable() {
    for engine in engines() {
        let scenario = small(25);
        let buggy = violated(engine, &with_bug(&scenario, "no-parent-dir-sync"));
        assert!(!buggy.is_empty(), "{engine}: the bug went unseen");
        assert!(
            buggy.iter().all(|p| p == "ack_durable"),
            "{engine}: {buggy:?}"
        );
        // With the parent synced, every 250 rests on durable copies.
        passes(engine, &scenario);
    }
}
