//! The durable spool: one message as two files, its raw bytes
//! (`spool/<id>.msg`, written once) and its envelope and per-recipient state
//! (`spool/<id>.json`, replaced atomically through a temporary file).
//!
//! Durability follows POSIX: a file's bytes need its fsync, its name needs
//! the directory's fsync. `store_new` does both before it returns, which is
//! what lets ingress say 250 (RFC 5321 §6.1).

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};
use traces::Verdict;

use crate::env::Disk;

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
            is_dsn: message.mail_from.is_empty(),
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
}

impl Entry {
    pub fn pending_rcpts(&self) -> Vec<String> {
        self.rcpts
            .iter()
            .filter(|(_, state)| !state.is_final())
            .map(|(rcpt, _)| rcpt.clone())
            .collect()
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

/// How careful a write is; anything but `Synced` exists only for the
/// catalogue's bugs (`ack-before-fsync`, `ack-before-dir-sync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    Synced,
    /// The files are fsynced, their directory is not: a crash can lose
    /// the names, and with them the files.
    FilesOnly,
    Unsynced,
}

/// Writes a new message and its entry; durable on return when `Synced`.
pub fn store_new(
    disk: &dyn Disk,
    entry: &Entry,
    raw: &[u8],
    durability: Durability,
) -> io::Result<()> {
    disk.create_dir_all(SPOOL_DIR)?;
    let path = message_path(&entry.id);
    disk.write(&path, raw)?;
    if durability != Durability::Unsynced {
        disk.sync(&path)?;
    }
    store_entry(disk, entry, durability)
}

/// Replaces the entry file atomically (write temp, fsync, rename, fsync dir).
pub fn store_entry(disk: &dyn Disk, entry: &Entry, durability: Durability) -> io::Result<()> {
    let json = serde_json::to_vec(entry).map_err(io::Error::other)?;
    let temp = format!("{SPOOL_DIR}/{}.json.tmp", entry.id);
    disk.write(&temp, &json)?;
    if durability != Durability::Unsynced {
        disk.sync(&temp)?;
    }
    disk.rename(&temp, &entry_path(&entry.id))?;
    if durability == Durability::Synced {
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
    let bytes = disk.read(&entry_path(id))?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub fn load_message(disk: &dyn Disk, id: &str) -> io::Result<Vec<u8>> {
    disk.read(&message_path(id))
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
    if entry
        .rcpts
        .values()
        .any(|state| matches!(state, RcptState::Quarantined))
    {
        match load_message(disk, &entry.id) {
            Ok(raw) => quarantine(disk, &entry.id, &raw)?,
            // No bytes here to keep (a torn copy dropped at boot).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    remove(disk, &entry.id)
}

/// Every complete entry on disk, by id. Entries whose message file is
/// missing or whose JSON is torn were never acknowledged from this node's
/// copy alone; they are dropped (the files are removed).
pub fn load_all(disk: &dyn Disk) -> io::Result<BTreeMap<String, Entry>> {
    let mut entries = BTreeMap::new();
    let names = disk.list(SPOOL_DIR)?;
    for name in &names {
        let Some(id) = name.strip_suffix(".json") else {
            continue;
        };
        let parsed = disk
            .read(&entry_path(id))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Entry>(&bytes).ok());
        let has_message = names.iter().any(|n| *n == format!("{id}.msg"));
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

/// Keeps a quarantined message in this (in-jurisdiction) node's quarantine.
pub fn quarantine(disk: &dyn Disk, id: &str, raw: &[u8]) -> io::Result<()> {
    disk.create_dir_all(QUARANTINE_DIR)?;
    let path = format!("{QUARANTINE_DIR}/{id}.msg");
    disk.write(&path, raw)?;
    disk.sync(&path)?;
    disk.sync_dir(QUARANTINE_DIR)
}
