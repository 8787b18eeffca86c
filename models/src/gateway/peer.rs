//! Node-to-node protocol: copies of new messages, updates of their
//! per-recipient progress, forgetting finished ones, and the ownership
//! exchanges — syncing ballots, claiming a message whose owner went quiet,
//! and the health question the control plane asks. One framed request and
//! one framed reply per connection; what a request does to the receiver
//! lives in `voter.rs`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::PEER_PORT;
use crate::env::{self, BoxConn, Env};
use crate::frame::{read_frame, write_frame};
use crate::gateway::ballot::{Ballot, Progress};
use crate::gateway::{SharedNode, voter};
use crate::spool::Entry;

#[derive(Serialize, Deserialize, Clone, Debug)]
// Adjacently tagged: the tag comes first on the wire, so a reader decodes
// the fields straight into the variant; an internally tagged enum buffers
// every request into an intermediate tree first (4% of a madsim run).
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum PeerRequest {
    /// Store a copy of a new message (payload: its raw bytes).
    Replicate { entry: Entry },
    /// The owner's newer view of a message's progress.
    Update { entry: Entry },
    /// The message is finished (or was refused); drop the copy. Refused by
    /// a node that knows a newer ballot, so a stale owner cannot erase the
    /// current owner's work.
    Forget { id: String, ballot: Ballot },
    /// The ballots the sender holds for messages both hold copies of; an
    /// owner's sync is its heartbeat. The reply is the receiver's stance
    /// on each.
    Sync { ballots: Vec<Held> },
    /// The sender asks to become the owner under `ballot` (failover).
    Claim { id: String, ballot: Ballot },
    /// Can this node take mail now? (asked by the control plane)
    Health,
}

/// One ballot the sender holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub id: String,
    pub ballot: Ballot,
    /// The sender owns it and is about to deliver it: mark the copy in
    /// doubt until the sender's next update says how it went.
    #[serde(default)]
    pub delivering: bool,
}

/// What the receiver holds for one message: nothing, or its ballot and
/// progress.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Stance {
    pub id: String,
    pub held: Option<Holding>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub ballot: Ballot,
    pub progress: Progress,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "reply", content = "body", rename_all = "snake_case")]
pub enum PeerReply {
    Ok,
    Failed { reason: String },
    Stances { stances: Vec<Stance> },
    Claim { granted: bool, stance: Stance },
    Health { healthy: bool },
}

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

/// A request as it travels: who sends it, and what it asks.
#[derive(Deserialize)]
struct Framed {
    #[serde(default)]
    from: String,
    request: PeerRequest,
}

#[derive(Serialize)]
struct FramedRef<'a> {
    from: &'a str,
    request: &'a PeerRequest,
}

async fn handle(node: &SharedNode, mut conn: BoxConn, peer: &str) -> std::io::Result<()> {
    let knobs = &node.config.knobs;
    let deadline = Duration::from_millis(knobs.replication_timeout_ms);
    let (framed, payload): (Framed, Vec<u8>) = env::timeout(
        node.env.as_ref(),
        deadline,
        read_frame(&mut conn, knobs.max_message_bytes + 64 * 1024),
    )
    .await??;
    // The sender names itself: a transport's peer address (a loopback port
    // in real mode) is not a host name. In the simulation both agree.
    let from = if framed.from.is_empty() {
        peer
    } else {
        framed.from.as_str()
    };
    let reply = voter::answer(node, from, framed.request, &payload);
    write_frame(&mut conn, &reply, &[]).await
}

/// One request, one reply, within the replication timeout.
async fn exchange(
    env: &dyn Env,
    target: &str,
    request: &PeerRequest,
    payload: &[u8],
    timeout_ms: u64,
) -> std::io::Result<PeerReply> {
    let exchange = async {
        let mut conn = env.connect(target, PEER_PORT).await?;
        let framed = FramedRef {
            from: env.host_name(),
            request,
        };
        write_frame(&mut conn, &framed, payload).await?;
        let (reply, _): (PeerReply, Vec<u8>) = read_frame(&mut conn, 0).await?;
        Ok(reply)
    };
    env::timeout(env, Duration::from_millis(timeout_ms), exchange).await?
}

async fn call(
    node: &SharedNode,
    target: &str,
    request: &PeerRequest,
    payload: &[u8],
) -> std::io::Result<PeerReply> {
    let timeout_ms = node.config.knobs.replication_timeout_ms;
    let reply = exchange(node.env.as_ref(), target, request, payload, timeout_ms).await?;
    // Any answer at all means the peer is alive and reachable.
    node.heard.borrow_mut().peer_spoke(target, node.now_ms());
    match reply {
        PeerReply::Failed { reason } => Err(std::io::Error::other(reason)),
        reply => Ok(reply),
    }
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

pub async fn forget(
    node: &SharedNode,
    target: &str,
    id: &str,
    ballot: &Ballot,
) -> std::io::Result<()> {
    let request = PeerRequest::Forget {
        id: id.to_string(),
        ballot: ballot.clone(),
    };
    call(node, target, &request, &[]).await.map(|_| ())
}

/// Sends `request` to every target at once; how many took it. A dead
/// target costs one timeout in parallel, not one each.
async fn call_all(node: &SharedNode, targets: &[String], request: PeerRequest) -> usize {
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    for target in targets {
        let (caller, done, target, request) = (
            node.clone(),
            done_tx.clone(),
            target.clone(),
            request.clone(),
        );
        node.env.spawn(Box::pin(async move {
            let _ = done.send(call(&caller, &target, &request, &[]).await.is_ok());
        }));
    }
    drop(done_tx);
    let mut took = 0;
    while let Some(ok) = done_rx.recv().await {
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

/// [`forget`] to every target at once; how many let go.
pub async fn forget_all(node: &SharedNode, targets: &[String], id: &str, ballot: &Ballot) -> usize {
    let request = PeerRequest::Forget {
        id: id.to_string(),
        ballot: ballot.clone(),
    };
    call_all(node, targets, request).await
}

pub async fn sync(
    node: &SharedNode,
    target: &str,
    ballots: Vec<Held>,
) -> std::io::Result<Vec<Stance>> {
    match call(node, target, &PeerRequest::Sync { ballots }, &[]).await? {
        PeerReply::Stances { stances } => Ok(stances),
        other => Err(unexpected(other)),
    }
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
