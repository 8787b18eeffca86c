//! One run, judged: run a scenario on an engine, check every property over
//! the observation log, and sum it up — counts, figures, the digest, the
//! verdict and its exit code. This is what `mailsim run` prints and what
//! sweeps and tests call.

use std::fmt::Write as _;

use properties::{Kind, Outcomes, Report};
use serde::Serialize;
use traces::{EventKind, Log, Told};

use crate::engine::Engine;
use crate::faults::FaultModel;
use crate::scenario::Scenario;

/// How a run ended, worst first wins.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    SafetyViolation,
    LivenessViolation,
    /// The engine stopped the run: simulated time stood still while tasks
    /// kept running (`engine::livelock`). Nothing else was judged.
    Livelock,
}

impl Verdict {
    /// The process exit code the command-line contract gives it.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::SafetyViolation => 1,
            // No progress is a liveness failure; the word tells which.
            Verdict::LivenessViolation | Verdict::Livelock => 3,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::SafetyViolation => "FAIL (safety)",
            Verdict::LivenessViolation => "FAIL (liveness)",
            Verdict::Livelock => "FAIL (livelock)",
        }
    }
}

/// What the summary counts, all from the log.
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub messages: u64,
    pub send_attempts: u64,
    pub accepted: u64,
    pub deferred: u64,
    pub rejected: u64,
    pub indefinite: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    /// Acknowledged (message, recipient) pairs not settled when the run ended.
    pub still_queued: u64,
    pub events: u64,
}

#[derive(Serialize, Clone, Debug)]
pub struct RunOutcome {
    pub seed: u64,
    pub engine: &'static str,
    pub scenario_sha256: String,
    pub digest: String,
    pub verdict: Verdict,
    /// The model the schedule declared (`one_region`, `one_cloud`).
    pub fault_model: FaultModel,
    pub within_fault_model: bool,
    pub counts: Counts,
    pub report: Report,
    /// Violations that do not count because the schedule went beyond the
    /// fault model (only liveness beyond the drain is excused there).
    pub excused: Vec<properties::Violation>,
    pub host_failure: Option<String>,
    pub sim_seconds: f64,
    pub wall_seconds: f64,
    /// With BUGGIFY on: the sites that fired (sorted); None when it was off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buggify_fired: Option<Vec<String>>,
    #[serde(skip)]
    pub log: Log,
    /// What the simulator knew of the run, beside the log (the "sometimes"
    /// counters and `explore`'s coverage read it).
    #[serde(skip)]
    pub facts: std::rc::Rc<properties::Facts>,
}

/// Whether `property` is still promised when the schedule exceeds the fault
/// model. The fail-closed promises (every safety property: no loss, no leak,
/// residency, isolation, verdicts, DSN rules, integrity) hold under any
/// faults; only availability and liveness may be excused there, and of
/// those the drain is kept: after the heal the world is whole again.
pub fn promised_beyond_model(property: &str, kind: Kind) -> bool {
    kind == Kind::Safety || property == "drained_after_heal" || property == LIVELOCK
}

/// The engine's own verdict, reported like a property (so shrink, sweeps
/// and failure files name it): a run whose simulated time stood still.
pub const LIVELOCK: &str = "livelock";

/// Runs `scenario` with `seed` on turmoil (the reference engine) and judges it.
pub fn run(scenario: &Scenario, seed: u64) -> RunOutcome {
    run_on(Engine::Turmoil, scenario, seed)
}

/// Runs `scenario` with `seed` on `engine` and judges it.
pub fn run_on(engine: Engine, scenario: &Scenario, seed: u64) -> RunOutcome {
    let started = wall_clock_now();
    let artifacts = engine.run(scenario, seed);
    let wall_seconds = started.elapsed().as_secs_f64();
    let facts = artifacts.facts.clone();
    let mut report = properties::check_all(&artifacts.log, &facts);
    add_spool_verdict(&mut report, &artifacts.spool_residue);
    if let Some(livelock) = &artifacts.livelock {
        livelock_verdict(&mut report, &livelock.describe(&artifacts.log));
    }
    let within_fault_model = scenario
        .faults
        .within_model(&scenario.topology, scenario.phases.heal_at_ms);
    let mut excused = Vec::new();
    if !within_fault_model {
        let (kept, dropped): (Vec<_>, Vec<_>) = report
            .violations
            .into_iter()
            .partition(|v| promised_beyond_model(&v.property, v.kind));
        report.violations = kept;
        excused = dropped;
    }
    let verdict = if artifacts.livelock.is_some() {
        Verdict::Livelock
    } else if artifacts.host_failure.is_some() || report.has_safety_violation() {
        Verdict::SafetyViolation
    } else if report.has_liveness_violation() {
        Verdict::LivenessViolation
    } else {
        Verdict::Pass
    };
    let counts = counts(&artifacts.log, &facts, &report);
    RunOutcome {
        seed,
        engine: engine.name(),
        scenario_sha256: scenario.sha256(),
        digest: artifacts.log.digest(),
        verdict,
        fault_model: scenario.faults.model,
        within_fault_model,
        counts,
        report,
        excused,
        host_failure: artifacts.host_failure,
        sim_seconds: artifacts.sim_ms as f64 / 1_000.0,
        wall_seconds,
        buggify_fired: scenario
            .buggify
            .then(|| crate::engine::buggify::fired_sites(&artifacts.log)),
        log: artifacts.log,
        facts,
    }
}

