//! The reproduce-a-bug workflow through the real binary: a failing run saves
//! a failure file and a Chrome trace, `replay` confirms it or names what
//! changed, `shrink` makes it smaller, `chrome` converts a saved trace, and
//! logs carry simulated time. Every kind of bad file — truncated, foreign,
//! newer, the wrong kind — is exit 2 with the file (and line) named, never a
//! panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sim::faults::{Fault, FaultKind};

fn mailsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailsim"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("mailsim starts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn assert_bad_input(output: &Output, mentions: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    for needle in mentions {
        assert!(
            err.contains(needle),
            "stderr should mention {needle:?}: {err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs the tiny failing scenario from a file, saving everything.
struct SavedFailure {
    dir: PathBuf,
    failure: PathBuf,
    trace: PathBuf,
    chrome: PathBuf,
    run: Output,
}

fn save_tiny_failure(test: &str) -> SavedFailure {
    let dir = common::temp_dir(test);
    let scenario_path = dir.join("tiny.json");
    std::fs::write(&scenario_path, common::tiny_failing_scenario().to_json()).unwrap();
    let (failure, trace, chrome) = (
        dir.join("failure.json"),
        dir.join("trace.jsonl"),
        dir.join("chrome.json"),
    );
    let run = mailsim(&[
        "run",
        "--seed",
        "1",
        "--scenario",
        path_str(&scenario_path),
        "--save-failure",
        path_str(&failure),
        "--trace",
        path_str(&trace),
        "--chrome",
        path_str(&chrome),
    ]);
    SavedFailure {
        dir,
        failure,
        trace,
        chrome,
        run,
    }
}

#[test]
fn a_failing_run_prints_its_report_saves_its_files_and_replays_the_same() {
    let saved = save_tiny_failure("replay-same");
    let out = stdout(&saved.run);
    assert_eq!(saved.run.status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "seed: 1");
    assert!(lines[lines.len() - 1].ends_with("FAIL (safety)"), "{out}");
    assert!(
        lines[lines.len() - 2].starts_with("mailsim run --seed 1 --scenario "),
        "{out}"
    );
    let report_at = out.find("---- failure report ----").expect("a report");
    assert!(
        report_at < out.find("failure file: ").expect("file line"),
        "{out}"
    );
    assert!(out.contains("life of m35.s1@mailsim.test"), "{out}");

    let chrome: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&saved.chrome).unwrap()).expect("valid JSON");
    let events = chrome["traceEvents"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "process_name" && e["args"]["name"] == "internet")
    );
    let begins = events.iter().filter(|e| e["ph"] == "b").count();
    assert!(begins > 0 && begins == events.iter().filter(|e| e["ph"] == "e").count());

    let replay = mailsim(&["replay", path_str(&saved.failure)]);
    let out = stdout(&replay);
    assert_eq!(replay.status.code(), Some(0), "{out}{}", stderr(&replay));
    assert!(
        out.contains("expected: safety_violation [no_malware_delivered]"),
        "{out}"
    );
    assert!(out.contains("---- failure report ----"), "{out}");
    assert_eq!(out.lines().last(), Some("replay: same outcome"));
    std::fs::remove_dir_all(&saved.dir).unwrap();
}

