//! Both halves of the body's transparency (RFC 5321 §4.5.2) in one place:
//! [`encode_body`] dot-stuffs a message for the wire (the client),
//! [`read_body`] finds the end of data and unstuffs it (the server session).
//! They must agree byte for byte, or a message relayed through the gateway
//! changes on the way, so they live side by side.

/// The body as it goes on the wire, without the terminating ".\r\n", and the
/// size the server will count (before stuffing) for the SIZE parameter.
pub fn encode_body(message: &[u8]) -> (Vec<u8>, usize) {
    let mut wire = Vec::with_capacity(message.len() + message.len() / 32 + 2);
    let mut stuffed_dots = 0;
    let mut at_line_start = true;
    let mut index = 0;
    while let Some(&byte) = message.get(index) {
        if at_line_start && byte == b'.' {
            wire.push(b'.');
            stuffed_dots += 1;
        }
        match byte {
            b'\r' => {
                if message.get(index + 1) == Some(&b'\n') {
                    index += 1;
                }
                wire.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            b'\n' => {
                wire.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            _ => {
                wire.push(byte);
                at_line_start = false;
            }
        }
        index += 1;
    }
    if !at_line_start {
        wire.extend_from_slice(b"\r\n");
    }
    let size = wire.len() - stuffed_dots;
    (wire, size)
}

/// Where the body reader stands relative to line starts, which is all it
/// needs to find stuffed dots and the terminator across arbitrary splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyCursor {
    /// Just after a CRLF (or at the start of the body).
    LineStart,
    /// A "." at a line start.
    Dot,
    /// ".\r" at a line start: one "\n" away from the end of data.
    DotCr,
    /// Anywhere else in a line.
    Inside,
    /// A "\r" inside a line, not yet known to be part of a CRLF.
    InsideCr,
}

/// The body being received: stored while within the limit, only counted
/// beyond it so an oversized message costs no memory.
#[derive(Debug, Default)]
pub struct BodySink {
    pub bytes: Vec<u8>,
    pub counted: u64,
    pub oversized: bool,
}

impl BodySink {
    pub fn append(&mut self, chunk: &[u8], limit: u64) {
        self.counted = self.counted.saturating_add(chunk.len() as u64);
        if self.oversized {
            return;
        }
        if self.counted > limit {
            self.oversized = true;
            self.bytes = Vec::new();
        } else {
            self.bytes.extend_from_slice(chunk);
        }
    }
}

/// How far one call of [`read_body`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// Everything given was read; the body goes on.
    More,
    /// The terminating `CRLF . CRLF` was read.
    Terminator,
    /// A bare LF or CR: the message is refused (see [`read_body`]).
    Bare(BareNewline),
}

/// A line ending that is not CRLF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BareNewline {
    Lf,
    Cr,
}

impl BareNewline {
    /// As Postfix names it in its refusal.
    pub fn name(self) -> &'static str {
        match self {
            BareNewline::Lf => "<LF>",
            BareNewline::Cr => "<CR>",
        }
    }
}

