//! One gateway node (gw-b of three, one per cloud) in a unit test: an
//! in-memory disk, a clock the test sets (10 s unless told), the peer
//! connections the test hands it, and the real `voter::answer`, so tests of
//! what a node says, keeps and asks run the code a peer would reach,
//! without a network.

#![cfg(test)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use crate::config::{GatewayConfig, Knobs, Node as Host, Region};
use crate::env::{BoxConn, BoxFut, Disk, Env, Listener};
use crate::gateway::ballot::Ballot;
use crate::gateway::wire::{Held, PeerReply, PeerRequest, Stance};
use crate::gateway::{Node, SharedNode, heard, voter, wakeup};
use crate::mem_disk::MemDisk;
use crate::spool::{Entry, NewMessage};
use crate::tombstone;

/// A node's surroundings in a unit test.
pub struct TestEnv {
    disk: Rc<MemDisk>,
    now_ms: Cell<u64>,
    /// What `connect` hands out next, by host, in order; a host with none
    /// refuses.
    connections: RefCell<BTreeMap<String, VecDeque<BoxConn>>>,
    /// Every host the node tried to connect to, in order.
    dialled: RefCell<Vec<String>>,
    observed: RefCell<Vec<traces::EventKind>>,
}

impl TestEnv {
    pub fn set_now_ms(&self, now_ms: u64) {
        self.now_ms.set(now_ms);
    }

    /// The next connection the node opens to `host` is `conn` (the test
    /// holds the other end).
    pub fn give_connection(&self, host: &str, conn: BoxConn) {
        (self.connections.borrow_mut())
            .entry(host.to_string())
            .or_default()
            .push_back(conn);
    }

    /// Every host the node tried to connect to, in order.
    pub fn dialled(&self) -> Vec<String> {
        self.dialled.borrow().clone()
    }

    /// The `gw_note`s the node made, as (what, detail).
    pub fn notes(&self) -> Vec<(String, String)> {
        (self.observed.borrow().iter())
            .filter_map(|e| match e {
                traces::EventKind::GwNote { what, detail } => Some((what.clone(), detail.clone())),
                _ => None,
            })
            .collect()
    }
}

impl Env for TestEnv {
    fn host_name(&self) -> &str {
        "gw-b"
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms.get())
    }
    fn sleep(&self, _duration: Duration) -> BoxFut<'static, ()> {
        // Time stands still: a timeout never fires.
        Box::pin(std::future::pending())
    }
    fn connect(&self, host: &str, _port: u16) -> BoxFut<'static, io::Result<BoxConn>> {
        self.dialled.borrow_mut().push(host.to_string());
        let next = (self.connections.borrow_mut())
            .get_mut(host)
            .and_then(VecDeque::pop_front);
        let refused = || io::Error::new(io::ErrorKind::ConnectionRefused, host.to_string());
        let result = next.ok_or_else(refused);
        Box::pin(async move { result })
    }
    fn listen(&self, _port: u16) -> BoxFut<'static, io::Result<Box<dyn Listener>>> {
        unimplemented!("a unit-test node never listens")
    }
    fn disk(&self) -> &dyn Disk {
        self.disk.as_ref()
    }
    fn random_u64(&self) -> u64 {
        unimplemented!("a unit-test node draws no randomness")
    }
    /// On the test's `tokio::task::LocalSet`.
    fn spawn(&self, task: BoxFut<'static, ()>) {
        tokio::task::spawn_local(task);
    }
    fn observe(&self, event: traces::EventKind) {
        self.observed.borrow_mut().push(event);
    }
}

pub fn node(disk: &Rc<MemDisk>, bugs: &[&str]) -> SharedNode {
    node_and_env(disk, bugs).0
}

/// [`node`], and its surroundings for the test to drive.
pub fn node_and_env(disk: &Rc<MemDisk>, bugs: &[&str]) -> (SharedNode, Rc<TestEnv>) {
    let env = Rc::new(TestEnv {
        disk: disk.clone(),
        now_ms: Cell::new(10_000),
        connections: RefCell::default(),
        dialled: RefCell::default(),
        observed: RefCell::default(),
    });
    let tombstones = tombstone::load_all(&*env.disk, 0);
    (node_on(env.clone(), "r2", bugs, tombstones), env)
}

