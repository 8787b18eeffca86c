//! The madsim engine's side of the seam (builds with `--cfg madsim`): an
//! [`Env`] per booted host over madsim's simulated TCP, its clock and its
//! task executor, with our own power-fail disk (`power_fail_disk`, since
//! madsim has none) and a per-host seeded generator.
//!
//! madsim's network has one latency for every link, so link latencies are
//! ours: madsim is told to add none beyond its 1 ms floor per segment, and
//! [`LinkConn`] holds each received segment back until the topology's
//! latency for that link has passed (a gray link draws between the floor
//! and its ceiling, and each lost segment costs a 200 ms retransmission:
//! madsim's TCP is a reliable channel, so loss shows as delay, where
//! turmoil's stalls the connection). Writes are flushed at once, as turmoil's
//! are. As on turmoil, gateway hosts' received bytes and disk writes are
//! scanned for Message-IDs (`engine::seam`).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use madsim::net::{TcpListener, TcpStream};
use madsim::rand::Rng;
use madsim::time::{Sleep, TimeHandle};
use models::env::{BoxConn, BoxFut, Disk, Env, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use traces::EventKind;

use crate::engine::power_fail_disk::PowerFailDisk;
use crate::engine::seam::{ObservedDisk, Shared, observe_conn};
use crate::prng::Prng;
use crate::topology::Topology;
use models::config::Region;

/// What madsim adds to every segment by itself: its sleeps last at least
/// 1 ms.
const MADSIM_FLOOR_MS: u64 = 1;
/// The delay a lost segment costs on a gray link (Linux's minimum RTO).
const RETRANSMIT_MS: u64 = 200;

/// The simulated network's names and links, shared by the hosts of one run.
pub struct Links {
    /// Host name → its address in madsim's network.
    pub addrs: BTreeMap<String, IpAddr>,
    /// Address → host name, for the peer of an accepted connection.
    pub names: BTreeMap<IpAddr, String>,
    pub topology: Topology,
    /// Host name → its region, for hosts inside one (looked up once: the
    /// topology derives host names on every call).
    regions: BTreeMap<String, Region>,
    /// Host pair (in name order) → (latency ceiling ms, loss percent).
    pub gray: RefCell<BTreeMap<(String, String), (u64, u8)>>,
}

impl Links {
    /// Gives every host an address (10.x.y.z, in the order given).
    pub fn new(hosts: &[String], topology: Topology) -> Self {
        let mut addrs = BTreeMap::new();
        let mut names = BTreeMap::new();
        for (i, host) in hosts.iter().enumerate() {
            let ip = IpAddr::V4(Ipv4Addr::new(
                10,
                (i / 250 / 250) as u8,
                (i / 250 % 250) as u8,
                (i % 250 + 1) as u8,
            ));
            addrs.insert(host.clone(), ip);
            names.insert(ip, host.clone());
        }
        let mut regions = BTreeMap::new();
        for region in &topology.regions {
            for host in topology.hosts_in_region(region) {
                regions.insert(host, region.clone());
            }
        }
        Links {
            addrs,
            names,
            regions,
            topology,
            gray: RefCell::new(BTreeMap::new()),
        }
    }

    fn base_ms(&self, a: &str, b: &str) -> u64 {
        self.topology
            .latency_ms(self.regions.get(a), self.regions.get(b))
    }
}

pub struct MadsimEnv {
    host: String,
    /// The host's name as log lines show it (see [`in_host`]).
    log_name: Rc<str>,
    /// madsim's clock, held rather than looked up at every read.
    time: TimeHandle,
    shared: Rc<Shared>,
    links: Rc<Links>,
    prng: RefCell<Prng>,
    disk: ObservedDisk<PowerFailDisk>,
}

impl MadsimEnv {
    /// Call inside the madsim runtime (a node's init task does).
    pub fn new(
        host: &str,
        shared: Rc<Shared>,
        links: Rc<Links>,
        seed: u64,
        disk: PowerFailDisk,
    ) -> Self {
        MadsimEnv {
            host: host.to_string(),
            log_name: crate::logging::host_name(host),
            time: TimeHandle::current(),
            disk: ObservedDisk {
                host: host.to_string(),
                shared: shared.clone(),
                inner: disk,
                durable: Default::default(),
            },
            shared,
            links,
            prng: RefCell::new(Prng::new(seed)),
        }
    }
}

/// Simulated time since the run started.
pub fn elapsed() -> Duration {
    TimeHandle::try_current()
        .map(|t| t.elapsed())
        .unwrap_or_default()
}

impl Env for MadsimEnv {
    fn host_name(&self) -> &str {
        &self.host
    }

    fn now(&self) -> Duration {
        let clocks = &self.shared.host_faults.clocks;
        clocks.local(&self.host, self.time.elapsed())
    }

    fn sleep(&self, duration: Duration) -> BoxFut<'static, ()> {
        let clocks = &self.shared.host_faults.clocks;
        Box::pin(self.time.sleep(clocks.global_span(&self.host, duration)))
    }

    fn connect(&self, host: &str, port: u16) -> BoxFut<'static, io::Result<BoxConn>> {
        let target = host.to_string();
        let me = self.host.clone();
        let (shared, links) = (self.shared.clone(), self.links.clone());
        Box::pin(async move {
            let Some(ip) = links.addrs.get(&target).copied() else {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{target}: no such host"),
                ));
            };
            let stream = TcpStream::connect(SocketAddr::new(ip, port)).await?;
            let conn = LinkConn::new(stream, &me, &target, links);
            Ok(observe_conn(conn, &me, &target, shared))
        })
    }

    fn listen(&self, port: u16) -> BoxFut<'static, io::Result<Box<dyn Listener>>> {
        let me = self.host.clone();
        let (shared, links) = (self.shared.clone(), self.links.clone());
        Box::pin(async move {
            let listener =
                TcpListener::bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)).await?;
            Ok(Box::new(SimListener {
                listener,
                host: me,
                shared,
                links,
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
        // Detached: the task lives until it ends or its node is killed.
        let task = crate::engine::pause::gated(self.shared.clone(), self.host.clone(), task);
        drop(madsim::task::spawn_local(in_host(
            self.log_name.clone(),
            task,
        )));
    }

    fn observe(&self, event: EventKind) {
        self.shared.observe_from(&self.host, event);
    }

    fn buggify(&self, site: &'static str) -> bool {
        let buggify = &self.shared.host_faults.buggify;
        buggify.fires(&self.shared.observer, &self.host, site)
    }
}

/// Runs `task` with `host` named as the running host for log lines (madsim
/// has no span per host that the logger could read, as turmoil has).
pub fn in_host(host: Rc<str>, task: BoxFut<'static, ()>) -> BoxFut<'static, ()> {
    Box::pin(InHost { host, task })
}

struct InHost {
    host: Rc<str>,
    task: BoxFut<'static, ()>,
}

impl Future for InHost {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        crate::logging::enter_host(&self.host);
        let poll = self.task.as_mut().poll(cx);
        crate::logging::exit_host();
        poll
    }
}

struct SimListener {
    listener: TcpListener,
    host: String,
    shared: Rc<Shared>,
    links: Rc<Links>,
}

impl Listener for SimListener {
    fn accept(&self) -> BoxFut<'_, io::Result<(BoxConn, String)>> {
        Box::pin(async move {
            let (stream, addr) = self.listener.accept().await?;
            let peer = self
                .links
                .names
                .get(&addr.ip())
                .cloned()
                .unwrap_or_else(|| addr.ip().to_string());
            let conn = LinkConn::new(stream, &self.host, &peer, self.links.clone());
            let conn = observe_conn(conn, &self.host, &peer, self.shared.clone());
            Ok((conn, peer))
        })
    }
}

