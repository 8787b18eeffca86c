//! The SMTP client: one lockstep mail transaction over a connection from the
//! seam. Delivery uses it to hand mail to tenants' mailbox servers, and
//! simulated senders use it to submit mail to the gateway.
//!
//! Its central promise is an honest failure class. Anything that goes wrong
//! before the final ".\r\n" could have been sent means the message was
//! definitely not accepted ([`ClientError::BeforeDot`]); once the final dot
//! may have reached the server, a missing reply means we cannot know
//! ([`ClientError::AfterDot`], RFC 1047) and a retry may duplicate. Properties
//! rely on that distinction to tell a legitimate duplicate from a bug.
//!
//! The body goes out with CRLF line endings and dot-stuffed, matching what
//! `super::session` stores, so a message relayed through the gateway
//! arrives byte for byte as the session received it. The client never puts
//! a bare CR or LF on the wire: it writes them as CRLF. For relayed mail
//! that is a no-op, since the session refuses a body holding one; for a
//! sender's own text it is the only line ending SMTP has.
//! Replies are parsed here rather than with smtp-proto's `ResponseReceiver`,
//! which neither checks that continuation lines repeat the code nor bounds
//! the code to 2xx-5xx.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::env::{BoxConn, Env, timeout};
use crate::smtp::body::encode_body;

/// A reply line longer than this is not SMTP (RFC 5321 §4.5.3.1.5 allows
/// 512 octets); give up rather than buffer it.
const REPLY_LINE_BYTES_MAX: usize = 64 * 1024;

/// The most of a reply's text kept; later lines are read and dropped. RFC
/// 5321 bounds a reply's lines, not how many there are: a refusal that
/// explains itself over 100 KiB is still a refusal, and taking it for a
/// broken server would offer the message again at every retry.
const REPLY_TEXT_BYTES_MAX: usize = 64 * 1024;

/// One complete server reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of every line (enhanced status code included), joined by "\n".
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            text: text.into(),
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    pub fn is_permanent_failure(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The enhanced status code the reply opens with (RFC 2034 §4, RFC 3463
    /// §2: `class.subject.detail`, subject and detail up to three digits),
    /// if it gives one whose class agrees with the reply code's first
    /// digit; what a DSN reports for the recipient (RFC 3464 §2.3.4).
    pub fn enhanced_status(&self) -> Option<&str> {
        let first = self.text.split_whitespace().next()?;
        let mut parts = first.split('.');
        let class = parts.next()?;
        let numbers_ok = |part: Option<&str>| {
            part.is_some_and(|p| {
                (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
            })
        };
        let class_ok = class.len() == 1
            && u16::from(class.as_bytes()[0].wrapping_sub(b'0')) == self.code / 100;
        (class_ok && numbers_ok(parts.next()) && numbers_ok(parts.next()) && parts.next().is_none())
            .then_some(first)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text.replace('\n', " / "))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// Failed before the final dot was sent (connect, greeting, MAIL, RCPT,
    /// DATA 354, or a write of the body): definitely not accepted.
    BeforeDot(String),
    /// The final ".\r\n" was written but no complete reply came (timeout,
    /// EOF, reset): indefinite (RFC 1047).
    AfterDot(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::BeforeDot(why) => write!(f, "failed before the final dot: {why}"),
            ClientError::AfterDot(why) => write!(f, "no reply after the final dot: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Every reply of one transaction that got far enough to have replies worth
/// judging; the caller decides what each means for its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub greeting: Reply,
    pub mail: Reply,
    /// Empty when MAIL was refused (no RCPT was sent).
    pub rcpts: Vec<(String, Reply)>,
    /// The reply after the final dot. None if no RCPT was accepted (then no
    /// DATA was sent) or DATA was answered with something other than 354.
    pub data: Option<Reply>,
    /// The reply to the DATA command itself, if it was sent.
    pub data_start: Option<Reply>,
}

impl Transaction {
    /// True when the server took responsibility for the message for the
    /// recipients it accepted.
    pub fn accepted(&self) -> bool {
        self.data.as_ref().is_some_and(Reply::is_positive)
    }
}

/// One message to hand over: the name we give in EHLO, the envelope, and
/// the bytes (CRLF line endings, not yet dot-stuffed).
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub helo: &'a str,
    pub mail_from: &'a str,
    pub rcpts: &'a [String],
    pub message: &'a [u8],
    /// The envelope or headers need SMTPUTF8 (RFC 6531): the sender
    /// declared it to us, so the next hop must offer it too.
    pub smtputf8: bool,
    /// How long to wait for the reply to the final dot, when not the
    /// `timeout_ms` every other reply gets. Only the `dot-timeout-bounces`
    /// bug sets it (short); RFC 5321 §4.5.3.2 asks 10 minutes.
    pub dot_reply_timeout_ms: Option<u64>,
}

/// How a handover ended when no error got in the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handover {
    /// The transaction ran; its replies say what was taken.
    Sent(Transaction),
    /// Not sent: the next hop lacks an extension the message needs.
    NotSent(Lacking),
}

/// An SMTP extension the message needs and the next hop did not offer in
/// its EHLO, with the enhanced status a bounce reports for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lacking {
    pub extension: &'static str,
    pub status: &'static str,
}

impl Lacking {
    /// 8-bit bytes for a hop without 8BITMIME: "conversion required but not
    /// supported" (RFC 3463 5.6.3).
    fn eight_bit_mime() -> Lacking {
        Lacking {
            extension: "8BITMIME",
            status: "5.6.3",
        }
    }

    /// UTF-8 envelope or headers for a hop without SMTPUTF8 (RFC 6531
    /// §3.5: 5.6.7).
    fn smtputf8() -> Lacking {
        Lacking {
            extension: "SMTPUTF8",
            status: "5.6.7",
        }
    }
}

impl fmt::Display for Lacking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} the next hop does not offer {}, which this message needs",
            self.status, self.extension
        )
    }
}

