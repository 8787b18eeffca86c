//! Two nodes talking over an in-memory network (tokio duplex pipes), so a
//! unit test can watch what `peer.rs` and `voter.rs` do with connections:
//! requests to one peer share one connection, and a connection closed
//! under the asker costs a reconnect, not a failed request.

#![cfg(test)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::PEER_PORT;
use crate::env::{BoxConn, BoxFut, Disk, Env, Listener};
use crate::gateway::answering_node::node_on;
use crate::gateway::{SharedNode, peer, voter};
use crate::mem_disk::MemDisk;

/// Listeners by host, and how many connections each accepted.
#[derive(Default)]
struct Net {
    listeners: RefCell<BTreeMap<String, mpsc::UnboundedSender<(BoxConn, String)>>>,
    accepted: Cell<usize>,
}

struct PipeListener {
    incoming: tokio::sync::Mutex<mpsc::UnboundedReceiver<(BoxConn, String)>>,
    net: Rc<Net>,
}

impl Listener for PipeListener {
    fn accept(&self) -> BoxFut<'_, io::Result<(BoxConn, String)>> {
        Box::pin(async move {
            let next = self.incoming.lock().await.recv().await;
            self.net.accepted.set(self.net.accepted.get() + 1);
            next.ok_or_else(|| io::Error::other("network gone"))
        })
    }
}

struct PipeEnv {
    host: String,
    net: Rc<Net>,
    disk: MemDisk,
}

impl Env for PipeEnv {
    fn host_name(&self) -> &str {
        &self.host
    }
    fn now(&self) -> Duration {
        // A stopped clock: every kept connection is young enough to reuse.
        Duration::ZERO
    }
    fn sleep(&self, duration: Duration) -> BoxFut<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
    fn connect(&self, host: &str, port: u16) -> BoxFut<'static, io::Result<BoxConn>> {
        assert_eq!(port, PEER_PORT);
        let listener = self.net.listeners.borrow().get(host).cloned();
        let me = self.host.clone();
        Box::pin(async move {
            let listener = listener.ok_or(io::ErrorKind::ConnectionRefused)?;
            let (mine, theirs) = tokio::io::duplex(1 << 20);
            listener
                .send((Box::new(theirs), me))
                .map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
            Ok(Box::new(mine) as BoxConn)
        })
    }
    fn listen(&self, _port: u16) -> BoxFut<'static, io::Result<Box<dyn Listener>>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.net
            .listeners
            .borrow_mut()
            .insert(self.host.clone(), sender);
        let net = self.net.clone();
        Box::pin(async move {
            Ok(Box::new(PipeListener {
                incoming: tokio::sync::Mutex::new(receiver),
                net,
            }) as Box<dyn Listener>)
        })
    }
    fn disk(&self) -> &dyn Disk {
        &self.disk
    }
    fn random_u64(&self) -> u64 {
        4
    }
    fn spawn(&self, task: BoxFut<'static, ()>) {
        tokio::task::spawn_local(task);
    }
    fn observe(&self, _event: traces::EventKind) {}
}

fn node(net: &Rc<Net>, host: &str, region: &str) -> SharedNode {
    let env = PipeEnv {
        host: host.into(),
        net: net.clone(),
        disk: MemDisk::default(),
    };
    node_on(Rc::new(env), region, &[], BTreeMap::new())
}

fn on_one_thread(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    tokio::task::LocalSet::new().block_on(&runtime, test);
}

#[test]
fn requests_to_one_peer_share_a_connection() {
    on_one_thread(async {
        let net = Rc::new(Net::default());
        let (a, b) = (node(&net, "gw-a", "r1"), node(&net, "gw-b", "r2"));
        tokio::task::spawn_local(voter::serve(b.clone()));
        tokio::task::yield_now().await;
        for _ in 0..5 {
            let stances = peer::sync(&a, "gw-b", Vec::new()).await.expect("answered");
            assert!(stances.is_empty());
        }
        assert_eq!(net.accepted.get(), 1, "five requests, one connection");
        assert_eq!(a.links.count("gw-b"), 1);
    });
}

#[test]
fn a_connection_closed_under_the_asker_costs_a_reconnect_not_a_failure() {
    on_one_thread(async {
        let net = Rc::new(Net::default());
        let (a, b) = (node(&net, "gw-a", "r1"), node(&net, "gw-b", "r2"));
        tokio::task::spawn_local(voter::serve(b.clone()));
        tokio::task::yield_now().await;
        // An idle connection whose other end is gone (the peer restarted).
        let (dead, other_end) = tokio::io::duplex(64);
        drop(other_end);
        a.links.put("gw-b", Box::new(dead), a.now_ms());
        peer::sync(&a, "gw-b", Vec::new())
            .await
            .expect("answered on a new connection");
        assert_eq!(net.accepted.get(), 1);
        assert_eq!(a.links.count("gw-b"), 1, "the new one is kept");
        // A peer that is not there at all is still an error.
        assert!(peer::sync(&a, "gw-c", Vec::new()).await.is_err());
    });
}

#[test]
fn a_copy_goes_on_a_connection_of_its_own() {
    // A copy held up past the asker's timeout must meet the answering
    // side's first-request deadline, never a kept connection's idle wait.
    on_one_thread(async {
        let net = Rc::new(Net::default());
        let (a, b) = (node(&net, "gw-a", "r1"), node(&net, "gw-b", "r2"));
        tokio::task::spawn_local(voter::serve(b.clone()));
        tokio::task::yield_now().await;
        let entry = crate::gateway::answering_node::entry();
        for _ in 0..2 {
            peer::replicate(&a, "gw-b", &entry, b"Subject: hi\r\n\r\nhello\r\n")
                .await
                .expect("stored");
        }
        assert_eq!(net.accepted.get(), 2, "two copies, two connections");
        assert_eq!(a.links.count("gw-b"), 0, "none kept");
    });
}
