//! Seed sweeps: many seeds, each run in its own child process so a seed that
//! panics or hangs is recorded instead of taking the sweep down, sharded to
//! fit the CI engines teams already run, resumable after a kill, and written
//! out as per-seed records, a summary, failure files, JUnit and an HTML page.
//!
//! Threads exist only here, at the sweep level, and only to wait on child
//! processes: every simulation stays single-threaded inside its own process.

pub mod child;
pub mod clock;
pub mod duration;
pub mod failure_file;
pub mod groups;
pub mod invoke;
pub mod junit;
pub mod layout;
pub mod merge;
pub mod pool;
pub mod progress;
pub mod recheck;
pub mod record;
pub mod report;
pub mod shard;
pub mod shrink;
pub mod summary;
pub mod table;
pub mod worker;
pub mod xml;
