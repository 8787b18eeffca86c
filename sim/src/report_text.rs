//! The failure report a person reads when a run fails: for each violated
//! property, its reasons; then the whole life of every message involved —
//! every event about it, in order, across hosts, with simulated times — the
//! faults active during that life, and the command that reproduces it.
//!
//! It is built only from the run's log, its violations and the scenario, so
//! a replay of the same failure prints the same report. Events are written
//! generically from their JSON fields, so the report stays true to the
//! schema without a line of upkeep when an event gains a field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use properties::facts::msg_key;
use properties::{Kind, Violation};
use traces::{Event, EventKind, Log};

use crate::run::RunOutcome;
use crate::scenario::Scenario;

/// At most this many messages' lives per property; the trace has the rest.
const MESSAGES_PER_PROPERTY: usize = 4;
/// Evidence events shown for a violation that names no message.
const EVIDENCE_PER_VIOLATION: usize = 12;
/// Reasons listed per property before "and N more".
const REASONS_PER_PROPERTY: usize = 8;

/// The report for a failed run; empty when every property held.
pub fn failure_report(outcome: &RunOutcome, scenario: &Scenario, repro: &str) -> String {
    let violations = &outcome.report.violations;
    if violations.is_empty() && outcome.host_failure.is_none() {
        return String::new();
    }
    let log = &outcome.log;
    let faults = FaultSpans::from_log(log);
    let mut out = String::new();
    let _ = writeln!(out, "---- failure report ----");
    if let Some(failure) = &outcome.host_failure {
        let _ = writeln!(out, "a host's software failed: {failure}");
    }
    let mut properties: Vec<&str> = violations.iter().map(|v| v.property.as_str()).collect();
    properties.dedup();
    // Message -> the property whose section printed its life already.
    let mut shown = BTreeMap::new();
    for property in properties {
        let found: Vec<&Violation> = violations
            .iter()
            .filter(|v| v.property == property)
            .collect();
        let context = Context {
            log,
            scenario,
            faults: &faults,
        };
        property_section(&mut out, property, &found, &context, &mut shown);
        let _ = writeln!(out, "  reproduce: {repro}");
    }
    let _ = writeln!(out, "---- end of failure report ----");
    out
}

/// What every section reads.
struct Context<'a> {
    log: &'a Log,
    scenario: &'a Scenario,
    faults: &'a FaultSpans,
}

fn property_section(
    out: &mut String,
    property: &str,
    found: &[&Violation],
    context: &Context<'_>,
    shown: &mut BTreeMap<String, String>,
) {
    let Context {
        log,
        scenario,
        faults,
    } = *context;
    let kind = match found[0].kind {
        Kind::Safety => "safety",
        Kind::Liveness => "liveness",
    };
    let description = properties::by_name(property).map_or("", |p| p.description);
    let _ = writeln!(
        out,
        "\nproperty {property} [{kind}] violated {} time(s): {description}\n  (in each message's life below, * marks the events that prove it)",
        found.len()
    );
    for violation in found.iter().take(REASONS_PER_PROPERTY) {
        let _ = writeln!(out, "  reason: {}", violation.reason);
    }
    if found.len() > REASONS_PER_PROPERTY {
        let _ = writeln!(out, "  ... and {} more", found.len() - REASONS_PER_PROPERTY);
    }
    let first_evidence_us = found
        .iter()
        .filter_map(|v| v.events.first())
        .filter_map(|&i| log.events().get(i))
        .map(|e| e.t_us)
        .min();
    if let Some(t_us) = first_evidence_us {
        let active = faults.active_at(t_us);
        let _ = writeln!(
            out,
            "  faults active at {} (first evidence): {}",
            seconds(t_us).trim(),
            describe_faults(&active, scenario)
        );
    }
    let messages = involved_messages(found, log);
    let evidence: BTreeSet<usize> = found
        .iter()
        .flat_map(|v| v.events.iter().copied())
        .collect();
    for msg in messages.iter().take(MESSAGES_PER_PROPERTY) {
        match shown.get(msg) {
            Some(earlier) => {
                let _ = writeln!(out, "\n  life of {msg}: shown above, under {earlier}");
            }
            None => {
                message_life(out, msg, &evidence, context);
                shown.insert(msg.clone(), property.to_string());
            }
        }
    }
    if messages.len() > MESSAGES_PER_PROPERTY {
        let _ = writeln!(
            out,
            "\n  ... and {} more message(s) involved: {} (see --trace for their lives)",
            messages.len() - MESSAGES_PER_PROPERTY,
            messages[MESSAGES_PER_PROPERTY..].join(", ")
        );
    }
    if messages.is_empty() {
        for violation in found {
            let _ = writeln!(out, "\n  evidence for: {}", violation.reason);
            for &index in violation.events.iter().take(EVIDENCE_PER_VIOLATION) {
                if let Some(event) = log.events().get(index) {
                    let _ = writeln!(out, "    {}", event_line(event));
                }
            }
        }
    }
}

