//! A gateway node: SMTP ingress, a spool replica, the queue that scans and
//! delivers the messages it owns, and the sync that keeps ownership
//! straight across failures. One per host; a crash drops all of it but the
//! disk, and a restart rebuilds it from the spool.

#[cfg(test)]
pub mod answering_node;
pub mod ballot;
pub mod delivery;
pub mod heard;
pub mod heartbeat;
pub mod ingress;
pub mod peer;
pub mod peer_links;
#[cfg(test)]
mod peer_links_tests;
pub mod queue;
pub mod replication;
pub mod sync;
pub mod tombstones;
pub mod voter;
pub mod wakeup;
pub mod wire;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use traces::EventKind;

use crate::config::{GatewayConfig, Tenant};
use crate::env::SharedEnv;
use crate::spool::{self, Entry};
use crate::{spool_birth, tombstone};

/// Everything one node holds in memory, rebuilt from disk at boot.
pub struct Node {
    pub env: SharedEnv,
    pub config: Rc<GatewayConfig>,
    pub region: String,
    /// Spool entries on this node's disk (owned and replicas), by id.
    pub entries: RefCell<BTreeMap<String, Entry>>,
    /// Ids the queue is working on right now.
    pub in_flight: RefCell<BTreeSet<String>>,
    /// Of those, the ones whose pass is done with the destination (it is
    /// storing and replicating the outcome): they hold no delivery slot.
    pub settling: RefCell<BTreeSet<String>>,
    /// Messages this node has held for a previous owner's in-doubt
    /// delivery: one past its queue lifetime once the doubt clears (it did
    /// not get through) is bounced as expired, not delivered that late,
    /// even a DSN.
    pub held_in_doubt: RefCell<BTreeSet<String>>,
    /// Messages whose last delivery attempt this node called off itself,
    /// before the message went out, because its ballot was fenced or no
    /// majority confirmed it: no failure of the destination's, and no
    /// standing to decide the message's fate.
    /// (true: fenced; false: unconfirmed.)
    pub declined_by_ballot: RefCell<BTreeMap<String, bool>>,
    /// Who spoke to us when: the clock of every owner lease.
    pub heard: RefCell<heard::Heard>,
    /// Rung when the queue may have work: it looks at once.
    pub doorbell: wakeup::Doorbell,
    /// Messages this node settled for good, by id → when (its clock, ms);
    /// loaded from its disk at boot (`tombstones.rs`).
    pub tombstones: RefCell<BTreeMap<String, u64>>,
    /// When this disk's spool began, on this node's clock (ms): a message
    /// accepted before it may have been on the disk this node lost, so its
    /// "no copy" says nothing about that message (`spool_birth.rs`).
    pub spool_born_ms: u64,
    /// Connections to peers kept open for the next request.
    pub links: peer_links::IdleLinks,
    /// Recipients a server refused at RCPT, with its reply: filled only
    /// under the `refusal-cached-per-recipient` bug (a refusal answers one
    /// transaction, not every message to that address).
    pub refused_at_rcpt_buggy: RefCell<BTreeMap<String, (u16, String)>>,
}

pub type SharedNode = Rc<Node>;

impl Node {
    pub fn me(&self) -> &str {
        self.env.host_name()
    }

    pub fn now_ms(&self) -> u64 {
        self.env.now().as_millis() as u64
    }

    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.config.tenant(name)
    }

    /// The message is off this node's disk: forget everything held about
    /// it in memory too, so a long-running node does not accumulate the
    /// ids of every message it ever saw (every path that removes a copy
    /// comes through here).
    pub fn forget_message(&self, id: &str) {
        self.entries.borrow_mut().remove(id);
        self.heard.borrow_mut().forget(id);
        self.held_in_doubt.borrow_mut().remove(id);
        self.declined_by_ballot.borrow_mut().remove(id);
    }

    pub fn note(&self, what: &str, detail: String) {
        self.env.observe(EventKind::GwNote {
            what: what.to_string(),
            detail,
        });
    }
}

/// How carefully this node writes a new copy: fully synced, unless a
/// catalogue bug says otherwise. Acceptor and replica share it, so a bug
/// on the write path is not hidden by fsynced replicas.
pub fn durability(config: &GatewayConfig) -> spool::Durability {
    use spool::Durability;
    if config.bug("ack-before-fsync") {
        Durability::Unsynced
    } else if config.bug("ack-before-dir-sync") {
        Durability::FilesOnly
    } else if config.bug("no-parent-dir-sync") {
        Durability::NoParentSync
    } else if config.bug("fsync-retry-trusted") {
        Durability::TrustsFsyncRetry
    } else if config.bug("short-write-ignored") {
        Durability::IgnoresShortWrite
    } else {
        Durability::Synced
    }
}

