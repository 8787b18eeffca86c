//! `mailsim serve`: the convenience launcher. It writes the effective config
//! to `DATA/config.json`, starts one `serve-node` child per region (its
//! gateways and scanners) and one for the hosts outside the regions (DNS,
//! mailboxes), waits until every port answers, prints where to connect, and
//! runs until Ctrl-C or SIGTERM, when it kills the children and exits 0.
//!
//! It restarts nothing: a region that dies stays dead until someone starts
//! it again with the printed `serve-node` command, which is exactly the
//! outage the gateway is built to ride out. Children watch their stdin, a
//! pipe from here, so they end with the launcher even if it is SIGKILLed.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::exit_code::EXIT_BAD_INPUT;
use crate::serve::config::ServeConfig;
use crate::serve::maildir::MAILDIR_ROOT;
use crate::serve::ports::PortMap;
use crate::serve::roles;
use crate::shell::shell_word;

/// Exit code when the deployment could not be started.
const EXIT_START_FAILED: i32 = 1;
/// How long every port gets to start answering.
const READY_WITHIN: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// One child process and how to start it again by hand.
struct Group {
    label: String,
    args: Vec<String>,
    child: Child,
    /// Held so the child sees EOF (and stops) when we go away.
    _stdin: Option<ChildStdin>,
    exited: bool,
}

pub fn run(config: &ServeConfig, data: &Path) -> i32 {
    let data = match prepare_data_dir(config, data) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let ports = match PortMap::new(config) {
        Ok(ports) => ports,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if let Err(e) = ports_free(config, &ports) {
        eprintln!("error: {e}");
        return EXIT_START_FAILED;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find the mailsim executable: {e}");
            return EXIT_START_FAILED;
        }
    };
    let mut groups = Vec::new();
    for (label, selector) in group_plan(config) {
        let mut args = vec![
            "serve-node".to_string(),
            "--config".into(),
            data.join("config.json").display().to_string(),
            "--data".into(),
            data.display().to_string(),
        ];
        args.extend(selector);
        match spawn(&exe, &args) {
            Ok((child, stdin)) => groups.push(Group {
                label,
                args,
                child,
                _stdin: stdin,
                exited: false,
            }),
            Err(e) => {
                eprintln!("error: cannot start {label}: {e}");
                stop_all(&mut groups);
                return EXIT_START_FAILED;
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            stop_all(&mut groups);
            return EXIT_START_FAILED;
        }
    };
    let code = runtime.block_on(supervise(config, &ports, &data, &exe, &mut groups));
    stop_all(&mut groups);
    code
}

/// Creates the data dir and writes the effective config into it, so every
/// child (and anyone restarting one by hand) reads the very same file.
fn prepare_data_dir(config: &ServeConfig, data: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(data)
        .map_err(|e| format!("cannot create data dir {}: {e}", data.display()))?;
    let data = data
        .canonicalize()
        .map_err(|e| format!("cannot resolve data dir {}: {e}", data.display()))?;
    let temp = data.join("config.json.tmp");
    std::fs::write(&temp, config.to_json() + "\n")
        .and_then(|()| std::fs::rename(&temp, data.join("config.json")))
        .map_err(|e| format!("cannot write {}/config.json: {e}", data.display()))?;
    Ok(data)
}

/// Fails early, with the culprit named, if a port is already taken (often
/// by another `mailsim serve`, which would otherwise answer our probes).
fn ports_free(config: &ServeConfig, ports: &PortMap) -> Result<(), String> {
    for (host, logical, real) in ports.listening(config) {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", real)) {
            return Err(format!(
                "port {real} for {host} (port {logical} in the simulator) is not free: {e}; \
                 is another mailsim serve running? Set base_port / smtp_port_base in a --config file"
            ));
        }
    }
    Ok(())
}

/// (label, serve-node selector flags): one per region, then the outside.
fn group_plan(config: &ServeConfig) -> Vec<(String, Vec<String>)> {
    let mut plan = Vec::new();
    for region in &config.gateway.regions {
        if !roles::region_hosts(config, &region.name).is_empty() {
            plan.push((
                format!("region {}", region.name),
                vec!["--region".into(), region.name.clone()],
            ));
        }
    }
    let outside: Vec<String> = roles::outside_hosts(config)
        .into_iter()
        .flat_map(|h| ["--host".to_string(), h])
        .collect();
    plan.push(("dns and mailboxes".into(), outside));
    plan
}

