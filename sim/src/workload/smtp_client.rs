//! The senders' SMTP client: one lockstep mail transaction (RFC 5321 §3.3:
//! EHLO, MAIL, one RCPT per recipient, DATA with dot-stuffing, QUIT),
//! written here from the RFC and sharing nothing with the gateway's
//! `models::smtp`, so the two sides of the ingress leg cannot be wrong the
//! same way and hide it.
//!
//! Why not a crate: `mail-send` (the maintained async client) wraps every
//! read in tokio's own timer, which the madsim engine does not drive; a
//! transaction is small enough to write out plainly, bounded by the seam's
//! timer instead.
//!
//! Its one promise is an honest failure class: anything that goes wrong
//! before the final ".\r\n" was written means the message was definitely
//! not accepted ([`Failure::BeforeDot`]); once the final dot may have
//! reached the server, a missing reply means nobody can know
//! ([`Failure::AfterDot`], RFC 1047). The message goes out as built, byte
//! for byte, only dot-stuffed (§4.5.2) and given a final CRLF if it lacks
//! one.

use std::fmt;
use std::time::Duration;

use models::env::{self, BoxConn, Env};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A reply bigger than this is not SMTP; give up rather than buffer it.
const REPLY_BYTES_MAX: usize = 64 * 1024;

/// One complete server reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of every line, joined by " / ".
    pub text: String,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    pub fn is_permanent_failure(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// How a transaction broke off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Before the final dot was written: definitely not accepted.
    BeforeDot(String),
    /// After it, with no reply: maybe accepted (RFC 1047).
    AfterDot(String),
}

/// What the server answered, stage by stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub mail: Reply,
    /// Each recipient offered, with its RCPT reply (none offered if MAIL
    /// was refused).
    pub rcpts: Vec<(String, Reply)>,
    /// The reply to DATA, if sent (only when some recipient was accepted).
    pub data_start: Option<Reply>,
    /// The reply to the final dot, if the body was sent.
    pub data: Option<Reply>,
}

/// Offers `message` from `mail_from` to `rcpts` over `conn`; every read
/// and write is bounded by `timeout_ms`.
pub async fn send(
    env: &dyn Env,
    conn: &mut BoxConn,
    helo: &str,
    mail_from: &str,
    rcpts: &[String],
    message: &[u8],
    timeout_ms: u64,
) -> Result<Transaction, Failure> {
    let mut wire = Wire {
        env,
        conn,
        limit: Duration::from_millis(timeout_ms),
        inbox: Vec::new(),
    };
    let before = |stage: &str, why: String| Failure::BeforeDot(format!("{stage}: {why}"));
    let greeting = wire.reply().await.map_err(|why| before("greeting", why))?;
    if greeting.code != 220 {
        return Err(Failure::BeforeDot(format!("greeting {greeting}")));
    }
    let mut hello = wire
        .command(&format!("EHLO {helo}"))
        .await
        .map_err(|why| before("EHLO", why))?;
    if !hello.is_positive() {
        // RFC 5321 §3.2: a server that does not know EHLO may know HELO.
        hello = wire
            .command(&format!("HELO {helo}"))
            .await
            .map_err(|why| before("HELO", why))?;
    }
    if !hello.is_positive() {
        return Err(Failure::BeforeDot(format!("hello refused: {hello}")));
    }
    let mail = wire
        .command(&format!("MAIL FROM:<{mail_from}>"))
        .await
        .map_err(|why| before("MAIL", why))?;
    let mut transaction = Transaction {
        mail,
        rcpts: Vec::new(),
        data_start: None,
        data: None,
    };
    if !transaction.mail.is_positive() {
        wire.quit().await;
        return Ok(transaction);
    }
    for rcpt in rcpts {
        let reply = wire
            .command(&format!("RCPT TO:<{rcpt}>"))
            .await
            .map_err(|why| before("RCPT", why))?;
        transaction.rcpts.push((rcpt.clone(), reply));
    }
    if !transaction
        .rcpts
        .iter()
        .any(|(_, reply)| reply.is_positive())
    {
        wire.quit().await;
        return Ok(transaction);
    }
    let data_start = wire
        .command("DATA")
        .await
        .map_err(|why| before("DATA", why))?;
    let go_ahead = data_start.code == 354;
    transaction.data_start = Some(data_start);
    if !go_ahead {
        wire.quit().await;
        return Ok(transaction);
    }
    wire.write(&dot_stuffed(message))
        .await
        .map_err(|why| before("message body", why))?;
    wire.write(b".\r\n")
        .await
        .map_err(|why| Failure::AfterDot(format!("final dot: {why}")))?;
    let data = wire
        .reply()
        .await
        .map_err(|why| Failure::AfterDot(format!("reply to the final dot: {why}")))?;
    transaction.data = Some(data);
    wire.quit().await;
    Ok(transaction)
}

