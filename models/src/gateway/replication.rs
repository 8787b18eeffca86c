//! Where a message's copies go and when there are enough: the replica
//! targets (a bounded, spread subset of the gateways in the tenant's
//! allowed regions), the copying itself, and the quorum rule (enough
//! copies, on enough clouds) that a 250 or a DSN waits for and that a
//! node's health is judged by.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::{GatewayConfig, Node, Tenant};
use crate::env;
use crate::fan_out::fan_out;
use crate::gateway::{SharedNode, ballot, peer};
use crate::spool::Entry;

/// The most gateways that hold copies of one message (owner included).
/// Every copy costs a replication, an update per recipient settled, a
/// stance in every sync round and a forget, so a copy set that grew with
/// the deployment made each message cost more the more gateways there
/// were. Five tolerates two lost copies (a majority of five is three),
/// more than the quorum's two clouds need.
pub const COPY_SET_SIZE_MAX: usize = 5;

/// The most gateways of one region that a node copies its messages to.
/// Which gateways of a large region get a copy is chosen first by the
/// node (a window of this many, placed by its name) and then by the
/// message id within the window. With the id alone, a node's messages
/// reached every gateway of every large region, so each node synced with
/// all of them every round and a round cost more the more gateways there
/// were; with the window, a node shares messages with a bounded set of
/// peers, and a failed node's messages still have several successors.
pub const REPLICA_WINDOW_PER_REGION: usize = 3;

/// The other gateways that should hold a copy of message `id`, accepted
/// here: every gateway in the tenant's allowed regions except this one
/// while they fit in [`COPY_SET_SIZE_MAX`]; beyond that, a subset spread
/// over regions — one gateway of each region (those on another cloud
/// first), then a second of each, and so on — which gateway of a region
/// taken by the id within this node's window of the region
/// ([`REPLICA_WINDOW_PER_REGION`]). Chosen per message rather than per node
/// so that when a node fails, the messages it owned have different
/// successors and the work spreads rather than one successor draining a
/// dead node's whole queue. (Under the failover-ignores-residency bug:
/// every gateway.)
pub fn replica_targets(config: &GatewayConfig, me: &str, tenant: &Tenant, id: &str) -> Vec<String> {
    if config.bug("failover-ignores-residency") {
        return config
            .gateways
            .iter()
            .filter(|n| n.host != me)
            .map(|n| n.host.clone())
            .collect();
    }
    let candidates: Vec<&Node> = config
        .gateways
        .iter()
        .filter(|n| n.host != me && tenant.allowed_regions.contains(&n.region))
        .collect();
    let chosen = spread_over_regions(config, me, &candidates, COPY_SET_SIZE_MAX - 1, id);
    // Config order, as before the bound: the copy set's order ranks
    // successors, and every node must rank them alike.
    candidates
        .iter()
        .filter(|n| chosen.contains(&n.host))
        .map(|n| n.host.clone())
        .collect()
}

/// Up to `count` of `candidates`, taken round by round over their regions
/// (regions on another cloud than `me`'s first, then other regions, then
/// `me`'s own; config order within each), each region's gateways rotated
/// by `salt` so the choice differs from one salt to the next. All of them
/// when they fit.
fn spread_over_regions(
    config: &GatewayConfig,
    me: &str,
    candidates: &[&Node],
    count: usize,
    salt: &str,
) -> BTreeSet<String> {
    if candidates.len() <= count {
        return candidates.iter().map(|n| n.host.clone()).collect();
    }
    let my_region = config.node(me).map(|n| n.region.as_str());
    let my_cloud = config.cloud_of_host(me);
    let rank = |region: &str| {
        let cloud = config.region(region).map(|r| r.cloud.as_str());
        if Some(region) == my_region {
            2
        } else if cloud == my_cloud {
            1
        } else {
            0
        }
    };
    let mut per_region = rotated_by_region(candidates, salt);
    // Regions in the same order in both: first appearance in `candidates`.
    for ((_, hosts), (_, window)) in per_region.iter_mut().zip(rotated_by_region(candidates, me)) {
        if window.len() > REPLICA_WINDOW_PER_REGION {
            *hosts = window[..REPLICA_WINDOW_PER_REGION].to_vec();
            let start = rotation(salt, hosts.len());
            hosts.rotate_left(start);
        }
    }
    per_region.sort_by_key(|(region, _)| rank(region));
    let mut chosen = BTreeSet::new();
    let rounds = per_region.iter().map(|(_, hosts)| hosts.len()).max();
    for round in 0..rounds.unwrap_or(0) {
        for (_, hosts) in &per_region {
            if let Some(host) = hosts.get(round) {
                chosen.insert(host.to_string());
                if chosen.len() == count {
                    return chosen;
                }
            }
        }
    }
    chosen
}

