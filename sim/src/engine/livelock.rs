//! The livelock guard: a run whose hosts keep polling tasks while simulated
//! time (all but) stands still is stopped with a `livelock` verdict instead
//! of eating memory. Both engines advance time only when no task is ready
//! (madsim adds 50-100 ns per poll, as CPU time), so a loop that wakes
//! itself without sleeping (a queue pass whose spool read fails, retried
//! at once on a doorbell) holds the clock nearly still while every turn
//! appends to the log: one such loop filled 24 GB.
//!
//! Every task of every host is polled through the pause gate
//! (`pause::gated`, on both engines), which reports each poll here. The
//! guard counts polls in windows of [`WINDOW_US`] of simulated time; past
//! [`POLLS_PER_WINDOW_MAX`] in one window it trips: from then on every
//! gate returns `Pending` without polling its task (the world freezes, as
//! if every host were paused for good), the engine's step or executor runs
//! dry, time moves on, and the run loop stops the run. Counting polls
//! rather than wall time keeps the verdict a pure function of (scenario,
//! seed).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use traces::{Event, EventKind, Log};

/// Polls of all hosts' tasks within one window of simulated time past
/// which the run counts as livelocked. A hot loop on madsim makes about
/// ten million a simulated second (one per 50-100 ns), on turmoil it never
/// leaves its 1 ms tick; a healthy run stays far below (see the sweeps in
/// `docs/ARCHITECTURE.md`, "The run loop").
pub const POLLS_PER_WINDOW_MAX: u64 = 200_000;

/// The window: 100 ms of simulated time.
pub const WINDOW_US: u64 = 100_000;

/// The clock is read once per this many polls (reading madsim's costs a
/// lock): the count is exact to within this many polls.
const POLLS_PER_CLOCK_READ: u64 = 1_024;

/// What the guard saw when it tripped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Livelock {
    /// Where the window that overflowed began, in simulated time.
    pub at_us: u64,
    /// The host whose tasks were polled most in the last half of the count.
    pub host: String,
    /// Polls of all hosts in that window.
    pub polls: u64,
}

/// Per-run state of the guard (single-threaded, like the simulation).
#[derive(Default)]
pub struct LivelockGuard {
    /// Where the current window began, and the polls counted in it.
    window_us: Cell<u64>,
    polls: Cell<u64>,
    /// Per-host polls, counted only once half the allowance is used up.
    hot: RefCell<BTreeMap<String, u64>>,
    tripped: RefCell<Option<Livelock>>,
}

impl LivelockGuard {
    /// Counts one poll of a task of `host`; `now_us` reads simulated time.
    /// False once the guard has tripped: the task must not be polled.
    pub fn allow_poll(&self, host: &str, now_us: &dyn Fn() -> u64) -> bool {
        if self.tripped.borrow().is_some() {
            return false;
        }
        let polls = self.polls.get() + 1;
        self.polls.set(polls);
        if polls.is_multiple_of(POLLS_PER_CLOCK_READ) {
            let now = now_us();
            if now >= self.window_us.get() + WINDOW_US {
                self.window_us.set(now);
                self.polls.set(0);
                self.hot.borrow_mut().clear();
                return true;
            }
        }
        if polls > POLLS_PER_WINDOW_MAX / 2 {
            *self.hot.borrow_mut().entry(host.to_string()).or_default() += 1;
        }
        if polls > POLLS_PER_WINDOW_MAX {
            self.trip(polls);
            return false;
        }
        true
    }

    fn trip(&self, polls: u64) {
        let hot = self.hot.borrow();
        let host = hot
            .iter()
            .max_by_key(|(host, count)| (**count, std::cmp::Reverse(host.as_str())))
            .map(|(host, _)| host.clone())
            .unwrap_or_default();
        *self.tripped.borrow_mut() = Some(Livelock {
            at_us: self.window_us.get(),
            host,
            polls,
        });
    }

    /// What the guard saw, once it has tripped.
    pub fn tripped(&self) -> Option<Livelock> {
        self.tripped.borrow().clone()
    }
}

impl Livelock {
    /// One sentence for the failure report: when, which host, and what that
    /// host kept logging at that instant (which names the hot task).
    pub fn describe(&self, log: &Log) -> String {
        let mut what: BTreeMap<String, u64> = BTreeMap::new();
        let at_instant = |e: &&Event| e.t_us >= self.at_us && e.host == self.host;
        for event in log.events().iter().filter(at_instant) {
            *what.entry(event_label(&event.kind)).or_default() += 1;
        }
        let busiest = what
            .iter()
            .max_by_key(|(label, count)| (**count, std::cmp::Reverse(label.as_str())))
            .map(|(label, count)| format!("; it logged {label} {count} times there"))
            .unwrap_or_default();
        format!(
            "simulated time stood still from {:.3} s: {} task polls in less than {} ms of it (at most {}), a loop that wakes itself without sleeping; hottest host {}{busiest}",
            self.at_us as f64 / 1e6,
            self.polls,
            WINDOW_US / 1_000,
            POLLS_PER_WINDOW_MAX,
            self.host,
        )
    }
}

/// An event's kind, with a note's `what` (which says which task wrote it).
fn event_label(kind: &EventKind) -> String {
    match kind {
        EventKind::GwNote { what, .. } => format!("gw_note {what}"),
        other => other.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_while_time_moves_never_trip_the_guard() {
        let guard = LivelockGuard::default();
        // One simulated microsecond a poll: ten times madsim's CPU time.
        for now_us in 1..=(3 * POLLS_PER_WINDOW_MAX) {
            assert!(guard.allow_poll("gw-a", &|| now_us));
        }
        assert_eq!(guard.tripped(), None);
    }

    #[test]
    fn polls_while_time_stands_still_trip_the_guard_and_name_the_hottest_host() {
        let guard = LivelockGuard::default();
        let mut polled = 0;
        while guard.allow_poll(if polled % 3 == 0 { "gw-a" } else { "gw-b" }, &|| 7) {
            polled += 1;
            assert!(polled <= POLLS_PER_WINDOW_MAX + POLLS_PER_CLOCK_READ);
        }
        let tripped = guard.tripped().expect("tripped");
        assert_eq!(tripped.host, "gw-b");
        assert!(tripped.polls > POLLS_PER_WINDOW_MAX);
        assert!(
            !guard.allow_poll("gw-a", &|| 8),
            "a tripped guard stays tripped"
        );
    }
}
