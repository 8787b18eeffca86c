//! The observation log and its formats: the event schema, the JSONL writer
//! and reader, and the digest that stands for a run. Both the simulator and
//! the gateway write here; only properties and exports read.

pub mod event;
pub mod failure;
pub mod log;

pub use event::{Event, EventKind, Presence, SCHEMA_VERSION, Told, Verdict};
pub use failure::{Expected, FAILURE_FILE_VERSION, FailureFile};
pub use log::{Log, hex, sha256_hex};
