//! The trace field every hop adds (RFC 5321 §4.4: a `Received:` line
//! prepended when a server takes responsibility for a message), and the loop
//! check those lines make possible: a message that already carries
//! [`HOPS_MAX`] of them has been going round in circles and is refused with
//! `554 5.4.6`, as Postfix does at its `hopcount_limit`.

/// Postfix's default `hopcount_limit`.
pub const HOPS_MAX: usize = 50;

/// Who handed the message over and who took it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop<'a> {
    /// The name the client gave in EHLO/HELO.
    pub helo: &'a str,
    /// Where the connection came from, as the transport names it.
    pub peer: &'a str,
    /// This host.
    pub by: &'a str,
    /// Our id for the message (the spool id).
    pub id: &'a str,
    /// RFC 5322 date of acceptance (see `mime::date`).
    pub date: &'a str,
}

/// The field, folded over three lines so none passes 78 characters for
/// ordinary names, ending in CRLF.
pub fn field(hop: &Hop) -> Vec<u8> {
    format!(
        "Received: from {} ({})\r\n\tby {} with ESMTP id {};\r\n\t{}\r\n",
        printable(hop.helo),
        printable(hop.peer),
        printable(hop.by),
        printable(hop.id),
        printable(hop.date),
    )
    .into_bytes()
}

/// How many `Received:` fields the header block of `message` holds (the
/// body, where a forwarded message may quote some, does not count).
pub fn hops(message: &[u8]) -> usize {
    message
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .filter(|line| {
            line.split(|&b| b == b':').next().is_some_and(|name| {
                name.len() < line.len() && name.eq_ignore_ascii_case(b"Received")
            })
        })
        .count()
}

/// Whether `message` has looped: it already carries the most hops we allow.
pub fn looped(message: &[u8]) -> bool {
    hops(message) >= HOPS_MAX
}

/// A name a peer chose must not break the field open: no control
/// characters, no parentheses that would end the comment early.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || c == '(' || c == ')' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop() -> Hop<'static> {
        Hop {
            helo: "client.test",
            peer: "mta-0",
            by: "gw-a",
            id: "00ff",
            date: "Thu, 1 Jan 1970 00:00:05 +0000",
        }
    }

    #[test]
    fn a_hop_is_one_folded_received_field_naming_both_ends() {
        let field = String::from_utf8(field(&hop())).unwrap();
        assert_eq!(
            field,
            "Received: from client.test (mta-0)\r\n\tby gw-a with ESMTP id 00ff;\r\n\tThu, 1 Jan 1970 00:00:05 +0000\r\n"
        );
        assert_eq!(hops(field.as_bytes()), 1);
    }

    #[test]
    fn a_hostile_helo_cannot_add_lines_or_close_the_comment() {
        let evil = Hop {
            helo: "x\r\nBcc: all@example.test",
            peer: "p) (q",
            ..hop()
        };
        let field = String::from_utf8(field(&evil)).unwrap();
        assert_eq!(field.matches("\r\n").count(), 3, "{field}");
        assert!(field.contains("(p_ _q)"), "{field}");
    }

    #[test]
    fn only_received_fields_of_the_header_block_are_counted() {
        let message = b"Received: a\r\nreceived: b\r\n\tfolded\r\nReceived-SPF: pass\r\nSubject: x\r\n\r\nReceived: quoted\r\n";
        assert_eq!(hops(message), 2);
        assert_eq!(hops(b""), 0);
        // A field is a name and a colon: a bare word is not one.
        assert_eq!(hops(b"Received\r\nreceived\r\nSubject: x\r\n\r\n"), 0);
    }

    #[test]
    fn fifty_hops_is_a_loop_and_forty_nine_is_not() {
        let mut message = "Received: x\r\n".repeat(HOPS_MAX - 1).into_bytes();
        message.extend_from_slice(b"Subject: y\r\n\r\nbody\r\n");
        assert!(!looped(&message));
        message.splice(0..0, b"Received: z\r\n".iter().copied());
        assert!(looped(&message));
    }
}