/// `nodes` by region (regions in order of first appearance), each
/// region's hosts in their order rotated by `salt`.
pub fn rotated_by_region<'a>(nodes: &[&'a Node], salt: &str) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut regions: Vec<(&str, Vec<&str>)> = Vec::new();
    for node in nodes {
        match regions
            .iter_mut()
            .find(|(region, _)| *region == node.region)
        {
            Some((_, hosts)) => hosts.push(node.host.as_str()),
            None => regions.push((node.region.as_str(), vec![node.host.as_str()])),
        }
    }
    for (_, hosts) in &mut regions {
        let start = rotation(salt, hosts.len());
        hosts.rotate_left(start);
    }
    regions
}

/// Where to start in a list of `len` for `salt`: the same for the same
/// text on every machine and run (FNV-1a; the standard library's hashers
/// are seeded per process).
pub fn rotation(salt: &str, len: usize) -> usize {
    let hash = salt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    if len == 0 {
        0
    } else {
        (hash % len as u64) as usize
    }
}

/// Why a message missed its quorum, and the replicas its copy certainly
/// never reached (their connection could not be opened), which hold no
/// copy that would need forgetting.
#[derive(Debug)]
pub struct Missed {
    pub reason: String,
    pub never_sent: Vec<String>,
}

impl std::fmt::Display for Missed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// How one replica's copy went.
enum CopyOutcome {
    Stored,
    /// The connection could not be opened: the copy never left.
    NeverSent,
    /// Refused, timed out, or its answer lost: it may be there or not.
    Unknown,
}

