//! `DIR/coverage.json`: coverage over time, one curve per campaign (a shard
//! of an `explore` run is one campaign; `merge` keeps every input's curves),
//! which `mailsim report` draws as a figure.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::explore::campaign::Point;
use crate::sweep::layout::write_atomic;

pub const FILE: &str = "coverage.json";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub campaigns: Vec<Curve>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Curve {
    /// `shard 0/4 of 0..2000, seed 7`.
    pub label: String,
    pub points: Vec<Point>,
}

impl History {
    /// The history in `dir`, if it has one.
    pub fn load(dir: &Path) -> Result<Option<History>, String> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: not a coverage history: {e}", path.display()))
    }

    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).expect("histories serialize") + "\n";
        write_atomic(&dir.join(FILE), text.as_bytes())
    }

    /// The curves of several directories, in order (for `merge`).
    pub fn merged(dirs: &[std::path::PathBuf]) -> Result<Option<History>, String> {
        let mut all = History::default();
        let mut any = false;
        for dir in dirs {
            if let Some(history) = History::load(dir)? {
                any = true;
                all.campaigns.extend(history.campaigns);
            }
        }
        Ok(any.then_some(all))
    }
}
