//! The seam's eyes: shared state every host's `Env` writes the observation
//! log through, and the scan that spots a message's bytes on a disk or a
//! socket, so residency is judged from outside. A message is spotted by a
//! workload Message-ID anywhere in the bytes (the message, a replica, a
//! DSN's copied headers), and any mail is spotted by the value of a
//! `Message-ID:` header field (RFC 5322 §3.6.4), so the gateway's own
//! messages — DSNs, which carry ids the workload never made — are seen
//! wherever they land too.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use traces::{EventKind, Log, Presence};

/// Message-IDs of workload messages end with this; anything carrying one
/// (the message, a replica, a DSN's copied headers) counts as its bytes.
pub const MESSAGE_ID_SUFFIX: &[u8] = b"@mailsim.test>";

/// State shared by every host of one run (single-threaded, like the sim).
pub struct Observer {
    log: RefCell<Log>,
    /// Simulated time of the step being run, set by the driver before each
    /// step so every event of one step has one monotonic stamp.
    now_us: Cell<u64>,
    /// An engine without steps (madsim) reads its clock at each record.
    clock: Option<Box<dyn Fn() -> u64>>,
}

impl Observer {
    pub fn new() -> Self {
        Observer {
            log: RefCell::new(Log::new()),
            now_us: Cell::new(0),
            clock: None,
        }
    }

    /// An observer that stamps each event with `clock()` (simulated µs,
    /// never going backwards) instead of a time set by the driver.
    pub fn with_clock(clock: Box<dyn Fn() -> u64>) -> Self {
        Observer {
            clock: Some(clock),
            ..Observer::new()
        }
    }

    pub fn set_now_us(&self, now_us: u64) {
        assert!(now_us >= self.now_us.get(), "simulated time went backwards");
        self.now_us.set(now_us);
        // Log lines the run loop writes between host ticks carry this time.
        crate::logging::set_run_clock_us(now_us);
    }

    pub fn now_us(&self) -> u64 {
        self.now_us.get()
    }

    /// Simulated time now, without recording anything: the engine's clock
    /// where it has one, else the time the driver set for this step.
    pub fn instant_us(&self) -> u64 {
        self.clock
            .as_ref()
            .map_or(self.now_us.get(), |clock| clock().max(self.now_us.get()))
    }

    pub fn record(&self, host: &str, kind: EventKind) {
        if let Some(clock) = &self.clock {
            let now_us = clock().max(self.now_us.get());
            self.set_now_us(now_us);
        }
        self.log.borrow_mut().push(self.now_us.get(), host, kind);
    }

    pub fn take_log(&self) -> Log {
        crate::logging::clear_run_clock();
        self.log.replace(Log::new())
    }

    pub fn with_log<R>(&self, f: impl FnOnce(&Log) -> R) -> R {
        f(&self.log.borrow())
    }

    /// Records `bytes_seen` for every workload message id in `bytes` that is
    /// not already in `seen` (one record per place and message).
    pub fn spot_messages(
        &self,
        host: &str,
        region: &str,
        presence: Presence,
        place: &str,
        bytes: &[u8],
        seen: &mut BTreeSet<String>,
    ) {
        let spotted = message_ids_in(bytes)
            .into_iter()
            .chain(header_message_ids_in(bytes));
        for id in spotted {
            if seen.insert(id.clone()) {
                self.record(
                    host,
                    EventKind::BytesSeen {
                        msg: id,
                        region: region.to_string(),
                        presence,
                        place: place.to_string(),
                    },
                );
            }
        }
    }
}

impl Default for Observer {
    fn default() -> Self {
        Self::new()
    }
}

