//! `mailsim bench`: what one seed costs, beside what the bare engine costs
//! for the same number of hosts and simulated time, so the harness's
//! overhead is a ratio measured in one process, not a guess — on turmoil,
//! and on madsim too in builds with `--cfg madsim`.
//!
//! Figures: simulated seconds per wall second, simulated messages per wall
//! second, seeds per minute, and the process's peak resident memory (read
//! from /proc after each stage; it only grows, so each stage shows the peak
//! so far). Beside them, simulated seconds per second of this thread's CPU
//! time (from /proc; for the harness it includes judging the run), which a
//! busy machine does not skew.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine::Engine;
use crate::run;
use crate::scenario::{Family, Scenario};

/// One measured configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    pub label: String,
    pub hosts: usize,
    pub runs: u64,
    pub sim_seconds: f64,
    pub wall_seconds: f64,
    pub messages: u64,
    pub peak_rss_mib: Option<f64>,
    /// CPU time of the measuring thread, when /proc says.
    pub cpu_seconds: Option<f64>,
}

impl Figures {
    pub fn sim_per_wall(&self) -> f64 {
        self.sim_seconds / self.wall_seconds.max(1e-9)
    }

    pub fn messages_per_wall_second(&self) -> f64 {
        self.messages as f64 / self.wall_seconds.max(1e-9)
    }

    pub fn sim_per_cpu(&self) -> Option<f64> {
        self.cpu_seconds.map(|cpu| self.sim_seconds / cpu.max(1e-9))
    }

    pub fn seeds_per_minute(&self) -> f64 {
        self.runs as f64 * 60.0 / self.wall_seconds.max(1e-9)
    }
}

/// The standard scenario, or one `scale` times its size: every region's
/// gateways and scanners, the senders, the tenants and the messages, each
/// times `scale`. Copy k of a message goes to copy k of its tenant (same
/// users, jurisdiction and policy, domain `<name>-xk.<tld>`), so load
/// spreads over the gateways the way more customers would spread it: each
/// tenant's MX list starts at a different gateway (`deploy::mx_directory`),
/// and with the tenants fixed, every message of a large topology went to the
/// same few gateways and the cost per host grew with the host count.
pub fn scaled_scenario(seed: u64, scale: u32) -> Scenario {
    let mut scenario = Scenario::generate_family(seed, Family::RegionOutage);
    if scale > 1 {
        scenario.topology.gateways_per_region *= scale;
        scenario.topology.scanners_per_region *= scale;
        let base = scenario.workload.messages.clone();
        let base_tenants = scenario.tenants.clone();
        let senders = scenario.workload.senders;
        scenario.workload.senders = senders * scale;
        for copy in 1..scale {
            let tenant_copy = |name: &str| format!("{name}-x{copy}");
            let domain_copy = |domain: &str| match domain.split_once('.') {
                Some((label, rest)) => format!("{}.{rest}", tenant_copy(label)),
                None => tenant_copy(domain),
            };
            for tenant in &base_tenants {
                let mut extra = tenant.clone();
                extra.name = tenant_copy(&tenant.name);
                extra.domain = domain_copy(&tenant.domain);
                scenario.tenants.push(extra);
            }
            for message in &base {
                let mut extra = message.clone();
                extra.id = format!("x{copy}.{}", message.id);
                extra.sender += senders * copy;
                extra.mail_from = extra.mail_from.replace(
                    &crate::scenario::sender_domain(message.sender),
                    &crate::scenario::sender_domain(extra.sender),
                );
                extra.tenant = tenant_copy(&message.tenant);
                for rcpt in &mut extra.rcpts {
                    if let Some((local, domain)) = rcpt.rsplit_once('@')
                        && base_tenants.iter().any(|t| t.domain == domain)
                    {
                        *rcpt = format!("{local}@{}", domain_copy(domain));
                    }
                }
                scenario.workload.messages.push(extra);
            }
        }
        scenario
            .workload
            .messages
            .sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.id.cmp(&b.id)));
    }
    scenario
}

/// Hosts a scenario boots: gateways, scanners, DNS, mailboxes, senders.
pub fn host_count(scenario: &Scenario) -> usize {
    let regions = scenario.topology.regions.len();
    let per_region =
        (scenario.topology.gateways_per_region + scenario.topology.scanners_per_region) as usize;
    regions * per_region + 1 + scenario.tenants.len() + scenario.workload.senders as usize
}

