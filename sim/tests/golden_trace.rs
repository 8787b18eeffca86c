//! The golden trace: the whole observation log of one tiny run, byte for
//! byte, as a committed snapshot (`snapshots/`). Any change to what a run
//! records or when — a new event, a field, a timing — shows up here as a
//! readable diff, to be accepted on purpose (`cargo insta review`) or fixed.
//! CI runs with CI=true, where a missing or changed snapshot fails.
//!
//! Also here: the failure report of the same run with a bug switched on
//! (its format is what a person reads first), and the promise that the log
//! never carries message bodies.

mod common;

use sim::report_text::failure_report;
use sim::run::{self, Verdict};
use sim::workload::mime::{MessageSpec, build_message};

fn jsonl(log: &traces::Log) -> String {
    let mut bytes = Vec::new();
    log.write_jsonl(&mut bytes).expect("in memory");
    String::from_utf8(bytes).expect("the log is UTF-8")
}

#[test]
fn the_tiny_calm_run_records_exactly_the_golden_trace() {
    let scenario = common::tiny_scenario();
    let outcome = run::run(&scenario, 1);
    assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.summary());
    let text = jsonl(&outcome.log);
    assert!(
        text.lines().count() < 300,
        "the golden trace should stay short"
    );
    insta::assert_snapshot!("tiny_calm_trace", text);
}

#[test]
fn the_failure_report_of_a_tiny_failing_run_reads_as_recorded() {
    let scenario = common::tiny_failing_scenario();
    let outcome = run::run(&scenario, 1);
    assert_eq!(outcome.verdict, Verdict::SafetyViolation);
    let report = failure_report(&outcome, &scenario, "mailsim replay tiny.json");
    assert!(
        report.contains("property no_malware_delivered [safety]"),
        "{report}"
    );
    assert!(
        report.contains("reproduce: mailsim replay tiny.json"),
        "{report}"
    );
    insta::assert_snapshot!("tiny_failure_report", report);
}

#[test]
fn the_trace_never_carries_message_bodies() {
    let scenario = common::tiny_scenario();
    let text = jsonl(&run::run(&scenario, 1).log);
    assert!(
        !text.contains("EICAR-STANDARD-ANTIVIRUS-TEST-FILE"),
        "the EICAR string leaked into the log"
    );
    for plan in &scenario.workload.messages {
        let message = build_message(&MessageSpec {
            message_id: &plan.id,
            from: &plan.mail_from,
            to: &plan.rcpts,
            subject_seed: plan.body_seed.rotate_left(17),
            body_seed: plan.body_seed,
            kind: plan.kind,
            body_bytes_approx: plan.body_bytes_approx as usize,
            date_rfc2822: "Wed, 25 Nov 2026 00:00:00 +0000",
        });
        let message = String::from_utf8_lossy(&message);
        let (_, body) = message.split_once("\r\n\r\n").expect("headers end");
        let lines: Vec<&str> = body
            .lines()
            .map(str::trim)
            .filter(|line| line.len() >= 24)
            .collect();
        assert!(!lines.is_empty(), "{} has a body to look for", plan.id);
        for line in lines {
            assert!(
                !text.contains(line),
                "body line of {} in the log: {line}",
                plan.id
            );
        }
    }
}
