//! A final-destination mail server that records what it receives: tenant
//! mailbox hosts (`mbx-<tenant>`) and the senders' own domains, where the
//! gateway's DSNs land; in real mode (`mailsim serve`) the same server, with
//! a Maildir behind it.
//!
//! Its `mailbox_received` events are ground truth for the properties (was a
//! message delivered, to whom, intact, tagged as spam, bounced about what),
//! so it is an independent witness: SMTP is spoken by `mailin`, a
//! maintained IO-free server state machine nobody here wrote, and bounces
//! are read by [`dsn_reader`] with `mail-parser` directly. Nothing here is
//! the gateway's code, so a mistake in the gateway's SMTP (dot-stuffing,
//! line handling, 8-bit) or DSN formatting cannot be read back by the same
//! mistake. It records only what a real server would have: the envelope and
//! the exact bytes. It accepts every recipient in its domains and relays
//! nothing else.
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
//!
//! While a `mailbox_misbehaves` fault holds its domain it greylists,
//! tarpits, hangs up after DATA or resets mid-data (`mailbox_faults.rs`).
//!
//! Two things mailin 0.6.5 gets wrong are worked around at its edge, in
//! [`Conversation`]: it refuses the null reverse-path `MAIL FROM:<>` that
//! RFC 5321 §4.5.5 requires of bounces (its path parser wants one
//! character), so that line reaches it with a placeholder; and after an
//! error answer to the final dot it stays in its DATA state, so the answer
//! to a message is decided here and mailin is always told OK.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;

