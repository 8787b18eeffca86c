//! A `mailsim serve` deployment for one test: its own temp data dir, its own
//! free loopback ports (so tests run in parallel), one `serve-node` process
//! per region plus one for DNS and the mailbox, and helpers to kill and
//! restart a region and to look into Maildirs and quarantines.
//!
//! Every process this starts dies with the guard that owns it (and, since
//! nodes watch their stdin pipe, with the test process itself), and the data
//! dir goes too, unless MAILSIM_KEEP_TEST_DATA is set.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sim::serve::config::ServeConfig;
use sim::serve::ports::PortMap;
use sim::serve::roles;

/// Generous: a loaded 2-core machine starts processes slowly.
pub const READY_WITHIN: Duration = Duration::from_secs(30);
/// The delivery deadline the brief gives every Maildir poll.
pub const DELIVERED_WITHIN: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// Polls `done` until it holds or `limit` passes; true if it held.
pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let mut waited = Duration::ZERO;
    loop {
        if done() {
            return true;
        }
        if waited >= limit {
            return false;
        }
        std::thread::sleep(POLL);
        waited += POLL;
    }
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct KillOnDrop {
    pub child: Child,
    /// Held open: `serve-node --watch-stdin` exits when it closes.
    stdin: Option<ChildStdin>,
}

impl KillOnDrop {
    pub fn new(mut child: Child) -> KillOnDrop {
        let stdin = child.stdin.take();
        KillOnDrop { child, stdin }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut status = None;
        wait_for(limit, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.stdin.take();
        self.kill();
    }
}

/// Fails loudly when python3 is missing: the tests that drive `mailsim
/// serve` with smtplib must not pass without it.
pub fn require_python3() {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "python3 is not installed; these tests drive mailsim serve with smtplib"
    );
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Runs one of our Python client scripts and parses its JSON answer.
pub fn python_json(name: &str, args: &[String]) -> serde_json::Value {
    let output = Command::new("python3")
        .arg(script(name))
        .args(args)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {stdout}"))
}

/// A scratch directory removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mailsim-serve-{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("MAILSIM_KEEP_TEST_DATA").is_some() {
            eprintln!("kept test data in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Ports per test: the 6 hosts' blocks (60) and the gateways' SMTP ports
/// (at +90), with room to spare.
const PORTS_PER_TEST: u16 = 100;

/// A base port whose whole block is free now. Slots below the ephemeral
/// range (so outgoing connections never take them), spread by pid so test
/// processes on one machine rarely even try the same slot, and probed.
pub fn free_base_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 10_000;
    const SLOTS: u32 = 200;
    let spread = std::process::id().wrapping_mul(2_654_435_761) >> 8;
    for _ in 0..SLOTS {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let slot = spread.wrapping_add(n.wrapping_mul(7)) % SLOTS;
        let base = u16::try_from(FIRST + slot * u32::from(PORTS_PER_TEST)).expect("below 65536");
        if (base..base + PORTS_PER_TEST).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no free block of {PORTS_PER_TEST} loopback ports");
}

/// The default deployment moved onto free ports.
pub fn test_config() -> ServeConfig {
    let base = free_base_port();
    ServeConfig {
        base_port: base,
        smtp_port_base: base + 90,
        seed: Some(u64::from(base)),
        ..ServeConfig::default()
    }
}

pub fn mailsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mailsim"))
}

pub fn mailsim_output(args: &[&str]) -> Output {
    mailsim().args(args).output().expect("mailsim starts")
}

/// One deployment under test.
pub struct Cluster {
    pub config: ServeConfig,
    pub ports: PortMap,
    pub config_path: PathBuf,
    pub data: PathBuf,
    /// Process group name (a region's name, or "outside") → its process.
    nodes: BTreeMap<String, KillOnDrop>,
    starts: u32,
    // Last, so processes die before their data dir is removed.
    dir: TempDir,
}

impl Cluster {
    /// Starts every region and the outside hosts, and waits until all answer.
    pub fn start(test: &str) -> Cluster {
        Cluster::start_with(test, |_| {})
    }

