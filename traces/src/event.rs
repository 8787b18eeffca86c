//! The observation log's schema: one [`Event`] per line of JSONL.
//!
//! Three kinds of facts are recorded, and properties read only the first two:
//! - ground truth from outside the gateway: what each sender was told, what
//!   each mailbox server received, which region's disk or host held a
//!   message's bytes (recorded by the engine's seam, not by the gateway);
//! - the world's own actions: phases, faults, crashes and restarts;
//! - the gateway's self-reports (`gw_*`), for traces and "sometimes" checks.
//!
//! Message bodies are never written: only ids, digests and sizes.
//! Bump [`SCHEMA_VERSION`] on any change a reader of old logs would trip on.

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 5;

/// One observation, stamped with simulated time. (Unknown fields are
/// refused by [`EventKind`]; serde cannot refuse them here, beside `flatten`.)
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Simulated microseconds since the run started.
    pub t_us: u64,
    /// The host that observed it; `world` for the simulator itself.
    pub host: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// How a sender's SMTP transaction for one message ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Told {
    /// 250 after end-of-DATA: the gateway took responsibility.
    Accepted,
    /// 4xx at some stage, or a refused / dropped connection before the final
    /// dot: definitely not accepted; the sender keeps the message.
    Deferred,
    /// 5xx: definitely refused; the sender gives up.
    Rejected,
    /// The connection died after the final dot and before a reply (RFC 1047):
    /// the gateway may or may not have taken the message.
    Indefinite,
}

/// What a scanner decided about a message.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clean,
    Spam,
    Malware,
}

/// What the workload built a message to be. Ground truth: the sender knows
/// because it put the content there (a canonical EICAR file makes it
/// malware, a spam sample spam), never because a scanner said so.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Clean,
    Spam,
    Malware,
}

/// Why a message's bytes were seen on a host.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Written to the host's disk.
    Stored,
    /// Received over the network by the host.
    Received,
}

