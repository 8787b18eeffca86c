//! The queue: for each message this node owns, get a verdict (fail-closed:
//! no verdict, no delivery), then deliver, quarantine or bounce each
//! recipient, retrying with backoff until the queue lifetime ends. Progress
//! is fsynced and copied to the replicas before anything else happens, so a
//! new owner never redoes finished recipients.

use std::time::Duration;

use traces::{EventKind, Verdict};

use crate::config::SpamPolicy;
use crate::gateway::{SharedNode, delivery, peer};
use crate::mime::dsn::{self, DsnRequest, FailedRecipient};
use crate::retry;
use crate::scanner::{self, ScanRequest};
use crate::spool::{self, Durability, Entry, RcptState};

/// Looks for due work every queue tick, forever.
pub async fn run(node: SharedNode) {
    let tick = Duration::from_millis(node.config.knobs.queue_tick_ms);
    loop {
        node.env.sleep(tick).await;
        let now_ms = node.now_ms();
        let due: Vec<String> = node
            .entries
            .borrow()
            .values()
            .filter(|e| e.owner == node.me() && e.next_attempt_ms <= now_ms)
            .filter(|e| !node.in_flight.borrow().contains(&e.id))
            .map(|e| e.id.clone())
            .collect();
        for id in due {
            node.in_flight.borrow_mut().insert(id.clone());
            let worker = node.clone();
            node.env.spawn(Box::pin(async move {
                process(&worker, &id).await;
                worker.in_flight.borrow_mut().remove(&id);
            }));
        }
    }
}

/// One pass over one message.
async fn process(node: &SharedNode, id: &str) {
    let Some(mut entry) = node.entries.borrow().get(id).cloned() else {
        return;
    };
    let raw = match spool::load_message(node.env.disk(), id) {
        Ok(raw) => raw,
        Err(e) => {
            node.note("spool_read_failed", format!("{id}: {e}"));
            return;
        }
    };
    if entry.verdict.is_none() {
        entry.verdict = scan(node, &entry, &raw).await;
        if entry.verdict.is_none() {
            // Fail-closed: the message waits for a scanner.
            tracing::debug!(msg = %entry.message_id, spool_id = %entry.id, "no verdict yet, waiting");
            entry.attempts += 1;
            reschedule(node, &mut entry);
            persist(node, &entry).await;
            return;
        }
    }
    let tenant = node.tenant(&entry.tenant).cloned();
    let quarantine = matches!(
        (entry.verdict, tenant.as_ref().map(|t| t.spam_policy)),
        (Some(Verdict::Malware), _) | (Some(Verdict::Spam), Some(SpamPolicy::Quarantine))
    );
    if quarantine && !entry.is_dsn {
        match spool::quarantine(node.env.disk(), &entry.id, &raw) {
            Ok(()) => {
                for state in entry.rcpts.values_mut() {
                    if !state.is_final() {
                        *state = RcptState::Quarantined;
                    }
                }
                tracing::info!(msg = %entry.message_id, region = %node.region, "quarantined");
                node.env.observe(EventKind::GwQuarantined {
                    msg: entry.message_id.clone(),
                    region: node.region.clone(),
                });
            }
            Err(e) => node.note("quarantine_failed", format!("{}: {e}", entry.id)),
        }
    } else {
        let tag_spam = entry.verdict == Some(Verdict::Spam);
        delivery::deliver_pending(node, &mut entry, &raw, tag_spam).await;
    }
    if !entry.pending_rcpts().is_empty() {
        let expired = retry::expired(
            node.now_ms(),
            entry.received_ms,
            node.config.knobs.queue_lifetime_ms,
        );
        if expired && !node.config.bug("retry-forever") {
            tracing::info!(msg = %entry.message_id, spool_id = %entry.id, "expired in queue, bouncing what is pending");
            for state in entry.rcpts.values_mut() {
                if !state.is_final() {
                    *state = RcptState::Bounced {
                        status: "4.4.7".into(),
                        diagnostic: "smtp; message expired in queue".into(),
                    };
                }
            }
        } else {
            entry.attempts += 1;
            reschedule(node, &mut entry);
        }
    }
    if !entry.is_dsn && !entry.unreported_bounces().is_empty() {
        queue_dsn(node, &mut entry, &raw).await;
    }
    persist(node, &entry).await;
    if entry.is_finished() {
        finish(node, &entry).await;
    }
}

fn reschedule(node: &SharedNode, entry: &mut Entry) {
    let knobs = &node.config.knobs;
    entry.next_attempt_ms = node.now_ms()
        + retry::backoff_ms(entry.attempts, knobs.backoff_ms_min, knobs.backoff_ms_max);
}

