//! Our own power-fail disk, for engines without one (madsim has no such
//! filesystem): an in-memory disk per host with the fsync semantics the
//! gateway's promises rest on, matching turmoil's `unstable-fs` model.
//!
//! - A write is durable only after `sync` of the file; a crash puts every
//!   file back to its last synced contents.
//! - Creating, renaming or removing a file changes its directory entry,
//!   which is durable only after `sync_dir` of its directory; a crash puts
//!   every directory back to its last synced entries (so a file that was
//!   synced but whose entry was not is gone, and a rename or a removal that
//!   was not made durable is undone). `sync_dir` also makes the directory
//!   itself durable.
//! - With torn writes on (a block size), a crash keeps a random number of
//!   whole blocks of each unsynced write, from its start, over the synced
//!   contents.
//!
//! Files are inodes named by directory entries, as on POSIX, so a rename
//! moves the name, not the bytes. Disk faults (fsync errors, a full disk)
//! and the residency scan are not here: `engine::seam::ObservedDisk` puts
//! them on top, for every engine alike. Bad paths are errors, never panics.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::rc::Rc;

use models::env::Disk;

use crate::prng::Prng;

/// One host's disk; clones share it (it outlives the host's boots).
#[derive(Clone, Default)]
pub struct PowerFailDisk {
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    /// File path → inode, as the running host sees it.
    entries: BTreeMap<String, u64>,
    /// Directories as the running host sees them ("" is the root).
    dirs: BTreeSet<String>,
    /// What a crash leaves of `entries` and `dirs`.
    durable_entries: BTreeMap<String, u64>,
    durable_dirs: BTreeSet<String>,
    torn_block_bytes: Option<u64>,
}

/// Contents are shared, not copied, between what the host sees and what
/// the last sync made durable: a sync of a large message is a reference
/// count, not a second copy of its bytes.
#[derive(Default)]
struct Inode {
    data: Rc<[u8]>,
    /// The contents as of the last sync.
    durable: Rc<[u8]>,
}

fn not_found(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{path}: no such file or directory"),
    )
}

/// `a/b/c` from `/a//b/c/`; `..` and `.` are refused (a disk has no outside).
fn normalize(path: &str) -> io::Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == ".." || part == "." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path}: relative components are not allowed"),
            ));
        }
        parts.push(part);
    }
    Ok(parts.join("/"))
}

/// The entries of `map` whose path lies under directory `dir` ("" is the
/// root, under which everything lies).
fn under<'a>(
    map: &'a BTreeMap<String, u64>,
    dir: &str,
) -> impl Iterator<Item = (&'a String, &'a u64)> + 'a {
    let (start, end) = if dir.is_empty() {
        (String::new(), None)
    } else {
        // Every path "dir/..." sorts from "dir/" up to "dir0" ('0' follows '/').
        (format!("{dir}/"), Some(format!("{dir}0")))
    };
    let upper = match end {
        Some(end) => std::ops::Bound::Excluded(end),
        None => std::ops::Bound::Unbounded,
    };
    map.range((std::ops::Bound::Included(start), upper))
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn name_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

impl PowerFailDisk {
    /// A fresh, empty disk; with `torn_block_bytes`, a crash may tear
    /// unsynced writes at that block size.
    pub fn new(torn_block_bytes: Option<u64>) -> Self {
        let disk = PowerFailDisk::default();
        {
            let mut state = disk.state.borrow_mut();
            state.dirs.insert(String::new());
            state.durable_dirs.insert(String::new());
            state.torn_block_bytes = torn_block_bytes.filter(|&b| b > 0);
        }
        disk
    }

    /// The disk is replaced (the `disk_lost` fault): empty, as when new.
    pub fn wipe(&self) {
        let torn_block_bytes = self.state.borrow().torn_block_bytes;
        let fresh = PowerFailDisk::new(torn_block_bytes);
        let fresh = std::mem::take(&mut *fresh.state.borrow_mut());
        *self.state.borrow_mut() = fresh;
    }