/// Runs one mail transaction on `conn`, which must be freshly connected (the
/// greeting is read first). Every read and write is bounded by `timeout_ms`
/// on the engine's clock. QUIT is sent at the end and its reply not awaited.
pub async fn send_mail(
    env: &dyn Env,
    conn: &mut BoxConn,
    helo: &str,
    mail_from: &str,
    rcpts: &[String],
    message: &[u8],
    timeout_ms: u64,
) -> Result<Transaction, ClientError> {
    let outgoing = Outgoing {
        helo,
        mail_from,
        rcpts,
        message,
        smtputf8: false,
        dot_reply_timeout_ms: None,
    };
    let go = async { true };
    match send_mail_guarded(env, conn, outgoing, timeout_ms, go).await? {
        Handover::Sent(transaction) => Ok(transaction),
        Handover::NotSent(lacking) => Err(ClientError::BeforeDot(lacking.to_string())),
    }
}

/// [`send_mail`], asking `guard` for permission right before the
/// final dot — the last moment the transaction can still be abandoned with
/// nothing delivered (the connection is dropped; RFC 5321 has no other way
/// out of DATA). A gateway uses it to confirm it still owns the message.
pub async fn send_mail_guarded(
    env: &dyn Env,
    conn: &mut BoxConn,
    outgoing: Outgoing<'_>,
    timeout_ms: u64,
    guard: impl std::future::Future<Output = bool>,
) -> Result<Handover, ClientError> {
    let Outgoing {
        helo,
        mail_from,
        rcpts,
        message,
        dot_reply_timeout_ms,
        ..
    } = outgoing;
    check_helo(helo).map_err(ClientError::BeforeDot)?;
    check_address(mail_from).map_err(ClientError::BeforeDot)?;
    for rcpt in rcpts {
        check_address(rcpt).map_err(ClientError::BeforeDot)?;
    }
    let mut wire = Wire {
        env,
        conn,
        limit: Duration::from_millis(timeout_ms),
        inbox: Vec::new(),
    };
    let before_dot = |stage: &str, why: String| ClientError::BeforeDot(format!("{stage}: {why}"));

    let greeting = wire
        .read_reply()
        .await
        .map_err(|why| before_dot("greeting", why))?;
    if !greeting.is_positive() {
        wire.quit().await;
        return Err(ClientError::BeforeDot(format!(
            "greeting refused: {greeting}"
        )));
    }

    let ehlo = wire
        .command(&format!("EHLO {helo}"))
        .await
        .map_err(|why| before_dot("EHLO", why))?;
    let extensions = if ehlo.is_positive() {
        Some(ehlo)
    } else if ehlo.is_permanent_failure() {
        let helo_reply = wire
            .command(&format!("HELO {helo}"))
            .await
            .map_err(|why| before_dot("HELO", why))?;
        if !helo_reply.is_positive() {
            wire.quit().await;
            return Err(ClientError::BeforeDot(format!(
                "HELO refused: {helo_reply}"
            )));
        }
        None
    } else {
        wire.quit().await;
        return Err(ClientError::BeforeDot(format!("EHLO refused: {ehlo}")));
    };
    let offers = |keyword: &str| {
        extensions
            .as_ref()
            .is_some_and(|ehlo| ehlo_has_keyword(ehlo, keyword))
    };

    // RFC 6531 §3.2 and RFC 6152 §3: a message that needs an extension the
    // next hop lacks is not sent; we do not downgrade, the caller bounces.
    let eight_bit = !message.is_ascii();
    // The SMTPUTF8 parameter a sender gave says the message may need it; it
    // needs it only if its envelope or header fields are not ASCII (RFC
    // 6531 §3.2, §3.4; Postfix delivers such mail to a hop without the
    // extension too). Bouncing an ASCII message for it loses good mail.
    let needs_smtputf8 = outgoing.smtputf8
        && (!outgoing.mail_from.is_ascii()
            || outgoing.rcpts.iter().any(|r| !r.is_ascii())
            || !header_block(message).is_ascii());
    let lacking = if needs_smtputf8 && !offers("SMTPUTF8") {
        Some(Lacking::smtputf8())
    } else if eight_bit && !offers("8BITMIME") {
        Some(Lacking::eight_bit_mime())
    } else {
        None
    };
    if let Some(lacking) = lacking {
        wire.quit().await;
        return Ok(Handover::NotSent(lacking));
    }

    let (body, message_size) = encode_body(message);
    let mut mail_command = format!("MAIL FROM:<{mail_from}>");
    if offers("SIZE") {
        mail_command.push_str(&format!(" SIZE={message_size}"));
    }
    if eight_bit {
        mail_command.push_str(" BODY=8BITMIME");
    }
    if outgoing.smtputf8 && offers("SMTPUTF8") {
        mail_command.push_str(" SMTPUTF8");
    }
    let mail = wire
        .command(&mail_command)
        .await
        .map_err(|why| before_dot("MAIL", why))?;
    let mut transaction = Transaction {
        greeting,
        mail,
        rcpts: Vec::new(),
        data: None,
        data_start: None,
    };
    if !transaction.mail.is_positive() {
        wire.quit().await;
        return Ok(Handover::Sent(transaction));
    }

    for rcpt in rcpts {
        let reply = wire
            .command(&format!("RCPT TO:<{rcpt}>"))
            .await
            .map_err(|why| before_dot("RCPT", why))?;
        transaction.rcpts.push((rcpt.clone(), reply));
    }
    if !transaction
        .rcpts
        .iter()
        .any(|(_, reply)| reply.is_positive())
    {
        wire.quit().await;
        return Ok(Handover::Sent(transaction));
    }

    let data_start = wire
        .command("DATA")
        .await
        .map_err(|why| before_dot("DATA", why))?;
    let go_ahead = data_start.code == 354;
    transaction.data_start = Some(data_start);
    if !go_ahead {
        wire.quit().await;
        return Ok(Handover::Sent(transaction));
    }

    // The body never contains a line that is just ".", so until the
    // terminator is written the server cannot have accepted anything.
    wire.write(&body)
        .await
        .map_err(|why| before_dot("body", why))?;
    if !guard.await {
        return Err(ClientError::BeforeDot(
            "abandoned before the final dot".to_string(),
        ));
    }
    wire.write(b".\r\n")
        .await
        .map_err(|why| ClientError::AfterDot(format!("final dot: {why}")))?;
    if let Some(limit_ms) = dot_reply_timeout_ms {
        wire.limit = Duration::from_millis(limit_ms);
    }
    let data = wire
        .read_reply()
        .await
        .map_err(|why| ClientError::AfterDot(format!("reply to the final dot: {why}")))?;
    transaction.data = Some(data);
    if !env.buggify("delivery.drop_after_reply") {
        wire.quit().await;
    }
    // Fired: the connection is dropped with no QUIT, so the server sees
    // its reply go unanswered (RFC 1047 from its side).
    Ok(Handover::Sent(transaction))
}

