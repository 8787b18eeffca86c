//! Ownership upkeep, run by every node: a sync round every few hundred
//! milliseconds with each peer, and the check an owner makes before it acts.
//!
//! A round sends each peer the ballots of the messages both hold. For an
//! owner that is its heartbeat (the peer's lease clock for it restarts);
//! the peer's answer, its own ballot and progress for each, lets this node
//! reconcile its spool:
//! - a copy a majority of its copy set no longer knows is finished (or was
//!   refused): drop it — this is how a node that missed a `Forget` while it
//!   was down or cut off cleans up after rejoining;
//! - a copy that any member says it settled for good (a tombstone, or the
//!   message in its quarantine) is finished too, majority or not: a copy
//!   set split evenly between stale copies and nodes that forgot has no
//!   majority either way;
//! - "no copy" from a member whose spool began after the message was
//!   accepted (it was reborn on an empty disk, `crate::spool_birth`) is no
//!   evidence either way: it may have held the message and lost it;
//! - a copy set with fewer holders than a majority, where an owner cannot
//!   confirm or (its owner's copy lost) a replica cannot claim, has its
//!   copies restored to the members that lack them by whoever holds one,
//!   unless someone holds a newer ballot;
//! - a newer ballot held by a majority means someone took over: become its
//!   replica (and, if we thought we owned it, we were fenced);
//! - an owner confirmed by a majority re-copies the message to members
//!   that lack it, so a later failover has a majority to stand on;
//! - a replica whose owner has been silent for a whole lease, and which is
//!   the first live replica in config order, claims the message under a
//!   higher epoch; with a majority of the copy set granting, it carries on
//!   from the merged progress of everyone that answered (failover);
//! - an owner short of a majority because members promised a higher
//!   ballot that nobody adopted (a claim granted by some and lost) claims
//!   over it with a higher epoch.
//!
//! Before it delivers, bounces or quarantines, an owner runs [`confirm`]: a
//! majority must still hold its ballot. That both renews its lease and
//! fences it — a node back from a crash or a partition learns the newer
//! ballot (or that the message is finished) before it can act on it.
//!
//! One window stays: an owner cut off right after a delivery, before its
//! update reached anyone. So an owner about to deliver says so in its
//! confirmation, and the majority marks the message in doubt until its next
//! update; a new owner that inherits the mark holds the message until it
//! hears from that node (whose copy says what happened — an owner keeps a
//! finished message until a majority has forgotten it), however long.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::fan_out::fan_out;
use crate::gateway::ballot::{self, Ballot, Progress};
use crate::gateway::wire::{Held, Stance};
use crate::gateway::{SharedNode, heartbeat, peer, tombstones};
use crate::spool::{self, Durability, Entry};
use crate::tolerances;

/// Why an owner confirms its ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// To scan, quarantine or bounce: acts only inside the gateway.
    Look,
    /// To deliver over SMTP: the one act that cannot be taken back.
    Deliver,
}

/// Runs sync rounds until the node dies.
pub async fn run(node: SharedNode) {
    let interval = Duration::from_millis(node.config.knobs.sync_interval_ms());
    loop {
        node.env.sleep(interval).await;
        round(&node).await;
    }
}

/// One round with every peer, then reconciliation of every copy.
pub async fn round(node: &SharedNode) {
    let entries: Vec<Entry> = node.entries.borrow().values().cloned().collect();
    let mut requests: BTreeMap<String, Vec<Held>> = heartbeat::peers(node)
        .into_iter()
        .map(|peer| (peer, Vec::new()))
        .collect();
    for entry in &entries {
        for member in ballot::copy_set(&node.config, entry) {
            if member != node.me() {
                requests.entry(member).or_default().push(Held {
                    id: entry.id.clone(),
                    ballot: Ballot::of(entry),
                    delivering: false,
                });
            }
        }
    }
    let replies = ask(node, requests, |_| false).await;
    futures_util::StreamExt::for_each_concurrent(
        futures_util::stream::iter(&entries),
        RECONCILES_AT_ONCE_MAX,
        |entry| reconcile(node, entry, &replies),
    )
    .await;
    tombstones::prune(node);
}

/// Copies a round reconciles side by side. Most reconciles finish without
/// a word to anyone; the ones that claim, repair or restore wait a round
/// trip or two each, and one after another a backlog of 600 messages whose
/// owner's region went down failed over at about 12 a second. Each copy is
/// reconciled alone (its own id, its own entry re-read after every wait),
/// so side by side they decide what they would have one by one.
const RECONCILES_AT_ONCE_MAX: usize = 32;

/// Sends each peer its ballots at once; the stances of those that answered,
/// once all have (or timed out) or `enough` says the answers so far do.
async fn ask(
    node: &SharedNode,
    requests: BTreeMap<String, Vec<Held>>,
    enough: impl Fn(&BTreeMap<String, Vec<Stance>>) -> bool,
) -> BTreeMap<String, Vec<Stance>> {
    let mut answers = fan_out(node.env.as_ref(), requests, |peer, ballots| {
        let (asker, peer) = (node.clone(), peer.to_string());
        Box::pin(async move { peer::sync(&asker, &peer, ballots).await })
    });
    let mut replies = BTreeMap::new();
    while let Some((peer, answer)) = answers.next().await {
        if let Ok(stances) = answer {
            replies.insert(peer, stances);
            if enough(&replies) {
                // Stragglers (a dead peer's connect hangs until the
                // timeout) still finish; nobody waits for them.
                break;
            }
        }
    }
    replies
}

/// What the copy set said about one message, against our ballot.
struct Tally {
    members: Vec<String>,
    /// Copies needed for a majority of the copy set.
    need: usize,
    /// Progress of the members holding exactly our ballot.
    same: Vec<Progress>,
    /// Members that answered and hold no copy, and whose word counts: they
    /// never had it or forgot it (or settled it: see the next two).
    unknown: usize,
    /// A member holds the message in its quarantine: it is settled.
    quarantined_by: Option<String>,
    /// A member keeps a tombstone for it: it is settled for good.
    finished_by: Option<String>,
    /// A newer ballot held by a majority, with those members' progress.
    newer: Option<(Ballot, Vec<Progress>)>,
    /// Members that answered without a copy, by name (to repair).
    lacking: Vec<String>,
    /// Members that answered at all.
    answered: Vec<String>,
    /// Everyone's progress, whatever their ballot: settled is settled.
    progress: Vec<Progress>,
    highest_epoch: u64,
    /// A member holds a ballot newer than ours that names another owner.
    newer_elsewhere: bool,
}

