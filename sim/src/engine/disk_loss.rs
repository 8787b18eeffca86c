//! The `disk_lost` fault: a gateway host replaced together with its local
//! disk. The fault state holds the host down while the fault lasts and
//! marks it here; the host's next boot (on either engine) takes the mark and
//! empties its disk before the gateway starts, so it comes back knowing only
//! what its peers tell it. turmoil's filesystem is wiped here; madsim's disk
//! is ours (`PowerFailDisk::wipe`).

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

    /// Called first thing in `host`'s boot: whether its disk was lost since
    /// its last boot (the caller empties it).
    pub fn take(&self, host: &str) -> bool {
        self.0.borrow_mut().remove(host)
    }
}

/// Empties the current turmoil host's filesystem, durably: a replaced disk
/// does not come back if the new VM crashes too. Call inside the host.
pub fn wipe_turmoil_disk() {
    remove_tree("/");
    let _ = simfs::sync_dir("/");
}

/// Removes, durably, directories the crash took because their names were
/// never synced in their parents (`dir_entries.rs`): turmoil's `sync_dir`
/// kept them. Call inside the host, at its boot.
pub fn remove_lost_dirs_turmoil(dirs: &[String]) {
    for dir in dirs {
        let path = format!("/{dir}");
        remove_tree(&path);
        let _ = simfs::remove_dir(&path);
        let parent = dir.rsplit_once('/').map_or("", |(parent, _)| parent);
        let _ = simfs::sync_dir(format!("/{parent}"));
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
