//! SMTP ingress: takes a message only when it can keep the promise a 250
//! makes (RFC 5321 §6.1): spooled and fsynced here, and copied to enough
//! nodes in the tenant's allowed regions — a quorum spanning several clouds —
//! that the declared fault model cannot lose it. Otherwise 451, and the
//! sender keeps responsibility.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use traces::EventKind;

use crate::config::SMTP_PORT;
use crate::env::{self, BoxConn};
use crate::gateway::ballot::{self, Ballot};
use crate::gateway::{SharedNode, peer, replication, tombstones};
use crate::mime::{date, dsn};
use crate::smtp::received::{self, Hop};
use crate::smtp::session::{Envelope, RcptCheck, Session, SessionLimits, Step};
use crate::spool::{self, Entry, NewMessage};

pub async fn serve(node: SharedNode) {
    let listener = match node.env.listen(SMTP_PORT).await {
        Ok(listener) => listener,
        Err(e) => {
            node.note("smtp_listen_failed", e.to_string());
            return;
        }
    };
    loop {
        let Ok((conn, peer)) = listener.accept().await else {
            continue;
        };
        let session_node = node.clone();
        node.env.spawn(Box::pin(async move {
            session(session_node, conn, peer).await;
        }));
    }
}

/// The answer ingress gives at the end of DATA.
struct Answer {
    code: u16,
    enhanced: &'static str,
    text: String,
}

async fn session(node: SharedNode, mut conn: BoxConn, peer: String) {
    tracing::debug!(%peer, "smtp session opened");
    let knobs = &node.config.knobs;
    // The bug refuses what sits exactly at the limit, as a `>=` would.
    let off_by_one = u64::from(node.config.bug("size-limit-off-by-one"));
    let mut session = Session::new(SessionLimits {
        hostname: node.me().to_string(),
        message_bytes_max: knobs.message_bytes_max.saturating_sub(off_by_one),
        recipients_max: knobs.recipients_max,
        line_bytes_max: crate::smtp::session::INGRESS_LINE_BYTES_MAX,
        postmaster: node.config.operator_postmaster(),
    });
    if conn.write_all(&session.greeting()).await.is_err() {
        return;
    }
    let limit_ms = |session: &Session| {
        if session.is_reading_data() {
            knobs.smtp_data_timeout_ms
        } else {
            knobs.smtp_command_timeout_ms
        }
    };
    // The clock of the command (or body) we are waiting for: it starts at
    // our previous reply, so a client trickling bytes cannot stretch it.
    let mut deadline_ms = node.now_ms() + knobs.smtp_command_timeout_ms;
    let mut buf = vec![0u8; 16 * 1024];
    // The tenant of the transaction in progress: one tenant per transaction
    // keeps every copy of a message inside one jurisdiction.
    let mut tenant_of_transaction: Option<String> = None;
    loop {
        let step =
            session.next(&mut |rcpt: &str| check_rcpt(&node, rcpt, &mut tenant_of_transaction));
        match step {
            Some(Step::Write(bytes)) => {
                if conn.write_all(&bytes).await.is_err() {
                    return;
                }
                deadline_ms = node.now_ms() + limit_ms(&session);
            }
            Some(Step::Close) => {
                tracing::debug!(%peer, "smtp session closed");
                let _ = conn.shutdown().await;
                return;
            }
            Some(Step::Message { envelope, data }) => {
                let Some(answer) = accept(&node, &envelope, &peer, &data).await else {
                    // No answer we could keep: the sender must hear none.
                    tracing::info!(%peer, "hanging up without a reply to the final dot");
                    let _ = conn.shutdown().await;
                    return;
                };
                tenant_of_transaction = None;
                let reply = session.answer_message(answer.code, answer.enhanced, &answer.text);
                if conn.write_all(&reply).await.is_err() {
                    return;
                }
                deadline_ms = node.now_ms() + limit_ms(&session);
            }
            None => {
                let left = Duration::from_millis(deadline_ms.saturating_sub(node.now_ms()));
                let read = env::timeout(node.env.as_ref(), left, conn.read(&mut buf)).await;
                match read {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(n)) => session.push(&buf[..n]),
                    Err(env::Elapsed) => {
                        tracing::debug!(%peer, "smtp command or data too slow, closing");
                        let bye = format!("421 4.4.2 {} Error: timeout exceeded\r\n", node.me());
                        let _ = conn.write_all(bye.as_bytes()).await;
                        let _ = conn.shutdown().await;
                        return;
                    }
                }
            }
        }
    }
}

