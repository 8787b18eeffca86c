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
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};
    use std::io;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;
    use crate::config::{GatewayConfig, Knobs, Node as Host, Region};
    use crate::env::{BoxConn, BoxFut, Disk, Env, Listener};
    use crate::gateway::ballot::Ballot;
    use crate::gateway::wire::{Held, PeerReply, PeerRequest};
    use crate::gateway::{Node, heard, voter, wakeup};
    use crate::spool::{Entry, NewMessage};

    /// A disk in memory that keeps everything it is given: these tests are
    /// about what a node says, not about crashes.
    #[derive(Default)]
    struct MemDisk {
        files: RefCell<BTreeMap<String, Vec<u8>>>,
    }

    impl Disk for MemDisk {
        fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
            self.files.borrow_mut().insert(path.into(), bytes.to_vec());
            Ok(())
        }
        fn sync(&self, _path: &str) -> io::Result<()> {
            Ok(())
        }
        fn sync_dir(&self, _dir: &str) -> io::Result<()> {
            Ok(())
        }
        fn read(&self, path: &str) -> io::Result<Vec<u8>> {
            let files = self.files.borrow();
            files
                .get(path)
                .cloned()
                .ok_or(io::ErrorKind::NotFound.into())
        }
        fn list(&self, dir: &str) -> io::Result<Vec<String>> {
            let prefix = format!("{dir}/");
            let files = self.files.borrow();
            let names = files.keys().filter_map(|p| p.strip_prefix(&prefix));
            Ok(names.map(str::to_string).collect())
        }
        fn remove(&self, path: &str) -> io::Result<()> {
            let removed = self.files.borrow_mut().remove(path);
            removed.map(|_| ()).ok_or(io::ErrorKind::NotFound.into())
        }
        fn rename(&self, from: &str, to: &str) -> io::Result<()> {
            let bytes = self.read(from)?;
            self.remove(from)?;
            self.write(to, &bytes)
        }
        fn create_dir_all(&self, _dir: &str) -> io::Result<()> {
            Ok(())
        }
    }

    /// A node's surroundings for answering one peer request at a time.
    struct TestEnv {
        disk: Rc<MemDisk>,
    }

    impl Env for TestEnv {
        fn host_name(&self) -> &str {
            "gw-b"
        }
        fn now(&self) -> Duration {
            Duration::from_secs(10)
        }
        fn sleep(&self, _duration: Duration) -> BoxFut<'static, ()> {
            unimplemented!("answering a request never sleeps")
        }
        fn connect(&self, _host: &str, _port: u16) -> BoxFut<'static, io::Result<BoxConn>> {
            unimplemented!("answering a request never connects")
        }
        fn listen(&self, _port: u16) -> BoxFut<'static, io::Result<Box<dyn Listener>>> {
            unimplemented!("answering a request never listens")
        }
        fn disk(&self) -> &dyn Disk {
            self.disk.as_ref()
        }
        fn random_u64(&self) -> u64 {
            unimplemented!("answering a request draws no randomness")
        }
        fn spawn(&self, _task: BoxFut<'static, ()>) {
            unimplemented!("answering a request spawns nothing")
        }
        fn observe(&self, _event: traces::EventKind) {}
    }

    fn node(disk: &Rc<MemDisk>, bugs: &[&str]) -> SharedNode {
        let region = |name: &str, cloud: &str| Region {
            name: name.into(),
            cloud: cloud.into(),
            jurisdiction: "us".into(),
        };
        let host = |host: &str, region: &str| Host {
            host: host.into(),
            region: region.into(),
        };
        let config = GatewayConfig {
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
        };
        let env = TestEnv { disk: disk.clone() };
        let tombstones = tombstone::load_all(&*env.disk, 0);
        Rc::new(Node {
            env: Rc::new(env),
            config: Rc::new(config),
            region: "r2".into(),
            entries: RefCell::new(BTreeMap::new()),
            in_flight: RefCell::new(BTreeSet::new()),
            settling: RefCell::new(BTreeSet::new()),
            heard: RefCell::new(heard::Heard::new(0)),
            doorbell: wakeup::Doorbell::default(),
            tombstones: RefCell::new(tombstones),
        })
    }

    fn entry() -> Entry {
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

    fn replicate(node: &SharedNode) -> PeerReply {
        let request = PeerRequest::Replicate { entry: entry() };
        voter::answer(node, "gw-a", request, b"Subject: hi\r\n\r\nhello\r\n")
    }

    fn forget(node: &SharedNode, for_good: bool) -> PeerReply {
        let request = PeerRequest::Forget {
            id: entry().id,
            ballot: Ballot::of(&entry()),
            for_good,
        };
        voter::answer(node, "gw-a", request, &[])
    }

    /// What `node` says about the message when gw-c asks in a sync round.
    fn says_finished(node: &SharedNode) -> bool {
        let held = Held {
            id: entry().id,
            ballot: Ballot::of(&entry()),
            delivering: false,
        };
        let request = PeerRequest::Sync {
            ballots: vec![held],
        };
        match voter::answer(node, "gw-c", request, &[]) {
            PeerReply::Stances { stances } => {
                assert!(stances[0].held.is_none(), "the copy is gone");
                stances[0].finished
            }
            other => panic!("a sync is answered with stances, not {other:?}"),
        }
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
    fn settled_unspoken_keeps_the_tombstone_quiet() {
        let node = node(&Rc::new(MemDisk::default()), &["settled-unspoken"]);
        assert!(matches!(replicate(&node), PeerReply::Ok));
        assert!(matches!(forget(&node, true), PeerReply::Ok));
        assert!(!says_finished(&node));
    }
}