    /// Power fails: everything not made durable is lost (see the module
    /// doc); `rng` decides how much of each unsynced write tears through.
    pub fn crash(&self, rng: &mut Prng) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let durable: BTreeSet<u64> = state.durable_entries.values().copied().collect();
        for (id, inode) in state.inodes.iter_mut() {
            if let Some(block) = state.torn_block_bytes
                && durable.contains(id)
                && !Rc::ptr_eq(&inode.data, &inode.durable)
                && inode.data != inode.durable
            {
                let blocks = (inode.data.len() as u64).div_ceil(block);
                let kept = (rng.range(0, blocks + 1) * block).min(inode.data.len() as u64) as usize;
                if kept > 0 {
                    let mut torn = inode.data[..kept].to_vec();
                    if inode.durable.len() > kept {
                        torn.extend_from_slice(&inode.durable[kept..]);
                    }
                    inode.durable = torn.into();
                }
            }
            inode.data = inode.durable.clone();
        }
        state.inodes.retain(|id, _| durable.contains(id));
        state.entries = state.durable_entries.clone();
        state.dirs = state.durable_dirs.clone();
        state.dirs.insert(String::new());
    }

    /// File names in `dir` (files only), sorted; what the run loop's spool
    /// check reads after the drain.
    pub fn files_in(&self, dir: &str) -> Vec<String> {
        let Ok(dir) = normalize(dir) else {
            return Vec::new();
        };
        let state = self.state.borrow();
        state
            .entries
            .keys()
            .filter(|p| parent(p) == dir)
            .map(|p| name_of(p).to_string())
            .collect()
    }
}

impl State {
    fn require_dir(&self, dir: &str, shown: &str) -> io::Result<()> {
        if self.dirs.contains(dir) {
            Ok(())
        } else {
            Err(not_found(shown))
        }
    }

    /// Frees inodes no entry names any more, neither as the host sees the
    /// disk nor as a crash would leave it. A spool rewrites a file by
    /// writing a new one and renaming it over the old, so without this
    /// every version of every file stayed in memory until the next crash
    /// (most of a large run's memory, and the kernel's time zeroing it).
    /// Runs when the dead could outnumber the living, so its cost is spread
    /// over the operations that made them; ids are never reused, so what
    /// the host sees does not change.
    fn collect_unnamed_inodes(&mut self) {
        let named = self.entries.len() + self.durable_entries.len();
        if self.inodes.len() <= 2 * named + 64 {
            return;
        }
        let live: BTreeSet<u64> = self
            .entries
            .values()
            .chain(self.durable_entries.values())
            .copied()
            .collect();
        self.inodes.retain(|id, _| live.contains(id));
    }

    fn inode_of(&self, path: &str, shown: &str) -> io::Result<u64> {
        self.entries
            .get(path)
            .copied()
            .ok_or_else(|| not_found(shown))
    }
}

