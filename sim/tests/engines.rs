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