    /// [`Cluster::start`] with the test's own changes to the config.
    pub fn start_with(test: &str, change: impl FnOnce(&mut ServeConfig)) -> Cluster {
        let dir = TempDir::new(test);
        let mut config = test_config();
        change(&mut config);
        let config_path = dir.path.join("config.json");
        std::fs::write(&config_path, config.to_json()).expect("config written");
        let data = dir.path.join("data");
        let mut cluster = Cluster {
            ports: PortMap::new(&config).expect("ports"),
            config,
            config_path,
            data,
            nodes: BTreeMap::new(),
            starts: 0,
            dir,
        };
        let regions: Vec<String> = cluster
            .config
            .gateway
            .regions
            .iter()
            .map(|r| r.name.clone())
            .collect();
        for region in regions {
            cluster.start_group(&region);
        }
        cluster.start_group("outside");
        cluster.wait_ready();
        cluster
    }

    /// The hosts a group runs.
    fn hosts_of(&self, group: &str) -> Vec<String> {
        if group == "outside" {
            roles::outside_hosts(&self.config)
        } else {
            roles::region_hosts(&self.config, group)
        }
    }

    /// Starts (or restarts) one group as a `serve-node` process.
    pub fn start_group(&mut self, group: &str) {
        let hosts = self.hosts_of(group);
        assert!(!hosts.is_empty(), "no hosts in group {group}");
        self.starts += 1;
        let log = |kind: &str| {
            let path = self
                .dir
                .path
                .join(format!("{group}-{}.{kind}", self.starts));
            std::fs::File::create(path).expect("log file")
        };
        let mut command = mailsim();
        command
            .arg("serve-node")
            .arg("--config")
            .arg(&self.config_path)
            .arg("--data")
            .arg(&self.data)
            .arg("--watch-stdin")
            .stdin(Stdio::piped())
            .stdout(log("out"))
            .stderr(log("err"));
        for host in &hosts {
            command.arg("--host").arg(host);
        }
        let child = command.spawn().expect("serve-node starts");
        self.nodes.insert(group.to_string(), KillOnDrop::new(child));
    }

    /// SIGKILLs one group's process: its hosts crash mid-whatever.
    pub fn kill_group(&mut self, group: &str) {
        if let Some(mut node) = self.nodes.remove(group) {
            node.kill();
        }
    }

    /// Waits until every listening port of every running group answers.
    pub fn wait_ready(&mut self) {
        let running: Vec<String> = self.nodes.keys().flat_map(|g| self.hosts_of(g)).collect();
        let ports: Vec<(String, u16)> = self
            .ports
            .listening(&self.config)
            .into_iter()
            .filter(|(host, _, _)| running.contains(host))
            .map(|(host, _, real)| (host, real))
            .collect();
        let ready = wait_for(READY_WITHIN, || {
            for (group, node) in &mut self.nodes {
                if let Ok(Some(status)) = node.child.try_wait() {
                    panic!("{group} exited during startup: {status}");
                }
            }
            ports
                .iter()
                .all(|(_, port)| TcpStream::connect(("127.0.0.1", *port)).is_ok())
        });
        assert!(
            ready,
            "not all of {ports:?} answered within {READY_WITHIN:?}"
        );
    }

    pub fn smtp_port(&self, gateway: &str) -> u16 {
        self.ports.smtp(gateway).expect("a gateway")
    }

    /// The raw files in one recipient's Maildir `new/`.
    pub fn maildir(&self, rcpt: &str) -> Vec<String> {
        let mailbox = &self.config.gateway.tenants[0].mailbox_host;
        let dir = self
            .data
            .join(mailbox)
            .join("Maildir")
            .join(rcpt)
            .join("new");
        read_all(&dir)
    }

    /// Whether a message with this Message-ID sits in `rcpt`'s Maildir
    /// (header names are case-insensitive: swaks writes `Message-Id`).
    pub fn delivered(&self, rcpt: &str, message_id: &str) -> bool {
        let header = format!("message-id: {message_id}\r\n").to_ascii_lowercase();
        self.maildir(rcpt)
            .iter()
            .any(|m| m.to_ascii_lowercase().contains(&header))
    }

    /// Every quarantined message, on any gateway.
    pub fn quarantined(&self) -> Vec<String> {
        self.config
            .gateway
            .gateways
            .iter()
            .flat_map(|n| read_all(&self.data.join(&n.host).join("quarantine")))
            .collect()
    }

    /// What the gateway processes said, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in list(&self.dir.path) {
            if name.ends_with(".err") {
                let body = std::fs::read_to_string(self.dir.path.join(&name)).unwrap_or_default();
                text.push_str(&format!("--- {name}\n{body}"));
            }
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The processes' stderr is the only account of a failure; the data
        // dir holding it is about to go.
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn read_all(dir: &Path) -> Vec<String> {
    list(dir)
        .iter()
        .filter_map(|name| std::fs::read(dir.join(name)).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect()
}
