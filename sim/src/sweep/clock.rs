//! The sweep's wall clock: time budgets, per-seed time limits and progress
//! rates are about real time by nature. It is read here only, at the sweep
//! level, never inside a simulation (each of which runs in its own process).

use std::time::Instant;

/// Now, on the monotonic wall clock.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}
