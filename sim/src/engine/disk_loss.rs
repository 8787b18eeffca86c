//! The `disk_lost` fault on turmoil: a gateway host replaced together with
//! its local disk. The run loop holds the host down while the fault lasts
//! and marks it here; the host's next boot finds the mark and empties its
//! filesystem before the gateway starts, so it comes back knowing only what
//! its peers tell it. Kept out of the run loop so the loop only says when.

use std::cell::RefCell;
use std::collections::BTreeSet;

use turmoil::fs::shim::std::fs as simfs;

/// Hosts whose disk is gone and not yet wiped (they have not booted since).
#[derive(Default, Debug)]
pub struct LostDisks(RefCell<BTreeSet<String>>);

impl LostDisks {
    /// The fault is active on `host`: its disk is gone by its next boot.
    pub fn mark(&self, host: &str) {
        self.0.borrow_mut().insert(host.to_string());
    }

    /// Called first thing in `host`'s boot, inside the host: if its disk was
    /// lost, delete every file and directory on it, durably, and say so.
    pub fn wipe_if_lost(&self, host: &str) -> bool {
        if !self.0.borrow_mut().remove(host) {
            return false;
        }
        remove_tree("/");
        // The removals are durable at once: a replaced disk does not come
        // back if the new VM crashes too.
        let _ = simfs::sync_dir("/");
        true
    }
}

/// Removes everything under `dir` (not `dir` itself), depth first.
fn remove_tree(dir: &str) {
    let Ok(entries) = simfs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path().to_string_lossy().into_owned();
            (path, e.file_type().is_ok_and(|t| t.is_dir()))
        })
        .collect();
    // Directory order is the filesystem's; sort so the wipe is the same on
    // every run.
    paths.sort();
    for (path, is_dir) in paths {
        if is_dir {
            remove_tree(&path);
            let _ = simfs::remove_dir(&path);
        } else {
            let _ = simfs::remove_file(&path);
        }
    }
    let _ = simfs::sync_dir(dir);
}