/// The connection plus the bytes read but not yet parsed, which may already
/// hold the start of the next reply.
struct Wire<'a> {
    env: &'a dyn Env,
    conn: &'a mut BoxConn,
    limit: Duration,
    inbox: Vec<u8>,
}

impl Wire<'_> {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let conn = &mut *self.conn;
        let sent = async {
            conn.write_all(bytes).await?;
            conn.flush().await
        };
        match timeout(self.env, self.limit, sent).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("write failed: {error}")),
            Err(_) => Err("write timed out".to_string()),
        }
    }

    async fn read_reply(&mut self) -> Result<Reply, String> {
        let conn = &mut *self.conn;
        let inbox = &mut self.inbox;
        let received = async {
            let mut chunk = [0u8; 4096];
            let mut reader = ReplyReader::default();
            loop {
                if let Some(reply) = reader.take(inbox)? {
                    return Ok(reply);
                }
                if inbox.len() > REPLY_LINE_BYTES_MAX {
                    return Err(format!(
                        "reply line longer than {REPLY_LINE_BYTES_MAX} bytes"
                    ));
                }
                let read = conn
                    .read(&mut chunk)
                    .await
                    .map_err(|error| format!("read failed: {error}"))?;
                if read == 0 {
                    return Err("connection closed".to_string());
                }
                inbox.extend_from_slice(&chunk[..read]);
            }
        };
        match timeout(self.env, self.limit, received).await {
            Ok(outcome) => outcome,
            Err(_) => Err("timed out waiting for a reply".to_string()),
        }
    }

    async fn command(&mut self, line: &str) -> Result<Reply, String> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// Politeness only: the outcome is already decided, so the 221 is not
    /// awaited. Waiting would only delay the caller's record of it — for
    /// the gateway, the window in which a delivered message is not yet
    /// marked delivered on its replicas, and a failover would redeliver it.
    async fn quit(&mut self) {
        let _ = self.write(b"QUIT\r\n").await;
    }
}

/// A reply read a line at a time: the lines taken so far.
#[derive(Default)]
struct ReplyReader {
    code: Option<u16>,
    lines: Vec<String>,
    text_bytes: usize,
}

impl ReplyReader {
    /// Takes the complete lines at the front of `inbox`; the reply once its
    /// last line is among them (Ok(None): more bytes are needed). Err means
    /// the server is not speaking SMTP.
    fn take(&mut self, inbox: &mut Vec<u8>) -> Result<Option<Reply>, String> {
        let mut offset = 0;
        let mut done = None;
        while let Some(newline) = inbox[offset..].iter().position(|&b| b == b'\n') {
            let raw = &inbox[offset..offset + newline];
            offset += newline + 1;
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            let (line_code, is_last, text) = parse_reply_line(line)?;
            if self.code.is_some_and(|first| first != line_code) {
                let printable = String::from_utf8_lossy(line);
                return Err(format!("reply code changed mid-reply in {printable:?}"));
            }
            self.code = Some(line_code);
            if self.text_bytes + text.len() <= REPLY_TEXT_BYTES_MAX {
                self.text_bytes += text.len() + 1;
                self.lines.push(String::from_utf8_lossy(text).into_owned());
            }
            if is_last {
                done = Some(Reply {
                    code: line_code,
                    text: std::mem::take(&mut self.lines).join("\n"),
                });
                break;
            }
        }
        inbox.drain(..offset);
        Ok(done)
    }
}

