//! What gateways say to each other, as it travels: one framed request
//! (who sends it and what it asks, with the message bytes as payload for a
//! copy) and one framed reply per connection. `peer.rs` sends these,
//! `voter.rs` answers them, `sync.rs` reads the stances.

use serde::{Deserialize, Serialize};

use crate::gateway::ballot::{Ballot, Progress};
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
    /// current owner's work. `for_good`: its fate is settled and the id is
    /// never used again, so keep a tombstone (a DSN whose copies are taken
    /// back to be sent again later under the same id is not). `refused`:
    /// the message was refused at ingress, and the sender will be told
    /// 451 only if enough copies go; a node with no copy that already
    /// settled it (a successor delivered it while the asker stalled)
    /// refuses, since that 451 would be false.
    Forget {
        id: String,
        ballot: Ballot,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        for_good: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        refused: bool,
        /// The message was quarantined: the copy goes into the receiver's
        /// quarantine, even if the receiver's entry missed the update that
        /// said so, so the quarantine lives on every copy.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        quarantined: bool,
    },
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
    /// No spool copy, but the message sits in this node's quarantine: it
    /// was settled, whole, by an owner's verdict. Absent (false) on the
    /// wire unless set, so older peers read it as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quarantined: bool,
    /// No spool copy, but a tombstone: this node settled the message for
    /// good (`crate::tombstone`). Absent (false) on the wire unless set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finished: bool,
    /// No spool copy: when this node's spool began (its clock, ms), so the
    /// asker can tell "never had it or forgot it" from "may have lost it
    /// with a disk" (`crate::spool_birth`). Absent from older peers, and
    /// from a node with a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_born_ms: Option<u64>,
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

/// A request as it travels: who sends it, and what it asks.
#[derive(Deserialize)]
pub struct Framed {
    #[serde(default)]
    pub from: String,
    pub request: PeerRequest,
}

#[derive(Serialize)]
pub struct FramedRef<'a> {
    pub from: &'a str,
    pub request: &'a PeerRequest,
}