/// The three-gateway config these tests use (gw-a, gw-b, gw-c: one per
/// cloud).
pub fn config(bugs: &[&str]) -> GatewayConfig {
    let region = |name: &str, cloud: &str| Region {
        name: name.into(),
        cloud: cloud.into(),
        jurisdiction: "us".into(),
    };
    let host = |host: &str, region: &str| Host {
        host: host.into(),
        region: region.into(),
    };
    GatewayConfig {
        regions: vec![
            region("r1", "aws"),
            region("r2", "gcp"),
            region("r3", "azure"),
        ],
        gateways: vec![host("gw-a", "r1"), host("gw-b", "r2"), host("gw-c", "r3")],
        scanners: Vec::new(),
        controllers: Vec::new(),
        tenants: Vec::new(),
        dns_host: "dns".into(),
        knobs: Knobs::simulation_defaults(),
        bugs: bugs.iter().map(|b| b.to_string()).collect(),
        postmaster: None,
    }
}

/// A node of [`config`] in `region`, on `env`, with nothing in memory.
pub fn node_on(
    env: crate::env::SharedEnv,
    region: &str,
    bugs: &[&str],
    tombstones: BTreeMap<String, u64>,
) -> SharedNode {
    Rc::new(Node {
        env,
        config: Rc::new(config(bugs)),
        region: region.into(),
        entries: RefCell::new(BTreeMap::new()),
        in_flight: RefCell::new(BTreeSet::new()),
        settling: RefCell::new(BTreeSet::new()),
        held_in_doubt: RefCell::new(BTreeSet::new()),
        declined_by_ballot: RefCell::new(BTreeMap::new()),
        heard: RefCell::new(heard::Heard::new(0)),
        doorbell: wakeup::Doorbell::default(),
        tombstones: RefCell::new(tombstones),
        spool_born_ms: 0,
        links: super::peer_links::IdleLinks::default(),
        refused_at_rcpt_buggy: RefCell::default(),
    })
}

pub fn entry() -> Entry {
    let message = NewMessage {
        id: "0123456789abcdef".into(),
        message_id: "m1@sender.example".into(),
        tenant: "acme".into(),
        mail_from: "x@sender.example".into(),
        rcpts: vec!["a@acme.example".into()],
        owner: "gw-a".into(),
        epoch: 1,
        replicas: vec!["gw-b".into(), "gw-c".into()],
        smtputf8: false,
    };
    Entry::new(message, 1_000)
}

pub fn replicate(node: &SharedNode) -> PeerReply {
    let request = PeerRequest::Replicate { entry: entry() };
    voter::answer(node, "gw-a", request, b"Subject: hi\r\n\r\nhello\r\n")
}

pub fn forget(node: &SharedNode, for_good: bool) -> PeerReply {
    forget_as(node, for_good, false)
}

/// The forget of an owner that quarantined the message.
pub fn forget_quarantined(node: &SharedNode) -> PeerReply {
    let request = PeerRequest::Forget {
        id: entry().id,
        ballot: Ballot::of(&entry()),
        for_good: true,
        refused: false,
        quarantined: true,
    };
    voter::answer(node, "gw-a", request, &[])
}

/// The forget an acceptor sends when it refused the message at ingress.
pub fn forget_refused(node: &SharedNode) -> PeerReply {
    forget_as(node, true, true)
}

fn forget_as(node: &SharedNode, for_good: bool, refused: bool) -> PeerReply {
    let request = PeerRequest::Forget {
        id: entry().id,
        ballot: Ballot::of(&entry()),
        for_good,
        refused,
        quarantined: false,
    };
    voter::answer(node, "gw-a", request, &[])
}

/// What `node` says about the message when gw-c asks in a sync round.
pub fn sync_stance(node: &SharedNode) -> Stance {
    let held = Held {
        id: entry().id,
        ballot: Ballot::of(&entry()),
        delivering: false,
    };
    let request = PeerRequest::Sync {
        ballots: vec![held],
    };
    match voter::answer(node, "gw-c", request, &[]) {
        PeerReply::Stances { mut stances } => stances.remove(0),
        other => panic!("a sync is answered with stances, not {other:?}"),
    }
}

/// `entry` as this node (gw-b) owns it, gw-a and gw-c its replicas.
pub fn owned_here(mut entry: Entry) -> Entry {
    entry.owner = "gw-b".into();
    entry.replicas = vec!["gw-a".into(), "gw-c".into()];
    entry
}

/// `node`'s memory of who spoke when, as if it booted at `boot_ms` and
/// has heard from no owner since (at 10 s, a boot at 0 is a lease ago).
pub fn quiet_since(node: &SharedNode, boot_ms: u64) {
    *node.heard.borrow_mut() = heard::Heard::new(boot_ms);
}