/// One reply line without its line ending: (code, whether it is the last
/// line, its text).
fn parse_reply_line(line: &[u8]) -> Result<(u16, bool, &[u8]), String> {
    let malformed = || format!("malformed reply line {:?}", String::from_utf8_lossy(line));
    let (digits, rest) = line.split_at_checked(3).ok_or_else(malformed)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    let code = digits
        .iter()
        .fold(0u16, |code, digit| code * 10 + u16::from(digit - b'0'));
    if !(200..600).contains(&code) {
        let printable = String::from_utf8_lossy(line);
        return Err(format!("reply code out of range in {printable:?}"));
    }
    match rest.split_first() {
        None => Ok((code, true, &[][..])),
        Some((b' ', text)) => Ok((code, true, text)),
        Some((b'-', text)) => Ok((code, false, text)),
        Some(_) => Err(malformed()),
    }
}

#[cfg(test)]
fn take_reply(inbox: &mut Vec<u8>) -> Result<Option<Reply>, String> {
    ReplyReader::default().take(inbox)
}

/// Whether an EHLO reply lists `keyword` (on a line after the greeting one).
fn ehlo_has_keyword(ehlo: &Reply, keyword: &str) -> bool {
    ehlo.text.lines().skip(1).any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case(keyword))
    })
}

/// The header fields of `message`: everything before the first empty
/// line (all of it if there is none).
fn header_block(message: &[u8]) -> &[u8] {
    message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message, |end| &message[..end])
}

/// Refuses what would break the command line it is written into: a CR or
/// LF would end the command and start another (an address carrying
/// `\r\nRCPT TO:<x>` would add a recipient), an angle bracket would end
/// the path early.
fn check_address(address: &str) -> Result<(), String> {
    if address
        .chars()
        .any(|c| c.is_control() || c == '<' || c == '>')
    {
        return Err(format!(
            "address {address:?} cannot be written in a command"
        ));
    }
    Ok(())
}