/// Counts the copy set's answers about `entry`. When `intent` is to deliver,
/// a copy counts for our ballot only if it marked the message in doubt for
/// us (so a successor would know to wait).
fn tally(
    node: &SharedNode,
    entry: &Entry,
    replies: &BTreeMap<String, Vec<Stance>>,
    intent: Intent,
) -> Tally {
    let members = ballot::copy_set(&node.config, entry);
    let need = ballot::majority(members.len());
    let ours = Ballot::of(entry);
    let mut tally = Tally {
        members: members.clone(),
        need,
        same: Vec::new(),
        unknown: 0,
        quarantined_by: None,
        finished_by: None,
        newer: None,
        lacking: Vec::new(),
        answered: Vec::new(),
        progress: Vec::new(),
        highest_epoch: entry.epoch,
        newer_elsewhere: false,
    };
    let mut newer: BTreeMap<Ballot, Vec<Progress>> = BTreeMap::new();
    for member in members.iter().filter(|m| *m != node.me()) {
        let Some(stance) = replies
            .get(member)
            .and_then(|stances| stances.iter().find(|s| s.id == entry.id))
        else {
            continue;
        };
        tally.answered.push(member.clone());
        match &stance.held {
            None => {
                tally.lacking.push(member.clone());
                if stance.quarantined {
                    tally.quarantined_by = Some(member.clone());
                }
                if stance.finished {
                    tally.finished_by = Some(member.clone());
                }
                // A member whose spool is younger than the message may have
                // held it on the disk it lost: its "no copy" is no evidence
                // that the message is finished.
                let settled = stance.quarantined || stance.finished;
                if settled || !may_have_lost_it(entry, stance) {
                    tally.unknown += 1;
                }
            }
            Some(holding) => {
                tally.highest_epoch = tally.highest_epoch.max(holding.ballot.epoch);
                tally.progress.push(holding.progress.clone());
                let vouches = intent == Intent::Look
                    || holding
                        .progress
                        .in_doubt
                        .as_ref()
                        .is_some_and(|d| d.by == node.me());
                if holding.ballot == ours && vouches {
                    tally.same.push(holding.progress.clone());
                } else if holding.ballot > ours {
                    tally.newer_elsewhere |= holding.ballot.owner != node.me();
                    newer
                        .entry(holding.ballot.clone())
                        .or_default()
                        .push(holding.progress.clone());
                }
            }
        }
    }
    tally.newer = newer.into_iter().rev().find(|(_, held)| held.len() >= need);
    tally
}

/// Whether a member that answered "no copy" may have held `entry` on a
/// disk it has lost since: its spool began after the message was accepted.
/// The two times are two hosts' clocks, so each may be off by the model's
/// clock bound, in opposite directions.
fn may_have_lost_it(entry: &Entry, stance: &Stance) -> bool {
    let clocks_apart_ms = 2 * tolerances::CLOCK_ERROR_MS_MAX;
    stance
        .spool_born_ms
        .is_some_and(|born_ms| born_ms + clocks_apart_ms > entry.received_ms)
}

/// Acts on one copy after a round, unless the queue is busy with it (its
/// own [`confirm`] covers it) or it changed while we were asking.
async fn reconcile(node: &SharedNode, asked: &Entry, replies: &BTreeMap<String, Vec<Stance>>) {
    if node.in_flight.borrow().contains(&asked.id) {
        return;
    }
    let Some(entry) = node.entries.borrow().get(&asked.id).cloned() else {
        return;
    };
    if Ballot::of(&entry) != Ballot::of(asked) {
        return;
    }
    let tally = tally(node, &entry, replies, Intent::Look);
    node.heard
        .borrow_mut()
        .saw_epoch(&entry.id, tally.highest_epoch);
    if let Some(member) = &tally.quarantined_by {
        // Into our quarantine too, even if our entry missed the update
        // that said so (see `voter::forget`).
        let mut quarantined = entry.clone();
        if !node.config.bug("quarantine-on-owner-only") {
            quarantined.quarantine_pending();
        }
        drop_copy(
            node,
            &quarantined,
            &format!("quarantined by its owner ({member} holds it)"),
        );
        return;
    }
    if let Some(member) = settled_elsewhere(node, &entry, &tally) {
        drop_settled(node, &entry, member);
        return;
    }
    if tally.unknown >= tally.need {
        if still_being_copied(node, &entry) {
            return;
        }
        drop_copy(node, &entry, "unknown to a majority of its copy set");
        return;
    }
    if let Some((newer, progress)) = &tally.newer {
        take_newer(node, &entry, newer, progress);
        return;
    }
    if entry.owner == node.me() {
        let mut entry = entry;
        if learn(node, &mut entry, &tally) {
            store(node, &entry);
        }
        if 1 + tally.same.len() >= tally.need {
            repair(node, &entry, &tally.lacking).await;
        } else if !restore_lost_copies(node, &entry, &tally).await {
            reclaim_over_stranded_promise(node, &entry, &tally).await;
        }
    } else {
        if tally.lacking.contains(&entry.owner) {
            restore_lost_copies(node, &entry, &tally).await;
        }
        claim_if_owner_is_gone(node, &entry, &tally).await;
    }
}

/// Copies the message back to the members of its copy set that lack it,
/// when too few hold it for anyone to act: an owner short of a majority,
/// or a replica whose owner has lost its copy. Claims and confirmations
/// both need a majority of the copy set holding the message, and only a
/// confirmed owner repairs, so without this a copy set whose holders fell
/// below a majority — members that lost their disks one after another, or
/// one lost while another missed the copy — waits for ever, and
/// acknowledged mail with intact copies is never delivered (madsim swarm
/// seeds 134, 1281, 3504).
///
/// Only when no answer carries a newer ballot of another node (a promise
/// made to a claim of ours that failed does not count): then ours is the
/// newest ballot in play, and a restored copy holds what
/// the lost one held (a member that settled the message refuses the copy
/// and says so: its tombstone). A replica never restores the owner: an
/// owner without its copy is gone for this message, and the replica's
/// claim takes over. Returns whether it copied to anyone.
async fn restore_lost_copies(node: &SharedNode, entry: &Entry, tally: &Tally) -> bool {
    if node.config.bug("amnesia-taken-for-forgetting") {
        return false;
    }
    let stale_count = node.config.bug("stale-ballot-counted-as-copy");
    let lacking = copies_to_restore(entry, tally, stale_count);
    if lacking.is_empty() {
        return false;
    }
    repair(node, entry, &lacking).await;
    true
}

