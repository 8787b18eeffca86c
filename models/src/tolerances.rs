//! What the gateway promises to survive about its own hosts' time: how far
//! a host's clock may be from true time, and how long a host may stall.
//! The simulator's fault model (`sim/src/faults/model.rs`) declares these
//! bounds; a schedule beyond them is labelled beyond the model.

/// The most a gateway host's clock may differ from true time, at any
/// instant (offset, drift accumulated and wander together; so also the
/// largest step back when it is corrected). Anything the gateway compares
/// across hosts' clocks (a message's acceptance time, read on its owner's
/// clock to expire it) allows twice this: one host may be fast and the
/// other slow.
pub const CLOCK_ERROR_MS_MAX: u64 = 1_000;

/// The fastest or slowest a host's clock may run, in parts per million
/// (NTP refuses to discipline a clock beyond 500 ppm).
pub const CLOCK_DRIFT_PPM_MAX: u64 = 500;

/// The longest a gateway process may stall (a GC or VM pause) inside the
/// model: shorter than any lease or in-doubt wait of the default knobs.
pub const PAUSE_MS_MAX: u64 = 2_000;
