//! The ways real disks fail beyond "fsync errors" and "full", applied at
//! the seam on every engine alike (`seam::ObservedDisk` asks here):
//!
//! - EIO on read: the read fails, the bytes on disk are fine.
//! - Corrupted reads: about half the reads come back with one bit flipped
//!   (a bad cable, a DMA error, a misdirected read): no error, wrong bytes.
//!   Only a checksum sees it.
//! - A failed fsync forgets the dirty pages: while the fault lasts the
//!   first fsync of each written file fails with EIO, and the kernel marks
//!   the pages clean anyway, so the next fsync of that file (nothing
//!   rewritten) succeeds with nothing left to write and the bytes never
//!   reach the disk
//!   (Linux before and after 4.13; the PostgreSQL fsync story, 2018). Reads
//!   still see the bytes, from the page cache.
//! - ENOSPC in the middle of a write: the first half of the bytes land,
//!   then the write fails, leaving a cut-short file.
//!
//! Corruption draws come from a generator seeded per host and read, so a
//! run stays a function of its seed.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;

use crate::prng::Prng;

/// Per host: files whose dirty pages a failed fsync dropped, and how many
/// reads each host has made (the corruption draw's input).
#[derive(Default, Debug)]
pub struct HonestDisks {
    forgotten: RefCell<BTreeMap<String, BTreeSet<String>>>,
    reads: RefCell<BTreeMap<String, u64>>,
}

pub fn eio(what: &str) -> io::Error {
    io::Error::other(format!("{what} failed: input/output error"))
}

impl HonestDisks {
    /// A file fsync failed under `fsync_forgets`: its dirty pages are gone.
    pub fn forget(&self, host: &str, path: &str) {
        self.forgotten
            .borrow_mut()
            .entry(host.to_string())
            .or_default()
            .insert(path.to_string());
    }

    /// Whether `path`'s last write was dropped by a failed fsync (so an
    /// fsync now succeeds without making anything durable).
    pub fn is_forgotten(&self, host: &str, path: &str) -> bool {
        self.forgotten
            .borrow()
            .get(host)
            .is_some_and(|paths| paths.contains(path))
    }

    /// `path` was written again (or removed): new dirty pages, a real fsync
    /// again.
    pub fn rewritten(&self, host: &str, path: &str) {
        if let Some(paths) = self.forgotten.borrow_mut().get_mut(host) {
            paths.remove(path);
        }
    }

    /// The inode moves with a rename, and its forgotten pages with it.
    pub fn renamed(&self, host: &str, from: &str, to: &str) {
        if let Some(paths) = self.forgotten.borrow_mut().get_mut(host) {
            paths.remove(to);
            if paths.remove(from) {
                paths.insert(to.to_string());
            }
        }
    }

    /// `bytes` as a corrupted read returns them: about one read in two
    /// has one bit flipped somewhere.
    pub fn corrupt(&self, host: &str, path: &str, mut bytes: Vec<u8>) -> Vec<u8> {
        let count = {
            let mut reads = self.reads.borrow_mut();
            let count = reads.entry(host.to_string()).or_insert(0);
            *count += 1;
            *count
        };
        let mut prng = Prng::new(seed_of(host, path) ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if bytes.is_empty() || !prng.percent(50) {
            return bytes;
        }
        let at = prng.range(0, bytes.len() as u64) as usize;
        bytes[at] ^= 1 << prng.range(0, 8);
        bytes
    }
}

/// The first half of a write that ENOSPC stops midway.
pub fn cut_short(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len() / 2]
}

/// FNV-1a over the host and path: a stable seed per file.
fn seed_of(host: &str, path: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in host.bytes().chain([0]).chain(path.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupted_reads_flip_one_bit_in_some_reads_and_leave_the_others() {
        let disks = HonestDisks::default();
        let original = vec![0u8; 64];
        let mut flipped = 0;
        for _ in 0..200 {
            let read = disks.corrupt("gw", "spool/a.msg", original.clone());
            let bits: u32 = read.iter().map(|b| b.count_ones()).sum();
            assert!(bits <= 1, "at most one bit flips");
            flipped += bits;
        }
        assert!((50..150).contains(&flipped), "about half: {flipped}");
    }

    #[test]
    fn a_forgotten_file_stays_forgotten_until_rewritten_and_moves_with_a_rename() {
        let disks = HonestDisks::default();
        disks.forget("gw", "spool/a.json.tmp");
        assert!(disks.is_forgotten("gw", "spool/a.json.tmp"));
        assert!(!disks.is_forgotten("other", "spool/a.json.tmp"));
        disks.renamed("gw", "spool/a.json.tmp", "spool/a.json");
        assert!(!disks.is_forgotten("gw", "spool/a.json.tmp"));
        assert!(disks.is_forgotten("gw", "spool/a.json"));
        disks.rewritten("gw", "spool/a.json");
        assert!(!disks.is_forgotten("gw", "spool/a.json"));
    }

    #[test]
    fn a_write_stopped_by_enospc_keeps_its_first_half() {
        assert_eq!(cut_short(b"abcdefgh"), b"abcd");
        assert_eq!(cut_short(b""), b"");
    }
}
