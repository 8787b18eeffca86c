//! Messages at the gateway's size limit, as RFC 1870 counts size: "the
//! number of octets, including CR-LF pairs, but not the SMTP DATA
//! command's terminating dot or doubled quoting dots, to be transmitted by
//! the SMTP client after receiving reply code 354" (§3). A limit is a
//! boundary, and boundaries are where off-by-ones live: the workload sends
//! one message exactly at the declared limit, one an octet under and one
//! an octet over, and `size_limit` judges what became of each.
//!
//! The limit is read from the scenario's configuration (the
//! `message_bytes_max` knob the gateway is deployed with), never from a
//! constant of the gateway's code.

use serde::{Deserialize, Serialize};

/// Where a message sits against the declared limit.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SizeEdge {
    /// One octet under the limit.
    Under,
    /// Exactly the limit: RFC 1870 says a server takes it.
    At,
    /// One octet over: refused with 552 (5.3.4).
    Over,
}

impl SizeEdge {
    pub const ALL: [SizeEdge; 3] = [SizeEdge::Under, SizeEdge::At, SizeEdge::Over];

    /// The message size, in octets, this edge asks for under `limit`.
    pub fn octets(self, limit: u64) -> u64 {
        match self {
            SizeEdge::Under => limit.saturating_sub(1),
            SizeEdge::At => limit,
            SizeEdge::Over => limit.saturating_add(1),
        }
    }
}

/// The size of `message` as RFC 1870 counts it once the client has sent
/// it: every octet, and the CRLF the client adds to a last line that
/// lacks one (so that the terminating dot stands on its own line).
pub fn rfc1870_octets(message: &[u8]) -> u64 {
    let closing = if message.is_empty() || message.ends_with(b"\r\n") {
        0
    } else {
        2
    };
    message.len() as u64 + closing
}

/// The longest filler line's text: well inside the 78 characters RFC 5322
/// §2.1.1 recommends, so padding never adds a hostile shape of its own.
const FILLER_LINE_CHARS_MAX: usize = 76;

/// Pads `message` with plain text lines at the end of its body until its
/// RFC 1870 size is exactly `octets`. None if it is already larger, or
/// the single octet left over cannot be a CRLF-ended line: the caller
/// builds a smaller body and the gap is always wider than that.
pub fn padded_to(mut message: Vec<u8>, octets: u64) -> Option<Vec<u8>> {
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        message.extend_from_slice(b"\r\n");
    }
    let mut left = usize::try_from(octets.checked_sub(message.len() as u64)?).ok()?;
    if left == 1 {
        return None;
    }
    let mut filler = b"size filler 0123456789 abcdefghijklmnopqrstuvwxyz "
        .iter()
        .copied()
        .cycle();
    while left > 0 {
        // A line takes its text and CRLF; never leave one lone octet.
        let whole_line = FILLER_LINE_CHARS_MAX + 2;
        let take = if left > whole_line + 1 {
            whole_line
        } else {
            left
        };
        message.extend(filler.by_ref().take(take - 2));
        message.extend_from_slice(b"\r\n");
        left -= take;
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_edges_straddle_the_limit() {
        let sizes: Vec<u64> = SizeEdge::ALL.iter().map(|e| e.octets(1000)).collect();
        assert_eq!(sizes, [999, 1000, 1001]);
    }

    #[test]
    fn rfc1870_counts_the_crlf_the_client_adds_to_a_last_line() {
        assert_eq!(rfc1870_octets(b""), 0);
        assert_eq!(rfc1870_octets(b"a\r\n"), 3);
        assert_eq!(rfc1870_octets(b"a\r\nb"), 6);
        // A leading dot is stuffed on the wire but not counted.
        assert_eq!(rfc1870_octets(b".\r\n"), 3);
    }

    #[test]
    fn padding_reaches_every_size_from_a_short_message_exactly() {
        let base = b"Subject: s\r\n\r\nhello".to_vec();
        for octets in 23..400u64 {
            let padded = padded_to(base.clone(), octets).expect("room to pad");
            assert_eq!(rfc1870_octets(&padded), octets, "asked {octets}");
            assert!(padded.ends_with(b"\r\n"));
            assert!(padded.starts_with(&base));
            // The last filler line may take one character more, so that no
            // lone octet is left over; its CR counts here too.
            let longest = padded.split(|&b| b == b'\n').map(<[u8]>::len).max();
            assert!(longest.unwrap_or(0) <= FILLER_LINE_CHARS_MAX + 2);
        }
    }

    #[test]
    fn padding_refuses_a_message_already_too_big_or_one_octet_short() {
        assert_eq!(padded_to(b"abc\r\n".to_vec(), 4), None);
        assert_eq!(padded_to(b"abc\r\n".to_vec(), 6), None);
        assert_eq!(padded_to(b"abc\r\n".to_vec(), 5), Some(b"abc\r\n".to_vec()));
    }
}