/// Who lacks a copy that [`restore_lost_copies`] should give back: no one
/// while a majority holds our ballot or a rival ballot exists, and never
/// the owner (its copy comes back through its own reclaim, or a takeover).
/// Only copies of our ballot count: a member still holding an older one
/// neither confirms our owner nor lets its own owner act, so counting it
/// left a copy set split two (our ballot), two (older), one (reborn empty)
/// where no one could reach a majority, and the message waited for ever
/// (madsim swarm seed 5079: a claim won while a region was cut off, then
/// a voter's disk lost). `stale_count` is catalogue bug
/// `stale-ballot-counted-as-copy`: every member with any copy counts.
fn copies_to_restore(entry: &Entry, tally: &Tally, stale_count: bool) -> Vec<String> {
    let holders = if stale_count {
        1 + tally.answered.len() - tally.lacking.len()
    } else {
        1 + tally.same.len()
    };
    if tally.newer_elsewhere || holders >= tally.need {
        return Vec::new();
    }
    tally
        .lacking
        .iter()
        .filter(|member| **member != entry.owner)
        .cloned()
        .collect()
}

/// The member whose tombstone says `entry` was settled for good, if one
/// answered so and the copy is ours to drop. An owner that finished the
/// message itself (every recipient settled) keeps its copy until a
/// majority has let go (`queue::finish`): its copy is the record of what
/// was done, for stale copies that have not heard yet.
fn settled_elsewhere<'t>(node: &SharedNode, entry: &Entry, tally: &'t Tally) -> Option<&'t str> {
    let member = tally.finished_by.as_deref()?;
    let finishing_it_ourselves = entry.owner == node.me() && entry.is_finished();
    (!finishing_it_ourselves).then_some(member)
}

/// Drops a copy whose message a member settled for good, and keeps a
/// tombstone of our own: the evidence travels on to copies that can reach
/// us but not that member.
fn drop_settled(node: &SharedNode, entry: &Entry, member: &str) {
    drop_copy(
        node,
        entry,
        &format!("settled for good ({member} keeps its tombstone)"),
    );
    if !node.entries.borrow().contains_key(&entry.id) {
        tombstones::settle_for_good(node, &entry.id);
    }
}

/// A replica's copy whose owner spoke of it within the last lease (copied
/// it to us, or sent its heartbeat) is not finished: "no copy" from a
/// majority then means the owner is still copying it — over a slow link
/// the members it has not reached yet answer before the ones it has — not
/// that it was delivered and forgotten. Dropping it there left the owner
/// short of its majority once it had answered 250, and the owner then
/// dropped its own copy too (madsim swarm seed 3375: a gray link with no
/// loss at all). An owner that finished and forgot a message stops
/// speaking of it, so a stray copy still goes, one lease later.
/// `fresh-copy-taken-for-finished` puts the old rule back.
fn still_being_copied(node: &SharedNode, entry: &Entry) -> bool {
    if entry.owner == node.me() || node.config.bug("fresh-copy-taken-for-finished") {
        return false;
    }
    !node
        .heard
        .borrow()
        .owner_quiet(&entry.id, node.now_ms(), node.config.knobs.owner_lease_ms)
}

/// Folds what the copy set knows into our owned `entry`: any settled
/// recipient, and the answer to a doubt — once the node that was delivering
/// has answered, its progress is in `tally.progress` and the doubt is over.
/// Returns whether `entry` changed.
fn learn(node: &SharedNode, entry: &mut Entry, tally: &Tally) -> bool {
    let mut changed = false;
    for progress in &tally.progress {
        changed |= ballot::merge_progress(entry, progress);
    }
    if let Some(doubt) = &entry.in_doubt
        && tally.answered.contains(&doubt.by)
    {
        node.note(
            "in_doubt_resolved",
            format!(
                "{}: {} answered; its delivery since t={} ms is accounted for",
                entry.id, doubt.by, doubt.since_ms
            ),
        );
        entry.in_doubt = None;
        changed = true;
    }
    changed
}

fn store(node: &SharedNode, entry: &Entry) {
    if let Err(e) = spool::store_entry(node.env.disk(), entry, Durability::Synced) {
        node.note("spool_update_failed", format!("{}: {e}", entry.id));
        return;
    }
    node.entries
        .borrow_mut()
        .insert(entry.id.clone(), entry.clone());
}

/// The message is finished (or was refused) elsewhere: drop our copy.
fn drop_copy(node: &SharedNode, entry: &Entry, why: &str) {
    if let Err(e) = spool::remove_finished(node.env.disk(), entry) {
        node.note("spool_remove_failed", format!("{}: {e}", entry.id));
        return;
    }
    node.forget_message(&entry.id);
    let what = if entry.owner == node.me() {
        // We thought we owned it: stopped before acting on a finished message.
        "fenced"
    } else {
        "reconciled"
    };
    node.note(
        what,
        format!(
            "{} ({}): dropped, {why} ({})",
            entry.id,
            entry.message_id,
            Ballot::of(entry)
        ),
    );
}

