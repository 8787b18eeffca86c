//! Tombstones: a node's durable note that a message's fate is settled for
//! good, kept after its copy is gone. A message is settled for good when
//! its owner finished it (every recipient delivered, bounced and reported,
//! or quarantined) or refused it at ingress (its spool id is never used
//! again).
//!
//! Why: a node without a copy cannot otherwise tell "finished and
//! forgotten" from "never had it" or "lost my disk", so a copy set split
//! evenly between stale copies (that missed the owner's `Forget`) and nodes
//! that forgot has no majority either way; the stale copies claim for ever
//! and never let go (madsim swarm seeds 5706, 6188, 6928, 7247 and 9213).
//! One tombstone is positive evidence that lets a stale copy go.
//!
//! A tombstone is a file `finished/<spool id>` holding the node's clock (ms)
//! when it was written. Nodes forget tombstones after
//! [`keep_ms`]: long past the queue lifetime, when no stale copy can still
//! be waiting for one except behind a partition no sync reaches.

use std::collections::BTreeMap;
use std::io;

use crate::env::Disk;

pub const TOMBSTONE_DIR: &str = "finished";

/// Never forget a tombstone sooner than this (a day), whatever the queue
/// lifetime: short lifetimes (tests, the bounces family) must not make
/// tombstones short-lived too.
const KEEP_MS_MIN: u64 = 24 * 60 * 60 * 1000;

/// How long a tombstone is kept: twice the queue lifetime, at least a day.
pub fn keep_ms(queue_lifetime_ms: u64) -> u64 {
    queue_lifetime_ms.saturating_mul(2).max(KEEP_MS_MIN)
}

fn path(id: &str) -> String {
    format!("{TOMBSTONE_DIR}/{id}")
}

/// Makes the tombstone directory exist durably (its name synced in the
/// top of the disk); a node does it once, at boot.
pub fn prepare(disk: &dyn Disk) -> io::Result<()> {
    disk.create_dir_all(TOMBSTONE_DIR)?;
    disk.sync_dir("")
}

/// Writes the tombstone of `id` durably (file and directory synced; the
/// directory itself is made durable by [`prepare`] — if that failed at
/// boot, a crash may take tombstones with it, which costs only what they
/// save: time).
pub fn record(disk: &dyn Disk, id: &str, now_ms: u64) -> io::Result<()> {
    disk.create_dir_all(TOMBSTONE_DIR)?;
    let path = path(id);
    disk.write(&path, now_ms.to_string().as_bytes())?;
    disk.sync(&path)?;
    disk.sync_dir(TOMBSTONE_DIR)
}

/// Every tombstone on disk: spool id → when it was written. One whose time
/// cannot be read (a torn or flipped write) still counts, as written at
/// `now_ms`: the name alone says the message was settled.
pub fn load_all(disk: &dyn Disk, now_ms: u64) -> BTreeMap<String, u64> {
    let Ok(names) = disk.list(TOMBSTONE_DIR) else {
        return BTreeMap::new();
    };
    names
        .into_iter()
        .filter(|name| !name.contains('.'))
        .map(|id| {
            let written_ms = disk
                .read(&path(&id))
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(now_ms);
            (id, written_ms)
        })
        .collect()
}

/// The tombstones written more than `keep_ms` before `now_ms`.
pub fn expired(tombstones: &BTreeMap<String, u64>, now_ms: u64, keep_ms: u64) -> Vec<String> {
    tombstones
        .iter()
        .filter(|(_, written_ms)| now_ms.saturating_sub(**written_ms) > keep_ms)
        .map(|(id, _)| id.clone())
        .collect()
}

/// Removes the tombstone of `id` (a missing one is fine).
pub fn remove(disk: &dyn Disk, id: &str) -> io::Result<()> {
    match disk.remove(&path(id)) {
        Ok(()) => disk.sync_dir(TOMBSTONE_DIR),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_for_twice_the_queue_lifetime_and_at_least_a_day() {
        assert_eq!(keep_ms(120_000), KEEP_MS_MIN);
        let five_days_ms = 5 * KEEP_MS_MIN;
        assert_eq!(keep_ms(five_days_ms), 2 * five_days_ms);
    }

    #[test]
    fn only_tombstones_older_than_the_keep_expire() {
        let tombstones = BTreeMap::from([("old".to_string(), 1_000), ("new".to_string(), 5_000)]);
        assert_eq!(expired(&tombstones, 6_000, 4_000), vec!["old".to_string()]);
        assert!(expired(&tombstones, 5_000, 4_000).is_empty());
        // A clock stepped back never expires anything.
        assert!(expired(&tombstones, 0, 4_000).is_empty());
    }
}
