//! The asking side of the node-to-node protocol: copies of new messages,
//! updates of their per-recipient progress, forgetting finished ones, and
//! the ownership exchanges — syncing ballots, claiming a message whose owner
//! went quiet, and the health question the control plane asks. Framed
//! requests and replies (`wire.rs`), one at a time on a connection kept
//! open between them (`peer_links.rs`); the answering side is `voter.rs`.

use std::time::Duration;

use crate::config::PEER_PORT;
use crate::env::{self, BoxConn, Env};
use crate::fan_out::fan_out;
use crate::frame::{read_frame, write_frame};
use crate::gateway::SharedNode;
use crate::gateway::ballot::Ballot;
use crate::gateway::wire::{FramedRef, Held, PeerReply, PeerRequest, Stance};
use crate::spool::Entry;

/// Sends one framed request on `conn` and reads its reply.
async fn round_trip(
    conn: &mut BoxConn,
    from: &str,
    request: &PeerRequest,
    payload: &[u8],
) -> std::io::Result<PeerReply> {
    write_frame(conn, &FramedRef { from, request }, payload).await?;
    let (reply, _): (PeerReply, Vec<u8>) = read_frame(conn, 0).await?;
    Ok(reply)
}

/// One request, one reply, on a connection of its own, within the timeout
/// (the control plane's question: it keeps no connections).
async fn exchange(
    env: &dyn Env,
    target: &str,
    request: &PeerRequest,
    payload: &[u8],
    timeout_ms: u64,
) -> std::io::Result<PeerReply> {
    let exchange = async {
        let mut conn = env.connect(target, PEER_PORT).await?;
        round_trip(&mut conn, env.host_name(), request, payload).await
    };
    env::timeout(env, Duration::from_millis(timeout_ms), exchange).await?
}

/// One request and its reply within the replication timeout, on an idle
/// connection to `target` if there is one (`peer_links.rs`), else a new
/// one; either is kept for the next request once it has answered. Copies
/// excepted: each on a new connection, closed after its reply.
async fn call(
    node: &SharedNode,
    target: &str,
    request: &PeerRequest,
    payload: &[u8],
) -> std::io::Result<PeerReply> {
    let timeout_ms = node.config.knobs.replication_timeout_ms;
    let env = node.env.as_ref();
    // A copy goes on a connection of its own, never a kept one. The
    // answering side waits at most the replication timeout for a new
    // connection's first request, so a copy held up in the network (a
    // partition) past the asker's timeout is never stored; on a kept
    // connection it waited for the next request as long as the link stayed
    // open and stored the copy after the partition healed — an orphan of
    // an attempt the sender had been told 451 for, which the copy set then
    // delivered beside the sender's resend (madsim disk-loss seed 7: the
    // refusing gateway's disk lost before its forget went out).
    let keep = !matches!(request, PeerRequest::Replicate { .. });
    // Whether the request may have left: until a connection is open,
    // nothing was written, whatever stops the attempt.
    let sending = std::cell::Cell::new(false);
    let attempt = async {
        if keep
            && let Some(mut conn) = node.links.take(target, node.now_ms())
            && let Ok(reply) = {
                sending.set(true);
                round_trip(&mut conn, env.host_name(), request, payload).await
            }
        {
            node.links.put(target, conn, node.now_ms());
            return Ok::<_, std::io::Error>(reply);
        }
        // No kept connection, or it was closed under us (idle too long
        // there, or the peer restarted): the request goes (again) on a new
        // one. Every request is safe to repeat — a copy or an update
        // already held is taken as held, a forget of nothing is done — as
        // after a lost reply.
        let mut conn = env.connect(target, PEER_PORT).await.map_err(never_sent)?;
        sending.set(true);
        let reply = round_trip(&mut conn, env.host_name(), request, payload).await?;
        if keep {
            node.links.put(target, conn, node.now_ms());
        }
        Ok(reply)
    };
    let reply = match env::timeout(env, Duration::from_millis(timeout_ms), attempt).await {
        Ok(reply) => reply?,
        Err(elapsed) if !sending.get() => return Err(never_sent(elapsed.into())),
        Err(elapsed) => return Err(elapsed.into()),
    };
    // Any answer at all means the peer is alive and reachable.
    node.heard.borrow_mut().peer_spoke(target, node.now_ms());
    match reply {
        PeerReply::Failed { reason } => Err(std::io::Error::other(reason)),
        reply => Ok(reply),
    }
}