/// The body as sent: each line beginning with '.' gets one more (RFC 5321
/// §4.5.2), and a final CRLF is added if missing so the dot line stands
/// alone.
pub fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 2);
    let mut at_line_start = true;
    for &byte in message {
        if at_line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        at_line_start = byte == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The connection with its unread reply bytes.
struct Wire<'a> {
    env: &'a dyn Env,
    conn: &'a mut BoxConn,
    limit: Duration,
    inbox: Vec<u8>,
}

impl Wire<'_> {
    async fn command(&mut self, line: &str) -> Result<Reply, String> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let io = async {
            self.conn.write_all(bytes).await?;
            self.conn.flush().await
        };
        match env::timeout(self.env, self.limit, io).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("timed out".to_string()),
        }
    }

    /// Reads one reply: lines `CODE-text` continue it, `CODE text` ends it
    /// (RFC 5321 §4.2.1); every line must carry the same code.
    async fn reply(&mut self) -> Result<Reply, String> {
        let mut code: Option<u16> = None;
        let mut texts: Vec<String> = Vec::new();
        loop {
            let line = self.line().await?;
            let line = line.strip_suffix("\r\n").unwrap_or(&line);
            let (digits, rest) = line.split_at(line.len().min(3));
            let this: u16 = digits
                .parse()
                .ok()
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| format!("not a reply line: {line:?}"))?;
            if code.is_some_and(|c| c != this) {
                return Err(format!("reply code changed mid-reply: {line:?}"));
            }
            code = Some(this);
            let (last, text) = match rest.as_bytes().first() {
                None => (true, ""),
                Some(b' ') => (true, &rest[1..]),
                Some(b'-') => (false, &rest[1..]),
                Some(_) => return Err(format!("not a reply line: {line:?}")),
            };
            texts.push(text.to_string());
            if last {
                return Ok(Reply {
                    code: this,
                    text: texts.join(" / "),
                });
            }
        }
    }

    /// One line, CRLF included, within the time limit.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.inbox) {
                let line: Vec<u8> = self.inbox.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.inbox.len() > REPLY_BYTES_MAX {
                return Err("reply too long".to_string());
            }
            let mut chunk = [0u8; 4096];
            match env::timeout(self.env, self.limit, self.conn.read(&mut chunk)).await {
                Ok(Ok(0)) => return Err("connection closed".to_string()),
                Ok(Ok(n)) => self.inbox.extend_from_slice(&chunk[..n]),
                Ok(Err(error)) => return Err(error.to_string()),
                Err(_) => return Err("timed out".to_string()),
            }
        }
    }

    /// Says goodbye; the outcome is settled, so its answer does not matter.
    async fn quit(&mut self) {
        let _ = self.command("QUIT").await;
        let _ = env::timeout(self.env, self.limit, self.conn.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_starting_with_a_dot_get_one_more() {
        assert_eq!(dot_stuffed(b".\r\n"), b"..\r\n");
        assert_eq!(
            dot_stuffed(b"a\r\n.b\r\n..c\r\nd.e"),
            b"a\r\n..b\r\n...c\r\nd.e\r\n"
        );
        assert_eq!(dot_stuffed(b""), b"");
        assert_eq!(dot_stuffed(b"x\r\n"), b"x\r\n");
    }
}
