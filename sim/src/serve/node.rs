//! One `mailsim serve-node` process: boots the named hosts (a region's
//! gateways and scanners, or the DNS and mailbox hosts) on one
//! single-threaded tokio runtime and LocalSet, each with its own `RealEnv`,
//! and runs them until one stops or the parent goes away.
//!
//! One thread per process is what the gateway expects (its futures are
//! !Send and `Env::spawn` is `spawn_local`), and one process per region is
//! what lets a test kill a region with SIGKILL and start it again.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use models::env::SharedEnv;
use tokio::io::AsyncReadExt;

use crate::exit_code::EXIT_BAD_INPUT;
use crate::serve::config::ServeConfig;
use crate::serve::maildir;
use crate::serve::ports::PortMap;
use crate::serve::real_env::{RealEnv, RealWorld, WallClock, os_seed};
use crate::serve::roles::{self, Role};
use crate::workload::dns::{self, MxDirectory};

/// Exit code when a host stops on its own (e.g. its port was taken).
pub const EXIT_HOST_STOPPED: i32 = 1;

/// Why the process is ending.
enum Stop {
    /// stdin reached EOF: the launcher (or test) that started us is gone.
    ParentGone,
    HostEnded(String),
}

/// Runs `hosts` of `config` with their data under `data`; returns the exit code.
pub fn run(config: &ServeConfig, data: &Path, hosts: &[String], watch_stdin: bool) -> i32 {
    if hosts.is_empty() {
        eprintln!("error: name at least one --host or --region");
        return EXIT_BAD_INPUT;
    }
    let mut plan = Vec::new();
    for host in hosts {
        match roles::role_of(config, host) {
            Some(role) => plan.push((host.clone(), role)),
            None => {
                let known: Vec<String> = roles::hosts(config).into_iter().map(|(h, _)| h).collect();
                eprintln!(
                    "error: {host} is not a host of this config (hosts: {})",
                    known.join(", ")
                );
                return EXIT_BAD_INPUT;
            }
        }
    }
    let ports = match PortMap::new(config) {
        Ok(ports) => Rc::new(ports),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return EXIT_HOST_STOPPED;
        }
    };
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&runtime, serve(config, data, plan, ports, watch_stdin));
    drop(local);
    // The stdin watcher may still sit in a blocking read; do not wait for it.
    runtime.shutdown_background();
    code
}

async fn serve(
    config: &ServeConfig,
    data: &Path,
    plan: Vec<(String, Role)>,
    ports: Rc<PortMap>,
    watch_stdin: bool,
) -> i32 {
    let clock = WallClock::start();
    let world = RealWorld {
        ports,
        clock,
        seed: config.seed.unwrap_or_else(|| os_seed(&clock)),
        events: config.events,
    };
    let gateway_config = Rc::new(config.gateway.clone());
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::unbounded_channel::<Stop>();
    let mut names = Vec::new();
    for (host, role) in plan {
        let env: SharedEnv = match RealEnv::boot(&world, data, &host) {
            Ok(env) => Rc::new(env),
            Err(e) => {
                eprintln!("error: cannot boot {host} in {}: {e}", data.display());
                return EXIT_HOST_STOPPED;
            }
        };
        let (config, gateway_config, stop) =
            (config.clone(), gateway_config.clone(), stop_tx.clone());
        names.push(format!("{host} ({})", role.name()));
        tokio::task::spawn_local(async move {
            match role {
                Role::Gateway => models::gateway::run(env, gateway_config).await,
                Role::Scanner => models::scanner::run(env, gateway_config).await,
                Role::Dns => {
                    let directory = Rc::new(RefCell::new(mx_directory(&config)));
                    dns::serve(env, directory).await
                }
                Role::Mailbox { domains } => maildir::serve(env, domains).await,
            }
            let _ = stop.send(Stop::HostEnded(host));
        });
    }
    if watch_stdin {
        let stop = stop_tx.clone();
        tokio::task::spawn_local(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 256];
            // Input is ignored; only its end matters.
            while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
            let _ = stop.send(Stop::ParentGone);
        });
    }
    println!("serve-node {}: {}", std::process::id(), names.join(", "));
    match stop_rx.recv().await {
        Some(Stop::HostEnded(host)) => {
            eprintln!(
                "error: {host} stopped (see {}/{host}/events.jsonl)",
                data.display()
            );
            EXIT_HOST_STOPPED
        }
        Some(Stop::ParentGone) | None => 0,
    }
}

/// The MX directory real mode serves: each tenant's domain points at the
/// gateways in its allowed regions, in config order. (The gateway asks it
/// only where to send DSNs; senders outside are pointed at a port by hand.)
pub fn mx_directory(config: &ServeConfig) -> MxDirectory {
    let gw = &config.gateway;
    let domains: BTreeMap<String, Vec<String>> = gw
        .tenants
        .iter()
        .map(|t| {
            let hosts = gw
                .gateways_for_tenant(t)
                .iter()
                .map(|n| n.host.clone())
                .collect();
            (t.domain.clone(), hosts)
        })
        .collect();
    MxDirectory {
        domains,
        ttl_ms: config.dns_ttl_ms,
        ..MxDirectory::default()
    }
}