/// The messages a property's evidence is about, normalised, in order of
/// first appearance: the event's own message, and for a DSN the message it
/// reports on.
pub fn involved_messages(found: &[&Violation], log: &Log) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut ordered = Vec::new();
    for violation in found {
        for &index in &violation.events {
            let Some(event) = log.events().get(index) else {
                continue;
            };
            for msg in messages_of(&event.kind) {
                let key = msg_key(msg);
                if seen.insert(key.clone()) {
                    ordered.push(key);
                }
            }
        }
    }
    // A DSN's id names the spool entry it bounced (`dsn.<spool-id>-dsn<k>`,
    // a DSN about a DSN adds another `-dsn<k>`): follow it back to the
    // workload message that started the chain, which is the one to keep.
    let accepted: BTreeMap<&str, &str> = log
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::GwAccepted { msg, spool_id, .. } => Some((spool_id.as_str(), msg.as_str())),
            _ => None,
        })
        .collect();
    for key in ordered.clone() {
        let Some(rest) = key.strip_prefix("dsn.") else {
            continue;
        };
        let spool_id = rest.split("-dsn").next().unwrap_or(rest);
        if let Some(msg) = accepted.get(spool_id) {
            let origin = msg_key(msg);
            if seen.insert(origin.clone()) {
                ordered.push(origin);
            }
        }
    }
    ordered
}

/// The messages an event is about: its own, and a DSN's subject.
fn messages_of(kind: &EventKind) -> Vec<&str> {
    let mut out: Vec<&str> = kind.msg().into_iter().collect();
    if let EventKind::MailboxReceived {
        dsn_about: Some(about),
        ..
    }
    | EventKind::MailboxRefused {
        dsn_about: Some(about),
        ..
    } = kind
    {
        out.push(about);
    }
    out
}

/// Every event about `msg`, with its index in the log, in log order.
pub fn life_of<'a>(log: &'a Log, msg: &str) -> Vec<(usize, &'a Event)> {
    let key = msg_key(msg);
    log.events()
        .iter()
        .enumerate()
        .filter(|(_, e)| messages_of(&e.kind).iter().any(|m| msg_key(m) == key))
        .collect()
}

/// Whether an event ends a message's story: it arrived, was quarantined,
/// bounced, or its sender gave up. A life that ends otherwise was cut
/// short (lost, or still queued), so what happened after matters too.
fn settles(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::MailboxReceived { .. }
            | EventKind::GwDelivered { .. }
            | EventKind::GwBounced { .. }
            | EventKind::GwQuarantined { .. }
            | EventKind::SenderGaveUp { .. }
    )
}