use crate::workload::ports;
use mailin::{Action, Handler, Response, SessionBuilder};
use models::env::{self, BoxConn, Env, SharedEnv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use traces::EventKind;

use crate::faults::MailboxMode;
use crate::workload::dsn_reader;
use crate::workload::mailbox_faults::{self, Misbehaviours, TARPIT_REPLY_MS};

/// A client silent this long is hung up on, so dead peers do not pile up.
const IDLE_MS: u64 = 60_000;

/// Generous: the mailbox must never be the reason a message is refused.
const MESSAGE_BYTES_MAX: usize = 10 * 1024 * 1024;
/// Bytes of one line (command or message) before the client is hung up on.
const LINE_BYTES_MAX: usize = 1024 * 1024;

/// What mailin is shown in place of the empty reverse-path; never a real
/// address (RFC 2606 `.invalid`).
const NULL_SENDER_PLACEHOLDER: &str = "null-reverse-path@mailin.invalid";

/// The enhanced status (RFC 3463 X.7.1: delivery not authorized, message
/// refused) of a whole message refused after DATA by a content filter.
const POLICY_REFUSAL_STATUS: &str = "5.7.1";

/// Keeps a message once it is accepted (a Maildir in real mode); an error
/// is answered 451, so the sender keeps it.
pub type Store = Rc<dyn Fn(&dyn Env, &str, &[String], &[u8]) -> io::Result<()>>;

/// The simulator's mailboxes keep nothing beyond their events.
pub fn keep_nothing() -> Store {
    Rc::new(|_, _, _, _| Ok(()))
}

/// Domains whose mail servers reject every message after DATA right now;
/// the engine sets it from the active `mailbox_rejects` faults.
#[derive(Default, Debug)]
pub struct Rejections(
    RefCell<BTreeSet<String>>,
    /// Domains whose servers misbehave otherwise (`mailbox_misbehaves`).
    pub Misbehaviours,
);

impl Rejections {
    pub fn set(&self, domains: BTreeSet<String>) {
        *self.0.borrow_mut() = domains;
    }

    /// The `mailbox_misbehaves` faults in force.
    pub fn misbehaviours(&self) -> &Misbehaviours {
        &self.1
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

/// Serves SMTP on `ports::SMTP` for `accept_domains` until the host dies:
/// the simulator's mailbox, which keeps nothing but its events.
pub async fn serve(env: SharedEnv, accept_domains: Vec<String>, rejections: Rc<Rejections>) {
    serve_storing(env, accept_domains, rejections, keep_nothing()).await;
}

/// The same server, handing each accepted message to `store` before its 250.
pub async fn serve_storing(
    env: SharedEnv,
    accept_domains: Vec<String>,
    rejections: Rc<Rejections>,
    store: Store,
) {
    let Ok(listener) = env.listen(ports::SMTP).await else {
        // Clients will see refused connections: a dead mailbox server.
        return;
    };
    let accept_domains = Rc::new(accept_domains);
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let witness = Witness {
                    env: env.clone(),
                    accept_domains: accept_domains.clone(),
                    transaction: Rc::default(),
                    peer: peer.clone(),
                    mail_from: String::new(),
                    rejections: rejections.clone(),
                };
                let task = serve_connection(
                    env.clone(),
                    witness,
                    peer,
                    rejections.clone(),
                    store.clone(),
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

/// The message in flight, shared between mailin's handler and the loop.
#[derive(Default)]
struct Transaction {
    mail_from: String,
    rcpts: Vec<String>,
    data: Vec<u8>,
    oversize: bool,
    /// Set at the final dot: the message awaits the loop's answer.
    complete: bool,
}

/// mailin's handler: checks recipients, collects the message.
struct Witness {
    env: SharedEnv,
    accept_domains: Rc<Vec<String>>,
    transaction: Rc<RefCell<Transaction>>,
    /// The client host and its envelope sender: greylisting's key.
    peer: String,
    mail_from: String,
    rejections: Rc<Rejections>,
}

impl Witness {
    /// Logs a refusal of `to` at RCPT and answers it, the enhanced
    /// `status` (RFC 3463) in both, so a DSN about it can be held to it.
    fn refuse_rcpt(&self, to: &str, code: u16, status: &str, text: &str) -> Response {
        self.env.observe(EventKind::MailboxRefused {
            msg: None,
            mail_from: Some(envelope_sender(&self.mail_from)),
            client: self.peer.clone(),
            rcpts: vec![to.to_string()],
            code,
            status: Some(status.to_string()),
            dsn_about: None,
            dsn_rcpts: Vec::new(),
        });
        Response::custom(code, format!("{status} {text}"))
    }
}

impl Handler for Witness {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.mail_from = from.to_string();
        mailin::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let unknown = self.rejections.misbehaviours().unknown_user(to);
        if is_ours(&self.accept_domains, to) && !unknown {
            let greylisted = self.rejections.misbehaviours().greylisted(
                &self.peer,
                &self.mail_from,
                to,
                self.env.now(),
            );
            if greylisted {
                return self.refuse_rcpt(to, 451, "4.7.1", "greylisted, try again later");
            }
            return mailin::response::OK;
        }
        match unknown {
            true => self.refuse_rcpt(to, 550, "5.1.1", "no such user here"),
            false => self.refuse_rcpt(to, 550, "5.7.1", "relaying denied"),
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        *self.transaction.borrow_mut() = Transaction {
            mail_from: envelope_sender(from),
            rcpts: to.to_vec(),
            ..Transaction::default()
        };
        mailin::response::OK
    }

    fn data(&mut self, line: &[u8]) -> io::Result<()> {
        let mut transaction = self.transaction.borrow_mut();
        if transaction.data.len() + line.len() > MESSAGE_BYTES_MAX {
            transaction.oversize = true;
        } else {
            transaction.data.extend_from_slice(line);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.transaction.borrow_mut().complete = true;
        // The real answer is the loop's; see the module doc.
        mailin::response::OK
    }
}

/// Runs one SMTP connection to its end; every IO error just ends it.
async fn serve_connection(
    env: SharedEnv,
    witness: Witness,
    client: String,
    rejections: Rc<Rejections>,
    store: Store,
    mut conn: BoxConn,
) {
    let transaction = witness.transaction.clone();
    let domains = witness.accept_domains.clone();
    let mode = || rejections.misbehaviours().mode_for(&domains);
    let mut session =
        SessionBuilder::new(env.host_name()).build(IpAddr::V4(Ipv4Addr::UNSPECIFIED), witness);
    let idle = Duration::from_millis(IDLE_MS);
    if !write(&*env, &mut conn, &render(&session.greeting()), idle).await {
        return;
    }
    let mut chunk = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    // The last message answered with nothing heard from the client since.
    let mut unheard: Option<Answered> = None;
    let reply_lost = |unheard: Option<Answered>| match unheard {
        Some(Answered::Kept(msg, rcpts)) => env.observe(EventKind::MailboxReplyLost { msg, rcpts }),
        Some(Answered::Refused(msg, rcpts)) => {
            env.observe(EventKind::MailboxRefusalUnheard { msg, rcpts })
        }
        None => {}
    };
    loop {
        while let Some(end) = memchr::memchr(b'\n', &pending) {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let response = session.process(&null_sender_shown_to_mailin(&line));
            let complete = std::mem::take(&mut transaction.borrow_mut().complete);
            let reply = if complete {
                let done = std::mem::take(&mut *transaction.borrow_mut());
                let (reply, answered) = answer(&*env, &client, &rejections, &store, done);
                if answered.is_some() {
                    unheard = answered;
                }
                let kept = matches!(unheard, Some(Answered::Kept(..)));
                if kept && mode() == Some(MailboxMode::DropAfterData) {
                    // Kept, and hung up on before the reply: never heard.
                    reply_lost(unheard);
                    return;
                }
                reply
            } else {
                render(&response)
            };
            if mode() == Some(MailboxMode::ResetMidData) && !transaction.borrow().data.is_empty() {
                // The stream dies with the message half read: nothing kept.
                return;
            }
            if !reply.is_empty() && mode() == Some(MailboxMode::Tarpit) {
                env.sleep(Duration::from_millis(TARPIT_REPLY_MS)).await;
            }
            if !reply.is_empty() && !write(&*env, &mut conn, &reply, idle).await {
                reply_lost(unheard);
                return;
            }
            if response.action == Action::Close {
                let _ = env::timeout(&*env, idle, conn.shutdown()).await;
                return;
            }
        }
        if pending.len() > LINE_BYTES_MAX {
            reply_lost(unheard);
            return;
        }
        match env::timeout(&*env, idle, conn.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                // The client spoke after our answer: it heard it.
                unheard = None;
                pending.extend_from_slice(&chunk[..n]);
            }
            // EOF, reset or idleness.
            _ => {
                reply_lost(unheard);
                return;
            }
        }
    }
}

/// A final reply whose loss the log must tell: the message (its
/// Message-ID) and recipients it concerns.
enum Answered {
    /// A 250: lost, the client may deliver again (`mailbox_reply_lost`).
    Kept(String, Vec<String>),
    /// A refusal after DATA: lost, the client never learned why the message
    /// failed (`mailbox_refusal_unheard`).
    Refused(String, Vec<String>),
}

/// Decides about a complete message: refused by a fault, too big, kept
/// (and recorded) or not kept. Returns the reply and, when it is a 250 or
/// a recorded refusal, what a lost reply would concern.
fn answer(
    env: &dyn Env,
    client: &str,
    rejections: &Rejections,
    store: &Store,
    done: Transaction,
) -> (Vec<u8>, Option<Answered>) {
    if done.oversize {
        return (
            b"552 5.3.4 message too big for this mailbox\r\n".to_vec(),
            None,
        );
    }
    let at_length = rejections.misbehaviours().refuses_at_length(&done.rcpts);
    if at_length || rejections.rejects(&done.rcpts) {
        let msg = refuse(env, client, &done.mail_from, &done.rcpts, &done.data);
        let reply = if at_length {
            mailbox_faults::long_refusal(554, POLICY_REFUSAL_STATUS)
        } else {
            format!("554 {POLICY_REFUSAL_STATUS} message rejected by policy\r\n").into_bytes()
        };
        return (reply, Some(Answered::Refused(msg, done.rcpts)));
    }
    if let Err(error) = store(env, &done.mail_from, &done.rcpts, &done.data) {
        tracing::warn!(host = env.host_name(), %error, "mailbox could not keep a message");
        return (
            b"451 4.3.0 mailbox write failed, try later\r\n".to_vec(),
            None,
        );
    }
    record(env, client, &done.mail_from, &done.rcpts, &done.data);
    let msg = dsn_reader::message_id(&done.data).unwrap_or_else(|| "<none>".to_string());
    (
        b"250 2.0.0 delivered to mailbox\r\n".to_vec(),
        Some(Answered::Kept(msg, done.rcpts)),
    )
}

/// The line as mailin is shown it: `MAIL FROM:<>` (any case, any
/// parameters) with the placeholder in the brackets.
fn null_sender_shown_to_mailin(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const PREFIX: &[u8] = b"MAIL FROM:<>";
    match line.get(..PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PREFIX) => {
            let mut shown = format!("MAIL FROM:<{NULL_SENDER_PLACEHOLDER}>").into_bytes();
            shown.extend_from_slice(&line[PREFIX.len()..]);
            std::borrow::Cow::Owned(shown)
        }
        _ => std::borrow::Cow::Borrowed(line),
    }
}

/// mailin's reply as bytes; empty for the lines it does not answer.
fn render(response: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    if response.action != Action::NoReply {
        // Writing into a Vec cannot fail.
        let _ = response.write_to(&mut out);
    }
    out
}

/// Writes and flushes within `limit`; false if the peer is gone or stuck.
async fn write(env: &dyn Env, conn: &mut BoxConn, bytes: &[u8], limit: Duration) -> bool {
    let io = async {
        conn.write_all(bytes).await?;
        conn.flush().await
    };
    matches!(env::timeout(env, limit, io).await, Ok(Ok(())))
}

/// Whether `rcpt` is in our domains (case-insensitive, RFC 4343), with a
/// local part.
fn is_ours(accept_domains: &[String], rcpt: &str) -> bool {
    rcpt.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && accept_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
    })
}

/// Logs one `mailbox_received` per recipient of a message `client`
/// delivered.
pub fn record(env: &dyn Env, client: &str, mail_from: &str, rcpts: &[String], data: &[u8]) {
    let msg = dsn_reader::message_id(data).unwrap_or_else(|| "<none>".to_string());
    let body_sha256 = traces::sha256_hex(data);
    let (additions, original) = take_off_additions(data);
    let original_sha256 = traces::sha256_hex(&original);
    let unflagged_sha256 = traces::sha256_hex(&take_off_fields(data, false).1);
    let spam_tagged = has_spam_flag(data);
    let bounce = dsn_reader::read(data).unwrap_or_default();
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
            dsn_about: bounce.about.clone(),
            dsn_rcpts: bounce.final_recipients.clone(),
            dsn_statuses: bounce.statuses.clone(),
            dsn_actions: bounce.actions.clone(),
            dsn_reporting_mta: bounce.reporting_mta.clone(),
            unflagged_sha256: unflagged_sha256.clone(),
            client: client.to_string(),
        });
    }
}

