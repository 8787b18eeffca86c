//! A scenario: everything one run needs, as one plain value.
//!
//! It is drawn from a seed by a pure function ([`Scenario::generate`]), saved
//! and loaded as JSON (unknown fields rejected), and printed as knobs at the
//! top of every run. The same seed draws the same scenario forever: all draws
//! come from our own pinned [`Prng`], in a fixed order. Changing that order
//! changes what every saved seed means, so `SCENARIO_VERSION` goes up with it.

use std::fmt;

use models::config::{Knobs, SpamPolicy};
use serde::{Deserialize, Serialize};

use crate::faults::{FaultModel, FaultSchedule};
use crate::prng::{Prng, derive_seed};
use crate::topology::Topology;
use crate::workload::many_rcpts;
use crate::workload::mime::MessageKind;
use crate::workload::size_edge::SizeEdge;

/// Version 2: every seed also draws three messages at the size limit
/// (`add_size_edges`); the rest of its draw is what version 1 drew.
/// Version 3: every seed also draws the gateway's recipient limit and three
/// messages to many recipients across tenants (`workload::many_rcpts`).
pub const SCENARIO_VERSION: u32 = 3;

/// Versions this build reads. A version 1 file lists its messages and has
/// no `size_octets`, which means the same in version 2, so it still runs
/// exactly as it was saved; files of both list their knobs and messages, so
/// they mean in version 3 what they meant.
pub const SCENARIO_VERSIONS_READ: [u32; 3] = [1, 2, 3];

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub name: String,
    pub domain: String,
    /// `us` or `eu`: every region the tenant's mail may touch is in it.
    pub jurisdiction: String,
    pub users: Vec<String>,
    pub spam_policy: SpamPolicy,
    /// Backup mail servers of the tenant's (`mbx-<name>-2`, …), which the
    /// gateway tries in order when the one before does not take the mail.
    /// Omitted when none, so scenarios saved before routes keep their hash.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub backup_mailboxes: u32,
    /// The route still names the tenant's first server, but nothing answers
    /// there for the whole run (a decommissioned host left at the head of
    /// the route): its mail can only reach a backup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_mailbox_retired: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Most backups a tenant's route may name.
pub const BACKUP_MAILBOXES_MAX: u32 = 3;

/// One message a simulated sender will try to deliver.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MessagePlan {
    /// Message-ID without brackets; unique in the run.
    pub id: String,
    /// When the sender first tries, from the start of the run.
    pub at_ms: u64,
    /// Index of the sending MTA host.
    pub sender: u32,
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub tenant: String,
    pub kind: MessageKind,
    pub body_bytes_approx: u32,
    pub body_seed: u64,
    /// The exact RFC 1870 size to pad the message to: set for the messages
    /// drawn at the gateway's size limit (`workload::size_edge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_octets: Option<u64>,
    /// Sent with `MAIL FROM:<>` (a remote MTA's bounce or an RFC 3834
    /// auto-reply to a tenant user): `mail_from` stays the From: field, the
    /// envelope has no return path, and nobody may be sent a DSN about it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub null_reverse_path: bool,
}

