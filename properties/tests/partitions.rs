//! Partitions and gray links between regions: traffic between two regions
//! dropped both ways or one way, or slowed and lossy (latency spikes, lost
//! segments that stall a connection until its owner times out), mostly
//! between regions that replicate to each other. A partition or a gray link
//! is part of one region's failure, so two of them sharing a region stay
//! inside the one-region model, and every property must hold there. The
//! suite fails if no case ever made the gateway refuse mail for want of a
//! replication quorum.

mod common;

use common::{
    Case, Suite, at_ms, duration_ms, messages, region, region_pair, run_suite, seed, topology,
};
use proptest::prelude::*;
use sim::faults::{Fault, FaultKind, FaultModel};

const SUITE: Suite = Suite {
    name: "partitions",
    regressions: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptest-regressions/partitions.txt"
    ),
    rng_seed: 0x5041_5254,
};

/// How a link between two regions breaks.
#[derive(Clone, Debug)]
enum Break {
    Partition { one_way: bool },
    Gray { latency_ms: u64, loss_percent: u8 },
}

impl Break {
    fn between(&self, from: &str, to: &str) -> FaultKind {
        let (from, to) = (from.to_string(), to.to_string());
        match *self {
            Break::Partition { one_way } => FaultKind::Partition { from, to, one_way },
            Break::Gray {
                latency_ms,
                loss_percent,
            } => FaultKind::GrayLink {
                from,
                to,
                latency_ms,
                loss_percent,
            },
        }
    }
}

fn breaks() -> impl Strategy<Value = Break> {
    // Latency and loss shrink toward the mildest gray link.
    prop_oneof![
        any::<bool>().prop_map(|one_way| Break::Partition { one_way }),
        (20u64..4_000, 0u8..40).prop_map(|(latency_ms, loss_percent)| Break::Gray {
            latency_ms,
            loss_percent
        }),
    ]
}

/// One broken link, or a region cut from every peer in its jurisdiction at
/// once (still one region's failure: the one that can lose its quorum).
fn cut() -> impl Strategy<Value = Vec<Fault>> {
    let one = (at_ms(), duration_ms(), region_pair(10), breaks()).prop_map(
        |(at_ms, duration_ms, (from, to), how)| {
            vec![Fault {
                at_ms,
                duration_ms,
                kind: how.between(&from, &to),
            }]
        },
    );
    let star = (at_ms(), duration_ms(), region(), breaks()).prop_map(
        |(at_ms, duration_ms, center, how)| {
            let topology = topology();
            let jurisdiction = &topology.region(&center).expect("a region").jurisdiction;
            (topology.regions_in(jurisdiction).iter())
                .filter(|peer| peer.name != center)
                .map(|peer| Fault {
                    at_ms,
                    duration_ms,
                    kind: how.between(&center, &peer.name),
                })
                .collect()
        },
    );
    prop_oneof![one, star]
}

fn cases() -> impl Strategy<Value = Case> {
    (seed(), messages(), prop::collection::vec(cut(), 1..3)).prop_map(|(seed, messages, cuts)| {
        let faults = cuts.into_iter().flatten().collect();
        Case::calm(seed, messages, FaultModel::OneRegion, faults)
    })
}

#[test]
fn partitions_and_gray_links_lose_nothing_acknowledged_and_keep_every_promise_inside_the_model() {
    run_suite(&SUITE, cases(), |reached| {
        if reached.gateway_deferrals > 0 {
            Ok(())
        } else {
            Err("no partition or gray link ever cost the gateway its quorum".into())
        }
    });
}
