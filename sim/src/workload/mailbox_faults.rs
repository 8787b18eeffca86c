//! Mail servers misbehaving the ways real ones do, while a
//! `mailbox_misbehaves` fault holds their domain (the engine sets it, the
//! server in `mailbox.rs` asks here):
//!
//! - greylisting (RFC 6647): 451 at RCPT for a (client, sender, recipient)
//!   triple first seen less than [`GREYLIST_MS`] ago; the server logs it as
//!   `mailbox_refused` with code 451. A client that retries later gets in;
//!   one that takes a 4xx for a 5xx bounces mail that was never refused;
//! - a tarpit: every reply [`TARPIT_REPLY_MS`] late;
//! - a hang-up after DATA: the message is kept (and logged received), the
//!   connection closed before the reply, and the lost reply logged
//!   (`mailbox_reply_lost`), so the client's retry is an excused duplicate;
//! - a reset in the middle of the data: nothing kept, the stream just dies;
//! - users unknown: every recipient refused at RCPT with 550 5.1.1, logged
//!   as `mailbox_refused` with code 550 and no message (the server has
//!   seen only the envelope);
//! - a long refusal: every message refused at the final dot with a 554
//!   5.7.1 of [`LONG_REFUSAL_LINES`] lines ([`long_refusal`]), logged as a
//!   `mailbox_rejects` refusal is.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::faults::MailboxMode;

/// How long a greylisted triple must wait before a retry is let in.
pub const GREYLIST_MS: u64 = 3_000;

/// How late a tarpit's every reply is.
pub const TARPIT_REPLY_MS: u64 = 1_500;

/// How many lines a long refusal has: with [`LONG_REFUSAL_LINE_BYTES`],
/// about 58 KiB, a policy text with its links and appeal procedure. RFC
/// 5321 bounds a reply line (512 octets), not the number of lines.
pub const LONG_REFUSAL_LINES: usize = 120;

/// Each line of a long refusal, its code and CRLF included.
const LONG_REFUSAL_LINE_BYTES: usize = 490;

/// A multi-line `code` reply (RFC 5321 §4.2.1: `code-` on every line but
/// the last) of [`LONG_REFUSAL_LINES`] lines, each `status` and then
/// numbered explanatory text, [`LONG_REFUSAL_LINE_BYTES`] long.
pub fn long_refusal(code: u16, status: &str) -> Vec<u8> {
    let mut reply = Vec::with_capacity(LONG_REFUSAL_LINES * LONG_REFUSAL_LINE_BYTES);
    for line in 1..=LONG_REFUSAL_LINES {
        let separator = if line == LONG_REFUSAL_LINES { ' ' } else { '-' };
        let mut text = format!(
            "{code}{separator}{status} Message refused by the recipient organisation's policy ({line} of {LONG_REFUSAL_LINES}):"
        );
        while text.len() + 2 < LONG_REFUSAL_LINE_BYTES {
            text.push_str(" see the policy");
        }
        text.truncate(LONG_REFUSAL_LINE_BYTES - 2);
        reply.extend_from_slice(text.as_bytes());
        reply.extend_from_slice(b"\r\n");
    }
    reply
}

/// Which domains' servers misbehave now, and the greylist's memory.
#[derive(Default, Debug)]
pub struct Misbehaviours {
    /// Domain (lower case) → mode.
    modes: RefCell<BTreeMap<String, MailboxMode>>,
    /// (client, sender, recipient), lower case → when first seen.
    greylist_seen: RefCell<BTreeMap<(String, String, String), Duration>>,
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

impl Misbehaviours {
    /// Puts exactly these domains' misbehaviour in force.
    pub fn set(&self, modes: BTreeMap<String, MailboxMode>) {
        *self.modes.borrow_mut() = modes;
    }

    /// The mode in force for a server that accepts `domains`, if any (one
    /// server per domain in the simulator; the first listed wins).
    pub fn mode_for(&self, domains: &[String]) -> Option<MailboxMode> {
        let modes = self.modes.borrow();
        domains
            .iter()
            .find_map(|d| modes.get(&d.to_ascii_lowercase()).copied())
    }