impl MessagePlan {
    /// The reverse-path of the envelope (RFC 5321 §4.1.1.2): empty for a
    /// message sent with a null one.
    pub fn envelope_sender(&self) -> &str {
        if self.null_reverse_path {
            ""
        } else {
            &self.mail_from
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Internet MTAs sending to the gateway.
    pub senders: u32,
    pub messages: Vec<MessagePlan>,
    /// How long a sender keeps retrying one message before giving up.
    pub sender_lifetime_ms: u64,
    pub sender_backoff_ms_min: u64,
    pub sender_backoff_ms_max: u64,
    /// How long a sender trusts an MX answer.
    pub dns_ttl_ms: u64,
}

/// The run's phases, in simulated time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    /// Faults happen only before this; then everything heals.
    pub heal_at_ms: u64,
    /// After healing, every acknowledged message must finish within this.
    pub drain_bound_ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub version: u32,
    /// The seed this scenario was drawn from (informational once saved).
    pub seed: u64,
    pub topology: Topology,
    pub tenants: Vec<TenantSpec>,
    pub workload: Workload,
    pub faults: FaultSchedule,
    pub phases: Phases,
    pub knobs: Knobs,
    /// Known bugs switched on; empty for the correct gateway.
    pub bugs: Vec<String>,
    /// Code-level fault injection in the gateway (`models::buggify`,
    /// `engine/buggify.rs`). Omitted from the JSON when off, so scenarios
    /// saved before it existed keep their hash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub buggify: bool,
}

/// Which family of fault schedules a generated scenario draws from. The
/// command line takes it as `--family region-outage` (clap's kebab-case
/// names), which is also how records, repro lines and JUnit spell it.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// No faults at all.
    Calm,
    /// One region down or isolated at a time (the standard story).
    #[default]
    RegionOutage,
    /// A whole cloud provider down.
    CloudOutage,
    /// Each seed draws its own mix of fault kinds and rates.
    Swarm,
    /// Mailboxes down past a short queue lifetime or rejecting mail, and
    /// senders' domains rejecting bounces: expiry and DSNs.
    Bounces,
    /// A gateway cut off from its jurisdiction, then replaced with an empty
    /// disk.
    DiskLoss,
    /// Mail parked behind a mailbox outage when a whole jurisdiction loses
    /// power (beyond the model).
    PowerLoss,
    /// Every scanner of a jurisdiction down for a while.
    ScannerOutage,
    /// The bounces family with every gateway's clock stepped forward while
    /// mail waits (beyond the model's bound) and short process pauses:
    /// expiry judged across clocks.
    ClockSkew,
    /// One region's gateway disks fail the ways real disks do (read errors,
    /// flipped bits, fsyncs that forget, ENOSPC halfway).
    DiskFaults,
    /// One tenant's mail server refusing everything (so DSNs go out), the
    /// others' servers tarpitting, hanging up after DATA, resetting
    /// mid-data, greylisting, forgetting their users or refusing at
    /// length, senders' domains whose DNS fails while
    /// their DSNs wait, and tenants' domains whose DNS answers flap.
    Dependencies,
}

impl Family {
    /// The family's name as the command line spells it (`region-outage`).
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|value| value.get_name().to_string())
            .unwrap_or_default()
    }

    /// How long after the heal a run of this family waits for the drain.
    /// The targeted families heal with nothing left broken and backoff at
    /// most 8 s, so 30 s is ample, and a run that lost mail (which never
    /// drains) stops three times sooner; the older families keep 90 s, as
    /// their pinned seeds were judged with it.
    pub fn drain_bound_ms(self) -> u64 {
        match self {
            Family::Calm | Family::RegionOutage | Family::CloudOutage | Family::Swarm => 90_000,
            Family::Bounces
            | Family::DiskLoss
            | Family::PowerLoss
            | Family::ScannerOutage
            | Family::ClockSkew
            | Family::DiskFaults
            | Family::Dependencies => 30_000,
        }
    }
}

impl Scenario {
    /// The standard scenario for `seed`.
    pub fn generate(seed: u64) -> Scenario {
        Self::generate_family(seed, Family::default())
    }