#[test]
fn a_replay_that_ends_differently_says_what_changed_and_exits_1() {
    let saved = save_tiny_failure("replay-changed");
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&saved.failure).unwrap()).unwrap();
    file["expected"]["digest"] = serde_json::json!("0".repeat(64));
    file["expected"]["violated"] = serde_json::json!(["no_malware_delivered", "residency"]);
    std::fs::write(&saved.failure, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let replay = mailsim(&["replay", path_str(&saved.failure)]);
    let out = stdout(&replay);
    assert_eq!(replay.status.code(), Some(1), "{out}");
    assert!(
        out.contains("changed: no longer violated: residency"),
        "{out}"
    );
    assert!(
        out.contains(&format!("changed: digest: was {}", "0".repeat(64))),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("replay: DIFFERENT"));

    let update = mailsim(&["replay", path_str(&saved.failure), "--update"]);
    assert_eq!(update.status.code(), Some(0), "{}", stdout(&update));
    let again = mailsim(&["replay", path_str(&saved.failure)]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    std::fs::remove_dir_all(&saved.dir).unwrap();
}

#[test]
fn a_passing_run_writes_no_failure_file() {
    let dir = common::temp_dir("replay-pass");
    let scenario_path = dir.join("tiny.json");
    std::fs::write(&scenario_path, common::tiny_scenario().to_json()).unwrap();
    let failure = dir.join("failure.json");
    let run = mailsim(&[
        "run",
        "--seed",
        "1",
        "--scenario",
        path_str(&scenario_path),
        "--save-failure",
        path_str(&failure),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    assert!(!failure.exists());
    assert!(!stdout(&run).contains("failure report"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_failure_files_are_refused_naming_the_file() {
    let saved = save_tiny_failure("replay-bad");
    let text = std::fs::read_to_string(&saved.failure).unwrap();
    let dir = &saved.dir;
    let write = |name: &str, content: &str| {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    let cut = write("cut.json", &text[..text.len() / 2]);
    let cut_out = mailsim(&["replay", path_str(&cut)]);
    assert_bad_input(&cut_out, &["cut.json:"]);
    let line = stderr(&cut_out)
        .split(':')
        .nth(2)
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert!(
        line.is_some_and(|n| n > 1),
        "names a line: {}",
        stderr(&cut_out)
    );

    let foreign = write(
        "package.json",
        "{\"name\": \"left-pad\", \"version\": \"1.3.0\"}",
    );
    assert_bad_input(
        &mailsim(&["replay", path_str(&foreign)]),
        &["package.json", "not a failure file"],
    );

    let newer = write(
        "newer.json",
        &text.replacen("\"version\": 1", "\"version\": 7", 1),
    );
    assert_bad_input(
        &mailsim(&["replay", path_str(&newer)]),
        &["newer.json", "newer"],
    );

    let engine = write(
        "engine.json",
        &text.replacen("\"turmoil\"", "\"madsim\"", 1),
    );
    assert_bad_input(
        &mailsim(&["replay", path_str(&engine)]),
        &["engine.json", "madsim"],
    );

    assert_bad_input(
        &mailsim(&["replay", path_str(&saved.trace)]),
        &["trace.jsonl:1: not a failure file", "observation log"],
    );
    assert_bad_input(
        &mailsim(&["replay", "/nonexistent/f.json"]),
        &["/nonexistent/f.json"],
    );
    assert_bad_input(&mailsim(&["shrink", path_str(&cut)]), &["cut.json:"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn chrome_converts_a_saved_trace_and_refuses_bad_ones_naming_file_and_line() {
    let saved = save_tiny_failure("chrome-cli");
    let dir = &saved.dir;
    let out = dir.join("converted.json");
    let ok = mailsim(&["chrome", path_str(&saved.trace), "--out", path_str(&out)]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let converted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(
        converted["traceEvents"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );

    let text = std::fs::read_to_string(&saved.trace).unwrap();
    let write = |name: &str, content: &str| {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    let lines = text.lines().count();
    let cut = write("cut.jsonl", &text[..text.len() - 30]);
    assert_bad_input(
        &mailsim(&["chrome", path_str(&cut), "--out", path_str(&out)]),
        &[&format!("cut.jsonl:{lines}:"), "truncated"],
    );
    let whole_lines: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
    let short = write("short.jsonl", &whole_lines);
    assert_bad_input(
        &mailsim(&["chrome", path_str(&short), "--out", path_str(&out)]),
        &["short.jsonl:5:", "truncated"],
    );
    let newer = write(
        "newer.jsonl",
        &text.replacen(
            &format!("\"schema\":{}", traces::SCHEMA_VERSION),
            &format!("\"schema\":{}", traces::SCHEMA_VERSION + 1),
            1,
        ),
    );
    assert_bad_input(
        &mailsim(&["chrome", path_str(&newer), "--out", path_str(&out)]),
        &["newer.jsonl:1:", "newer"],
    );
    let foreign = write("foreign.jsonl", "{\"level\":\"info\",\"msg\":\"hello\"}\n");
    assert_bad_input(
        &mailsim(&["chrome", path_str(&foreign), "--out", path_str(&out)]),
        &["foreign.jsonl:1:", "not a mailsim trace"],
    );
    assert_bad_input(
        &mailsim(&["chrome", path_str(&saved.failure), "--out", path_str(&out)]),
        &["failure.json:1:", "not a mailsim trace"],
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn shrink_drops_what_does_not_matter_and_the_result_replays() {
    let dir = common::temp_dir("shrink-cli");
    let mut scenario = common::tiny_failing_scenario();
    scenario.faults.faults = vec![
        Fault {
            at_ms: 200,
            duration_ms: 1_000,
            kind: FaultKind::MailboxOutage {
                tenant: "acme".into(),
            },
        },
        Fault {
            at_ms: 500,
            duration_ms: 1_500,
            kind: FaultKind::ScannerOutage {
                region: "us-east-1".into(),
            },
        },
    ];
    let outcome = sim::run::run(&scenario, 1);
    let file = sim::failure_file(&outcome, &scenario, "mailsim run (test)");
    let path = dir.join("big.json");
    file.save(&path).unwrap();

    let shrink = mailsim(&["shrink", path_str(&path)]);
    let (out, err) = (stdout(&shrink), stderr(&shrink));
    assert_eq!(shrink.status.code(), Some(0), "{out}{err}");
    assert!(err.contains("drop every fault: still fails, kept"), "{err}");
    assert!(out.contains("faults 2 -> 0, messages 3 -> 1"), "{out}");
    let small_path = dir.join("big.min.json");
    let small = traces::FailureFile::load(&small_path).unwrap();
    assert_eq!(small.expected.violated, ["no_malware_delivered"]);
    assert_eq!(
        small.repro,
        format!("mailsim replay {}", small_path.display())
    );
    let replay = mailsim(&["replay", path_str(&small_path)]);
    assert_eq!(replay.status.code(), Some(0), "{}", stdout(&replay));

    assert_bad_input(
        &mailsim(&["shrink", path_str(&path), "--property", "no_such_property"]),
        &["no_such_property"],
    );
    let still = mailsim(&["shrink", path_str(&path), "--property", "residency"]);
    assert_eq!(still.status.code(), Some(1), "{}", stdout(&still));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn logs_are_quiet_by_default_and_stamped_with_simulated_time_and_host() {
    let dir = common::temp_dir("logs-cli");
    let scenario_path = dir.join("tiny.json");
    std::fs::write(&scenario_path, common::tiny_scenario().to_json()).unwrap();
    let args = ["run", "--seed", "1", "--scenario", path_str(&scenario_path)];
    let quiet = mailsim(&args);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stderr(&quiet), "", "warnings only by default");

    let loud = Command::new(env!("CARGO_BIN_EXE_mailsim"))
        .args(args)
        .env("RUST_LOG", "models=info")
        .output()
        .expect("mailsim starts");
    let err = stderr(&loud);
    // Logs go to stderr only; stdout differs at most in the wall time.
    let without_wall_time = |text: String| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("sim: "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        without_wall_time(stdout(&loud)),
        without_wall_time(stdout(&quiet))
    );
    let accepted = err
        .lines()
        .find(|l| l.contains("accepted (250)"))
        .unwrap_or_else(|| panic!("no acceptance logged: {err}"));
    assert!(
        accepted.starts_with(
            "[   0.441s gw-gcp-us-central1-0]  INFO models::gateway::ingress: accepted (250)"
        ),
        "{accepted}"
    );
    assert!(!err.contains("\u{1b}["), "no colour when not a terminal");
    std::fs::remove_dir_all(&dir).unwrap();
}
