//! The system under test: a resilient email security gateway.
//!
//! Ingress speaks SMTP, spools durably and replicates before it says 250;
//! scanning is asynchronous and fail-closed; delivery retries with backoff and
//! bounces with one DSN. Everything outside memory goes through [`env::Env`],
//! so the same code runs under any engine.

pub mod buggify;
pub mod bugs;
pub mod config;
pub mod control;
pub mod env;
pub mod fan_out;
pub mod frame;
pub mod gateway;
#[cfg(test)]
pub mod mem_disk;
pub mod mime;
pub mod mx;
pub mod retry;
pub mod scanner;
pub mod smtp;
pub mod spool;
pub mod spool_birth;
pub mod spool_record;
pub mod tolerances;
pub mod tombstone;