/// Copies the message to replicas until the quorum holds — enough copies,
/// on enough clouds, and a majority of the copy set — or the replication
/// timeout passes.
///
/// The majority matters where a jurisdiction has more than three
/// gateways (two in one region, or four regions): a 250 on two copies of
/// four leaves an owner that can never confirm its ballot (confirmations
/// need a majority of the copy set, and members that missed the copy do
/// not hold it), so the message is never delivered. Found by the swarm on
/// a drawn topology (madsim swarm seed 7: us-central1 with two gateways
/// isolated while mail came in); `quorum-below-majority` puts it back.
pub async fn replicate(
    node: &SharedNode,
    entry: &Entry,
    data: &[u8],
) -> Result<Vec<String>, Missed> {
    let knobs = &node.config.knobs;
    let mut deadline = Duration::from_millis(knobs.replication_timeout_ms);
    if node.env.buggify("replication.short_timeout") {
        // A slow peer looks dead: the 451 path, and copies told to forget.
        deadline /= 10;
    }
    let jobs = entry.replicas.iter().map(|target| (target.clone(), ()));
    let mut answers = fan_out(node.env.as_ref(), jobs, |target, ()| {
        let (node, entry, data, target) = (
            node.clone(),
            entry.clone(),
            data.to_vec(),
            target.to_string(),
        );
        Box::pin(async move {
            match peer::replicate(&node, &target, &entry, &data).await {
                Ok(()) => CopyOutcome::Stored,
                Err(e) if peer::was_never_sent(&e) => CopyOutcome::NeverSent,
                Err(_) => CopyOutcome::Unknown,
            }
        })
    });
    let mut acked: Vec<String> = Vec::new();
    let mut never_sent: Vec<String> = Vec::new();
    let majority = copies_for_majority(&node.config, entry.replicas.len());
    let wait_for_quorum = async {
        while !promise_holds(&node.config, node.me(), &acked, majority) {
            match answers.next().await {
                Some((target, CopyOutcome::Stored)) => {
                    tracing::debug!(spool_id = %entry.id, %target, "replica stored");
                    acked.push(target);
                }
                Some((target, CopyOutcome::NeverSent)) => {
                    tracing::debug!(spool_id = %entry.id, %target, "replica unreachable");
                    never_sent.push(target);
                }
                Some((target, CopyOutcome::Unknown)) => {
                    tracing::debug!(spool_id = %entry.id, %target, "replica failed");
                }
                None => return false,
            }
        }
        true
    };
    let reason = match env::timeout(node.env.as_ref(), deadline, wait_for_quorum).await {
        Ok(true) => return Ok(acked),
        Ok(false) => format!(
            "replication quorum impossible: {} of {} replicas answered",
            acked.len(),
            entry.replicas.len()
        ),
        Err(env::Elapsed) => format!(
            "replication quorum not reached in {} ms",
            knobs.replication_timeout_ms
        ),
    };
    // The copies still out answer within their own timeout, which began
    // as ours did: hear them out, so a replica that could not even be
    // reached is known to hold no copy (`Missed::never_sent`).
    let rest = async {
        while let Some((target, copy)) = answers.next().await {
            if let CopyOutcome::NeverSent = copy {
                never_sent.push(target);
            }
        }
    };
    let hear_out = Duration::from_millis(knobs.replication_timeout_ms);
    let _ = env::timeout(node.env.as_ref(), hear_out, rest).await;
    Err(Missed { reason, never_sent })
}

/// Copies a 250 needs, this node's own included, by the majority rule: a
/// majority of the copy set (this node and `replicas`), or none at all
/// under `quorum-below-majority`. The replication quorum and its cloud
/// spread ([`quorum_holds`]) are needed either way.
fn copies_for_majority(config: &GatewayConfig, replicas: usize) -> usize {
    if config.bug("quorum-below-majority") {
        0
    } else {
        ballot::majority(replicas + 1)
    }
}

/// This node's copy and the `acked` ones make the promise a 250 is: the
/// quorum with its cloud spread, and `majority` copies.
fn promise_holds(config: &GatewayConfig, me: &str, acked: &[String], majority: usize) -> bool {
    quorum_holds(config, me, acked) && 1 + acked.len() >= majority
}