/// A majority holds a newer ballot: become its replica (or its owner, if
/// a claim of ours was granted by a majority before we heard the votes).
fn take_newer(node: &SharedNode, entry: &Entry, newer: &Ballot, progress: &[Progress]) {
    let mut updated = entry.clone();
    ballot::adopt(&node.config, &mut updated, newer);
    for held in progress {
        ballot::merge_progress(&mut updated, held);
    }
    if newer.owner == node.me() {
        updated.next_attempt_ms = node.now_ms();
        // Inherit any delivery the old regime was in the middle of.
        let doubts = std::iter::once(&entry.in_doubt).chain(progress.iter().map(|p| &p.in_doubt));
        updated.in_doubt = ballot::doubt_for(node.me(), doubts);
    } else {
        // The new owner carries the doubt; a replica has nothing to wait for.
        updated.in_doubt = None;
    }
    if let Err(e) = spool::store_entry(node.env.disk(), &updated, Durability::Synced) {
        node.note("spool_update_failed", format!("{}: {e}", entry.id));
        return;
    }
    node.entries
        .borrow_mut()
        .insert(updated.id.clone(), updated.clone());
    let detail = format!(
        "{} ({}): {} replaced by {newer}",
        entry.id,
        entry.message_id,
        Ballot::of(entry)
    );
    if newer.owner == node.me() {
        node.doorbell.ring();
        node.note("failover", detail);
    } else if entry.owner == node.me() {
        node.note("fenced", detail);
    }
}

/// Copies the message to members of its copy set that lack it.
async fn repair(node: &SharedNode, entry: &Entry, lacking: &[String]) {
    if lacking.is_empty() {
        return;
    }
    let Ok(raw) = spool::load_message(node.env.disk(), &entry.id) else {
        return;
    };
    for member in lacking {
        if peer::replicate(node, member, entry, &raw).await.is_ok() {
            node.note(
                "repaired",
                format!("{}: copied to {member}, which lacked it", entry.id),
            );
        }
    }
}

/// Failover: the owner has been silent for a lease and we are its first
/// live replica, so ask the copy set to accept us under a higher epoch.
async fn claim_if_owner_is_gone(node: &SharedNode, entry: &Entry, tally: &Tally) {
    let now_ms = node.now_ms();
    let lease_ms = node.config.knobs.owner_lease_ms;
    {
        let heard = node.heard.borrow();
        if heard.in_boot_grace(now_ms, lease_ms)
            || !heard.owner_quiet(&entry.id, now_ms, lease_ms)
            || heard.claims_paused(&entry.id, now_ms)
        {
            return;
        }
        // Quiet about this ballot is not gone: an owner back from a crash
        // that lost its majority to a stranded promise answers our sync
        // rounds with its copy while it reclaims. Claiming against it left
        // two claimants each holding some of the votes for ever (madsim
        // swarm seed 6147). An owner that answers without a copy (its disk
        // was lost) is gone for this message all the same.
        let owner_holds_it =
            tally.answered.contains(&entry.owner) && !tally.lacking.contains(&entry.owner);
        if owner_holds_it && !node.config.bug("duelling-claims") {
            return;
        }
        // The deterministic successor: replicas before us in config order
        // must all be silent too, so live replicas do not race each other.
        // A member that just told us it holds no copy (it missed the
        // replication, or lost its disk) can never claim: waiting for it
        // left the message without an owner for good (madsim swarm seed
        // 187, on a drawn topology). `successor-waits-for-copyless`
        // puts that back.
        let waits_for_copyless = node.config.bug("successor-waits-for-copyless");
        let ahead = tally.members.iter().filter(|m| **m != entry.owner);
        for member in ahead.filter(|m| waits_for_copyless || !tally.lacking.contains(m)) {
            if member == node.me() {
                break;
            }
            if heard.peer_recent(member, now_ms, lease_ms) {
                return;
            }
        }
        // A node cut off from the copy set could not win a vote anyway.
        if 1 + heard_lately(node, &tally.members).len() < tally.need {
            return;
        }
    }
    run_claim(node, entry, tally).await;
}

/// An owner that cannot confirm because members promised a ballot nobody
/// adopted (a claim granted by some and lost: with four or more in a copy
/// set the grants are not a majority) claims over it, as a Paxos proposer
/// outbid by a promise runs phase 1 again with a higher ballot. Without
/// this, once the owner is back nobody is silent, so nobody claims again,
/// and neither ballot ever reaches a majority: the message is stuck with
/// intact copies (madsim swarm seeds 564, 571, 573, 663, 1111 of an older
/// draw, on drawn topologies). `claims-never-retried` puts that back.
///
/// Safe because it changes who may ask, never who may grant: the claim
/// goes through the voters' rules in `voter.rs` unchanged. A member still
/// holding our old ballot grants its owner a higher epoch (as it would to
/// any owner raising its own); one that promised the other claimant grants
/// only once that claimant has been silent there for a whole lease, so a
/// claimant that did win meanwhile and confirms keeps its majority, and we
/// get one only after its lease is over. Claims and confirmations each
/// need a majority, so they meet in a member that refuses one of them, and
/// until we have won we hold our old ballot, which no majority confirms:
/// we act on nothing (fencing is as before).
async fn reclaim_over_stranded_promise(node: &SharedNode, entry: &Entry, tally: &Tally) {
    if node.config.bug("claims-never-retried") {
        // The bug: wait for a majority that the stranded promise withholds.
        return;
    }
    if node.heard.borrow().claims_paused(&entry.id, node.now_ms()) {
        return;
    }
    let promised_elsewhere = tally.highest_epoch > entry.epoch;
    // Only the members holding a copy can vote; fewer than a majority of
    // them answering is a partition, where waiting is all we can do.
    let holders = tally.answered.len() - tally.unknown;
    if !promised_elsewhere || 1 + holders < tally.need {
        return;
    }
    run_claim(node, entry, tally).await;
}