fn check_rcpt(
    node: &SharedNode,
    rcpt: &str,
    tenant_of_transaction: &mut Option<String>,
) -> RcptCheck {
    let Some(tenant) = node.config.tenant_for_address(rcpt) else {
        return RcptCheck::RelayDenied;
    };
    // Residency before availability: this region may not hold this tenant's
    // mail (a stale MX answer sent the sender here), so defer, never accept.
    if !tenant.allowed_regions.contains(&node.region)
        && !node.config.bug("failover-ignores-residency")
    {
        return RcptCheck::TryLater;
    }
    let local = rcpt.rsplit_once('@').map(|(l, _)| l).unwrap_or("");
    // RFC 5321 §4.5.1: every domain we take mail for has a postmaster,
    // whatever its user list says.
    let postmaster = local.eq_ignore_ascii_case("postmaster");
    let catch_all = node.config.bug("unknown-users-accepted");
    if !postmaster && !catch_all && !tenant.users.iter().any(|u| u.eq_ignore_ascii_case(local)) {
        return RcptCheck::UnknownUser;
    }
    if knows_no_quorum(node) {
        return RcptCheck::CannotKeepPromise;
    }
    // The bug takes every tenant's recipients into one transaction, which
    // `accept` then files under the first recipient's tenant.
    let one_tenant = !node.config.bug("split-by-first-tenant");
    match tenant_of_transaction {
        Some(name) if *name != tenant.name && one_tenant => RcptCheck::TryLater,
        _ => {
            *tenant_of_transaction = Some(tenant.name.clone());
            RcptCheck::Accept
        }
    }
}

/// The node has been up for a lease and has not heard from enough peers in
/// that time to reach the quorum: a 250 could not be kept, so better say
/// 451 before the body than after it. A node just booted does not know
/// yet, and tries.
fn knows_no_quorum(node: &SharedNode) -> bool {
    if node.config.bug("ack-before-replication-quorum") {
        // A gateway that does not wait for its quorum does not look for one.
        return false;
    }
    let now_ms = node.now_ms();
    let heard = node.heard.borrow();
    !heard.in_boot_grace(now_ms, node.config.knobs.owner_lease_ms)
        && !heard.healthy(&node.config, node.me(), now_ms)
}

