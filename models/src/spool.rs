//! The durable spool: one message as two files, its raw bytes
//! (`spool/<id>.msg`, written once) and its envelope and per-recipient state
//! (`spool/<id>.json`, replaced atomically through a temporary file).
//!
//! Durability follows POSIX: a file's bytes need its fsync, its name needs
//! the directory's fsync, and a directory just created needs its parent's
//! fsync for its own name. `store_new` does all of it before it returns,
//! which is what lets ingress say 250 (RFC 5321 §6.1).
//!
//! Every file is written in a checksummed frame (`spool_record`): a read
//! whose bytes are not what was written (a flipped bit, a torn or cut-short
//! write) is an error, and the copy is treated as lost, never as mail.

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};
use traces::Verdict;

use crate::env::Disk;
use crate::spool_record;

pub const SPOOL_DIR: &str = "spool";
pub const QUARANTINE_DIR: &str = "quarantine";

/// Where one recipient of a message stands.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RcptState {
    Pending,
    Delivered,
    /// Given up; a DSN reports it (unless the message is itself a DSN).
    Bounced {
        status: String,
        diagnostic: String,
    },
    Quarantined,
}

impl RcptState {
    pub fn is_final(&self) -> bool {
        !matches!(self, RcptState::Pending)
    }
}

/// A spooled message's envelope and progress.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Spool id, unique across the deployment.
    pub id: String,
    /// The Message-ID header (without brackets), for logs.
    pub message_id: String,
    pub tenant: String,
    /// Envelope sender; empty for the null return path (DSNs).
    pub mail_from: String,
    pub rcpts: BTreeMap<String, RcptState>,
    pub received_ms: u64,
    /// The node that schedules scanning and delivery.
    pub owner: String,
    /// Fencing epoch of the ownership.
    pub epoch: u64,
    /// Nodes holding a copy (besides the owner).
    pub replicas: Vec<String>,
    pub verdict: Option<Verdict>,
    /// A DSN this gateway wrote itself (routed by the MX of its recipient's
    /// domain, never quarantined, never reported on). Not the same as a
    /// null reverse-path: mail that arrives with `MAIL FROM:<>` (a remote
    /// bounce, an RFC 3834 auto-reply) is tenant mail like any other.
    pub is_dsn: bool,
    pub attempts: u32,
    pub next_attempt_ms: u64,
    /// Bounced recipients already reported in a DSN.
    pub dsn_reported: Vec<String>,
    /// Set on a replica when the owner confirmed its ballot in order to
    /// deliver, cleared by the owner's next update. A new owner that finds
    /// it set holds the message until it has heard what that owner did: it
    /// may have delivered and been cut off before saying so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_doubt: Option<InDoubt>,
    /// The sender declared SMTPUTF8: the next hop must offer it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub smtputf8: bool,
}

/// What a node knows of a message it is taking on: accepted from a client,
/// or a DSN it writes itself. [`Entry::new`] makes the rest.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: String,
    pub message_id: String,
    pub tenant: String,
    /// Empty for the null return path: the message is then a DSN.
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub owner: String,
    pub epoch: u64,
    pub replicas: Vec<String>,
    pub smtputf8: bool,
}

impl Entry {
    /// A message taken on at `now_ms`: every recipient pending, unscanned,
    /// due at once.
    pub fn new(message: NewMessage, now_ms: u64) -> Entry {
        Entry {
            id: message.id,
            message_id: message.message_id,
            tenant: message.tenant,
            is_dsn: false,
            mail_from: message.mail_from,
            rcpts: message
                .rcpts
                .into_iter()
                .map(|rcpt| (rcpt, RcptState::Pending))
                .collect(),
            received_ms: now_ms,
            owner: message.owner,
            epoch: message.epoch,
            replicas: message.replicas,
            verdict: None,
            attempts: 0,
            next_attempt_ms: now_ms,
            dsn_reported: Vec::new(),
            in_doubt: None,
            smtputf8: message.smtputf8,
        }
    }
}

/// Who was about to deliver a message, and since when.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InDoubt {
    pub by: String,
    pub since_ms: u64,
    /// The owner stopped waiting to hear and delivers anyway (only the
    /// `in-doubt-gives-up` bug does: the correct gateway waits), but the
    /// doubt stands until `by` answers: until then the message may have
    /// been delivered, so it is never bounced as expired. Absent (false)
    /// unless set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gave_up: bool,
}