/// Prints one message's life; events in `evidence` are marked with `*`.
fn message_life(out: &mut String, msg: &str, evidence: &BTreeSet<usize>, context: &Context<'_>) {
    let Context {
        log,
        scenario,
        faults,
    } = *context;
    let plan = scenario
        .workload
        .messages
        .iter()
        .find(|m| msg_key(&m.id) == msg);
    let _ = writeln!(out, "\n  life of {msg}");
    if let Some(plan) = plan {
        let _ = writeln!(
            out,
            "    planned: {:?} for tenant {}, from {}{} (mta-{}) to [{}], first try at {}s",
            plan.kind,
            plan.tenant,
            plan.mail_from,
            if plan.null_reverse_path {
                " with MAIL FROM:<>"
            } else {
                ""
            },
            plan.sender,
            plan.rcpts.join(", "),
            plan.at_ms as f64 / 1_000.0
        );
    }
    let life = life_of(log, msg);
    for (index, event) in &life {
        let mark = if evidence.contains(index) { "*" } else { " " };
        let _ = writeln!(out, "  {mark} {}", event_line_within(event, Some(msg)));
    }
    let (Some((_, first)), Some((_, last))) = (life.first(), life.last()) else {
        return;
    };
    let end_of_run_us = log.events().last().map_or(last.t_us, |e| e.t_us);
    let (until_us, note) = if settles(&last.kind) {
        (last.t_us, "")
    } else {
        (
            end_of_run_us,
            " (it never settled, so its life runs to the end of the run)",
        )
    };
    let during = faults.active_during(first.t_us, until_us);
    let _ = writeln!(
        out,
        "    faults during its life{note}: {}",
        describe_faults(&during, scenario)
    );
}

/// One event for people: `   4.065s mbx-initech   mailbox_received rcpt=...`.
pub fn event_line(event: &Event) -> String {
    event_line_within(event, None)
}

/// Like [`event_line`], leaving out the `msg` field when it is `life_of`
/// (normalised): in a message's life, every line would repeat it.
pub fn event_line_within(event: &Event, life_of: Option<&str>) -> String {
    format!(
        "{} {:<24} {} {}",
        seconds(event.t_us),
        event.host,
        event.kind.name(),
        fields(&event.kind, life_of)
    )
    .trim_end()
    .to_string()
}

/// The event's own fields as `name=value`, in schema order (the order of
/// `traces/src/event.rs`, kept by reading the JSON back in order); long
/// digests cut.
fn fields(kind: &EventKind, life_of: Option<&str>) -> String {
    let json = serde_json::to_string(kind).expect("events always serialize");
    let Ok(OrderedFields(object)) = serde_json::from_str(&json) else {
        return String::new();
    };
    let mut parts = Vec::new();
    for (name, value) in object.iter().filter(|(name, _)| name != "ev") {
        if let (Some(life), "msg", serde_json::Value::String(msg)) = (life_of, name.as_str(), value)
            && msg_key(msg) == life
        {
            continue;
        }
        let text = match value {
            serde_json::Value::String(s) if name.ends_with("sha256") && s.len() > 12 => {
                format!("{}…", &s[..12])
            }
            serde_json::Value::String(s) if !s.is_empty() && !s.contains(' ') => s.clone(),
            other => other.to_string(),
        };
        parts.push(format!("{name}={text}"));
    }
    parts.join(" ")
}