/// One end of a madsim TCP connection with the link's latency applied to
/// what it receives, and every write flushed at once.
struct LinkConn {
    inner: TcpStream,
    links: Rc<Links>,
    /// The host pair in name order (the gray-link key).
    pair: (String, String),
    base_ms: u64,
    time: TimeHandle,
    /// Received segments and when they may be read.
    held: VecDeque<(Instant, Vec<u8>)>,
    last_ready: Option<Instant>,
    eof: bool,
    timer: Option<Pin<Box<Sleep>>>,
}

impl LinkConn {
    fn new(inner: TcpStream, me: &str, peer: &str, links: Rc<Links>) -> Self {
        let base_ms = links.base_ms(me, peer);
        let pair = if me < peer {
            (me.to_string(), peer.to_string())
        } else {
            (peer.to_string(), me.to_string())
        };
        LinkConn {
            inner,
            links,
            pair,
            base_ms,
            time: TimeHandle::current(),
            held: VecDeque::new(),
            last_ready: None,
            eof: false,
            timer: None,
        }
    }

    /// How long past madsim's own floor a segment arriving now is held.
    fn extra_delay(&self) -> Duration {
        let gray = self.links.gray.borrow().get(&self.pair).copied();
        let mut ms = self.base_ms;
        if let Some((ceiling_ms, loss_percent)) = gray {
            // madsim's generator, seeded from the run's seed by the runtime
            // (not the OS): the draws are part of the deterministic run.
            let mut rng = madsim::rand::thread_rng();
            if ceiling_ms > self.base_ms {
                ms = rng.gen_range(self.base_ms..=ceiling_ms);
            }
            if loss_percent > 0 && rng.gen_range(0..100u8) < loss_percent {
                ms += RETRANSMIT_MS;
            }
        }
        Duration::from_millis(ms.saturating_sub(MADSIM_FLOOR_MS))
    }

