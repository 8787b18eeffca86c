//! The queue: for each message this node owns, get a verdict (fail-closed:
//! no verdict, no delivery), then deliver, quarantine or bounce each
//! recipient, retrying with backoff until the queue lifetime ends. Progress
//! is fsynced and copied to the replicas before anything else happens, so a
//! new owner never redoes finished recipients.
//!
//! Before it acts on a message the owner confirms with a majority of the
//! copy set that its ballot is still current (`sync::confirm`), so a node
//! back from a crash or a partition never delivers what it no longer owns.
//! Due messages go oldest first, at most a few at a time per destination, so
//! a mailbox server that comes back after an outage drains in arrival order.

use std::collections::BTreeMap;
use std::time::Duration;

use traces::{EventKind, Verdict};

use crate::config::SpamPolicy;
use crate::gateway::ballot::{self, Ballot, Progress};
use crate::gateway::sync::{self, Intent, Standing};
use crate::gateway::{SharedNode, delivery, peer, replication, tombstones};
use crate::mime::date;
use crate::mime::dsn::{self, DsnRequest, FailedRecipient};
use crate::retry;
use crate::scanner::{self, ScanRequest};
use crate::spool::{self, Durability, Entry, InDoubt, NewMessage, RcptState};
use crate::tolerances;

/// Passes per destination that may be delivering at once (one storing its
/// outcome no longer counts): enough to drain quickly, few enough that a
/// recovering mailbox server sees the oldest mail first.
const PASSES_PER_DESTINATION_MAX: usize = 4;

/// Starts due work whenever it may be there: when rung (a new message, a
/// pass that ended, a takeover), when the earliest backoff ends, and at the
/// latest every queue tick (the backstop for changes nobody rang for).
pub async fn run(node: SharedNode) {
    // A node back from a crash asks before it acts: one sync round first
    // learns every takeover and finished message it missed while down.
    if !node.config.bug("no-fencing-on-rejoin") {
        sync::round(&node).await;
    }
    let tick_ms = node.config.knobs.queue_tick_ms.max(1);
    loop {
        let wait_ms = match start_due(&node) {
            Some(due_ms) => due_ms.saturating_sub(node.now_ms()).clamp(1, tick_ms),
            None => tick_ms,
        };
        node.doorbell
            .wait(node.env.as_ref(), Duration::from_millis(wait_ms))
            .await;
    }
}

/// Starts a pass for each due message, oldest first, as far as each
/// destination's passes allow; returns when the next one not yet due is.
/// (Due messages held back by a busy destination wait for a pass to end:
/// it rings.)
fn start_due(node: &SharedNode) -> Option<u64> {
    let now_ms = node.now_ms();
    let mut busy: BTreeMap<String, usize> = BTreeMap::new();
    let mut due: Vec<(u64, String, String)> = Vec::new();
    let mut next_due_ms: Option<u64> = None;
    {
        let entries = node.entries.borrow();
        let in_flight = node.in_flight.borrow();
        let settling = node.settling.borrow();
        for entry in entries.values().filter(|e| e.owner == node.me()) {
            if in_flight.contains(&entry.id) {
                if !settling.contains(&entry.id) {
                    *busy.entry(destination(entry)).or_default() += 1;
                }
            } else if entry.next_attempt_ms <= now_ms {
                due.push((entry.received_ms, entry.id.clone(), destination(entry)));
            } else {
                next_due_ms = Some(
                    next_due_ms.map_or(entry.next_attempt_ms, |n| n.min(entry.next_attempt_ms)),
                );
            }
        }
    }
    due.sort();
    if node.config.bug("queue-newest-first") {
        // The bug: a stack where a queue belongs.
        due.reverse();
    }
    for (_, id, destination) in due {
        let passes = busy.entry(destination).or_default();
        if *passes >= PASSES_PER_DESTINATION_MAX {
            continue;
        }
        *passes += 1;
        node.in_flight.borrow_mut().insert(id.clone());
        let worker = node.clone();
        node.env.spawn(Box::pin(async move {
            process(&worker, &id).await;
            worker.in_flight.borrow_mut().remove(&id);
            worker.settling.borrow_mut().remove(&id);
            // A slot is free, and the pass may have made more work due.
            worker.doorbell.ring();
        }));
    }
    next_due_ms
}

/// Where a message goes: its tenant's mailbox server, or for a DSN the
/// original sender's domain.
fn destination(entry: &Entry) -> String {
    if entry.is_dsn {
        let rcpt = entry.rcpts.keys().next().map(String::as_str).unwrap_or("");
        let domain = rcpt.rsplit_once('@').map(|(_, d)| d).unwrap_or(rcpt);
        format!("domain:{}", domain.to_ascii_lowercase())
    } else {
        format!("tenant:{}", entry.tenant)
    }
}

