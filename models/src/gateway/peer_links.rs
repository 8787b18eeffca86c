//! Connections to peers, kept open between requests. A gateway asks its
//! peers something several times a second (a sync round, a copy, an
//! update); opening a TCP connection for each cost a handshake, an accept
//! and a task on the other side every time. A connection that answered is
//! put back here and the next request to that peer takes it. Copies of new
//! messages never use one (`peer.rs` says why).
//!
//! The answering side closes a connection idle for [`ANSWER_IDLE_MS`], so
//! an asker takes none idle for longer than [`REUSE_IDLE_MS_MAX`] (half
//! that): a peer that restarted, or closed one as we picked it, makes the
//! asker open a fresh one at once (`peer.rs`). Nothing here is durable or
//! trusted: a connection is only a way to reach a peer, and every request
//! on it is fenced by its ballot as before.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::env::BoxConn;

/// How long the answering side waits for the next request on a connection.
pub const ANSWER_IDLE_MS: u64 = 10_000;

/// The oldest idle connection an asker still takes (by its own clock).
pub const REUSE_IDLE_MS_MAX: u64 = ANSWER_IDLE_MS / 2;

/// Idle connections kept per peer: requests to one peer at the same time
/// (a sync round beside a copy) each need one.
const IDLE_PER_PEER_MAX: usize = 4;

/// Idle connections by peer, each with when it was last used (ms, this
/// node's clock). In memory: a restarted node starts with none.
#[derive(Default)]
pub struct IdleLinks {
    idle: RefCell<BTreeMap<String, Vec<(BoxConn, u64)>>>,
}

impl IdleLinks {
    /// The most recently used idle connection to `peer` young enough to
    /// reuse; older ones are closed.
    pub fn take(&self, peer: &str, now_ms: u64) -> Option<BoxConn> {
        let mut idle = self.idle.borrow_mut();
        let links = idle.get_mut(peer)?;
        while let Some((conn, used_ms)) = links.pop() {
            if now_ms.saturating_sub(used_ms) <= REUSE_IDLE_MS_MAX {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn`, which just carried a whole request and reply, for the
    /// next request to `peer`.
    pub fn put(&self, peer: &str, conn: BoxConn, now_ms: u64) {
        let mut idle = self.idle.borrow_mut();
        let links = idle.entry(peer.to_string()).or_default();
        if links.len() < IDLE_PER_PEER_MAX {
            links.push((conn, now_ms));
        }
    }

    /// Idle connections kept for `peer` (what the tests watch).
    #[cfg(test)]
    pub fn count(&self, peer: &str) -> usize {
        self.idle.borrow().get(peer).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> BoxConn {
        let (a, _b) = tokio::io::duplex(64);
        Box::new(a)
    }

    #[test]
    fn a_connection_is_reused_while_young_and_closed_when_stale() {
        let links = IdleLinks::default();
        assert!(links.take("gw-b", 0).is_none());
        links.put("gw-b", conn(), 1_000);
        assert!(links.take("gw-c", 1_000).is_none());
        assert!(links.take("gw-b", 1_000 + REUSE_IDLE_MS_MAX).is_some());
        assert_eq!(links.count("gw-b"), 0);
        links.put("gw-b", conn(), 1_000);
        assert!(links.take("gw-b", 1_001 + REUSE_IDLE_MS_MAX).is_none());
        assert_eq!(links.count("gw-b"), 0);
    }

    #[test]
    fn a_few_per_peer_are_kept_and_a_clock_stepped_back_does_not_panic() {
        let links = IdleLinks::default();
        for _ in 0..10 {
            links.put("gw-b", conn(), 5_000);
        }
        assert_eq!(links.count("gw-b"), IDLE_PER_PEER_MAX);
        assert!(links.take("gw-b", 0).is_some());
    }
}
