//! Engines run a scenario. Each supplies `models::env::Env` to the hosts it
//! boots and drives simulated time; turmoil is the first.

pub mod disk_loss;
pub mod drain;
pub mod observer;
pub mod real_env;
pub mod spool_check;
pub mod turmoil_env;
pub mod turmoil_run;