/// Whether we may act on `id` now. A node without a majority behind its
/// ballot waits a sync interval and asks again; a fenced one stops for good.
async fn may_act(node: &SharedNode, id: &str) -> bool {
    if node.config.bug("no-fencing-on-rejoin") {
        // The bug: trust the local copy's ballot, whoever owns it by now.
        return true;
    }
    match confirm_or_wait(node, id).await {
        Standing::Confirmed => true,
        Standing::Fenced => false,
        Standing::Unconfirmed => {
            node.note(
                "owner_unconfirmed",
                format!("{id}: no majority of the copy set confirmed our ballot; waiting"),
            );
            false
        }
    }
}

/// Whether this node's ballot for `id` still has a majority behind it,
/// asked right before a pass gives the message up as expired: the
/// confirmation the pass began with may be long stale. Found by `mailsim
/// explore` (dependencies with BUGGIFY, run 4289): an owner paused 22 s
/// mid-pass woke, met greylisting at RCPT (so its delivery never reached
/// the confirmation before the dot), and bounced the message its
/// successor had delivered meanwhile. `expired-after-calling-off` does
/// not ask.
async fn still_standing(node: &SharedNode, id: &str) -> bool {
    if node.config.bug("expired-after-calling-off") {
        return true;
    }
    confirm_or_wait(node, id).await == Standing::Confirmed
}

/// Asks a majority to confirm our ballot for `id` (to look, not to
/// deliver); when none does, looks at `id` again after the next sync round.
async fn confirm_or_wait(node: &SharedNode, id: &str) -> Standing {
    let standing = sync::confirm(node, id, Intent::Look).await;
    if standing == Standing::Unconfirmed {
        retry_after_sync(node, id);
    }
    standing
}

/// Looks at `id` again once the next sync round may have changed things.
fn retry_after_sync(node: &SharedNode, id: &str) {
    let retry_ms = node.now_ms() + node.config.knobs.sync_interval_ms();
    if let Some(entry) = node.entries.borrow_mut().get_mut(id) {
        entry.next_attempt_ms = retry_ms;
    }
}

/// Whether a delivery by a previous owner is still unaccounted for (see
/// `sync`): then we must not deliver yet. The correct gateway waits until
/// that node answers, however long: every outage ends (a node reborn on an
/// empty disk answers too, with nothing), and delivering on a deadline
/// duplicates the mail whenever the silent node's delivery got through
/// (madsim swarm seed 8134: an outage longer than half a short queue
/// lifetime). Meanwhile the message is never bounced as expired
/// (`may_bounce_as_expired`). The `in-doubt-gives-up` bug puts the old
/// deadline back; `bounce-while-in-doubt` also forgets the mark there.
fn waiting_on_doubt(node: &SharedNode, id: &str) -> bool {
    let doubt = node
        .entries
        .borrow()
        .get(id)
        .and_then(|e| e.in_doubt.clone());
    let Some(doubt) = doubt.filter(|d| d.by != node.me() && !d.gave_up) else {
        return false;
    };
    let waited_ms = node.now_ms().saturating_sub(doubt.since_ms);
    let gives_up = node.config.bug("in-doubt-gives-up") || node.config.bug("bounce-while-in-doubt");
    if gives_up && waited_ms >= node.config.knobs.in_doubt_give_up_ms() {
        if let Some(entry) = node.entries.borrow_mut().get_mut(id) {
            entry.in_doubt = match node.config.bug("bounce-while-in-doubt") {
                true => None,
                false => Some(InDoubt {
                    gave_up: true,
                    ..doubt.clone()
                }),
            };
        }
        node.note(
            "in_doubt_given_up",
            format!(
                "{id}: {} never said whether its delivery got through; delivering anyway",
                doubt.by
            ),
        );
        return false;
    }
    retry_after_sync(node, id);
    node.held_in_doubt.borrow_mut().insert(id.to_string());
    node.note(
        "in_doubt_wait",
        format!(
            "{id}: {} was delivering it when it went quiet; waiting to hear how it went",
            doubt.by
        ),
    );
    true
}

/// Our copy of `id`, if we still own it.
fn owned(node: &SharedNode, id: &str) -> Option<Entry> {
    node.entries
        .borrow()
        .get(id)
        .filter(|e| e.owner == node.me())
        .cloned()
}

