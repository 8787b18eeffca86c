//! What a node does when a peer asks something of it (it listens on the
//! peer port and answers each framed request): store a copy, take
//! the owner's progress, forget a finished message, report its ballots, vote
//! on a takeover, say whether it is healthy.
//!
//! The voting rules are the fencing: a copy moves to a new ballot only
//! through a granted claim, and a claim is granted only if it outbids the
//! copy's ballot and the current owner has been silent for a whole lease
//! (and this node has been up for one). An owner that got a majority to
//! confirm its ballot at `t` therefore cannot be replaced before `t +
//! lease`. Updates and forgets from a ballot older than the copy's are
//! refused, though the progress they carry (a recipient settled is a fact)
//! is still kept.

use std::time::Duration;

use traces::EventKind;

use crate::config::PEER_PORT;
use crate::env::{self, BoxConn};
use crate::frame::{read_frame, write_frame};
use crate::gateway::ballot::{self, Ballot, Progress};
use crate::gateway::wire::{Framed, Held, Holding, PeerReply, PeerRequest, Stance};
use crate::gateway::{SharedNode, peer_links, tombstones};
use crate::spool::{self, Durability, Entry, InDoubt};

/// Answers peers until the node dies, each connection on its own task.
pub async fn serve(node: SharedNode) {
    let listener = match node.env.listen(PEER_PORT).await {
        Ok(listener) => listener,
        Err(e) => {
            node.note("peer_listen_failed", e.to_string());
            return;
        }
    };
    loop {
        let Ok((conn, peer)) = listener.accept().await else {
            continue;
        };
        let handler = node.clone();
        node.env.spawn(Box::pin(async move {
            let _ = handle(&handler, conn, &peer).await;
        }));
    }
}

/// Answers the requests that come on one connection, one after another,
/// until the asker closes it or leaves it idle for
/// [`peer_links::ANSWER_IDLE_MS`].
async fn handle(node: &SharedNode, mut conn: BoxConn, peer: &str) -> std::io::Result<()> {
    let knobs = &node.config.knobs;
    // The first request is due at once; later ones whenever the asker has
    // something to ask.
    let mut wait_ms = knobs.replication_timeout_ms;
    loop {
        let read = env::timeout(
            node.env.as_ref(),
            Duration::from_millis(wait_ms),
            read_frame(&mut conn, knobs.copy_bytes_max()),
        )
        .await;
        let (framed, payload): (Framed, Vec<u8>) = match read {
            Ok(Ok(frame)) => frame,
            // Closed by the asker between requests (an end of file),
            // garbage, or idle: done. Nobody reads the error.
            Ok(Err(e)) => return Err(e),
            Err(env::Elapsed) => return Ok(()),
        };
        // The sender names itself: a transport's peer address (a loopback
        // port in real mode) is not a host name. In the simulation both
        // agree.
        let from = if framed.from.is_empty() {
            peer
        } else {
            framed.from.as_str()
        };
        let reply = answer(node, from, framed.request, &payload);
        // A yes to a copy stands for an fsync that has completed.
        super::disk_settled(node).await;
        write_frame(&mut conn, &reply, &[]).await?;
        if node.env.buggify("voter.close_after_reply") {
            // As a restart or an idle close would: the asker must notice
            // when it next uses the connection and ask again on a new one.
            return Ok(());
        }
        wait_ms = peer_links::ANSWER_IDLE_MS;
    }
}

/// Handles one request from `from`.
pub fn answer(node: &SharedNode, from: &str, request: PeerRequest, payload: &[u8]) -> PeerReply {
    node.heard.borrow_mut().peer_spoke(from, node.now_ms());
    let done = |result: std::io::Result<()>| match result {
        Ok(()) => PeerReply::Ok,
        Err(e) => PeerReply::Failed {
            reason: e.to_string(),
        },
    };
    let copies = matches!(
        request,
        PeerRequest::Replicate { .. } | PeerRequest::Update { .. }
    );
    if copies && node.env.buggify("voter.spurious_refusal") {
        // A transient refusal, before anything is stored: the asker must
        // retry or count it as no copy, never as one.
        return PeerReply::Failed {
            reason: "busy, try again later".into(),
        };
    }
    match request {
        PeerRequest::Replicate { entry } => done(replicate(node, entry, payload)),
        PeerRequest::Update { entry } => done(update(node, from, entry)),
        PeerRequest::Forget {
            id,
            ballot,
            for_good,
            refused,
            quarantined,
        } => done(forget(node, &id, &ballot, for_good, refused, quarantined)),
        PeerRequest::Sync { ballots } => PeerReply::Stances {
            stances: ballots
                .iter()
                .map(|held| stance(node, from, held))
                .collect(),
        },
        PeerRequest::Claim { id, ballot } => claim(node, from, &id, &ballot),
        PeerRequest::Health => PeerReply::Health {
            healthy: node
                .heard
                .borrow()
                .healthy(&node.config, node.me(), node.now_ms()),
        },
    }
}

