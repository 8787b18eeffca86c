//! A disk in memory for unit tests of what a node says and keeps: every
//! write lands and stays, so the tests are about the gateway's rules, not
//! about crashes (the simulated disks in `sim/` do those).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;

use crate::env::Disk;

/// A disk in memory that keeps everything it is given: these tests are
/// about what a node says, not about crashes.
#[derive(Default)]
pub struct MemDisk {
    files: RefCell<BTreeMap<String, Vec<u8>>>,
}

impl Disk for MemDisk {
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.files.borrow_mut().insert(path.into(), bytes.to_vec());
        Ok(())
    }
    fn sync(&self, _path: &str) -> io::Result<()> {
        Ok(())
    }
    fn sync_dir(&self, _dir: &str) -> io::Result<()> {
        Ok(())
    }
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
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
        let removed = self.files.borrow_mut().remove(path);
        removed.map(|_| ()).ok_or(io::ErrorKind::NotFound.into())
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let bytes = self.read(from)?;
        self.remove(from)?;
        self.write(to, &bytes)
    }
    fn create_dir_all(&self, _dir: &str) -> io::Result<()> {
        Ok(())
    }
}