/// A JSON object's fields in the order they were written (serde_json's own
/// map sorts them, and the schema's order reads better).
struct OrderedFields(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = OrderedFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedFields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    fields.push(entry);
                }
                Ok(OrderedFields(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// Simulated time as seconds with milliseconds, right-aligned like the logs.
pub fn seconds(t_us: u64) -> String {
    format!("{:>4}.{:03}s", t_us / 1_000_000, (t_us / 1_000) % 1_000)
}

/// When each fault of the run was active, from the log's own records.
pub struct FaultSpans {
    /// (fault index, start, end or None if it never ended).
    spans: Vec<(u32, u64, Option<u64>)>,
}

impl FaultSpans {
    pub fn from_log(log: &Log) -> FaultSpans {
        let mut spans: Vec<(u32, u64, Option<u64>)> = Vec::new();
        for event in log.events() {
            match &event.kind {
                EventKind::FaultStarted { fault, .. } => spans.push((*fault, event.t_us, None)),
                EventKind::FaultEnded { fault } => {
                    if let Some(span) = spans
                        .iter_mut()
                        .rev()
                        .find(|(f, _, end)| f == fault && end.is_none())
                    {
                        span.2 = Some(event.t_us);
                    }
                }
                _ => {}
            }
        }
        FaultSpans { spans }
    }

    fn active_at(&self, t_us: u64) -> Vec<(u32, u64, Option<u64>)> {
        self.active_during(t_us, t_us)
    }

    /// Faults active at some instant of `[from_us, to_us]`.
    fn active_during(&self, from_us: u64, to_us: u64) -> Vec<(u32, u64, Option<u64>)> {
        self.spans
            .iter()
            .filter(|(_, start, end)| *start <= to_us && end.is_none_or(|end| from_us < end))
            .copied()
            .collect()
    }
}

fn describe_faults(active: &[(u32, u64, Option<u64>)], scenario: &Scenario) -> String {
    if active.is_empty() {
        return "none".to_string();
    }
    let parts: Vec<String> = active
        .iter()
        .map(|(index, start, end)| {
            let what = scenario
                .faults
                .faults
                .get(*index as usize)
                .map_or_else(|| "unknown fault".to_string(), |f| f.to_string());
            let until = end.map_or_else(
                || "the end".to_string(),
                |end| seconds(end).trim().to_string(),
            );
            format!("#{index} {what}: active {}–{until}", seconds(*start).trim())
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_line_up_like_the_logs() {
        assert_eq!(seconds(4_065_000), "   4.065s");
        assert_eq!(seconds(123_456_789), " 123.456s");
    }

    #[test]
    fn an_event_line_shows_time_host_kind_and_fields() {
        let event = Event {
            t_us: 1_954_000,
            host: "mta-1".into(),
            kind: EventKind::SendOutcome {
                msg: "m7.s1@mailsim.test".into(),
                told: traces::Told::Accepted,
                code: 250,
                rcpts: vec!["milton@initech.example".into()],
            },
        };
        assert_eq!(
            event_line(&event),
            "   1.954s mta-1                    send_outcome msg=m7.s1@mailsim.test told=accepted code=250 rcpts=[\"milton@initech.example\"]"
        );
    }

    #[test]
    fn in_a_life_the_message_id_is_not_repeated_on_every_line() {
        let event = Event {
            t_us: 0,
            host: "mta-1".into(),
            kind: EventKind::SendAttempt {
                msg: "<m7.s1@mailsim.test>".into(),
                attempt: 2,
                mx: "gw".into(),
            },
        };
        assert!(
            event_line_within(&event, Some("m7.s1@mailsim.test"))
                .ends_with("send_attempt attempt=2 mx=gw")
        );
    }

    #[test]
    fn a_dsn_belongs_to_the_life_of_the_message_it_reports_on() {
        let mut log = Log::new();
        log.push(
            5,
            "mta-0",
            EventKind::MailboxReceived {
                msg: "dsn.x-dsn0@gw".into(),
                rcpt: "a@sender0.example".into(),
                mail_from: String::new(),
                size: 1,
                body_sha256: "ab".into(),
                additions: vec![],
                original_sha256: "ab".into(),
                unflagged_sha256: "ab".into(),
                client: "gw-0".into(),
                spam_tagged: false,
                dsn_about: Some("<m1@mailsim.test>".into()),
                dsn_rcpts: vec!["b@acme.example".into()],
                dsn_statuses: vec![],
                dsn_actions: vec![],
                dsn_reporting_mta: String::new(),
            },
        );
        assert_eq!(life_of(&log, "m1@mailsim.test").len(), 1);
    }

    #[test]
    fn faults_are_active_from_start_until_just_before_their_end() {
        let mut log = Log::new();
        log.push(
            10,
            "world",
            EventKind::FaultStarted {
                fault: 0,
                kind: "host_crash".into(),
                target: "gw".into(),
            },
        );
        log.push(20, "world", EventKind::FaultEnded { fault: 0 });
        let spans = FaultSpans::from_log(&log);
        assert!(spans.active_at(9).is_empty());
        assert_eq!(spans.active_at(10).len(), 1);
        assert!(spans.active_at(20).is_empty());
        assert_eq!(spans.active_during(0, 10).len(), 1);
    }
}
