//! The engine-independent half of a simulated host's seam: state shared by
//! every host of one run (the observer, which host is in which region, the
//! disk faults in force), and the two wrappers every simulated engine puts
//! around its own sockets and disks — one that scans the bytes a gateway
//! host receives for workload Message-IDs (residency is judged from the
//! outside), and one that applies our disk faults and scans every write.
//!
//! turmoil and madsim supply the raw socket and the raw disk; what is
//! observed, and how a faulty disk fails, is the same on both.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use models::env::{BoxConn, Conn, Disk};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use traces::{EventKind, Presence, Source};

use crate::engine::dir_entries;
use crate::engine::durable_watch::DurableWatch;
use crate::engine::honest_disk;
use crate::engine::observer::{Observer, message_ids_in};

/// Disk faults a host can be put under while a fault is active (the
/// honest ones' behaviour: `honest_disk.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// fsync returns an error.
    FsyncError,
    /// Writes fail with "no space left".
    Full,
    /// Reads fail with EIO.
    ReadError,
    /// Some reads return one bit flipped, without an error.
    CorruptRead,
    /// fsync fails and drops the dirty pages: a later fsync "succeeds".
    FsyncForgets,
    /// Writes stop halfway with "no space left".
    FullMidWrite,
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
    /// The classes of event source each host may report as, by host.
    pub sources: BTreeMap<String, Vec<Source>>,
    /// Per-host clocks, pauses and BUGGIFY.
    pub host_faults: crate::engine::host_faults::HostFaults,
    /// Directories whose own name is not durable yet, by host.
    pub unsynced_dirs: crate::engine::dir_entries::UnsyncedDirs,
    /// Dirty pages dropped by failed fsyncs, and corruption draws.
    pub honest_disks: crate::engine::honest_disk::HonestDisks,
    /// Polls at one simulated instant; trips on a loop that takes no time.
    pub livelock: crate::engine::livelock::LivelockGuard,
}

impl Shared {
    /// Records an event a host reports through its `Env::observe`, if its
    /// kind may come from that host's class; otherwise records that the
    /// seam refused it (provenance: a host speaks only for itself).
    pub fn observe_from(&self, host: &str, kind: EventKind) {
        let from = kind.source();
        let allowed = self
            .sources
            .get(host)
            .is_some_and(|sources| sources.contains(&from));
        if allowed {
            self.observer.record(host, kind);
        } else {
            self.observer.record(
                host,
                EventKind::EventRefused {
                    kind: kind.name().to_string(),
                    from,
                },
            );
        }
    }

    pub fn region_of(&self, host: &str) -> Option<&str> {
        self.host_regions.get(host).map(String::as_str)
    }
}

/// Wraps a connection of host `me` with `peer` so that a gateway-side host
/// reports which messages' bytes arrived on it. Hosts outside the gateway
/// (senders, mailboxes) are not judged for residency: no scan.
pub fn observe_conn<S: Conn + 'static>(
    stream: S,
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
        None => Box::new(stream),
    }
}

/// A stream that reports which messages' bytes arrived on a gateway host.
struct ObservedConn<S> {
    inner: S,
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

impl<S: Conn> AsyncRead for ObservedConn<S> {
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
                // Ids that straddle the previous read and this one, then the
                // ids inside this read, in order (scanning the tail and the
                // whole read as one window finds the same, with a copy).
                let mut boundary = std::mem::take(&mut this.tail);
                boundary.extend_from_slice(&fresh[..fresh.len().min(TAIL_BYTES)]);
                for window in [&boundary[..], fresh] {
                    this.shared.observer.spot_messages(
                        &this.host,
                        &this.region,
                        Presence::Received,
                        &this.peer,
                        window,
                        &mut this.seen,
                    );
                }
                this.tail = if fresh.len() >= TAIL_BYTES {
                    fresh[fresh.len() - TAIL_BYTES..].to_vec()
                } else {
                    let keep = boundary.len().saturating_sub(TAIL_BYTES);
                    boundary.split_off(keep)
                };
            }
        }
        poll
    }
}

impl<S: Conn> AsyncWrite for ObservedConn<S> {
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

/// A host's disk with our disk faults on top and every write scanned for
/// message bytes; `inner` is the engine's own disk. On a gateway-side host
/// it also records the moment message bytes become durable
/// (`bytes_durable`, see `durable_watch`).
pub struct ObservedDisk<D> {
    pub host: String,
    pub shared: Rc<Shared>,
    pub inner: D,
    /// Files of this boot holding message bytes, not durable yet.
    pub durable: DurableWatch,
}

impl<D> ObservedDisk<D> {
    fn fault(&self) -> Option<DiskFault> {
        self.shared.disk_faults.borrow().get(&self.host).copied()
    }

