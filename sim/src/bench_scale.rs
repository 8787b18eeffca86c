//! `mailsim bench --scale`: how a run's cost grows with the number of hosts,
//! beside the bare engine's, so "linear in hosts" is a column one can read
//! rather than a claim. For each engine in the build and each host count
//! (about 20, 50, 100, 200), one row: simulated seconds and messages per
//! CPU second and peak memory, for mailsim and for the bare echo with the
//! same hosts and simulated time, and the CPU each costs per host per
//! simulated second (flat when cost is linear in hosts).
//!
//! Every measurement runs in a child process of this same binary
//! (`mailsim bench-row`, printing one JSON `Figures`): a process's peak
//! resident memory only grows, so measured one after another in one
//! process every row would show the largest so far. The child reads its own
//! peak and its own CPU time at the end.

use std::path::Path;
use std::process::Command;

use crate::bench::{self, Figures};
use crate::engine::Engine;

/// The host counts the table shows unless told otherwise.
pub const HOSTS_DEFAULT: [usize; 4] = [20, 50, 100, 200];

/// What one child measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RowKind {
    /// The gateway's scenario, scaled (`bench::scaled_scenario`), judged.
    Mailsim,
    /// The bare engine's TCP echo with as many hosts.
    Bare,
}

/// The scale factor of `bench::scaled_scenario` whose host count comes
/// closest to `hosts` (the smaller factor on a tie).
pub fn scale_for_hosts(seed: u64, hosts: usize) -> u32 {
    let count = |scale: u32| bench::host_count(&bench::scaled_scenario(seed, scale));
    let (base, per_scale) = (count(1), count(2) - count(1));
    // host_count is affine in the scale: base + (scale - 1) * per_scale.
    let below = 1 + hosts.saturating_sub(base) / per_scale.max(1);
    let distance = |scale: usize| (base + (scale - 1) * per_scale).abs_diff(hosts);
    let best = if distance(below + 1) < distance(below) {
        below + 1
    } else {
        below
    };
    u32::try_from(best).unwrap_or(u32::MAX)
}

/// In the child: one measurement, as the parent asked for it.
pub fn measure_row(
    engine: Engine,
    kind: RowKind,
    scale: u32,
    seeds: u64,
    bare_hosts: usize,
    bare_sim_seconds: f64,
) -> Figures {
    match kind {
        RowKind::Mailsim => bench::measure_harness(
            engine,
            &format!("mailsim {engine} x{scale}"),
            scale,
            0..seeds.max(1),
        ),
        RowKind::Bare => {
            let label = format!("bare {engine} echo");
            let runs = seeds.max(1);
            match engine {
                Engine::Turmoil => {
                    bench::measure_bare_turmoil(&label, bare_hosts, bare_sim_seconds, runs)
                }
                #[cfg(madsim)]
                Engine::Madsim => {
                    bench::measure_bare_madsim(&label, bare_hosts, bare_sim_seconds, runs)
                }
                #[cfg(not(madsim))]
                Engine::Madsim => unreachable!("the parent checks the engine is in the build"),
            }
        }
    }
}

