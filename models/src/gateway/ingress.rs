//! SMTP ingress: takes a message only when it can keep the promise a 250
//! makes (RFC 5321 §6.1): spooled and fsynced here, and copied to enough
//! nodes in the tenant's allowed regions — a quorum spanning several clouds —
//! that the declared fault model cannot lose it. Otherwise 451, and the
//! sender keeps responsibility.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use traces::EventKind;

use crate::config::{GatewayConfig, SMTP_PORT, Tenant};
use crate::env::{self, BoxConn};
use crate::gateway::ballot::Ballot;
use crate::gateway::{SharedNode, peer};
use crate::mime::dsn;
use crate::smtp::session::{Envelope, RcptCheck, Session, SessionLimits, Step};
use crate::spool::{self, Durability, Entry, RcptState};

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
    let mut session = Session::new(SessionLimits {
        hostname: node.me().to_string(),
        max_message_bytes: knobs.max_message_bytes,
        max_recipients: knobs.max_recipients,
        max_line_bytes: 1000,
    });
    if conn.write_all(&session.greeting()).await.is_err() {
        return;
    }
    let idle = Duration::from_millis(knobs.smtp_command_timeout_ms);
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
            }
            Some(Step::Close) => {
                tracing::debug!(%peer, "smtp session closed by QUIT");
                let _ = conn.shutdown().await;
                return;
            }
            Some(Step::Message { envelope, data }) => {
                let answer = accept(&node, &envelope, &data).await;
                tenant_of_transaction = None;
                let reply = session.answer_message(answer.code, answer.enhanced, &answer.text);
                if conn.write_all(&reply).await.is_err() {
                    return;
                }
            }
            None => {
                let read = env::timeout(node.env.as_ref(), idle, conn.read(&mut buf)).await;
                match read {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(n)) => session.push(&buf[..n]),
                    Err(env::Elapsed) => {
                        tracing::debug!(%peer, "smtp session idle too long, closing");
                        let _ = conn
                            .write_all(b"421 4.4.2 idle too long, closing\r\n")
                            .await;
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
    if !tenant.users.iter().any(|u| u.eq_ignore_ascii_case(local)) {
        return RcptCheck::UnknownUser;
    }
    match tenant_of_transaction {
        Some(name) if *name != tenant.name => RcptCheck::TryLater,
        _ => {
            *tenant_of_transaction = Some(tenant.name.clone());
            RcptCheck::Accept
        }
    }
}

async fn accept(node: &SharedNode, envelope: &Envelope, data: &[u8]) -> Answer {
    let message_id = dsn::message_id(data).unwrap_or_else(|| "<none>".to_string());
    let Some(tenant) = envelope
        .rcpts
        .first()
        .and_then(|r| node.config.tenant_for_address(r))
        .cloned()
    else {
        return Answer {
            code: 554,
            enhanced: "5.5.0",
            text: "no valid recipients".into(),
        };
    };
    let id = format!("{:016x}", node.env.random_u64());
    let now_ms = node.now_ms();
    let targets = replica_targets(&node.config, node.me(), &tenant);
    let entry = Entry {
        id: id.clone(),
        message_id: message_id.clone(),
        tenant: tenant.name.clone(),
        mail_from: envelope.mail_from.clone(),
        rcpts: envelope
            .rcpts
            .iter()
            .map(|r| (r.clone(), RcptState::Pending))
            .collect(),
        received_ms: now_ms,
        owner: node.me().to_string(),
        epoch: 1,
        replicas: targets.clone(),
        verdict: None,
        is_dsn: envelope.mail_from.is_empty(),
        attempts: 0,
        next_attempt_ms: now_ms,
        dsn_reported: Vec::new(),
        in_doubt: None,
    };
    let durability = if node.config.bug("ack-before-fsync") {
        Durability::Unsynced
    } else if node.config.bug("ack-before-dir-sync") {
        Durability::FilesOnly
    } else {
        Durability::Synced
    };
    if let Err(e) = spool::store_new(node.env.disk(), &entry, data, durability) {
        // Whatever part of it reached the disk must not stay there.
        super::discard(node, &id);
        return defer(node, &message_id, &id, format!("spool write failed: {e}"));
    }
    let replicated = if node.config.bug("ack-before-replication-quorum") {
        // The copies go out, but nobody waits for them.
        let copier = node.clone();
        let (entry, data) = (entry.clone(), data.to_vec());
        node.env.spawn(Box::pin(async move {
            let _ = replicate(&copier, &entry, &data).await;
        }));
        Ok(Vec::new())
    } else {
        replicate(node, &entry, data).await
    };
    match replicated {
        Ok(acked) => {
            tracing::info!(msg = %message_id, spool_id = %id, tenant = %tenant.name, rcpts = entry.rcpts.len(), replicas = ?acked, "accepted (250)");
            node.entries.borrow_mut().insert(id.clone(), entry.clone());
            node.env.observe(EventKind::GwAccepted {
                msg: message_id,
                spool_id: id.clone(),
                rcpts: envelope.rcpts.clone(),
                replicas: acked,
            });
            Answer {
                code: 250,
                enhanced: "2.0.0",
                text: format!("queued as {id}"),
            }
        }
        Err(reason) => {
            super::discard(node, &id);
            // Copies that did land must not outlive the refusal.
            let forgetter = node.clone();
            let forget_id = id.clone();
            let ours = Ballot::of(&entry);
            node.env.spawn(Box::pin(async move {
                for target in &targets {
                    let _ = peer::forget(&forgetter, target, &forget_id, &ours).await;
                }
            }));
            defer(node, &message_id, &id, reason)
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

/// The other gateways that should hold a copy: every gateway in the tenant's
/// allowed regions except this one (or every gateway, under the
/// failover-ignores-residency bug).
pub fn replica_targets(config: &GatewayConfig, me: &str, tenant: &Tenant) -> Vec<String> {
    let ignore_residency = config.bug("failover-ignores-residency");
    config
        .gateways
        .iter()
        .filter(|n| n.host != me)
        .filter(|n| ignore_residency || tenant.allowed_regions.contains(&n.region))
        .map(|n| n.host.clone())
        .collect()
}

/// Copies the message to replicas until the quorum holds — enough copies,
/// on enough clouds — or the replication timeout passes.
pub(crate) async fn replicate(
    node: &SharedNode,
    entry: &Entry,
    data: &[u8],
) -> Result<Vec<String>, String> {
    let knobs = &node.config.knobs;
    let deadline = Duration::from_millis(knobs.replication_timeout_ms);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(String, bool)>();
    for target in &entry.replicas {
        let (node, entry, data, target, done) = (
            node.clone(),
            entry.clone(),
            data.to_vec(),
            target.clone(),
            done_tx.clone(),
        );
        node.env.clone().spawn(Box::pin(async move {
            let ok = peer::replicate(&node, &target, &entry, &data).await.is_ok();
            let _ = done.send((target, ok));
        }));
    }
    drop(done_tx);
    let mut acked: Vec<String> = Vec::new();
    let wait_for_quorum = async {
        while !quorum_holds(&node.config, node.me(), &acked) {
            match done_rx.recv().await {
                Some((target, true)) => {
                    tracing::debug!(spool_id = %entry.id, %target, "replica stored");
                    acked.push(target);
                }
                Some((target, false)) => {
                    tracing::debug!(spool_id = %entry.id, %target, "replica failed");
                }
                None => return false,
            }
        }
        true
    };
    match env::timeout(node.env.as_ref(), deadline, wait_for_quorum).await {
        Ok(true) => Ok(acked),
        Ok(false) => Err(format!(
            "replication quorum impossible: {} of {} replicas answered",
            acked.len(),
            entry.replicas.len()
        )),
        Err(env::Elapsed) => Err(format!(
            "replication quorum not reached in {} ms",
            knobs.replication_timeout_ms
        )),
    }
}

/// Copies on this node plus `acked` reach the quorum size and cloud spread.
pub fn quorum_holds(config: &GatewayConfig, me: &str, acked: &[String]) -> bool {
    let copies = 1 + acked.len() as u32;
    let clouds: BTreeSet<&str> = std::iter::once(me)
        .chain(acked.iter().map(String::as_str))
        .filter_map(|host| config.cloud_of_host(host))
        .collect();
    let quorum = if config.bug("answer-451-always") {
        // The bug: the quorum is taken over the whole deployment rather
        // than the tenant's copy set, so it never holds and every message
        // gets 451: nothing accepted, nothing lost, nothing delivered.
        config.gateways.len() as u32
    } else {
        config.knobs.replica_quorum
    };
    copies >= quorum && clouds.len() as u32 >= config.knobs.replica_clouds_min
}