/// The reply to the final dot, or None when no reply would be true: the
/// message was refused but copies of it may live on (see the end).
async fn accept(node: &SharedNode, envelope: &Envelope, peer: &str, data: &[u8]) -> Option<Answer> {
    let message_id = dsn::message_id(data).unwrap_or_else(|| "<none>".to_string());
    if received::looped(data) {
        tracing::info!(msg = %message_id, "refused: mail loop");
        return Some(Answer {
            code: 554,
            enhanced: "5.4.6",
            text: format!(
                "too many hops ({} Received fields): mail loop",
                received::HOPS_MAX
            ),
        });
    }
    let Some(tenant) = envelope
        .rcpts
        .first()
        .and_then(|r| node.config.tenant_for_address(r))
        .cloned()
    else {
        return Some(Answer {
            code: 554,
            enhanced: "5.5.0",
            text: "no valid recipients".into(),
        });
    };
    let id = format!("{:016x}", node.env.random_u64());
    let now_ms = node.now_ms();
    // Our hop goes on before the message is spooled, so every copy, the
    // delivered message and a DSN's returned headers all carry it.
    let date = date::rfc5322(node.env.now());
    let hop = Hop {
        helo: &envelope.helo,
        peer,
        by: node.me(),
        id: &id,
        date: &date,
    };
    let mut stamped = received::field(&hop);
    stamped.extend_from_slice(data);
    let data = stamped.as_slice();
    let targets = replication::replica_targets(&node.config, node.me(), &tenant, &id);
    let message = NewMessage {
        id: id.clone(),
        message_id: message_id.clone(),
        tenant: tenant.name.clone(),
        mail_from: envelope.mail_from.clone(),
        rcpts: envelope.rcpts.clone(),
        owner: node.me().to_string(),
        epoch: 1,
        replicas: targets.clone(),
        smtputf8: envelope.smtputf8,
    };
    let mut entry = Entry::new(message, now_ms);
    // The bug takes every null reverse-path for one of our own DSNs: a
    // remote bounce to a tenant user goes back out by MX (to us, a loop)
    // and skips the quarantine.
    entry.is_dsn = node.config.bug("null-sender-is-dsn") && entry.mail_from.is_empty();
    let durability = super::durability(&node.config);
    if let Err(e) = spool::store_new(node.env.disk(), &entry, data, durability) {
        // Whatever part of it reached the disk must not stay there.
        super::discard(node, &id);
        return Some(defer(
            node,
            &message_id,
            &id,
            format!("spool write failed: {e}"),
        ));
    }
    // The copy counts once the disk says it is done (a slow fsync).
    super::disk_settled(node).await;
    let replicated = if node.config.bug("ack-before-replication-quorum") {
        // The copies go out, but nobody waits for them.
        let copier = node.clone();
        let (entry, data) = (entry.clone(), data.to_vec());
        node.env.spawn(Box::pin(async move {
            let _ = replication::replicate(&copier, &entry, &data).await;
        }));
        Ok(Vec::new())
    } else {
        replication::replicate(node, &entry, data).await
    };
    match replicated {
        Ok(acked) => {
            tracing::info!(msg = %message_id, spool_id = %id, tenant = %tenant.name, rcpts = entry.rcpts.len(), replicas = ?acked, "accepted (250)");
            node.entries.borrow_mut().insert(id.clone(), entry.clone());
            node.doorbell.ring();
            node.env.observe(EventKind::GwAccepted {
                msg: message_id,
                spool_id: id.clone(),
                rcpts: envelope.rcpts.clone(),
                replicas: acked,
            });
            Some(Answer {
                code: 250,
                enhanced: "2.0.0",
                text: format!("queued as {id}"),
            })
        }
        Err(missed) => {
            super::discard(node, &id);
            // Refused for good (the id is never used again): a tombstone
            // here and at every copy lets stale copies go.
            tombstones::settle_for_good(node, &id);
            // Copies that did land must not outlive the refusal, and a 451
            // is a promise that none will: the sender keeps the message and
            // sends it again. Only a majority of the copy set without a copy
            // (and each with a tombstone) keeps it: a takeover needs a
            // majority of holders, and none can be restored. A forget that
            // a newer ballot refused means a replica already took the
            // message over while we stalled (a pause, a slow disk), and
            // then it may be delivered; one refused by a node that settled
            // the message already means it was. A replica the copy never
            // reached (its connection could not be opened) holds none and
            // needs no forget, so with replicas down rather than slow the
            // sender still hears 451. Without that majority we can say
            // neither 451 nor 250 (no quorum behind it): we hang up, and
            // the sender does not know, as after a lost reply (RFC 1047).
            let ours = Ballot::of(&entry);
            let reached: Vec<String> = targets
                .iter()
                .filter(|t| !missed.never_sent.contains(t))
                .cloned()
                .collect();
            let forgot = peer::forget_refused(node, &reached, &id, &ours).await;
            let without_copy = 1 + missed.never_sent.len() + forgot;
            if without_copy >= ballot::majority(targets.len() + 1)
                || node.config.bug("refusal-despite-copies")
            {
                return Some(defer(node, &message_id, &id, missed.reason));
            }
            node.note(
                "refusal_unkept",
                format!(
                    "{id}: {forgot} of {} replicas forgot the refused message, {} never got it; \
                     no reply",
                    reached.len(),
                    missed.never_sent.len()
                ),
            );
            None
        }
    }
}

fn defer(node: &SharedNode, message_id: &str, id: &str, reason: String) -> Answer {
    tracing::info!(msg = %message_id, spool_id = %id, %reason, "deferred (451)");
    node.env.observe(EventKind::GwDeferred {
        msg: message_id.to_string(),
        reason: format!("{id}: {reason}"),
    });
    Answer {
        code: 451,
        enhanced: "4.3.0",
        text: "cannot take responsibility now, try again later".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::answering_node;
    use crate::mem_disk::MemDisk;
    use std::rc::Rc;

    #[test]
    fn a_tenant_s_users_and_its_postmaster_are_its_recipients_and_nobody_else() {
        let mut node = answering_node::node(&Rc::new(MemDisk::default()), &[]);
        let unique = Rc::get_mut(&mut node).expect("a node nobody else holds");
        Rc::make_mut(&mut unique.config)
            .tenants
            .push(crate::config::Tenant {
                name: "acme".into(),
                domain: "acme.example".into(),
                users: vec!["bob".into()],
                allowed_regions: vec!["r2".into()],
                mailbox_host: "mbx-acme".into(),
                backup_mailbox_hosts: Vec::new(),
                spam_policy: crate::config::SpamPolicy::Tag,
            });
        // Whether the quorum is known decides between 250 and 451 later;
        // the user check comes first.
        let known = |rcpt: &str| {
            !matches!(
                check_rcpt(&node, rcpt, &mut None),
                RcptCheck::UnknownUser | RcptCheck::RelayDenied
            )
        };
        assert!(known("bob@acme.example"));
        assert!(known("Bob@ACME.example"));
        assert!(known("postmaster@acme.example"));
        assert!(known("PostMaster@Acme.Example"));
        assert!(matches!(
            check_rcpt(&node, "nobody@acme.example", &mut None),
            RcptCheck::UnknownUser
        ));
        assert!(matches!(
            check_rcpt(&node, "postmaster@elsewhere.example", &mut None),
            RcptCheck::RelayDenied
        ));
    }
}
