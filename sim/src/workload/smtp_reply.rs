//! Server replies as the senders' client reads them, written from RFC 5321
//! alone so that nothing here mirrors the gateway's own client:
//!
//! - §4.2: `Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//!   Reply-code [ SP textstring ] CRLF`, a reply code being three digits,
//!   the first 2 to 5, the second 0 to 5, the third 0 to 9;
//! - §4.2.1: every line of a multiline reply carries the same code, and
//!   the first digit says how the command fared (2 done, 3 go on, 4 not
//!   now, 5 never);
//! - §4.5.3.1.5: a reply line is at most 512 octets, code and CRLF
//!   included.
//!
//! The RFC sets no bound on how many lines a reply may have, so none is
//! invented here: the client bounds a whole reply by its deadline
//! instead (§4.5.3.2 times replies, it does not size them), and each line
//! by the 512 octets above. A line that breaks the grammar is an error,
//! not a guess: this is a witness, and a gateway that answers out of
//! grammar should be seen to.

use std::fmt;

/// The longest reply line in octets, code and CRLF included (RFC 5321
/// §4.5.3.1.5).
pub const REPLY_LINE_OCTETS_MAX: usize = 512;

/// One whole reply: its code and the text of each of its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerReply {
    /// The three-digit reply code (§4.2).
    pub code: u16,
    /// Each line's textstring, in order; empty where a line had none.
    pub lines: Vec<String>,
}

impl ServerReply {
    /// 2yz, Positive Completion: the command was done (§4.2.1).
    pub fn positive_completion(&self) -> bool {
        self.code / 100 == 2
    }

    /// 5yz, Permanent Negative Completion: the same command will not
    /// succeed later either (§4.2.1).
    pub fn permanent_negative(&self) -> bool {
        self.code / 100 == 5
    }
}

impl fmt::Display for ServerReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for text in self.lines.iter().filter(|text| !text.is_empty()) {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

/// Collects the lines of one reply until its last line comes.
#[derive(Debug, Default)]
pub struct ReplyLines {
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyLines {
    /// Takes one line, its CRLF already removed. Returns the reply once
    /// `line` was its last line; an error if `line` is not a reply line or
    /// changes the code of the reply it continues.
    pub fn take(&mut self, line: &[u8]) -> Result<Option<ServerReply>, String> {
        let shown = || String::from_utf8_lossy(line).into_owned();
        if line.len() + 2 > REPLY_LINE_OCTETS_MAX {
            return Err(format!(
                "reply line of {} octets, over RFC 5321's {REPLY_LINE_OCTETS_MAX}",
                line.len() + 2
            ));
        }
        let code = reply_code(line).ok_or_else(|| format!("no reply code in {:?}", shown()))?;
        if self.code.is_some_and(|earlier| earlier != code) {
            return Err(format!("reply code changed within a reply: {:?}", shown()));
        }
        self.code = Some(code);
        let (ends_reply, text) = match line.get(3) {
            None => (true, &line[3..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => {
                return Err(format!(
                    "neither SP nor \"-\" after the code: {:?}",
                    shown()
                ));
            }
        };
        self.lines.push(String::from_utf8_lossy(text).into_owned());
        if !ends_reply {
            return Ok(None);
        }
        self.code = None;
        Ok(Some(ServerReply {
            code,
            lines: std::mem::take(&mut self.lines),
        }))
    }
}

/// The reply code at the start of `line`, if its first three octets are
/// one (§4.2: `%x32-35 %x30-35 %x30-39`).
fn reply_code(line: &[u8]) -> Option<u16> {
    let [first, second, third] = *line.get(..3)? else {
        return None;
    };
    let in_range =
        (b'2'..=b'5').contains(&first) && (b'0'..=b'5').contains(&second) && third.is_ascii_digit();
    in_range.then(|| {
        [first, second, third]
            .iter()
            .fold(0u16, |code, digit| code * 10 + u16::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(lines: &[&[u8]]) -> Result<Vec<ServerReply>, String> {
        let mut reader = ReplyLines::default();
        let mut replies = Vec::new();
        for line in lines {
            replies.extend(reader.take(line)?);
        }
        Ok(replies)
    }

    #[test]
    fn a_multiline_reply_ends_at_the_line_with_a_space_after_its_code() {
        let replies = read_all(&[b"250-gw.example", b"250-SIZE 10240", b"250 8BITMIME"]);
        let reply = &replies.expect("grammatical")[0];
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["gw.example", "SIZE 10240", "8BITMIME"]);
        assert!(reply.positive_completion());
        assert_eq!(reply.to_string(), "250 gw.example SIZE 10240 8BITMIME");
    }

    #[test]
    fn a_bare_code_is_a_whole_reply_with_no_text() {
        let replies = read_all(&[b"354"]).expect("grammatical");
        assert_eq!(replies[0].code, 354);
        assert_eq!(replies[0].lines, [""]);
        assert!(!replies[0].positive_completion());
        assert!(!replies[0].permanent_negative());
    }

    #[test]
    fn the_first_digit_says_how_the_command_fared() {
        let replies = read_all(&[b"552 5.3.4 too big", b"452 4.5.3 too many"]).expect("ok");
        assert!(replies[0].permanent_negative());
        assert!(!replies[1].permanent_negative());
        assert!(!replies[1].positive_completion());
    }

    #[test]
    fn codes_outside_the_grammar_are_refused() {
        let outside = "150 preliminary|260 x|25|2a0 x|HTTP/1.1 400";
        for line in outside.split('|').map(str::as_bytes) {
            assert!(read_all(&[line]).is_err(), "{line:?} was taken");
        }
    }

    #[test]
    fn a_code_that_changes_within_a_reply_is_refused() {
        let outcome = read_all(&[b"250-first", b"251 second"]);
        assert!(outcome.unwrap_err().contains("changed"));
    }

    #[test]
    fn something_else_than_space_or_hyphen_after_the_code_is_refused() {
        assert!(read_all(&[b"250_x"]).is_err());
    }

    #[test]
    fn a_line_of_512_octets_is_taken_and_one_of_513_is_not() {
        let longest = format!("250 {}", "x".repeat(REPLY_LINE_OCTETS_MAX - 6));
        assert_eq!(longest.len() + 2, REPLY_LINE_OCTETS_MAX);
        assert!(read_all(&[longest.as_bytes()]).is_ok());
        let over = format!("{longest}x");
        assert!(read_all(&[over.as_bytes()]).unwrap_err().contains("513"));
    }
}