    /// Whether `rcpt`'s domain no longer knows its users.
    pub fn unknown_user(&self, rcpt: &str) -> bool {
        self.modes.borrow().get(&domain_of(rcpt)) == Some(&MailboxMode::UnknownUser)
    }

    /// Whether a message to `rcpts` is refused at length: one of their
    /// domains refuses that way now.
    pub fn refuses_at_length(&self, rcpts: &[String]) -> bool {
        let modes = self.modes.borrow();
        rcpts
            .iter()
            .any(|r| modes.get(&domain_of(r)) == Some(&MailboxMode::LongRefusal))
    }

    /// Whether RCPT `rcpt` from `sender` via `client` is greylisted at
    /// `now`: its domain greylists and the triple is younger than
    /// [`GREYLIST_MS`] (first sight starts the clock).
    pub fn greylisted(&self, client: &str, sender: &str, rcpt: &str, now: Duration) -> bool {
        let greylisting = self.modes.borrow().get(&domain_of(rcpt)) == Some(&MailboxMode::Greylist);
        if !greylisting {
            return false;
        }
        let key = (
            client.to_ascii_lowercase(),
            sender.to_ascii_lowercase(),
            rcpt.to_ascii_lowercase(),
        );
        let first = *self.greylist_seen.borrow_mut().entry(key).or_insert(now);
        now.saturating_sub(first) < Duration::from_millis(GREYLIST_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_greylisted_triple_is_let_in_once_it_has_waited() {
        let faults = Misbehaviours::default();
        let rcpt = "bob@Acme.example";
        assert!(!faults.greylisted("gw-a", "x@s.example", rcpt, ms(0)));
        faults.set([("acme.example".to_string(), MailboxMode::Greylist)].into());
        assert!(faults.greylisted("gw-a", "x@s.example", rcpt, ms(1_000)));
        assert!(faults.greylisted("gw-a", "x@s.example", rcpt, ms(3_999)));
        assert!(!faults.greylisted("gw-a", "x@s.example", rcpt, ms(4_000)));
        // Another client starts its own wait.
        assert!(faults.greylisted("gw-b", "x@s.example", rcpt, ms(4_000)));
        // Other domains are not greylisted.
        assert!(!faults.greylisted("gw-a", "x@s.example", "eve@other.example", ms(0)));
    }

    #[test]
    fn a_long_refusal_is_one_multi_line_reply_of_lines_within_rfc_5321() {
        let reply = long_refusal(554, "5.7.1");
        let text = String::from_utf8(reply).unwrap();
        let lines: Vec<&str> = text.split_inclusive("\r\n").collect();
        assert_eq!(lines.len(), LONG_REFUSAL_LINES);
        for (n, line) in lines.iter().enumerate() {
            assert!(line.len() <= 512, "line {n}: {} octets", line.len());
            let last = n + 1 == LONG_REFUSAL_LINES;
            let prefix = if last { "554 5.7.1 " } else { "554-5.7.1 " };
            assert!(line.starts_with(prefix), "line {n}: {line:?}");
        }
        assert!(text.len() > 50 * 1024, "{} bytes", text.len());
        let faults = Misbehaviours::default();
        let rcpts = vec!["a@x.example".to_string(), "b@Acme.example".to_string()];
        assert!(!faults.refuses_at_length(&rcpts));
        faults.set([("acme.example".to_string(), MailboxMode::LongRefusal)].into());
        assert!(faults.refuses_at_length(&rcpts));
        assert!(!faults.refuses_at_length(&rcpts[..1]));
    }

    #[test]
    fn a_server_misbehaves_in_its_domains_mode_and_only_while_set() {
        let faults = Misbehaviours::default();
        let domains = vec!["acme.example".to_string()];
        faults.set([("acme.example".to_string(), MailboxMode::Tarpit)].into());
        assert!(!faults.unknown_user("bob@acme.example"));
        assert_eq!(faults.mode_for(&domains), Some(MailboxMode::Tarpit));
        assert_eq!(faults.mode_for(&["other.example".to_string()]), None);
        faults.set(BTreeMap::new());
        assert_eq!(faults.mode_for(&domains), None);
    }
}
