//! When this disk's spool began: the node's clock (ms) the first time it
//! booted on this disk, kept durably in one checksummed file.
//!
//! Why: a node that answers "no copy" about a message may have never had
//! it, may have forgotten it once it was settled, or may have lost it with
//! its disk. Only the last is not evidence that the message is finished,
//! and a node reborn on an empty disk cannot tell it from the others on its
//! own. Its spool's birth can: a spool born after a message was accepted
//! may have held it. The asker compares the two (`gateway/sync.rs`), so a
//! copy set whose majority lost their disks one after another no longer
//! talks its last intact copy into dropping itself (madsim swarm seeds 134
//! and 1281: acknowledged mail lost with one copy intact).
//!
//! A birth that cannot be read (lost, torn, flipped) is rewritten as now:
//! later is the cautious error, since it only makes the node's "no copy"
//! count for less.

use std::io;

use crate::env::Disk;
use crate::spool_record;

/// The file at the top of the disk that holds the birth.
pub const BIRTH_FILE: &str = "spool-born";

/// The spool's birth on this disk, establishing it as `now_ms` (durably:
/// file and top directory synced) when there is none that reads back whole.
/// A write that fails still answers `now_ms`: the next boot tries again,
/// with a later birth, which is the cautious direction.
pub fn establish(disk: &dyn Disk, now_ms: u64) -> u64 {
    if let Some(born_ms) = read(disk) {
        return born_ms;
    }
    let _ = write(disk, now_ms);
    now_ms
}

fn read(disk: &dyn Disk) -> Option<u64> {
    let framed = disk.read(BIRTH_FILE).ok()?;
    let payload = spool_record::open(&framed).ok()?;
    String::from_utf8(payload).ok()?.trim().parse().ok()
}

fn write(disk: &dyn Disk, now_ms: u64) -> io::Result<()> {
    disk.write(
        BIRTH_FILE,
        &spool_record::seal(now_ms.to_string().as_bytes()),
    )?;
    disk.sync(BIRTH_FILE)?;
    disk.sync_dir("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem_disk::MemDisk;

    #[test]
    fn a_birth_is_kept_across_boots_and_a_corrupt_one_is_replaced_by_now() {
        let disk = MemDisk::default();
        assert_eq!(establish(&disk, 1_000), 1_000);
        assert_eq!(
            establish(&disk, 9_000),
            1_000,
            "a second boot keeps the first birth"
        );
        let mut framed = disk.read(BIRTH_FILE).unwrap();
        let last = framed.len() - 1;
        framed[last] ^= 0x01;
        disk.write(BIRTH_FILE, &framed).unwrap();
        assert_eq!(
            establish(&disk, 9_000),
            9_000,
            "a flipped birth is not believed"
        );
        assert_eq!(establish(&disk, 12_000), 9_000);
    }
}
