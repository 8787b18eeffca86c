//! JUnit XML for CI: one testcase per seed (`seed 17`, classname
//! `mailsim.<family>`), a `<failure>` for a violated property or a digest
//! mismatch, an `<error>` for a crash or a timeout, `<skipped>` for a seed a
//! time budget left unrun. Each failure's body lists its violations and ends
//! with the line that reproduces it.

use std::fmt::Write as _;

use crate::sweep::record::{Outcome, SeedRecord};
use crate::sweep::summary::Summary;
use crate::sweep::xml;

/// Violations listed in one failure body; the rest are in summary.json.
const MAX_LISTED: usize = 20;

/// The JUnit document for `summary`.
pub fn render(summary: &Summary) -> String {
    let totals = &summary.totals;
    let errors = totals.by_outcome.get("timeout").copied().unwrap_or(0)
        + totals.by_outcome.get("crashed").copied().unwrap_or(0);
    let failures = totals.failed - errors;
    let classname = format!("mailsim.{}", summary.family);
    let counts = format!(
        r#"tests="{}" failures="{failures}" errors="{errors}" skipped="{}" time="{:.3}""#,
        totals.selected, totals.not_run, totals.seed_wall_seconds
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, r#"<testsuites name="mailsim sweep" {counts}>"#);
    let _ = writeln!(
        out,
        r#"  <testsuite name="{}" {counts}>"#,
        xml::attr(&classname)
    );
    out.push_str("    <properties>\n");
    let mut property = |name: &str, value: &str| {
        let _ = writeln!(
            out,
            r#"      <property name="{}" value="{}"/>"#,
            xml::attr(name),
            xml::attr(value)
        );
    };
    property("build", &summary.build_id);
    property("family", &summary.family);
    property("bugs", &summary.bugs.join(","));
    property("recheck_percent", &summary.recheck_percent.to_string());
    for command in &summary.commands {
        property("command", command);
    }
    out.push_str("    </properties>\n");
    let mut cases: Vec<(u64, String)> = summary
        .results
        .iter()
        .map(|record| (record.seed, testcase(record, &classname)))
        .collect();
    let reason = if summary.budget_exhausted {
        "not run: the sweep's time budget ran out; rerun the same command to continue"
    } else {
        "not run: the sweep stopped before this seed; rerun the same command to continue"
    };
    cases.extend(summary.not_run.iter().map(|&seed| {
        let case = format!(
            "    <testcase name=\"seed {seed}\" classname=\"{}\" time=\"0\">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
            xml::attr(&classname),
            xml::attr(reason)
        );
        (seed, case)
    }));
    cases.sort_by_key(|(seed, _)| *seed);
    for (_, case) in cases {
        out.push_str(&case);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn testcase(record: &SeedRecord, classname: &str) -> String {
    let open = format!(
        r#"    <testcase name="seed {}" classname="{}" time="{:.3}""#,
        record.seed,
        xml::attr(classname),
        record.wall_seconds
    );
    if !record.outcome.is_failure() {
        return format!("{open}/>\n");
    }
    let element = match record.outcome {
        Outcome::Timeout | Outcome::Crashed => "error",
        _ => "failure",
    };
    let violated = record.violated();
    let message = if violated.is_empty() {
        record.outcome.name().to_string()
    } else {
        format!("{}: {}", record.outcome.name(), violated.join(", "))
    };
    format!(
        "{open}>\n      <{element} message=\"{}\" type=\"{}\">{}</{element}>\n    </testcase>\n",
        xml::attr(&message),
        record.outcome.name(),
        xml::text(&body(record))
    )
}

/// What a person reads in CI: the violations, what else is known, where the
/// files are, and last the command that reproduces it.
pub fn body(record: &SeedRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", record.headline());
    for violation in record.violations.iter().take(MAX_LISTED) {
        let _ = writeln!(
            out,
            "violation [{}] {}: {}",
            violation.kind, violation.property, violation.reason
        );
    }
    if record.violations.len() > MAX_LISTED {
        let _ = writeln!(
            out,
            "... and {} more violations (all in summary.json)",
            record.violations.len() - MAX_LISTED
        );
    }
    if let Some(detail) = &record.detail {
        let _ = writeln!(out, "{detail}");
    }
    if let Some(digest) = &record.digest {
        let _ = writeln!(out, "digest: {digest}");
    }
    if let Some(file) = &record.failure_file {
        let _ = writeln!(out, "failure file: {file}");
    }
    if let Some(file) = &record.trace_file {
        let _ = writeln!(out, "trace: {file}");
    }
    if let Some(shrink) = &record.shrink {
        let _ = writeln!(out, "shrink: {shrink}");
    }
    let _ = writeln!(out, "reproduce with:");
    out.push_str(&record.repro);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::record::ViolationRecord;
    use crate::sweep::summary::{Meta, Summary};

    fn record(seed: u64, outcome: Outcome, reason: &str) -> SeedRecord {
        SeedRecord {
            seed,
            family: "swarm".into(),
            bugs: Vec::new(),
            outcome,
            verdict: None,
            digest: None,
            recheck_digest: None,
            violations: vec![ViolationRecord {
                property: "no_acked_loss".into(),
                kind: "safety".into(),
                reason: reason.into(),
            }],
            excused: 0,
            within_fault_model: Some(true),
            sim_seconds: Some(40.0),
            wall_seconds: 1.5,
            repro: format!("mailsim run --seed {seed} --family swarm"),
            detail: None,
            failure_file: None,
            trace_file: None,
            shrink: None,
        }
    }

    fn summary(results: Vec<SeedRecord>, not_run: Vec<u64>) -> Summary {
        let meta = Meta {
            commands: vec!["mailsim sweep --seeds 0..4 --bug 'a&b'".into()],
            family: "swarm".into(),
            bugs: Vec::new(),
            shards: Vec::new(),
            recheck_percent: 5.0,
            time_budget_seconds: None,
            budget_exhausted: true,
        };
        Summary::from_parts(meta, results, not_run)
    }

    #[test]
    fn failures_errors_and_skips_are_counted_and_escaped() {
        let xml = render(&summary(
            vec![
                record(2, Outcome::SafetyViolation, "lost <m1> & \u{1b}[31mred"),
                record(0, Outcome::Crashed, "x"),
                record(1, Outcome::Pass, "x"),
            ],
            vec![3],
        ));
        assert!(
            xml.contains(r#"tests="4" failures="1" errors="1" skipped="1""#),
            "{xml}"
        );
        assert!(
            xml.contains("lost &lt;m1&gt; &amp; \\u{1b}[31mred"),
            "{xml}"
        );
        assert!(xml.contains(r#"value="mailsim sweep --seeds 0..4 --bug &apos;a&amp;b&apos;""#));
        assert!(xml.contains("<error message=\"crashed"));
        assert!(xml.contains("<skipped message=\"not run: the sweep&apos;s time budget"));
        let seeds: Vec<usize> = (0..4)
            .map(|s| xml.find(&format!("\"seed {s}\"")).unwrap())
            .collect();
        assert!(
            seeds.windows(2).all(|w| w[0] < w[1]),
            "testcases in seed order"
        );
    }

    #[test]
    fn a_failure_body_ends_with_its_repro_line() {
        let body = body(&record(7, Outcome::LivenessViolation, "not drained"));
        assert_eq!(
            body.lines().last(),
            Some("mailsim run --seed 7 --family swarm")
        );
        assert!(body.contains("violation [safety] no_acked_loss: not drained"));
    }
}