    /// A scenario of the given fault family for `seed`. Pure: same inputs,
    /// same value, on every machine.
    pub fn generate_family(seed: u64, family: Family) -> Scenario {
        // Only the swarm meets drawn shapes of the fleet; every other
        // family keeps the standard one its seeds were pinned with.
        let topology = if family == Family::Swarm {
            Topology::drawn(&mut Prng::new(derive_seed(seed, "topology")))
        } else {
            Topology::standard()
        };
        let mut tenants = standard_tenants(&mut Prng::new(derive_seed(seed, "tenants")));
        if matches!(family, Family::Swarm | Family::Dependencies) {
            // From a generator of their own, so the rest of the draw stays put.
            draw_mail_routes(
                &mut Prng::new(derive_seed(seed, "mail_routes")),
                &mut tenants,
            );
        }
        let mut knobs = Knobs::simulation_defaults();
        if matches!(family, Family::Bounces | Family::ClockSkew) {
            bounce_knobs(&mut Prng::new(derive_seed(seed, "knobs")), &mut knobs);
        }
        let phases = Phases {
            heal_at_ms: 40_000,
            drain_bound_ms: family.drain_bound_ms(),
        };
        let mut workload = draw_workload(
            &mut Prng::new(derive_seed(seed, "workload")),
            seed,
            &tenants,
            phases.heal_at_ms,
        );
        // From a generator of their own, so the rest of the draw stays put.
        add_size_edges(
            &mut Prng::new(derive_seed(seed, "size_edges")),
            seed,
            &tenants,
            knobs.message_bytes_max,
            &mut workload,
        );
        let mut many_rcpts = Prng::new(derive_seed(seed, "many_rcpts"));
        knobs.recipients_max = many_rcpts::draw_recipients_max(&mut many_rcpts);
        many_rcpts::add(&mut many_rcpts, seed, &tenants, &mut workload);
        if matches!(family, Family::Swarm | Family::Dependencies) {
            draw_null_reverse_paths(
                &mut Prng::new(derive_seed(seed, "null_reverse_paths")),
                &mut workload,
            );
        }
        let mut faults = FaultSchedule::draw(
            &mut Prng::new(derive_seed(seed, "faults")),
            family,
            &topology,
            &tenants,
            workload.senders,
            &knobs,
            phases.heal_at_ms,
        );
        if family == Family::Swarm {
            crate::faults::swarm_extremes::add(
                &mut Prng::new(derive_seed(seed, "swarm_extremes")),
                &topology,
                &mut knobs,
                &mut faults,
                phases.heal_at_ms,
            );
        }
        Scenario {
            version: SCENARIO_VERSION,
            seed,
            topology,
            tenants,
            workload,
            faults,
            phases,
            knobs,
            bugs: Vec::new(),
            buggify: false,
        }
    }

    /// Reads a scenario from JSON; the error says what is wrong and where.
    pub fn from_json(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario = serde_json::from_str(text).map_err(|e| e.to_string())?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("scenarios always serialize")
    }

    /// SHA-256 of the canonical JSON: names the scenario in logs and files.
    pub fn sha256(&self) -> String {
        traces::sha256_hex(serde_json::to_string(self).expect("serializes").as_bytes())
    }