/// One pass over one message.
async fn process(node: &SharedNode, id: &str) {
    let Some(first) = owned(node, id) else {
        return;
    };
    if first.is_finished() {
        // Settled, but a majority has not let go of it yet.
        finish(node, &first).await;
        return;
    }
    let read = if node.config.bug("spool-trusts-reads") {
        spool::load_message_unchecked(node.env.disk(), id)
    } else {
        // A copy the disk gives back changed is not mail: the message
        // waits for a good read (the copy on disk may be fine) and, if the
        // copy is really gone, for the failover that any lost copy gets.
        spool::load_message(node.env.disk(), id)
    };
    let raw = match read {
        Ok(raw) => raw,
        Err(e) => {
            node.note("spool_read_failed", format!("{id}: {e}"));
            if node.config.bug("read-error-bounces") && e.kind() != std::io::ErrorKind::InvalidData
            {
                bounce_unreadable(node, id).await;
                retry_after_sync(node, id);
                return;
            }
            // Not due again at once: the doorbell a finished pass rings
            // would otherwise retry the read in a loop that takes no time
            // (the `spool-read-retry-hot` bug, which the engine's livelock
            // guard stops).
            if !node.config.bug("spool-read-retry-hot") {
                retry_after_sync(node, id);
            }
            return;
        }
    };
    let mut verdict = first.verdict;
    let scanned_in_this_pass = verdict.is_none();
    let mut scanned_too_late = false;
    if verdict.is_none() {
        // Scanning acts on nothing outside the gateway, so it needs no
        // confirmation; acting on the verdict does.
        verdict = scan(node, &first, &raw).await;
        if verdict.is_none() {
            let Some(mut entry) = owned(node, id) else {
                return;
            };
            // Fail-closed: the message waits for a scanner.
            tracing::debug!(msg = %entry.message_id, spool_id = %entry.id, "no verdict yet, waiting");
            entry.attempts += 1;
            reschedule(node, &mut entry);
            persist(node, &entry).await;
            return;
        }
        // A verdict that came only after the queue lifetime (the scanners
        // were down all that time) decides a quarantine as ever, but mail
        // it clears is bounced as expired, never delivered that late
        // (RFC 5321 §4.5.4.1: the lifetime is the queue's, whatever the
        // message waited for). Bouncing it before a verdict would send a
        // DSN about what may be malware (backscatter, and the property
        // `no_malware_delivered` counts that as a leak), so it waits for
        // one; delivering it whenever the scanners came back was the
        // mistake (madsim swarm seed 324: every US scanner down for 24 s,
        // a lifetime of 8 s). `expiry-waits-for-scan` puts that back.
        scanned_too_late = past_lifetime(node, &first) && !node.config.bug("expiry-waits-for-scan");
        // Whatever happens next, this verdict need not be asked for again.
        if let Some(entry) = node.entries.borrow_mut().get_mut(id) {
            entry.verdict = entry.verdict.or(verdict);
        }
    }
    let tenant = node.tenant(&first.tenant).cloned();
    let quarantine = !first.is_dsn
        && matches!(
            (verdict, tenant.as_ref().map(|t| t.spam_policy)),
            (Some(Verdict::Malware), _) | (Some(Verdict::Spam), Some(SpamPolicy::Quarantine))
        );
    if !quarantine && waiting_on_doubt(node, id) {
        return;
    }
    // Confirmed right before acting, whatever scanning cost in time (and
    // once more before each final dot, in `delivery`).
    if !may_act(node, id).await {
        return;
    }
    let Some(mut entry) = owned(node, id) else {
        return;
    };
    // The lifetime bounds when a delivery may start, whatever kept the
    // message from one until now: a doubt that cleared without a delivery
    // (the wait has no bound, see `waiting_on_doubt`), a ballot no
    // majority confirmed, its owner down. A pass that starts past it
    // bounces what is pending rather than deliver it that late (madsim,
    // found by `mailsim explore`: an owner without a majority from 18 s to
    // 31 s, and another down from 24 s to 36 s, past lifetimes of 5-6 s,
    // each delivered the moment it could act). Not a DSN: one given up is
    // dropped unreported (RFC 3461 §6.2), and its sender would never hear
    // of the mail it reports on; late is better there. That holds for a
    // DSN held for a doubt too: its successor waited out its owner's
    // cloud, down past the DSN's lifetime, and dropped it without a try
    // (`mailsim explore`, dependencies with BUGGIFY, campaign seed 13, run
    // 4348: no_acked_loss; `dsn-dropped-after-doubt` drops it again).
    // `late-after-doubt` and `late-start-after-expiry` put the late
    // deliveries back.
    let held_in_doubt = node.held_in_doubt.borrow_mut().remove(id);
    let too_late = too_late_to_start(node, &entry, held_in_doubt, scanned_in_this_pass);
    entry.verdict = entry.verdict.or(verdict);
    let pending_at_start = entry.pending_rcpts();
    if quarantine {
        match spool::quarantine(node.env.disk(), &entry.id, &raw) {
            Ok(()) => {
                entry.quarantine_pending();
                tracing::info!(msg = %entry.message_id, region = %node.region, "quarantined");
                node.env.observe(EventKind::GwQuarantined {
                    msg: entry.message_id.clone(),
                    region: node.region.clone(),
                });
            }
            Err(e) => node.note("quarantine_failed", format!("{}: {e}", entry.id)),
        }
    } else if (scanned_too_late || too_late) && may_bounce_as_expired(node, &entry) {
        let pending = entry.pending_rcpts();
        bounce_expired(&mut entry, pending);
    } else if scanned_too_late {
        // Neither bounced (a previous owner may have delivered it) nor
        // delivered this late: held until that node answers.
        reschedule(node, &mut entry);
    } else {
        let tag_spam = entry.verdict == Some(Verdict::Spam);
        let was_retry = entry.attempts > 0;
        let pending_before = entry.pending_rcpts().len();
        node.declined_by_ballot.borrow_mut().remove(id);
        delivery::deliver_pending(node, &mut entry, &raw, tag_spam).await;
        if was_retry && entry.pending_rcpts().len() < pending_before {
            destination_is_back(node, &entry);
        }
    }
    // The deliver-and-bounce bug expires the recipients pending before this
    // pass, as if the attempt that just delivered some had not happened.
    let still_pending = if node.config.bug("deliver-and-bounce") {
        pending_at_start
    } else {
        entry.pending_rcpts()
    };
    if !still_pending.is_empty() {
        // A message that should go to quarantine and could not (its write
        // failed: a disk error) is never bounced, however old: a DSN about
        // malware is backscatter to a sender who is likely forged, and the
        // property `no_malware_delivered` counts it as a leak. It waits for
        // a disk that takes the write (found by `mailsim explore` with the
        // bug `expiry-without-dsn`: madsim, a quarantine during fsync errors
        // past a 6 s lifetime). `bounce-unquarantined` bounces it.
        let bounce_anyway = node.config.bug("bounce-unquarantined");
        // A pass whose delivery our own ballot called off (fenced by a
        // newer owner, or no majority to confirm it) decides nothing: the
        // owner that can act gives the message up, or a later pass of ours
        // once a majority confirms us. Found by `mailsim explore`: an owner
        // paused mid-pass woke fenced, its successor having delivered the
        // message, and bounced it as expired (no_false_bounce); an owner
        // that could not confirm a DSN's ballot (a replica's disk full and
        // another paused) dropped it unreported at its lifetime
        // (no_acked_loss). `expired-after-calling-off` gives
        // up all the same.
        let declined = node.declined_by_ballot.borrow_mut().remove(id);
        // Narrowly, as found: a fenced owner bounces no message, and an
        // unconfirmed one drops no DSN (a fenced owner's DSN and an
        // unconfirmed owner's message keep the older rule: not judged yet).
        let decides = match declined {
            None => true,
            Some(fenced) => fenced == entry.is_dsn,
        } || node.config.bug("expired-after-calling-off");
        if past_lifetime(node, &entry)
            && may_bounce_as_expired(node, &entry)
            && (!quarantine || bounce_anyway)
            && decides
            && (declined.is_some() || still_standing(node, id).await)
        {
            bounce_expired(&mut entry, still_pending);
        } else {
            entry.attempts += 1;
            reschedule(node, &mut entry);
        }
    }
    done_with_destination(node, id);
    // A DSN that bounces is dropped, never reported on (RFC 3461 §6.2); the
    // dsn-about-dsn bug treats it like any other message here.
    let reports = !entry.is_dsn || node.config.bug("dsn-about-dsn");
    if reports && !entry.unreported_bounces().is_empty() {
        // The copy set learns the recipients failed before any DSN says
        // so: an owner that crashed between the two left its successor a
        // copy still pending beside a replicated DSN, and the successor
        // delivered what the DSN reported failed (`mailsim explore`,
        // dependencies with BUGGIFY, campaign seed 13, run 4339: a 550
        // 5.1.1 from a server that knew the user again 5 s later;
        // no_false_bounce). A successor that finds the failure recorded
        // and unreported sends the DSN itself. `dsn-before-refusal-recorded`
        // keeps the old order.
        if !node.config.bug("dsn-before-refusal-recorded") {
            persist(node, &entry).await;
        }
        queue_dsn(node, &mut entry, &raw).await;
    }
    persist(node, &entry).await;
    if entry.is_finished() {
        finish(node, &entry).await;
    }
}

