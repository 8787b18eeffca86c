//! The turmoil engine's side of the seam: an [`Env`] per booted host, backed
//! by turmoil's simulated TCP, its power-fail filesystem (unsynced writes are
//! lost on a crash), tokio's paused clock, and a per-host seeded generator.
//!
//! Every disk write and every byte received by a gateway-side host is scanned
//! for workload Message-IDs, so where a message's bytes went is recorded by
//! the engine, not by the gateway.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use models::env::{BoxConn, BoxFut, Disk, Env, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use traces::{EventKind, Presence};
use turmoil::fs::shim::std::fs as simfs;

use crate::engine::observer::Observer;
use crate::prng::Prng;

/// Disk faults a host can be put under while a fault is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// fsync returns an error.
    FsyncError,
    /// Writes fail with "no space left".
    Full,
}

/// State shared by all hosts of one run.
pub struct Shared {
    pub observer: Observer,
    /// Host name → region name, for hosts inside the gateway.
    pub host_regions: BTreeMap<String, String>,
    pub disk_faults: RefCell<BTreeMap<String, DiskFault>>,
    /// Gateway hosts whose disk a `disk_lost` fault took.
    pub lost_disks: crate::engine::disk_loss::LostDisks,
    /// Mail domains whose servers reject everything (`mailbox_rejects`).
    pub rejections: Rc<crate::workload::mailbox::Rejections>,
}

impl Shared {
    fn region_of(&self, host: &str) -> Option<&str> {
        self.host_regions.get(host).map(String::as_str)
    }
}

pub struct TurmoilEnv {
    host: String,
    shared: Rc<Shared>,
    prng: RefCell<Prng>,
    disk: SimDisk,
}

impl TurmoilEnv {
    pub fn new(host: &str, shared: Rc<Shared>, seed: u64) -> Self {
        TurmoilEnv {
            host: host.to_string(),
            disk: SimDisk {
                host: host.to_string(),
                shared: shared.clone(),
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
        turmoil::sim_elapsed().unwrap_or_default()
    }

    fn sleep(&self, duration: Duration) -> BoxFut<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
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

    fn random_u64(&self) -> u64 {
        self.prng.borrow_mut().next_u64()
    }

    fn spawn(&self, task: BoxFut<'static, ()>) {
        tokio::task::spawn_local(task);
    }

    fn observe(&self, event: EventKind) {
        self.shared.observer.record(&self.host, event);
    }
}

fn observe_conn(
    stream: turmoil::net::TcpStream,
    me: &str,
    peer: &str,
    shared: Rc<Shared>,
) -> BoxConn {
    match shared.region_of(me).map(str::to_string) {
        Some(region) => Box::new(ObservedConn {
            inner: stream,
            host: me.to_string(),
            region,
            peer: peer.to_string(),
            shared,
            tail: Vec::new(),
            seen: BTreeSet::new(),
        }),
        // Hosts outside the gateway (senders, mailboxes) are not judged for
        // residency; skip the scan.
        None => Box::new(stream),
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

/// A stream that reports which messages' bytes arrived on a gateway host.
struct ObservedConn {
    inner: turmoil::net::TcpStream,
    host: String,
    region: String,
    peer: String,
    shared: Rc<Shared>,
    /// The last bytes of the previous read, so an id split across two reads
    /// is still found.
    tail: Vec<u8>,
    seen: BTreeSet<String>,
}

const TAIL_BYTES: usize = 160;

impl AsyncRead for ObservedConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let fresh = &buf.filled()[before..];
            if !fresh.is_empty() {
                let mut window = std::mem::take(&mut this.tail);
                window.extend_from_slice(fresh);
                this.shared.observer.spot_messages(
                    &this.host,
                    &this.region,
                    Presence::Received,
                    &this.peer,
                    &window,
                    &mut this.seen,
                );
                let keep = window.len().saturating_sub(TAIL_BYTES);
                this.tail = window.split_off(keep);
            }
        }
        poll
    }
}

impl AsyncWrite for ObservedConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A host's disk on turmoil's filesystem, with our disk faults on top and
/// every write scanned for message bytes.
struct SimDisk {
    host: String,
    shared: Rc<Shared>,
}

fn absolute(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

impl SimDisk {
    fn fault(&self) -> Option<DiskFault> {
        self.shared.disk_faults.borrow().get(&self.host).copied()
    }
}

impl Disk for SimDisk {
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        if self.fault() == Some(DiskFault::Full) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        if let Some(region) = self.shared.region_of(&self.host) {
            let mut seen = BTreeSet::new();
            self.shared.observer.spot_messages(
                &self.host,
                region,
                Presence::Stored,
                path,
                bytes,
                &mut seen,
            );
        }
        simfs::write(absolute(path), bytes)
    }

    fn sync(&self, path: &str) -> io::Result<()> {
        if self.fault() == Some(DiskFault::FsyncError) {
            return Err(io::Error::other("fsync failed: input/output error"));
        }
        simfs::OpenOptions::new()
            .write(true)
            .open(absolute(path))?
            .sync_all()
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        if self.fault() == Some(DiskFault::FsyncError) {
            return Err(io::Error::other("fsync failed: input/output error"));
        }
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