/// A connection that could not be opened (refused, or still not open when
/// the time was up) carried nothing: marked so the asker can tell a copy
/// that never left from one whose answer was lost.
fn never_sent(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, e)
}

/// Whether `call` failed before the request left (see [`never_sent`]); a
/// timeout after the connection opened is not: the request may be there.
pub fn was_never_sent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotConnected
}

fn unexpected(reply: PeerReply) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("unexpected peer reply {reply:?}"),
    )
}

pub async fn replicate(
    node: &SharedNode,
    target: &str,
    entry: &Entry,
    raw: &[u8],
) -> std::io::Result<()> {
    let request = PeerRequest::Replicate {
        entry: entry.clone(),
    };
    call(node, target, &request, raw).await.map(|_| ())
}

pub async fn update(node: &SharedNode, target: &str, entry: &Entry) -> std::io::Result<()> {
    let request = PeerRequest::Update {
        entry: entry.clone(),
    };
    call(node, target, &request, &[]).await.map(|_| ())
}

/// Tells `target` to drop its copy of `id`; `for_good` and `quarantined`
/// as in [`PeerRequest::Forget`].
pub async fn forget(
    node: &SharedNode,
    target: &str,
    id: &str,
    ballot: &Ballot,
    for_good: bool,
    quarantined: bool,
) -> std::io::Result<()> {
    let request = PeerRequest::Forget {
        id: id.to_string(),
        ballot: ballot.clone(),
        for_good,
        refused: false,
        quarantined,
    };
    call(node, target, &request, &[]).await.map(|_| ())
}

/// Tells every target at once to drop its copy of `id`, a message refused
/// at ingress (`refused` in [`PeerRequest::Forget`]); how many did (a
/// refusal, a timeout or no answer counts as not).
pub async fn forget_refused(
    node: &SharedNode,
    targets: &[String],
    id: &str,
    ballot: &Ballot,
) -> usize {
    let request = PeerRequest::Forget {
        id: id.to_string(),
        ballot: ballot.clone(),
        for_good: true,
        refused: true,
        quarantined: false,
    };
    call_all(node, targets, request).await
}

/// Sends `request` to every target at once; how many took it.
async fn call_all(node: &SharedNode, targets: &[String], request: PeerRequest) -> usize {
    let jobs = targets.iter().map(|target| (target.clone(), ()));
    let mut answers = fan_out(node.env.as_ref(), jobs, |target, ()| {
        let (caller, target, request) = (node.clone(), target.to_string(), request.clone());
        Box::pin(async move { call(&caller, &target, &request, &[]).await.is_ok() })
    });
    let mut took = 0;
    while let Some((_, ok)) = answers.next().await {
        took += usize::from(ok);
    }
    took
}

/// [`update`] to every target at once; how many took it.
pub async fn update_all(node: &SharedNode, targets: &[String], entry: &Entry) -> usize {
    let request = PeerRequest::Update {
        entry: entry.clone(),
    };
    call_all(node, targets, request).await
}

/// Ballots asked about in one sync request. Each answer carries the
/// message's progress, so one request for a whole backlog made a reply
/// no peer would read (600 messages parked behind a mailbox outage: a
/// 96 KB header against the frame's limit, every round with every peer
/// failing, and failover of the parked mail waiting for the owner's
/// region to come back).
pub const SYNC_BALLOTS_PER_REQUEST_MAX: usize = 64;

