//! The observation log: an append-only list of events, its JSONL form, and
//! the digest that stands for a whole run.
//!
//! The digest is SHA-256 over the exact JSONL bytes, so two runs have the same
//! digest only if every event, field and timestamp matches.

use std::io::{self, BufRead, Write};

use sha2::{Digest, Sha256};

use crate::event::{Event, EventKind};

/// Every event of one run, in the order observed.
#[derive(Default, Clone, Debug)]
pub struct Log {
    events: Vec<Event>,
}

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, t_us: u64, host: &str, kind: EventKind) {
        if let Some(last) = self.events.last() {
            // Simulated time never runs backwards within one run.
            assert!(last.t_us <= t_us, "log time went backwards");
        }
        self.events.push(Event {
            t_us,
            host: host.to_string(),
            kind,
        });
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// One event as its JSONL line (without the newline).
    pub fn line(event: &Event) -> String {
        serde_json::to_string(event).expect("events always serialize")
    }

    /// Writes the whole log as JSONL.
    pub fn write_jsonl(&self, mut out: impl Write) -> io::Result<()> {
        for event in &self.events {
            out.write_all(Self::line(event).as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Reads a JSONL log; an error names the 1-based line that failed.
    pub fn read_jsonl(input: impl BufRead) -> Result<Log, LineError> {
        let mut log = Log::new();
        for (index, line) in input.lines().enumerate() {
            let line_number = index + 1;
            let line = line.map_err(|e| LineError {
                line: line_number,
                message: e.to_string(),
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let event: Event = serde_json::from_str(&line).map_err(|e| LineError {
                line: line_number,
                message: e.to_string(),
            })?;
            log.events.push(event);
        }
        Ok(log)
    }

    /// SHA-256 of the JSONL form, as lowercase hex.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for event in &self.events {
            hasher.update(Self::line(event).as_bytes());
            hasher.update(b"\n");
        }
        hex(&hasher.finalize())
    }

    /// Index of the first event where two logs differ (None if identical).
    pub fn first_difference(&self, other: &Log) -> Option<usize> {
        let common = self.events.len().min(other.events.len());
        (0..common).find(|&i| self.events[i] != other.events[i]).or(
            if self.events.len() == other.events.len() {
                None
            } else {
                Some(common)
            },
        )
    }
}

/// A line of a JSONL file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
}

/// SHA-256 of bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Log {
        let mut log = Log::new();
        log.push(
            0,
            "world",
            EventKind::Phase {
                phase: "faults".into(),
            },
        );
        log.push(
            1_500,
            "mta-0",
            EventKind::SendAttempt {
                msg: "m1".into(),
                attempt: 1,
                mx: "gw-aws-us-east-1-0".into(),
            },
        );
        log
    }

    #[test]
    fn jsonl_round_trips_and_keeps_the_digest() {
        let log = sample();
        let mut bytes = Vec::new();
        log.write_jsonl(&mut bytes).unwrap();
        let back = Log::read_jsonl(&bytes[..]).unwrap();
        assert_eq!(back.digest(), log.digest());
        assert_eq!(back.first_difference(&log), None);
    }

    #[test]
    fn a_changed_timestamp_changes_the_digest_and_is_located() {
        let log = sample();
        let mut other = Log::new();
        other.push(
            0,
            "world",
            EventKind::Phase {
                phase: "faults".into(),
            },
        );
        other.push(
            1_501,
            "mta-0",
            EventKind::SendAttempt {
                msg: "m1".into(),
                attempt: 1,
                mx: "gw-aws-us-east-1-0".into(),
            },
        );
        assert_ne!(log.digest(), other.digest());
        assert_eq!(log.first_difference(&other), Some(1));
    }

    #[test]
    fn a_truncated_line_is_reported_with_its_number() {
        let text = "{\"t_us\":0,\"host\":\"world\",\"ev\":\"phase\",\"phase\":\"faults\"}\n{\"t_us\":1,\"ho";
        let err = Log::read_jsonl(text.as_bytes()).unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn an_unknown_field_is_an_error() {
        let text =
            "{\"t_us\":0,\"host\":\"world\",\"ev\":\"phase\",\"phase\":\"faults\",\"extra\":1}\n";
        let err = Log::read_jsonl(text.as_bytes()).unwrap_err();
        assert!(err.message.contains("extra"), "{err}");
    }

    #[test]
    fn an_unknown_event_kind_is_an_error() {
        let text = "{\"t_us\":0,\"host\":\"world\",\"ev\":\"teleported\"}\n";
        assert!(Log::read_jsonl(text.as_bytes()).is_err());
    }
}