fn spawn(exe: &Path, args: &[String]) -> std::io::Result<(Child, Option<ChildStdin>)> {
    let mut child = Command::new(exe)
        .args(args)
        .arg("--watch-stdin")
        .stdin(Stdio::piped())
        .spawn()?;
    let stdin = child.stdin.take();
    Ok((child, stdin))
}

async fn supervise(
    config: &ServeConfig,
    ports: &PortMap,
    data: &Path,
    exe: &Path,
    groups: &mut [Group],
) -> i32 {
    if let Err(e) = wait_ready(config, ports, groups).await {
        eprintln!("error: {e}");
        return EXIT_START_FAILED;
    }
    print_banner(config, ports, data, exe, groups);
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                eprintln!("error: cannot watch SIGTERM: {e}");
                return EXIT_START_FAILED;
            }
        };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            biased;
            _ = &mut ctrl_c => break,
            _ = terminate.recv() => break,
            _ = tokio::time::sleep(POLL * 3) => report_exits(exe, groups),
        }
    }
    println!("mailsim serve: stopping");
    0
}

/// Polls every listening port until all answer; a child dying first is an
/// error (its own stderr, inherited, says why).
async fn wait_ready(
    config: &ServeConfig,
    ports: &PortMap,
    groups: &mut [Group],
) -> Result<(), String> {
    let deadline = tokio::time::sleep(READY_WITHIN);
    tokio::pin!(deadline);
    let mut waiting = ports.listening(config);
    while !waiting.is_empty() {
        for group in groups.iter_mut() {
            if let Ok(Some(status)) = group.child.try_wait() {
                return Err(format!("{} exited during startup ({status})", group.label));
            }
        }
        let mut still = Vec::new();
        for (host, logical, real) in waiting {
            if tokio::net::TcpStream::connect(("127.0.0.1", real))
                .await
                .is_err()
            {
                still.push((host, logical, real));
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = &mut deadline => {
                let names: Vec<String> = waiting.iter().map(|(h, _, p)| format!("{h}:{p}")).collect();
                return Err(format!("not answering after {READY_WITHIN:?}: {}", names.join(", ")));
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    Ok(())
}

fn restart_command(exe: &Path, group: &Group) -> String {
    let words: Vec<String> = std::iter::once(exe.display().to_string())
        .chain(group.args.iter().cloned())
        .map(|w| shell_word(&w))
        .collect();
    words.join(" ")
}

fn print_banner(config: &ServeConfig, ports: &PortMap, data: &Path, exe: &Path, groups: &[Group]) {
    let gw = &config.gateway;
    println!(
        "mailsim serve: {} regions, data in {}",
        gw.regions.len(),
        data.display()
    );
    for node in &gw.gateways {
        let cloud = gw.cloud_of_host(&node.host).unwrap_or("?");
        if let Some(port) = ports.smtp(&node.host) {
            println!(
                "  SMTP 127.0.0.1:{port}  ({}, region {}, cloud {cloud})",
                node.host, node.region
            );
        }
    }
    for tenant in &gw.tenants {
        for (rank, server) in tenant.delivery_route().iter().enumerate() {
            let which = if rank == 0 { "" } else { " (backup)" };
            println!(
                "  tenant {}{which}: users {} -> {}/{server}/{MAILDIR_ROOT}/<user>@{}/new/",
                tenant.domain,
                tenant.users.join(", "),
                data.display(),
                tenant.domain
            );
        }
    }
    println!("  quarantine: {}/<gateway>/quarantine/", data.display());
    for group in groups {
        println!(
            "  {} (pid {}): {}",
            group.label,
            group.child.id(),
            restart_command(exe, group)
        );
    }
    if let (Some(node), Some(tenant)) = (gw.gateways.first(), gw.tenants.first())
        && let (Some(port), Some(user)) = (ports.smtp(&node.host), tenant.users.first())
    {
        println!(
            "try: swaks --server 127.0.0.1:{port} --to {user}@{}",
            tenant.domain
        );
    }
    println!("mailsim serve: ready; Ctrl-C stops everything");
}

/// Says once that a child exited; restarting it is left to whoever killed it.
fn report_exits(exe: &Path, groups: &mut [Group]) {
    for group in groups.iter_mut().filter(|g| !g.exited) {
        if let Ok(Some(status)) = group.child.try_wait() {
            group.exited = true;
            println!(
                "mailsim serve: {} exited ({status}); not restarting. To start it again: {}",
                group.label,
                restart_command(exe, group)
            );
        }
    }
}

/// Kills (SIGKILL: nodes are crash-safe by design) and reaps every child.
fn stop_all(groups: &mut [Group]) {
    for group in groups.iter_mut() {
        let _ = group.child.kill();
        let _ = group.child.wait();
    }
}