    /// Whether segments are held at all on this link right now.
    fn delays(&self) -> bool {
        self.base_ms > MADSIM_FLOOR_MS || self.links.gray.borrow().contains_key(&self.pair)
    }

    /// Moves whatever madsim has delivered into `held`, stamped with when
    /// it may be read. Returns an error only if nothing is held before it.
    fn pull(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); 16 * 1024];
        while !self.eof {
            let mut buf = ReadBuf::uninit(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Pending => break,
                Poll::Ready(Err(e)) if self.held.is_empty() => return Err(e),
                Poll::Ready(Err(_)) => self.eof = true,
                Poll::Ready(Ok(())) if buf.filled().is_empty() => self.eof = true,
                Poll::Ready(Ok(())) => {
                    let now = self.time.now_instant();
                    let ready = now + self.extra_delay();
                    let ready = self.last_ready.map_or(ready, |last| ready.max(last));
                    self.last_ready = Some(ready);
                    self.held.push_back((ready, buf.filled().to_vec()));
                }
            }
        }
        Ok(())
    }
}

impl AsyncRead for LinkConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.held.is_empty() && !this.delays() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        this.pull(cx)?;
        loop {
            let Some((ready, _)) = this.held.front() else {
                // Nothing held: end of stream, or wait for madsim.
                return if this.eof {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                };
            };
            let ready = *ready;
            if ready <= this.time.now_instant() {
                this.timer = None;
                let Some((_, bytes)) = this.held.front_mut() else {
                    return Poll::Pending;
                };
                let n = bytes.len().min(buf.remaining());
                buf.put_slice(&bytes[..n]);
                bytes.drain(..n);
                if bytes.is_empty() {
                    this.held.pop_front();
                }
                return Poll::Ready(Ok(()));
            }
            let timer = this
                .timer
                .get_or_insert_with(|| Box::pin(this.time.sleep_until(ready)));
            if timer.deadline() != ready {
                timer.as_mut().reset(ready);
            }
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncWrite for LinkConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let inner = &mut self.inner;
        let written = match Pin::new(&mut *inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        match Pin::new(inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(written)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Ready(Ok(written)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
