//! The [`Outcomes`] view: the log's ground truth indexed once, by message and
//! by (message, recipient) pair, so every checker reads the same facts the
//! same way.
//!
//! Only ground-truth events are indexed: what senders were told, what mailbox
//! servers received, where bytes were, and what scanners said. The gateway's
//! `gw_*` self-reports are left out on purpose, so no property can be fooled
//! by a gateway that lies about what it did.
//!
//! Message-IDs and addresses are normalised ([`msg_key`], [`addr_key`]) so a
//! bracket or a capital letter never hides a match.

use std::collections::{BTreeMap, BTreeSet};

use traces::{Class, Event, EventKind, Log, Presence, Told, Verdict};

use crate::facts::{Facts, MessageFacts, TenantFacts, addr_key, domain_of, msg_key};

/// The host name the simulator records its own actions under.
pub const WORLD: &str = "world";

/// One (message, recipient) pair, both normalised.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair {
    pub msg: String,
    pub rcpt: String,
}

impl Pair {
    pub fn new(msg: &str, rcpt: &str) -> Self {
        Pair {
            msg: msg_key(msg),
            rcpt: addr_key(rcpt),
        }
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message {} to {}", self.msg, self.rcpt)
    }
}

/// A `send_outcome` as seen for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent<'a> {
    pub index: usize,
    pub t_us: u64,
    /// The sender's host.
    pub host: &'a str,
    pub told: Told,
    pub code: u16,
}

/// A `mailbox_received`: one copy arriving at a mailbox server for one rcpt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival<'a> {
    pub index: usize,
    pub t_us: u64,
    /// The mailbox server that received it.
    pub host: &'a str,
    pub msg: String,
    pub rcpt: String,
    /// As written by the mailbox server (not normalised: a DSN's null
    /// return path must be judged as it arrived).
    pub mail_from: &'a str,
    pub spam_tagged: bool,
    /// For a DSN: the message it reports on, normalised.
    pub dsn_about: Option<String>,
    pub dsn_rcpts: Vec<String>,
    /// For a DSN: the `Status` it gives each of `dsn_rcpts`, same order
    /// (empty in old logs, and for a DSN refused after DATA).
    pub dsn_statuses: &'a [String],
    /// For a DSN: the `Action` it gives each of `dsn_rcpts`, same order,
    /// as written (empty in old logs, and for a DSN refused after DATA).
    pub dsn_actions: &'a [String],
    /// For a DSN: its per-message `Reporting-MTA` ("" when it has none, in
    /// old logs, and for a DSN refused after DATA).
    pub dsn_reporting_mta: &'a str,
    /// SHA-256 of the bytes as they arrived.
    pub body_sha256: &'a str,
    /// Header fields the mailbox took off as added in transit, in order.
    pub additions: &'a [String],
    /// SHA-256 of the bytes without those additions.
    pub original_sha256: &'a str,
    /// SHA-256 of the bytes without their `X-Spam-Flag` fields: what the
    /// scanner must have judged.
    pub unflagged_sha256: &'a str,
    /// The host that delivered it, as the network named it ("" when not
    /// known: a refusal).
    pub client: &'a str,
}

impl Arrival<'_> {
    /// The recipients this DSN reports as failed: those whose group says
    /// `Action: failed` (RFC 3464 §2.3.3). A `delayed` group warns that
    /// the message is still queued, it settles nothing; a group with no
    /// `Action`, or another, tells the sender nothing to act on. In logs
    /// from before the witness read actions, every recipient named.
    pub fn reported_failed(&self) -> impl Iterator<Item = &String> {
        let read = self.actions_read();
        (self.dsn_rcpts.iter().enumerate())
            .filter(move |(i, _)| {
                !read || self.dsn_actions[*i].trim().eq_ignore_ascii_case("failed")
            })
            .map(|(_, rcpt)| rcpt)
    }

    /// Whether the witness read each reported recipient's `Action` (logs
    /// from before it did have none).
    pub fn actions_read(&self) -> bool {
        self.dsn_actions.len() == self.dsn_rcpts.len()
    }
}

/// A `message_built`: what a sender put in a message, before any attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built<'a> {
    pub index: usize,
    pub t_us: u64,
    /// The sender's host.
    pub host: &'a str,
    pub class: Class,
    pub body_sha256: &'a str,
    pub size: u64,
}

/// A `mailbox_refused`: what a mailbox server was offered and refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal<'a> {
    pub index: usize,
    pub t_us: u64,
    pub host: &'a str,
    /// The refused client host, as the network named it ("" in old logs).
    pub client: &'a str,
    /// The envelope sender ("" for a DSN); None in old logs at RCPT.
    pub mail_from: Option<&'a str>,
    /// The refused message, normalised; None for a recipient refused at RCPT.
    pub msg: Option<String>,
    pub rcpts: Vec<String>,
    pub code: u16,
    /// The enhanced status code the server's reply gave, if any.
    pub status: Option<&'a str>,
    /// The server saw the session die before the client spoke again
    /// (`mailbox_refusal_unheard`): the client may never have heard it.
    pub unheard: bool,
}

/// A `scan_verdict` from a scanner host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan<'a> {
    pub index: usize,
    pub t_us: u64,
    pub host: &'a str,
    pub verdict: Verdict,
    /// SHA-256 of the bytes the scanner judged.
    pub input_sha256: &'a str,
}