/// Whether `entry` has outlived the queue lifetime. `received_ms` is the
/// accepting node's clock, read here on ours: allow for both being off by
/// the most the model lets a clock be, or a fast clock here (or a slow one
/// there) bounces mail early. The `expiry-trusts-clocks` bug compares the
/// two as if exact; `retry-forever` never expires anything.
fn past_lifetime(node: &SharedNode, entry: &Entry) -> bool {
    let clock_error_ms = match node.config.bug("expiry-trusts-clocks") {
        true => 0,
        false => 2 * tolerances::CLOCK_ERROR_MS_MAX,
    };
    let expired = retry::expired(
        node.now_ms(),
        entry.received_ms,
        node.config.knobs.queue_lifetime_ms + clock_error_ms,
    );
    expired && !node.config.bug("retry-forever")
}

/// Whether a pass must bounce `entry` rather than start delivering it:
/// it is past its lifetime (see the pass). `held_in_doubt`: it waited for
/// a previous owner's doubt; `scanned_in_this_pass`: its verdict came
/// only now (what `expiry-waits-for-scan` lets through late).
/// `deliver-and-bounce` starts late too: its mistake is in what such a
/// pass does after delivering.
fn too_late_to_start(
    node: &SharedNode,
    entry: &Entry,
    held_in_doubt: bool,
    scanned_in_this_pass: bool,
) -> bool {
    let late_start_allowed = match held_in_doubt {
        true => {
            (entry.is_dsn && !node.config.bug("dsn-dropped-after-doubt"))
                || node.config.bug("late-after-doubt")
        }
        false => {
            entry.is_dsn
                || node.config.bug("late-start-after-expiry")
                || (scanned_in_this_pass && node.config.bug("expiry-waits-for-scan"))
                // Its mistake is in what a late pass does after delivering.
                || node.config.bug("deliver-and-bounce")
        }
    };
    !late_start_allowed && past_lifetime(node, entry)
}