/// How long the `slow-fsync-assumed-done` bug waits for the disk before
/// it carries on as if the fsync had completed.
const FSYNC_PATIENCE_MS_BUGGY: u64 = 500;

/// Waits until the spool writes made so far have taken effect (a slow
/// disk's fsync takes simulated time), before a 250 or a replica's yes
/// relies on them. The `slow-fsync-assumed-done` bug gives up waiting
/// after [`FSYNC_PATIENCE_MS_BUGGY`] and goes on as if it were done.
pub async fn disk_settled(node: &SharedNode) {
    let settled = node.env.disk_settled();
    if node.config.bug("slow-fsync-assumed-done") {
        let patience = std::time::Duration::from_millis(FSYNC_PATIENCE_MS_BUGGY);
        let _ = crate::env::timeout(node.env.as_ref(), patience, settled).await;
    } else {
        settled.await;
    }
}

/// Runs a gateway node until it is killed.
pub async fn run(env: SharedEnv, config: Rc<GatewayConfig>) {
    let Some(region) = config.node(env.host_name()).map(|n| n.region.clone()) else {
        env.observe(EventKind::GwNote {
            what: "not_configured".into(),
            detail: format!("{} is not a gateway in the config", env.host_name()),
        });
        return;
    };
    let entries = match spool::load_all(env.disk()) {
        Ok(entries) => entries,
        Err(e) => {
            env.observe(EventKind::GwNote {
                what: "spool_unreadable".into(),
                detail: e.to_string(),
            });
            BTreeMap::new()
        }
    };
    let boot_ms = env.now().as_millis() as u64;
    if let Err(e) = tombstone::prepare(env.disk()) {
        env.observe(EventKind::GwNote {
            what: "tombstone_dir_failed".into(),
            detail: e.to_string(),
        });
    }
    let tombstones = tombstone::load_all(env.disk(), boot_ms);
    let spool_born_ms = spool_birth::establish(env.disk(), boot_ms);
    let node = Rc::new(Node {
        env: env.clone(),
        config,
        region,
        entries: RefCell::new(entries),
        in_flight: RefCell::new(BTreeSet::new()),
        settling: RefCell::new(BTreeSet::new()),
        held_in_doubt: RefCell::new(BTreeSet::new()),
        declined_by_ballot: RefCell::new(BTreeMap::new()),
        heard: RefCell::new(heard::Heard::new(boot_ms)),
        doorbell: wakeup::Doorbell::default(),
        refused_at_rcpt_buggy: RefCell::default(),
        tombstones: RefCell::new(tombstones),
        spool_born_ms,
        links: peer_links::IdleLinks::default(),
    });
    tracing::info!(region = %node.region, spool_entries = node.entries.borrow().len(), "gateway booted");
    node.note(
        "boot",
        format!("{} spool entries", node.entries.borrow().len()),
    );
    if node.config.bug("report-disk-lost-on-empty-boot") && node.entries.borrow().is_empty() {
        // The bug: an operator alert written in the world's vocabulary. A
        // lost disk excuses duplicates, so a gateway that may say it lost
        // its disk could excuse its own.
        env.observe(traces::EventKind::FaultStarted {
            fault: u32::MAX,
            kind: "disk_lost".into(),
            target: node.me().to_string(),
        });
    }
    env.spawn(Box::pin(voter::serve(node.clone())));
    env.spawn(Box::pin(sync::run(node.clone())));
    env.spawn(Box::pin(queue::run(node.clone())));
    ingress::serve(node).await;
}

/// Removes a refused message's files; if the disk refuses that too (say,
/// fsync is failing), keeps trying in the background, so a 451 never leaves
/// bytes behind once the disk recovers.
pub fn discard(node: &SharedNode, id: &str) {
    if spool::remove(node.env.disk(), id).is_ok() {
        return;
    }
    let (node, id) = (node.clone(), id.to_string());
    let retry = std::time::Duration::from_millis(node.config.knobs.queue_tick_ms.max(1) * 5);
    node.env.clone().spawn(Box::pin(async move {
        loop {
            node.env.sleep(retry).await;
            if spool::remove(node.env.disk(), &id).is_ok() {
                return;
            }
        }
    }));
}
