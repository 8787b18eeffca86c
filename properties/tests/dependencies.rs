//! Dependencies outside the gateway's own nodes: scanners down (in one
//! region, or in every region of a jurisdiction at once, so scans must
//! wait), a tenant's mailbox server down (deliveries retry), and stale DNS
//! (senders sent to regions the tenant may not use, which must refuse, and
//! then falling back along the MX list). None of these is a gateway
//! failure, so they never leave the fault model: mail may wait, but every
//! property must hold — in particular nothing is delivered without a
//! verdict. The suite fails unless some case made a scan wait for a scanner
//! and some case had a recipient refused for now at RCPT.
//!
//! A second suite (issue 16) makes the dependencies dishonest instead of
//! absent: mail servers that greylist, tarpit, hang up after DATA or reset
//! mid-data; DNS answers that fail, never come or flap; partitions between
//! two single hosts (inside a region or across two). It fails unless some
//! case had a recipient greylisted or a reply lost at a mail server.

mod common;

use common::{Case, Suite, messages, region, run_suite, seed, tenant, timed, topology};
use proptest::prelude::*;
use sim::faults::{DnsMode, Fault, FaultKind, FaultModel, MailboxMode};
use sim::scenario::{Family, Scenario};

const SUITE: Suite = Suite {
    name: "dependencies",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/dependencies.txt"
    ),
    rng_seed: 0x4445_5053,
};

/// Scanners down in one region, or in all regions of its jurisdiction.
fn scanner_outage() -> impl Strategy<Value = Vec<Fault>> {
    // Mostly the whole jurisdiction: only then must a scan wait.
    let whole = prop_oneof![1 => Just(false), 3 => Just(true)];
    (
        timed(region().prop_map(|region| FaultKind::ScannerOutage { region })),
        whole,
    )
        .prop_map(|(fault, whole_jurisdiction)| {
            let FaultKind::ScannerOutage { region } = &fault.kind else {
                unreachable!("a scanner outage")
            };
            if !whole_jurisdiction {
                return vec![fault];
            }
            let topology = topology();
            let jurisdiction = &topology.region(region).expect("a region").jurisdiction;
            (topology.regions_in(jurisdiction).iter())
                .map(|r| Fault {
                    kind: FaultKind::ScannerOutage {
                        region: r.name.clone(),
                    },
                    ..fault.clone()
                })
                .collect()
        })
}

fn dependency_fault() -> impl Strategy<Value = Vec<Fault>> {
    prop_oneof![
        scanner_outage(),
        timed(tenant().prop_map(|tenant| FaultKind::MailboxOutage { tenant }))
            .prop_map(|f| vec![f]),
        timed(tenant().prop_map(|tenant| FaultKind::StaleDns { tenant })).prop_map(|f| vec![f]),
    ]
}

fn cases() -> impl Strategy<Value = Case> {
    // Senders trust an MX answer for 1 to 10 s: the shorter, the sooner a
    // stale record reaches them (shrinks toward the shortest).
    let ttl_ms = 1_000u64..10_000;
    let faults = prop::collection::vec(dependency_fault(), 1..4);
    (seed(), messages(), faults, ttl_ms).prop_map(|(seed, messages, faults, ttl_ms)| {
        let faults = faults.into_iter().flatten().collect();
        let mut case = Case::calm(seed, messages, FaultModel::OneRegion, faults);
        case.dns_ttl_ms = Some(ttl_ms);
        case
    })
}

const HONEST: Suite = Suite {
    name: "honest_dependencies",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/honest_dependencies.txt"
    ),
    rng_seed: 0x484f_4e45_5354,
};

/// A tenant's mail domain (where the gateway delivers, and senders look up).
fn tenant_domain() -> impl Strategy<Value = String> {
    let domains: Vec<String> = Scenario::generate_family(0, Family::Calm)
        .tenants
        .iter()
        .map(|t| t.domain.clone())
        .collect();
    prop::sample::select(domains)
}

fn mailbox_mode() -> impl Strategy<Value = MailboxMode> {
    prop_oneof![
        Just(MailboxMode::Greylist),
        Just(MailboxMode::Tarpit),
        Just(MailboxMode::DropAfterData),
        Just(MailboxMode::ResetMidData),
        Just(MailboxMode::UnknownUser),
        Just(MailboxMode::LongRefusal),
    ]
}

fn dns_mode() -> impl Strategy<Value = DnsMode> {
    prop_oneof![
        Just(DnsMode::Servfail),
        Just(DnsMode::Timeout),
        Just(DnsMode::Flap)
    ]
}

/// Two different gateway-side hosts, in one region or in two.
fn host_pair() -> impl Strategy<Value = (String, String)> {
    let topology = topology();
    let hosts = sim::faults::dependencies::partitionable_hosts(&topology);
    let count = hosts.len();
    (0..count, 1..count)
        .prop_map(move |(a, offset)| (hosts[a].clone(), hosts[(a + offset) % count].clone()))
}

fn honest_dependency_fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        2 => timed(
            (tenant_domain(), mailbox_mode())
                .prop_map(|(domain, mode)| FaultKind::MailboxMisbehaves { domain, mode })
        ),
        1 => timed(
            (tenant_domain(), dns_mode())
                .prop_map(|(domain, mode)| FaultKind::DnsFails { domain, mode })
        ),
        1 => timed((host_pair(), any::<bool>()).prop_map(|((from, to), one_way)| {
            FaultKind::HostPartition { from, to, one_way }
        })),
    ]
}

#[test]
fn dishonest_mail_servers_dns_and_host_partitions_delay_mail_but_keep_every_promise() {
    // Every case greylists one tenant's server, the state the suite exists
    // for, beside up to three drawn dependency faults; the shrinker may
    // still drop the others.
    let greylist = timed(
        tenant_domain().prop_map(|domain| FaultKind::MailboxMisbehaves {
            domain,
            mode: MailboxMode::Greylist,
        }),
    );
    let faults = (
        greylist,
        prop::collection::vec(honest_dependency_fault(), 0..3),
    )
        .prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        });
    let cases = (seed(), messages(), faults).prop_map(|(seed, messages, faults)| {
        // One host partition is its regions' failure: keep one at a time
        // inside one region's blame by letting the model judge the rest.
        Case::calm(seed, messages, FaultModel::OneRegion, faults)
    });
    run_suite(&HONEST, cases, |reached| {
        if reached.greylisted + reached.mailbox_replies_lost == 0 {
            Err("no mail server ever greylisted a recipient or lost a reply".into())
        } else {
            Ok(())
        }
    });
}

#[test]
fn dependency_outages_and_stale_dns_delay_mail_but_keep_every_promise() {
    run_suite(&SUITE, cases(), |reached| {
        if reached.scans_waited == 0 {
            Err("no scan ever waited for a scanner".into())
        } else if reached.rcpt_deferred == 0 {
            Err("no stale MX record ever sent a sender to a region that refused".into())
        } else {
            Ok(())
        }
    });
}
