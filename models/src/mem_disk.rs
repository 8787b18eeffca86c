//! A disk in memory for unit tests of what a node says and keeps: every
//! write lands and stays, so the tests are about the gateway's rules, not
//! about crashes (the simulated disks in `sim/` do those). A path can be
//! made to fail (`fail`), as one file on a sick disk does, to test what the
//! spool does with an error it is handed.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;

use crate::env::Disk;

/// A disk in memory that keeps everything it is given: these tests are
/// about what a node says, not about crashes.
#[derive(Default)]
pub struct MemDisk {
    files: RefCell<BTreeMap<String, Vec<u8>>>,
    /// Paths whose writes, reads and removes fail, and with what.
    failing: RefCell<BTreeMap<String, io::ErrorKind>>,
    /// Paths whose reads alone fail (a bad sector under a file that can
    /// still be unlinked).
    failing_reads: RefCell<BTreeMap<String, io::ErrorKind>>,
}

impl MemDisk {
    /// From now on every write, read and remove of `path` fails with `kind`
    /// (`Other` stands for EIO, `StorageFull` for ENOSPC). A failing write
    /// leaves the first half of its bytes, as a disk that fills up midway
    /// does; a rename still moves what is there.
    pub fn fail(&self, path: &str, kind: io::ErrorKind) {
        self.failing.borrow_mut().insert(path.into(), kind);
    }

    /// From now on reads of `path` fail with `kind`; it can still be
    /// written, renamed and removed.
    pub fn fail_reads(&self, path: &str, kind: io::ErrorKind) {
        self.failing_reads.borrow_mut().insert(path.into(), kind);
    }

    /// The names under `dir`, as a set (for comparing listings).
    pub fn names(&self, dir: &str) -> BTreeSet<String> {
        self.list(dir).unwrap_or_default().into_iter().collect()
    }

    fn check(&self, path: &str) -> io::Result<()> {
        Self::check_in(&self.failing, path)
    }

    fn check_in(failing: &RefCell<BTreeMap<String, io::ErrorKind>>, path: &str) -> io::Result<()> {
        match failing.borrow().get(path) {
            Some(kind) => Err(io::Error::new(*kind, format!("{path}: injected"))),
            None => Ok(()),
        }
    }
}

impl Disk for MemDisk {
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let written = match self.check(path) {
            Ok(()) => bytes,
            Err(_) => &bytes[..bytes.len() / 2],
        };
        self.files
            .borrow_mut()
            .insert(path.into(), written.to_vec());
        self.check(path)
    }
    fn sync(&self, _path: &str) -> io::Result<()> {
        Ok(())
    }
    fn sync_dir(&self, _dir: &str) -> io::Result<()> {
        Ok(())
    }
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.check(path)?;
        Self::check_in(&self.failing_reads, path)?;
        let files = self.files.borrow();
        files
            .get(path)
            .cloned()
            .ok_or(io::ErrorKind::NotFound.into())
    }
    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let prefix = format!("{dir}/");
        let files = self.files.borrow();
        let names = files.keys().filter_map(|p| p.strip_prefix(&prefix));
        Ok(names.map(str::to_string).collect())
    }
    fn remove(&self, path: &str) -> io::Result<()> {
        self.check(path)?;
        let removed = self.files.borrow_mut().remove(path);
        removed.map(|_| ()).ok_or(io::ErrorKind::NotFound.into())
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut files = self.files.borrow_mut();
        let bytes = files.remove(from).ok_or(io::ErrorKind::NotFound)?;
        files.insert(to.into(), bytes);
        Ok(())
    }
    fn create_dir_all(&self, _dir: &str) -> io::Result<()> {
        Ok(())
    }
}
