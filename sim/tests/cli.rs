//! The command-line contract users and CI script against: the output's
//! first and last lines, the JSON summary, and exit code 2 with one clear
//! message (never a panic) for every kind of bad input.

use std::process::{Command, Output};

fn mailsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailsim"))
        .args(args)
        .output()
        .expect("mailsim starts")
}

fn assert_bad_input(output: &Output, mentions: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains(mentions),
        "stderr should mention {mentions:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
}

#[test]
fn a_run_prints_the_seed_first_and_the_digest_and_verdict_last() {
    let output = mailsim(&["run", "--seed", "1", "--family", "calm"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"seed: 1"));
    let last = lines.last().expect("output");
    assert!(
        last.starts_with("digest: ") && last.ends_with("PASS"),
        "{last}"
    );
    assert!(stdout.contains("property no_acked_loss: ok"), "{stdout}");
}

#[test]
fn json_output_is_one_object_with_the_promised_fields() {
    let output = mailsim(&["run", "--seed", "2", "--json", "--family", "calm"]);
    assert_eq!(output.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    for field in [
        "seed",
        "digest",
        "counts",
        "violations",
        "sim_seconds",
        "wall_seconds",
    ] {
        assert!(summary.get(field).is_some(), "missing {field}: {summary}");
    }
    assert_eq!(summary["seed"], 2);
    assert!(summary["counts"]["delivered"].as_u64().unwrap() > 0);
}

#[test]
fn a_known_bug_fails_the_run_with_exit_1_and_a_repro_line() {
    let output = mailsim(&[
        "run",
        "--seed",
        "1",
        "--bug",
        "scanner-skips-encoded-attachments",
        "--family",
        "swarm",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let repro = lines[lines.len() - 2];
    assert_eq!(
        repro,
        "mailsim run --seed 1 --family swarm --bug scanner-skips-encoded-attachments"
    );
    assert!(lines.last().unwrap().ends_with("FAIL (safety)"));
}

#[test]
fn an_unknown_flag_is_bad_input() {
    assert_bad_input(
        &mailsim(&["run", "--seed", "1", "--frobnicate"]),
        "--frobnicate",
    );
}

#[test]
fn a_missing_or_non_numeric_seed_is_bad_input() {
    assert_bad_input(&mailsim(&["run"]), "--seed");
    assert_bad_input(&mailsim(&["run", "--seed", "forty-two"]), "forty-two");
}

#[test]
fn a_backwards_seed_range_is_bad_input() {
    assert_bad_input(&mailsim(&["check-determinism", "--seeds", "5..2"]), "5..2");
}

#[test]
fn an_unknown_bug_is_bad_input() {
    assert_bad_input(
        &mailsim(&["run", "--seed", "1", "--bug", "no-such-bug"]),
        "no-such-bug",
    );
}

#[test]
fn malformed_and_unknown_field_scenarios_are_bad_input() {
    let dir = std::env::temp_dir().join(format!("mailsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truncated = dir.join("truncated.json");
    std::fs::write(&truncated, "{\"version\": 1, \"seed\": ").unwrap();
    assert_bad_input(
        &mailsim(&[
            "run",
            "--seed",
            "1",
            "--scenario",
            truncated.to_str().unwrap(),
        ]),
        "truncated.json",
    );
    let unknown = dir.join("unknown.json");
    let json = sim::scenario::Scenario::generate(1).to_json().replacen(
        "\"bugs\"",
        "\"bogus\": true, \"bugs\"",
        1,
    );
    std::fs::write(&unknown, json).unwrap();
    assert_bad_input(
        &mailsim(&[
            "run",
            "--seed",
            "1",
            "--scenario",
            unknown.to_str().unwrap(),
        ]),
        "bogus",
    );
    assert_bad_input(
        &mailsim(&[
            "run",
            "--seed",
            "1",
            "--scenario",
            "/nonexistent/scenario.json",
        ]),
        "/nonexistent/scenario.json",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bugs_lists_the_catalogue() {
    let output = mailsim(&["bugs"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout.contains("ack-before-fsync"), "{stdout}");
    assert_eq!(stdout.lines().count(), models::bugs::CATALOGUE.len());
}
