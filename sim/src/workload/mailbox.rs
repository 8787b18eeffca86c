//! A final-destination mail server that records what it receives: tenant
//! mailbox hosts (`mbx-<tenant>`) and the senders' own domains, where the
//! gateway's DSNs land.
//!
//! Its `mailbox_received` events are ground truth for the properties (was a
//! message delivered, to whom, intact, tagged as spam, bounced about what),
//! so it uses the same SMTP session state machine as the gateway and records
//! only what a real server would have: the envelope and the exact bytes.
//! It accepts every recipient in its domains and relays nothing else.
//!
//! It also says when a 250 it gave may not have been heard: a session that
//! dies right after the reply to a message, before the client's next
//! command, is an RFC 1047 window on the delivery leg (`mailbox_reply_lost`)
//! — the one place a gateway that crashed mid-delivery may legitimately
//! deliver again, since it cannot know the message got through.
//!
//! What it refuses it records too (`mailbox_refused`): a recipient outside
//! its domains at RCPT, and, while a `mailbox_rejects` fault holds its
//! domain ([`Rejections`]), every message after DATA. A refused envelope or
//! message still reached this server, which is what tenant isolation and
//! the DSN rules judge.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use models::config::SMTP_PORT;
use models::env::{self, BoxConn, Env, SharedEnv};
use models::mime::dsn::{message_id, parse_dsn};
use models::smtp::session::{RcptCheck, Session, SessionLimits, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use traces::EventKind;

/// A client silent this long is hung up on, so dead peers do not pile up.
const IDLE_MS: u64 = 60_000;

/// Generous: the mailbox must never be the reason a message is refused.
const MAX_MESSAGE_BYTES: u64 = 10 * 1024 * 1024;
const MAX_RECIPIENTS: u32 = 100;
const MAX_LINE_BYTES: usize = 1000;

/// Domains whose mail servers reject every message after DATA right now;
/// the engine sets it from the active `mailbox_rejects` faults.
#[derive(Default, Debug)]
pub struct Rejections(RefCell<BTreeSet<String>>);

impl Rejections {
    pub fn set(&self, domains: BTreeSet<String>) {
        *self.0.borrow_mut() = domains;
    }

    /// Whether a message to any of `rcpts` is rejected now.
    fn rejects(&self, rcpts: &[String]) -> bool {
        let domains = self.0.borrow();
        rcpts.iter().any(|r| {
            r.rsplit_once('@')
                .is_some_and(|(_, d)| domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
        })
    }
}

/// Serves SMTP on `SMTP_PORT` for `accept_domains` until the host dies.
pub async fn serve(env: SharedEnv, accept_domains: Vec<String>, rejections: Rc<Rejections>) {
    let Ok(listener) = env.listen(SMTP_PORT).await else {
        // Clients will see refused connections: a dead mailbox server.
        return;
    };
    let accept_domains = std::rc::Rc::new(accept_domains);
    loop {
        match listener.accept().await {
            Ok((conn, _peer)) => {
                let task = serve_connection(
                    env.clone(),
                    accept_domains.clone(),
                    rejections.clone(),
                    conn,
                );
                env.spawn(Box::pin(task));
            }
            // An accept error does not advance simulated time; pause so a
            // persistent one cannot spin the host forever.
            Err(_) => env.sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Runs one SMTP connection to its end; every IO error just ends it.
async fn serve_connection(
    env: SharedEnv,
    accept_domains: std::rc::Rc<Vec<String>>,
    rejections: Rc<Rejections>,
    mut conn: BoxConn,
) {
    let limits = SessionLimits {
        hostname: env.host_name().to_string(),
        max_message_bytes: MAX_MESSAGE_BYTES,
        max_recipients: MAX_RECIPIENTS,
        max_line_bytes: MAX_LINE_BYTES,
    };
    let mut session = Session::new(limits);
    let idle = Duration::from_millis(IDLE_MS);
    if !write(&*env, &mut conn, &session.greeting(), idle).await {
        return;
    }
    let mut check = |rcpt: &str| {
        let answer = rcpt_check(&accept_domains, rcpt);
        if answer != RcptCheck::Accept {
            env.observe(EventKind::MailboxRefused {
                msg: None,
                mail_from: None,
                rcpts: vec![rcpt.to_string()],
                code: 550,
                dsn_about: None,
                dsn_rcpts: Vec::new(),
            });
        }
        answer
    };
    let mut chunk = vec![0u8; 16 * 1024];
    // The last message answered 250 with nothing heard from the client since.
    let mut unheard: Option<(String, Vec<String>)> = None;
    let reply_lost = |unheard: Option<(String, Vec<String>)>| {
        if let Some((msg, rcpts)) = unheard {
            env.observe(EventKind::MailboxReplyLost { msg, rcpts });
        }
    };
    loop {
        // Drain everything the session can do with what it has, before
        // reading more: the session wants no input while a message awaits
        // its answer, and here the answer is immediate.
        while let Some(step) = session.next(&mut check) {
            let reply = match step {
                Step::Write(bytes) => bytes,
                Step::Message { envelope, data } if rejections.rejects(&envelope.rcpts) => {
                    refuse(&*env, &envelope.mail_from, &envelope.rcpts, &data);
                    session.answer_message(554, "5.7.1", "message rejected by policy")
                }
                Step::Message { envelope, data } => {
                    record(&*env, &envelope.mail_from, &envelope.rcpts, &data);
                    let msg = message_id(&data).unwrap_or_else(|| "<none>".to_string());
                    unheard = Some((msg, envelope.rcpts.clone()));
                    session.answer_message(250, "2.0.0", "delivered to mailbox")
                }
                Step::Close => {
                    let _ = env::timeout(&*env, idle, conn.shutdown()).await;
                    return;
                }
            };
            if !write(&*env, &mut conn, &reply, idle).await {
                reply_lost(unheard);
                return;
            }
        }
        match env::timeout(&*env, idle, conn.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                // The client spoke after our answer: it heard it.
                unheard = None;
                session.push(&chunk[..n]);
            }
            // EOF, reset or idleness.
            _ => {
                reply_lost(unheard);
                return;
            }
        }
    }
}

/// Writes and flushes within `limit`; false if the peer is gone or stuck.
async fn write(env: &dyn Env, conn: &mut BoxConn, bytes: &[u8], limit: Duration) -> bool {
    let io = async {
        conn.write_all(bytes).await?;
        conn.flush().await
    };
    matches!(env::timeout(env, limit, io).await, Ok(Ok(())))
}

/// Accept exactly the recipients in our domains (case-insensitive, RFC 4343).
fn rcpt_check(accept_domains: &[String], rcpt: &str) -> RcptCheck {
    let ours = rcpt.rsplit_once('@').is_some_and(|(_, domain)| {
        accept_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    });
    if ours {
        RcptCheck::Accept
    } else {
        RcptCheck::RelayDenied
    }
}

/// Logs one `mailbox_received` per recipient of a delivered message.
pub fn record(env: &dyn Env, mail_from: &str, rcpts: &[String], data: &[u8]) {
    let msg = message_id(data).unwrap_or_else(|| "<none>".to_string());
    let body_sha256 = traces::sha256_hex(data);
    let (additions, original) = take_off_additions(data);
    let original_sha256 = traces::sha256_hex(&original);
    let spam_tagged = has_spam_flag(data);
    let (dsn_about, dsn_rcpts) = match parse_dsn(data) {
        Some(info) => (info.about_message_id, info.final_recipients),
        None => (None, Vec::new()),
    };
    for rcpt in rcpts {
        env.observe(EventKind::MailboxReceived {
            msg: msg.clone(),
            rcpt: rcpt.clone(),
            mail_from: mail_from.to_string(),
            size: data.len() as u64,
            body_sha256: body_sha256.clone(),
            additions: additions.clone(),
            original_sha256: original_sha256.clone(),
            spam_tagged,
            dsn_about: dsn_about.clone(),
            dsn_rcpts: dsn_rcpts.clone(),
        });
    }
}

/// Logs one `mailbox_refused` for a message rejected after DATA.
fn refuse(env: &dyn Env, mail_from: &str, rcpts: &[String], data: &[u8]) {
    let (dsn_about, dsn_rcpts) = match parse_dsn(data) {
        Some(info) => (info.about_message_id, info.final_recipients),
        None => (None, Vec::new()),
    };
    env.observe(EventKind::MailboxRefused {
        msg: Some(message_id(data).unwrap_or_else(|| "<none>".to_string())),
        mail_from: Some(mail_from.to_string()),
        rcpts: rcpts.to_vec(),
        code: 554,
        dsn_about,
        dsn_rcpts,
    });
}

/// Takes off the header fields a relay may add in transit, so what is left
/// can be compared byte for byte with what the sender built: `Received`
/// fields prepended at the very top (RFC 5321 §4.4), and `X-Spam-Flag`
/// anywhere in the header block. Returns their names, in the order they
/// stood, and the bytes without them. Folded continuation lines go with
/// their field.
pub fn take_off_additions(data: &[u8]) -> (Vec<String>, Vec<u8>) {
    let mut names = Vec::new();
    let mut kept = Vec::with_capacity(data.len());
    let mut at_top = true;
    let mut dropping = false;
    let mut in_header = true;
    let mut rest = data;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        if !in_header {
            kept.extend_from_slice(line);
            continue;
        }
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if bare.is_empty() {
            in_header = false;
            kept.extend_from_slice(line);
            continue;
        }
        if matches!(bare[0], b' ' | b'\t') {
            // A continuation belongs to the field above it.
            if !dropping {
                kept.extend_from_slice(line);
            }
            continue;
        }
        let name = bare
            .iter()
            .position(|&b| b == b':')
            .map(|colon| bare[..colon].trim_ascii());
        let added = match name {
            Some(n) if n.eq_ignore_ascii_case(b"X-Spam-Flag") => Some("X-Spam-Flag"),
            Some(n) if at_top && n.eq_ignore_ascii_case(b"Received") => Some("Received"),
            _ => None,
        };
        match added {
            Some(n) => {
                names.push(n.to_string());
                dropping = true;
            }
            None => {
                at_top = false;
                dropping = false;
                kept.extend_from_slice(line);
            }
        }
    }
    (names, kept)
}

/// True if the header block (not the body, where a forwarded message or a
/// spam sample could quote it) has `X-Spam-Flag: YES`.
pub fn has_spam_flag(data: &[u8]) -> bool {
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // The blank line ends the header block.
            return false;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.trim_ascii().eq_ignore_ascii_case(b"X-Spam-Flag")
            && value.trim_ascii().eq_ignore_ascii_case(b"YES")
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spam_flag_counts_only_in_the_header_block() {
        assert!(has_spam_flag(
            b"Subject: hi\r\nx-spam-flag:  yes \r\n\r\nbody\r\n"
        ));
        assert!(!has_spam_flag(
            b"Subject: hi\r\nX-Spam-Flag: NO\r\n\r\nbody\r\n"
        ));
        assert!(!has_spam_flag(b"Subject: hi\r\n\r\nX-Spam-Flag: YES\r\n"));
        assert!(!has_spam_flag(b""));
        assert!(!has_spam_flag(b"\xff\xfe:\x00"));
    }

    #[test]
    fn additions_in_transit_are_taken_off_and_named() {
        let sent = b"From: a@x\r\nSubject: hi\r\n\r\nReceived: in the body stays\r\n";
        let mut got = b"Received: from gw\r\n\tby mbx; Wed\r\nX-Spam-Flag: YES\r\n".to_vec();
        got.extend_from_slice(sent);
        let (names, original) = take_off_additions(&got);
        assert_eq!(names, ["Received", "X-Spam-Flag"]);
        assert_eq!(original, sent);
        // A Received below the sender's own first field is not an addition.
        let late = b"From: a@x\r\nReceived: late\r\n\r\n";
        assert_eq!(take_off_additions(late), (vec![], late.to_vec()));
        assert_eq!(take_off_additions(b""), (vec![], vec![]));
    }

    #[test]
    fn only_our_domains_are_accepted_whatever_their_case() {
        let ours = vec!["acme.example".to_string()];
        assert_eq!(rcpt_check(&ours, "bob@ACME.example"), RcptCheck::Accept);
        assert_eq!(
            rcpt_check(&ours, "bob@other.example"),
            RcptCheck::RelayDenied
        );
        assert_eq!(rcpt_check(&ours, "acme.example"), RcptCheck::RelayDenied);
        assert_eq!(rcpt_check(&ours, ""), RcptCheck::RelayDenied);
    }
}