/// Reads body bytes from `input` into `sink`. Returns how many bytes were
/// consumed and how far that got.
///
/// Only CRLF ends a line. A bare LF or CR stops the read: the gateway
/// refuses such a message, as Postfix does with `smtpd_forbid_bare_newline
/// = reject`. The receiver and the next hop might disagree about where its
/// lines (and so its end) are — the ambiguity SMTP smuggling exploits
/// (CVE-2023-51764) — and normalising would change the bytes a signature
/// covers.
pub fn read_body(
    cursor: &mut BodyCursor,
    input: &[u8],
    sink: &mut BodySink,
    limit: u64,
) -> (usize, BodyEnd) {
    let mut index = 0;
    while let Some(&byte) = input.get(index) {
        match *cursor {
            BodyCursor::LineStart => {
                if byte == b'.' {
                    *cursor = BodyCursor::Dot;
                    index += 1;
                } else {
                    *cursor = BodyCursor::Inside;
                }
            }
            // Any other character after a leading dot means the dot was
            // stuffing (RFC 5321 4.5.2): drop it and read the rest as usual.
            BodyCursor::Dot => {
                if byte == b'\r' {
                    *cursor = BodyCursor::DotCr;
                    index += 1;
                } else {
                    *cursor = BodyCursor::Inside;
                }
            }
            BodyCursor::DotCr => {
                if byte == b'\n' {
                    return (index + 1, BodyEnd::Terminator);
                }
                return (index, BodyEnd::Bare(BareNewline::Cr));
            }
            BodyCursor::Inside => {
                let rest = &input[index..];
                let run = rest
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .unwrap_or(rest.len());
                if run > 0 {
                    sink.append(&rest[..run], limit);
                    index += run;
                } else if byte == b'\r' {
                    *cursor = BodyCursor::InsideCr;
                    index += 1;
                } else {
                    return (index, BodyEnd::Bare(BareNewline::Lf));
                }
            }
            BodyCursor::InsideCr => {
                if byte != b'\n' {
                    return (index, BodyEnd::Bare(BareNewline::Cr));
                }
                sink.append(b"\r\n", limit);
                *cursor = BodyCursor::LineStart;
                index += 1;
            }
        }
    }
    (index, BodyEnd::More)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_crlf_normalised_dot_stuffed_and_crlf_terminated() {
        assert_eq!(encode_body(b""), (Vec::new(), 0));
        assert_eq!(encode_body(b"a"), (b"a\r\n".to_vec(), 3));
        assert_eq!(
            encode_body(b".\r\n..x\n.y\r.z"),
            (b"..\r\n...x\r\n..y\r\n..z\r\n".to_vec(), 16)
        );
    }

    /// Reads `input` as one body from its start.
    fn read(input: &[u8]) -> (Vec<u8>, usize, BodyEnd) {
        let (mut cursor, mut sink) = (BodyCursor::LineStart, BodySink::default());
        let (consumed, end) = read_body(&mut cursor, input, &mut sink, 1_000);
        (sink.bytes, consumed, end)
    }

    #[test]
    fn a_crlf_dot_crlf_ends_the_body_and_a_stuffed_dot_is_unstuffed() {
        assert_eq!(
            read(b"a\r\n..b\r\n.\r\nMAIL"),
            (b"a\r\n.b\r\n".to_vec(), 11, BodyEnd::Terminator)
        );
    }

    #[test]
    fn a_bare_lf_after_a_line_start_dot_is_refused_not_swallowed() {
        // `\r\n.\n` once lost its dot; `\n.\n` kept it. Both are refused now.
        assert_eq!(read(b"a\r\n.\nb").2, BodyEnd::Bare(BareNewline::Lf));
        assert_eq!(read(b"a\n.\nb").2, BodyEnd::Bare(BareNewline::Lf));
        assert_eq!(read(b"a\n.\r\n").2, BodyEnd::Bare(BareNewline::Lf));
    }

    #[test]
    fn a_bare_cr_is_refused_wherever_it_stands() {
        assert_eq!(read(b"a\rb").2, BodyEnd::Bare(BareNewline::Cr));
        assert_eq!(read(b"a\r\n.\r.\r\n").2, BodyEnd::Bare(BareNewline::Cr));
        assert_eq!(read(b"\r.\r\n").2, BodyEnd::Bare(BareNewline::Cr));
    }

    #[test]
    fn what_the_client_encodes_the_reader_reads_back_byte_for_byte() {
        let message = b".lead\r\n..two\r\nplain\r\n.\r\n";
        let (mut wire, _) = encode_body(message);
        wire.extend_from_slice(b".\r\n");
        let (stored, consumed, end) = read(&wire);
        assert_eq!(
            (stored.as_slice(), consumed, end),
            (&message[..], wire.len(), BodyEnd::Terminator)
        );
    }
}