/// Whether an expired message may be bounced: not while a delivery of it
/// by a previous owner may have got through (an in-doubt mark this owner
/// gave up waiting on, whose node has not answered since). Bouncing then
/// told the sender "failed" for mail its mailbox had: madsim swarm seed
/// 2425 (a short queue lifetime; eastus, with three of the five gateways
/// of the US copy set, cut off just after the owner in us-central1
/// delivered; the eastus successor gave the doubt up after half the
/// lifetime, could not reach the mailbox, and bounced at expiry). The
/// doubt ends when its node answers a sync (`sync::learn`), which after a
/// heal it does; `bounce-while-in-doubt` forgets it at the give-up.
fn may_bounce_as_expired(node: &SharedNode, entry: &Entry) -> bool {
    let doubted = entry.in_doubt.as_ref().is_some_and(|d| d.by != node.me());
    if doubted {
        node.note(
            "expiry_held_in_doubt",
            format!(
                "{}: expired, but a delivery of it may have got through; not bouncing until that is known",
                entry.id
            ),
        );
    }
    !doubted
}

fn bounce_expired(entry: &mut Entry, pending: Vec<String>) {
    tracing::info!(msg = %entry.message_id, spool_id = %entry.id, "expired in queue, bouncing what is pending");
    for rcpt in pending {
        entry.rcpts.insert(
            rcpt,
            RcptState::Bounced {
                status: "4.4.7".into(),
                diagnostic: "smtp; message expired in queue".into(),
            },
        );
    }
}

/// The `read-error-bounces` bug: an I/O error reading the spooled message
/// (EIO: the disk may well read it next time, and the other copies surely
/// can) taken for a message that is gone for good, its recipients bounced
/// as Postfix would a corrupt queue file.
async fn bounce_unreadable(node: &SharedNode, id: &str) {
    let Some(mut entry) = owned(node, id) else {
        return;
    };
    for rcpt in entry.pending_rcpts() {
        entry.rcpts.insert(
            rcpt,
            RcptState::Bounced {
                status: "5.3.0".into(),
                diagnostic: "local; queue file unreadable".into(),
            },
        );
    }
    persist(node, &entry).await;
}

/// The pass has spoken to the destination for the last time: the next
/// message for it may start while this one stores and replicates its
/// outcome (half of a pass on loopback, where the replicas fsync).
fn done_with_destination(node: &SharedNode, id: &str) {
    node.settling.borrow_mut().insert(id.to_string());
    node.doorbell.ring();
}

