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

/// Reads body bytes from `input` into `sink`. Returns how many bytes were
/// consumed and whether the terminating `CRLF . CRLF` was among them.
///
/// Only CRLF starts a line: a bare LF or CR never ends the data nor unstuffs
/// a dot (that ambiguity is what SMTP smuggling exploits), but both are
/// stored as CRLF so the message has one line-ending convention.
pub fn read_body(
    cursor: &mut BodyCursor,
    input: &[u8],
    sink: &mut BodySink,
    limit: u64,
) -> (usize, bool) {
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
                    return (index + 1, true);
                }
                sink.append(b"\r", limit);
                *cursor = BodyCursor::InsideCr;
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
                    sink.append(b"\r", limit);
                    *cursor = BodyCursor::InsideCr;
                    index += 1;
                } else {
                    sink.append(b"\r\n", limit);
                    index += 1;
                }
            }
            BodyCursor::InsideCr => {
                sink.append(b"\n", limit);
                if byte == b'\n' {
                    *cursor = BodyCursor::LineStart;
                    index += 1;
                } else {
                    *cursor = BodyCursor::Inside;
                }
            }
        }
    }
    (index, false)
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
}