fn replicate(node: &SharedNode, entry: Entry, payload: &[u8]) -> std::io::Result<()> {
    if tombstones::settled(node, &entry.id) {
        // A copy arriving after its message was settled (a late repair, or
        // a copy that lost the race with its refusal's `Forget`) would only
        // be a stale copy to clean up again.
        return Err(std::io::Error::other("that message is settled here"));
    }
    let known = node.entries.borrow().get(&entry.id).map(Ballot::of);
    if known
        .as_ref()
        .is_some_and(|known| *known >= Ballot::of(&entry))
    {
        // A repeated copy (a repair racing the original): already held.
        return Ok(());
    }
    // A replica's copy goes through the same write path as the acceptor's,
    // so the `ack-before-fsync` mistake skips its fsync too: otherwise the
    // fsynced replicas would hide the bug from every check.
    let durability = super::durability(&node.config);
    if let Err(e) = spool::store_new(node.env.disk(), &entry, payload, durability) {
        // A refused new copy must not linger on disk once the disk recovers
        // (an older copy we already held stays: it is still ours to keep).
        if known.is_none() {
            super::discard(node, &entry.id);
        }
        return Err(e);
    }
    // The owner just spoke: its lease starts now, not at our boot.
    node.heard
        .borrow_mut()
        .owner_spoke(&entry.id, node.now_ms());
    node.entries.borrow_mut().insert(entry.id.clone(), entry);
    Ok(())
}

fn update(node: &SharedNode, from: &str, incoming: Entry) -> std::io::Result<()> {
    let Some(mine) = node.entries.borrow().get(&incoming.id).cloned() else {
        // A copy we never had (or already forgot): nothing to update.
        return Err(std::io::Error::other("no copy of that message"));
    };
    let (theirs, ours) = (Ballot::of(&incoming), Ballot::of(&mine));
    if theirs < ours {
        // A stale owner: refuse its view, but keep what it settled.
        let mut kept = mine.clone();
        if ballot::merge_progress(&mut kept, &Progress::of(&incoming)) {
            store(node, &kept)?;
        }
        return Err(std::io::Error::other(format!(
            "stale ballot: {theirs} is older than {ours}"
        )));
    }
    let mut newer = incoming;
    ballot::merge_progress(&mut newer, &Progress::of(&mine));
    if theirs > ours && mine.owner == node.me() {
        node.note(
            "fenced",
            format!("{}: learned {theirs} from {from} (held {ours})", newer.id),
        );
    }
    if theirs.owner == from {
        node.heard
            .borrow_mut()
            .owner_spoke(&newer.id, node.now_ms());
    }
    store(node, &newer)
}

fn forget(
    node: &SharedNode,
    id: &str,
    sender: &Ballot,
    for_good: bool,
    refused: bool,
    quarantined: bool,
) -> std::io::Result<()> {
    let mine = node.entries.borrow().get(id).cloned();
    if refused && mine.is_none() && tombstones::settled(node, id) {
        // Settled here before the refusal arrived: someone took the message
        // over and finished it while its acceptor stalled (or this repeats
        // a forget whose answer was lost: the asker then hangs up, which
        // is safe too).
        return Err(std::io::Error::other(format!(
            "{id} is settled already: a refusal now would be false"
        )));
    }
    if let Some(known) = mine.as_ref().map(Ballot::of)
        && known > *sender
    {
        return Err(std::io::Error::other(format!(
            "stale ballot: {sender} is older than {known}"
        )));
    }
    // The owner's word that it quarantined the message counts even when our
    // entry missed the update that said so (a torn write of it: madsim
    // explore, dependencies with BUGGIFY, campaign seed 13, run 4131),
    // or the quarantine would live on the owner's disk alone.
    // `quarantine-on-owner-only` takes our stale entry's word.
    let told_quarantined = quarantined && !node.config.bug("quarantine-on-owner-only");
    match &mine {
        _ if told_quarantined => spool::remove_into_quarantine(node.env.disk(), id)?,
        Some(entry) => spool::remove_finished(node.env.disk(), entry)?,
        None => spool::remove(node.env.disk(), id)?,
    }
    node.forget_message(id);
    if for_good {
        tombstones::settle_for_good(node, id);
    }
    Ok(())
}