/// The class of host an event kind may come from. Properties trust an
/// event only as far as its source: a sender speaks for what senders were
/// told, a mailbox server for what arrived, never the other way round.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The simulator itself: phases, faults, crashes and restarts.
    World,
    /// The engine's seam around a gateway-side host's sockets and disks.
    Seam,
    Sender,
    Mailbox,
    Scanner,
    /// Gateway nodes and their control plane (self-reports).
    Gateway,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "ev", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    // ---- the world ----
    /// First event of every run.
    RunStarted {
        seed: u64,
        schema: u32,
        scenario_sha256: String,
    },
    /// The run entered a phase: `faults`, `heal`, `drain`, `done`.
    Phase {
        phase: String,
    },
    FaultStarted {
        fault: u32,
        kind: String,
        target: String,
    },
    FaultEnded {
        fault: u32,
    },
    HostCrashed {},
    HostRestarted {},
    /// A BUGGIFY site in the gateway fired for the first time in this run
    /// (recorded by the engine's seam, under the host that reached it).
    BuggifyFired {
        site: String,
    },
    /// The seam refused an event a host tried to report: its kind may come
    /// only from another class of host (recorded under the reporting host).
    EventRefused {
        /// The refused event's `ev` name.
        kind: String,
        /// The class of host that kind may come from.
        from: Source,
    },

    // ---- senders: what they were told (ground truth) ----
    /// A sender built a message, once, before its first attempt: every
    /// retry sends exactly these bytes.
    MessageBuilt {
        msg: String,
        class: Class,
        /// SHA-256 of the exact bytes sent as DATA (before dot-stuffing).
        body_sha256: String,
        size: u64,
        mail_from: String,
        rcpts: Vec<String>,
    },
    /// A sender connected to an MX host for a message.
    SendAttempt {
        msg: String,
        attempt: u32,
        mx: String,
    },
    /// The reply to one RCPT TO in an attempt.
    RcptReply {
        msg: String,
        rcpt: String,
        code: u16,
    },
    /// How one attempt for a message ended; `rcpts` are the recipients the
    /// outcome applies to (those whose RCPT got 250).
    SendOutcome {
        msg: String,
        told: Told,
        code: u16,
        rcpts: Vec<String>,
    },
    /// A sender stopped trying a message (rejected, or out of attempts).
    SenderGaveUp {
        msg: String,
        reason: String,
    },

    // ---- mailbox servers: what they received (ground truth) ----
    MailboxReceived {
        /// The Message-ID of what arrived (a DSN has its own).
        msg: String,
        rcpt: String,
        mail_from: String,
        size: u64,
        body_sha256: String,
        /// Header fields the mailbox found added in transit and took off
        /// to compare with what was sent, by name, in the order they stood
        /// (`Received` prepended at the top, `X-Spam-Flag` anywhere in the
        /// header block).
        additions: Vec<String>,
        /// SHA-256 of the bytes with those `additions` taken off: equal to
        /// the sender's `message_built.body_sha256` when nothing else changed.
        original_sha256: String,
        /// The gateway tagged it as spam (`X-Spam-Flag: YES`).
        spam_tagged: bool,
        /// For a DSN: the Message-ID it reports on, and for which recipients.
        dsn_about: Option<String>,
        dsn_rcpts: Vec<String>,
        /// For a DSN: the `Status` it gives each of `dsn_rcpts`, in the
        /// same order ("" for a recipient whose fields have none). Absent
        /// in logs from before the witness read it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        dsn_statuses: Vec<String>,
        /// For a DSN: the `Action` it gives each of `dsn_rcpts`, in the
        /// same order, as written ("" for a recipient whose fields have
        /// none). Absent in logs from before the witness read it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        dsn_actions: Vec<String>,
        /// For a DSN: its per-message `Reporting-MTA` field ("" when the
        /// first group of its delivery-status part has none, and in logs
        /// from before the witness read it).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        dsn_reporting_mta: String,
        /// SHA-256 of the bytes with only the `X-Spam-Flag` fields taken
        /// off: what the gateway's scanner must have judged (its
        /// `scan_verdict.input_sha256`), since the tag follows the verdict.
        unflagged_sha256: String,
        /// The host that delivered it, as the network named the client's
        /// end of the connection (not as the client introduced itself).
        client: String,
    },
    /// The mailbox server answered 250 to a message, and the session died
    /// before the client said anything more (it sends QUIT at once when it
    /// hears the 250): the client may never have heard it. RFC 1047 on the
    /// delivery leg, seen from the receiving end.
    MailboxReplyLost {
        msg: String,
        rcpts: Vec<String>,
    },
    /// The mailbox server refused what it was offered: a recipient at RCPT
    /// (not one of its domains: relaying denied; greylisted; a user it no
    /// longer knows), or a whole message after DATA (a `mailbox_rejects`
    /// fault: a content or backscatter filter). Refused is not received,
    /// but it is seen: the envelope, and after DATA the bytes, reached this
    /// server.
    MailboxRefused {
        /// The Message-ID, when the refusal came after DATA; None at RCPT.
        msg: Option<String>,
        /// The envelope sender ("" for a DSN's null sender); None only in
        /// logs from before RCPT refusals kept it.
        mail_from: Option<String>,
        /// The client host, as the network named it: who was refused
        /// (empty in logs from before it was kept).
        #[serde(default)]
        client: String,
        rcpts: Vec<String>,
        code: u16,
        /// The enhanced status code (RFC 3463) the server's reply gave,
        /// if it gave one: what a DSN about the refusal must report.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// For a DSN refused after DATA: the Message-ID it reports on, and
        /// for which recipients.
        dsn_about: Option<String>,
        dsn_rcpts: Vec<String>,
    },
    /// The mailbox server refused a message after DATA, and the session
    /// died before the client said anything more (clients send QUIT or
    /// their next command once they hear the reply): the client may never
    /// have heard the refusal, so what follows from it (a DSN with the
    /// server's code, no retry) cannot be asked of it. The refusal's twin
    /// of `MailboxReplyLost`.
    MailboxRefusalUnheard {
        msg: String,
        rcpts: Vec<String>,
    },

    // ---- the seam: where a message's bytes were (ground truth) ----
    BytesSeen {
        msg: String,
        region: String,
        presence: Presence,
        /// Disk path or peer host.
        place: String,
    },

    /// A file holding the message's bytes became durable on a gateway-side
    /// host: its contents fsynced and its directory entry synced, in either
    /// order, after its last write or rename (recorded by the seam, once
    /// per file and boot).
    BytesDurable {
        msg: String,
        region: String,
        /// Disk path.
        place: String,
    },

    /// At the end of the run, the message's bytes sat in the quarantine on
    /// this gateway's disk (read from the disk by the engine, once per host
    /// and message): what settles a pair as quarantined.
    QuarantineHeld {
        msg: String,
        region: String,
        /// Disk path.
        place: String,
    },

    // ---- scanners (their own hosts) ----
    ScanVerdict {
        msg: String,
        verdict: Verdict,
        /// SHA-256 of the exact bytes the scanner judged.
        input_sha256: String,
    },

    // ---- the gateway's self-reports ----
    GwAccepted {
        msg: String,
        spool_id: String,
        rcpts: Vec<String>,
        replicas: Vec<String>,
    },
    GwDeferred {
        msg: String,
        reason: String,
    },
    GwDelivered {
        msg: String,
        rcpt: String,
    },
    GwBounced {
        msg: String,
        rcpt: String,
        reason: String,
    },
    GwQuarantined {
        msg: String,
        region: String,
    },
    GwNote {
        what: String,
        detail: String,
    },
}

