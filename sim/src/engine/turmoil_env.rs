//! The turmoil engine's side of the seam: an [`Env`] per booted host, backed
//! by turmoil's simulated TCP, its power-fail filesystem (unsynced writes are
//! lost on a crash), tokio's paused clock read through the host's own clock
//! (`host_clock`), and a per-host seeded generator; every task it spawns
//! runs behind the host's pause gate (`pause`).
//!
//! Every disk write and every byte received by a gateway-side host is scanned
//! for workload Message-IDs (`engine::seam`), so where a message's bytes went
//! is recorded by the engine, not by the gateway.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use models::env::{BoxConn, BoxFut, Disk, Env, Listener};
use traces::EventKind;
use turmoil::fs::shim::std::fs as simfs;

use crate::engine::pause::gated;
pub use crate::engine::seam::{DiskFault, Shared};
use crate::engine::seam::{ObservedDisk, observe_conn};
use crate::prng::Prng;

pub struct TurmoilEnv {
    host: String,
    shared: Rc<Shared>,
    prng: RefCell<Prng>,
    disk: ObservedDisk<TurmoilDisk>,
}

impl TurmoilEnv {
    pub fn new(host: &str, shared: Rc<Shared>, seed: u64) -> Self {
        TurmoilEnv {
            host: host.to_string(),
            disk: ObservedDisk {
                host: host.to_string(),
                shared: shared.clone(),
                inner: TurmoilDisk,
                durable: Default::default(),
            },
            shared,
            prng: RefCell::new(Prng::new(seed)),
        }
    }
}

impl Env for TurmoilEnv {
    fn host_name(&self) -> &str {
        &self.host
    }

    fn now(&self) -> Duration {
        let global = turmoil::sim_elapsed().unwrap_or_default();
        self.shared.host_faults.clocks.local(&self.host, global)
    }

    fn sleep(&self, duration: Duration) -> BoxFut<'static, ()> {
        let clocks = &self.shared.host_faults.clocks;
        Box::pin(tokio::time::sleep(clocks.global_span(&self.host, duration)))
    }

    fn connect(&self, host: &str, port: u16) -> BoxFut<'static, io::Result<BoxConn>> {
        let target = host.to_string();
        let me = self.host.clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect((target.as_str(), port)).await?;
            Ok(observe_conn(stream, &me, &target, shared))
        })
    }

    fn listen(&self, port: u16) -> BoxFut<'static, io::Result<Box<dyn Listener>>> {
        let me = self.host.clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            let listener =
                turmoil::net::TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, port)).await?;
            Ok(Box::new(SimListener {
                listener,
                host: me,
                shared,
            }) as Box<dyn Listener>)
        })
    }

    fn disk(&self) -> &dyn Disk {
        &self.disk
    }

    fn disk_settled(&self) -> BoxFut<'static, ()> {
        let wait = self.sleep(Duration::from_millis(
            crate::engine::slow_disk::SLOW_FSYNC_MS,
        ));
        crate::engine::seam::disk_settled(&self.shared, &self.host, wait)
    }

    fn random_u64(&self) -> u64 {
        self.prng.borrow_mut().next_u64()
    }

    fn spawn(&self, task: BoxFut<'static, ()>) {
        tokio::task::spawn_local(gated(self.shared.clone(), self.host.clone(), task));
    }

    fn observe(&self, event: EventKind) {
        self.shared.observe_from(&self.host, event);
    }

    fn buggify(&self, site: &'static str) -> bool {
        let buggify = &self.shared.host_faults.buggify;
        buggify.fires(&self.shared.observer, &self.host, site)
    }
}

struct SimListener {
    listener: turmoil::net::TcpListener,
    host: String,
    shared: Rc<Shared>,
}

impl Listener for SimListener {
    fn accept(&self) -> BoxFut<'_, io::Result<(BoxConn, String)>> {
        Box::pin(async move {
            let (stream, addr) = self.listener.accept().await?;
            let peer = turmoil::reverse_lookup(addr.ip()).unwrap_or_else(|| addr.ip().to_string());
            let conn = observe_conn(stream, &self.host, &peer, self.shared.clone());
            Ok((conn, peer))
        })
    }
}

/// The current host's disk on turmoil's filesystem (turmoil knows which
/// host is running; the handle itself carries nothing).
struct TurmoilDisk;

fn absolute(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

impl Disk for TurmoilDisk {
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        simfs::write(absolute(path), bytes)
    }

    fn sync(&self, path: &str) -> io::Result<()> {
        simfs::OpenOptions::new()
            .write(true)
            .open(absolute(path))?
            .sync_all()
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        simfs::sync_dir(absolute(dir))
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        simfs::read(absolute(path))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let dir = absolute(dir);
        if !simfs::exists(&dir) {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for entry in simfs::read_dir(&dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        simfs::remove_file(absolute(path))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        simfs::rename(absolute(from), absolute(to))
    }

    fn create_dir_all(&self, dir: &str) -> io::Result<()> {
        simfs::create_dir_all(absolute(dir))
    }
}