/// The same for the HELO name, which is one word and never empty
/// (RFC 5321 4.1.1.1).
fn check_helo(helo: &str) -> Result<(), String> {
    if helo.is_empty() || helo.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("HELO name {helo:?} cannot be written in a command"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{BoxFut, Disk, Listener};
    use crate::smtp::session::{RcptCheck, Session, SessionLimits, Step};
    use tokio::io::{AsyncBufReadExt, BufReader, DuplexStream};

    #[test]
    fn the_enhanced_status_is_read_only_when_its_class_matches_the_reply() {
        let reply = Reply::new;
        assert_eq!(
            reply(550, "5.1.1 no such user").enhanced_status(),
            Some("5.1.1")
        );
        assert_eq!(
            reply(554, "5.7.1\nrejected").enhanced_status(),
            Some("5.7.1")
        );
        assert_eq!(
            reply(451, "4.7.1 greylisted").enhanced_status(),
            Some("4.7.1")
        );
        assert_eq!(reply(550, "Mailbox unavailable").enhanced_status(), None);
        assert_eq!(reply(550, "4.1.1 wrong class").enhanced_status(), None);
        assert_eq!(reply(550, "5.1 too short").enhanced_status(), None);
        assert_eq!(reply(550, "5.1.1234 too long").enhanced_status(), None);
        assert_eq!(reply(550, "5.x.1 not digits").enhanced_status(), None);
        assert_eq!(reply(550, "").enhanced_status(), None);
    }

    /// Enough of an engine for the client: a clock to time out on.
    struct TestEnv;

    impl Env for TestEnv {
        fn host_name(&self) -> &str {
            "client.test"
        }
        fn now(&self) -> Duration {
            unimplemented!("the client never reads the clock")
        }
        fn sleep(&self, duration: Duration) -> BoxFut<'static, ()> {
            Box::pin(tokio::time::sleep(duration))
        }
        fn connect(&self, _host: &str, _port: u16) -> BoxFut<'static, std::io::Result<BoxConn>> {
            unimplemented!("tests hand the client a connection")
        }
        fn listen(&self, _port: u16) -> BoxFut<'static, std::io::Result<Box<dyn Listener>>> {
            unimplemented!("the client never listens")
        }
        fn disk(&self) -> &dyn Disk {
            unimplemented!("the client never touches the disk")
        }
        fn random_u64(&self) -> u64 {
            unimplemented!("the client draws no randomness")
        }
        fn spawn(&self, _task: BoxFut<'static, ()>) {
            unimplemented!("the client spawns nothing")
        }
        fn observe(&self, _event: traces::EventKind) {
            unimplemented!("the client reports nothing")
        }
    }

    /// The server side of a scripted conversation.
    struct Script {
        lines: BufReader<DuplexStream>,
    }

    impl Script {
        async fn send(&mut self, reply: &str) {
            self.lines
                .get_mut()
                .write_all(reply.as_bytes())
                .await
                .expect("client is listening");
        }

        async fn line(&mut self) -> String {
            let mut line = Vec::new();
            self.lines
                .read_until(b'\n', &mut line)
                .await
                .expect("client is talking");
            String::from_utf8(line).expect("client sends UTF-8 commands")
        }

        /// Reads a command, checks it, answers it.
        async fn expect(&mut self, command: &str, reply: &str) {
            assert_eq!(self.line().await, format!("{command}\r\n"));
            self.send(reply).await;
        }

        /// The raw body lines up to and including the terminator.
        async fn body(&mut self) -> String {
            let mut body = String::new();
            loop {
                let line = self.line().await;
                body.push_str(&line);
                if line == ".\r\n" || line.is_empty() {
                    return body;
                }
            }
        }
    }

    fn pair() -> (BoxConn, Script) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        (
            Box::new(client),
            Script {
                lines: BufReader::new(server),
            },
        )
    }

    /// The scripted conversations' message: "hi" from s@r.test, sent as
    /// client.test, within 5 s.
    async fn send_hi(conn: &mut BoxConn, rcpts: &[String]) -> Result<Transaction, ClientError> {
        send_mail(
            &TestEnv,
            conn,
            "client.test",
            "s@r.test",
            rcpts,
            b"hi",
            5_000,
        )
        .await
    }

    fn recipients(list: &[&str]) -> Vec<String> {
        list.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn what_would_break_a_command_line_is_refused_before_it_is_written() {
        for fine in ["a@b.test", "", "\"odd local\"@b.test", "postmaster"] {
            assert_eq!(check_address(fine), Ok(()), "{fine:?}");
        }
        for bad in [
            "a@b.test>\r\nRCPT TO:<x@evil.test",
            "a@b.test\n",
            "a\u{0}@b.test",
            "<a@b.test",
            "a@b.test>",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_helo("gw-1.mail.test"), Ok(()));
        for bad in ["", "gw 1", "gw\r\nMAIL FROM:<>", "gw\t1", "gw\u{7f}"] {
            assert!(check_helo(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn what_a_dsn_s_diagnostic_quotes_reads_as_the_server_said_it() {
        // These texts end up in a DSN's Diagnostic-Code and in the log.
        let reply = Reply::new(550, "5.1.1 no such user\nreally");
        assert_eq!(reply.to_string(), "550 5.1.1 no such user / really");
        assert_eq!(
            ClientError::BeforeDot("connect refused".into()).to_string(),
            "failed before the final dot: connect refused"
        );
        assert_eq!(
            ClientError::AfterDot("timed out".into()).to_string(),
            "no reply after the final dot: timed out"
        );
        assert_eq!(
            Lacking::eight_bit_mime().to_string(),
            "5.6.3 the next hop does not offer 8BITMIME, which this message needs"
        );
    }

    #[test]
    fn replies_are_parsed_single_and_multi_line() {
        let mut inbox = b"250-gw.test hi\r\n250-SIZE 10\r\n250 8BITMIME\r\n221 bye\r\n".to_vec();
        let reply = take_reply(&mut inbox)
            .expect("well formed")
            .expect("complete");
        assert_eq!(reply.code, 250);
        assert_eq!(reply.text, "gw.test hi\nSIZE 10\n8BITMIME");
        assert!(ehlo_has_keyword(&reply, "size"));
        assert!(!ehlo_has_keyword(&reply, "PIPELINING"));
        assert_eq!(inbox, b"221 bye\r\n");
        let mut bare = b"354\r\n".to_vec();
        assert_eq!(
            take_reply(&mut bare),
            Ok(Some(Reply {
                code: 354,
                text: String::new()
            }))
        );
        let mut partial = b"250-a\r\n250 b".to_vec();
        assert_eq!(take_reply(&mut partial), Ok(None));
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for bad in [
            &b"25\r\n"[..],
            b"abc hello\r\n",
            b"250-a\r\n251 b\r\n",
            b"250xhello\r\n",
            b"999 no\r\n",
            b"\xff\xff\xff\r\n",
            b"\r\n",
        ] {
            let mut inbox = bad.to_vec();
            assert!(take_reply(&mut inbox).is_err(), "{bad:?} accepted");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_dot_stuffs_the_body_on_the_wire() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_mail(
            &TestEnv,
            &mut conn,
            "client.test",
            "s@remote.test",
            &rcpts,
            b"Subject: dots\r\n\r\n.\r\n..two\r\nend",
            5_000,
        );
        let script = async move {
            server.send("220 gw.test ESMTP\r\n").await;
            server
                .expect(
                    "EHLO client.test",
                    "250-gw.test\r\n250-SIZE 1000\r\n250 PIPELINING\r\n",
                )
                .await;
            server
                .expect("MAIL FROM:<s@remote.test> SIZE=32", "250 2.1.0 ok\r\n")
                .await;
            server
                .expect("RCPT TO:<alice@example.com>", "250 2.1.5 ok\r\n")
                .await;
            server.expect("DATA", "354 go ahead\r\n").await;
            let body = server.body().await;
            server.send("250 2.0.0 queued\r\n").await;
            server.expect("QUIT", "221 bye\r\n").await;
            body
        };
        let (outcome, body) = tokio::join!(client, script);
        assert_eq!(body, "Subject: dots\r\n\r\n..\r\n...two\r\nend\r\n.\r\n");
        let transaction = outcome.expect("transaction completes");
        assert!(transaction.accepted());
        assert_eq!(transaction.data_start.map(|r| r.code), Some(354));
        assert_eq!(
            transaction.data,
            Some(Reply {
                code: 250,
                text: "2.0.0 queued".to_string()
            })
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_reports_partial_recipient_acceptance() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com", "nobody@example.com", "bob@example.com"]);
        let client = send_mail(
            &TestEnv,
            &mut conn,
            "client.test",
            "",
            &rcpts,
            b"hi\r\n",
            5_000,
        );
        let script = async move {
            server.send("220 gw.test\r\n").await;
            server.expect("EHLO client.test", "250 gw.test\r\n").await;
            server.expect("MAIL FROM:<>", "250 ok\r\n").await;
            server
                .expect("RCPT TO:<alice@example.com>", "250 ok\r\n")
                .await;
            server
                .expect("RCPT TO:<nobody@example.com>", "550 5.1.1 no such user\r\n")
                .await;
            server
                .expect("RCPT TO:<bob@example.com>", "451 4.3.0 later\r\n")
                .await;
            server.expect("DATA", "354 go\r\n").await;
            assert_eq!(server.body().await, "hi\r\n.\r\n");
            server.send("250 ok\r\n").await;
            server.expect("QUIT", "221 bye\r\n").await;
        };
        let (outcome, ()) = tokio::join!(client, script);
        let transaction = outcome.expect("transaction completes");
        let codes: Vec<(&str, u16)> = transaction
            .rcpts
            .iter()
            .map(|(rcpt, reply)| (rcpt.as_str(), reply.code))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("alice@example.com", 250),
                ("nobody@example.com", 550),
                ("bob@example.com", 451)
            ]
        );
        assert!(transaction.accepted());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_skips_data_when_no_recipient_is_accepted() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["x@elsewhere.test"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("220 gw.test\r\n").await;
            server.expect("EHLO client.test", "250 gw.test\r\n").await;
            server.expect("MAIL FROM:<s@r.test>", "250 ok\r\n").await;
            server
                .expect("RCPT TO:<x@elsewhere.test>", "550 5.7.1 relay denied\r\n")
                .await;
            server.expect("QUIT", "221 bye\r\n").await;
        };
        let (outcome, ()) = tokio::join!(client, script);
        let transaction = outcome.expect("a refusal is still a transaction");
        assert_eq!(transaction.data_start, None);
        assert_eq!(transaction.data, None);
        assert!(!transaction.accepted());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_keeps_a_refused_data_command_in_data_start() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("220 gw.test\r\n").await;
            server.expect("EHLO client.test", "250 gw.test\r\n").await;
            server.expect("MAIL FROM:<s@r.test>", "250 ok\r\n").await;
            server
                .expect("RCPT TO:<alice@example.com>", "250 ok\r\n")
                .await;
            server.expect("DATA", "451 4.3.0 not now\r\n").await;
            server.expect("QUIT", "221 bye\r\n").await;
        };
        let (outcome, ()) = tokio::join!(client, script);
        let transaction = outcome.expect("a refusal is still a transaction");
        assert_eq!(transaction.data_start.map(|r| r.code), Some(451));
        assert_eq!(transaction.data, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_falls_back_to_helo_when_ehlo_is_refused() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("220 old.test\r\n").await;
            server
                .expect("EHLO client.test", "502 5.5.1 what\r\n")
                .await;
            server.expect("HELO client.test", "250 old.test\r\n").await;
            server
                .expect("MAIL FROM:<s@r.test>", "550 5.7.1 go away\r\n")
                .await;
            server.expect("QUIT", "221 bye\r\n").await;
        };
        let (outcome, ()) = tokio::join!(client, script);
        let transaction = outcome.expect("a refusal is still a transaction");
        assert_eq!(transaction.mail.code, 550);
        assert!(transaction.rcpts.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_temporary_ehlo_refusal_ends_the_session_without_helo() {
        // HELO is the fallback for a server that does not know EHLO (5xx,
        // RFC 5321 3.2); a 4xx says "not now", and the message waits.
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("220 busy.test\r\n").await;
            server
                .expect("EHLO client.test", "421 4.3.2 busy\r\n")
                .await;
            server.line().await
        };
        let (outcome, next) = tokio::join!(client, script);
        assert!(
            matches!(outcome, Err(ClientError::BeforeDot(_))),
            "{outcome:?}"
        );
        assert_eq!(next, "QUIT\r\n");
    }

    /// A handover of `message` (with `smtputf8` declared or not) by the
    /// delivery path.
    async fn hand_over(
        conn: &mut BoxConn,
        rcpts: &[String],
        message: &[u8],
        smtputf8: bool,
    ) -> Result<Handover, ClientError> {
        let outgoing = Outgoing {
            helo: "gw.test",
            mail_from: "s@r.test",
            rcpts,
            message,
            smtputf8,
            dot_reply_timeout_ms: None,
        };
        send_mail_guarded(&TestEnv, conn, outgoing, 5_000, async { true }).await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_eight_bit_body_goes_with_body_8bitmime_to_a_hop_that_offers_it() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = hand_over(&mut conn, &rcpts, "caf\u{e9}\r\n".as_bytes(), true);
        let script = async move {
            server.send("220 next.test\r\n").await;
            server
                .expect(
                    "EHLO gw.test",
                    "250-next.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
                )
                .await;
            server
                .expect("MAIL FROM:<s@r.test> BODY=8BITMIME SMTPUTF8", "250 ok\r\n")
                .await;
            server
                .expect("RCPT TO:<alice@example.com>", "250 ok\r\n")
                .await;
            server.expect("DATA", "354 go\r\n").await;
            assert_eq!(server.body().await, "caf\u{e9}\r\n.\r\n");
            server.send("250 taken\r\n").await;
            server.expect("QUIT", "221 bye\r\n").await;
        };
        let (outcome, ()) = tokio::join!(client, script);
        assert!(matches!(outcome, Ok(Handover::Sent(t)) if t.accepted()));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_eight_bit_body_is_not_sent_to_a_hop_without_8bitmime() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = hand_over(&mut conn, &rcpts, b"\xff\r\n", false);
        let script = async move {
            server.send("220 old.test\r\n").await;
            server
                .expect("EHLO gw.test", "250-old.test\r\n250 SIZE 1000\r\n")
                .await;
            assert_eq!(server.line().await, "QUIT\r\n");
        };
        let (outcome, ()) = tokio::join!(client, script);
        let Ok(Handover::NotSent(lacking)) = outcome else {
            panic!("sent anyway: {outcome:?}");
        };
        assert_eq!((lacking.extension, lacking.status), ("8BITMIME", "5.6.3"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_smtputf8_message_is_not_sent_to_a_hop_without_smtputf8() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let message = "Subject: gr\u{fc}\u{df}e\r\n\r\nplain\r\n";
        let client = hand_over(&mut conn, &rcpts, message.as_bytes(), true);
        let script = async move {
            server.send("220 old.test\r\n").await;
            server
                .expect("EHLO gw.test", "250-old.test\r\n250 8BITMIME\r\n")
                .await;
            assert_eq!(server.line().await, "QUIT\r\n");
        };
        let (outcome, ()) = tokio::join!(client, script);
        let Ok(Handover::NotSent(lacking)) = outcome else {
            panic!("sent anyway: {outcome:?}");
        };
        assert_eq!((lacking.extension, lacking.status), ("SMTPUTF8", "5.6.7"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_ascii_message_declared_smtputf8_goes_without_the_parameter_to_a_hop_without_it() {
        // The declaration says it may need SMTPUTF8; its envelope and
        // header fields are ASCII, so it does not (an 8-bit body is
        // 8BITMIME's business).
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let message = "Subject: hello\r\n\r\ncaf\u{e9}\r\n";
        let client = hand_over(&mut conn, &rcpts, message.as_bytes(), true);
        let script = async move {
            server.send("220 old.test\r\n").await;
            server
                .expect("EHLO gw.test", "250-old.test\r\n250 8BITMIME\r\n")
                .await;
            server
                .expect("MAIL FROM:<s@r.test> BODY=8BITMIME", "250 ok\r\n")
                .await;
            server
                .expect("RCPT TO:<alice@example.com>", "250 ok\r\n")
                .await;
            server.expect("DATA", "354 go\r\n").await;
            assert_eq!(server.body().await, format!("{message}.\r\n"));
            server.send("250 taken\r\n").await;
            server.expect("QUIT", "221 bye\r\n").await;
        };
        let (outcome, ()) = tokio::join!(client, script);
        assert!(matches!(outcome, Ok(Handover::Sent(t)) if t.accepted()));
        // A UTF-8 recipient does need it.
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["j\u{f6}rg@example.com"]);
        let client = hand_over(&mut conn, &rcpts, b"Subject: hi\r\n\r\nx\r\n", true);
        let script = async move {
            server.send("220 old.test\r\n").await;
            server
                .expect("EHLO gw.test", "250-old.test\r\n250 8BITMIME\r\n")
                .await;
            assert_eq!(server.line().await, "QUIT\r\n");
        };
        let (outcome, ()) = tokio::join!(client, script);
        assert!(
            matches!(&outcome, Ok(Handover::NotSent(l)) if l.status == "5.6.7"),
            "{outcome:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_reports_after_dot_when_server_closes_after_the_final_dot() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("220 gw.test\r\n").await;
            server.expect("EHLO client.test", "250 gw.test\r\n").await;
            server.expect("MAIL FROM:<s@r.test>", "250 ok\r\n").await;
            server
                .expect("RCPT TO:<alice@example.com>", "250 ok\r\n")
                .await;
            server.expect("DATA", "354 go\r\n").await;
            server.body().await;
            drop(server);
        };
        let (outcome, ()) = tokio::join!(client, script);
        assert!(
            matches!(outcome, Err(ClientError::AfterDot(_))),
            "{outcome:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_reports_after_dot_when_the_final_reply_times_out() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_mail(
            &TestEnv,
            &mut conn,
            "client.test",
            "s@r.test",
            &rcpts,
            b"hi",
            50,
        );
        let script = async move {
            server.send("220 gw.test\r\n").await;
            server.expect("EHLO client.test", "250 gw.test\r\n").await;
            server.expect("MAIL FROM:<s@r.test>", "250 ok\r\n").await;
            server
                .expect("RCPT TO:<alice@example.com>", "250 ok\r\n")
                .await;
            server.expect("DATA", "354 go\r\n").await;
            server.body().await;
            // Keep the connection open and silent past the client's deadline.
            server
        };
        let (outcome, _server) = tokio::join!(client, script);
        match outcome {
            Err(ClientError::AfterDot(why)) => assert!(why.contains("timed out"), "{why}"),
            other => panic!("expected AfterDot, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_reports_before_dot_when_server_closes_after_the_greeting() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("220 gw.test\r\n").await;
            drop(server);
        };
        let (outcome, ()) = tokio::join!(client, script);
        assert!(
            matches!(outcome, Err(ClientError::BeforeDot(_))),
            "{outcome:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_refusal_longer_than_the_text_kept_is_still_one_refusal() {
        // 200 lines of 490 octets (each within RFC 5321's 512): about
        // 98 KiB, more than the client keeps. It reads them all, keeps the
        // first 64 KiB of text, and goes on with the conversation.
        let line = |n: usize, last: bool| {
            let head = format!(
                "550{}5.7.1 policy line {n:03}: ",
                if last { ' ' } else { '-' }
            );
            format!("{head}{}\r\n", "x".repeat(488 - head.len()))
        };
        let refusal: String = (1..=200).map(|n| line(n, n == 200)).collect();
        assert!(refusal.len() > 90 * 1024);
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("220 verbose.test\r\n").await;
            server
                .expect("EHLO client.test", "250 verbose.test\r\n")
                .await;
            server.expect("MAIL FROM:<s@r.test>", "250 ok\r\n").await;
            server.expect("RCPT TO:<alice@example.com>", &refusal).await;
            server.expect("QUIT", "221 bye\r\n").await;
        };
        let (outcome, ()) = tokio::join!(client, script);
        let transaction = outcome.expect("a refusal is still a transaction");
        let (_, reply) = &transaction.rcpts[0];
        assert_eq!(reply.code, 550);
        assert_eq!(reply.enhanced_status(), Some("5.7.1"));
        assert!(reply.text.starts_with("5.7.1 policy line 001: "));
        assert!(
            reply.text.len() <= REPLY_TEXT_BYTES_MAX,
            "{}",
            reply.text.len()
        );
        assert!(
            reply.text.len() > REPLY_TEXT_BYTES_MAX - 500,
            "{}",
            reply.text.len()
        );
        assert_eq!(transaction.data, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_reply_that_never_ends_is_cut_off_at_its_limit() {
        // A hostile server's endless line must not grow the client's
        // buffer without bound: it gives up past REPLY_LINE_BYTES_MAX, whatever
        // sizes the bytes come in, without waiting for its timeout.
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("220 ").await;
            for _ in 0..REPLY_LINE_BYTES_MAX / 1000 + 2 {
                server.send(&"a".repeat(1000)).await;
                tokio::task::yield_now().await;
            }
            server
        };
        let (outcome, _server) = tokio::join!(client, script);
        match outcome {
            Err(ClientError::BeforeDot(why)) => assert!(why.contains("longer than"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_reports_before_dot_on_a_malformed_greeting() {
        let (mut conn, mut server) = pair();
        let rcpts = recipients(&["alice@example.com"]);
        let client = send_hi(&mut conn, &rcpts);
        let script = async move {
            server.send("HTTP/1.1 400 Bad Request\r\n").await;
            server
        };
        let (outcome, _server) = tokio::join!(client, script);
        assert!(
            matches!(outcome, Err(ClientError::BeforeDot(_))),
            "{outcome:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_refuses_addresses_that_would_inject_commands() {
        let (mut conn, _server) = pair();
        let rcpts = recipients(&["a@b.test>\r\nRCPT TO:<c@d.test"]);
        let outcome = send_mail(&TestEnv, &mut conn, "client.test", "", &rcpts, b"hi", 5_000).await;
        assert!(
            matches!(outcome, Err(ClientError::BeforeDot(_))),
            "{outcome:?}"
        );
    }

    /// Runs a real `Session` on the server half until the client hangs up,
    /// returning every message it received.
    async fn serve(stream: DuplexStream) -> Vec<Vec<u8>> {
        let mut stream = stream;
        let mut session = Session::new(SessionLimits {
            hostname: "gw.test".to_string(),
            message_bytes_max: 10_000,
            recipients_max: 10,
            line_bytes_max: 1000,
            postmaster: None,
        });
        let mut received = Vec::new();
        stream
            .write_all(&session.greeting())
            .await
            .expect("client is listening");
        let mut chunk = [0u8; 7];
        loop {
            let mut check = |rcpt: &str| {
                if rcpt.ends_with("@example.com") {
                    RcptCheck::Accept
                } else {
                    RcptCheck::RelayDenied
                }
            };
            while let Some(step) = session.next(&mut check) {
                match step {
                    Step::Write(bytes) => {
                        stream.write_all(&bytes).await.expect("client is listening")
                    }
                    Step::Message { data, .. } => {
                        received.push(data);
                        let reply = session.answer_message(250, "2.0.0", "queued");
                        stream.write_all(&reply).await.expect("client is listening");
                    }
                    Step::Close => return received,
                }
            }
            // Odd-sized reads split commands and the body at random places.
            let read = stream.read(&mut chunk).await.expect("client is talking");
            if read == 0 {
                return received;
            }
            session.push(&chunk[..read]);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn client_and_session_round_trip_a_message_byte_for_byte() {
        let (client_half, server_half) = tokio::io::duplex(1024);
        let mut conn: BoxConn = Box::new(client_half);
        let message = b"Subject: round trip\r\n\r\n.\r\n..\r\n.hidden\r\nlast line\r\n".to_vec();
        let rcpts = recipients(&["alice@example.com", "x@elsewhere.test"]);
        let client = send_mail(
            &TestEnv,
            &mut conn,
            "client.test",
            "s@r.test",
            &rcpts,
            &message,
            5_000,
        );
        let (outcome, received) = tokio::join!(client, serve(server_half));
        let transaction = outcome.expect("transaction completes");
        assert!(transaction.accepted());
        assert_eq!(transaction.rcpts[1].1.code, 550);
        assert_eq!(received, vec![message]);
    }
}