/// A `bytes_seen`: a message's bytes on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bytes<'a> {
    pub index: usize,
    pub t_us: u64,
    pub host: &'a str,
    pub msg: String,
    pub region: &'a str,
    pub presence: Presence,
    pub place: &'a str,
}

/// A settled pair: how and when it left the gateway's hands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    Bounced,
    Quarantined,
    /// Ended without a DSN because there is nobody to send one to: a
    /// message with a null reverse-path, refused for good by its
    /// recipient's server or past its queue lifetime (RFC 5321 §4.5.5,
    /// §6.1).
    Dropped,
    /// Refused for good by its recipient's server or expired, with no DSN
    /// to show for it because the sender's domain did not resolve for a
    /// whole queue lifetime from when the DSN could be born: a DSN nobody
    /// can deliver is discarded when its lifetime ends (RFC 3461 §6.2;
    /// Postfix's `bounce_queue_lifetime`).
    Unreported,
    /// Gone with every disk that held it: at one instant every gateway
    /// host that had made its bytes durable was being replaced with an
    /// empty disk (`disk_lost`), and no copy was made after. No gateway
    /// can deliver bytes it no longer has anywhere; only a schedule
    /// beyond the fault model can do this.
    Destroyed,
}

impl Settled {
    pub fn word(self) -> &'static str {
        match self {
            Settled::Delivered => "delivered",
            Settled::Bounced => "bounced",
            Settled::Quarantined => "quarantined",
            Settled::Dropped => "dropped (null reverse-path: nobody to tell)",
            Settled::Unreported => {
                "given up, its DSN undeliverable (the sender's domain did not resolve)"
            }
            Settled::Destroyed => "destroyed with every disk that held a copy",
        }
    }
}

/// A fault's window, from the world's `fault_started` / `fault_ended`.
#[derive(Clone, Debug)]
pub struct FaultWindow<'a> {
    pub kind: &'a str,
    /// As in `fault_started.target`: a host, region, cloud, tenant or
    /// domain, or several joined by commas.
    pub target: &'a str,
    pub start_us: u64,
    /// None: still active when the log ends.
    pub end_us: Option<u64>,
    /// The `fault_ended` event's index.
    pub ended_at: Option<usize>,
}