/// This node's stance on one message, as the sender of `held` asked.
fn stance(node: &SharedNode, from: &str, held: &Held) -> Stance {
    let now_ms = node.now_ms();
    node.heard
        .borrow_mut()
        .saw_epoch(&held.id, held.ballot.epoch);
    let Some(mine) = lookup(node, &held.id) else {
        return Stance {
            id: held.id.clone(),
            held: None,
            quarantined: says_quarantined(node, &held.id),
            finished: says_finished(node, &held.id),
            spool_born_ms: says_when_born(node),
        };
    };
    let ours = Ballot::of(&mine);
    if ours == held.ballot && ours.owner == from {
        // The owner's heartbeat: its lease is renewed here.
        node.heard.borrow_mut().owner_spoke(&held.id, now_ms);
        if held.delivering {
            let mut marked = mine.clone();
            marked.in_doubt = Some(InDoubt {
                by: from.to_string(),
                since_ms: now_ms,
                gave_up: false,
            });
            // Unmarked (the write failed), the answer does not count toward
            // the owner's confirmation to deliver.
            if store(node, &marked).is_ok() {
                return stance_of(&marked);
            }
        }
    }
    stance_of(&mine)
}

/// A node without a spool copy tells the asker when it holds the message in
/// quarantine: the one trace a settled message leaves. Without it, copies
/// that missed the `Forget` of a quarantined message could never tell it
/// was settled once the copy set split evenly between them and the nodes
/// that forgot (madsim swarm seed 3708: the owner's disk lost right after
/// its verdict, four stale copies against four that forgot, and the stale
/// ones claiming for ever). `settled-unspoken` keeps it quiet.
fn says_quarantined(node: &SharedNode, id: &str) -> bool {
    !node.config.bug("settled-unspoken") && spool::is_quarantined(node.env.disk(), id)
}

/// The same for any message this node settled for good: its tombstone
/// (`crate::tombstone`; delivered or refused messages leave no quarantine
/// to point at, swarm seeds 5706, 6188, 6928, 7247, 9213).
/// `settled-unspoken` keeps it quiet too.
fn says_finished(node: &SharedNode, id: &str) -> bool {
    !node.config.bug("settled-unspoken") && tombstones::settled(node, id)
}

/// When this node's spool began, beside every "no copy": a node reborn on
/// an empty disk may have held the message and lost it (`crate::spool_birth`).
/// `amnesia-taken-for-forgetting` keeps it quiet, so the asker takes any
/// "no copy" for "never had it or forgot it".
fn says_when_born(node: &SharedNode) -> Option<u64> {
    (!node.config.bug("amnesia-taken-for-forgetting")).then_some(node.spool_born_ms)
}

pub fn stance_of(entry: &Entry) -> Stance {
    Stance {
        quarantined: false,
        finished: false,
        spool_born_ms: None,
        id: entry.id.clone(),
        held: Some(Holding {
            ballot: Ballot::of(entry),
            progress: Progress::of(entry),
        }),
    }
}

/// The copy in memory, or else on disk: ingress writes a new message
/// before its replicas confirm, and a copy there must not look unknown.
fn lookup(node: &SharedNode, id: &str) -> Option<Entry> {
    if let Some(entry) = node.entries.borrow().get(id) {
        return Some(entry.clone());
    }
    spool::load_entry(node.env.disk(), id).ok()
}

