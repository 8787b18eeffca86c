//! Where a sweep keeps its files under `DIR`, and how they are written:
//!
//! - `seeds/seed-<N>.json` — one record per finished seed (the source of truth);
//! - `failures/seed-<N>.json` — a `traces::FailureFile` per failed seed;
//! - `traces/seed-<N>.jsonl` — the observation log of a failed run;
//! - `shrink/seed-<N>.log` — what `mailsim shrink` said, with `--shrink`,
//!   and `failures/seed-<N>.min.json`, the shrunk failure;
//! - `scenarios/seed-<N>.json`, `coverage/seed-<N>.json` — for `explore`:
//!   the scenario run N ran and the features it reached;
//! - `coverage.json` — `explore`'s coverage over time;
//! - `tmp/` — the workers' captured output while they run;
//! - `summary.json` — rebuilt from `seeds/` at the end of every sweep.
//!
//! Every file is written to a temporary name and renamed into place, so a
//! sweep killed at any moment leaves whole files or none: a resumed sweep
//! trusts whatever record it finds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::sweep::record::SeedRecord;

#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn seeds_dir(&self) -> PathBuf {
        self.root.join("seeds")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// `seeds/seed-<N>.json` and its siblings, relative to the root, as
    /// records name them.
    pub fn relative(kind: &str, seed: u64) -> String {
        match kind {
            "failures" => format!("failures/seed-{seed}.json"),
            "traces" => format!("traces/seed-{seed}.jsonl"),
            "shrink" => format!("shrink/seed-{seed}.log"),
            "shrunk" => format!("failures/seed-{seed}.min.json"),
            "coverage" => format!("coverage/seed-{seed}.json"),
            "scenarios" => format!("scenarios/seed-{seed}.json"),
            _ => format!("seeds/seed-{seed}.json"),
        }
    }

    pub fn path(&self, kind: &str, seed: u64) -> PathBuf {
        self.root.join(Self::relative(kind, seed))
    }

    /// Creates the directory tree.
    pub fn create(&self) -> Result<(), String> {
        // `shrink/` is made by the first shrink, so it only exists if useful.
        for dir in ["seeds", "failures", "traces", "tmp"] {
            let path = self.root.join(dir);
            std::fs::create_dir_all(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// Every record in `seeds/`, by seed. A record that cannot be read is
    /// reported in the second list and its seed runs again.
    pub fn read_records(&self) -> Result<(BTreeMap<u64, SeedRecord>, Vec<String>), String> {
        let dir = self.seeds_dir();
        let mut records = BTreeMap::new();
        let mut unreadable = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((records, unreadable)),
            Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
        };
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().to_string();
            // Temporary files of a killed writer are not records.
            let Some(number) = name
                .strip_prefix("seed-")
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if number.parse::<u64>().is_err() {
                continue;
            }
            let path = entry.path();
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    serde_json::from_str::<SeedRecord>(&text).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(record) => {
                    records.insert(record.seed, record);
                }
                Err(e) => unreadable.push(format!("{}: {e}", path.display())),
            }
        }
        Ok((records, unreadable))
    }

    pub fn write_record(&self, record: &SeedRecord) -> Result<(), String> {
        let text = serde_json::to_string_pretty(record).expect("records serialize");
        write_atomic(&self.path("seeds", record.seed), text.as_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers
/// and resumed sweeps never see half a file. (No fsync: the sweep protects
/// against being killed, not against the machine losing power.)
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    std::fs::write(&temp, bytes).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    std::fs::rename(&temp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
