//! Engine choice on the command line: turmoil is the default; in a build
//! without `--cfg madsim`, asking for madsim fails as bad input and says
//! how to build it, instead of silently running turmoil.

use std::process::Command;

#[cfg(not(madsim))]
#[test]
fn asking_for_madsim_in_a_build_without_it_says_how_to_build_it() {
    for args in [
        &["run", "--seed", "1", "--engine", "madsim"][..],
        &["check-determinism", "--seeds", "0..1", "--engine", "madsim"][..],
        &["bench", "bugs", "--ranges", "1", "--engine", "madsim"][..],
        &[
            "sweep",
            "--seeds",
            "0..1",
            "--engine",
            "madsim",
            "--out",
            "/nonexistent/x",
        ][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_mailsim"))
            .args(args)
            .output()
            .expect("mailsim starts");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("RUSTFLAGS=\"--cfg madsim\""),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn an_unknown_engine_is_bad_input() {
    let output = Command::new(env!("CARGO_BIN_EXE_mailsim"))
        .args(["run", "--seed", "1", "--engine", "tokio"])
        .output()
        .expect("mailsim starts");
    assert_eq!(output.status.code(), Some(2));
}

/// The gateway and the workload run on every engine only because they
/// reach time, tasks and sockets through `Env`: no tokio timer, spawn or
/// socket outside their tests (tokio's sync, io traits and macros are
/// executor-agnostic and fine).
#[test]
fn gateway_and_workload_code_never_call_tokios_runtime_directly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut dirs = vec![root.join("models/src"), root.join("sim/src/workload")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("source dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "found the sources: {files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        // Test code may drive tokio itself: a `#[cfg(test)]` module, or a
        // whole file that says it is one (`#![cfg(test)]`).
        let code = if text.contains("\n#![cfg(test)]") {
            ""
        } else {
            text.split("#[cfg(test)]").next().unwrap_or("")
        };
        for forbidden in [
            "tokio::time",
            "tokio::spawn",
            "tokio::net",
            "tokio::task",
            "tokio::fs",
        ] {
            assert!(
                !code.contains(forbidden),
                "{} uses {forbidden}: go through Env so madsim runs it too",
                path.display()
            );
        }
    }
}