impl Disk for PowerFailDisk {
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let key = normalize(path)?;
        let mut state = self.state.borrow_mut();
        if key.is_empty() || state.dirs.contains(&key) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{path}: is a directory"),
            ));
        }
        state.require_dir(parent(&key), path)?;
        match state.entries.get(&key).copied() {
            Some(id) => {
                if let Some(inode) = state.inodes.get_mut(&id) {
                    inode.data = bytes.into();
                }
            }
            None => {
                let id = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(
                    id,
                    Inode {
                        data: bytes.into(),
                        durable: Rc::default(),
                    },
                );
                state.entries.insert(key, id);
            }
        }
        Ok(())
    }

    fn sync(&self, path: &str) -> io::Result<()> {
        let key = normalize(path)?;
        let mut state = self.state.borrow_mut();
        let id = state.inode_of(&key, path)?;
        if let Some(inode) = state.inodes.get_mut(&id) {
            inode.durable = inode.data.clone();
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        let key = normalize(dir)?;
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        state.require_dir(&key, dir)?;
        // The directory itself (and the path to it) is durable now.
        let mut at = key.as_str();
        loop {
            state.durable_dirs.insert(at.to_string());
            if at.is_empty() {
                break;
            }
            at = parent(at);
        }
        // Its entries become what the host sees now. Only the paths under
        // it are looked at (a range of the sorted map), so a sync costs what
        // the directory holds, not what the whole disk does.
        let stale: Vec<String> = under(&state.durable_entries, &key)
            .filter(|(p, _)| parent(p) == key)
            .map(|(p, _)| p.clone())
            .collect();
        for path in stale {
            state.durable_entries.remove(&path);
        }
        let current: Vec<(String, u64)> = under(&state.entries, &key)
            .filter(|(p, _)| parent(p) == key)
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        state.durable_entries.extend(current);
        state
            .durable_dirs
            .retain(|d| d.is_empty() || parent(d) != key || state.dirs.contains(d));
        let children: Vec<String> = state
            .dirs
            .iter()
            .filter(|d| !d.is_empty() && parent(d) == key)
            .cloned()
            .collect();
        state.durable_dirs.extend(children);
        state.collect_unnamed_inodes();
        Ok(())
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let key = normalize(path)?;
        let state = self.state.borrow();
        let id = state.inode_of(&key, path)?;
        Ok(state
            .inodes
            .get(&id)
            .map(|inode| inode.data.to_vec())
            .unwrap_or_default())
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let key = normalize(dir)?;
        let state = self.state.borrow();
        if !state.dirs.contains(&key) {
            return Ok(Vec::new());
        }
        let mut names: Vec<String> = state
            .entries
            .keys()
            .filter(|p| parent(p) == key)
            .chain(
                state
                    .dirs
                    .iter()
                    .filter(|d| !d.is_empty() && parent(d) == key),
            )
            .map(|p| name_of(p).to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        let key = normalize(path)?;
        let mut state = self.state.borrow_mut();
        state.inode_of(&key, path)?;
        state.entries.remove(&key);
        state.collect_unnamed_inodes();
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let from_key = normalize(from)?;
        let to_key = normalize(to)?;
        let mut state = self.state.borrow_mut();
        let id = state.inode_of(&from_key, from)?;
        state.require_dir(parent(&to_key), to)?;
        if to_key.is_empty() || state.dirs.contains(&to_key) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{to}: is a directory"),
            ));
        }
        state.entries.remove(&from_key);
        state.entries.insert(to_key, id);
        state.collect_unnamed_inodes();
        Ok(())
    }

    fn create_dir_all(&self, dir: &str) -> io::Result<()> {
        let key = normalize(dir)?;
        let mut state = self.state.borrow_mut();
        if state.entries.contains_key(&key) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{dir}: a file is in the way"),
            ));
        }
        let mut at = key.as_str();
        while !at.is_empty() {
            state.dirs.insert(at.to_string());
            at = parent(at);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk() -> PowerFailDisk {
        let disk = PowerFailDisk::new(None);
        disk.create_dir_all("spool").unwrap();
        disk
    }

    fn crash(disk: &PowerFailDisk) {
        disk.crash(&mut Prng::new(7));
    }

    #[test]
    fn versions_replaced_by_a_rename_are_freed_but_a_durable_one_is_kept() {
        let disk = disk();
        disk.write("spool/a.msg", b"first").unwrap();
        disk.sync("spool/a.msg").unwrap();
        disk.sync_dir("spool").unwrap();
        // A spool's update: a new file, synced, renamed over the old one.
        let rewrite = |round: u32| {
            let bytes = format!("version {round}");
            disk.write("spool/a.tmp", bytes.as_bytes()).unwrap();
            disk.sync("spool/a.tmp").unwrap();
            disk.rename("spool/a.tmp", "spool/a.msg").unwrap();
        };
        (0..1000).for_each(rewrite);
        // Never synced as a directory: a crash must still find "first".
        assert!(disk.state.borrow().inodes.len() < 200);
        crash(&disk);
        assert_eq!(disk.read("spool/a.msg").unwrap(), b"first");
        for round in 0..1000 {
            rewrite(round);
            disk.sync_dir("spool").unwrap();
        }
        assert!(disk.state.borrow().inodes.len() < 200);
        crash(&disk);
        assert_eq!(disk.read("spool/a.msg").unwrap(), b"version 999");
    }

    #[test]
    fn a_synced_file_in_a_synced_directory_survives_a_crash() {
        let disk = disk();
        disk.write("spool/a.msg", b"hello").unwrap();
        disk.sync("spool/a.msg").unwrap();
        disk.sync_dir("spool").unwrap();
        crash(&disk);
        assert_eq!(disk.read("spool/a.msg").unwrap(), b"hello");
        assert_eq!(disk.list("spool").unwrap(), vec!["a.msg".to_string()]);
    }

    #[test]
    fn a_file_whose_entry_was_never_synced_is_gone_after_a_crash() {
        let disk = disk();
        disk.write("spool/a.msg", b"hello").unwrap();
        disk.sync("spool/a.msg").unwrap();
        crash(&disk);
        assert_eq!(
            disk.read("spool/a.msg").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(disk.list("spool").unwrap().is_empty());
    }

    #[test]
    fn syncing_a_directory_makes_only_its_own_entries_durable() {
        let disk = disk();
        for dir in ["spool/sub", "spool-b", "spoolc", "spool0"] {
            disk.create_dir_all(dir).unwrap();
        }
        disk.sync_dir("").unwrap();
        disk.sync_dir("spool").unwrap();
        for path in [
            "spool/a",
            "spool/sub/b",
            "spool-b/c",
            "spoolc/d",
            "spool0/e",
        ] {
            disk.write(path, b"x").unwrap();
            disk.sync(path).unwrap();
        }
        disk.sync_dir("spool").unwrap();
        crash(&disk);
        assert_eq!(disk.read("spool/a").unwrap(), b"x");
        for gone in ["spool/sub/b", "spool-b/c", "spoolc/d", "spool0/e"] {
            assert_eq!(
                disk.read(gone).unwrap_err().kind(),
                io::ErrorKind::NotFound,
                "{gone}"
            );
        }
    }

    #[test]
    fn unsynced_contents_roll_back_to_the_last_sync() {
        let disk = disk();
        disk.write("spool/a.json", b"v1").unwrap();
        disk.sync("spool/a.json").unwrap();
        disk.sync_dir("spool").unwrap();
        disk.write("spool/a.json", b"version two").unwrap();
        assert_eq!(disk.read("spool/a.json").unwrap(), b"version two");
        crash(&disk);
        assert_eq!(disk.read("spool/a.json").unwrap(), b"v1");
    }

    #[test]
    fn an_unsynced_rename_and_removal_are_undone_by_a_crash() {
        let disk = disk();
        disk.write("spool/a.tmp", b"entry").unwrap();
        disk.sync("spool/a.tmp").unwrap();
        disk.sync_dir("spool").unwrap();
        disk.rename("spool/a.tmp", "spool/a.json").unwrap();
        crash(&disk);
        assert_eq!(disk.list("spool").unwrap(), vec!["a.tmp".to_string()]);

        disk.rename("spool/a.tmp", "spool/a.json").unwrap();
        disk.sync_dir("spool").unwrap();
        disk.remove("spool/a.json").unwrap();
        crash(&disk);
        assert_eq!(disk.read("spool/a.json").unwrap(), b"entry");
        disk.remove("spool/a.json").unwrap();
        disk.sync_dir("spool").unwrap();
        crash(&disk);
        assert!(disk.list("spool").unwrap().is_empty());
    }

    #[test]
    fn a_directory_never_synced_is_gone_after_a_crash() {
        let disk = PowerFailDisk::new(None);
        disk.create_dir_all("quarantine").unwrap();
        crash(&disk);
        assert!(disk.list("").unwrap().is_empty());
        assert_eq!(
            disk.write("quarantine/x.msg", b"x").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_torn_write_keeps_whole_blocks_from_its_start() {
        let mut kept = BTreeSet::new();
        for seed in 0..40 {
            let disk = PowerFailDisk::new(Some(4));
            disk.create_dir_all("d").unwrap();
            disk.sync_dir("").unwrap();
            disk.write("d/f", b"aaaaaaaaaaaa").unwrap();
            disk.sync("d/f").unwrap();
            disk.sync_dir("d").unwrap();
            disk.write("d/f", b"bbbbbbbbbbbb").unwrap();
            disk.crash(&mut Prng::new(seed));
            let after = disk.read("d/f").unwrap();
            assert_eq!(after.len(), 12);
            let torn = after.iter().filter(|&&b| b == b'b').count();
            assert_eq!(torn % 4, 0, "whole blocks only: {after:?}");
            assert!(after.starts_with(&b"bbbb"[..torn.min(4)]));
            kept.insert(torn);
        }
        assert!(kept.len() > 1, "the tear varies with the draw: {kept:?}");
    }

    #[test]
    fn bad_paths_are_errors_not_panics() {
        let disk = disk();
        assert!(disk.write("../etc/passwd", b"x").is_err());
        assert!(disk.write("", b"x").is_err());
        assert!(disk.write("missing/dir/f", b"x").is_err());
        assert!(disk.sync("spool/none").is_err());
        assert!(disk.sync_dir("none").is_err());
        assert!(disk.rename("spool/none", "spool/b").is_err());
        assert!(disk.remove("spool").is_err());
        assert!(disk.list("none").unwrap().is_empty());
    }
}