/// `spool_drained` (liveness): judged from the disks, not the log (see
/// `engine::spool_check`), so it is not in the log-based registry; it is
/// reported beside the other properties all the same.
const SPOOL_DRAINED: &str = "spool_drained";

fn add_spool_verdict(report: &mut Report, residue: &[crate::engine::spool_check::Residue]) {
    report
        .verdicts
        .push((SPOOL_DRAINED.to_string(), residue.is_empty(), residue.len()));
    for left in residue {
        report.violations.push(properties::Violation::new(
            SPOOL_DRAINED,
            Kind::Liveness,
            format!("after the drain and the retention allowance, {left}"),
            Vec::new(),
        ));
    }
}

/// A livelocked run was cut short, so what its log lacks (deliveries,
/// the drain) says nothing about the gateway: the livelock replaces every
/// judgement.
fn livelock_verdict(report: &mut Report, reason: &str) {
    report.verdicts = vec![(LIVELOCK.to_string(), false, 1)];
    report.violations = vec![properties::Violation::new(
        LIVELOCK,
        Kind::Liveness,
        reason.to_string(),
        Vec::new(),
    )];
}

/// The engine's one use of the wall clock: how long a run took, for people.
#[allow(clippy::disallowed_methods)]
fn wall_clock_now() -> std::time::Instant {
    std::time::Instant::now()
}

fn counts(log: &Log, facts: &properties::Facts, report: &Report) -> Counts {
    let mut counts = Counts {
        messages: facts.messages.len() as u64,
        events: log.len() as u64,
        duplicates: report.figures.duplicates,
        ..Counts::default()
    };
    for event in log.events() {
        match &event.kind {
            EventKind::SendAttempt { .. } => counts.send_attempts += 1,
            EventKind::SendOutcome { told, .. } => match told {
                Told::Accepted => counts.accepted += 1,
                Told::Deferred => counts.deferred += 1,
                Told::Rejected => counts.rejected += 1,
                Told::Indefinite => counts.indefinite += 1,
            },
            _ => {}
        }
    }
    let view = Outcomes::build(log, facts);
    counts.delivered = view.deliveries.values().map(|d| d.len() as u64).sum();
    counts.bounced = view.dsns.len() as u64;
    counts.quarantined = view.quarantined.len() as u64;
    let pairs: Vec<_> = view.acknowledged().map(|(pair, _)| pair.clone()).collect();
    counts.still_queued = pairs
        .iter()
        .filter(|pair| view.settlements(pair).is_empty())
        .count() as u64;
    counts
}

