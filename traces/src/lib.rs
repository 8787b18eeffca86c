//! The observation log and its formats: the event schema (SCHEMA.md), the
//! JSONL writer and checked reader, the digest that stands for a run, failure
//! files, and the Chrome trace export. Both the simulator and the gateway
//! write here; only properties and exports read.

pub mod chrome;
pub mod event;
pub mod failure;
pub mod log;
pub mod read;

pub use event::{Class, Event, EventKind, Presence, SCHEMA_VERSION, Source, Told, Verdict};
pub use failure::{Expected, FAILURE_FILE_VERSION, FailureFile};
pub use log::{Log, hex, sha256_hex};
