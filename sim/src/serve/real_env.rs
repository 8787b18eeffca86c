//! Real mode's side of the seam, for `mailsim serve`: an [`Env`] whose
//! network is TCP on 127.0.0.1 (logical host names mapped to ports), whose
//! disk is files under `DATA/<host>/` with real fsync, whose clock is the
//! wall clock and tokio's timers, and whose randomness is a seeded PRNG.
//!
//! This file is the only place real mode reads the wall clock or the OS's
//! randomness (each read carries an `#[allow]` for the determinism lints);
//! everything else, gateway code included, goes through the seam as it does
//! under the simulator. Real mode is not deterministic, and need not be:
//! it exists to meet SMTP clients nobody here wrote.

mod disk;
mod events;
mod net;

use std::cell::RefCell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use models::env::{BoxConn, BoxFut, Disk, Env, Listener};
use traces::EventKind;

pub use disk::RealDisk;
use events::EventSink;

use crate::prng::{Prng, derive_seed};
use crate::serve::ports::PortMap;

/// The clock of one process: read once from the wall at startup, then
/// advanced by the monotonic clock so it never steps backwards while the
/// process lives.
///
/// `Env::now` is "time since the run started"; in real mode the run is the
/// deployment, whose processes restart independently, so the common origin
/// is the Unix epoch. Spool entries carry times (`next_attempt_ms`,
/// `received_ms`) from one process to its restart and to other nodes, and
/// they stay meaningful only on such a shared clock.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    unix_at_start: Duration,
    started: std::time::Instant,
}

impl WallClock {
    #[allow(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        reason = "real mode runs on the wall clock; this is its one read"
    )]
    pub fn start() -> WallClock {
        let unix_at_start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        WallClock {
            unix_at_start,
            started: std::time::Instant::now(),
        }
    }

    pub fn now(&self) -> Duration {
        self.unix_at_start + self.started.elapsed()
    }
}

/// A seed from the OS, for when the config names none: /dev/urandom, or, on
/// a system without it, the clock and the process id (uniqueness is all
/// that matters here, not secrecy).
pub fn os_seed(clock: &WallClock) -> u64 {
    let mut bytes = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    match read {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            let nanos = clock.now().as_nanos() as u64;
            derive_seed(nanos, &std::process::id().to_string())
        }
    }
}

/// What every host of one process shares.
pub struct RealWorld {
    pub ports: Rc<PortMap>,
    pub clock: WallClock,
    /// The config's seed, or one from the OS.
    pub seed: u64,
    pub events: bool,
}

pub struct RealEnv {
    host: String,
    ports: Rc<PortMap>,
    clock: WallClock,
    prng: RefCell<Prng>,
    disk: RealDisk,
    events: EventSink,
}

/// Where a host counts its boots, so each boot draws a fresh stream even
/// from a fixed seed: spool ids come from the generator, and a restarted
/// node repeating its last life's ids would overwrite its own spool.
const BOOTS_FILE: &str = "boots";

impl RealEnv {
    /// Boots `host` with its disk at `data/<host>`.
    pub fn boot(world: &RealWorld, data: &Path, host: &str) -> io::Result<RealEnv> {
        let disk = RealDisk::new(&data.join(host))?;
        let boot = next_boot(&disk)?;
        let events = if world.events {
            EventSink::append_to(&disk.root().join("events.jsonl"))
        } else {
            EventSink::disabled()
        };
        let env = RealEnv {
            host: host.to_string(),
            ports: world.ports.clone(),
            clock: world.clock,
            prng: RefCell::new(Prng::new(derive_seed(
                world.seed,
                &format!("{host}#{boot}"),
            ))),
            disk,
            events,
        };
        if boot > 1 {
            env.observe(EventKind::HostRestarted {});
        }
        Ok(env)
    }

    /// The host's data directory.
    pub fn root(&self) -> &Path {
        self.disk.root()
    }
}

/// Reads, bumps and durably stores the boot counter.
fn next_boot(disk: &RealDisk) -> io::Result<u64> {
    let previous = disk
        .read(BOOTS_FILE)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let boot = previous + 1;
    let temp = format!("{BOOTS_FILE}.tmp");
    disk.write(&temp, format!("{boot}\n").as_bytes())?;
    disk.sync(&temp)?;
    disk.rename(&temp, BOOTS_FILE)?;
    disk.sync_dir("")?;
    Ok(boot)
}

impl Env for RealEnv {
    fn host_name(&self) -> &str {
        &self.host
    }

    fn now(&self) -> Duration {
        self.clock.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFut<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn connect(&self, host: &str, port: u16) -> BoxFut<'static, io::Result<BoxConn>> {
        net::connect(&self.ports, host, port)
    }

    fn listen(&self, port: u16) -> BoxFut<'static, io::Result<Box<dyn Listener>>> {
        net::listen(&self.ports, &self.host, port)
    }

    fn disk(&self) -> &dyn Disk {
        &self.disk
    }

    fn random_u64(&self) -> u64 {
        self.prng.borrow_mut().next_u64()
    }

    fn spawn(&self, task: BoxFut<'static, ()>) {
        // Hosts' futures are !Send: they run on the process's LocalSet.
        tokio::task::spawn_local(task);
    }

    fn observe(&self, event: EventKind) {
        let t_us = self.clock.now().as_micros() as u64;
        self.events.record(t_us, &self.host, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::ServeConfig;

    #[test]
    fn each_boot_of_a_host_draws_a_different_stream_from_the_same_seed() {
        let data = std::env::temp_dir().join(format!("mailsim-realenv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let world = RealWorld {
            ports: Rc::new(PortMap::new(&ServeConfig::default()).unwrap()),
            clock: WallClock::start(),
            seed: 7,
            events: true,
        };
        let first = RealEnv::boot(&world, &data, "gw-a").unwrap().random_u64();
        let second = RealEnv::boot(&world, &data, "gw-a");
        let second = second.unwrap();
        assert_ne!(first, second.random_u64());
        assert_eq!(
            std::fs::read_to_string(data.join("gw-a/boots")).unwrap(),
            "2\n"
        );
        let events = std::fs::read_to_string(data.join("gw-a/events.jsonl")).unwrap();
        assert!(events.contains("host_restarted"), "{events}");
        assert!(second.now() > Duration::from_secs(1_600_000_000));
        std::fs::remove_dir_all(&data).unwrap();
    }
}