/// Asks the tenant's scanners, nearest first; None if none answered.
async fn scan(node: &SharedNode, entry: &Entry, raw: &[u8]) -> Option<Verdict> {
    let tenant = node.tenant(&entry.tenant)?.clone();
    let scanners: Vec<String> = if node.config.bug("failover-ignores-residency") {
        node.config
            .scanners
            .iter()
            .map(|n| n.host.clone())
            .collect()
    } else {
        node.config
            .scanners_for_tenant(&tenant, &node.region)
            .iter()
            .map(|n| n.host.clone())
            .collect()
    };
    let request = ScanRequest {
        spool_id: entry.id.clone(),
        message_id: entry.message_id.clone(),
    };
    for host in &scanners {
        match scanner::ask(&node.env, &node.config, host, &request, raw).await {
            Ok(reply) => {
                tracing::debug!(msg = %entry.message_id, scanner = %host, verdict = ?reply.verdict, "verdict received");
                return Some(reply.verdict);
            }
            Err(error) => {
                tracing::debug!(msg = %entry.message_id, scanner = %host, %error, "scanner did not answer");
                continue;
            }
        }
    }
    node.note(
        "scan_waited",
        format!(
            "{}: no scanner answered ({} tried)",
            entry.id,
            scanners.len()
        ),
    );
    if node.config.bug("fail-open-scanner") {
        return Some(Verdict::Clean);
    }
    None
}

/// Queues one DSN for the bounced recipients not yet reported. The DSN is a
/// message like any other: spooled, replicated to this message's replicas,
/// delivered with retries. Its id is derived from the original's, so doing
/// this twice after a crash writes the same DSN, not a second one.
async fn queue_dsn(node: &SharedNode, entry: &mut Entry, raw: &[u8]) {
    let bounced = entry.unreported_bounces();
    if entry.mail_from.is_empty() && !node.config.bug("dsn-about-dsn") {
        // Never a DSN about a DSN (null return path).
        entry.dsn_reported.extend(bounced);
        return;
    }
    if node.config.bug("expiry-without-dsn")
        && bounced.iter().all(
            |r| matches!(&entry.rcpts[r], RcptState::Bounced { status, .. } if status == "4.4.7"),
        )
    {
        entry.dsn_reported.extend(bounced);
        return;
    }
    let failed: Vec<FailedRecipient> = bounced
        .iter()
        .map(|rcpt| {
            let (status, diagnostic) = match &entry.rcpts[rcpt] {
                RcptState::Bounced { status, diagnostic } => (status.clone(), diagnostic.clone()),
                _ => ("5.0.0".to_string(), "smtp; undeliverable".to_string()),
            };
            FailedRecipient {
                rcpt: rcpt.clone(),
                status,
                diagnostic,
                action: "failed".into(),
            }
        })
        .collect();
    let dsn_id = format!("{}-dsn{}", entry.id, entry.dsn_reported.len());
    let dsn_message_id = format!("dsn.{dsn_id}@{}", node.me());
    let date = format!("Wed, 25 Nov 2026 00:00:00 +0000 (t+{} ms)", node.now_ms());
    let to = if node.config.bug("dsn-to-wrong-sender") {
        bounced.first().cloned().unwrap_or_default()
    } else {
        entry.mail_from.clone()
    };
    let bytes = dsn::build_dsn(&DsnRequest {
        reporting_mta: node.me(),
        dsn_message_id: &format!("<{dsn_message_id}>"),
        original_sender: &to,
        original_message: raw,
        failed: &failed,
        date_rfc2822: &date,
    });
    let dsn_entry = Entry {
        id: dsn_id.clone(),
        message_id: dsn_message_id,
        tenant: entry.tenant.clone(),
        mail_from: String::new(),
        rcpts: [(to, RcptState::Pending)].into_iter().collect(),
        received_ms: node.now_ms(),
        owner: node.me().to_string(),
        epoch: entry.epoch,
        replicas: entry.replicas.clone(),
        verdict: Some(Verdict::Clean),
        is_dsn: true,
        attempts: 0,
        next_attempt_ms: node.now_ms(),
        dsn_reported: Vec::new(),
    };
    if let Err(e) = spool::store_new(node.env.disk(), &dsn_entry, &bytes, Durability::Synced) {
        node.note("dsn_spool_failed", format!("{}: {e}", entry.id));
        return;
    }
    for target in &dsn_entry.replicas {
        let _ = peer::replicate(node, target, &dsn_entry, &bytes).await;
    }
    tracing::info!(msg = %entry.message_id, dsn = %dsn_entry.message_id, rcpts = ?bounced, "DSN queued");
    node.entries.borrow_mut().insert(dsn_id, dsn_entry);
    entry.dsn_reported.extend(bounced);
}

/// Stores the entry here and sends it to the replicas.
async fn persist(node: &SharedNode, entry: &Entry) {
    if let Err(e) = spool::store_entry(node.env.disk(), entry, Durability::Synced) {
        node.note("spool_update_failed", format!("{}: {e}", entry.id));
    }
    node.entries
        .borrow_mut()
        .insert(entry.id.clone(), entry.clone());
    for target in &entry.replicas {
        let _ = peer::update(node, target, entry).await;
    }
}

/// Every recipient is settled: drop the copies, here and on the replicas.
async fn finish(node: &SharedNode, entry: &Entry) {
    for target in &entry.replicas {
        let _ = peer::forget(node, target, &entry.id).await;
    }
    if let Err(e) = spool::remove(node.env.disk(), &entry.id) {
        node.note("spool_remove_failed", format!("{}: {e}", entry.id));
        return;
    }
    node.entries.borrow_mut().remove(&entry.id);
}
