//! Seed sweeps: many seeds, each run in its own child process so a seed that
//! panics or hangs is recorded instead of taking the sweep down, sharded to
//! fit the CI engines teams already run, resumable after a kill, and written
//! out as per-seed records, a summary, failure files, JUnit and an HTML page.
//!
//! Threads exist only here, at the sweep level, and only to wait on child
//! processes: every simulation stays single-threaded inside its own process.

pub mod duration;
pub mod recheck;
pub mod shard;
pub mod xml;