    fn check_fsync(&self) -> io::Result<()> {
        if self.fault() == Some(DiskFault::FsyncError) {
            return Err(honest_disk::eio("fsync"));
        }
        Ok(())
    }

    /// Whether a directory's name is durable all the way up on this host.
    fn reachable(&self, dir: &str) -> bool {
        self.shared.unsynced_dirs.reachable(&self.host, dir)
    }

    /// Records `bytes_durable` for `ids` now durable at `path`.
    fn report_durable(&self, path: &str, ids: Vec<String>) {
        let Some(region) = self.shared.region_of(&self.host) else {
            return;
        };
        for msg in ids {
            self.shared.observer.record(
                &self.host,
                EventKind::BytesDurable {
                    msg,
                    region: region.to_string(),
                    place: path.to_string(),
                },
            );
        }
    }
}

impl<D: Disk> Disk for ObservedDisk<D> {
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let full = || io::Error::new(io::ErrorKind::StorageFull, "no space left on device");
        if self.fault() == Some(DiskFault::Full) {
            return Err(full());
        }
        self.shared.honest_disks.rewritten(&self.host, path);
        let (bytes, cut) = match self.fault() {
            Some(DiskFault::FullMidWrite) => (honest_disk::cut_short(bytes), true),
            _ => (bytes, false),
        };
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
        let result = self.inner.write(path, bytes);
        if self.shared.region_of(&self.host).is_some() {
            // Even a failed write may have replaced what was there (a cut
            // write keeps its first half, Message-IDs and all).
            let ids = if result.is_ok() {
                message_ids_in(bytes)
            } else {
                Vec::new()
            };
            self.durable.written(path, ids);
        }
        result?;
        if cut {
            return Err(full());
        }
        Ok(())
    }

    fn sync(&self, path: &str) -> io::Result<()> {
        if self.shared.honest_disks.is_forgotten(&self.host, path) {
            // A failed fsync marked the pages clean: nothing dirty is left
            // to write, so this one succeeds, and nothing is durable.
            return Ok(());
        }
        if self.fault() == Some(DiskFault::FsyncForgets) {
            // Fails once per write, and the write is lost with it.
            self.shared.honest_disks.forget(&self.host, path);
            return Err(honest_disk::eio("fsync"));
        }
        self.check_fsync()?;
        self.inner.sync(path)?;
        let ids = self.durable.synced(path, &|dir| self.reachable(dir));
        self.report_durable(path, ids);
        Ok(())
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        self.check_fsync()?;
        self.inner.sync_dir(dir)?;
        self.shared.unsynced_dirs.synced(&self.host, dir);
        for (path, ids) in self.durable.dir_synced(dir, &|d| self.reachable(d)) {
            self.report_durable(&path, ids);
        }
        Ok(())
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        match self.fault() {
            Some(DiskFault::ReadError) => Err(honest_disk::eio("read")),
            Some(DiskFault::CorruptRead) => {
                let bytes = self.inner.read(path)?;
                Ok(self.shared.honest_disks.corrupt(&self.host, path, bytes))
            }
            _ => self.inner.read(path),
        }
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        self.durable.removed(path);
        self.shared.honest_disks.rewritten(&self.host, path);
        self.inner.remove(path)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.rename(from, to)?;
        self.durable.renamed(from, to);
        self.shared.honest_disks.renamed(&self.host, from, to);
        Ok(())
    }

    fn create_dir_all(&self, dir: &str) -> io::Result<()> {
        // Which levels are new: their names need their parents synced.
        let dir = dir_entries::clean(dir);
        let mut new_levels = Vec::new();
        let mut at = dir.as_str();
        while !at.is_empty() {
            let name = at.rsplit_once('/').map_or(at, |(_, name)| name);
            let exists = self
                .inner
                .list(dir_entries::parent(at))
                .is_ok_and(|names| names.iter().any(|n| n == name));
            if exists {
                break;
            }
            new_levels.push(at.to_string());
            at = dir_entries::parent(at);
        }
        self.inner.create_dir_all(&dir)?;
        for level in new_levels {
            self.shared.unsynced_dirs.created(&self.host, &level);
        }
        Ok(())
    }
}