impl Entry {
    pub fn pending_rcpts(&self) -> Vec<String> {
        self.rcpts
            .iter()
            .filter(|(_, state)| !state.is_final())
            .map(|(rcpt, _)| rcpt.clone())
            .collect()
    }

    /// Every recipient not settled yet is quarantined now.
    pub fn quarantine_pending(&mut self) {
        for state in self.rcpts.values_mut() {
            if !state.is_final() {
                *state = RcptState::Quarantined;
            }
        }
    }

    /// Some recipient's copy went to the quarantine.
    pub fn is_quarantined(&self) -> bool {
        self.rcpts
            .values()
            .any(|state| matches!(state, RcptState::Quarantined))
    }

    pub fn is_finished(&self) -> bool {
        self.rcpts.values().all(RcptState::is_final)
            && (self.is_dsn || self.unreported_bounces().is_empty())
    }

    /// Bounced recipients not yet covered by a DSN.
    pub fn unreported_bounces(&self) -> Vec<String> {
        self.rcpts
            .iter()
            .filter(|(rcpt, state)| {
                matches!(state, RcptState::Bounced { .. }) && !self.dsn_reported.contains(rcpt)
            })
            .map(|(rcpt, _)| rcpt.clone())
            .collect()
    }
}

pub fn message_path(id: &str) -> String {
    format!("{SPOOL_DIR}/{id}.msg")
}

pub fn entry_path(id: &str) -> String {
    format!("{SPOOL_DIR}/{id}.json")
}

pub fn quarantine_path(id: &str) -> String {
    format!("{QUARANTINE_DIR}/{id}.msg")
}

/// How careful a write is; anything but `Synced` exists only for the
/// catalogue's bugs (`ack-before-fsync`, `ack-before-dir-sync`,
/// `no-parent-dir-sync`, `fsync-retry-trusted`, `short-write-ignored`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    Synced,
    /// The files are fsynced, their directory is not: a crash can lose
    /// the names, and with them the files.
    FilesOnly,
    Unsynced,
    /// Files and their directory are fsynced, but a directory just made by
    /// `create_dir_all` is not synced in its parent: the first crash takes
    /// the whole directory.
    NoParentSync,
    /// A failed fsync is tried again and a retry that succeeds is believed.
    /// After a failed fsync Linux drops the dirty pages, so the retry has
    /// nothing left to write and succeeds: the bytes are not on disk (the
    /// PostgreSQL fsync story, 2018).
    TrustsFsyncRetry,
    /// Fully synced, but a message write the disk stopped halfway (ENOSPC
    /// after some bytes: `write(2)` returning a short count that nobody
    /// compared with the length) is taken as written: the cut copy stays.
    IgnoresShortWrite,
}

/// fsyncs `path`, the way `durability` says.
fn sync_file(disk: &dyn Disk, path: &str, durability: Durability) -> io::Result<()> {
    match (disk.sync(path), durability) {
        (Err(_), Durability::TrustsFsyncRetry) => disk.sync(path),
        (result, _) => result,
    }
}

/// Makes `dir` exist durably: created, and (unless the bug skips it) its
/// own name synced in its parent. Spool directories sit at the top of the
/// host's disk, so the parent is the top.
fn ensure_dir(disk: &dyn Disk, dir: &str, durability: Durability) -> io::Result<()> {
    disk.create_dir_all(dir)?;
    match durability {
        Durability::Synced | Durability::TrustsFsyncRetry | Durability::IgnoresShortWrite => {
            let parent = dir.rsplit_once('/').map_or("", |(parent, _)| parent);
            disk.sync_dir(parent)
        }
        Durability::FilesOnly | Durability::Unsynced | Durability::NoParentSync => Ok(()),
    }
}

fn syncs_dirs(durability: Durability) -> bool {
    matches!(
        durability,
        Durability::Synced
            | Durability::NoParentSync
            | Durability::TrustsFsyncRetry
            | Durability::IgnoresShortWrite
    )
}

/// Writes a new message and its entry; durable on return when `Synced`.
pub fn store_new(
    disk: &dyn Disk,
    entry: &Entry,
    raw: &[u8],
    durability: Durability,
) -> io::Result<()> {
    ensure_dir(disk, SPOOL_DIR, durability)?;
    let path = message_path(&entry.id);
    match disk.write(&path, &spool_record::seal(raw)) {
        // The bug: "no space left" after part of the bytes went down reads
        // as a short count, and the count is not checked.
        Err(e)
            if e.kind() == io::ErrorKind::StorageFull
                && durability == Durability::IgnoresShortWrite => {}
        result => result?,
    }
    if durability != Durability::Unsynced {
        sync_file(disk, &path, durability)?;
    }
    store_entry(disk, entry, durability)
}

