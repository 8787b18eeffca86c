//! JUnit XML for CI, written with `quick-junit` (the crate nextest writes
//! its JUnit with): one testcase per seed (`seed 17`, classname
//! `mailsim.<family>`), a `<failure>` for a violated property or a digest
//! mismatch, an `<error>` for a crash or a timeout, `<skipped>` for a seed a
//! time budget left unrun. Each failure's body lists its violations and ends
//! with the line that reproduces it.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::sweep::record::{Outcome, SeedRecord};
use crate::sweep::summary::Summary;

/// Violations listed in one failure body; the rest are in summary.json.
const LISTED_MAX: usize = 20;

/// The JUnit document for `summary`.
pub fn render(summary: &Summary) -> Result<String, String> {
    let classname = format!("mailsim.{}", summary.family);
    let mut suite = TestSuite::new(classname.as_str());
    suite.set_time(seconds(summary.totals.seed_wall_seconds));
    suite.add_properties([
        Property::new("build", summary.build_id.as_str()),
        Property::new("family", summary.family.as_str()),
        Property::new("bugs", summary.bugs.join(",")),
        Property::new("recheck_percent", summary.recheck_percent.to_string()),
    ]);
    suite.add_properties(
        summary
            .commands
            .iter()
            .map(|command| Property::new("command", command.as_str())),
    );
    let mut cases: Vec<(u64, TestCase)> = summary
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
        let mut status = TestCaseStatus::skipped();
        status.set_message(reason);
        let mut case = TestCase::new(format!("seed {seed}"), status);
        case.set_classname(classname.as_str())
            .set_time(Duration::ZERO);
        (seed, case)
    }));
    cases.sort_by_key(|(seed, _)| *seed);
    suite.add_test_cases(cases.into_iter().map(|(_, case)| case));
    let mut report = Report::new("mailsim sweep");
    report.set_time(seconds(summary.totals.seed_wall_seconds));
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| format!("cannot write the JUnit XML: {e}"))
}

fn testcase(record: &SeedRecord, classname: &str) -> TestCase {
    let status = if record.outcome.is_failure() {
        let kind = match record.outcome {
            Outcome::Timeout | Outcome::Crashed => NonSuccessKind::Error,
            _ => NonSuccessKind::Failure,
        };
        let violated = record.violated();
        let message = if violated.is_empty() {
            record.outcome.name().to_string()
        } else {
            format!("{}: {}", record.outcome.name(), violated.join(", "))
        };
        let mut status = TestCaseStatus::non_success(kind);
        status
            .set_message(message)
            .set_type(record.outcome.name())
            .set_description(body(record));
        status
    } else {
        TestCaseStatus::success()
    };
    let mut case = TestCase::new(format!("seed {}", record.seed), status);
    case.set_classname(classname)
        .set_time(seconds(record.wall_seconds));
    case
}

/// A wall time from a record (never negative or NaN there, but a hand-edited
/// record must not panic the writer).
fn seconds(wall_seconds: f64) -> Duration {
    Duration::try_from_secs_f64(wall_seconds).unwrap_or(Duration::ZERO)
}

/// What a person reads in CI: the violations, what else is known, where the
/// files are, and last the command that reproduces it.
pub fn body(record: &SeedRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", record.headline());
    for violation in record.violations.iter().take(LISTED_MAX) {
        let _ = writeln!(
            out,
            "violation [{}] {}: {}",
            violation.kind, violation.property, violation.reason
        );
    }
    if record.violations.len() > LISTED_MAX {
        let _ = writeln!(
            out,
            "... and {} more violations (all in summary.json)",
            record.violations.len() - LISTED_MAX
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
            buggify: false,
            buggify_fired: Vec::new(),
            shrunk: None,
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
                record(
                    2,
                    Outcome::SafetyViolation,
                    "lost <m1> & \u{1b}[31mred\u{7}",
                ),
                record(0, Outcome::Crashed, "x"),
                record(1, Outcome::Pass, "x"),
            ],
            vec![3],
        ))
        .expect("renders");
        let suite = xml
            .lines()
            .find(|line| line.contains("<testsuite "))
            .expect("a testsuite element");
        for count in [
            r#"tests="4""#,
            r#"failures="1""#,
            r#"errors="1""#,
            r#"skipped="1""#,
        ] {
            assert!(suite.contains(count), "{count} in {suite}");
        }
        // Markup is escaped; terminal colours and control characters, which
        // XML 1.0 forbids, are dropped so CI can still read the file.
        assert!(xml.contains("lost &lt;m1&gt; &amp; red\n"), "{xml}");
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
