//! Where a message's copies go and when there are enough: the replica
//! targets (every gateway in the tenant's allowed regions), the copying
//! itself, and the quorum rule (enough copies, on enough clouds) that a 250
//! or a DSN waits for and that a node's health is judged by.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::{GatewayConfig, Tenant};
use crate::env;
use crate::fan_out::fan_out;
use crate::gateway::{SharedNode, ballot, peer};
use crate::spool::Entry;

/// The other gateways that should hold a copy: every gateway in the tenant's
/// allowed regions except this one (or every gateway, under the
/// failover-ignores-residency bug).
pub fn replica_targets(config: &GatewayConfig, me: &str, tenant: &Tenant) -> Vec<String> {
    let ignore_residency = config.bug("failover-ignores-residency");
    config
        .gateways
        .iter()
        .filter(|n| n.host != me)
        .filter(|n| ignore_residency || tenant.allowed_regions.contains(&n.region))
        .map(|n| n.host.clone())
        .collect()
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
) -> Result<Vec<String>, String> {
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
        Box::pin(async move { peer::replicate(&node, &target, &entry, &data).await.is_ok() })
    });
    let mut acked: Vec<String> = Vec::new();
    let majority = if node.config.bug("quorum-below-majority") {
        0
    } else {
        ballot::majority(entry.replicas.len() + 1)
    };
    let wait_for_quorum = async {
        while !(quorum_holds(&node.config, node.me(), &acked) && 1 + acked.len() >= majority) {
            match answers.next().await {
                Some((target, true)) => {
                    tracing::debug!(spool_id = %entry.id, %target, "replica stored");
                    acked.push(target);
                }
                Some((target, false)) => {
                    tracing::debug!(spool_id = %entry.id, %target, "replica failed");
                }
                None => return false,
            }
        }
        true
    };
    match env::timeout(node.env.as_ref(), deadline, wait_for_quorum).await {
        Ok(true) => Ok(acked),
        Ok(false) => Err(format!(
            "replication quorum impossible: {} of {} replicas answered",
            acked.len(),
            entry.replicas.len()
        )),
        Err(env::Elapsed) => Err(format!(
            "replication quorum not reached in {} ms",
            knobs.replication_timeout_ms
        )),
    }
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