/// Runs `seeds` seeds of the scaled scenario on `engine` and sums them up.
pub fn measure_harness(
    engine: Engine,
    label: &str,
    scale: u32,
    seeds: std::ops::Range<u64>,
) -> Figures {
    let mut figures = Figures {
        label: label.to_string(),
        hosts: 0,
        runs: 0,
        sim_seconds: 0.0,
        wall_seconds: 0.0,
        messages: 0,
        peak_rss_mib: None,
        cpu_seconds: None,
    };
    let cpu_started = thread_cpu_seconds();
    for seed in seeds {
        let scenario = scaled_scenario(seed, scale);
        figures.hosts = host_count(&scenario);
        let outcome = run::run_on(engine, &scenario, seed);
        // A figure for a run that broke a promise measures the wrong thing
        // (a gateway that stopped early is cheap): say so beside it.
        if outcome.verdict != run::Verdict::Pass {
            eprintln!(
                "bench: {label}, seed {seed}: the judged run did not pass ({:?})",
                outcome.verdict
            );
        }
        figures.runs += 1;
        figures.sim_seconds += outcome.sim_seconds;
        figures.wall_seconds += outcome.wall_seconds;
        figures.messages += scenario.workload.messages.len() as u64;
    }
    figures.peak_rss_mib = peak_rss_mib();
    figures.cpu_seconds = cpu_since(cpu_started);
    figures
}

