//! Directories whose own name is not durable yet, per host: created since
//! their parent was last synced. On POSIX a directory's name is an entry in
//! its parent, so `fsync` of the directory makes its contents' names
//! durable but not its own; a crash before the parent's `fsync` loses the
//! directory and everything in it, however carefully the files inside were
//! synced.
//!
//! Our madsim disk (`power_fail_disk.rs`) keeps this rule itself. turmoil's
//! filesystem does not: its `sync_dir` makes the directory's own creation
//! durable too, so a gateway that never syncs the parent after
//! `create_dir_all` would go unseen. This ledger, kept at the seam for
//! every engine alike, lets the durable watch require the whole chain of
//! names (`bytes_durable` waits for the parent's sync), and lets a turmoil
//! host's next boot remove what the crash should have taken.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// Host → directories (paths without a leading `/`) whose name is not
/// durable in their parent.
#[derive(Default, Debug)]
pub struct UnsyncedDirs(RefCell<BTreeMap<String, BTreeSet<String>>>);

/// The directory a path's entry lives in (`""` for the top).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `/a//b/` → `a/b`.
pub fn clean(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

impl UnsyncedDirs {
    /// `dir` was just created on `host` (it did not exist before).
    pub fn created(&self, host: &str, dir: &str) {
        let dir = clean(dir);
        if dir.is_empty() {
            return;
        }
        self.0
            .borrow_mut()
            .entry(host.to_string())
            .or_default()
            .insert(dir);
    }

    /// `dir` was synced on `host`: the names of the directories in it are
    /// durable now.
    pub fn synced(&self, host: &str, dir: &str) {
        let dir = clean(dir);
        if let Some(dirs) = self.0.borrow_mut().get_mut(host) {
            dirs.retain(|d| parent(d) != dir);
        }
    }

    /// Whether `dir` and every directory above it have durable names on
    /// `host` (the top always has).
    pub fn reachable(&self, host: &str, dir: &str) -> bool {
        let map = self.0.borrow();
        let Some(dirs) = map.get(host) else {
            return true;
        };
        let mut at = clean(dir);
        while !at.is_empty() {
            if dirs.contains(&at) {
                return false;
            }
            at = parent(&at).to_string();
        }
        true
    }

    /// `host` crashed and boots again: the directories whose names were not
    /// durable are gone. Returns them, outermost first, for an engine whose
    /// filesystem kept them to remove.
    pub fn take_lost(&self, host: &str) -> Vec<String> {
        let lost = self.0.borrow_mut().remove(host).unwrap_or_default();
        // Nested ones inside a lost one go with it.
        let mut outermost: Vec<String> = Vec::new();
        for dir in lost {
            if !outermost.iter().any(|o| dir.starts_with(&format!("{o}/"))) {
                outermost.push(dir);
            }
        }
        outermost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_reachable_only_once_its_parent_is_synced() {
        let dirs = UnsyncedDirs::default();
        dirs.created("gw", "spool");
        assert!(!dirs.reachable("gw", "spool"));
        // Syncing the directory itself is not enough.
        dirs.synced("gw", "spool");
        assert!(!dirs.reachable("gw", "spool"));
        assert!(dirs.reachable("other", "spool"));
        dirs.synced("gw", "/");
        assert!(dirs.reachable("gw", "spool"));
        assert!(dirs.take_lost("gw").is_empty());
    }

    #[test]
    fn a_crash_loses_the_outermost_unsynced_directories() {
        let dirs = UnsyncedDirs::default();
        dirs.created("gw", "a");
        dirs.created("gw", "a/b");
        dirs.created("gw", "c");
        dirs.synced("gw", "a");
        assert!(!dirs.reachable("gw", "a/b"));
        assert_eq!(dirs.take_lost("gw"), vec!["a".to_string(), "c".to_string()]);
        assert!(dirs.reachable("gw", "a/b"));
    }
}
