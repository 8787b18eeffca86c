//! Node-to-node replication: copies of new messages, updates of their
//! per-recipient progress, and forgetting finished ones. One framed request
//! and one framed reply per connection.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::PEER_PORT;
use crate::env::{self, BoxConn};
use crate::frame::{read_frame, write_frame};
use crate::gateway::SharedNode;
use crate::spool::{self, Durability, Entry};

#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PeerRequest {
    /// Store a copy of a new message (payload: its raw bytes).
    Replicate { entry: Entry },
    /// The owner's newer view of a message's progress.
    Update { entry: Entry },
    /// The message is finished (or was refused); drop the copy.
    Forget { id: String },
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum PeerReply {
    Ok,
    Failed { reason: String },
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
        let Ok((conn, _peer)) = listener.accept().await else {
            continue;
        };
        let handler = node.clone();
        node.env.spawn(Box::pin(async move {
            let _ = handle(&handler, conn).await;
        }));
    }
}

async fn handle(node: &SharedNode, mut conn: BoxConn) -> std::io::Result<()> {
    let knobs = &node.config.knobs;
    let deadline = Duration::from_millis(knobs.replication_timeout_ms);
    let (request, payload): (PeerRequest, Vec<u8>) = env::timeout(
        node.env.as_ref(),
        deadline,
        read_frame(&mut conn, knobs.max_message_bytes + 64 * 1024),
    )
    .await??;
    let reply = match apply(node, request, &payload) {
        Ok(()) => PeerReply::Ok,
        Err(e) => PeerReply::Failed {
            reason: e.to_string(),
        },
    };
    write_frame(&mut conn, &reply, &[]).await
}

fn apply(node: &SharedNode, request: PeerRequest, payload: &[u8]) -> std::io::Result<()> {
    let disk = node.env.disk();
    match request {
        PeerRequest::Replicate { entry } => {
            spool::store_new(disk, &entry, payload, Durability::Synced)?;
            node.entries.borrow_mut().insert(entry.id.clone(), entry);
        }
        PeerRequest::Update { entry } => {
            let newer = match node.entries.borrow().get(&entry.id) {
                Some(known) => entry.epoch >= known.epoch,
                // A copy we never had (or already forgot): nothing to update.
                None => false,
            };
            if newer {
                spool::store_entry(disk, &entry, Durability::Synced)?;
                node.entries.borrow_mut().insert(entry.id.clone(), entry);
            }
        }
        PeerRequest::Forget { id } => {
            spool::remove(disk, &id)?;
            node.entries.borrow_mut().remove(&id);
        }
    }
    Ok(())
}

async fn call(
    node: &SharedNode,
    target: &str,
    request: &PeerRequest,
    payload: &[u8],
) -> std::io::Result<()> {
    let exchange = async {
        let mut conn = node.env.connect(target, PEER_PORT).await?;
        write_frame(&mut conn, request, payload).await?;
        let (reply, _): (PeerReply, Vec<u8>) = read_frame(&mut conn, 0).await?;
        match reply {
            PeerReply::Ok => Ok(()),
            PeerReply::Failed { reason } => Err(std::io::Error::other(reason)),
        }
    };
    let deadline = Duration::from_millis(node.config.knobs.replication_timeout_ms);
    env::timeout(node.env.as_ref(), deadline, exchange).await?
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
    call(node, target, &request, raw).await
}

pub async fn update(node: &SharedNode, target: &str, entry: &Entry) -> std::io::Result<()> {
    let request = PeerRequest::Update {
        entry: entry.clone(),
    };
    call(node, target, &request, &[]).await
}

pub async fn forget(node: &SharedNode, target: &str, id: &str) -> std::io::Result<()> {
    let request = PeerRequest::Forget { id: id.to_string() };
    call(node, target, &request, &[]).await
}
