//! A node's tombstones in use: written when it settles a message for good
//! (finishes it, refuses it at ingress, or is told so by its owner or by
//! another tombstone), asked when a peer syncs about a message this node
//! holds no copy of, and pruned once they are old. The format and why they
//! exist: `crate::tombstone`.

use crate::gateway::SharedNode;
use crate::tombstone;

/// Records that `id` is settled for good: in memory at once, on disk as
/// well as the disk allows (a failed write is noted; the memory still
/// answers until the node restarts).
pub fn settle_for_good(node: &SharedNode, id: &str) {
    let now_ms = node.now_ms();
    if let Err(e) = tombstone::record(node.env.disk(), id, now_ms) {
        node.note("tombstone_failed", format!("{id}: {e}"));
    }
    node.tombstones.borrow_mut().insert(id.to_string(), now_ms);
}

/// Whether this node settled `id` for good.
pub fn settled(node: &SharedNode, id: &str) -> bool {
    node.tombstones.borrow().contains_key(id)
}

/// Forgets tombstones older than the keep (`tombstone::keep_ms`).
pub fn prune(node: &SharedNode) {
    let keep_ms = tombstone::keep_ms(node.config.knobs.queue_lifetime_ms);
    let old = tombstone::expired(&node.tombstones.borrow(), node.now_ms(), keep_ms);
    for id in old {
        if tombstone::remove(node.env.disk(), &id).is_ok() {
            node.tombstones.borrow_mut().remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::gateway::answering_node::{forget, forget_refused, node, replicate, sync_stance};
    use crate::gateway::wire::PeerReply;
    use crate::mem_disk::MemDisk;

    fn says_finished(node: &SharedNode) -> bool {
        let stance = sync_stance(node);
        assert!(stance.held.is_none(), "the copy is gone");
        stance.finished
    }

    #[test]
    fn a_refusal_is_not_forgotten_where_the_message_was_settled_already() {
        // A node holding the copy at the refusing ballot drops it.
        let holder = node(&Rc::new(MemDisk::default()), &[]);
        assert!(matches!(replicate(&holder), PeerReply::Ok));
        assert!(matches!(forget_refused(&holder), PeerReply::Ok));
        assert!(says_finished(&holder));
        // A node that never had it drops nothing and keeps a tombstone.
        let missed = node(&Rc::new(MemDisk::default()), &[]);
        assert!(matches!(forget_refused(&missed), PeerReply::Ok));
        assert!(says_finished(&missed));
        // A node that settled it already (a successor finished it while
        // the acceptor stalled) says so: a 451 now would be false.
        let settled = node(&Rc::new(MemDisk::default()), &[]);
        assert!(matches!(replicate(&settled), PeerReply::Ok));
        assert!(matches!(forget(&settled, true), PeerReply::Ok));
        assert!(matches!(forget_refused(&settled), PeerReply::Failed { .. }));
        // An owner repeating its own forget is still answered.
        assert!(matches!(forget(&settled, true), PeerReply::Ok));
    }

    #[test]
    fn a_forget_for_good_leaves_a_tombstone_that_outlives_a_restart() {
        let disk = Rc::new(MemDisk::default());
        let node = node(&disk, &[]);
        assert!(matches!(replicate(&node), PeerReply::Ok));
        assert!(matches!(forget(&node, true), PeerReply::Ok));
        assert!(says_finished(&node));
        assert!(
            matches!(replicate(&node), PeerReply::Failed { .. }),
            "a copy of a settled message is refused"
        );
        let restarted = super::tests::node(&disk, &[]);
        assert!(says_finished(&restarted), "the tombstone is on disk");
    }

    #[test]
    fn a_forget_not_for_good_leaves_no_tombstone() {
        // A DSN whose replication failed is taken back and sent again
        // under the same id: its copies must be taken again too.
        let node = node(&Rc::new(MemDisk::default()), &[]);
        assert!(matches!(replicate(&node), PeerReply::Ok));
        assert!(matches!(forget(&node, false), PeerReply::Ok));
        assert!(!says_finished(&node));
        assert!(matches!(replicate(&node), PeerReply::Ok));
    }

    #[test]
    fn a_tombstone_is_pruned_once_older_than_its_keep_and_not_before() {
        use crate::gateway::answering_node::node_and_env;
        let disk = Rc::new(MemDisk::default());
        let (node, env) = node_and_env(&disk, &[]);
        assert!(matches!(replicate(&node), PeerReply::Ok));
        assert!(matches!(forget(&node, true), PeerReply::Ok));
        let keep_ms = tombstone::keep_ms(node.config.knobs.queue_lifetime_ms);
        // Written at 10 s; exactly the keep later it stays.
        env.set_now_ms(10_000 + keep_ms);
        prune(&node);
        assert!(says_finished(&node));
        env.set_now_ms(10_001 + keep_ms);
        prune(&node);
        assert!(!says_finished(&node), "forgotten in memory");
        let restarted = super::tests::node(&disk, &[]);
        assert!(!says_finished(&restarted), "and on disk");
    }

    #[test]
    fn settled_unspoken_keeps_the_tombstone_quiet() {
        let node = node(&Rc::new(MemDisk::default()), &["settled-unspoken"]);
        assert!(matches!(replicate(&node), PeerReply::Ok));
        assert!(matches!(forget(&node, true), PeerReply::Ok));
        assert!(!says_finished(&node));
    }
}