fn claim(node: &SharedNode, from: &str, id: &str, ballot: &Ballot) -> PeerReply {
    let Some(mine) = node.entries.borrow().get(id).cloned() else {
        // No copy, no vote: a takeover needs a majority of nodes that hold
        // the message, or it could not carry the message on.
        return PeerReply::Claim {
            granted: false,
            stance: Stance {
                quarantined: false,
                finished: false,
                spool_born_ms: None,
                id: id.to_string(),
                held: lookup(node, id).map(|e| stance_of(&e).held).unwrap_or(None),
            },
        };
    };
    let refuse = |mine: &Entry| PeerReply::Claim {
        granted: false,
        stance: stance_of(mine),
    };
    let ours = Ballot::of(&mine);
    let now_ms = node.now_ms();
    let lease_ms = node.config.knobs.owner_lease_ms;
    if *ballot <= ours || ballot.owner != from || mine.owner == node.me() {
        // Outbid, someone claiming for another, or we are the owner and alive.
        return refuse(&mine);
    }
    // The same owner raising its own epoch needs no silence; anyone else
    // must wait until the owner has been quiet here for a whole lease.
    let replacing = ballot.owner != ours.owner;
    let heard = node.heard.borrow();
    if replacing
        && (heard.in_boot_grace(now_ms, lease_ms) || !heard.owner_quiet(id, now_ms, lease_ms))
    {
        drop(heard);
        return refuse(&mine);
    }
    drop(heard);
    let mut granted = mine.clone();
    ballot::adopt(&node.config, &mut granted, ballot);
    if store(node, &granted).is_err() {
        return refuse(&mine);
    }
    node.heard.borrow_mut().owner_spoke(id, now_ms);
    node.env.observe(EventKind::GwNote {
        what: "vote".into(),
        detail: format!("{id}: granted {ballot} (was {ours})"),
    });
    PeerReply::Claim {
        granted: true,
        stance: stance_of(&granted),
    }
}

