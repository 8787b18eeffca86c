//! Slow disks (issue 16, item 4): while a `disk` fault in mode `slow` holds
//! a host, each fsync (of a file or of a directory) takes
//! [`SLOW_FSYNC_MS`] of simulated time before what it made durable is.
//!
//! The gateway's `Disk` is synchronous (it calls it from async code, as a
//! real one calls a blocking fsync), so the seam cannot keep the caller
//! inside the call. Instead it holds the fsync's effect back: the
//! `bytes_durable` it would record waits, and `Env::disk_settled`, which
//! the gateway awaits after a spool write before it relies on it, completes
//! [`SLOW_FSYNC_MS`] later on the host's clock and only then records them.
//! A gateway that answers 250 before its fsync completed is seen by
//! `ack_durable` at the instant of the 250; one that waits is slower, never
//! wrong. On a disk that is not slow nothing is held and `disk_settled` is
//! ready at once, so runs without the fault do not change.
//!
//! Held effects of a crashed boot stay held until a later boot settles:
//! the engine's own disk did sync them, so recording them late is true.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// How long one fsync takes on a slow disk: longer than a sender's patience
/// is not needed, only longer than a gateway that cuts the wait short
/// (`slow-fsync-assumed-done` waits 500 ms).
pub const SLOW_FSYNC_MS: u64 = 800;

/// What one slow fsync made durable, recorded once it completes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    ticket: u64,
    path: String,
    ids: Vec<String>,
}

/// Per host: slow fsyncs issued and completed, and their held effects.
#[derive(Default, Debug)]
pub struct SlowDisks {
    issued: RefCell<BTreeMap<String, u64>>,
    completed: RefCell<BTreeMap<String, u64>>,
    held: RefCell<BTreeMap<String, Vec<Held>>>,
}

impl SlowDisks {
    /// A slow fsync on `host` that made `durable` (path, Message-IDs)
    /// durable: its effect is held until it completes.
    pub fn issue(&self, host: &str, durable: Vec<(String, Vec<String>)>) {
        let mut issued = self.issued.borrow_mut();
        let ticket = issued.entry(host.to_string()).or_insert(0);
        *ticket += 1;
        let ticket = *ticket;
        let mut held = self.held.borrow_mut();
        let held = held.entry(host.to_string()).or_default();
        held.extend((durable.into_iter()).map(|(path, ids)| Held { ticket, path, ids }));
    }

    /// The last fsync issued on `host`, if one has not completed.
    pub fn outstanding(&self, host: &str) -> Option<u64> {
        let issued = self.issued.borrow().get(host).copied().unwrap_or(0);
        let completed = self.completed.borrow().get(host).copied().unwrap_or(0);
        (issued > completed).then_some(issued)
    }

    /// Completes `host`'s fsyncs up to `ticket`: the effects they held.
    pub fn complete(&self, host: &str, ticket: u64) -> Vec<(String, Vec<String>)> {
        let mut completed = self.completed.borrow_mut();
        let done = completed.entry(host.to_string()).or_insert(0);
        *done = (*done).max(ticket);
        let mut held = self.held.borrow_mut();
        let Some(list) = held.get_mut(host) else {
            return Vec::new();
        };
        let (now, later): (Vec<Held>, Vec<Held>) = std::mem::take(list)
            .into_iter()
            .partition(|h| h.ticket <= ticket);
        *list = later;
        now.into_iter().map(|h| (h.path, h.ids)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(id: &str) -> Vec<String> {
        vec![id.to_string()]
    }

    #[test]
    fn a_slow_fsync_holds_its_effect_until_a_settle_completes_it() {
        let disks = SlowDisks::default();
        assert_eq!(disks.outstanding("gw-a"), None);
        disks.issue("gw-a", vec![("spool/1.msg".into(), ids("<1@x>"))]);
        disks.issue("gw-a", vec![("spool/2.msg".into(), ids("<2@x>"))]);
        assert_eq!(disks.outstanding("gw-a"), Some(2));
        assert_eq!(disks.outstanding("gw-b"), None);
        // A settle that began after the first fsync only completes it.
        assert_eq!(
            disks.complete("gw-a", 1),
            vec![("spool/1.msg".to_string(), ids("<1@x>"))]
        );
        assert_eq!(disks.outstanding("gw-a"), Some(2));
        assert_eq!(disks.complete("gw-a", 2).len(), 1);
        assert_eq!(disks.outstanding("gw-a"), None);
        assert!(disks.complete("gw-a", 2).is_empty());
    }

    #[test]
    fn an_fsync_that_made_nothing_durable_still_takes_its_time() {
        let disks = SlowDisks::default();
        disks.issue("gw-a", Vec::new());
        assert_eq!(disks.outstanding("gw-a"), Some(1));
        assert!(disks.complete("gw-a", 1).is_empty());
        assert_eq!(disks.outstanding("gw-a"), None);
    }
}