/// Asks the copy set to accept us as owner under an epoch above every one
/// in play; with a majority granting, carries on from the merged progress.
async fn run_claim(node: &SharedNode, entry: &Entry, tally: &Tally) {
    let epoch = tally
        .highest_epoch
        .max(node.heard.borrow().epoch_max(&entry.id))
        + 1;
    let ours = Ballot {
        epoch,
        owner: node.me().to_string(),
    };
    // Only members heard from within a lease: a silent one (the owner we
    // replace, as a rule) could only cost the timeout of a connection that
    // never opens, twice per message (here and in the update after), and
    // a backlog failed over one message per two seconds (600 messages parked
    // behind a mailbox outage when their owner's region went down: 34
    // taken over in the minute the region stayed down, the rest waiting
    // for it to come back). Its vote could not count anyway; a
    // copy it holds learns the new ballot in a later round.
    let members = heard_lately(node, &tally.members);
    let mut answers = fan_out(
        node.env.as_ref(),
        members.into_iter().map(|m| (m, ())),
        |member, ()| {
            let (asker, member) = (node.clone(), member.to_string());
            let (id, ours) = (entry.id.clone(), ours.clone());
            Box::pin(async move { peer::claim(&asker, &member, &id, &ours).await })
        },
    );
    let mut granted = 1;
    let mut progress = Vec::new();
    while let Some((_, answer)) = answers.next().await {
        let Ok((yes, stance)) = answer else {
            continue;
        };
        if let Some(holding) = stance.held {
            node.heard
                .borrow_mut()
                .saw_epoch(&entry.id, holding.ballot.epoch);
            progress.push(holding.progress);
        }
        granted += usize::from(yes);
    }
    if granted < tally.need {
        node.note(
            "claim_failed",
            format!("{}: {ours} got {granted} of {} votes", entry.id, tally.need),
        );
        back_off_after_failed_claim(node, &entry.id);
        return;
    }
    let Some(current) = node.entries.borrow().get(&entry.id).cloned() else {
        return;
    };
    if Ballot::of(&current) >= ours {
        return;
    }
    take_newer(node, &current, &ours, &progress);
    let Some(won) = node.entries.borrow().get(&entry.id).cloned() else {
        return;
    };
    peer::update_all(node, &heard_lately(node, &won.replicas), &won).await;
}

/// The members of `hosts` other than us that spoke to us within a lease.
fn heard_lately(node: &SharedNode, hosts: &[String]) -> Vec<String> {
    let (now_ms, lease_ms) = (node.now_ms(), node.config.knobs.owner_lease_ms);
    let heard = node.heard.borrow();
    hosts
        .iter()
        .filter(|h| *h != node.me() && heard.peer_recent(h, now_ms, lease_ms))
        .cloned()
        .collect()
}

/// After a failed claim, this node keeps quiet about the message for a
/// lease and a random part of another, as Raft candidates wait a random
/// election timeout. Two claimants that each hold some of the votes (the
/// old owner back from a crash, reclaiming over a stranded promise, and the
/// replica that made it) otherwise ask again every sync round: each round
/// renews the claimant at its voters, a voter that promised one grants the
/// other only after a lease of its silence, and neither ever gets a
/// majority — three intact copies of acknowledged mail never delivered
/// after a full heal (madsim swarm seed 6147). Quiet for more than a lease,
/// a claimant frees its voters for the other; the random part makes one of
/// them come back first. `duelling-claims` asks every round again.
fn back_off_after_failed_claim(node: &SharedNode, id: &str) {
    if node.config.bug("duelling-claims") {
        return;
    }
    let lease_ms = node.config.knobs.owner_lease_ms;
    let jitter_ms = node.env.random_u64() % lease_ms.max(1);
    let until_ms = node.now_ms() + lease_ms + jitter_ms;
    node.heard.borrow_mut().pause_claims(id, until_ms);
}

/// The owner's check before it acts on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// A majority holds our ballot: act now (our lease runs a while).
    Confirmed,
    /// Someone else owns it now, or it is finished: never act on it.
    Fenced,
    /// Not enough of the copy set answered: wait and ask again.
    Unconfirmed,
}

