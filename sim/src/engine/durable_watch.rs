//! Which message bytes a host's disk holds durably, watched at the seam:
//! a file is durable once its contents are fsynced and its directory entry
//! is synced (POSIX: `fsync` of the file for the bytes, of the directory for
//! the name), in either order, after its last write or rename, and its
//! directory's own name is durable all the way up (`dir_entries.rs`).
//!
//! The seam records `bytes_durable` the moment a file holding a workload
//! Message-ID becomes durable, so `ack_durable` can judge each 250 against
//! the disks at that instant instead of waiting for the crash that would
//! expose an early acknowledgement. The watch lives as long as one boot of
//! the host: a crash forgets what was not yet durable, as the disk does.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// A file holding message bytes that is not durable yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Pending {
    /// Workload Message-IDs in its bytes.
    ids: Vec<String>,
    contents_synced: bool,
    entry_synced: bool,
}

/// The not-yet-durable files of one host's disk, by path.
#[derive(Debug, Default)]
pub struct DurableWatch {
    pending: RefCell<BTreeMap<String, Pending>>,
}

/// The directory a path's entry lives in (`""` for the top).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

impl DurableWatch {
    /// `path` was (re)written with bytes holding `ids`: nothing of it is
    /// durable until synced again.
    pub fn written(&self, path: &str, ids: Vec<String>) {
        let mut pending = self.pending.borrow_mut();
        if ids.is_empty() {
            pending.remove(path);
        } else {
            pending.insert(
                path.to_string(),
                Pending {
                    ids,
                    ..Pending::default()
                },
            );
        }
    }

    /// `path`'s contents were fsynced; returns the ids now durable there.
    /// `reachable` says whether a directory's name is durable all the way up.
    pub fn synced(&self, path: &str, reachable: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut pending = self.pending.borrow_mut();
        let Some(file) = pending.get_mut(path) else {
            return Vec::new();
        };
        file.contents_synced = true;
        take_if_durable(&mut pending, path, reachable)
    }

    /// `dir` was fsynced: every entry in it is durable, and so are the
    /// names of the directories in it. Returns (path, ids) of the files
    /// that became durable, in path order: those in `dir`, and those
    /// anywhere whose only missing piece was a directory's name.
    pub fn dir_synced(
        &self,
        dir: &str,
        reachable: &dyn Fn(&str) -> bool,
    ) -> Vec<(String, Vec<String>)> {
        let mut pending = self.pending.borrow_mut();
        let dir = dir.trim_matches('/');
        for (path, file) in pending.iter_mut() {
            if parent(path) == dir {
                file.entry_synced = true;
            }
        }
        let candidates: Vec<String> = pending.keys().cloned().collect();
        let mut durable = Vec::new();
        for path in candidates {
            let ids = take_if_durable(&mut pending, &path, reachable);
            if !ids.is_empty() {
                durable.push((path, ids));
            }
        }
        durable
    }

    /// `from` was renamed to `to`: the contents keep their state, the new
    /// name needs its directory synced.
    pub fn renamed(&self, from: &str, to: &str) {
        let mut pending = self.pending.borrow_mut();
        pending.remove(to);
        if let Some(mut file) = pending.remove(from) {
            file.entry_synced = false;
            pending.insert(to.to_string(), file);
        }
    }

    pub fn removed(&self, path: &str) {
        self.pending.borrow_mut().remove(path);
    }
}

fn take_if_durable(
    pending: &mut BTreeMap<String, Pending>,
    path: &str,
    reachable: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    match pending.get(path) {
        Some(file) if file.contents_synced && file.entry_synced && reachable(parent(path)) => {
            pending.remove(path).map(|f| f.ids).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["m1@mailsim.test".to_string()]
    }

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn a_file_in_a_directory_whose_own_name_is_not_durable_waits_for_the_parent_sync() {
        let watch = DurableWatch::default();
        let unsynced = crate::engine::dir_entries::UnsyncedDirs::default();
        unsynced.created("gw", "spool");
        let reachable = |dir: &str| unsynced.reachable("gw", dir);
        watch.written("spool/a.msg", ids());
        assert!(watch.synced("spool/a.msg", &reachable).is_empty());
        assert!(watch.dir_synced("spool", &reachable).is_empty());
        unsynced.synced("gw", "");
        assert_eq!(
            watch.dir_synced("", &reachable),
            vec![("spool/a.msg".to_string(), ids())]
        );
    }

    #[test]
    fn a_file_is_durable_only_after_both_its_fsync_and_its_directory_fsync() {
        let watch = DurableWatch::default();
        watch.written("spool/a.msg", ids());
        assert!(watch.synced("spool/a.msg", &all).is_empty());
        assert!(watch.dir_synced("quarantine", &all).is_empty());
        assert_eq!(
            watch.dir_synced("spool", &all),
            vec![("spool/a.msg".to_string(), ids())]
        );
        // Reported once.
        assert!(watch.dir_synced("spool", &all).is_empty());
    }

    #[test]
    fn the_directory_first_then_the_file_also_counts() {
        let watch = DurableWatch::default();
        watch.written("quarantine/a.msg", ids());
        assert!(watch.dir_synced("quarantine", &all).is_empty());
        assert_eq!(watch.synced("quarantine/a.msg", &all), ids());
    }

    #[test]
    fn a_rename_needs_the_directory_synced_again_and_a_removal_forgets() {
        let watch = DurableWatch::default();
        watch.written("spool/a.tmp", ids());
        watch.dir_synced("spool", &all);
        watch.renamed("spool/a.tmp", "spool/a.msg");
        assert!(watch.synced("spool/a.msg", &all).is_empty());
        watch.written("spool/b.msg", ids());
        watch.removed("spool/b.msg");
        assert_eq!(
            watch.dir_synced("spool", &all),
            vec![("spool/a.msg".to_string(), ids())]
        );
    }

    #[test]
    fn bytes_without_a_message_id_are_not_watched() {
        let watch = DurableWatch::default();
        watch.written("spool/a.json", Vec::new());
        assert!(watch.synced("spool/a.json", &all).is_empty());
        assert!(watch.dir_synced("spool", &all).is_empty());
    }
}