    /// Checks what serde cannot: references between parts, and sane times.
    pub fn validate(&self) -> Result<(), String> {
        if !SCENARIO_VERSIONS_READ.contains(&self.version) {
            return Err(format!(
                "scenario version {} is not supported (this build reads versions {SCENARIO_VERSIONS_READ:?})",
                self.version
            ));
        }
        self.topology.validate()?;
        if self.tenants.is_empty() {
            return Err("a scenario needs at least one tenant".into());
        }
        for tenant in &self.tenants {
            if tenant.backup_mailboxes > BACKUP_MAILBOXES_MAX {
                return Err(format!(
                    "tenant {} has {} backup mailboxes; at most {BACKUP_MAILBOXES_MAX}",
                    tenant.name, tenant.backup_mailboxes
                ));
            }
            if tenant.first_mailbox_retired && tenant.backup_mailboxes == 0 {
                return Err(format!(
                    "tenant {} has its first mailbox retired and no backup: its mail could go nowhere",
                    tenant.name
                ));
            }
            if self.topology.regions_in(&tenant.jurisdiction).is_empty() {
                return Err(format!(
                    "tenant {} is bound to jurisdiction {:?}, which has no region",
                    tenant.name, tenant.jurisdiction
                ));
            }
        }
        if self.workload.senders == 0 {
            return Err("workload.senders must be at least 1".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for message in &self.workload.messages {
            if !ids.insert(message.id.as_str()) {
                return Err(format!("message id {} appears twice", message.id));
            }
            if message.sender >= self.workload.senders {
                return Err(format!(
                    "message {} names sender {} but there are only {}",
                    message.id, message.sender, self.workload.senders
                ));
            }
            if !self.tenants.iter().any(|t| t.name == message.tenant) {
                return Err(format!(
                    "message {} names unknown tenant {}",
                    message.id, message.tenant
                ));
            }
            if message.rcpts.is_empty() {
                return Err(format!("message {} has no recipients", message.id));
            }
        }
        if self.phases.drain_bound_ms == 0 {
            return Err("phases.drain_bound_ms must be positive".into());
        }
        self.faults.validate(
            &self.topology,
            &self.tenants,
            self.workload.senders,
            self.phases.heal_at_ms,
        )?;
        for bug in &self.bugs {
            if !models::bugs::is_known(bug) {
                return Err(format!(
                    "unknown bug {bug:?} (see `mailsim bugs` for the list)"
                ));
            }
        }
        Ok(())
    }

    /// Simulated time at which the run gives up waiting for the drain.
    pub fn end_ms(&self) -> u64 {
        self.phases.heal_at_ms + self.phases.drain_bound_ms
    }

    pub fn fault_model(&self) -> FaultModel {
        self.faults.model
    }
}

/// The bounce family's timers: a queue lifetime short enough that mail
/// expires inside the fault phase, and retries and timeouts scaled down with
/// it, so an expired message is bounced soon after its lifetime (and the
/// grace `expiry_honoured` allows stays well inside the run).
pub(crate) fn bounce_knobs(prng: &mut Prng, knobs: &mut Knobs) {
    knobs.queue_lifetime_ms = prng.range(5_000, 8_001);
    knobs.backoff_ms_min = 500;
    knobs.backoff_ms_max = 2_000;
    knobs.delivery_timeout_ms = 1_000;
    knobs.scan_timeout_ms = 1_000;
    knobs.replication_timeout_ms = 1_000;
    knobs.owner_lease_ms = 2_000;
}

fn standard_tenants(prng: &mut Prng) -> Vec<TenantSpec> {
    let users = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let mut policy = || {
        if prng.percent(50) {
            SpamPolicy::Tag
        } else {
            SpamPolicy::Quarantine
        }
    };
    vec![
        TenantSpec {
            name: "acme".into(),
            domain: "acme.example".into(),
            jurisdiction: "us".into(),
            users: users(&["alice", "bob", "carol", "dave"]),
            spam_policy: policy(),
            backup_mailboxes: 0,
            first_mailbox_retired: false,
        },
        TenantSpec {
            name: "initech".into(),
            domain: "initech.example".into(),
            jurisdiction: "us".into(),
            users: users(&["peter", "milton", "joanna"]),
            spam_policy: policy(),
            backup_mailboxes: 0,
            first_mailbox_retired: false,
        },
        TenantSpec {
            name: "bundesbank".into(),
            domain: "bundesbank.example".into(),
            jurisdiction: "eu".into(),
            users: users(&["anna", "jonas", "lena"]),
            spam_policy: policy(),
            backup_mailboxes: 0,
            first_mailbox_retired: false,
        },
        TenantSpec {
            name: "lemonde".into(),
            domain: "lemonde.example".into(),
            jurisdiction: "eu".into(),
            users: users(&["camille", "hugo"]),
            spam_policy: policy(),
            backup_mailboxes: 0,
            first_mailbox_retired: false,
        },
    ]
}

/// Some tenants get a backup mail server (now and then two), and half of
/// those have their first server retired, so the gateway's fallback along
/// a route is exercised both ways: taken when the first is dead, not
/// needed while it answers.
/// Gives some messages a null reverse-path: mail from the outside world
/// that no DSN may answer (remote bounces, auto-replies). Clean, spam and
/// malware alike, since such mail is scanned like any other.
fn draw_null_reverse_paths(prng: &mut Prng, workload: &mut Workload) {
    for message in &mut workload.messages {
        if message.size_octets.is_none() && prng.percent(NULL_REVERSE_PATH_PERCENT) {
            message.null_reverse_path = true;
        }
    }
}

/// Share of swarm and dependencies messages sent with `MAIL FROM:<>`.
const NULL_REVERSE_PATH_PERCENT: u64 = 10;

fn draw_mail_routes(prng: &mut Prng, tenants: &mut [TenantSpec]) {
    for tenant in tenants {
        if !prng.percent(40) {
            continue;
        }
        tenant.backup_mailboxes = if prng.percent(20) { 2 } else { 1 };
        tenant.first_mailbox_retired = prng.percent(50);
    }
}

/// Address of a sender MTA's user (senders' own domains receive DSNs).
pub fn sender_domain(sender: u32) -> String {
    format!("sender{sender}.example")
}

fn draw_workload(prng: &mut Prng, seed: u64, tenants: &[TenantSpec], heal_at_ms: u64) -> Workload {
    let senders = 3;
    let count = prng.range(40, 71) as u32;
    let send_window_ms = heal_at_ms - 5_000;
    let kinds = [
        (MessageKind::Plain, 40),
        (MessageKind::MultipartAttachment, 20),
        (MessageKind::Html, 15),
        (MessageKind::Spam, 10),
        (MessageKind::Eicar, 8),
        (MessageKind::EicarZipLike, 7),
    ];
    let total_weight: u64 = kinds.iter().map(|(_, w)| w).sum();
    let local_parts = ["news", "billing", "jane", "ops", "hr"];
    let mut messages: Vec<MessagePlan> = (0..count)
        .map(|n| {
            let tenant = prng.pick(tenants);
            let sender = prng.range(0, u64::from(senders)) as u32;
            let rcpt_count = 1 + usize::from(prng.percent(30)) + usize::from(prng.percent(10));
            let mut rcpts: Vec<String> = Vec::new();
            for _ in 0..rcpt_count {
                // Some recipients do not exist: the gateway must 550 them.
                let local = if prng.percent(5) {
                    "nobody".to_string()
                } else {
                    prng.pick(&tenant.users).clone()
                };
                let address = format!("{local}@{}", tenant.domain);
                if !rcpts.contains(&address) {
                    rcpts.push(address);
                }
            }
            let mut draw = prng.range(0, total_weight);
            let mut kind = MessageKind::Plain;
            for (candidate, weight) in kinds {
                if draw < weight {
                    kind = candidate;
                    break;
                }
                draw -= weight;
            }
            MessagePlan {
                id: format!("m{n}.s{seed}@mailsim.test"),
                at_ms: prng.range(0, send_window_ms),
                sender,
                mail_from: format!("{}@{}", prng.pick(&local_parts), sender_domain(sender)),
                rcpts,
                tenant: tenant.name.clone(),
                kind,
                body_bytes_approx: prng.range(300, 6_000) as u32,
                body_seed: prng.next_u64(),
                size_octets: None,
                null_reverse_path: false,
            }
        })
        .collect();
    messages.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.id.cmp(&b.id)));
    Workload {
        senders,
        messages,
        sender_lifetime_ms: 110_000,
        sender_backoff_ms_min: 2_000,
        sender_backoff_ms_max: 10_000,
        dns_ttl_ms: 10_000,
    }
}