/// `target`'s stances on `ballots`, asked in requests of at most
/// [`SYNC_BALLOTS_PER_REQUEST_MAX`], one after another on one connection;
/// a failed one fails the whole answer. No ballots is still one request:
/// it is how a node hears that its peers are alive.
pub async fn sync(
    node: &SharedNode,
    target: &str,
    ballots: Vec<Held>,
) -> std::io::Result<Vec<Stance>> {
    let mut stances = Vec::with_capacity(ballots.len());
    let batches: Vec<&[Held]> = if ballots.is_empty() {
        vec![&[]]
    } else {
        ballots.chunks(SYNC_BALLOTS_PER_REQUEST_MAX).collect()
    };
    for batch in batches {
        let request = PeerRequest::Sync {
            ballots: batch.to_vec(),
        };
        match call(node, target, &request, &[]).await? {
            PeerReply::Stances { stances: answered } => stances.extend(answered),
            other => return Err(unexpected(other)),
        }
    }
    Ok(stances)
}

/// Asks `target` to accept `ballot` for `id`: (granted, its stance after).
pub async fn claim(
    node: &SharedNode,
    target: &str,
    id: &str,
    ballot: &Ballot,
) -> std::io::Result<(bool, Stance)> {
    let request = PeerRequest::Claim {
        id: id.to_string(),
        ballot: ballot.clone(),
    };
    match call(node, target, &request, &[]).await? {
        PeerReply::Claim { granted, stance } => Ok((granted, stance)),
        other => Err(unexpected(other)),
    }
}

/// The control plane's health check: true only if `target` answered that
/// it can take mail now. Silence, refusal and garbage all mean unhealthy.
pub async fn health(env: &dyn Env, target: &str, timeout_ms: u64) -> bool {
    matches!(
        exchange(env, target, &PeerRequest::Health, &[], timeout_ms).await,
        Ok(PeerReply::Health { healthy: true })
    )
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::gateway::answering_node::{entry, node_and_env};
    use crate::gateway::wire::Framed;
    use crate::mem_disk::MemDisk;

    /// Ballots for `count` distinct messages.
    fn ballots(count: usize) -> Vec<Held> {
        (0..count)
            .map(|n| Held {
                id: format!("{n:016x}"),
                ballot: Ballot::of(&entry()),
                delivering: false,
            })
            .collect()
    }

    /// Answers sync requests on `conn` with a no-copy stance per ballot,
    /// until `count` ballots have been asked about; the size of each request.
    async fn answer_syncs(mut conn: BoxConn, count: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        while sizes.iter().sum::<usize>() < count || sizes.is_empty() {
            let (framed, _): (Framed, Vec<u8>) = read_frame(&mut conn, 0).await.unwrap();
            let PeerRequest::Sync { ballots } = framed.request else {
                panic!("not a sync: {:?}", framed.request);
            };
            sizes.push(ballots.len());
            let stances = (ballots.iter())
                .map(|held| Stance {
                    id: held.id.clone(),
                    held: None,
                    quarantined: false,
                    finished: false,
                    spool_born_ms: None,
                })
                .collect();
            let reply = PeerReply::Stances { stances };
            write_frame(&mut conn, &reply, &[]).await.unwrap();
        }
        sizes
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_backlog_is_synced_in_bounded_requests_on_one_connection() {
        let (node, env) = node_and_env(&Rc::new(MemDisk::default()), &[]);
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        env.give_connection("gw-a", Box::new(ours));
        let asked = ballots(150);
        let (stances, sizes) = tokio::join!(
            sync(&node, "gw-a", asked.clone()),
            answer_syncs(Box::new(theirs), asked.len())
        );
        let max = SYNC_BALLOTS_PER_REQUEST_MAX;
        assert_eq!(sizes, vec![max, max, 150 - 2 * max]);
        let ids: Vec<String> = stances.unwrap().into_iter().map(|s| s.id).collect();
        let asked_ids: Vec<String> = asked.into_iter().map(|h| h.id).collect();
        assert_eq!(ids, asked_ids, "every stance, in the order asked");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sync_about_nothing_is_still_one_request() {
        // It is how a node hears that its peers are alive.
        let (node, env) = node_and_env(&Rc::new(MemDisk::default()), &[]);
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        env.give_connection("gw-a", Box::new(ours));
        let (stances, sizes) = tokio::join!(
            sync(&node, "gw-a", Vec::new()),
            answer_syncs(Box::new(theirs), 0)
        );
        assert_eq!(sizes, vec![0]);
        assert!(stances.unwrap().is_empty());
        assert!(node.heard.borrow().peer_recent("gw-a", 10_000, 1));
    }
}
