//! Delivery of a scanned message's pending recipients over SMTP: to the
//! tenant's mail servers in route order (the next when one does not take
//! the mail), or, for a DSN, to the original sender's domain
//! found through the MX directory. 2xx settles a recipient as delivered,
//! 5xx as bounced; anything else leaves it pending for the next retry.
//!
//! Right before each final dot the owner confirms its ballot once more, and
//! that confirmation marks the message in doubt on the majority (see
//! `sync`): from then until the outcome is replicated, a successor would
//! know to wait for this node's word rather than deliver again.

use std::time::Duration;

use traces::EventKind;

use crate::config::SMTP_PORT;
use crate::env;
use crate::gateway::sync::{self, Intent, Standing};
use crate::gateway::{SharedNode, peer};
use crate::mime::dsn;
use crate::mx;
use crate::smtp::client::{self, ClientError, Handover, Outgoing, Reply};
use crate::spool::{Entry, RcptState};

/// How long the `dot-timeout-bounces` bug waits for the reply to the
/// final dot: shorter than a tarpit's every reply.
const DOT_REPLY_TIMEOUT_MS_BUGGY: u64 = 1_000;

pub async fn deliver_pending(node: &SharedNode, entry: &mut Entry, raw: &[u8], tag_spam: bool) {
    if node.config.bug("refusal-cached-per-recipient") {
        bounce_remembered_refusals(node, entry);
    }
    let pending = entry.pending_rcpts();
    if pending.is_empty() {
        return;
    }
    let targets = match destinations(node, entry, &pending).await {
        Ok(targets) => targets,
        Err(e) if entry.is_dsn && node.config.bug("servfail-bounces") => {
            // The bug: any failed lookup (SERVFAIL, no answer) is taken for
            // NXDOMAIN, a permanent "no such domain", and the DSN, which
            // nobody is told about, is given up.
            for rcpt in pending {
                let reply = Reply::new(550, format!("5.1.2 no such domain: {e}"));
                bounce_unoffered(node, entry, rcpt, &reply, format!("{e}"));
            }
            return;
        }
        Err(e) => {
            node.note("route_failed", format!("{}: {e}", entry.id));
            return;
        }
    };
    let mut body = if tag_spam {
        let mut tagged = b"X-Spam-Flag: YES\r\n".to_vec();
        tagged.extend_from_slice(raw);
        tagged
    } else {
        raw.to_vec()
    };
    if node.config.bug("truncate-body") {
        // The bug: the last line is lost, as by a splitter that stops at
        // the last line break it finds before the end.
        let kept = body[..body.len().saturating_sub(2)]
            .windows(2)
            .rposition(|w| w == b"\r\n")
            .map_or(body.len(), |at| at + 2);
        body.truncate(kept);
    }
    if node.config.bug("delete-before-downstream-ack") {
        // Settle first, deliver after: a failed delivery is now a lost one.
        for rcpt in &pending {
            entry.rcpts.insert(rcpt.clone(), RcptState::Delivered);
        }
        for target in &entry.replicas {
            let _ = peer::update(node, target, entry).await;
        }
    }
    for host in targets {
        let outcomes = attempt(node, entry, &host, &pending, &body).await;
        if outcomes.is_empty() {
            tracing::debug!(msg = %entry.message_id, %host, "delivery attempt settled no recipient");
        }
        let mut any_delivered = false;
        for (rcpt, state) in outcomes {
            if matches!(state, RcptState::Delivered) {
                any_delivered = true;
                tracing::info!(msg = %entry.message_id, %rcpt, %host, "delivered");
                node.env.observe(EventKind::GwDelivered {
                    msg: entry.message_id.clone(),
                    rcpt: rcpt.clone(),
                });
            }
            if let RcptState::Bounced { diagnostic, .. } = &state {
                tracing::info!(msg = %entry.message_id, %rcpt, %host, %diagnostic, "bounced");
                node.env.observe(EventKind::GwBounced {
                    msg: entry.message_id.clone(),
                    rcpt: rcpt.clone(),
                    reason: diagnostic.clone(),
                });
            }
            if !node.config.bug("delete-before-downstream-ack") {
                entry.rcpts.insert(rcpt, state);
            }
        }
        if any_delivered || entry.pending_rcpts().is_empty() {
            return;
        }
    }
}

