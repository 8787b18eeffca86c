//! The seam: the only way gateway code reaches the network, the disk, the
//! clock, randomness, task spawning and the out-of-band observation log.
//!
//! Each engine (turmoil, madsim) and real mode (tokio sockets and files, for
//! `mailsim serve`) implements [`Env`] for each host it boots. Gateway logic never names an engine type, so the
//! same code runs under every engine. The trait is object safe on purpose:
//! engines are picked at run time and the gateway holds an `Rc<dyn Env>`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed, non-Send future: hosts run on one thread per simulation.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A byte stream to another host (TCP under every engine).
pub trait Conn: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Conn for T {}

pub type BoxConn = Box<dyn Conn>;

/// A bound listening socket.
pub trait Listener {
    /// Accepts one connection; returns it with the peer's host name.
    fn accept(&self) -> BoxFut<'_, io::Result<(BoxConn, String)>>;
}

/// A host's local disk with fsync semantics: a write is durable only after
/// `sync` of the file (and `sync_dir` of its directory for creations,
/// renames and removals). A crash loses whatever was not synced.
pub trait Disk {
    /// Creates or truncates `path` and writes `bytes` (not yet durable).
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()>;
    /// Makes the contents of `path` durable.
    fn sync(&self, path: &str) -> io::Result<()>;
    /// Makes the directory entries in `dir` durable.
    fn sync_dir(&self, dir: &str) -> io::Result<()>;
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
    /// File names (not paths) in `dir`, sorted; empty if `dir` is missing.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;
    fn remove(&self, path: &str) -> io::Result<()>;
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn create_dir_all(&self, dir: &str) -> io::Result<()>;
}

/// Everything a gateway host may touch outside its own memory.
pub trait Env {
    /// This host's name (e.g. `gw-aws-us-east-1-0`).
    fn host_name(&self) -> &str;
    /// Time since the start of the run, on this engine's clock.
    fn now(&self) -> Duration;
    /// Completes after `duration` on this engine's clock.
    fn sleep(&self, duration: Duration) -> BoxFut<'static, ()>;
    /// Opens a stream to `host:port`.
    fn connect(&self, host: &str, port: u16) -> BoxFut<'static, io::Result<BoxConn>>;
    /// Binds a listener on this host.
    fn listen(&self, port: u16) -> BoxFut<'static, io::Result<Box<dyn Listener>>>;
    /// This host's disk.
    fn disk(&self) -> &dyn Disk;
    /// Completes once the writes and fsyncs asked of this host's disk so
    /// far have taken effect. A real disk's calls block until they have,
    /// so at once; a simulated slow disk takes simulated time. A node
    /// awaits it after a spool write and before relying on it (a 250, a
    /// replica's yes).
    fn disk_settled(&self) -> BoxFut<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    /// The next draw of this host's seeded generator.
    fn random_u64(&self) -> u64;
    /// Runs `task` concurrently on this host until it ends or the host dies.
    fn spawn(&self, task: BoxFut<'static, ()>);
    /// Records a gateway self-report in the observation log. Properties never
    /// judge by these; traces and "sometimes" checks read them.
    fn observe(&self, event: traces::EventKind);
    /// Whether the BUGGIFY site `site` (one of `crate::buggify::SITES`)
    /// fires now. No, unless a simulated run switched BUGGIFY on; real mode
    /// never does.
    fn buggify(&self, site: &'static str) -> bool {
        let _ = site;
        false
    }
}

pub type SharedEnv = Rc<dyn Env>;

/// The future did not finish within its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl From<Elapsed> for io::Error {
    fn from(_: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "deadline elapsed")
    }
}

/// Runs `fut` for at most `duration` of the engine's clock.
pub async fn timeout<T>(
    env: &dyn Env,
    duration: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, Elapsed> {
    let deadline = env.sleep(duration);
    tokio::select! {
        biased;
        out = fut => Ok(out),
        _ = deadline => Err(Elapsed),
    }
}

/// Draws a value in `0..bound` (bound > 0) from the host's generator.
pub fn random_below(env: &dyn Env, bound: u64) -> u64 {
    assert!(bound > 0, "random_below needs a positive bound");
    env.random_u64() % bound
}