/// Every `<id@mailsim.test>` in `bytes`, as `id@mailsim.test`, in order.
pub fn message_ids_in(bytes: &[u8]) -> Vec<String> {
    let mut ids = Vec::new();
    let suffix = MESSAGE_ID_SUFFIX;
    let mut from = 0;
    while let Some(offset) = find(&bytes[from..], suffix) {
        let end = from + offset; // index of '@'
        // Walk back to the '<' that opens the id; ids are short and printable.
        let start = bytes[..end]
            .iter()
            .rev()
            .take(128)
            .position(|&b| b == b'<' || b.is_ascii_whitespace())
            .map(|back| end - back);
        if let Some(start) = start
            && start > 0
            && bytes[start - 1] == b'<'
            && start < end
        {
            let local = &bytes[start..end];
            if let Ok(local) = std::str::from_utf8(local) {
                ids.push(format!("{local}@mailsim.test"));
            }
        }
        from = end + suffix.len();
    }
    ids
}

/// The longest Message-ID taken from a header field; anything longer is
/// not one (RFC 5322 §2.1.1 keeps a line within 998 characters, and ids
/// in practice are far shorter).
const HEADER_ID_BYTES_MAX: usize = 250;

/// The value of every `Message-ID:` header field in `bytes` (the field
/// name in any case, at the start of a line, RFC 5322 §3.6.4 and §1.2.2),
/// without its angle brackets, in order.
pub fn header_message_ids_in(bytes: &[u8]) -> Vec<String> {
    const NAME: &[u8] = b"message-id:";
    let line_starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
    let mut ids = Vec::new();
    for start in line_starts {
        let Some(name) = bytes.get(start..start + NAME.len()) else {
            continue;
        };
        if !name.eq_ignore_ascii_case(NAME) {
            continue;
        }
        let value = &bytes[start + NAME.len()..];
        let Some(open) = value
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .filter(|&i| value[i] == b'<')
        else {
            continue;
        };
        let inner = &value[open + 1..value.len().min(open + 1 + HEADER_ID_BYTES_MAX)];
        let Some(close) = inner.iter().position(|&b| b == b'>') else {
            continue;
        };
        if let Ok(id) = std::str::from_utf8(&inner[..close])
            && id.contains('@')
            && !id.contains(|c: char| c.is_ascii_whitespace() || c == '<')
        {
            ids.push(id.to_string());
        }
    }
    ids
}

/// The first `needle` in `haystack`. Every socket read and disk write of a
/// gateway host goes through here, so it is memchr's vectorised search, not
/// a byte loop (about 2% of a madsim run before).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_found_in_headers_and_copied_headers() {
        let text = b"Message-ID: <m3.s1@mailsim.test>\r\nIn-Reply-To: <x@other>\r\n\r\n--b\r\nMessage-ID: <m9.s1@mailsim.test>\r\n";
        assert_eq!(
            message_ids_in(text),
            vec![
                "m3.s1@mailsim.test".to_string(),
                "m9.s1@mailsim.test".to_string()
            ]
        );
    }

    #[test]
    fn a_message_id_field_is_read_in_any_case_and_with_folding() {
        let text = b"From: x\r\nMESSAGE-ID:\r\n\t<dsn.a1-dsn0@gw-aws-us-east-1-0>\r\n\
                     message-id: <m1.s2@mailsim.test>\r\n";
        assert_eq!(
            header_message_ids_in(text),
            vec![
                "dsn.a1-dsn0@gw-aws-us-east-1-0".to_string(),
                "m1.s2@mailsim.test".to_string()
            ]
        );
    }

    #[test]
    fn a_message_id_not_at_a_line_start_or_not_bracketed_is_not_read() {
        assert!(header_message_ids_in(b"X-Old-Message-ID: <a@b>\r\n").is_empty());
        assert!(header_message_ids_in(b"Message-ID: a@b\r\n").is_empty());
        assert!(header_message_ids_in(b"Message-ID: <no at sign>\r\n").is_empty());
        assert!(header_message_ids_in(b"Message-ID: <a@b").is_empty());
        assert!(header_message_ids_in(b"essage-ID: <a@b>").is_empty());
    }

    #[test]
    fn a_suffix_without_an_opening_bracket_is_not_an_id() {
        assert!(message_ids_in(b"foo m3@mailsim.test> bar").is_empty());
        assert!(message_ids_in(b"@mailsim.test>").is_empty());
    }
}