/// Asks the copy set whether our ballot for `id` is still current, and
/// folds any progress they know into ours.
pub async fn confirm(node: &SharedNode, id: &str, intent: Intent) -> Standing {
    let Some(entry) = node.entries.borrow().get(id).cloned() else {
        return Standing::Fenced;
    };
    if entry.owner != node.me() {
        return Standing::Fenced;
    }
    let requests = ballot::copy_set(&node.config, &entry)
        .into_iter()
        .filter(|m| m != node.me())
        .map(|m| {
            let held = Held {
                id: entry.id.clone(),
                ballot: Ballot::of(&entry),
                delivering: intent == Intent::Deliver,
            };
            (m, vec![held])
        })
        .collect();
    // Stop asking once a majority vouches for our ballot: a dead member of
    // the copy set must not hold up a delivery by a whole timeout.
    let need = ballot::majority(ballot::copy_set(&node.config, &entry).len());
    let ours = Ballot::of(&entry);
    let vouching = |replies: &BTreeMap<String, Vec<Stance>>| {
        let vouches = |stance: &Stance| {
            stance.held.as_ref().is_some_and(|held| {
                held.ballot == ours
                    && (intent == Intent::Look
                        || held
                            .progress
                            .in_doubt
                            .as_ref()
                            .is_some_and(|d| d.by == node.me()))
            })
        };
        let count = replies
            .values()
            .filter(|stances| stances.iter().any(|s| s.id == id && vouches(s)))
            .count();
        1 + count >= need
    };
    let replies = ask(node, requests, vouching).await;
    // The entry may have moved while we asked (a peer told us of a newer
    // ballot through an update): judge what is here now.
    let Some(mut entry) = node.entries.borrow().get(id).cloned() else {
        return Standing::Fenced;
    };
    if entry.owner != node.me() {
        return Standing::Fenced;
    }
    let tally = tally(node, &entry, &replies, intent);
    if let Some(member) = settled_elsewhere(node, &entry, &tally) {
        drop_settled(node, &entry, member);
        return Standing::Fenced;
    }
    if 1 + tally.same.len() >= tally.need {
        if learn(node, &mut entry, &tally) {
            store(node, &entry);
        }
        return Standing::Confirmed;
    }
    if let Some((newer, progress)) = &tally.newer {
        take_newer(node, &entry, newer, progress);
        return Standing::Fenced;
    }
    if tally.unknown >= tally.need {
        drop_copy(node, &entry, "unknown to a majority of its copy set");
        return Standing::Fenced;
    }
    // The queue holds a message it works on out of the sync rounds'
    // reconciliation, so an owner short of its majority restores lost
    // copies here too; its next confirmation may then succeed.
    restore_lost_copies(node, &entry, &tally).await;
    Standing::Unconfirmed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::answering_node;
    use crate::spool::RcptState;

    fn accepted_at(received_ms: u64) -> Entry {
        let mut entry = answering_node::entry();
        entry.received_ms = received_ms;
        entry
    }

    fn no_copy(spool_born_ms: Option<u64>) -> Stance {
        Stance {
            id: "0123456789abcdef".into(),
            held: None,
            quarantined: false,
            finished: false,
            spool_born_ms,
        }
    }

    #[test]
    fn a_spool_younger_than_the_message_may_have_lost_it_allowing_for_two_clocks() {
        let bound = 2 * tolerances::CLOCK_ERROR_MS_MAX;
        let entry = accepted_at(60_000);
        // Reborn after the acceptance: its "no copy" is no evidence.
        assert!(may_have_lost_it(&entry, &no_copy(Some(61_000))));
        // Born before it, but within what two clocks may disagree by.
        assert!(may_have_lost_it(&entry, &no_copy(Some(60_000 - bound + 1))));
        // Born long before: it never had it, or forgot it.
        assert!(!may_have_lost_it(&entry, &no_copy(Some(60_000 - bound))));
        assert!(!may_have_lost_it(&entry, &no_copy(Some(0))));
        // A peer that does not say: its word counts, as before.
        assert!(!may_have_lost_it(&entry, &no_copy(None)));
    }

    /// A member's answer that it holds `entry` under (`epoch`, `owner`),
    /// marked in doubt for `in_doubt_by` if given.
    fn holding(entry: &Entry, epoch: u64, owner: &str, in_doubt_by: Option<&str>) -> Stance {
        let mut progress = Progress::of(entry);
        progress.in_doubt = in_doubt_by.map(|by| spool::InDoubt {
            by: by.into(),
            since_ms: 0,
            gave_up: false,
        });
        Stance {
            held: Some(crate::gateway::wire::Holding {
                ballot: Ballot {
                    epoch,
                    owner: owner.into(),
                },
                progress,
            }),
            ..no_copy(None)
        }
    }

    fn replies(answers: Vec<(&str, Vec<Stance>)>) -> BTreeMap<String, Vec<Stance>> {
        answers
            .into_iter()
            .map(|(member, stances)| (member.to_string(), stances))
            .collect()
    }

    /// The node is gw-b, a replica of `answering_node::entry()` (owner gw-a
    /// at epoch 1, gw-c the other replica).
    fn replica_node() -> SharedNode {
        answering_node::node(&std::rc::Rc::new(crate::mem_disk::MemDisk::default()), &[])
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_claim_asks_only_members_heard_within_a_lease() {
        use crate::frame::{read_frame, write_frame};
        use crate::gateway::wire::{Framed, PeerReply, PeerRequest};
        tokio::task::LocalSet::new()
            .run_until(async {
                let disk = std::rc::Rc::new(crate::mem_disk::MemDisk::default());
                let (node, env) = answering_node::node_and_env(&disk, &[]);
                answering_node::replicate(&node);
                // gw-a, the owner, has been silent since a boot long ago;
                // gw-c spoke a moment ago.
                answering_node::quiet_since(&node, 0);
                node.heard.borrow_mut().peer_spoke("gw-c", 9_000);
                let (ours, theirs) = tokio::io::duplex(1 << 16);
                env.give_connection("gw-c", Box::new(ours));
                let entry = answering_node::entry();
                let answers = vec![("gw-c", vec![holding(&entry, 1, "gw-a", None)])];
                let tally = look(&node, &entry, answers);
                // gw-c grants the claim, then takes the update after it.
                let gw_c = async move {
                    let mut conn: crate::env::BoxConn = Box::new(theirs);
                    let mut asked = Vec::new();
                    while let Ok((framed, _)) = read_frame::<Framed>(&mut conn, 0).await {
                        let reply = match &framed.request {
                            PeerRequest::Claim { ballot, .. } => PeerReply::Claim {
                                granted: true,
                                stance: holding(&entry, ballot.epoch, &ballot.owner, None),
                            },
                            _ => PeerReply::Ok,
                        };
                        let kind = format!("{:?}", framed.request);
                        asked.push(kind.chars().take(5).collect::<String>());
                        write_frame(&mut conn, &reply, &[]).await.unwrap();
                        if asked.len() == 2 {
                            break;
                        }
                    }
                    asked
                };
                let claimed = answering_node::entry();
                let ((), asked) = tokio::join!(run_claim(&node, &claimed, &tally), gw_c);
                assert_eq!(asked, ["Claim", "Updat"]);
                assert_eq!(env.dialled(), ["gw-c"], "the silent owner is not asked");
                let won = node.entries.borrow()[&answering_node::entry().id].clone();
                assert_eq!((won.owner.as_str(), won.epoch), ("gw-b", 2));
            })
            .await;
    }

    /// The tally of `answers` for looking (not delivering).
    fn look(node: &SharedNode, entry: &Entry, answers: Vec<(&str, Vec<Stance>)>) -> Tally {
        tally(node, entry, &replies(answers), Intent::Look)
    }

    /// `entry` with every recipient delivered.
    fn delivered(entry: &Entry) -> Entry {
        let mut delivered = entry.clone();
        for state in delivered.rcpts.values_mut() {
            *state = RcptState::Delivered;
        }
        delivered
    }

    /// Runs `reconcile` once on a branch that touches no network (so it is
    /// done at its first poll); whether `node` still holds `entry` after.
    fn reconcile_once(
        node: &SharedNode,
        entry: &Entry,
        replies: &BTreeMap<String, Vec<Stance>>,
    ) -> bool {
        use std::task::{Context, Poll, Waker};
        let done = std::pin::pin!(reconcile(node, entry, replies))
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(
            matches!(done, Poll::Ready(())),
            "reconcile waited on the network"
        );
        node.entries.borrow().contains_key(&entry.id)
    }

    #[test]
    fn a_tally_weighs_each_members_answer_about_this_message_against_our_ballot() {
        let node = replica_node();
        let entry = answering_node::entry();
        let elsewhere = Stance {
            id: "another-message".into(),
            ..holding(&entry, 9, "gw-c", None)
        };
        let tally = look(
            &node,
            &entry,
            vec![
                ("gw-a", vec![holding(&entry, 1, "gw-a", None)]),
                // Its answer about another message comes first.
                ("gw-c", vec![elsewhere, no_copy(None)]),
                // Not a member, and we are not asked of ourselves.
                ("gw-x", vec![holding(&entry, 7, "gw-x", None)]),
                ("gw-b", vec![holding(&entry, 8, "gw-c", None)]),
            ],
        );
        assert_eq!(tally.members, ["gw-a", "gw-b", "gw-c"]);
        assert_eq!(tally.need, 2);
        assert_eq!(tally.same.len(), 1);
        assert_eq!(tally.unknown, 1);
        assert_eq!(tally.lacking, ["gw-c"]);
        assert_eq!(tally.answered, ["gw-a", "gw-c"]);
        assert_eq!(tally.progress.len(), 1);
        assert_eq!(tally.highest_epoch, 1);
        assert!(tally.newer.is_none() && !tally.newer_elsewhere);
        assert!(tally.quarantined_by.is_none() && tally.finished_by.is_none());
    }

    #[test]
    fn a_newer_ballot_is_a_takeover_only_when_a_majority_holds_it() {
        let node = replica_node();
        let entry = answering_node::entry();
        let newer = |members: &[&str], owner: &str| {
            let answers = members
                .iter()
                .map(|m| (*m, vec![holding(&entry, 2, owner, None)]))
                .collect();
            tally(&node, &entry, &replies(answers), Intent::Look)
        };
        let taken = newer(&["gw-a", "gw-c"], "gw-c");
        let (ballot, progress) = taken.newer.expect("a majority holds epoch 2");
        assert_eq!((ballot.epoch, ballot.owner.as_str()), (2, "gw-c"));
        assert_eq!(progress.len(), 2);
        assert!(taken.same.is_empty(), "a newer ballot is not ours");
        assert_eq!(taken.highest_epoch, 2);
        assert!(taken.newer_elsewhere);
        // One member is no majority, but the epoch and the rival are known.
        let rumour = newer(&["gw-c"], "gw-c");
        assert!(rumour.newer.is_none());
        assert_eq!(rumour.highest_epoch, 2);
        assert!(rumour.newer_elsewhere);
        // A newer ballot naming us is no rival.
        assert!(!newer(&["gw-a", "gw-c"], "gw-b").newer_elsewhere);
    }

    #[test]
    fn to_deliver_a_copy_vouches_only_if_it_marked_the_message_in_doubt_for_us() {
        let node = replica_node();
        // Here gw-b owns the message.
        let entry = answering_node::owned_here(answering_node::entry());
        let answers = replies(vec![
            ("gw-a", vec![holding(&entry, 1, "gw-b", Some("gw-b"))]),
            ("gw-c", vec![holding(&entry, 1, "gw-b", Some("gw-a"))]),
        ]);
        let deliver = tally(&node, &entry, &answers, Intent::Deliver);
        assert_eq!(deliver.same.len(), 1);
        assert!(deliver.newer.is_none(), "our own ballot is never newer");
        assert_eq!(tally(&node, &entry, &answers, Intent::Look).same.len(), 2);
        // Copies of our ballot with no doubt marked, or marked for another
        // node: none vouches.
        for marks in [[None, None], [Some("gw-a"), Some("gw-c")]] {
            let unmarked = replies(vec![
                ("gw-a", vec![holding(&entry, 1, "gw-b", marks[0])]),
                ("gw-c", vec![holding(&entry, 1, "gw-b", marks[1])]),
            ]);
            let deliver = tally(&node, &entry, &unmarked, Intent::Deliver);
            assert!(
                deliver.same.is_empty() && deliver.newer.is_none(),
                "{marks:?}"
            );
        }
    }

    #[test]
    fn no_copy_from_a_reborn_spool_counts_only_if_the_member_settled_the_message() {
        let node = replica_node();
        let entry = accepted_at(60_000);
        let reborn = entry.received_ms + 1;
        let quarantined = Stance {
            quarantined: true,
            ..no_copy(Some(reborn))
        };
        let finished = Stance {
            finished: true,
            ..no_copy(Some(reborn))
        };
        let settled = look(
            &node,
            &entry,
            vec![("gw-a", vec![quarantined]), ("gw-c", vec![finished])],
        );
        assert_eq!(settled.unknown, 2);
        assert_eq!(settled.quarantined_by.as_deref(), Some("gw-a"));
        assert_eq!(settled.finished_by.as_deref(), Some("gw-c"));
        assert_eq!(settled.lacking, ["gw-a", "gw-c"]);
        let unsettled = look(
            &node,
            &entry,
            vec![
                ("gw-a", vec![no_copy(Some(reborn))]),
                ("gw-c", vec![no_copy(Some(0))]),
            ],
        );
        assert_eq!(unsettled.unknown, 1, "only the old spool's word counts");
        assert_eq!(unsettled.lacking, ["gw-a", "gw-c"]);
        assert!(unsettled.quarantined_by.is_none() && unsettled.finished_by.is_none());
    }

    #[test]
    fn a_tombstone_settles_a_copy_unless_we_own_it_and_are_finishing_it_ourselves() {
        let node = replica_node();
        let entry = answering_node::entry();
        let finished = Stance {
            finished: true,
            ..no_copy(None)
        };
        let answers = replies(vec![("gw-c", vec![finished])]);
        let told = tally(&node, &entry, &answers, Intent::Look);
        assert_eq!(settled_elsewhere(&node, &entry, &told), Some("gw-c"));
        let silent = look(&node, &entry, vec![]);
        assert_eq!(settled_elsewhere(&node, &entry, &silent), None);
        // Ours, still pending: the tombstone says someone settled it.
        let entry = answering_node::owned_here(entry);
        let told = tally(&node, &entry, &answers, Intent::Look);
        assert_eq!(settled_elsewhere(&node, &entry, &told), Some("gw-c"));
        // Ours and finished here: our copy is the record until a majority
        // lets go.
        assert_eq!(settled_elsewhere(&node, &delivered(&entry), &told), None);
    }

    #[test]
    fn an_owner_learns_settled_recipients_and_ends_a_doubt_once_its_node_answers() {
        let node = replica_node();
        let mut entry = answering_node::owned_here(answering_node::entry());
        entry.in_doubt = Some(spool::InDoubt {
            by: "gw-a".into(),
            since_ms: 500,
            gave_up: false,
        });
        let delivered = delivered(&entry);
        // gw-c answers, with nothing new: the doubt is gw-a's, so it stands.
        let quiet = look(
            &node,
            &entry,
            vec![("gw-c", vec![holding(&entry, 1, "gw-b", None)])],
        );
        let mut learner = entry.clone();
        assert!(!learn(&node, &mut learner, &quiet));
        assert_eq!(learner, entry);
        // gw-a answers that it delivered: both learned.
        let answered = look(
            &node,
            &entry,
            vec![("gw-a", vec![holding(&delivered, 1, "gw-b", None)])],
        );
        assert!(learn(&node, &mut learner, &answered));
        assert!(learner.in_doubt.is_none());
        assert!(learner.is_finished());
        // Its answer ends the doubt even when it brings no news.
        let mut learner = entry.clone();
        let no_news = look(&node, &entry, vec![("gw-a", vec![no_copy(None)])]);
        assert!(learn(&node, &mut learner, &no_news));
        assert!(learner.in_doubt.is_none());
        assert!(!learner.is_finished());
        // No doubt at all: news from any member is learned.
        let mut learner = entry.clone();
        learner.in_doubt = None;
        let news = look(
            &node,
            &entry,
            vec![("gw-c", vec![holding(&delivered, 1, "gw-b", None)])],
        );
        assert!(learn(&node, &mut learner, &news));
        assert!(learner.is_finished());
    }

    #[test]
    fn lost_copies_are_restored_to_the_members_lacking_them_only_below_a_majority() {
        let node = replica_node();
        let entry = accepted_at(60_000);
        let lost = || no_copy(Some(61_000));
        let restore = |answers| {
            let tally = tally(&node, &entry, &replies(answers), Intent::Look);
            copies_to_restore(&entry, &tally, false)
        };
        // Only we hold it: gw-c gets it back, the owner never from us.
        assert_eq!(
            restore(vec![("gw-a", vec![lost()]), ("gw-c", vec![lost()])]),
            ["gw-c"]
        );
        // With the owner's copy we are a majority: nothing to restore.
        let owner_holds = holding(&entry, 1, "gw-a", None);
        assert!(restore(vec![("gw-a", vec![owner_holds]), ("gw-c", vec![lost()])]).is_empty());
        // A rival ballot elsewhere: its owner restores, not us.
        let rival = holding(&entry, 2, "gw-c", None);
        assert!(restore(vec![("gw-a", vec![lost()]), ("gw-c", vec![rival])]).is_empty());
        // A copy of an older ballot is no copy of ours: as owner at epoch
        // 2, with gw-a still at epoch 1 and gw-c's copy lost, gw-c gets ours.
        let mut claimed = answering_node::owned_here(entry.clone());
        claimed.epoch = 2;
        let stale = holding(&entry, 1, "gw-a", None);
        let answers = replies(vec![("gw-a", vec![stale]), ("gw-c", vec![lost()])]);
        let split = tally(&node, &claimed, &answers, Intent::Look);
        assert_eq!(copies_to_restore(&claimed, &split, false), ["gw-c"]);
        assert!(copies_to_restore(&claimed, &split, true).is_empty());
        // As the owner, every member lacking it.
        let owned = answering_node::owned_here(entry.clone());
        let answers = replies(vec![("gw-a", vec![lost()]), ("gw-c", vec![lost()])]);
        let tally = tally(&node, &owned, &answers, Intent::Look);
        assert_eq!(copies_to_restore(&owned, &tally, false), ["gw-a", "gw-c"]);
    }

    #[test]
    fn a_copy_unknown_to_a_majority_goes_once_its_owner_has_been_quiet_for_a_lease() {
        let reconciled = |node: &SharedNode, answers: Vec<(&str, Vec<Stance>)>| {
            let entry = node.entries.borrow()[&answering_node::entry().id].clone();
            reconcile_once(node, &entry, &replies(answers))
        };
        let forgotten = || vec![("gw-a", vec![no_copy(None)]), ("gw-c", vec![no_copy(None)])];
        for (bugs, kept_while_fresh) in [
            (&[][..], true),
            (&["fresh-copy-taken-for-finished"][..], false),
        ] {
            let node =
                answering_node::node(&std::rc::Rc::new(crate::mem_disk::MemDisk::default()), bugs);
            // The owner just copied it to us: still being copied.
            answering_node::replicate(&node);
            assert_eq!(reconciled(&node, forgotten()), kept_while_fresh, "{bugs:?}");
            if !kept_while_fresh {
                continue;
            }
            // A lease later with no word from the owner: finished and
            // forgotten by the majority.
            answering_node::quiet_since(&node, 0);
            let owner_holds = holding(&answering_node::entry(), 1, "gw-a", None);
            let one_forgot = vec![("gw-a", vec![owner_holds]), ("gw-c", vec![no_copy(None)])];
            assert!(reconciled(&node, one_forgot), "one of three is no majority");
            assert!(!reconciled(&node, forgotten()));
        }
    }

    #[test]
    fn a_copy_whose_member_holds_the_message_in_quarantine_goes_into_quarantine_too() {
        // Our entry still says pending (it missed the update that said
        // quarantined); the owner answers sync that it holds the message in
        // its quarantine. Its word counts, so the quarantine is not on the
        // owner's disk alone.
        for (bugs, kept) in [(&[][..], true), (&["quarantine-on-owner-only"][..], false)] {
            let disk = std::rc::Rc::new(crate::mem_disk::MemDisk::default());
            let node = answering_node::node(&disk, bugs);
            answering_node::replicate(&node);
            let entry = node.entries.borrow()[&answering_node::entry().id].clone();
            assert!(!entry.is_quarantined());
            let owner_says = Stance {
                quarantined: true,
                ..no_copy(None)
            };
            let replies = BTreeMap::from([(entry.owner.clone(), vec![owner_says])]);
            assert!(!reconcile_once(&node, &entry, &replies), "{bugs:?}");
            assert_eq!(
                crate::spool::is_quarantined(disk.as_ref(), &entry.id),
                kept,
                "{bugs:?}"
            );
        }
    }

    #[test]
    fn a_dropped_copy_leaves_nothing_of_the_message_in_memory() {
        let node =
            answering_node::node(&std::rc::Rc::new(crate::mem_disk::MemDisk::default()), &[]);
        answering_node::replicate(&node);
        let entry = node.entries.borrow()[&answering_node::entry().id].clone();
        node.held_in_doubt.borrow_mut().insert(entry.id.clone());
        drop_copy(&node, &entry, "finished elsewhere");
        assert!(node.entries.borrow().is_empty());
        assert!(node.held_in_doubt.borrow().is_empty(), "a leak per message");
    }
}