impl RunOutcome {
    /// The human summary that follows the knobs: counts, properties,
    /// violations, then `digest:` and the verdict.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let c = &self.counts;
        let figures = &self.report.figures;
        let _ = writeln!(
            out,
            "messages: {} sent in {} attempts: {} accepted (250), {} deferred (4xx), {} rejected (5xx), {} indefinite",
            c.messages, c.send_attempts, c.accepted, c.deferred, c.rejected, c.indefinite
        );
        let _ = writeln!(
            out,
            "outcomes: {} delivered, {} bounced (DSN), {} quarantined, {} duplicates, {} still queued",
            c.delivered, c.bounced, c.quarantined, c.duplicates, c.still_queued
        );
        let latency = |v: Option<f64>| v.map_or("-".to_string(), |ms| format!("{ms:.0} ms"));
        let _ = writeln!(
            out,
            "latency: p50 {} p99 {} (simulated, acceptance to delivery)",
            latency(figures.latency_p50_ms),
            latency(figures.latency_p99_ms)
        );
        let share = |s: &properties::Share| {
            s.share.map_or("-".to_string(), |v| {
                format!("{:.1}% of {}", v * 100.0, s.total)
            })
        };
        let _ = writeln!(
            out,
            "availability during single-region outage: {}; overall acceptance: {}",
            share(&figures.availability),
            share(&figures.acceptance_overall)
        );
        let _ = writeln!(
            out,
            "availability as senders see it: accepted within 1 min {}, 5 min {}, 30 min {} of the first attempt (5 min, first tried in an outage: {}); headline {:.3}%",
            share(&figures.accepted_within_1m),
            share(&figures.accepted_within_5m),
            share(&figures.accepted_within_30m),
            share(&figures.accepted_within_5m_in_outage),
            properties::figures::HEADLINE_AVAILABILITY * 100.0
        );
        let _ = writeln!(
            out,
            "fault model: {}; {}",
            self.fault_model,
            if self.within_fault_model {
                "schedule stayed inside it"
            } else {
                "schedule went BEYOND it (liveness excused, safety and drain still promised)"
            }
        );
        for (name, passed, count) in &self.report.verdicts {
            let excused = self.excused.iter().filter(|v| &v.property == name).count();
            let word = if *passed {
                "ok".to_string()
            } else if excused == *count {
                format!("excused ({count} beyond the fault model)")
            } else {
                format!("VIOLATED ({count})")
            };
            let _ = writeln!(out, "property {name}: {word}");
        }
        let s = &self.report.sometimes;
        let _ = writeln!(
            out,
            "reached: {} host crashes, {} failovers, {} sessions hit by an outage, {} scans waited, {} indefinite replies, {} DSNs, {} quarantines",
            s.host_crashes,
            s.failovers,
            s.outage_hit_open_session,
            s.scans_waited,
            s.indefinite_outcomes,
            s.dsns_sent,
            s.quarantines
        );
        let _ = writeln!(
            out,
            "reached: {} host restarts, {} recipients deferred at RCPT, {} messages deferred by the gateway, {} gateway disk errors",
            s.host_restarts, s.rcpt_deferred, s.gateway_deferrals, s.storage_errors
        );
        let _ = writeln!(
            out,
            "reached: {} bodies compared ({} tagged), {} acks judged at the disks, {} bounces after a 5xx, {} offers refused with a 5xx at RCPT, {} quarantine writes undone, {} parked groups judged for order",
            s.bodies_compared,
            s.tagged_bodies_compared,
            s.acks_judged_durable,
            s.bounces_after_refusal,
            s.rcpts_refused_permanently,
            s.quarantine_writes_undone,
            s.orders_judged
        );
        if s.null_sender_delivered + s.null_sender_dropped > 0 {
            let _ = writeln!(
                out,
                "reached: {} pairs sent with MAIL FROM:<> delivered, {} ended without a DSN",
                s.null_sender_delivered, s.null_sender_dropped
            );
        }
        if s.unknown_recipients_offered + s.refusals_unheard > 0 {
            let _ = writeln!(
                out,
                "reached: {} RCPTs of addresses no tenant has, {} refusals after DATA nobody heard",
                s.unknown_recipients_offered, s.refusals_unheard
            );
        }
        if let Some(fired) = &self.buggify_fired {
            let never: Vec<&str> = models::buggify::SITES
                .iter()
                .map(|(site, _)| *site)
                .filter(|site| !fired.iter().any(|f| f == site))
                .collect();
            let list = |sites: Vec<&str>| match sites.is_empty() {
                true => "none".to_string(),
                false => sites.join(", "),
            };
            let _ = writeln!(
                out,
                "buggify: fired {}; not fired {}",
                list(fired.iter().map(String::as_str).collect()),
                list(never)
            );
        }
        if let Some(failure) = &self.host_failure {
            let _ = writeln!(out, "host failure: {failure}");
        }
        if self.verdict == Verdict::Livelock {
            let _ = writeln!(
                out,
                "run stopped by the livelock guard: cut short, so no property was judged"
            );
        }
        for violation in &self.report.violations {
            let kind = match violation.kind {
                Kind::Safety => "safety",
                Kind::Liveness => "liveness",
            };
            let _ = writeln!(
                out,
                "violation [{kind}] {}: {}",
                violation.property, violation.reason
            );
        }
        let _ = writeln!(
            out,
            "sim: {:.1} s simulated in {:.2} s wall ({} events)",
            self.sim_seconds, self.wall_seconds, c.events
        );
        let _ = write!(out, "digest: {} {}", self.digest, self.verdict.word());
        out
    }
}
