//! `mailsim explore` and `mailsim promote` end to end, through the binary:
//! a campaign is the same for its seed whatever --jobs is, a resumed
//! campaign reads its recorded runs back and goes on as if never stopped,
//! its failures replay and group and promote into a corpus, its report
//! draws coverage over time; and the README's local nightly (sweep +
//! explore + merge + report, `scripts/nightly-local.sh`) runs in one go.
//! Calm scenarios on turmoil and a handful of runs keep it to seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

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

fn mailsim(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailsim"));
    for name in CLEARED {
        command.env_remove(name);
    }
    command.args(args).output().expect("mailsim starts")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("explore-{name}"));
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

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Every run's scenario file, by name, and the coverage history's points.
fn campaign_of(out: &Path) -> (Vec<(String, String)>, Value) {
    let mut scenarios: Vec<(String, String)> = std::fs::read_dir(out.join("scenarios"))
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().to_string();
            (name, std::fs::read_to_string(&p).expect("scenario"))
        })
        .collect();
    scenarios.sort();
    let points = json(&out.join("coverage.json"))["campaigns"][0]["points"].clone();
    (scenarios, points)
}

fn explore(out: &Path, seeds: &str, jobs: &str) -> Output {
    mailsim(&[
        "explore",
        "--seeds",
        seeds,
        "--family",
        "calm",
        "--batch",
        "3",
        "--fresh",
        "0",
        "--jobs",
        jobs,
        "--recheck",
        "0",
        "--explore-seed",
        "5",
        "--out",
        s(out),
    ])
}

#[test]
fn a_campaign_is_the_same_for_its_seed_and_a_resumed_one_goes_on_where_it_stopped() {
    let dir = scratch("resume");
    let (whole, resumed) = (dir.join("whole"), dir.join("resumed"));
    let output = explore(&whole, "0..4", "2");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let (scenarios, points) = campaign_of(&whole);
    assert_eq!(scenarios.len(), 4);
    let points = points.as_array().expect("points").clone();
    assert_eq!(points.len(), 4);
    // The second batch (--fresh 0) is all mutants of the first batch's runs.
    assert!(
        points[3..]
            .iter()
            .all(|p| p["parent"].as_u64().is_some_and(|p| p < 3))
    );
    assert!(points[0]["features"].as_u64().expect("features") > 50);

    // The first batch alone, on one job; then the whole range again: the
    // three recorded runs are read back, three are made.
    let first = explore(&resumed, "0..2", "1");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let second = explore(&resumed, "0..4", "1");
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("(2 made now, 2 read back)"),
        "{}",
        text(&second)
    );
    assert_eq!(campaign_of(&resumed), campaign_of(&whole));
    let summary = json(&resumed.join("summary.json"));
    assert_eq!(summary["totals"]["run"], 4);

    // Another campaign seed in the same directory is refused.
    let other = mailsim(&[
        "explore",
        "--seeds",
        "0..4",
        "--family",
        "calm",
        "--batch",
        "2",
        "--fresh",
        "0",
        "--jobs",
        "1",
        "--recheck",
        "0",
        "--explore-seed",
        "6",
        "--out",
        s(&resumed),
    ]);
    assert_eq!(other.status.code(), Some(2), "{}", text(&other));
    assert!(String::from_utf8_lossy(&other.stderr).contains("holds another campaign"));
}

#[test]
fn explores_failures_replay_group_report_and_promote_into_a_corpus() {
    let dir = scratch("bug");
    let out = dir.join("out");
    let output = mailsim(&[
        "explore",
        "--seeds",
        "0..2",
        "--family",
        "calm",
        "--bug",
        "truncate-body",
        "--jobs",
        "2",
        "--recheck",
        "0",
        "--out",
        s(&out),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["totals"]["failed"], 2, "{summary}");
    let groups = summary["groups"].as_array().expect("groups");
    assert_eq!(
        groups.len(),
        1,
        "two runs of one bug are one group: {groups:?}"
    );
    assert_eq!(groups[0]["count"], 2);
    assert!(String::from_utf8_lossy(&output.stdout).contains("failure groups"));

    let failure = out.join("failures/seed-0.json");
    let replay = mailsim(&["replay", s(&failure)]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));

    let report = mailsim(&["report", s(&out)]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let page = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(page.contains("Coverage over time"));
    assert!(page.contains("Failure groups (1)"));

    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).expect("corpus dir");
    std::fs::write(
        corpus.join("README.md"),
        "| file | what |\n|---|---|\n| `a.json` | a |\n\nAfter the table.\n",
    )
    .expect("README");
    let promote = mailsim(&["promote", s(&failure), "--corpus", s(&corpus)]);
    assert_eq!(promote.status.code(), Some(0), "{}", text(&promote));
    let entry = corpus.join("truncate-body-seed-0.json");
    let replay = mailsim(&["replay", s(&entry)]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    let readme = std::fs::read_to_string(corpus.join("README.md")).expect("README");
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), 2, "{readme}");
    assert!(rows[1].contains("truncate-body-seed-0.json") && rows[1].contains("integrity"));
    let again = mailsim(&["promote", s(&failure), "--corpus", s(&corpus)]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "a taken name is refused: {}",
        text(&again)
    );
}

#[test]
fn the_local_nightly_sweeps_explores_merges_and_reports_in_one_go() {
    let dir = scratch("nightly");
    let out = dir.join("nightly");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/nightly-local.sh");
    let mut command = Command::new("bash");
    for name in CLEARED {
        command.env_remove(name);
    }
    let output = command
        .arg(&script)
        .env("MAILSIM", env!("CARGO_BIN_EXE_mailsim"))
        .env("ENGINE", "turmoil")
        .env("SEEDS", "0..2")
        .env("FAMILIES", "calm")
        .env("SHARDS", "2")
        .env("JOBS", "1")
        .env("OUT", &out)
        .output()
        .expect("bash starts");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    for family in ["calm", "explore"] {
        let merged = out.join("merged").join(family);
        let summary = json(&merged.join("summary.json"));
        assert_eq!(summary["totals"]["run"], 2, "{family}: {summary}");
        assert_eq!(summary["shards"].as_array().map(Vec::len), Some(2));
        assert!(merged.join("report.html").exists(), "{family}");
    }
    let page = std::fs::read_to_string(out.join("merged/explore/report.html")).expect("page");
    assert_eq!(page.matches("<polyline").count(), 2, "one curve per shard");
}