/// Hosts to try, in order.
async fn destinations(
    node: &SharedNode,
    entry: &Entry,
    pending: &[String],
) -> std::io::Result<Vec<String>> {
    if entry.is_dsn {
        let rcpt = pending.first().cloned().unwrap_or_default();
        let domain = rcpt.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        let answer = mx::lookup(
            node.env.as_ref(),
            &node.config.dns_host,
            domain,
            node.config.knobs.delivery_timeout_ms,
        )
        .await?;
        return Ok(answer.hosts);
    }
    let tenants = &node.config.tenants;
    let Some(index) = tenants.iter().position(|t| t.name == entry.tenant) else {
        return Err(std::io::Error::other(format!(
            "unknown tenant {}",
            entry.tenant
        )));
    };
    let index = if node.config.bug("cross-tenant-routing") && entry.rcpts.len() > 1 {
        (index + 1) % tenants.len()
    } else {
        index
    };
    if node.config.bug("first-mailbox-only") {
        return Ok(vec![tenants[index].mailbox_host.clone()]);
    }
    Ok(tenants[index].delivery_route())
}

/// One SMTP transaction; returns the recipients whose state it settled.
async fn attempt(
    node: &SharedNode,
    entry: &Entry,
    host: &str,
    pending: &[String],
    body: &[u8],
) -> Vec<(String, RcptState)> {
    let timeout_ms = node.config.knobs.delivery_timeout_ms;
    let connect = env::timeout(
        node.env.as_ref(),
        Duration::from_millis(timeout_ms),
        node.env.connect(host, SMTP_PORT),
    )
    .await;
    let mut conn = match connect {
        Ok(Ok(conn)) => conn,
        _ if node.config.bug("bounce-on-4xx") => {
            // The bug: a refused connection is taken for a permanent failure.
            return pending
                .iter()
                .map(|rcpt| {
                    let reply = Reply::new(421, "connection refused");
                    (rcpt.clone(), bounced(node, &reply))
                })
                .collect();
        }
        _ => return Vec::new(),
    };
    let still_ours = async {
        if node.config.bug("no-fencing-on-rejoin") {
            return true;
        }
        match sync::confirm(node, &entry.id, Intent::Deliver).await {
            Standing::Confirmed => {}
            Standing::Fenced => {
                node.declined_by_ballot
                    .borrow_mut()
                    .insert(entry.id.clone(), true);
                return false;
            }
            Standing::Unconfirmed => {
                node.note(
                    "owner_unconfirmed",
                    format!(
                        "{}: no majority of the copy set confirmed our ballot; not delivering",
                        entry.id
                    ),
                );
                node.declined_by_ballot
                    .borrow_mut()
                    .insert(entry.id.clone(), false);
                return false;
            }
        }
        if node.env.buggify("delivery.stall_after_confirm") {
            // A stall as long as the lease between the confirmation and the
            // final dot: a successor may claim the message meanwhile, and
            // must find it in doubt rather than deliver it too.
            let lease = Duration::from_millis(node.config.knobs.owner_lease_ms);
            node.env.sleep(lease).await;
        }
        // The confirmation may have taught us that someone settled one of
        // these recipients meanwhile: then this transaction is stale.
        let current = node.entries.borrow().get(&entry.id).cloned();
        current.is_some_and(|current| {
            pending
                .iter()
                .all(|r| current.rcpts.get(r).is_some_and(|s| !s.is_final()))
        })
    };
    let outgoing = Outgoing {
        helo: node.me(),
        mail_from: &entry.mail_from,
        rcpts: pending,
        message: body,
        smtputf8: entry.smtputf8,
        dot_reply_timeout_ms: node
            .config
            .bug("dot-timeout-bounces")
            .then_some(DOT_REPLY_TIMEOUT_MS_BUGGY),
    };
    let transaction = client::send_mail_guarded(
        node.env.as_ref(),
        &mut conn,
        outgoing,
        timeout_ms,
        still_ours,
    )
    .await;
    let transaction = match transaction {
        Ok(Handover::Sent(transaction)) => transaction,
        Ok(Handover::NotSent(lacking)) => {
            // The next hop cannot take this message as it is, and we do
            // not rewrite what we promised to deliver intact: bounce.
            let diagnostic = format!("x-mailsim; {host}: {lacking}");
            return pending
                .iter()
                .map(|rcpt| {
                    let state = RcptState::Bounced {
                        status: lacking.status.to_string(),
                        diagnostic: diagnostic.clone(),
                    };
                    (rcpt.clone(), state)
                })
                .collect();
        }
        Err(ClientError::AfterDot(why))
            if node.config.bug("dot-timeout-bounces") && why.contains("timed out") =>
        {
            // The bug: silence after the dot is taken for a refusal,
            // though the server may be about to say 250 (a tarpit).
            return pending
                .iter()
                .map(|rcpt| {
                    let reply = Reply::new(554, "no reply to the final dot");
                    (rcpt.clone(), bounced(node, &reply))
                })
                .collect();
        }
        Err(ClientError::AfterDot(_)) if node.config.bug("drop-means-delivered") => {
            // The bug: "the server usually has it by now", so a stream
            // that died after the data went out counts as delivered.
            return pending
                .iter()
                .map(|rcpt| (rcpt.clone(), RcptState::Delivered))
                .collect();
        }
        Err(ClientError::BeforeDot(why))
            if node.config.bug("drop-means-delivered") && why.starts_with("body") =>
        {
            return pending
                .iter()
                .map(|rcpt| (rcpt.clone(), RcptState::Delivered))
                .collect();
        }
        // After the dot the mailbox may have it; retrying may duplicate,
        // which beats losing it (RFC 1047).
        Err(ClientError::BeforeDot(_)) | Err(ClientError::AfterDot(_)) => return Vec::new(),
    };
    let mut settled = Vec::new();
    let final_reply = transaction
        .data
        .as_ref()
        .or(transaction.data_start.as_ref());
    for (rcpt, reply) in &transaction.rcpts {
        // The bounce-on-4xx bug takes a temporary refusal for a permanent
        // one; retry-after-5xx, a permanent one for a temporary one.
        let permanent = (reply.code >= 500 && !node.config.bug("retry-after-5xx"))
            || (reply.code >= 400 && node.config.bug("bounce-on-4xx"));
        if reply.code >= 500 && node.config.bug("refusal-cached-per-recipient") {
            let remembered = (reply.code, reply.text.clone());
            (node.refused_at_rcpt_buggy.borrow_mut()).insert(rcpt.to_ascii_lowercase(), remembered);
        }
        let state = if permanent {
            bounced(node, reply)
        } else if reply.code >= 400 {
            continue;
        } else {
            match final_reply {
                Some(reply) if reply.is_positive() => RcptState::Delivered,
                Some(reply) if reply.code >= 500 => bounced(node, reply),
                _ => continue,
            }
        };
        settled.push((rcpt.clone(), state));
    }
    settled
}