/// Replaces the entry file atomically (write temp, fsync, rename, fsync dir).
pub fn store_entry(disk: &dyn Disk, entry: &Entry, durability: Durability) -> io::Result<()> {
    let json = serde_json::to_vec(entry).map_err(io::Error::other)?;
    let temp = format!("{SPOOL_DIR}/{}.json.tmp", entry.id);
    match disk.write(&temp, &spool_record::seal(&json)) {
        // The `short-write-ignored` bug, as for the message (store_new).
        Err(e)
            if e.kind() == io::ErrorKind::StorageFull
                && durability == Durability::IgnoresShortWrite => {}
        result => result?,
    }
    if durability != Durability::Unsynced {
        sync_file(disk, &temp, durability)?;
    }
    disk.rename(&temp, &entry_path(&entry.id))?;
    if syncs_dirs(durability) {
        disk.sync_dir(SPOOL_DIR)?;
    }
    Ok(())
}

/// Half of an entry's write, as a process killed mid-write leaves it: only
/// its temporary file is torn, never the entry itself (the rename that
/// would publish it never happens).
pub fn write_torn_entry(disk: &dyn Disk, entry: &Entry) -> io::Result<()> {
    let json = serde_json::to_vec(entry).map_err(io::Error::other)?;
    let temp = format!("{SPOOL_DIR}/{}.json.tmp", entry.id);
    disk.write(&temp, &json[..json.len() / 2])
}

