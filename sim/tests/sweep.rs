//! `mailsim sweep`, `merge` and `report` end to end, through the binary:
//! outputs, failures with repro lines, crashes and hangs contained, resume,
//! shards from flags and from a CI engine's variables, merge, the HTML page.
//! Calm scenarios and a handful of seeds keep it to seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Variables that pick a shard or make workers misbehave: cleared for every
/// test, so a CI engine running these tests in parallel cannot shard them.
const CLEARED: &[&str] = &[
    "MAILSIM_SHARD",
    "MAILSIM_SHARD_COUNT",
    "JOB_COMPLETION_INDEX",
    "BUILDKITE_PARALLEL_JOB",
    "BUILDKITE_PARALLEL_JOB_COUNT",
    "CI_NODE_INDEX",
    "CI_NODE_TOTAL",
    "MAILSIM_SWEEP_TEST_FAULT",
];

fn mailsim_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailsim"));
    for name in CLEARED {
        command.env_remove(name);
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("mailsim starts")
}

fn mailsim(args: &[&str]) -> Output {
    mailsim_with(args, &[])
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sweep-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary is JSON")
}

fn seeds_in(summary: &Value) -> Vec<u64> {
    summary["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["seed"].as_u64().expect("seed"))
        .collect()
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn a_sweep_over_three_seeds_writes_a_summary_and_junit_with_three_testcases() {
    let dir = scratch("three");
    let out = dir.join("out");
    let junit = dir.join("junit.xml");
    let output = mailsim(&[
        "sweep",
        "--seeds",
        "0..3",
        "--family",
        "calm",
        "--jobs",
        "2",
        "--out",
        s(&out),
        "--junit",
        s(&junit),
        "--recheck",
        "0",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.trim_end().ends_with("PASS: all 3 seeds run passed"),
        "{stdout}"
    );

    let summary = summary(&out);
    assert_eq!(seeds_in(&summary), vec![0, 1, 2]);
    assert_eq!(summary["totals"]["passed"], 3);
    assert_eq!(summary["totals"]["by_outcome"]["pass"], 3);
    assert!(
        summary["commands"][0]
            .as_str()
            .unwrap()
            .starts_with("mailsim sweep --seeds 0..3")
    );
    for record in summary["results"].as_array().unwrap() {
        assert_eq!(record["outcome"], "pass");
        assert_eq!(record["digest"].as_str().unwrap().len(), 64);
        assert!(record["sim_seconds"].as_f64().unwrap() > 0.0);
        assert!(record["wall_seconds"].as_f64().unwrap() > 0.0);
    }
    // A seed in a parallel sweep is the same run as on its own.
    let alone = mailsim(&["run", "--seed", "2", "--family", "calm", "--json"]);
    let alone: Value = serde_json::from_slice(&alone.stdout).expect("run --json");
    assert_eq!(summary["results"][2]["digest"], alone["digest"]);

    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(xml.starts_with("<?xml"));
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert!(xml.contains(r#"classname="mailsim.calm""#), "{xml}");
    assert!(!xml.contains("<failure"));
}

#[test]
fn a_known_bug_fails_the_sweep_with_a_failure_file_a_junit_failure_and_a_report() {
    let dir = scratch("bug");
    let out = dir.join("out");
    let junit = out.join("junit.xml");
    let output = mailsim(&[
        "sweep",
        "--seeds",
        "1..2",
        "--family",
        "swarm",
        "--bug",
        "scanner-skips-encoded-attachments",
        "--out",
        s(&out),
        "--junit",
        s(&junit),
        "--shrink",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let repro = "mailsim run --seed 1 --family swarm --bug scanner-skips-encoded-attachments";
    assert!(text(&output).contains(repro), "{}", text(&output));
    // `mailsim shrink` exists, so --shrink minimises the failure next to it.
    assert!(
        text(&output).contains("shrink: done"),
        "shrinking must say it ran: {}",
        text(&output)
    );
    assert!(out.join("failures/seed-1.min.json").exists());

    let failure =
        traces::FailureFile::load(&out.join("failures/seed-1.json")).expect("failure file");
    assert_eq!(failure.seed, 1);
    assert_eq!(failure.repro, repro);
    assert_eq!(failure.expected.verdict, "safety_violation");
    assert_eq!(
        failure.expected.violated,
        vec!["no_malware_delivered".to_string()]
    );
    assert!(out.join("traces/seed-1.jsonl").exists());

    let record = &summary(&out)["results"][0];
    assert_eq!(record["outcome"], "safety_violation");
    assert!(
        record["violations"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("malicious")
    );
    assert!(record["shrink"].as_str().unwrap().starts_with("done"));
    assert_eq!(record["digest"].as_str().unwrap(), failure.expected.digest);

    let xml = std::fs::read_to_string(&junit).expect("junit");
    let failure_at = xml.find("<failure ").expect("a failure element");
    let body = &xml[failure_at..xml.find("</failure>").expect("closed")];
    assert!(body.contains("no_malware_delivered"), "{body}");
    assert!(body.contains(repro), "{body}");

    let report = mailsim(&["report", s(&out)]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains(repro), "the page shows the repro line");
    assert!(html.contains("<svg"), "the page has a timeline");
    assert!(
        html.contains("class=\"msg"),
        "the timeline has the trace's messages"
    );
    for external in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(external),
            "the page loads nothing: found {external}"
        );
    }
}

#[test]
fn a_crash_a_hang_and_a_digest_mismatch_are_recorded_and_the_sweep_goes_on() {
    let dir = scratch("misbehaving");
    let out = dir.join("out");
    let output = mailsim_with(
        &[
            "sweep",
            "--seeds",
            "0..2",
            "--family",
            "calm",
            "--jobs",
            "2",
            "--out",
            s(&out),
            "--recheck",
            "100",
        ],
        &[("MAILSIM_SWEEP_TEST_FAULT", "crash:0,nondeterministic:1")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let summary = summary(&out);
    let outcomes: Vec<&str> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["crashed", "nondeterministic"]);
    let crash = summary["results"][0]["detail"].as_str().unwrap();
    assert!(
        crash.contains("panicked") && crash.contains("crashing on seed 0"),
        "{crash}"
    );
    let mismatch = summary["results"][1]["detail"].as_str().unwrap();
    assert!(
        mismatch.contains("check-determinism --seeds 1..=1"),
        "{mismatch}"
    );
    for seed in 0..2 {
        assert!(out.join(format!("failures/seed-{seed}.json")).exists());
    }

    // A hang is killed at the limit (the hanging worker never simulates, so
    // a short limit is safe on a busy machine).
    let hung = dir.join("hung");
    let output = mailsim_with(
        &[
            "sweep",
            "--seeds",
            "5..6",
            "--family",
            "calm",
            "--out",
            s(&hung),
            "--seed-timeout",
            "1s",
        ],
        &[("MAILSIM_SWEEP_TEST_FAULT", "hang:5")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let record = &self::summary(&hung)["results"][0];
    assert_eq!(record["outcome"], "timeout");
    assert!(
        record["detail"].as_str().unwrap().contains("killed"),
        "{record}"
    );
}

#[test]
fn a_resumed_sweep_runs_only_the_seeds_without_a_record() {
    let dir = scratch("resume");
    let out = dir.join("out");
    let args = [
        "sweep",
        "--seeds",
        "0..3",
        "--family",
        "calm",
        "--jobs",
        "2",
        "--out",
        s(&out),
        "--recheck",
        "0",
    ];
    let first = mailsim(&args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let kept: Vec<Vec<u8>> = [0, 2]
        .iter()
        .map(|seed| std::fs::read(out.join(format!("seeds/seed-{seed}.json"))).unwrap())
        .collect();
    std::fs::remove_file(out.join("seeds/seed-1.json")).unwrap();

    let second = mailsim(&args);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let said = text(&second);
    assert!(
        said.contains("2 of 3 seeds already done, 1 to run"),
        "{said}"
    );
    assert!(said.contains("ran 1 seeds"), "{said}");
    assert!(out.join("seeds/seed-1.json").exists());
    for (seed, bytes) in [0, 2].iter().zip(&kept) {
        let now = std::fs::read(out.join(format!("seeds/seed-{seed}.json"))).unwrap();
        assert_eq!(&now, bytes, "seed {seed}'s record was not touched");
    }
    assert_eq!(seeds_in(&summary(&out)), vec![0, 1, 2]);

    let again = mailsim(&[
        "sweep",
        "--seeds",
        "0..3",
        "--family",
        "swarm",
        "--out",
        s(&out),
    ]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "another sweep's directory is refused"
    );
}

#[test]
fn merging_two_shards_gives_the_unsharded_sweeps_seeds() {
    let dir = scratch("merge");
    let (a, b, whole, merged) = (
        dir.join("a"),
        dir.join("b"),
        dir.join("whole"),
        dir.join("merged"),
    );
    let common = [
        "--seeds",
        "0..3",
        "--family",
        "calm",
        "--jobs",
        "2",
        "--recheck",
        "0",
    ];
    let run = |out: &Path, extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["sweep", "--out", s(out)];
        args.extend(common);
        args.extend(extra);
        let output = mailsim_with(&args, env);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    };
    run(&a, &["--shard", "0/2"], &[]);
    // The second shard finds its index the way a Kubernetes Indexed Job gives it.
    run(
        &b,
        &[],
        &[("JOB_COMPLETION_INDEX", "1"), ("MAILSIM_SHARD_COUNT", "2")],
    );
    run(&whole, &[], &[]);
    assert_eq!(seeds_in(&summary(&a)), vec![0, 2]);
    assert_eq!(seeds_in(&summary(&b)), vec![1]);
    assert_eq!(summary(&b)["shards"][0]["source"], "JOB_COMPLETION_INDEX");

    let output = mailsim(&["merge", s(&a), s(&b), "--out", s(&merged)]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let (merged_summary, whole_summary) = (summary(&merged), summary(&whole));
    assert_eq!(seeds_in(&merged_summary), seeds_in(&whole_summary));
    let digests = |summary: &Value| -> Vec<String> {
        summary["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["digest"].to_string())
            .collect()
    };
    assert_eq!(
        digests(&merged_summary),
        digests(&whole_summary),
        "same seeds, same digests"
    );
    assert_eq!(merged_summary["shards"].as_array().unwrap().len(), 2);
    let xml = std::fs::read_to_string(merged.join("junit.xml")).expect("merged junit");
    assert_eq!(xml.matches("<testcase ").count(), 3);

    let overlap = mailsim(&["merge", s(&a), s(&a), "--out", s(&dir.join("bad"))]);
    assert_eq!(overlap.status.code(), Some(2), "{}", text(&overlap));
    assert!(
        text(&overlap).contains("overlapping seed 0"),
        "{}",
        text(&overlap)
    );
    let missing = mailsim(&["merge", s(&a), "--out", s(&dir.join("half"))]);
    assert_eq!(missing.status.code(), Some(0));
    assert!(text(&missing).contains("shard(s) 1"), "{}", text(&missing));
}

#[test]
fn a_spent_time_budget_runs_nothing_more_and_says_so() {
    let dir = scratch("budget");
    let out = dir.join("out");
    let junit = out.join("junit.xml");
    let output = mailsim(&[
        "sweep",
        "--seeds",
        "0..4",
        "--family",
        "calm",
        "--out",
        s(&out),
        "--junit",
        s(&junit),
        "--time-budget",
        "0s",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("time budget 0ms reached"),
        "{}",
        text(&output)
    );
    let summary = summary(&out);
    assert_eq!(summary["budget_exhausted"], true);
    assert_eq!(summary["not_run"].as_array().unwrap().len(), 4);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<skipped ").count(), 4, "{xml}");
}

#[test]
fn bad_sweep_input_exits_2_with_a_clear_message() {
    let dir = scratch("bad");
    let out = dir.join("out");
    let cases: &[(&[&str], &str)] = &[
        (&["--seeds", "5..2"], "empty"),
        (&["--seeds", "0..2", "--shard", "2/2"], "0-based"),
        (&["--seeds", "0..2", "--jobs", "0"], "--jobs"),
        (&["--seeds", "0..2", "--bug", "no-such-bug"], "unknown bug"),
        (&["--seeds", "0..2", "--time-budget", "10"], "unit"),
        (&["--seeds", "0..2", "--recheck", "120"], "0 to 100"),
        (
            &["--seeds", "0..2", "--shard-count", "3"],
            "JOB_COMPLETION_INDEX",
        ),
    ];
    for (args, mentions) in cases {
        let mut full = vec!["sweep", "--out", s(&out)];
        full.extend(*args);
        let output = mailsim(&full);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(mentions),
            "{args:?} should mention {mentions:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let gitlab = mailsim_with(
        &["sweep", "--seeds", "0..2", "--out", s(&out)],
        &[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "2")],
    );
    assert_eq!(gitlab.status.code(), Some(2), "GitLab counts from 1");
    let report = mailsim(&["report", s(&dir.join("nowhere"))]);
    assert_eq!(report.status.code(), Some(2));
}

#[test]
fn bench_sweep_times_a_sweep_beside_plain_runs_of_the_same_seeds() {
    let output = mailsim(&[
        "bench", "sweep", "--seeds", "0..1", "--family", "calm", "--rounds", "1",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("1 "))
        .unwrap_or_else(|| panic!("no row for round 1: {stdout}"));
    let figures: Vec<f64> = row
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().expect("a number"))
        .collect();
    assert_eq!(figures.len(), 3, "{row}");
    assert!(figures.iter().all(|f| *f > 0.0), "{row}");
    assert!(stdout.contains("median: a sweep takes"), "{stdout}");

    let bad = mailsim(&["bench", "sweep", "--rounds", "0"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--rounds"));
}
