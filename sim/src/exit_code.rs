//! The exit code every `mailsim` process (the command line, sweep workers,
//! `serve-node` children) gives for bad input: 2, as clap gives for a bad
//! flag, so scripts and CI tell "you asked wrong" from a failing run (1 for
//! safety, 3 for liveness: `run::Verdict::exit_code`).

/// Bad input or unwritable output: nothing was judged.
pub const EXIT_BAD_INPUT: i32 = 2;