/// The bare engine: `hosts` turmoil hosts, one echo server and clients
/// that each send a line every 100 ms and read it back, for `sim_seconds`.
pub fn measure_bare_turmoil(label: &str, hosts: usize, sim_seconds: f64, runs: u64) -> Figures {
    let started = wall_clock_now();
    let cpu_started = thread_cpu_seconds();
    for run_index in 0..runs {
        let mut sim = turmoil::Builder::new()
            .rng_seed(run_index)
            .tick_duration(Duration::from_millis(1))
            .simulation_duration(Duration::from_secs_f64(sim_seconds + 10.0))
            .build();
        sim.host("echo", || async {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:7").await?;
            loop {
                let (mut stream, _) = listener.accept().await?;
                tokio::task::spawn_local(async move {
                    let mut buf = [0u8; 256];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let exchanged = Rc::new(Cell::new(0u64));
        for client in 1..hosts.max(2) {
            let exchanged = exchanged.clone();
            sim.host(format!("client-{client}").as_str(), move || {
                let exchanged = exchanged.clone();
                async move {
                    let mut stream = turmoil::net::TcpStream::connect("echo:7").await?;
                    let mut buf = [0u8; 64];
                    loop {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        stream.write_all(b"ping\n").await?;
                        let _ = stream.read(&mut buf).await?;
                        exchanged.set(exchanged.get() + 1);
                    }
                }
            });
        }
        let end = Duration::from_secs_f64(sim_seconds);
        while sim.elapsed() < end {
            if sim.step().is_err() {
                break;
            }
        }
        assert!(exchanged.get() > 0, "the echo baseline exchanged nothing");
    }
    bare_figures(label, hosts, runs, sim_seconds, started, cpu_started)
}

/// The bare madsim engine: the same echo as [`measure_bare_turmoil`], on
/// madsim nodes and madsim's TCP (each write flushed, as the harness does).
#[cfg(madsim)]
pub fn measure_bare_madsim(label: &str, hosts: usize, sim_seconds: f64, runs: u64) -> Figures {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use madsim::net::{TcpListener, TcpStream};

    let started = wall_clock_now();
    let cpu_started = thread_cpu_seconds();
    for run_index in 0..runs {
        let runtime = madsim::runtime::Runtime::with_seed_and_config(
            run_index,
            crate::engine::madsim_run::config(),
        );
        let exchanged = Arc::new(AtomicU64::new(0));
        let counted = exchanged.clone();
        runtime.block_on(async move {
            let handle = madsim::runtime::Handle::current();
            let echo_ip: std::net::IpAddr = [10, 0, 0, 1].into();
            handle
                .create_node()
                .name("echo")
                .ip(echo_ip)
                .init(|| async {
                    let Ok(listener) = TcpListener::bind("0.0.0.0:7").await else {
                        return;
                    };
                    while let Ok((mut stream, _)) = listener.accept().await {
                        drop(madsim::task::spawn_local(async move {
                            let mut buf = [0u8; 256];
                            while let Ok(n) = stream.read(&mut buf).await {
                                if n == 0
                                    || stream.write_all(&buf[..n]).await.is_err()
                                    || stream.flush().await.is_err()
                                {
                                    break;
                                }
                            }
                        }));
                    }
                })
                .build();
            for client in 1..hosts.max(2) {
                let exchanged = counted.clone();
                let ip: std::net::IpAddr =
                    [10, 0, (client / 250) as u8, (client % 250 + 1) as u8].into();
                handle
                    .create_node()
                    .name(format!("client-{client}"))
                    .ip(ip)
                    .init(move || {
                        let exchanged = exchanged.clone();
                        async move {
                            madsim::time::sleep(Duration::from_millis(10)).await;
                            let Ok(mut stream) = TcpStream::connect("10.0.0.1:7").await else {
                                return;
                            };
                            let mut buf = [0u8; 64];
                            loop {
                                madsim::time::sleep(Duration::from_millis(100)).await;
                                if stream.write_all(b"ping\n").await.is_err()
                                    || stream.flush().await.is_err()
                                    || stream.read(&mut buf).await.is_err()
                                {
                                    return;
                                }
                                exchanged.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                    .build();
            }
            madsim::time::sleep(Duration::from_secs_f64(sim_seconds)).await;
        });
        assert!(
            exchanged.load(Ordering::Relaxed) > 0,
            "the madsim echo baseline exchanged nothing"
        );
    }
    bare_figures(label, hosts, runs, sim_seconds, started, cpu_started)
}

/// CPU time this thread has used, from /proc (Linux; nanoseconds on CPU).
pub fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// The figures of `runs` bare-engine runs of `sim_seconds` each.
fn bare_figures(
    label: &str,
    hosts: usize,
    runs: u64,
    sim_seconds: f64,
    started: std::time::Instant,
    cpu_started: Option<f64>,
) -> Figures {
    Figures {
        label: label.to_string(),
        hosts,
        runs,
        sim_seconds: sim_seconds * runs as f64,
        wall_seconds: started.elapsed().as_secs_f64(),
        messages: 0,
        peak_rss_mib: peak_rss_mib(),
        cpu_seconds: cpu_since(cpu_started),
    }
}

fn cpu_since(started: Option<f64>) -> Option<f64> {
    Some(thread_cpu_seconds()? - started?)
}

/// Peak resident set size of this process so far, from /proc (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Benchmarks measure wall time by definition; nothing simulated reads it.
#[allow(clippy::disallowed_methods)]
fn wall_clock_now() -> std::time::Instant {
    std::time::Instant::now()
}

/// The table `mailsim bench` prints.
pub fn table(rows: &[Figures]) -> String {
    let mut out = format!(
        "{:<32} {:>6} {:>5} {:>10} {:>12} {:>12} {:>12} {:>10} {:>9}\n",
        "configuration",
        "hosts",
        "runs",
        "sim s",
        "sim s/wall s",
        "sim s/cpu s",
        "msgs/wall s",
        "seeds/min",
        "peak MiB"
    );
    for row in rows {
        out.push_str(&format!(
            "{:<32} {:>6} {:>5} {:>10.1} {:>12.1} {:>12} {:>12.1} {:>10.1} {:>9}\n",
            row.label,
            row.hosts,
            row.runs,
            row.sim_seconds,
            row.sim_per_wall(),
            row.sim_per_cpu()
                .map_or("-".to_string(), |r| format!("{r:.1}")),
            row.messages_per_wall_second(),
            row.seeds_per_minute(),
            row.peak_rss_mib
                .map_or("-".to_string(), |m| format!("{m:.0}"))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_scenario_spreads_its_messages_over_copies_of_the_tenants() {
        let base = scaled_scenario(3, 1);
        let scaled = scaled_scenario(3, 4);
        assert_eq!(scaled.tenants.len(), 4 * base.tenants.len());
        assert_eq!(
            scaled.workload.messages.len(),
            4 * base.workload.messages.len()
        );
        let domains: std::collections::BTreeSet<&str> =
            scaled.tenants.iter().map(|t| t.domain.as_str()).collect();
        assert_eq!(domains.len(), scaled.tenants.len(), "domains are distinct");
        let base_domains: Vec<&str> = base.tenants.iter().map(|t| t.domain.as_str()).collect();
        let mut tenants_used = std::collections::BTreeSet::new();
        for message in &scaled.workload.messages {
            let tenant = scaled
                .tenants
                .iter()
                .find(|t| t.name == message.tenant)
                .unwrap_or_else(|| panic!("{}: no tenant {}", message.id, message.tenant));
            tenants_used.insert(tenant.name.clone());
            for rcpt in &message.rcpts {
                let domain = rcpt.rsplit_once('@').map_or("", |(_, d)| d);
                // A copy never names a base tenant's domain: its mail goes to
                // its own tenant's gateways and mailbox.
                if message.id.starts_with('x') {
                    assert!(!base_domains.contains(&domain), "{}: {rcpt}", message.id);
                }
            }
        }
        assert_eq!(
            tenants_used.len(),
            scaled.tenants.len(),
            "every copy gets mail"
        );
    }
}
