//! A tenant's mailbox server in real mode: SMTP in (the same session state
//! machine as the gateway), Maildir out, so people and tests can look at
//! delivered mail with ordinary tools (`ls`, `cat`, mutt -f).
//!
//! Each recipient gets its own Maildir, `Maildir/<address>/`, and each
//! message a uniquely named file written the Maildir way: into `tmp/`,
//! fsynced, renamed into `new/`, and `new/` fsynced — only then 250, since
//! the gateway settles the recipient and forgets the message on that 250.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use models::config::SMTP_PORT;
use models::env::{self, BoxConn, Env, SharedEnv};
use models::smtp::session::{Envelope, RcptCheck, Session, SessionLimits, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::workload::mailbox;

/// Directory (under the host's data dir) holding one Maildir per address.
pub const MAILDIR_ROOT: &str = "Maildir";

/// A client silent this long is hung up on.
const IDLE: Duration = Duration::from_secs(60);
/// Generous: the mailbox must never be the reason a message is refused.
const MAX_MESSAGE_BYTES: u64 = 10 * 1024 * 1024;
const MAX_RECIPIENTS: u32 = 100;
/// Pause after a failed accept so a persistent error cannot spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves SMTP for `domains` until the host dies.
pub async fn serve(env: SharedEnv, domains: Vec<String>) {
    let Ok(listener) = env.listen(SMTP_PORT).await else {
        return;
    };
    let domains = Rc::new(domains);
    loop {
        match listener.accept().await {
            Ok((conn, _peer)) => {
                let task = serve_connection(env.clone(), domains.clone(), conn);
                env.spawn(Box::pin(task));
            }
            Err(_) => env.sleep(ACCEPT_ERROR_PAUSE).await,
        }
    }
}

async fn serve_connection(env: SharedEnv, domains: Rc<Vec<String>>, mut conn: BoxConn) {
    let mut session = Session::new(SessionLimits {
        hostname: env.host_name().to_string(),
        max_message_bytes: MAX_MESSAGE_BYTES,
        max_recipients: MAX_RECIPIENTS,
        max_line_bytes: 1000,
    });
    if !write(&*env, &mut conn, &session.greeting()).await {
        return;
    }
    let mut check = |rcpt: &str| rcpt_check(&domains, rcpt);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        while let Some(step) = session.next(&mut check) {
            let reply = match step {
                Step::Write(bytes) => bytes,
                Step::Message { envelope, data } => match deliver(&*env, &envelope, &data) {
                    Ok(()) => {
                        mailbox::record(&*env, &envelope.mail_from, &envelope.rcpts, &data);
                        session.answer_message(250, "2.0.0", "delivered to Maildir")
                    }
                    Err(e) => {
                        eprintln!("{}: Maildir delivery failed: {e}", env.host_name());
                        session.answer_message(451, "4.3.0", "mailbox write failed, try later")
                    }
                },
                Step::Close => {
                    let _ = env::timeout(&*env, IDLE, conn.shutdown()).await;
                    return;
                }
            };
            if !write(&*env, &mut conn, &reply).await {
                return;
            }
        }
        match env::timeout(&*env, IDLE, conn.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => session.push(&chunk[..n]),
            _ => return,
        }
    }
}

async fn write(env: &dyn Env, conn: &mut BoxConn, bytes: &[u8]) -> bool {
    let io = async {
        conn.write_all(bytes).await?;
        conn.flush().await
    };
    matches!(env::timeout(env, IDLE, io).await, Ok(Ok(())))
}

/// Exactly the addresses in our domains, any local part: the gateway in
/// front already refused unknown users.
fn rcpt_check(domains: &[String], rcpt: &str) -> RcptCheck {
    let ours = rcpt.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    });
    if ours {
        RcptCheck::Accept
    } else {
        RcptCheck::RelayDenied
    }
}

/// Writes one copy per recipient, each durable before the next.
fn deliver(env: &dyn Env, envelope: &Envelope, data: &[u8]) -> io::Result<()> {
    for rcpt in &envelope.rcpts {
        let maildir = format!("{MAILDIR_ROOT}/{}", folder_name(rcpt));
        let disk = env.disk();
        for sub in ["tmp", "new", "cur"] {
            disk.create_dir_all(&format!("{maildir}/{sub}"))?;
        }
        // What a local delivery agent adds: the envelope, as headers.
        let mut bytes = format!(
            "Return-Path: <{}>\r\nDelivered-To: {rcpt}\r\n",
            envelope.mail_from
        )
        .into_bytes();
        bytes.extend_from_slice(data);
        let name = unique_name(env);
        let (temp, fresh) = (
            format!("{maildir}/tmp/{name}"),
            format!("{maildir}/new/{name}"),
        );
        disk.write(&temp, &bytes)?;
        disk.sync(&temp)?;
        disk.rename(&temp, &fresh)?;
        disk.sync_dir(&format!("{maildir}/new"))?;
    }
    Ok(())
}

/// `<secs>.M<micros>R<random>.<host>`: Maildir's "time, something unique,
/// host" shape; the random part comes through the seam like all randomness.
fn unique_name(env: &dyn Env) -> String {
    let now = env.now();
    format!(
        "{}.M{}R{:016x}.{}",
        now.as_secs(),
        now.subsec_micros(),
        env.random_u64(),
        env.host_name()
    )
}

/// A recipient address as one safe directory name: lower case, and every
/// character outside `[a-z0-9@._+-]` (a '/' above all) replaced by '_', with
/// no leading '.', so no address can name a path outside `Maildir/`.
pub fn folder_name(rcpt: &str) -> String {
    let mut name: String = rcpt
        .to_ascii_lowercase()
        .chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_cannot_leave_the_maildir_root() {
        assert_eq!(folder_name("Alice@Example.TEST"), "alice@example.test");
        assert_eq!(
            folder_name("../../etc@example.test"),
            "_.._.._etc@example.test"
        );
        assert_eq!(folder_name("a/b@example.test"), "a_b@example.test");
        assert_eq!(folder_name(".."), "_..");
        assert_eq!(folder_name(""), "_");
        assert_eq!(folder_name("\"x y\"@e.test"), "_x_y_@e.test");
    }

    #[test]
    fn only_our_domains_are_accepted() {
        let ours = vec!["example.test".to_string()];
        assert_eq!(rcpt_check(&ours, "anyone@EXAMPLE.test"), RcptCheck::Accept);
        assert_eq!(rcpt_check(&ours, "@example.test"), RcptCheck::RelayDenied);
        assert_eq!(rcpt_check(&ours, "a@other.test"), RcptCheck::RelayDenied);
    }
}