/// The envelope sender as the client gave it: "" for the null reverse path
/// mailin hands over as a placeholder.
fn envelope_sender(from: &str) -> String {
    if from == NULL_SENDER_PLACEHOLDER {
        String::new()
    } else {
        from.to_string()
    }
}

/// Logs one `mailbox_refused` for a message rejected after DATA; returns
/// its Message-ID.
fn refuse(env: &dyn Env, client: &str, mail_from: &str, rcpts: &[String], data: &[u8]) -> String {
    let bounce = dsn_reader::read(data).unwrap_or_default();
    let msg = dsn_reader::message_id(data).unwrap_or_else(|| "<none>".to_string());
    env.observe(EventKind::MailboxRefused {
        msg: Some(msg.clone()),
        mail_from: Some(mail_from.to_string()),
        client: client.to_string(),
        rcpts: rcpts.to_vec(),
        code: 554,
        status: Some(POLICY_REFUSAL_STATUS.to_string()),
        dsn_about: bounce.about,
        dsn_rcpts: bounce.final_recipients,
    });
    msg
}

/// Takes off the header fields a relay may add in transit, so what is left
/// can be compared byte for byte with what the sender built: `Received`
/// fields prepended at the very top (RFC 5321 §4.4), and `X-Spam-Flag`
/// anywhere in the header block. Returns their names, in the order they
/// stood, and the bytes without them. Folded continuation lines go with
/// their field.
pub fn take_off_additions(data: &[u8]) -> (Vec<String>, Vec<u8>) {
    take_off_fields(data, true)
}

/// [`take_off_additions`], with the `Received` fields at the top taken off
/// only when `received_too`: without them, what is left of a delivered
/// copy is what the gateway had (and scanned) before it tagged it.
fn take_off_fields(data: &[u8], received_too: bool) -> (Vec<String>, Vec<u8>) {
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
            Some(n) if received_too && at_top && n.eq_ignore_ascii_case(b"Received") => {
                Some("Received")
            }
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
        assert!(is_ours(&ours, "bob@ACME.example"));
        assert!(!is_ours(&ours, "bob@other.example"));
        assert!(!is_ours(&ours, "@acme.example"));
        assert!(!is_ours(&ours, "acme.example"));
        assert!(!is_ours(&ours, ""));
    }

    #[test]
    fn mailin_is_shown_a_placeholder_for_the_null_sender() {
        let shown = null_sender_shown_to_mailin(b"mail from:<> BODY=8BITMIME\r\n");
        assert_eq!(
            &*shown,
            format!("MAIL FROM:<{NULL_SENDER_PLACEHOLDER}> BODY=8BITMIME\r\n").as_bytes()
        );
        let other = b"MAIL FROM:<a@b>\r\n";
        assert_eq!(&*null_sender_shown_to_mailin(other), other);
    }
}