/// The log's ground truth, indexed. Built once per check.
#[derive(Debug)]
pub struct Outcomes<'a> {
    pub events: &'a [Event],
    pub facts: &'a Facts,
    /// Facts' messages under normalised ids.
    messages: BTreeMap<String, &'a MessageFacts>,
    /// `message_built` by message (the first, if a sender logged two).
    pub built: BTreeMap<String, Built<'a>>,
    /// Every `send_outcome`, by message, in log order.
    pub sends_by_msg: BTreeMap<String, Vec<usize>>,
    /// `send_outcome`s told accepted or indefinite, per pair they list.
    pub covers: BTreeMap<Pair, Vec<Sent<'a>>>,
    /// `send_attempt`s by message: (index, sender host, mx).
    pub attempts: BTreeMap<String, Vec<(usize, &'a str, &'a str)>>,
    /// Non-DSN arrivals per pair, in log order.
    pub deliveries: BTreeMap<Pair, Vec<Arrival<'a>>>,
    /// DSN arrivals, in log order.
    pub dsns: Vec<Arrival<'a>>,
    /// Message-IDs that DSNs arrived under.
    pub dsn_ids: BTreeSet<String>,
    /// DSN arrivals (event indices) per (reported-on message, recipient).
    pub bounces: BTreeMap<Pair, Vec<usize>>,
    /// Every `mailbox_refused`, in log order.
    pub refusals: Vec<Refusal<'a>>,
    /// DSNs a mailbox server refused after DATA, as arrivals (one per
    /// recipient): offered to a server, so judged like delivered ones.
    pub refused_dsns: Vec<Arrival<'a>>,
    /// Refused DSNs (event indices) per (reported-on message, recipient):
    /// the gateway did bounce the pair; the sender's server would not hear it.
    pub refused_bounces: BTreeMap<Pair, Vec<usize>>,
    /// DSNs the sender's server refused at RCPT (a 5xx to the null
    /// sender), by the message each is taken to report on: a refusal at
    /// RCPT names no message, so each is matched to one unsettled message
    /// of that sender the gateway had taken before it, oldest first
    /// (`match_dsns_refused_at_rcpt`). Message → the refusal's index.
    pub dsns_refused_at_rcpt: BTreeMap<String, usize>,
    /// Pairs of null reverse-path messages a mailbox server refused with a
    /// 5xx (after DATA, by Message-ID; at RCPT, matched like DSNs above:
    /// one refusal to one open pair to that recipient, oldest first).
    /// Pair → the refusal's index.
    pub null_senders_refused: BTreeMap<Pair, usize>,
    /// Quarantines that settle, by message: for each gateway whose disk
    /// still held the message in its quarantine at the end of the run
    /// (`quarantine_held`), the first write of it there (when it settled),
    /// else the `quarantine_held` itself. Event indices, ascending.
    pub quarantined: BTreeMap<String, Vec<usize>>,
    /// Writes under `quarantine/`, by message: (event index, host).
    pub quarantine_writes: BTreeMap<String, Vec<(usize, &'a str)>>,
    /// `quarantine_held`, by message: (event index, host).
    pub quarantine_held: BTreeMap<String, Vec<(usize, &'a str)>>,
    /// Scanner verdicts by message, in log order.
    pub verdicts: BTreeMap<String, Vec<Scan<'a>>>,
    /// Every `bytes_seen`, in log order.
    pub bytes: Vec<Bytes<'a>>,
    /// `bytes_durable` by message, in log order: (index, time, host, region).
    pub durable: BTreeMap<String, Vec<(usize, u64, &'a str, &'a str)>>,
    /// `mailbox_reply_lost` per pair (a DSN's under its own Message-ID):
    /// deliveries whose 250 the delivering side may never have heard.
    pub lost_replies: BTreeMap<Pair, usize>,
    /// `disk_lost` faults as they started: (time, the gateway host whose
    /// disk went).
    pub lost_disks: Vec<(u64, &'a str)>,
}

impl<'a> Outcomes<'a> {
    pub fn build(log: &'a Log, facts: &'a Facts) -> Self {
        let mut view = Outcomes {
            events: log.events(),
            facts,
            messages: facts
                .messages
                .iter()
                .map(|(id, m)| (msg_key(id), m))
                .collect(),
            built: BTreeMap::new(),
            sends_by_msg: BTreeMap::new(),
            covers: BTreeMap::new(),
            attempts: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            dsns: Vec::new(),
            dsn_ids: BTreeSet::new(),
            bounces: BTreeMap::new(),
            refusals: Vec::new(),
            refused_dsns: Vec::new(),
            refused_bounces: BTreeMap::new(),
            dsns_refused_at_rcpt: BTreeMap::new(),
            null_senders_refused: BTreeMap::new(),
            quarantined: BTreeMap::new(),
            quarantine_writes: BTreeMap::new(),
            quarantine_held: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            bytes: Vec::new(),
            durable: BTreeMap::new(),
            lost_replies: BTreeMap::new(),
            lost_disks: Vec::new(),
        };
        for (index, event) in log.events().iter().enumerate() {
            view.index(index, event);
        }
        for (msg, held) in &view.quarantine_held {
            let writes = view
                .quarantine_writes
                .get(msg)
                .map_or(&[][..], Vec::as_slice);
            let mut settled: Vec<usize> = held
                .iter()
                .map(|&(held_at, host)| {
                    writes
                        .iter()
                        .find(|(_, h)| *h == host)
                        .map_or(held_at, |&(written_at, _)| written_at)
                })
                .collect();
            settled.sort_unstable();
            settled.dedup();
            view.quarantined.insert(msg.clone(), settled);
        }
        view.match_dsns_refused_at_rcpt();
        view.match_null_senders_refused();
        view
    }

    /// Whether the workload sent `msg` with a null reverse-path.
    fn null_sender(&self, msg: &str) -> bool {
        self.message(msg).is_some_and(|m| m.sender.is_empty())
    }

    /// Fills `null_senders_refused`: a 5xx to a null reverse-path naming a
    /// message settles its listed pairs; one at RCPT names none and settles
    /// the oldest open pair to that recipient taken before it.
    fn match_null_senders_refused(&mut self) {
        let refused: Vec<(usize, u64, Option<String>, Vec<String>)> = self
            .refusals
            .iter()
            .filter(|r| r.code >= 500 && r.mail_from == Some(""))
            .map(|r| (r.index, r.t_us, r.msg.clone(), r.rcpts.clone()))
            .collect();
        for (index, t_us, msg, rcpts) in refused {
            for rcpt in rcpts {
                let pair = match &msg {
                    Some(msg) => Some(Pair::new(msg, &rcpt)).filter(|_| self.null_sender(msg)),
                    None => self.oldest_open_null_sender_pair(&rcpt, t_us),
                };
                if let Some(pair) = pair {
                    self.null_senders_refused.entry(pair).or_insert(index);
                }
            }
        }
    }

    /// The pair to `rcpt` of a null reverse-path message taken (accepted
    /// or left indefinite) by `t_us`, not delivered, not quarantined (such
    /// mail is offered to nobody) and not matched to a refusal yet; the
    /// oldest such.
    fn oldest_open_null_sender_pair(&self, rcpt: &str, t_us: u64) -> Option<Pair> {
        self.messages
            .iter()
            .filter(|(msg, m)| m.sender.is_empty() && !self.quarantine_writes.contains_key(*msg))
            .map(|(msg, _)| Pair::new(msg, rcpt))
            .filter(|pair| {
                !self.null_senders_refused.contains_key(pair) && !self.deliveries.contains_key(pair)
            })
            .filter_map(|pair| {
                let taken = self.covers.get(&pair)?.first()?.t_us;
                (taken <= t_us).then_some((taken, pair))
            })
            .min()
            .map(|(_, pair)| pair)
    }

    /// For a pair of a null reverse-path message the gateway acknowledged
    /// and never delivered: the first event at or after its queue lifetime
    /// from that acknowledgement, when the gateway may have expired it
    /// without a word. None while the lifetime has not run out (or is not
    /// known).
    fn expired_unreported(&self, pair: &Pair) -> Option<usize> {
        let lifetime_us = self.facts.queue_lifetime_us;
        if lifetime_us == 0 || !self.null_sender(&pair.msg) {
            return None;
        }
        let acked_us = self.accepted(pair).first()?.t_us;
        let due_us = acked_us.saturating_add(lifetime_us);
        let at = self.events.partition_point(|e| e.t_us < due_us);
        (at < self.events.len()).then_some(at)
    }

    /// Matches each DSN refused at RCPT (null sender, 5xx, the address of a
    /// workload sender) to one message of that sender: acknowledged or left
    /// indefinite before the refusal, with a recipient neither delivered
    /// nor reported bounced by a DSN that was seen, never written to a
    /// quarantine, and not matched yet; the oldest such. One refusal
    /// excuses one message, so a loss hides behind it only if the gateway
    /// sent that sender more DSNs than it bounced messages.
    fn match_dsns_refused_at_rcpt(&mut self) {
        let mut refused: Vec<(u64, usize, String)> = self
            .refusals
            .iter()
            .filter(|r| r.msg.is_none() && r.code >= 500 && r.mail_from == Some(""))
            .flat_map(|r| {
                r.rcpts
                    .iter()
                    .map(move |rcpt| (r.t_us, r.index, rcpt.clone()))
            })
            .collect();
        refused.sort();
        for (t_us, index, sender) in refused {
            let candidate = self
                .messages
                .iter()
                .filter(|(msg, m)| {
                    addr_key(&m.sender) == sender
                        && !self.dsns_refused_at_rcpt.contains_key(*msg)
                        && !self.quarantine_writes.contains_key(*msg)
                })
                .filter_map(|(msg, m)| {
                    let taken = self.first_covered_us(msg)?;
                    let open = m.rcpts.iter().any(|rcpt| {
                        let pair = Pair::new(msg, &addr_key(rcpt));
                        self.covered(&pair)
                            && !self.deliveries.contains_key(&pair)
                            && !self.bounces.contains_key(&pair)
                            && !self.refused_bounces.contains_key(&pair)
                    });
                    (open && taken <= t_us).then_some((taken, msg.clone()))
                })
                .min();
            if let Some((_, msg)) = candidate {
                self.dsns_refused_at_rcpt.insert(msg, index);
            }
        }
    }

    /// The view while the run is still going, before the disks are read
    /// (the drain check): every quarantine write counts as settling, as it
    /// will if the file is still there at the end.
    pub fn build_during_run(log: &'a Log, facts: &'a Facts) -> Self {
        let mut view = Outcomes::build(log, facts);
        view.quarantined = view
            .quarantine_writes
            .iter()
            .map(|(msg, writes)| (msg.clone(), writes.iter().map(|&(i, _)| i).collect()))
            .collect();
        view
    }

    fn index(&mut self, index: usize, event: &'a Event) {
        let t_us = event.t_us;
        let host = event.host.as_str();
        match &event.kind {
            EventKind::MessageBuilt {
                msg,
                class,
                body_sha256,
                size,
                ..
            } => {
                self.built.entry(msg_key(msg)).or_insert(Built {
                    index,
                    t_us,
                    host,
                    class: *class,
                    body_sha256: body_sha256.as_str(),
                    size: *size,
                });
            }
            EventKind::SendAttempt { msg, mx, .. } => {
                self.attempts
                    .entry(msg_key(msg))
                    .or_default()
                    .push((index, host, mx.as_str()));
            }
            EventKind::SendOutcome {
                msg,
                told,
                code,
                rcpts,
            } => {
                self.sends_by_msg
                    .entry(msg_key(msg))
                    .or_default()
                    .push(index);
                if matches!(told, Told::Accepted | Told::Indefinite) {
                    // A recipient listed twice in one outcome is still one
                    // acknowledgement: dedup so it cannot excuse a duplicate.
                    let pairs: BTreeSet<Pair> = rcpts.iter().map(|r| Pair::new(msg, r)).collect();
                    for pair in pairs {
                        self.covers.entry(pair).or_default().push(Sent {
                            index,
                            t_us,
                            host,
                            told: *told,
                            code: *code,
                        });
                    }
                }
            }
            EventKind::MailboxReceived {
                msg,
                rcpt,
                mail_from,
                spam_tagged,
                dsn_about,
                dsn_rcpts,
                dsn_statuses,
                dsn_actions,
                dsn_reporting_mta,
                body_sha256,
                additions,
                original_sha256,
                unflagged_sha256,
                client,
                ..
            } => {
                let arrival = Arrival {
                    index,
                    t_us,
                    host,
                    msg: msg_key(msg),
                    rcpt: addr_key(rcpt),
                    mail_from: mail_from.as_str(),
                    spam_tagged: *spam_tagged,
                    dsn_about: dsn_about.as_deref().map(msg_key),
                    dsn_rcpts: dsn_rcpts.iter().map(|r| addr_key(r)).collect(),
                    dsn_statuses: dsn_statuses.as_slice(),
                    dsn_actions: dsn_actions.as_slice(),
                    dsn_reporting_mta: dsn_reporting_mta.as_str(),
                    body_sha256: body_sha256.as_str(),
                    additions: additions.as_slice(),
                    original_sha256: original_sha256.as_str(),
                    unflagged_sha256: unflagged_sha256.as_str(),
                    client: client.as_str(),
                };
                match &arrival.dsn_about {
                    None => {
                        let pair = Pair {
                            msg: arrival.msg.clone(),
                            rcpt: arrival.rcpt.clone(),
                        };
                        self.deliveries.entry(pair).or_default().push(arrival);
                    }
                    Some(about) => {
                        let reported: BTreeSet<&String> = arrival.reported_failed().collect();
                        for rcpt in reported {
                            self.bounces
                                .entry(Pair {
                                    msg: about.clone(),
                                    rcpt: rcpt.clone(),
                                })
                                .or_default()
                                .push(index);
                        }
                        self.dsn_ids.insert(arrival.msg.clone());
                        self.dsns.push(arrival);
                    }
                }
            }
            EventKind::MailboxRefused {
                msg,
                mail_from,
                client,
                rcpts,
                code,
                status,
                dsn_about,
                dsn_rcpts,
            } => {
                let rcpts: Vec<String> = rcpts.iter().map(|r| addr_key(r)).collect();
                if let (Some(msg), Some(about)) = (msg, dsn_about) {
                    let about = msg_key(about);
                    let dsn_rcpts: Vec<String> = dsn_rcpts.iter().map(|r| addr_key(r)).collect();
                    for rcpt in dsn_rcpts.iter().collect::<BTreeSet<_>>() {
                        self.refused_bounces
                            .entry(Pair {
                                msg: about.clone(),
                                rcpt: rcpt.clone(),
                            })
                            .or_default()
                            .push(index);
                    }
                    for rcpt in &rcpts {
                        self.refused_dsns.push(Arrival {
                            index,
                            t_us,
                            host,
                            msg: msg_key(msg),
                            rcpt: rcpt.clone(),
                            mail_from: mail_from.as_deref().unwrap_or(""),
                            spam_tagged: false,
                            dsn_about: Some(about.clone()),
                            dsn_rcpts: dsn_rcpts.clone(),
                            dsn_statuses: &[],
                            dsn_actions: &[],
                            dsn_reporting_mta: "",
                            body_sha256: "",
                            additions: &[],
                            original_sha256: "",
                            unflagged_sha256: "",
                            client: "",
                        });
                    }
                    self.dsn_ids.insert(msg_key(msg));
                }
                self.refusals.push(Refusal {
                    index,
                    t_us,
                    host,
                    client,
                    mail_from: mail_from.as_deref(),
                    msg: msg.as_deref().map(msg_key),
                    rcpts,
                    code: *code,
                    status: status.as_deref(),
                    unheard: false,
                });
            }
            EventKind::MailboxRefusalUnheard { msg, .. } => {
                let msg = msg_key(msg);
                let refused = self
                    .refusals
                    .iter_mut()
                    .rev()
                    .find(|r| r.host == host && r.msg.as_deref() == Some(msg.as_str()));
                if let Some(refusal) = refused {
                    refusal.unheard = true;
                }
            }
            // Only the world may say a disk was lost: the allowance it buys
            // must not be one a gateway can grant itself.
            EventKind::FaultStarted { kind, target, .. }
                if kind == "disk_lost" && host == WORLD =>
            {
                self.lost_disks.push((t_us, target.as_str()));
            }
            EventKind::MailboxReplyLost { msg, rcpts } => {
                let pairs: BTreeSet<Pair> = rcpts.iter().map(|r| Pair::new(msg, r)).collect();
                for pair in pairs {
                    *self.lost_replies.entry(pair).or_default() += 1;
                }
            }
            EventKind::BytesSeen {
                msg,
                region,
                presence,
                place,
            } => {
                let msg = msg_key(msg);
                if *presence == Presence::Stored && place.starts_with("quarantine/") {
                    self.quarantine_writes
                        .entry(msg.clone())
                        .or_default()
                        .push((index, host));
                }
                self.bytes.push(Bytes {
                    index,
                    t_us,
                    host,
                    msg,
                    region: region.as_str(),
                    presence: *presence,
                    place: place.as_str(),
                });
            }
            EventKind::QuarantineHeld { msg, .. } => {
                self.quarantine_held
                    .entry(msg_key(msg))
                    .or_default()
                    .push((index, host));
            }
            EventKind::BytesDurable { msg, region, .. } => {
                self.durable.entry(msg_key(msg)).or_default().push((
                    index,
                    t_us,
                    host,
                    region.as_str(),
                ));
            }
            EventKind::ScanVerdict {
                msg,
                verdict,
                input_sha256,
            } => {
                self.verdicts.entry(msg_key(msg)).or_default().push(Scan {
                    index,
                    t_us,
                    host,
                    verdict: *verdict,
                    input_sha256: input_sha256.as_str(),
                });
            }
            // The world's own actions and the gateway's self-reports are not
            // ground truth about outcomes.
            _ => {}
        }
    }

    /// For a pair the gateway could rightly give up, whose DSN had nowhere
    /// to go for as long as a DSN is kept: the event that excuses its
    /// silence. Given up means refused for good by its server (after DATA
    /// for this message, or at RCPT: [`Self::refused_at_rcpt`]) or left
    /// undelivered past its queue lifetime; nowhere to go means the
    /// sender's domain failed to resolve (`dns_fails`) from the moment the
    /// DSN could be born until a whole queue lifetime after (RFC 3461 §6.2;
    /// Postfix's `bounce_queue_lifetime`). A DSN is born at the refusal, or
    /// when an attempt fails after the lifetime: between the first 250 plus
    /// the lifetime and the last 250 plus the lifetime and its grace.
    /// madsim explore, dependencies with BUGGIFY: run 4014 (refused after
    /// DATA, sender1.example's DNS timing out for 19 s against a 6.8 s
    /// lifetime); campaign seed 13 on a later build, runs 4019 and 4130
    /// (expired while the sender's DNS failed) and 4166, 4215, 4348
    /// (refused at RCPT, 550 5.1.1).
    fn given_up_with_sender_unresolvable(&self, pair: &Pair) -> Option<usize> {
        let lifetime_us = self.facts.queue_lifetime_us;
        if lifetime_us == 0 || self.deliveries.contains_key(pair) {
            return None;
        }
        let sender = &self.message(&pair.msg)?.sender;
        let domain = domain_of(sender)?;
        let refusal = self
            .refusals
            .iter()
            .find(|r| {
                r.code >= 500
                    && r.msg.as_deref() == Some(pair.msg.as_str())
                    && r.rcpts.contains(&pair.rcpt)
            })
            .map(|r| (r.t_us, r.index))
            .or_else(|| self.refused_at_rcpt(pair));
        let (born_us_min, born_us_max) = match refusal {
            Some((t_us, _)) => (t_us, t_us),
            None => {
                let accepted = self.accepted(pair);
                let first_us = accepted.iter().map(|s| s.t_us).min()?;
                let last_us = accepted.iter().map(|s| s.t_us).max()?;
                (
                    first_us.saturating_add(lifetime_us),
                    last_us
                        .saturating_add(lifetime_us)
                        .saturating_add(self.facts.expiry_grace_us),
                )
            }
        };
        let failing_from_us = self
            .fault_windows()
            .into_iter()
            .filter(|w| {
                w.kind == "dns_fails"
                    && w.target
                        .split(',')
                        .next()
                        .is_some_and(|d| d.trim().eq_ignore_ascii_case(domain))
            })
            .find_map(|w| {
                let from_us = w.start_us.max(born_us_min);
                let kept_until_us = from_us.saturating_add(lifetime_us);
                (w.start_us <= born_us_max && w.end_us.is_none_or(|end| end >= kept_until_us))
                    .then_some(from_us)
            })?;
        match refusal {
            Some((_, index)) => Some(index),
            None => {
                let at = self.events.partition_point(|e| e.t_us < failing_from_us);
                (at < self.events.len()).then_some(at)
            }
        }
    }

    /// For an acknowledged pair whose bytes were made durable on at least
    /// the replica quorum's hosts across the clouds it asks for: the first
    /// instant (as an event index) at which every gateway host that had
    /// made them durable was under a `disk_lost` fault at once, after its
    /// last 250, with no copy made anywhere after it. Judged from the disk seam's
    /// `bytes_durable` and the world's faults, never from the gateway: its
    /// copies (spool, DSN or quarantine) were all on disks being replaced
    /// by empty ones. Madsim explore, dependencies with BUGGIFY, campaign
    /// seed 13, run 4324: the three US gateways' disks lost within 0.6 s.
    fn destroyed_everywhere(&self, pair: &Pair) -> Option<usize> {
        let durable = self.durable.get(&pair.msg)?;
        // Only mail acknowledged as promised: copies on a quorum of hosts
        // across enough clouds. One acknowledged on fewer (an early 250,
        // `ack_durable`'s to judge) was not destroyed by bad luck alone.
        let hosts: BTreeSet<&str> = durable.iter().map(|&(_, _, host, _)| host).collect();
        let clouds: BTreeSet<&str> = durable
            .iter()
            .filter_map(|&(_, _, _, region)| self.facts.region_clouds.get(region))
            .map(String::as_str)
            .collect();
        let quorum = usize::try_from(self.facts.replica_quorum).unwrap_or(usize::MAX);
        let clouds_min = usize::try_from(self.facts.replica_clouds_min).unwrap_or(usize::MAX);
        if quorum == 0 || hosts.len() < quorum || clouds.len() < clouds_min {
            return None;
        }
        let last_acked_us = self.accepted(pair).iter().map(|s| s.t_us).max()?;
        let last_copy_us = durable.iter().map(|&(_, t_us, _, _)| t_us).max()?;
        let losses: Vec<FaultWindow<'a>> = self
            .fault_windows()
            .into_iter()
            .filter(|w| w.kind == "disk_lost")
            .collect();
        let lost_at = |host: &str, t_us: u64| {
            losses.iter().any(|w| {
                w.target == host && w.start_us <= t_us && w.end_us.is_none_or(|end| end > t_us)
            })
        };
        let instant_us = losses
            .iter()
            .map(|w| w.start_us)
            .filter(|&t_us| t_us >= last_acked_us && t_us >= last_copy_us)
            .find(|&t_us| durable.iter().all(|&(_, _, host, _)| lost_at(host, t_us)))?;
        let at = self.events.partition_point(|e| e.t_us < instant_us);
        (at < self.events.len()).then_some(at)
    }

    /// A 5xx at RCPT that refused `pair` (time, index): its server names no
    /// message there, so refusals of the pair's recipient from the pair's
    /// sender are matched one to one with that sender's acknowledged
    /// pairs to that recipient that never arrived, oldest with oldest,
    /// each refusal after its pair's first acknowledgement.
    fn refused_at_rcpt(&self, pair: &Pair) -> Option<(u64, usize)> {
        let sender = addr_key(&self.message(&pair.msg)?.sender);
        if sender.is_empty() {
            return None;
        }
        let mut open: Vec<(u64, &Pair)> = self
            .covers
            .keys()
            .filter(|p| {
                p.rcpt == pair.rcpt
                    && !self.deliveries.contains_key(*p)
                    && self
                        .message(&p.msg)
                        .is_some_and(|m| addr_key(&m.sender) == sender)
            })
            .filter_map(|p| Some((self.accepted(p).first()?.t_us, p)))
            .collect();
        open.sort();
        let mut refusals = self.refusals.iter().filter(|r| {
            r.msg.is_none()
                && r.code >= 500
                && r.rcpts.contains(&pair.rcpt)
                && r.mail_from.map(addr_key).as_deref() == Some(sender.as_str())
        });
        for (acked_us, candidate) in open {
            let refusal = refusals.find(|r| r.t_us >= acked_us)?;
            if candidate == pair {
                return Some((refusal.t_us, refusal.index));
            }
        }
        None
    }

    /// Every fault's window, in the order the faults started.
    pub fn fault_windows(&self) -> Vec<FaultWindow<'a>> {
        let mut out: Vec<FaultWindow<'a>> = Vec::new();
        let mut open: BTreeMap<u32, usize> = BTreeMap::new();
        for (index, event) in self.events.iter().enumerate() {
            if event.host != WORLD {
                continue;
            }
            match &event.kind {
                EventKind::FaultStarted {
                    fault,
                    kind,
                    target,
                } => {
                    open.insert(*fault, out.len());
                    out.push(FaultWindow {
                        kind,
                        target,
                        start_us: event.t_us,
                        end_us: None,
                        ended_at: None,
                    });
                }
                EventKind::FaultEnded { fault } => {
                    if let Some(at) = open.remove(fault) {
                        out[at].end_us = Some(event.t_us);
                        out[at].ended_at = Some(index);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The workload's facts about a message (any spelling of its id).
    pub fn message(&self, msg: &str) -> Option<&'a MessageFacts> {
        self.messages.get(&msg_key(msg)).copied()
    }

    /// What the workload built `msg` to be: the sender's `message_built`
    /// when it logged one, else the scenario's facts (older logs).
    pub fn class_of(&self, msg: &str) -> Option<Class> {
        if let Some(built) = self.built.get(&msg_key(msg)) {
            return Some(built.class);
        }
        let facts = self.message(msg)?;
        Some(if facts.malicious {
            Class::Malware
        } else if facts.spam {
            Class::Spam
        } else {
            Class::Clean
        })
    }

    /// The earliest `send_outcome` that accepted or left indefinite any of
    /// `msg`'s recipients: the gateway cannot have held it before then.
    pub fn first_covered_us(&self, msg: &str) -> Option<u64> {
        let msg = msg_key(msg);
        self.covers
            .range(Pair::new(&msg, "")..)
            .take_while(|(pair, _)| pair.msg == msg)
            .flat_map(|(_, sends)| sends.iter().map(|s| s.t_us))
            .min()
    }

    /// The tenant of a message's first recipient, by the facts; for a
    /// recipient's own, `Facts::tenant_of_rcpt`.
    pub fn tenant_of(&self, msg: &str) -> Option<&'a TenantFacts> {
        self.facts.tenant(&self.message(msg)?.tenant)
    }

    /// `send_outcome`s told accepted that list the pair.
    pub fn accepted(&self, pair: &Pair) -> Vec<&Sent<'a>> {
        self.covers
            .get(pair)
            .map(|s| s.iter().filter(|s| s.told == Told::Accepted).collect())
            .unwrap_or_default()
    }

    /// How many deliveries of the pair the delivering side may not have
    /// heard acknowledged (RFC 1047 on the delivery leg).
    pub fn lost_replies(&self, pair: &Pair) -> usize {
        self.lost_replies.get(pair).copied().unwrap_or(0)
    }

    /// Disks lost by a gateway after it had delivered a copy of the pair
    /// (the mailbox's `client` names it): each may have taken the only
    /// record of that delivery, if its update had not yet reached the rest
    /// of the copy set, so its peers may honestly act on the pair again.
    /// The disk of a host that only stored the message excuses nothing:
    /// losing it loses no record of a delivery it never made.
    pub fn delivery_records_lost_after(&self, pair: &Pair) -> Vec<(u64, &'a str)> {
        self.disks_lost_after_sending(&self.sent_by(pair))
    }

    /// How many copies of the pair lost delivery records explain: disks
    /// lost by a host after it delivered a copy, with a copy after the loss.
    pub fn delivery_records_lost(&self, pair: &Pair) -> usize {
        self.records_lost_before_another(&self.sent_by(pair))
    }

    /// Of the disks lost by a gateway after it sent one of `sent` (when
    /// it arrived, which gateway sent it), those lost no later than the last
    /// copy: each explains one more copy, of mail or of a DSN alike.
    pub fn records_lost_before_another(&self, sent: &[(u64, &str)]) -> usize {
        let Some(last_us) = sent.iter().map(|(t_us, _)| *t_us).max() else {
            return 0;
        };
        self.disks_lost_after_sending(sent)
            .iter()
            .filter(|(t_us, _)| *t_us <= last_us)
            .count()
    }

    fn disks_lost_after_sending(&self, sent: &[(u64, &str)]) -> Vec<(u64, &'a str)> {
        self.lost_disks
            .iter()
            .filter(|(lost_us, host)| {
                sent.iter()
                    .any(|(t_us, client)| client == host && t_us <= lost_us)
            })
            .copied()
            .collect()
    }

    /// When each delivered copy of the pair arrived, and which gateway sent it.
    fn sent_by(&self, pair: &Pair) -> Vec<(u64, &'a str)> {
        let arrivals = self.deliveries.get(pair).map_or(&[][..], Vec::as_slice);
        arrivals.iter().map(|a| (a.t_us, a.client)).collect()
    }

    /// Whether some `send_outcome` accepted or left indefinite this pair, i.e.
    /// the gateway may legitimately have it.
    pub fn covered(&self, pair: &Pair) -> bool {
        self.covers.get(pair).is_some_and(|s| !s.is_empty())
    }

    /// Pairs the gateway acknowledged (250 listing the recipient), with the
    /// accepted outcomes, in pair order.
    pub fn acknowledged(&self) -> impl Iterator<Item = (&Pair, Vec<&Sent<'a>>)> {
        self.covers.keys().filter_map(|pair| {
            let accepted = self.accepted(pair);
            (!accepted.is_empty()).then_some((pair, accepted))
        })
    }

    /// Every event that settled the pair (delivered, bounced or quarantined),
    /// with how, in log order.
    pub fn settlements(&self, pair: &Pair) -> Vec<(usize, Settled)> {
        let mut out: Vec<(usize, Settled)> = Vec::new();
        if let Some(arrivals) = self.deliveries.get(pair) {
            out.extend(arrivals.iter().map(|a| (a.index, Settled::Delivered)));
        }
        if let Some(dsns) = self.bounces.get(pair) {
            out.extend(dsns.iter().map(|&i| (i, Settled::Bounced)));
        }
        // A DSN the sender's own server refused still settles the pair: the
        // gateway bounced it, and nobody can do more (a DSN is never bounced).
        if let Some(dsns) = self.refused_bounces.get(pair) {
            out.extend(dsns.iter().map(|&i| (i, Settled::Bounced)));
        }
        // The same refused at RCPT, where it names no message: matched.
        if out.is_empty()
            && let Some(&refusal) = self.dsns_refused_at_rcpt.get(&pair.msg)
        {
            out.push((refusal, Settled::Bounced));
        }
        if let Some(stored) = self.quarantined.get(&pair.msg) {
            out.extend(stored.iter().map(|&i| (i, Settled::Quarantined)));
        }
        if let Some(&refusal) = self.null_senders_refused.get(pair) {
            out.push((refusal, Settled::Dropped));
        }
        if out.is_empty()
            && let Some(expired) = self.expired_unreported(pair)
        {
            out.push((expired, Settled::Dropped));
        }
        if out.is_empty()
            && let Some(excuse) = self.given_up_with_sender_unresolvable(pair)
        {
            out.push((excuse, Settled::Unreported));
        }
        if out.is_empty()
            && let Some(lost) = self.destroyed_everywhere(pair)
        {
            out.push((lost, Settled::Destroyed));
        }
        out.sort_by_key(|&(i, _)| i);
        out
    }

    /// The `send_attempt` a `send_outcome` answers: the latest attempt for
    /// the same message by the same sender before it, as (its index, its
    /// MX host).
    pub fn attempt_for(&self, outcome_index: usize) -> Option<(usize, &'a str)> {
        let event = self.events.get(outcome_index)?;
        let msg = msg_key(event.kind.msg()?);
        self.attempts
            .get(&msg)?
            .iter()
            .rev()
            .find(|(i, host, _)| *i < outcome_index && *host == event.host)
            .map(|&(i, _, mx)| (i, mx))
    }

    /// The MX host a `send_outcome` was talking to ([`Self::attempt_for`]).
    pub fn mx_for(&self, outcome_index: usize) -> Option<&'a str> {
        self.attempt_for(outcome_index).map(|(_, mx)| mx)
    }

    /// "accepted (250) at t=1.000ms via gw-1", for reasons.
    pub fn describe_send(&self, sent: &Sent<'_>) -> String {
        let via = self
            .mx_for(sent.index)
            .map(|mx| format!(" via {mx}"))
            .unwrap_or_default();
        format!(
            "{} ({}) at {}{}",
            told_word(sent.told),
            sent.code,
            ms(sent.t_us),
            via
        )
    }

    /// Everything the sender of `msg` was told, for reasons: "deferred (451)
    /// at t=..; accepted (250) at t=.." or "nothing".
    pub fn describe_sends(&self, msg: &str) -> String {
        let Some(indices) = self.sends_by_msg.get(&msg_key(msg)) else {
            return "no send outcome at all".to_string();
        };
        let parts: Vec<String> = indices
            .iter()
            .filter_map(|&i| match &self.events[i].kind {
                EventKind::SendOutcome {
                    told, code, rcpts, ..
                } => Some(format!(
                    "{} ({}) at {} for [{}]",
                    told_word(*told),
                    code,
                    ms(self.events[i].t_us),
                    rcpts.join(", ")
                )),
                _ => None,
            })
            .collect();
        parts.join("; ")
    }
}

/// Simulated time for people: "t=1234.567ms".
pub fn ms(t_us: u64) -> String {
    format!("t={}", duration_ms(t_us))
}

/// A duration for people: "1234.567ms".
pub fn duration_ms(us: u64) -> String {
    format!("{}.{:03}ms", us / 1000, us % 1000)
}

pub fn told_word(told: Told) -> &'static str {
    match told {
        Told::Accepted => "accepted",
        Told::Deferred => "deferred",
        Told::Rejected => "rejected",
        Told::Indefinite => "indefinite",
    }
}

pub fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Clean => "clean",
        Verdict::Spam => "spam",
        Verdict::Malware => "malware",
    }
}