/// One entry as it stands on disk (it may be there before it is in memory:
/// ingress writes it before the replicas confirm their copies).
pub fn load_entry(disk: &dyn Disk, id: &str) -> io::Result<Entry> {
    let bytes = spool_record::open(&disk.read(&entry_path(id))?)?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The message's bytes, checked against the checksum they were written
/// with (`InvalidData` when the disk gave back something else).
pub fn load_message(disk: &dyn Disk, id: &str) -> io::Result<Vec<u8>> {
    spool_record::open(&disk.read(&message_path(id))?)
}

/// The message's bytes as the disk returns them, unchecked: only for the
/// `spool-trusts-reads` bug.
pub fn load_message_unchecked(disk: &dyn Disk, id: &str) -> io::Result<Vec<u8>> {
    spool_record::open_unchecked(&disk.read(&message_path(id))?)
}

/// Removes a message's files durably (missing files are fine).
pub fn remove(disk: &dyn Disk, id: &str) -> io::Result<()> {
    // A write cut short (`spool.torn_write`) leaves the entry's temporary.
    let temp = format!("{SPOOL_DIR}/{id}.json.tmp");
    for path in [message_path(id), entry_path(id), temp] {
        match disk.remove(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    disk.sync_dir(SPOOL_DIR)
}

/// Removes a finished message's files. If a recipient was quarantined, the
/// message is kept in this node's quarantine first: every copy that lets
/// go keeps the quarantine, so it is not on the owner's disk alone, where
/// a lost disk would take the only one (found by the quarantine check from
/// the disks, issue 15).
pub fn remove_finished(disk: &dyn Disk, entry: &Entry) -> io::Result<()> {
    if entry.is_quarantined() {
        return remove_into_quarantine(disk, &entry.id);
    }
    remove(disk, &entry.id)
}

/// Removes message `id`'s files, keeping its bytes (if this disk holds
/// them) in this node's quarantine first: what a copy does when its owner
/// says the message was quarantined, whatever this copy's own entry says.
pub fn remove_into_quarantine(disk: &dyn Disk, id: &str) -> io::Result<()> {
    match load_message(disk, id) {
        Ok(raw) => quarantine(disk, id, &raw)?,
        // No bytes here to keep (a torn copy dropped at boot).
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    remove(disk, id)
}

/// Every complete entry on disk, by id. Entries whose message file is
/// missing, or whose entry or message fails its checksum (a torn write, a
/// flipped bit), are lost copies: dropped (the files are removed), so the
/// other copies carry the message.
pub fn load_all(disk: &dyn Disk) -> io::Result<BTreeMap<String, Entry>> {
    let mut entries = BTreeMap::new();
    let names = disk.list(SPOOL_DIR)?;
    for name in &names {
        let Some(id) = name.strip_suffix(".json") else {
            continue;
        };
        let parsed = load_entry(disk, id).ok();
        let has_message =
            names.iter().any(|n| *n == format!("{id}.msg")) && load_message(disk, id).is_ok();
        match parsed {
            Some(entry) if has_message && entry.id == id => {
                entries.insert(id.to_string(), entry);
            }
            _ => {
                remove(disk, id)?;
            }
        }
    }
    // Leftover temporaries and orphan message files are garbage.
    for name in &names {
        if name.ends_with(".tmp") {
            let _ = disk.remove(&format!("{SPOOL_DIR}/{name}"));
        } else if let Some(id) = name.strip_suffix(".msg")
            && !entries.contains_key(id)
        {
            let _ = disk.remove(&message_path(id));
        }
    }
    Ok(entries)
}

/// Whether this node holds message `id` in its quarantine: a name in the
/// directory's listing, so the answer costs no read of the message.
pub fn is_quarantined(disk: &dyn Disk, id: &str) -> bool {
    let name = format!("{id}.msg");
    disk.list(QUARANTINE_DIR)
        .is_ok_and(|names| names.contains(&name))
}

/// Keeps a quarantined message in this (in-jurisdiction) node's quarantine.
pub fn quarantine(disk: &dyn Disk, id: &str, raw: &[u8]) -> io::Result<()> {
    ensure_dir(disk, QUARANTINE_DIR, Durability::Synced)?;
    let path = quarantine_path(id);
    disk.write(&path, raw)?;
    disk.sync(&path)?;
    disk.sync_dir(QUARANTINE_DIR)
}

#[cfg(test)]
mod tests {
    //! The spool's contract with its callers, on a disk that keeps every
    //! write: which copies `load_all` keeps, which errors the removal and
    //! write paths pass on. The simulated disks in `sim/` test the crashes;
    //! these pin the defences a sweep rarely reaches because the other
    //! copies of a message carry it anyway.

    use super::*;
    use crate::mem_disk::MemDisk;

    const RAW: &[u8] = b"Subject: hi\r\n\r\nbody\r\n";

    fn entry(id: &str) -> Entry {
        let message = NewMessage {
            id: id.into(),
            message_id: format!("{id}@sender.example"),
            tenant: "acme".into(),
            mail_from: "a@sender.example".into(),
            rcpts: vec!["b@acme.example".into()],
            owner: "gw-a".into(),
            epoch: 1,
            replicas: vec!["gw-b".into()],
            smtputf8: false,
        };
        Entry::new(message, 0)
    }

    fn stored(disk: &MemDisk, id: &str) -> Entry {
        let entry = entry(id);
        store_new(disk, &entry, RAW, Durability::Synced).unwrap();
        entry
    }

    fn flip_last_bit(disk: &MemDisk, path: &str) {
        let mut bytes = disk.read(path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        disk.write(path, &bytes).unwrap();
    }

    fn names(list: &[&str]) -> std::collections::BTreeSet<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn load_all_keeps_whole_copies_and_drops_every_lost_one() {
        let disk = MemDisk::default();
        let whole = stored(&disk, "whole");
        stored(&disk, "no-message");
        disk.remove(&message_path("no-message")).unwrap();
        stored(&disk, "flipped-message");
        flip_last_bit(&disk, &message_path("flipped-message"));
        stored(&disk, "flipped-entry");
        flip_last_bit(&disk, &entry_path("flipped-entry"));
        // An entry file that names another message is not this one's.
        let other = stored(&disk, "other");
        let entry_bytes = disk.read(&entry_path(&other.id)).unwrap();
        disk.write(&entry_path("misnamed"), &entry_bytes).unwrap();
        disk.write(&message_path("misnamed"), &spool_record::seal(RAW))
            .unwrap();
        disk.remove(&entry_path(&other.id)).unwrap();
        // Garbage: a temporary a crash left, a message without an entry.
        write_torn_entry(&disk, &whole).unwrap();
        disk.write(&message_path("orphan"), &spool_record::seal(RAW))
            .unwrap();

        let loaded = load_all(&disk).unwrap();
        assert_eq!(
            loaded.into_iter().collect::<Vec<_>>(),
            vec![(whole.id.clone(), whole)]
        );
        assert_eq!(disk.names(SPOOL_DIR), names(&["whole.json", "whole.msg"]));
    }

    #[test]
    fn a_torn_entry_write_leaves_half_a_temporary_and_the_entry_as_it_was() {
        let disk = MemDisk::default();
        let before = stored(&disk, "m");
        let mut after = before.clone();
        after.attempts = 7;
        write_torn_entry(&disk, &after).unwrap();
        let temp = format!("{SPOOL_DIR}/m.json.tmp");
        let whole = serde_json::to_vec(&after).unwrap();
        assert_eq!(disk.read(&temp).unwrap(), whole[..whole.len() / 2]);
        assert_eq!(load_entry(&disk, "m").unwrap(), before);
    }

    #[test]
    fn a_checked_read_refuses_changed_bytes_and_the_unchecked_one_returns_them() {
        let disk = MemDisk::default();
        stored(&disk, "m");
        assert_eq!(load_message(&disk, "m").unwrap(), RAW);
        assert_eq!(load_message_unchecked(&disk, "m").unwrap(), RAW);
        flip_last_bit(&disk, &message_path("m"));
        let error = load_message(&disk, "m").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let unchecked = load_message_unchecked(&disk, "m").unwrap();
        assert_eq!(unchecked.len(), RAW.len());
        assert_ne!(unchecked, RAW);
        assert_eq!(unchecked[..RAW.len() - 1], RAW[..RAW.len() - 1]);
    }

    #[test]
    fn remove_is_fine_with_missing_files_and_passes_on_any_other_error() {
        let disk = MemDisk::default();
        stored(&disk, "m");
        remove(&disk, "m").unwrap();
        assert!(disk.names(SPOOL_DIR).is_empty());
        remove(&disk, "m").unwrap();

        stored(&disk, "sick");
        disk.fail(&entry_path("sick"), io::ErrorKind::Other);
        let error = remove(&disk, "sick").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Other);
    }

    #[test]
    fn a_finished_quarantined_message_is_kept_in_quarantine_before_it_goes() {
        let disk = MemDisk::default();
        let mut entry = stored(&disk, "q");
        entry
            .rcpts
            .insert("b@acme.example".into(), RcptState::Quarantined);
        remove_finished(&disk, &entry).unwrap();
        assert!(disk.names(SPOOL_DIR).is_empty());
        assert!(is_quarantined(&disk, "q"));
        assert_eq!(disk.read(&quarantine_path("q")).unwrap(), RAW);

        // No bytes left here to keep (a torn copy dropped at boot): fine.
        let gone = stored(&disk, "gone");
        disk.remove(&message_path("gone")).unwrap();
        let mut gone_quarantined = gone.clone();
        gone_quarantined
            .rcpts
            .insert("b@acme.example".into(), RcptState::Quarantined);
        remove_finished(&disk, &gone_quarantined).unwrap();
        assert!(!is_quarantined(&disk, "gone"));

        // Bytes that cannot be read are not let go unkept.
        let mut sick = stored(&disk, "sick");
        sick.rcpts
            .insert("b@acme.example".into(), RcptState::Quarantined);
        disk.fail_reads(&message_path("sick"), io::ErrorKind::Other);
        assert!(remove_finished(&disk, &sick).is_err());
        assert!(disk.names(SPOOL_DIR).contains("sick.json"));
        assert!(!is_quarantined(&disk, "sick"));
    }

    #[test]
    fn a_delivered_message_goes_without_a_quarantine_copy() {
        let disk = MemDisk::default();
        let mut entry = stored(&disk, "d");
        entry
            .rcpts
            .insert("b@acme.example".into(), RcptState::Delivered);
        remove_finished(&disk, &entry).unwrap();
        assert!(disk.names(SPOOL_DIR).is_empty());
        assert!(!is_quarantined(&disk, "d"));
    }

    #[test]
    fn a_full_disk_fails_the_store_unless_the_short_write_bug_ignores_it() {
        for (path, what) in [
            (message_path("m"), "message"),
            (format!("{SPOOL_DIR}/m.json.tmp"), "entry"),
        ] {
            let disk = MemDisk::default();
            disk.fail(&path, io::ErrorKind::StorageFull);
            for durability in [
                Durability::Synced,
                Durability::TrustsFsyncRetry,
                Durability::NoParentSync,
            ] {
                let error = store_new(&disk, &entry("m"), RAW, durability).unwrap_err();
                assert_eq!(
                    error.kind(),
                    io::ErrorKind::StorageFull,
                    "{what}, {durability:?}"
                );
            }
            store_new(&disk, &entry("m"), RAW, Durability::IgnoresShortWrite)
                .unwrap_or_else(|e| panic!("{what}: the bug takes a full disk as written: {e}"));
        }
    }
}
