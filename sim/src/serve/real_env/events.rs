//! A host's observation events in real mode: one JSONL line per event in
//! `DATA/<host>/events.jsonl`, the same line format as a simulation trace,
//! stamped with wall-clock microseconds since the Unix epoch. Best effort:
//! the log is for people, so a failed write never stops the host.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use traces::{Event, EventKind, Log};

pub struct EventSink {
    file: Option<RefCell<File>>,
}

impl EventSink {
    /// Appends to `path`; events are dropped if it cannot be opened.
    pub fn append_to(path: &Path) -> EventSink {
        let file = OpenOptions::new().create(true).append(true).open(path);
        EventSink {
            file: file.ok().map(RefCell::new),
        }
    }

    pub fn disabled() -> EventSink {
        EventSink { file: None }
    }

    pub fn record(&self, t_us: u64, host: &str, kind: EventKind) {
        let Some(file) = &self.file else {
            return;
        };
        let mut line = Log::line(&Event {
            t_us,
            host: host.to_string(),
            kind,
        });
        line.push('\n');
        // One write per line so concurrent readers see whole lines.
        let _ = file.borrow_mut().write_all(line.as_bytes());
    }
}
