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
//! one. Replies are read by `smtp_reply`, from RFC 5321 §4.2 alone.

use std::time::Duration;

use models::env::{self, BoxConn, Env};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::workload::smtp_reply::{REPLY_LINE_OCTETS_MAX, ReplyLines, ServerReply};

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
    pub mail: ServerReply,
    /// Each recipient offered, with its RCPT reply (none offered if MAIL
    /// was refused).
    pub rcpts: Vec<(String, ServerReply)>,
    /// The reply to DATA, if sent (only when some recipient was accepted).
    pub data_start: Option<ServerReply>,
    /// The reply to the final dot, if the body was sent.
    pub data: Option<ServerReply>,
}

/// One message as offered: the envelope, the bytes as built, and the
/// name the sender gives in EHLO.
#[derive(Clone, Copy, Debug)]
pub struct Offer<'a> {
    pub mail_from: &'a str,
    pub rcpts: &'a [String],
    pub message: &'a [u8],
    pub helo: &'a str,
}

/// Makes `offer` over `conn`; every write, and every whole reply, is
/// bounded by `timeout_ms` on the seam's clock.
pub async fn send(
    env: &dyn Env,
    conn: &mut BoxConn,
    offer: Offer<'_>,
    timeout_ms: u64,
) -> Result<Transaction, Failure> {
    let Offer {
        helo,
        mail_from,
        rcpts,
        message,
    } = offer;
    let mut wire = Link {
        stream: conn,
        unread: Vec::new(),
        env,
        deadline: Duration::from_millis(timeout_ms),
    };
    let greeting = wire.before_dot("greeting", None).await?;
    if greeting.code != 220 {
        return Err(Failure::BeforeDot(format!("greeting {greeting}")));
    }
    let ehlo = wire
        .before_dot("EHLO", Some(format!("EHLO {helo}")))
        .await?;
    // RFC 5321 §3.2: a server that does not know EHLO may know HELO.
    let hello = match ehlo.positive_completion() {
        true => ehlo,
        false => {
            wire.before_dot("HELO", Some(format!("HELO {helo}")))
                .await?
        }
    };
    if !hello.positive_completion() {
        return Err(Failure::BeforeDot(format!("hello refused: {hello}")));
    }
    let mail_line = format!("MAIL FROM:<{mail_from}>");
    let mut transaction = Transaction {
        mail: wire.before_dot("MAIL", Some(mail_line)).await?,
        rcpts: Vec::with_capacity(rcpts.len()),
        data_start: None,
        data: None,
    };
    // Each stage goes on only if the one before let it (§3.3): MAIL
    // accepted, then at least one RCPT, then 354 to DATA.
    if transaction.mail.positive_completion() {
        for rcpt in rcpts {
            let line = format!("RCPT TO:<{rcpt}>");
            let answer = wire.before_dot("RCPT", Some(line)).await?;
            transaction.rcpts.push((rcpt.clone(), answer));
        }
    }
    let someone_taken = transaction
        .rcpts
        .iter()
        .any(|(_, a)| a.positive_completion());
    if someone_taken {
        let go_ahead = wire.before_dot("DATA", Some("DATA".to_string())).await?;
        transaction.data_start = Some(go_ahead);
    }
    if transaction
        .data_start
        .as_ref()
        .is_some_and(|a| a.code == 354)
    {
        wire.write(&dot_stuffed(message))
            .await
            .map_err(|why| Failure::BeforeDot(format!("message body: {why}")))?;
        // From here on the server may hold the message whatever we hear.
        let after = |stage: &str, why: String| Failure::AfterDot(format!("{stage}: {why}"));
        wire.write(b".\r\n")
            .await
            .map_err(|why| after("final dot", why))?;
        let verdict = wire.reply().await;
        transaction.data = Some(verdict.map_err(|why| after("reply to the final dot", why))?);
    }
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

/// The connection with the reply bytes read from it and not yet taken.
struct Link<'a> {
    stream: &'a mut BoxConn,
    unread: Vec<u8>,
    /// The clock that bounds each write, and each whole reply, by `deadline`.
    env: &'a dyn Env,
    deadline: Duration,
}

impl Link<'_> {
    /// Sends `line` (if any) and reads the reply; any failure is one
    /// before the final dot, named by `stage`.
    async fn before_dot(
        &mut self,
        stage: &str,
        line: Option<String>,
    ) -> Result<ServerReply, Failure> {
        let answer = match line {
            Some(line) => self.command(&line).await,
            None => self.reply().await,
        };
        answer.map_err(|why| Failure::BeforeDot(format!("{stage}: {why}")))
    }

    async fn command(&mut self, line: &str) -> Result<ServerReply, String> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let io = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match env::timeout(self.env, self.deadline, io).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("timed out".to_string()),
        }
    }

    /// Reads one whole reply (`smtp_reply`), all of it within the time
    /// limit: RFC 5321 bounds a reply's lines, not their number.
    async fn reply(&mut self) -> Result<ServerReply, String> {
        let deadline = self.deadline;
        let env = self.env;
        let whole = async {
            let mut lines = ReplyLines::default();
            loop {
                let line = self.crlf_line().await?;
                if let Some(reply) = lines.take(&line)? {
                    return Ok(reply);
                }
            }
        };
        match env::timeout(env, deadline, whole).await {
            Ok(outcome) => outcome,
            Err(_) => Err("timed out".to_string()),
        }
    }

    /// The next line up to its CRLF (taken off). A line must end within
    /// the 512 octets RFC 5321 §4.5.3.1.5 allows it.
    async fn crlf_line(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(at) = self.unread.windows(2).position(|pair| pair == b"\r\n") {
                let line = self.unread[..at].to_vec();
                self.unread.drain(..at + 2);
                return Ok(line);
            }
            if self.unread.len() >= REPLY_LINE_OCTETS_MAX {
                return Err(format!(
                    "no CRLF within the {REPLY_LINE_OCTETS_MAX} octets of a reply line"
                ));
            }
            let mut chunk = [0u8; REPLY_LINE_OCTETS_MAX];
            match self.stream.read(&mut chunk).await {
                Ok(0) => return Err("connection closed".to_string()),
                Ok(n) => self.unread.extend_from_slice(&chunk[..n]),
                Err(error) => return Err(error.to_string()),
            }
        }
    }

    /// Says goodbye; the outcome is settled, so its answer does not matter.
    async fn quit(&mut self) {
        let _ = self.command("QUIT").await;
        let _ = env::timeout(self.env, self.deadline, self.stream.shutdown()).await;
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