/// Copies on this node plus `acked` reach the quorum size and cloud spread.
pub fn quorum_holds(config: &GatewayConfig, me: &str, acked: &[String]) -> bool {
    let copies = 1 + acked.len() as u32;
    let clouds: BTreeSet<&str> = std::iter::once(me)
        .chain(acked.iter().map(String::as_str))
        .filter_map(|host| config.cloud_of_host(host))
        .collect();
    let quorum = if config.bug("answer-451-always") {
        // The bug: the quorum is taken over the whole deployment rather
        // than the tenant's copy set, so it never holds and every message
        // gets 451: nothing accepted, nothing lost, nothing delivered.
        config.gateways.len() as u32
    } else {
        config.knobs.replica_quorum
    };
    copies >= quorum && clouds.len() as u32 >= config.knobs.replica_clouds_min
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{Knobs, Region, SpamPolicy};

    /// Three regions on three clouds, `per_region` gateways in each.
    fn config(per_region: usize) -> (GatewayConfig, Tenant) {
        let regions: Vec<Region> = [("r1", "aws"), ("r2", "gcp"), ("r3", "azure")]
            .iter()
            .map(|(name, cloud)| Region {
                name: (*name).into(),
                cloud: (*cloud).into(),
                jurisdiction: "us".into(),
            })
            .collect();
        let gateways = regions
            .iter()
            .flat_map(|r| {
                (0..per_region).map(|i| Node {
                    host: format!("gw-{}-{i}", r.name),
                    region: r.name.clone(),
                })
            })
            .collect();
        let tenant = Tenant {
            name: "t".into(),
            domain: "t.test".into(),
            users: vec!["u".into()],
            allowed_regions: regions.iter().map(|r| r.name.clone()).collect(),
            mailbox_host: "mx".into(),
            backup_mailbox_hosts: Vec::new(),
            spam_policy: SpamPolicy::Tag,
        };
        let config = GatewayConfig {
            regions,
            gateways,
            scanners: Vec::new(),
            controllers: Vec::new(),
            tenants: vec![tenant.clone()],
            dns_host: "dns".into(),
            knobs: Knobs::simulation_defaults(),
            bugs: Vec::new(),
            postmaster: None,
        };
        (config, tenant)
    }

    #[test]
    fn a_250_needs_a_majority_of_the_copy_set_as_well_as_the_quorum() {
        let (mut config, _) = config(2);
        // Copy sets of three, four, five and seven.
        for (replicas, majority) in [(2, 2), (3, 3), (4, 3), (6, 4)] {
            assert_eq!(copies_for_majority(&config, replicas), majority);
        }
        let acked = |hosts: &[&str]| hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        // Two copies on two clouds: the quorum, and a majority of three.
        assert!(promise_holds(&config, "gw-r1-0", &acked(&["gw-r2-0"]), 2));
        // Not a majority of four or five.
        assert!(!promise_holds(&config, "gw-r1-0", &acked(&["gw-r2-0"]), 3));
        assert!(promise_holds(
            &config,
            "gw-r1-0",
            &acked(&["gw-r2-0", "gw-r3-1"]),
            3
        ));
        // A majority on one cloud is no quorum.
        assert!(!promise_holds(&config, "gw-r1-0", &acked(&["gw-r1-1"]), 2));
        config.bugs = vec!["quorum-below-majority".into()];
        assert_eq!(copies_for_majority(&config, 4), 0);
    }

    fn region_of(host: &str) -> &str {
        &host[3..5]
    }

    #[test]
    fn a_copy_set_that_fits_takes_every_allowed_gateway() {
        let (config, tenant) = config(1);
        assert_eq!(
            replica_targets(&config, "gw-r1-0", &tenant, "m"),
            vec!["gw-r2-0", "gw-r3-0"]
        );
    }

    #[test]
    fn a_large_deployment_bounds_the_copy_set_and_spreads_it_over_regions_and_gateways() {
        let (config, tenant) = config(4);
        let mut copies_taken: BTreeMap<String, usize> = BTreeMap::new();
        for (n, owner) in config.gateways.iter().map(|n| n.host.clone()).enumerate() {
            let id = format!("{n:016x}");
            let targets = replica_targets(&config, &owner, &tenant, &id);
            assert_eq!(targets.len(), COPY_SET_SIZE_MAX - 1, "{targets:?}");
            // Every region holds a copy, none more than two (the owner's
            // own counted), so a region's outage leaves a majority.
            for region in ["r1", "r2", "r3"] {
                let in_region = targets.iter().filter(|t| region_of(t) == region).count()
                    + usize::from(region == region_of(&owner));
                assert!((1..=2).contains(&in_region), "{owner}: {targets:?}");
            }
            // In config order, the same every time it is computed.
            let mut sorted = targets.clone();
            sorted.sort();
            assert_eq!(targets, sorted);
            assert_eq!(targets, replica_targets(&config, &owner, &tenant, &id));
            let elsewhere: Vec<String> = targets
                .iter()
                .filter(|t| config.cloud_of_host(t) != config.cloud_of_host(&owner))
                .take(1)
                .cloned()
                .collect();
            assert!(quorum_holds(&config, &owner, &elsewhere));
            for target in targets {
                *copies_taken.entry(target).or_default() += 1;
            }
        }
        // Messages choose differently: every gateway keeps copies of some,
        // none of all.
        assert_eq!(copies_taken.len(), 12, "{copies_taken:?}");
        assert!(copies_taken.values().all(|&n| n < 8), "{copies_taken:?}");
    }

    #[test]
    fn in_a_large_region_a_node_copies_to_a_window_of_its_gateways() {
        let (config, tenant) = config(8);
        let owner = "gw-r1-3";
        let mut peers: BTreeMap<String, usize> = BTreeMap::new();
        for n in 0..200 {
            for target in replica_targets(&config, owner, &tenant, &format!("m{n}")) {
                *peers.entry(target).or_default() += 1;
            }
        }
        for region in ["r1", "r2", "r3"] {
            let used = peers.keys().filter(|p| region_of(p) == region).count();
            // Bounded by the window, which is smaller than the region
            // (8 gateways): not every gateway of it.
            assert!(used <= 3, "{region}: {peers:?}");
        }
        // Still several successors: more than one gateway of each other
        // region takes copies.
        for region in ["r2", "r3"] {
            let used = peers.keys().filter(|p| region_of(p) == region).count();
            assert!(used >= 2, "{region}: {peers:?}");
        }
        // Other owners use other windows: together they reach every gateway.
        let mut reached = std::collections::BTreeSet::new();
        for owner in config.gateways.iter().map(|n| n.host.as_str()) {
            for n in 0..20 {
                reached.extend(replica_targets(&config, owner, &tenant, &format!("m{n}")));
            }
        }
        assert_eq!(reached.len(), config.gateways.len(), "{reached:?}");
    }

    #[test]
    fn with_more_regions_than_copies_other_clouds_come_first() {
        // Three more regions: one on the owner's cloud, two on others;
        // two gateways each, so the copy set (four replicas) cannot take
        // one of every region.
        let (mut config, mut tenant) = config(2);
        for (name, cloud) in [("r4", "aws"), ("r5", "gcp"), ("r6", "azure")] {
            config.regions.push(Region {
                name: name.into(),
                cloud: cloud.into(),
                jurisdiction: "us".into(),
            });
            for i in 0..2 {
                config.gateways.push(Node {
                    host: format!("gw-{name}-{i}"),
                    region: name.into(),
                });
            }
            tenant.allowed_regions.push(name.into());
        }
        for n in 0..20 {
            let targets = replica_targets(&config, "gw-r1-0", &tenant, &format!("m{n}"));
            assert_eq!(targets.len(), COPY_SET_SIZE_MAX - 1);
            // r2, r3, r5 and r6 are on other clouds than r1's aws: all four
            // are taken before r4 (aws) or r1 itself.
            let regions: BTreeSet<&str> = targets.iter().map(|t| region_of(t)).collect();
            assert_eq!(
                regions,
                BTreeSet::from(["r2", "r3", "r5", "r6"]),
                "{targets:?}"
            );
        }
    }

    #[test]
    fn in_a_region_no_larger_than_the_window_the_message_alone_picks_the_gateway() {
        // Regions of three gateways (the window's size) and four regions'
        // worth of candidates: owners elsewhere agree on which gateway of
        // r3 holds a message, whoever they are.
        let (config, tenant) = config(REPLICA_WINDOW_PER_REGION);
        for n in 0..20 {
            let id = format!("m{n}");
            let in_r3 = |owner: &str| -> Vec<String> {
                replica_targets(&config, owner, &tenant, &id)
                    .into_iter()
                    .filter(|t| region_of(t) == "r3")
                    .collect()
            };
            assert_eq!(in_r3("gw-r1-0"), in_r3("gw-r1-2"), "{id}");
        }
    }

    #[test]
    fn residency_still_bounds_the_candidates() {
        let (config, mut tenant) = config(4);
        tenant.allowed_regions = vec!["r1".into(), "r2".into()];
        let targets = replica_targets(&config, "gw-r1-0", &tenant, "m");
        assert!(targets.iter().all(|t| ["r1", "r2"].contains(&region_of(t))));
        assert_eq!(targets.len(), COPY_SET_SIZE_MAX - 1);
        assert_eq!(targets.iter().filter(|t| region_of(t) == "r2").count(), 2);
    }
}
