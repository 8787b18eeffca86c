//! Engines run a scenario. Each supplies `models::env::Env` to the hosts it
//! boots and drives simulated time: turmoil (the default and reference) and
//! madsim (the fast one, in builds with `--cfg madsim`). What does not
//! depend on the engine — which hosts boot and what they run, the fault
//! state, the run loop, the observed seam, the drain and spool checks — is
//! shared by both.

pub mod buggify;
pub mod choice;
pub mod dependency_faults;
pub mod dir_entries;
pub mod disk_loss;
pub mod drain;
pub mod durable_watch;
pub mod fault_state;
pub mod honest_disk;
pub mod host_clock;
pub mod host_faults;
pub mod hosts;
pub mod livelock;
#[cfg(madsim)]
pub mod madsim_env;
#[cfg(madsim)]
pub mod madsim_run;
pub mod observer;
pub mod pause;
pub mod power_fail_disk;
pub mod process_faults;
pub mod run_loop;
pub mod seam;
pub mod spool_check;
pub mod turmoil_env;
pub mod turmoil_run;

pub use choice::Engine;