/// Adds three plain messages at the gateway's declared size limit: one
/// octet under it, exactly at it and one octet over (RFC 1870 sizes), each
/// to one existing user of a drawn tenant, sent during the fault phase.
fn add_size_edges(
    prng: &mut Prng,
    seed: u64,
    tenants: &[TenantSpec],
    message_bytes_max: u64,
    workload: &mut Workload,
) {
    let first = workload.messages.len();
    let send_window_ms = workload
        .messages
        .iter()
        .map(|m| m.at_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    for (offset, edge) in SizeEdge::ALL.into_iter().enumerate() {
        let tenant = prng.pick(tenants);
        let sender = prng.range(0, u64::from(workload.senders)) as u32;
        workload.messages.push(MessagePlan {
            id: format!("m{}.s{seed}@mailsim.test", first + offset),
            at_ms: prng.range(0, send_window_ms),
            sender,
            mail_from: format!("bulk@{}", sender_domain(sender)),
            rcpts: vec![format!("{}@{}", prng.pick(&tenant.users), tenant.domain)],
            tenant: tenant.name.clone(),
            kind: MessageKind::Plain,
            body_bytes_approx: prng.range(300, 2_000) as u32,
            body_seed: prng.next_u64(),
            size_octets: Some(edge.octets(message_bytes_max)),
            null_reverse_path: false,
        });
    }
    workload
        .messages
        .sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.id.cmp(&b.id)));
}

