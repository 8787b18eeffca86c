//! The simulator: scenarios drawn from seeds, the standard topology, the
//! world outside the gateway (senders, DNS, mailbox servers), the fault
//! schedule, the engines that run it all (turmoil; madsim in a
//! `--cfg madsim` build), real mode (`mailsim serve`), and the `mailsim` CLI.

pub mod bench;
pub mod bench_scale;
pub mod bench_sweep;
pub mod bug_hunt;
pub mod cli;
pub mod deploy;
pub mod engine;
pub mod exit_code;
pub mod explore;
pub mod failure_file;
pub mod faults;
pub mod logging;
pub mod prng;
pub mod report_text;
pub mod run;
pub mod scenario;
pub mod scenario_source;
pub mod serve;
pub mod shell;
pub mod shrink;
pub mod sweep;
pub mod topology;
pub mod workload;

pub use failure_file::failure_file;