/// Stores the entry durably and in memory.
fn store(node: &SharedNode, entry: &Entry) -> std::io::Result<()> {
    if node.env.buggify("spool.torn_write") {
        spool::write_torn_entry(node.env.disk(), entry)?;
        return Err(std::io::Error::other("write interrupted: torn entry"));
    }
    spool::store_entry(node.env.disk(), entry, Durability::Synced)?;
    node.entries
        .borrow_mut()
        .insert(entry.id.clone(), entry.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use crate::gateway::answering_node::{node, owned_here, quiet_since, replicate, sync_stance};
    use crate::mem_disk::MemDisk;

    #[test]
    fn no_copy_comes_with_the_spools_birth_and_a_copy_without_it() {
        let fresh = node(&Rc::new(MemDisk::default()), &[]);
        let stance = sync_stance(&fresh);
        assert!(stance.held.is_none());
        assert_eq!(stance.spool_born_ms, Some(fresh.spool_born_ms));
        replicate(&fresh);
        let stance = sync_stance(&fresh);
        assert!(stance.held.is_some());
        assert_eq!(stance.spool_born_ms, None, "a holder's birth says nothing");
    }

    #[test]
    fn amnesia_taken_for_forgetting_keeps_the_birth_quiet() {
        let buggy = node(
            &Rc::new(MemDisk::default()),
            &["amnesia-taken-for-forgetting"],
        );
        assert_eq!(sync_stance(&buggy).spool_born_ms, None);
    }

    #[test]
    fn a_copy_told_its_message_was_quarantined_keeps_it_in_quarantine() {
        use crate::gateway::answering_node::{entry, forget_quarantined};
        use crate::gateway::wire::PeerReply;
        // Our entry still says pending (it missed the owner's update); the
        // owner's word that it quarantined the message counts.
        for (bugs, kept) in [(&[][..], true), (&["quarantine-on-owner-only"][..], false)] {
            let disk = Rc::new(MemDisk::default());
            let held = node(&disk, bugs);
            replicate(&held);
            assert!(!held.entries.borrow()[&entry().id].is_quarantined());
            let reply = forget_quarantined(&held);
            assert!(matches!(reply, PeerReply::Ok), "{reply:?}");
            assert!(held.entries.borrow().is_empty());
            assert_eq!(
                crate::spool::is_quarantined(disk.as_ref(), &entry().id),
                kept,
                "{bugs:?}"
            );
        }
    }

    /// What this node (gw-b) answers `from`'s claim of `entry()` under
    /// (`epoch`, `owner`): granted or not, and the ballot of its copy, if
    /// it holds one.
    fn vote(
        node: &crate::gateway::SharedNode,
        from: &str,
        epoch: u64,
        owner: &str,
    ) -> (bool, Option<crate::gateway::ballot::Ballot>) {
        use crate::gateway::ballot::Ballot;
        use crate::gateway::wire::{PeerReply, PeerRequest};
        let ballot = Ballot {
            epoch,
            owner: owner.into(),
        };
        let id = crate::gateway::answering_node::entry().id;
        match super::answer(node, from, PeerRequest::Claim { id, ballot }, &[]) {
            PeerReply::Claim { granted, stance } => (granted, stance.held.map(|h| h.ballot)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_update_replaces_the_copy_unless_its_ballot_is_older_but_keeps_what_it_settled() {
        use crate::gateway::answering_node::entry;
        use crate::gateway::wire::{PeerReply, PeerRequest};
        use crate::spool::RcptState;
        let rcpt = "a@acme.example";
        let update = |node: &crate::gateway::SharedNode, from: &str, incoming| {
            super::answer(node, from, PeerRequest::Update { entry: incoming }, &[])
        };
        // A copy it never had: nothing to update.
        let empty = node(&Rc::new(MemDisk::default()), &[]);
        let reply = update(&empty, "gw-a", entry());
        assert!(matches!(reply, PeerReply::Failed { .. }), "{reply:?}");
        // A stale owner (epoch 0 under our epoch 1) is refused, but the
        // delivery it reports is kept.
        let held = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&held);
        let mut stale = entry();
        stale.epoch = 0;
        stale.rcpts.insert(rcpt.into(), RcptState::Delivered);
        let reply = update(&held, "gw-a", stale);
        assert!(matches!(reply, PeerReply::Failed { .. }), "{reply:?}");
        let copy = held.entries.borrow()[&entry().id].clone();
        assert_eq!((copy.epoch, copy.owner.as_str()), (1, "gw-a"));
        assert_eq!(copy.rcpts[rcpt], RcptState::Delivered);
        // The same ballot, or a newer one, replaces the copy, and what the
        // copy had settled stays settled.
        let reply = update(&held, "gw-a", entry());
        assert!(matches!(reply, PeerReply::Ok), "{reply:?}");
        let mut newer = entry();
        newer.epoch = 2;
        newer.owner = "gw-c".into();
        newer.replicas = vec!["gw-a".into(), "gw-b".into()];
        let reply = update(&held, "gw-c", newer);
        assert!(matches!(reply, PeerReply::Ok), "{reply:?}");
        let copy = held.entries.borrow()[&entry().id].clone();
        assert_eq!((copy.epoch, copy.owner.as_str()), (2, "gw-c"));
        assert_eq!(copy.rcpts[rcpt], RcptState::Delivered);
    }

    /// `entry()` under (`epoch`, `owner`), copied to the other two.
    fn under(epoch: u64, owner: &str) -> crate::spool::Entry {
        let mut entry = crate::gateway::answering_node::entry();
        entry.epoch = epoch;
        entry.owner = owner.into();
        entry.replicas = ["gw-a", "gw-b", "gw-c"]
            .into_iter()
            .filter(|h| *h != owner)
            .map(String::from)
            .collect();
        entry
    }

    fn send(
        node: &crate::gateway::SharedNode,
        from: &str,
        request: crate::gateway::wire::PeerRequest,
    ) -> crate::gateway::wire::PeerReply {
        super::answer(node, from, request, b"Subject: hi\r\n\r\nhello\r\n")
    }

    fn held_ballot(node: &crate::gateway::SharedNode) -> Option<(u64, String)> {
        let id = crate::gateway::answering_node::entry().id;
        (node.entries.borrow().get(&id)).map(|e| (e.epoch, e.owner.clone()))
    }

    #[test]
    fn a_repair_under_a_newer_ballot_replaces_the_copy_and_an_older_one_is_taken_as_held() {
        use crate::gateway::wire::{PeerReply, PeerRequest};
        let held = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&held);
        let repair = |entry| PeerRequest::Replicate { entry };
        assert!(matches!(
            send(&held, "gw-c", repair(under(2, "gw-c"))),
            PeerReply::Ok
        ));
        assert_eq!(held_ballot(&held), Some((2, "gw-c".into())));
        // A late copy of the first ballot: already held, nothing changes.
        assert!(matches!(
            send(&held, "gw-a", repair(under(1, "gw-a"))),
            PeerReply::Ok
        ));
        assert_eq!(held_ballot(&held), Some((2, "gw-c".into())));
    }

    #[test]
    fn an_owner_that_learns_a_newer_ballot_from_an_update_notes_it_was_fenced() {
        use crate::gateway::answering_node::{entry, node_and_env};
        use crate::gateway::wire::PeerRequest;
        let fenced = |held: (u64, &str), incoming: (u64, &str), from: &str| {
            let (node, env) = node_and_env(&Rc::new(MemDisk::default()), &[]);
            let id = entry().id;
            node.entries.borrow_mut().insert(id, under(held.0, held.1));
            let update = PeerRequest::Update {
                entry: under(incoming.0, incoming.1),
            };
            send(&node, from, update);
            env.notes().iter().any(|(what, _)| what == "fenced")
        };
        // Ours (gw-b), and a newer owner tells us: fenced.
        assert!(fenced((1, "gw-b"), (2, "gw-c"), "gw-c"));
        // Ours, and our own ballot comes back: nothing new.
        assert!(!fenced((1, "gw-b"), (1, "gw-b"), "gw-a"));
        // Someone else's copy moving on: not ours to lose.
        assert!(!fenced((1, "gw-a"), (2, "gw-c"), "gw-c"));
    }

    #[test]
    fn an_update_renews_the_owners_lease_only_when_the_owner_sends_it() {
        use crate::gateway::wire::{PeerReply, PeerRequest};
        let update = || PeerRequest::Update {
            entry: under(1, "gw-a"),
        };
        // Relayed by gw-c: the owner is still silent, a takeover is granted.
        let relayed = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&relayed);
        quiet_since(&relayed, 0);
        assert!(matches!(send(&relayed, "gw-c", update()), PeerReply::Ok));
        assert!(vote(&relayed, "gw-c", 2, "gw-c").0);
        // From gw-a itself: it just spoke, no takeover.
        let direct = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&direct);
        quiet_since(&direct, 0);
        assert!(matches!(send(&direct, "gw-a", update()), PeerReply::Ok));
        assert!(!vote(&direct, "gw-c", 2, "gw-c").0);
    }

    #[test]
    fn a_forget_under_an_older_ballot_is_refused_and_one_under_the_copys_or_newer_is_done() {
        use crate::gateway::ballot::Ballot;
        use crate::gateway::wire::{PeerReply, PeerRequest};
        let forget = |epoch: u64, owner: &str| PeerRequest::Forget {
            id: crate::gateway::answering_node::entry().id,
            ballot: Ballot {
                epoch,
                owner: owner.into(),
            },
            for_good: true,
            refused: false,
            quarantined: false,
        };
        let held = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&held);
        send(
            &held,
            "gw-c",
            PeerRequest::Replicate {
                entry: under(2, "gw-c"),
            },
        );
        let reply = send(&held, "gw-a", forget(1, "gw-a"));
        assert!(matches!(reply, PeerReply::Failed { .. }), "{reply:?}");
        assert_eq!(held_ballot(&held), Some((2, "gw-c".into())));
        let reply = send(&held, "gw-c", forget(3, "gw-c"));
        assert!(matches!(reply, PeerReply::Ok), "{reply:?}");
        assert_eq!(held_ballot(&held), None);
    }

    #[test]
    fn the_owners_sync_renews_its_lease_and_a_delivering_one_marks_the_copy_in_doubt() {
        use crate::gateway::ballot::Ballot;
        use crate::gateway::wire::{Held, PeerReply, PeerRequest, Stance};
        let sync = |node: &crate::gateway::SharedNode, from: &str, epoch: u64| -> Stance {
            let held = Held {
                id: crate::gateway::answering_node::entry().id,
                ballot: Ballot {
                    epoch,
                    owner: "gw-a".into(),
                },
                delivering: true,
            };
            match send(
                node,
                from,
                PeerRequest::Sync {
                    ballots: vec![held],
                },
            ) {
                PeerReply::Stances { mut stances } => stances.remove(0),
                other => panic!("{other:?}"),
            }
        };
        let in_doubt_by = |stance: &Stance| {
            let holding = stance.held.as_ref().expect("a copy");
            holding.progress.in_doubt.as_ref().map(|d| d.by.clone())
        };
        // The owner, at the copy's ballot: in doubt until it says how the
        // delivery went, and its lease renewed.
        let owner_asks = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&owner_asks);
        quiet_since(&owner_asks, 0);
        assert_eq!(
            in_doubt_by(&sync(&owner_asks, "gw-a", 1)),
            Some("gw-a".into())
        );
        assert!(!vote(&owner_asks, "gw-c", 2, "gw-c").0);
        // Someone else asking about the owner's ballot, or the owner at
        // another ballot: neither.
        for (from, epoch) in [("gw-c", 1), ("gw-a", 0)] {
            let other = node(&Rc::new(MemDisk::default()), &[]);
            replicate(&other);
            quiet_since(&other, 0);
            assert_eq!(
                in_doubt_by(&sync(&other, from, epoch)),
                None,
                "{from} {epoch}"
            );
            assert!(vote(&other, "gw-c", 2, "gw-c").0, "{from} {epoch}");
        }
    }

    #[test]
    fn a_node_without_the_copy_says_when_it_holds_the_message_in_quarantine() {
        use crate::gateway::answering_node::forget_quarantined;
        for (bugs, says) in [(&[][..], true), (&["settled-unspoken"][..], false)] {
            let held = node(&Rc::new(MemDisk::default()), bugs);
            assert!(!sync_stance(&held).quarantined, "nothing yet");
            replicate(&held);
            forget_quarantined(&held);
            let stance = sync_stance(&held);
            assert!(stance.held.is_none());
            assert_eq!(stance.quarantined, says, "{bugs:?}");
        }
    }

    #[test]
    fn a_takeover_is_granted_only_after_a_lease_of_the_owners_silence() {
        let held = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&held);
        // The owner just copied it here: not silent.
        assert!(!vote(&held, "gw-c", 2, "gw-c").0);
        // Silent since this node booted, but it booted less than a lease
        // ago (10 s now, lease 5 s): it cannot know.
        quiet_since(&held, 6_000);
        assert!(!vote(&held, "gw-c", 2, "gw-c").0);
        // A whole lease of silence since a boot long ago: granted, and
        // the copy now names gw-c at epoch 2.
        quiet_since(&held, 0);
        let (granted, ballot) = vote(&held, "gw-c", 2, "gw-c");
        assert!(granted);
        let ballot = ballot.expect("a holder answers with its ballot");
        assert_eq!((ballot.epoch, ballot.owner.as_str()), (2, "gw-c"));
        let entry = held.entries.borrow()[&crate::gateway::answering_node::entry().id].clone();
        assert_eq!(entry.owner, "gw-c");
        // The grant counts as the new owner speaking: a rival right after
        // is refused, however high it bids.
        assert!(!vote(&held, "gw-a", 3, "gw-a").0);
    }

    #[test]
    fn a_claim_is_refused_unless_it_outbids_the_copy_for_the_claimant_itself() {
        let held = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&held);
        quiet_since(&held, 0);
        // Not above the copy's ballot (epoch 1, gw-a).
        assert!(!vote(&held, "gw-c", 1, "gw-a").0);
        assert!(!vote(&held, "gw-c", 0, "gw-c").0);
        // On behalf of another node.
        assert!(!vote(&held, "gw-c", 2, "gw-x").0);
        // The owner raising its own epoch needs no silence.
        replicate(&held);
        let (granted, ballot) = vote(&held, "gw-a", 2, "gw-a");
        assert!(granted);
        assert_eq!(ballot.map(|b| b.epoch), Some(2));
    }

    #[test]
    fn a_node_never_votes_away_what_it_owns_or_what_it_does_not_hold() {
        let empty = node(&Rc::new(MemDisk::default()), &[]);
        quiet_since(&empty, 0);
        assert_eq!(vote(&empty, "gw-c", 2, "gw-c"), (false, None));
        // gw-b owning the message: a claim by gw-c waits for gw-b's own
        // word, never a vote.
        let owner = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&owner);
        quiet_since(&owner, 0);
        let id = crate::gateway::answering_node::entry().id;
        let mine = owned_here(owner.entries.borrow()[&id].clone());
        owner.entries.borrow_mut().insert(id, mine);
        assert!(!vote(&owner, "gw-c", 2, "gw-c").0);
    }

    #[test]
    fn a_forgotten_copy_leaves_nothing_of_the_message_in_memory() {
        let held = node(&Rc::new(MemDisk::default()), &[]);
        replicate(&held);
        let id = crate::gateway::answering_node::entry().id;
        held.held_in_doubt.borrow_mut().insert(id);
        let reply = crate::gateway::answering_node::forget(&held, true);
        assert!(
            matches!(reply, crate::gateway::wire::PeerReply::Ok),
            "{reply:?}"
        );
        assert!(held.entries.borrow().is_empty());
        assert!(held.held_in_doubt.borrow().is_empty(), "a leak per message");
    }
}