impl fmt::Display for Scenario {
    /// The knobs, one per line, as printed at the top of a run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario: {} (version {})", self.sha256(), self.version)?;
        writeln!(
            f,
            "topology: {} regions on {} clouds, {} gateway(s) and {} scanner(s) per region, latency intra {} ms / inter {} ms / cross-jurisdiction {} ms",
            self.topology.regions.len(),
            self.topology.clouds().len(),
            self.topology.gateways_per_region,
            self.topology.scanners_per_region,
            self.topology.latency_ms_intra,
            self.topology.latency_ms_inter,
            self.topology.latency_ms_cross_jurisdiction
        )?;
        for (what, counts) in [
            ("gateways", &self.topology.gateways_by_region),
            ("scanners", &self.topology.scanners_by_region),
        ] {
            if !counts.is_empty() {
                let listed: Vec<String> = counts.iter().map(|(r, n)| format!("{r}={n}")).collect();
                writeln!(f, "topology: {what} differ in {}", listed.join(" "))?;
            }
        }
        for tenant in &self.tenants {
            writeln!(
                f,
                "tenant: {} <{}> jurisdiction={} users={} spam={:?}",
                tenant.name,
                tenant.domain,
                tenant.jurisdiction,
                tenant.users.len(),
                tenant.spam_policy
            )?;
        }
        writeln!(
            f,
            "workload: {} messages from {} senders, sender lifetime {} ms, backoff {}..{} ms, dns ttl {} ms",
            self.workload.messages.len(),
            self.workload.senders,
            self.workload.sender_lifetime_ms,
            self.workload.sender_backoff_ms_min,
            self.workload.sender_backoff_ms_max,
            self.workload.dns_ttl_ms
        )?;
        writeln!(f, "fault model: {}", self.faults.model)?;
        for fault in &self.faults.faults {
            writeln!(f, "fault: {fault}")?;
        }
        if let Some(bytes) = self.faults.torn_write_block_bytes {
            writeln!(
                f,
                "torn writes: unsynced writes survive a crash in {bytes}-byte blocks"
            )?;
        }
        writeln!(
            f,
            "phases: heal at {} ms, drain bound {} ms",
            self.phases.heal_at_ms, self.phases.drain_bound_ms
        )?;
        let k = &self.knobs;
        writeln!(
            f,
            "knobs: quorum {} across {} clouds, replication timeout {} ms, scan timeout {} ms, backoff {}..{} ms, queue lifetime {} ms, owner lease {} ms, max message {} bytes, max {} recipients",
            k.replica_quorum,
            k.replica_clouds_min,
            k.replication_timeout_ms,
            k.scan_timeout_ms,
            k.backoff_ms_min,
            k.backoff_ms_max,
            k.queue_lifetime_ms,
            k.owner_lease_ms,
            k.message_bytes_max,
            k.recipients_max
        )?;
        if self.bugs.is_empty() {
            write!(f, "bugs: none")?;
        } else {
            write!(f, "bugs: {}", self.bugs.join(", "))?;
        }
        if self.buggify {
            write!(f, "\nbuggify: on")?;
        }
        Ok(())
    }
}
