//! Which peers a sync round asks when it has no ballot to send them. Such
//! a round is a heartbeat: it keeps `Heard` fresh, which a node's health
//! (can it reach a quorum, so may it take mail?) and a successor's turn to
//! claim are judged by. Asking every gateway of the jurisdiction in every
//! round cost each gateway one exchange per peer, so the deployment's cost
//! grew with the square of its size; a few per region are enough.

use crate::config::Node;
use crate::gateway::{SharedNode, replication};

/// Peers per region that must have answered: more than the quorum needs,
/// so one slow or dead peer does not make us look cut off. Every drawn
/// topology has at most this many gateways in a region, so only larger
/// deployments ask fewer peers than before.
const HEARTBEAT_PEERS_PER_REGION: usize = 3;

/// The peers a round asks even with no ballot to send: in each region of
/// the jurisdiction, gateways in an order of our own (rotated by our name,
/// so the load spreads) until [`HEARTBEAT_PEERS_PER_REGION`] of those asked
/// have spoken within a lease. One that has not is asked and the walk goes
/// on, so a region down is probed whole, as every peer was before. Peers
/// that share a message with us are asked anyway, with its ballot.
pub fn peers(node: &SharedNode) -> Vec<String> {
    let peers = node.config.jurisdiction_peers(node.me());
    let now_ms = node.now_ms();
    let lease_ms = node.config.knobs.owner_lease_ms;
    let heard = node.heard.borrow();
    heartbeat_choice(&peers, node.me(), |host| {
        heard.peer_recent(host, now_ms, lease_ms)
    })
}

/// [`peers`] given the peers, our name, and who spoke recently.
fn heartbeat_choice(peers: &[&Node], me: &str, recent: impl Fn(&str) -> bool) -> Vec<String> {
    let mut asked = Vec::new();
    for (_, in_region) in replication::rotated_by_region(peers, me) {
        let mut spoke = 0;
        for host in in_region {
            if spoke >= HEARTBEAT_PEERS_PER_REGION {
                break;
            }
            spoke += usize::from(recent(host));
            asked.push(host.to_string());
        }
    }
    asked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(per_region: usize) -> Vec<Node> {
        ["r1", "r2"]
            .iter()
            .flat_map(|region| {
                (0..per_region).map(move |i| Node {
                    host: format!("gw-{region}-{i}"),
                    region: (*region).into(),
                })
            })
            .collect()
    }

    #[test]
    fn a_small_jurisdiction_keeps_in_touch_with_every_peer() {
        let nodes = peers(3);
        let refs: Vec<&Node> = nodes.iter().collect();
        let asked = heartbeat_choice(&refs, "me", |_| true);
        assert_eq!(asked.len(), 6);
    }

    #[test]
    fn a_large_one_asks_a_few_per_region_and_probes_past_the_silent() {
        let nodes = peers(10);
        let refs: Vec<&Node> = nodes.iter().collect();
        let all_up = heartbeat_choice(&refs, "me", |_| true);
        assert_eq!(all_up.len(), 2 * HEARTBEAT_PEERS_PER_REGION);
        // Another node starts elsewhere, so the load spreads.
        let theirs = heartbeat_choice(&refs, "someone-else", |_| true);
        assert_ne!(all_up, theirs);
        // The ones that went quiet are still asked, and more behind them
        // until enough answered; a region down is probed whole.
        let silent = &all_up[0];
        let asked = heartbeat_choice(&refs, "me", |h| h != silent && !h.starts_with("gw-r2"));
        assert!(asked.contains(silent));
        assert_eq!(asked.iter().filter(|h| h.starts_with("gw-r1")).count(), 4);
        assert_eq!(asked.iter().filter(|h| h.starts_with("gw-r2")).count(), 10);
    }
}