/// The `refusal-cached-per-recipient` bug: a pending recipient some
/// server refused at RCPT before, in any message's transaction, is bounced
/// with that old reply without being offered.
fn bounce_remembered_refusals(node: &SharedNode, entry: &mut Entry) {
    for rcpt in entry.pending_rcpts() {
        let remembered = node
            .refused_at_rcpt_buggy
            .borrow()
            .get(&rcpt.to_ascii_lowercase())
            .cloned();
        let Some((code, text)) = remembered else {
            continue;
        };
        let reply = Reply::new(code, text);
        let reason = format!("smtp; {} {}", reply.code, reply.text);
        bounce_unoffered(node, entry, rcpt, &reply, reason);
    }
}

/// Settles `rcpt` as bounced with `reply` without offering it (the bugs
/// that decide a refusal nobody gave), and says so in the log.
fn bounce_unoffered(
    node: &SharedNode,
    entry: &mut Entry,
    rcpt: String,
    reply: &Reply,
    reason: String,
) {
    node.env.observe(EventKind::GwBounced {
        msg: entry.message_id.clone(),
        rcpt: rcpt.clone(),
        reason,
    });
    entry.rcpts.insert(rcpt, bounced(node, reply));
}

/// A recipient its server refused: the DSN reports the server's own
/// enhanced status when its reply gave one (RFC 3464 §2.3.4), else only
/// the class (`5.0.0`); `dsn-status-generic` always reports the class.
/// The reply's text is kept to a bound (`dsn::bounded_diagnostic`);
/// `refusal-text-kept-whole` keeps all of it.
fn bounced(node: &SharedNode, reply: &Reply) -> RcptState {
    let status = match reply.enhanced_status() {
        Some(status) if !node.config.bug("dsn-status-generic") => status.to_string(),
        _ => format!("{}.0.0", reply.code / 100),
    };
    let diagnostic = format!("smtp; {} {}", reply.code, reply.text);
    let diagnostic = if node.config.bug("refusal-text-kept-whole") {
        diagnostic
    } else {
        dsn::bounded_diagnostic(&diagnostic)
    };
    RcptState::Bounced { status, diagnostic }
}