impl EventKind {
    /// The message this event is about, if any.
    pub fn msg(&self) -> Option<&str> {
        match self {
            EventKind::MessageBuilt { msg, .. }
            | EventKind::SendAttempt { msg, .. }
            | EventKind::RcptReply { msg, .. }
            | EventKind::SendOutcome { msg, .. }
            | EventKind::SenderGaveUp { msg, .. }
            | EventKind::MailboxReceived { msg, .. }
            | EventKind::MailboxReplyLost { msg, .. }
            | EventKind::MailboxRefused { msg: Some(msg), .. }
            | EventKind::MailboxRefusalUnheard { msg, .. }
            | EventKind::BytesSeen { msg, .. }
            | EventKind::BytesDurable { msg, .. }
            | EventKind::QuarantineHeld { msg, .. }
            | EventKind::ScanVerdict { msg, .. }
            | EventKind::GwAccepted { msg, .. }
            | EventKind::GwDeferred { msg, .. }
            | EventKind::GwDelivered { msg, .. }
            | EventKind::GwBounced { msg, .. }
            | EventKind::GwQuarantined { msg, .. } => Some(msg),
            _ => None,
        }
    }

    /// The class of host this kind may come from (see [`Source`]).
    pub fn source(&self) -> Source {
        match self {
            EventKind::RunStarted { .. }
            | EventKind::Phase { .. }
            | EventKind::FaultStarted { .. }
            | EventKind::FaultEnded { .. }
            | EventKind::HostCrashed {}
            | EventKind::HostRestarted {}
            | EventKind::EventRefused { .. } => Source::World,
            EventKind::MessageBuilt { .. }
            | EventKind::SendAttempt { .. }
            | EventKind::RcptReply { .. }
            | EventKind::SendOutcome { .. }
            | EventKind::SenderGaveUp { .. } => Source::Sender,
            EventKind::MailboxReceived { .. }
            | EventKind::MailboxReplyLost { .. }
            | EventKind::MailboxRefused { .. }
            | EventKind::MailboxRefusalUnheard { .. } => Source::Mailbox,
            EventKind::BytesSeen { .. }
            | EventKind::BytesDurable { .. }
            | EventKind::QuarantineHeld { .. }
            | EventKind::BuggifyFired { .. } => Source::Seam,
            EventKind::ScanVerdict { .. } => Source::Scanner,
            EventKind::GwAccepted { .. }
            | EventKind::GwDeferred { .. }
            | EventKind::GwDelivered { .. }
            | EventKind::GwBounced { .. }
            | EventKind::GwQuarantined { .. }
            | EventKind::GwNote { .. } => Source::Gateway,
        }
    }

    /// The event's tag as written in JSONL (`ev` field).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RunStarted { .. } => "run_started",
            EventKind::Phase { .. } => "phase",
            EventKind::FaultStarted { .. } => "fault_started",
            EventKind::FaultEnded { .. } => "fault_ended",
            EventKind::HostCrashed {} => "host_crashed",
            EventKind::HostRestarted {} => "host_restarted",
            EventKind::BuggifyFired { .. } => "buggify_fired",
            EventKind::EventRefused { .. } => "event_refused",
            EventKind::MessageBuilt { .. } => "message_built",
            EventKind::SendAttempt { .. } => "send_attempt",
            EventKind::RcptReply { .. } => "rcpt_reply",
            EventKind::SendOutcome { .. } => "send_outcome",
            EventKind::SenderGaveUp { .. } => "sender_gave_up",
            EventKind::MailboxReceived { .. } => "mailbox_received",
            EventKind::MailboxReplyLost { .. } => "mailbox_reply_lost",
            EventKind::MailboxRefused { .. } => "mailbox_refused",
            EventKind::MailboxRefusalUnheard { .. } => "mailbox_refusal_unheard",
            EventKind::BytesSeen { .. } => "bytes_seen",
            EventKind::BytesDurable { .. } => "bytes_durable",
            EventKind::QuarantineHeld { .. } => "quarantine_held",
            EventKind::ScanVerdict { .. } => "scan_verdict",
            EventKind::GwAccepted { .. } => "gw_accepted",
            EventKind::GwDeferred { .. } => "gw_deferred",
            EventKind::GwDelivered { .. } => "gw_delivered",
            EventKind::GwBounced { .. } => "gw_bounced",
            EventKind::GwQuarantined { .. } => "gw_quarantined",
            EventKind::GwNote { .. } => "gw_note",
        }
    }
}
