//! `mailsim explore`: a feedback-directed search over fault schedules,
//! timings and workloads. Random seeds find shallow bugs at once; a bug that
//! needs two faults to meet (a jurisdiction crashing while mail waits on a
//! dead mailbox, a disk lost while its gateway is cut off) is found sooner by
//! keeping the runs that reached something new and changing them a little.
//!
//! - [`coverage`]: what a run reached, read from its observation log;
//! - [`mutate`]: the moves from one scenario to the next;
//! - [`campaign`]: the corpus and the loop, deterministic given its seed;
//! - [`pool_runner`]: runs a campaign's batches as a sweep runs seeds (worker
//!   processes, records, failure files), so `summary.json`, JUnit, `merge`,
//!   `report`, `replay` and `shrink` work on its output unchanged;
//! - [`in_process`]: runs them in this process, for the benchmark;
//! - [`bench`]: explore against random swarm seeds, per catalogue bug.

pub mod bench;
pub mod campaign;
pub mod coverage;
pub mod history;
pub mod in_process;
pub mod mutate;
pub mod pool_runner;
