//! A tenant's mailbox server in real mode: the simulator's own independent
//! mailbox witness (`workload::mailbox`: mailin for SMTP, the same
//! `mailbox_received`, `mailbox_refused`, `mailbox_reply_lost` and
//! `mailbox_refusal_unheard` facts), with a Maildir behind it, so
//! `mailsim serve` is judged by the same witness and people and tests can
//! look at delivered mail with ordinary tools (`ls`, `cat`, mutt -f).
//!
//! Each recipient gets its own Maildir, `Maildir/<address>/`, and each
//! message a uniquely named file written the Maildir way: into `tmp/`,
//! fsynced, renamed into `new/`, and `new/` fsynced — only then 250, since
//! the gateway settles the recipient and forgets the message on that 250.

use std::io;
use std::rc::Rc;

use models::env::{Env, SharedEnv};

use crate::workload::mailbox::{self, Rejections};

/// Directory (under the host's data dir) holding one Maildir per address.
pub const MAILDIR_ROOT: &str = "Maildir";

/// Serves SMTP for `domains` until the host dies. Real mailboxes have no
/// injected rejections.
pub async fn serve(env: SharedEnv, domains: Vec<String>) {
    let store: mailbox::Store = Rc::new(deliver);
    mailbox::serve_storing(env, domains, Rc::new(Rejections::default()), store).await;
}

/// Writes one copy per recipient, each durable before the next.
fn deliver(env: &dyn Env, mail_from: &str, rcpts: &[String], data: &[u8]) -> io::Result<()> {
    for rcpt in rcpts {
        let maildir = format!("{MAILDIR_ROOT}/{}", folder_name(rcpt));
        let disk = env.disk();
        for sub in ["tmp", "new", "cur"] {
            disk.create_dir_all(&format!("{maildir}/{sub}"))?;
        }
        // What a local delivery agent adds: the envelope, as headers.
        let mut bytes =
            format!("Return-Path: <{}>\r\nDelivered-To: {rcpt}\r\n", mail_from).into_bytes();
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
}