/// In the parent: runs one measurement in a child and reads its figures.
pub fn measure_in_child(
    exe: &Path,
    engine: Engine,
    kind: RowKind,
    scale: u32,
    seeds: u64,
    bare: Option<(usize, f64)>,
) -> Result<Figures, String> {
    let mut command = Command::new(exe);
    command.args([
        "bench-row",
        "--engine",
        engine.name(),
        "--kind",
        match kind {
            RowKind::Mailsim => "mailsim",
            RowKind::Bare => "bare",
        },
        "--scale",
        &scale.to_string(),
        "--seeds",
        &seeds.to_string(),
    ]);
    if let Some((hosts, sim_seconds)) = bare {
        command.args([
            "--hosts",
            &hosts.to_string(),
            "--sim-seconds",
            &sim_seconds.to_string(),
        ]);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    if !output.status.success() {
        return Err(format!(
            "bench-row ({engine}, {kind:?}, x{scale}) failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "bench-row ({engine}, {kind:?}, x{scale}) printed no figures ({e}): {}",
            String::from_utf8_lossy(&output.stdout).trim()
        )
    })
}

/// One line of the table: the harness and the bare engine, same hosts.
#[derive(Debug, Clone)]
pub struct ScaleRow {
    pub engine: Engine,
    pub scale: u32,
    pub mailsim: Figures,
    pub bare: Figures,
}

/// CPU milliseconds per host per simulated second: flat when a run's cost
/// is linear in its hosts.
pub fn cpu_ms_per_host_second(figures: &Figures) -> Option<f64> {
    let cpu = figures.cpu_seconds?;
    let host_seconds = figures.hosts as f64 * figures.sim_seconds;
    Some(cpu * 1000.0 / host_seconds.max(1e-9))
}

fn or_dash(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

/// The table `mailsim bench --scale` prints: [`header`], a [`line`] per
/// row, [`footer`].
pub fn table(rows: &[ScaleRow]) -> String {
    let mut out = header();
    for row in rows {
        out.push_str(&line(row));
    }
    out.push_str(footer());
    out
}

/// The column titles (printed first, so rows can follow as they finish).
pub fn header() -> String {
    let mut out = format!(
        "{:<8} {:>5} {:>5} {:>7} | {:>11} {:>10} {:>8} {:>10} | {:>11} {:>8} {:>10} | {:>6}\n",
        "engine",
        "hosts",
        "scale",
        "sim s",
        "sim s/cpu s",
        "msgs/cpu s",
        "peak MiB",
        "ms/host/s",
        "sim s/cpu s",
        "peak MiB",
        "ms/host/s",
        "ratio"
    );
    out.push_str(&format!(
        "{:<8} {:>5} {:>5} {:>7} | {:<41} | {:<32} |\n",
        "", "", "", "", "mailsim (judged)", "bare engine (TCP echo)"
    ));
    out
}

/// One row of the table.
pub fn line(row: &ScaleRow) -> String {
    let (m, b) = (&row.mailsim, &row.bare);
    let msgs_per_cpu = m.cpu_seconds.map(|cpu| m.messages as f64 / cpu.max(1e-9));
    let ratio = match (m.sim_per_cpu(), b.sim_per_cpu()) {
        (Some(m), Some(b)) => Some(b / m.max(1e-9)),
        _ => None,
    };
    format!(
        "{:<8} {:>5} {:>5} {:>7.1} | {:>11} {:>10} {:>8} {:>10} | {:>11} {:>8} {:>10} | {:>6}\n",
        row.engine.name(),
        m.hosts,
        row.scale,
        m.sim_seconds,
        or_dash(m.sim_per_cpu(), 1),
        or_dash(msgs_per_cpu, 1),
        or_dash(m.peak_rss_mib, 0),
        or_dash(cpu_ms_per_host_second(m), 3),
        or_dash(b.sim_per_cpu(), 1),
        or_dash(b.peak_rss_mib, 0),
        or_dash(cpu_ms_per_host_second(b), 3),
        or_dash(ratio, 2),
    )
}

pub fn footer() -> &'static str {
    "ms/host/s: CPU milliseconds per host per simulated second (flat = linear in hosts); \
     ratio: mailsim's CPU per simulated second over the bare engine's\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_for_a_host_count_comes_closest_to_it() {
        let hosts = |scale| bench::host_count(&bench::scaled_scenario(0, scale));
        for target in HOSTS_DEFAULT {
            let scale = scale_for_hosts(0, target);
            let off = hosts(scale).abs_diff(target);
            assert!(
                off <= hosts(scale + 1).abs_diff(target),
                "{target}: x{scale}"
            );
            if scale > 1 {
                assert!(
                    off <= hosts(scale - 1).abs_diff(target),
                    "{target}: x{scale}"
                );
            }
        }
        assert!(scale_for_hosts(0, 200) > scale_for_hosts(0, 50));
    }

    #[test]
    fn per_host_cost_divides_cpu_by_hosts_and_simulated_time() {
        let figures = Figures {
            label: "x".into(),
            hosts: 50,
            runs: 1,
            sim_seconds: 100.0,
            wall_seconds: 3.0,
            messages: 10,
            peak_rss_mib: None,
            cpu_seconds: Some(2.0),
        };
        assert_eq!(cpu_ms_per_host_second(&figures), Some(2000.0 / 5000.0));
        let row = ScaleRow {
            engine: Engine::Turmoil,
            scale: 3,
            mailsim: figures.clone(),
            bare: Figures {
                cpu_seconds: Some(1.0),
                ..figures
            },
        };
        let table = table(&[row]);
        assert!(table.contains("turmoil"), "{table}");
        // The bare engine needs half the CPU: a ratio of 2.
        assert!(table.contains(" 2.00\n"), "{table}");
    }
}