fn reschedule(node: &SharedNode, entry: &mut Entry) {
    let knobs = &node.config.knobs;
    let backoff_ms = match node.config.bug("retry-without-backoff") {
        true => 0,
        false => retry::backoff_ms(entry.attempts, knobs.backoff_ms_min, knobs.backoff_ms_max),
    };
    entry.next_attempt_ms = node.now_ms() + backoff_ms;
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
    // The bug: a scanning budget cut at the first 4 KiB, so the verdict is
    // about a head, and the whole message is delivered on its strength.
    let raw = if node.config.bug("scan-head-only") {
        &raw[..raw.len().min(4096)]
    } else {
        raw
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
    if node.config.bug("quarantine-clean-mail") {
        // The bug: "no verdict" is taken for "suspicious" and the message
        // is held for good, wrong in the direction that looks safe.
        return Some(Verdict::Malware);
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
            // The bug reads a class-4 status (given up at expiry after
            // temporary refusals) as "still trying".
            let action = if node.config.bug("dsn-delayed-for-expired") && status.starts_with('4') {
                "delayed"
            } else {
                "failed"
            };
            FailedRecipient {
                rcpt: rcpt.clone(),
                status,
                diagnostic,
                action: action.into(),
            }
        })
        .collect();
    let dsn_id = format!("{}-dsn{}", entry.id, entry.dsn_reported.len());
    let dsn_message_id = format!("dsn.{dsn_id}@{}", node.me());
    let date = date::rfc5322(node.env.now());
    // A bounced DSN has no return path; reached here (dsn-about-dsn) it is
    // reported to the address it failed to reach: a bounce loop.
    let to = if node.config.bug("dsn-to-wrong-sender") || entry.mail_from.is_empty() {
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
    let message = NewMessage {
        id: dsn_id.clone(),
        message_id: dsn_message_id,
        tenant: entry.tenant.clone(),
        mail_from: String::new(),
        rcpts: vec![to],
        owner: node.me().to_string(),
        epoch: entry.epoch,
        replicas: dsn_replicas(node, entry),
        smtputf8: false,
    };
    let mut dsn_entry = Entry::new(message, node.now_ms());
    dsn_entry.is_dsn = true;
    // Our own words: nothing in a DSN needs scanning.
    dsn_entry.verdict = Some(Verdict::Clean);
    if let Err(e) = spool::store_new(node.env.disk(), &dsn_entry, &bytes, Durability::Synced) {
        node.note("dsn_spool_failed", format!("{}: {e}", entry.id));
        return;
    }
    // The DSN is a promise like a 250: it needs the replication quorum, or
    // a failover could lose it. Without it, try again on the next pass.
    if let Err(reason) = replication::replicate(node, &dsn_entry, &bytes).await {
        node.note("dsn_replication_failed", format!("{dsn_id}: {reason}"));
        let _ = spool::remove(node.env.disk(), &dsn_id);
        let ours = Ballot::of(&dsn_entry);
        for target in &dsn_entry.replicas {
            // Not for good: the next pass sends this DSN again, same id.
            let _ = peer::forget(node, target, &dsn_id, &ours, false, false).await;
        }
        return;
    }
    tracing::info!(msg = %entry.message_id, dsn = %dsn_entry.message_id, rcpts = ?bounced, "DSN queued");
    node.entries.borrow_mut().insert(dsn_id, dsn_entry);
    entry.dsn_reported.extend(bounced);
}

/// Where a DSN about `entry` is copied: where `entry` is, since it quotes
/// the tenant's mail and stays in the tenant's jurisdiction (under the
/// dsn-replicas-anywhere bug, every other gateway, as if a DSN, being the
/// gateway's own mail, were nobody's).
fn dsn_replicas(node: &SharedNode, entry: &Entry) -> Vec<String> {
    if !node.config.bug("dsn-replicas-anywhere") {
        return entry.replicas.clone();
    }
    let gateways = node.config.gateways.iter();
    gateways
        .filter(|n| n.host != node.me())
        .map(|n| n.host.clone())
        .collect()
}

/// A retry to `entry`'s destination just got through: the destination is
/// back, so its other waiting messages are due now rather than at the end
/// of their backoff, and the oldest go first.
fn destination_is_back(node: &SharedNode, entry: &Entry) {
    let now_ms = node.now_ms();
    let back = destination(entry);
    for other in node.entries.borrow_mut().values_mut() {
        if other.owner == node.me()
            && other.verdict.is_some()
            && other.next_attempt_ms > now_ms
            && destination(other) == back
        {
            other.next_attempt_ms = now_ms;
        }
    }
}

/// Stores the entry here and sends it to the replicas. If a newer ballot
/// arrived while we worked (we were fenced mid-pass), the newer ballot
/// stays and only what we settled is added, for its owner to see.
async fn persist(node: &SharedNode, entry: &Entry) {
    let Some(current) = node.entries.borrow().get(&entry.id).cloned() else {
        // Forgotten by a newer owner, or dropped as finished, while we
        // worked: writing it back would resurrect it.
        return;
    };
    let stored = if Ballot::of(&current) == Ballot::of(entry) {
        let mut stored = entry.clone();
        ballot::merge_progress(&mut stored, &Progress::of(&current));
        stored
    } else {
        let mut stored = current;
        ballot::merge_progress(&mut stored, &Progress::of(entry));
        stored
    };
    if let Err(e) = spool::store_entry(node.env.disk(), &stored, Durability::Synced) {
        node.note("spool_update_failed", format!("{}: {e}", stored.id));
    }
    node.entries
        .borrow_mut()
        .insert(stored.id.clone(), stored.clone());
    for target in ballot::copy_set(&node.config, &stored) {
        if target != node.me() {
            let _ = peer::update(node, &target, &stored).await;
        }
    }
}

/// Every recipient is settled: drop the copies, here and on the replicas.
async fn finish(node: &SharedNode, entry: &Entry) {
    let Some(current) = node.entries.borrow().get(&entry.id).cloned() else {
        return;
    };
    if current.owner != node.me() {
        // Fenced mid-pass: the new owner finishes it.
        return;
    }
    let ours = Ballot::of(&current);
    let mut let_go = 1;
    for target in &current.replicas {
        if peer::forget(
            node,
            target,
            &current.id,
            &ours,
            true,
            current.is_quarantined(),
        )
        .await
        .is_ok()
        {
            let_go += 1;
        }
    }
    let need = ballot::majority(ballot::copy_set(&node.config, &current).len());
    if let_go < need {
        // Cut off right after finishing: our copy is the only record of
        // what was done, so it stays until a majority has let go too.
        retry_after_sync(node, &current.id);
        node.note(
            "finish_pending",
            format!("{}: {let_go} of {need} copies let go", current.id),
        );
        return;
    }
    if let Err(e) = spool::remove_finished(node.env.disk(), &current) {
        node.note("spool_remove_failed", format!("{}: {e}", current.id));
        return;
    }
    node.forget_message(&current.id);
    tombstones::settle_for_good(node, &current.id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::answering_node;
    use crate::mem_disk::MemDisk;
    use std::rc::Rc;

    /// A queue lifetime the test clock (10 s) can wait past: the give-up
    /// deadline of the bugs is half of it.
    const QUEUE_LIFETIME_MS: u64 = 4_000;
    const GIVE_UP_MS: u64 = QUEUE_LIFETIME_MS / 2;

    /// gw-b (the test node, clock at 10 s) holding the test entry, marked
    /// in doubt by `by` `waited_ms` ago, given up on or not.
    fn holding_doubt(bugs: &[&str], by: &str, waited_ms: u64, gave_up: bool) -> SharedNode {
        let mut node = answering_node::node(&Rc::new(MemDisk::default()), bugs);
        let unique = Rc::get_mut(&mut node).expect("a node nobody else holds");
        Rc::make_mut(&mut unique.config).knobs.queue_lifetime_ms = QUEUE_LIFETIME_MS;
        assert_eq!(node.config.knobs.in_doubt_give_up_ms(), GIVE_UP_MS);
        let mut entry = answering_node::entry();
        entry.in_doubt = Some(InDoubt {
            by: by.into(),
            since_ms: node.now_ms() - waited_ms,
            gave_up,
        });
        node.entries.borrow_mut().insert(entry.id.clone(), entry);
        node
    }

    fn id() -> String {
        answering_node::entry().id
    }

    fn doubt_of(node: &SharedNode) -> Option<InDoubt> {
        node.entries.borrow()[&id()].in_doubt.clone()
    }

    #[test]
    fn another_node_s_doubt_holds_the_message_however_long_it_lasts() {
        for waited_ms in [0, GIVE_UP_MS, QUEUE_LIFETIME_MS, 10_000] {
            let node = holding_doubt(&[], "gw-a", waited_ms, false);
            assert!(waiting_on_doubt(&node, &id()), "waited {waited_ms} ms");
            assert!(node.held_in_doubt.borrow().contains(&id()));
            assert_eq!(doubt_of(&node).map(|d| d.gave_up), Some(false));
        }
    }

    #[test]
    fn our_own_doubt_or_one_given_up_on_holds_nothing() {
        let node = holding_doubt(&[], "gw-b", GIVE_UP_MS, false);
        assert!(!waiting_on_doubt(&node, &id()));
        let node = holding_doubt(&[], "gw-a", 0, true);
        assert!(!waiting_on_doubt(&node, &id()));
        assert!(node.held_in_doubt.borrow().is_empty());
    }

    #[test]
    fn the_give_up_bugs_stop_waiting_at_the_deadline_and_not_before() {
        let node = holding_doubt(&["in-doubt-gives-up"], "gw-a", GIVE_UP_MS - 1, false);
        assert!(waiting_on_doubt(&node, &id()));
        let node = holding_doubt(&["in-doubt-gives-up"], "gw-a", GIVE_UP_MS, false);
        assert!(!waiting_on_doubt(&node, &id()));
        assert_eq!(doubt_of(&node).map(|d| d.gave_up), Some(true));
        let node = holding_doubt(&["bounce-while-in-doubt"], "gw-a", GIVE_UP_MS, false);
        assert!(!waiting_on_doubt(&node, &id()));
        assert_eq!(doubt_of(&node), None);
    }

    #[test]
    fn only_another_node_s_doubt_keeps_an_expired_message_from_its_bounce() {
        // Defence in depth: the wait above keeps such a message from this
        // check in the correct gateway; a doubt given up on (the
        // `in-doubt-gives-up` bug) still stands here.
        for (by, gave_up, may_bounce) in [
            ("gw-a", false, false),
            ("gw-a", true, false),
            ("gw-b", false, true),
        ] {
            let node = holding_doubt(&[], by, 0, gave_up);
            let entry = node.entries.borrow()[&id()].clone();
            assert_eq!(may_bounce_as_expired(&node, &entry), may_bounce, "{by}");
        }
        let node = holding_doubt(&[], "gw-a", 0, false);
        let mut entry = node.entries.borrow()[&id()].clone();
        entry.in_doubt = None;
        assert!(may_bounce_as_expired(&node, &entry));
    }

    #[test]
    fn a_message_past_its_lifetime_is_expired_by_a_clock_allowance_not_before() {
        let node = holding_doubt(&[], "gw-a", 0, false);
        let mut entry = answering_node::entry();
        let allowance_ms = QUEUE_LIFETIME_MS + 2 * tolerances::CLOCK_ERROR_MS_MAX;
        entry.received_ms = node.now_ms() - allowance_ms;
        assert!(past_lifetime(&node, &entry));
        entry.received_ms += 1;
        assert!(!past_lifetime(&node, &entry));
    }

    #[test]
    fn a_destination_back_makes_only_our_own_scanned_waiting_mail_for_it_due() {
        let node = answering_node::node(&Rc::new(MemDisk::default()), &[]);
        let now_ms = node.now_ms();
        let later_ms = now_ms + 5_000;
        // (id, owner, scanned, tenant, next attempt) -> next attempt after
        let cases = [
            ("waiting", "gw-b", true, "acme", later_ms, now_ms),
            ("unscanned", "gw-b", false, "acme", later_ms, later_ms),
            ("a-replica", "gw-a", true, "acme", later_ms, later_ms),
            ("elsewhere", "gw-b", true, "globex", later_ms, later_ms),
            (
                "due-before",
                "gw-b",
                true,
                "acme",
                now_ms - 500,
                now_ms - 500,
            ),
        ];
        for (id, owner, scanned, tenant, next_ms, _) in cases {
            let mut entry = answering_node::entry();
            entry.id = id.into();
            entry.owner = owner.into();
            entry.tenant = tenant.into();
            entry.verdict = scanned.then_some(Verdict::Clean);
            entry.next_attempt_ms = next_ms;
            node.entries.borrow_mut().insert(id.into(), entry);
        }
        let delivered = node.entries.borrow()["waiting"].clone();
        destination_is_back(&node, &delivered);
        for (id, _, _, _, _, after_ms) in cases {
            assert_eq!(node.entries.borrow()[id].next_attempt_ms, after_ms, "{id}");
        }
    }

    #[test]
    fn each_tenant_and_each_dsn_domain_is_a_destination_of_its_own() {
        // The per-destination limit and the wake-up when a destination is
        // back (`destination_is_back`) are keyed by this: one key for all
        // would knock on a down server again whenever another took mail
        // (what `retry_paced` judges).
        let acme = answering_node::entry();
        let mut globex = acme.clone();
        globex.tenant = "globex".into();
        let mut dsn = acme.clone();
        dsn.is_dsn = true;
        dsn.rcpts = [("Erin@Sender.Example".to_string(), RcptState::Pending)].into();
        assert_eq!(destination(&acme), "tenant:acme");
        assert_eq!(destination(&globex), "tenant:globex");
        assert_eq!(destination(&dsn), "domain:sender.example");
    }

    #[test]
    fn a_pass_past_the_lifetime_starts_no_delivery_unless_a_dsn_or_a_bug_lets_it() {
        let past = |bugs: &[&str], is_dsn: bool| {
            let node = holding_doubt(bugs, "gw-a", 0, false);
            let mut entry = answering_node::entry();
            entry.is_dsn = is_dsn;
            entry.received_ms =
                node.now_ms() - QUEUE_LIFETIME_MS - 2 * tolerances::CLOCK_ERROR_MS_MAX;
            (node, entry)
        };
        // (bugs, a DSN, held for a doubt, scanned in this pass) -> too late
        let cases: [(&[&str], bool, bool, bool, bool); 11] = [
            (&[], false, false, false, true),
            (&[], false, true, false, true),
            (&[], false, false, true, true),
            (&[], true, false, false, false),
            (&[], true, true, false, false),
            (&["late-start-after-expiry"], false, false, false, false),
            (&["late-start-after-expiry"], false, true, false, true),
            (&["late-after-doubt"], false, true, false, false),
            (&["dsn-dropped-after-doubt"], true, true, false, true),
            (&["expiry-waits-for-scan"], false, false, true, false),
            (&["deliver-and-bounce"], false, false, false, false),
        ];
        for (bugs, is_dsn, held, scanned, too_late) in cases {
            let (node, entry) = past(bugs, is_dsn);
            assert_eq!(
                too_late_to_start(&node, &entry, held, scanned),
                too_late,
                "{bugs:?} dsn {is_dsn} held {held} scanned {scanned}"
            );
        }
        // Inside its lifetime nothing is too late.
        let (node, mut entry) = past(&[], false);
        entry.received_ms = node.now_ms();
        assert!(!too_late_to_start(&node, &entry, true, true));
    }
}
