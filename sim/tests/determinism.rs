//! Determinism is the product: the same seed gives the same observation log,
//! byte for byte, in one process, across processes, and while other seeds
//! run on other threads; different seeds give different runs.

use std::process::Command;

use sim::engine::turmoil_run;
use sim::scenario::{Family, Scenario};

fn digest(seed: u64, family: Family) -> String {
    turmoil_run::run(&Scenario::generate_family(seed, family), seed)
        .log
        .digest()
}

#[test]
fn the_same_seed_gives_the_same_digest_twice_in_one_process() {
    let scenario = Scenario::generate_family(11, Family::Swarm);
    let first = turmoil_run::run(&scenario, 11).log;
    let second = turmoil_run::run(&scenario, 11).log;
    assert!(first.len() > 100, "a run this short proves little");
    assert_eq!(first.first_difference(&second), None);
    assert_eq!(first.digest(), second.digest());
}

#[test]
fn different_seeds_give_different_digests() {
    let digests: std::collections::BTreeSet<String> = (20..24)
        .map(|seed| digest(seed, Family::RegionOutage))
        .collect();
    assert_eq!(digests.len(), 4);
}

#[test]
fn the_same_seed_gives_the_same_digest_while_other_seeds_run_in_parallel() {
    let alone = digest(5, Family::RegionOutage);
    let crowded = std::thread::scope(|scope| {
        let others: Vec<_> = (30..32)
            .map(|seed| scope.spawn(move || digest(seed, Family::Swarm)))
            .collect();
        let mine = scope.spawn(|| digest(5, Family::RegionOutage));
        for other in others {
            other.join().expect("other seed ran");
        }
        mine.join().expect("seed 5 ran")
    });
    assert_eq!(alone, crowded);
}

#[test]
fn the_same_seed_gives_the_same_digest_in_two_separate_processes() {
    let run = || {
        let output = Command::new(env!("CARGO_BIN_EXE_mailsim"))
            .args(["run", "--seed", "3", "--json"])
            .output()
            .expect("mailsim starts");
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let summary: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("one JSON object");
        summary["digest"].as_str().expect("digest").to_string()
    };
    let first = run();
    assert_eq!(first.len(), 64);
    assert_eq!(first, run());
    assert_eq!(
        first,
        digest(3, Family::RegionOutage),
        "process and library agree"
    );
}

#[test]
fn check_determinism_reports_every_seed_ok() {
    let output = Command::new(env!("CARGO_BIN_EXE_mailsim"))
        .args(["check-determinism", "--seeds", "0..2", "--family", "calm"])
        .output()
        .expect("mailsim starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("seed 0: ok") && stdout.contains("seed 1: ok"),
        "{stdout}"
    );
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
}
