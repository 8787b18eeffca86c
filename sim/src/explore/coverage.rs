//! What a run reached, as a set of named features read from its observation
//! log: the feedback `mailsim explore` steers by. A run that shows a feature
//! no earlier run showed joins the corpus.
//!
//! Features, each a short string so the set can be saved and compared:
//! - `sometimes:NAME:N` — a "sometimes" counter (`properties::sometimes`)
//!   reached at least N (powers of two), so reaching a hard state more often
//!   counts too;
//! - `active:KINDS` — a combination of fault kinds active at once, with how
//!   many of each (`region_crash*3+mailbox_outage`): overlaps are where the
//!   rare bugs live;
//! - `during:KIND:STEP` — a step of a gateway or scanner (its event, with the
//!   note, verdict or class that tells steps apart) while a fault of that
//!   kind was active, `during:none:STEP` outside any;
//! - `life:A>B` — one step of some message's life followed by another (the
//!   abstract states of a message: attempted, deferred, accepted, stored,
//!   durable, scanned, delivered, bounced, quarantined, ...), and `end:A`,
//!   where a life ended;
//! - `buggify:SITE` — a `buggify_fired` event for that site, read by event
//!   name so logs that have none (or builds that do not know the event) are
//!   fine.
//!
//! Beside the features, a run leaves *aims* (`aim:WHAT:TARGET:T_MS`, see
//! [`aims`]): where and when it did something a fault could meet — the
//! first DSN to reach a domain, a gateway's first delivery, acceptance and
//! scan — so the `aim` move can put a fault there (feedback from what the
//! run did, as Mallory steers by what its runs observed). They are never
//! news: [`is_aim`] keeps them out of the novelty count.
//!
//! Events are read through their JSON form (`ev` and fields by name), so a
//! new event kind adds features without a change here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use traces::Log;

/// Features are plain strings, kept sorted.
pub type Features = BTreeSet<String>;

/// Counter values above this all count as this much: beyond it, more of the
/// same is not news.
const COUNT_BUCKET_MAX: u64 = 64;

/// The features of one run's log.
pub fn features(log: &Log, facts: &properties::Facts) -> Features {
    let mut out = Features::new();
    sometimes_features(log, facts, &mut out);
    let mut active: BTreeMap<u64, String> = BTreeMap::new();
    let mut lives: BTreeMap<String, String> = BTreeMap::new();
    let mut aimed: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
    for event in log.events() {
        let Ok(value) = serde_json::to_value(event) else {
            continue;
        };
        let ev = text(&value, "ev");
        if let Some((what, target)) = aim_of(ev, &event.host, &value) {
            aimed.entry((what, target)).or_insert(event.t_us / 1_000);
        }
        match ev {
            "fault_started" => {
                let fault = value.get("fault").and_then(Value::as_u64).unwrap_or(0);
                active.insert(fault, text(&value, "kind").to_string());
                out.insert(format!("active:{}", combination(&active)));
            }
            "fault_ended" => {
                let fault = value.get("fault").and_then(Value::as_u64).unwrap_or(0);
                active.remove(&fault);
            }
            "buggify_fired" => {
                out.insert(format!("buggify:{}", text(&value, "site")));
            }
            _ => {}
        }
        let step = step_name(ev, &value);
        let host = event.host.as_str();
        if host.starts_with("gw-") || host.starts_with("scan-") {
            if active.is_empty() {
                out.insert(format!("during:none:{step}"));
            }
            let kinds: BTreeSet<&String> = active.values().collect();
            for kind in kinds {
                out.insert(format!("during:{kind}:{step}"));
            }
        }
        if let Some(msg) = value.get("msg").and_then(Value::as_str) {
            let life = life_step(ev, &value);
            let previous = lives.insert(msg.to_ascii_lowercase(), life.clone());
            match previous {
                Some(previous) if previous != life => {
                    out.insert(format!("life:{previous}>{life}"));
                }
                None => {
                    out.insert(format!("life:start>{life}"));
                }
                Some(_) => {}
            }
        }
    }
    for life in lives.values() {
        out.insert(format!("end:{life}"));
    }
    for ((what, target), t_ms) in aimed {
        out.insert(format!("{AIM_PREFIX}{what}:{target}:{t_ms}"));
    }
    out
}

const AIM_PREFIX: &str = "aim:";

/// Whether a feature is an aim (where a fault could meet the run), not news.
pub fn is_aim(feature: &str) -> bool {
    feature.starts_with(AIM_PREFIX)
}

/// One place and time a run did something a fault could meet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aim {
    /// `dsn_to` (a DSN reached the mail server of `target`, a domain),
    /// `mail_to` (a message reached that of `target`), `delivering`,
    /// `accepted` (gateway `target` delivered or accepted a message),
    /// `scanning` (a scanner of region `target` judged one).
    pub what: String,
    pub target: String,
    pub t_ms: u64,
}

/// The aims among `features`, in order.
pub fn aims(features: &Features) -> Vec<Aim> {
    features
        .iter()
        .filter_map(|f| {
            let rest = f.strip_prefix(AIM_PREFIX)?;
            let (what, rest) = rest.split_once(':')?;
            let (target, t_ms) = rest.rsplit_once(':')?;
            Some(Aim {
                what: what.to_string(),
                target: target.to_string(),
                t_ms: t_ms.parse().ok()?,
            })
        })
        .collect()
}

/// The aim an event gives, if any: (what, target).
fn aim_of(ev: &str, host: &str, value: &Value) -> Option<(&'static str, String)> {
    let domain_of = |field: &str| {
        let rcpt = text(value, field);
        rcpt.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
    };
    match ev {
        "mailbox_received" if value.get("dsn_about").is_some_and(|v| !v.is_null()) => {
            Some(("dsn_to", domain_of("rcpt")?))
        }
        "mailbox_received" => Some(("mail_to", domain_of("rcpt")?)),
        "gw_delivered" => Some(("delivering", host.to_string())),
        "gw_accepted" => Some(("accepted", host.to_string())),
        "scan_verdict" => Some(("scanning", host.to_string())),
        _ => None,
    }
}

/// `sometimes:NAME:N` for every power of two N up to each counter's value.
fn sometimes_features(log: &Log, facts: &properties::Facts, out: &mut Features) {
    let counters = properties::sometimes::sometimes(log, facts);
    let Ok(Value::Object(fields)) = serde_json::to_value(&counters) else {
        return;
    };
    for (name, count) in fields {
        let count = count.as_u64().unwrap_or(0).min(COUNT_BUCKET_MAX);
        let mut bucket = 1;
        while bucket <= count {
            out.insert(format!("sometimes:{name}:{bucket}"));
            bucket *= 2;
        }
    }
}

/// The active fault kinds, with how many of each: `partition*2+scanner_outage`.
fn combination(active: &BTreeMap<u64, String>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for kind in active.values() {
        *counts.entry(kind.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(kind, n)| {
            if *n == 1 {
                kind.to_string()
            } else {
                format!("{kind}*{n}")
            }
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// An event as a step: its kind, refined where one kind covers several
/// steps (which note, which verdict, how a send ended, which reply class).
fn step_name(ev: &str, value: &Value) -> String {
    let refine = match ev {
        "gw_note" => text(value, "what").to_string(),
        "scan_verdict" => text(value, "verdict").to_string(),
        "send_outcome" => text(value, "told").to_string(),
        "bytes_seen" => text(value, "presence").to_string(),
        "rcpt_reply" | "mailbox_refused" => reply_class(value),
        "mailbox_received" if !value.get("dsn_about").is_none_or(Value::is_null) => "dsn".into(),
        _ => return ev.to_string(),
    };
    format!("{ev}.{refine}")
}

/// A message's abstract state after this event: the step, with gateway
/// self-reports and seam records kept apart from what senders and
/// mailboxes saw only by their names.
fn life_step(ev: &str, value: &Value) -> String {
    step_name(ev, value)
}

/// `2xx`, `4xx`, `5xx` from a `code` field.
fn reply_class(value: &Value) -> String {
    match value.get("code").and_then(Value::as_u64) {
        Some(code) => format!("{}xx", code / 100),
        None => "none".into(),
    }
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use traces::EventKind;

    fn log_of(events: Vec<(&str, EventKind)>) -> Log {
        let mut log = Log::new();
        for (t, (host, kind)) in events.into_iter().enumerate() {
            log.push(t as u64, host, kind);
        }
        log
    }

    #[test]
    fn overlapping_faults_show_as_one_combination_and_gateway_steps_under_each() {
        let log = log_of(vec![
            (
                "world",
                EventKind::FaultStarted {
                    fault: 0,
                    kind: "region_crash".into(),
                    target: "us-east-1".into(),
                },
            ),
            (
                "world",
                EventKind::FaultStarted {
                    fault: 1,
                    kind: "region_crash".into(),
                    target: "eastus".into(),
                },
            ),
            (
                "gw-gcp-us-central1-0",
                EventKind::GwNote {
                    what: "failover".into(),
                    detail: String::new(),
                },
            ),
            ("world", EventKind::FaultEnded { fault: 0 }),
            ("world", EventKind::FaultEnded { fault: 1 }),
            (
                "gw-gcp-us-central1-0",
                EventKind::GwNote {
                    what: "boot".into(),
                    detail: String::new(),
                },
            ),
        ]);
        let features = features(&log, &properties::Facts::default());
        assert!(features.contains("active:region_crash"), "{features:?}");
        assert!(features.contains("active:region_crash*2"), "{features:?}");
        assert!(features.contains("during:region_crash:gw_note.failover"));
        assert!(features.contains("during:none:gw_note.boot"));
        assert!(!features.contains("during:none:gw_note.failover"));
        assert!(features.contains("sometimes:failovers:1"));
    }

    #[test]
    fn a_messages_life_gives_its_transitions_and_where_it_ended() {
        let msg = "m1.s1@mailsim.test";
        let log = log_of(vec![
            (
                "mta-0",
                EventKind::SendAttempt {
                    msg: msg.into(),
                    attempt: 1,
                    mx: "gw-aws-us-east-1-0".into(),
                },
            ),
            (
                "gw-aws-us-east-1-0",
                EventKind::GwDelivered {
                    msg: msg.into(),
                    rcpt: "a@acme.example".into(),
                },
            ),
        ]);
        let features = features(&log, &properties::Facts::default());
        assert!(features.contains("life:start>send_attempt"), "{features:?}");
        assert!(features.contains("life:send_attempt>gw_delivered"));
        assert!(features.contains("end:gw_delivered"));
        assert!(!features.contains("end:send_attempt"));
        // Where the first delivery happened, read back as an aim; the log's
        // times are microseconds, aims milliseconds.
        assert_eq!(
            aims(&features),
            [Aim {
                what: "delivering".into(),
                target: "gw-aws-us-east-1-0".into(),
                t_ms: 0,
            }]
        );
        assert!(features.iter().filter(|f| is_aim(f)).count() == 1);
    }

    #[test]
    fn a_dsn_arriving_aims_at_its_domain_and_only_the_first_time_counts() {
        let arrival = |rcpt: &str, dsn_about: Option<&str>| EventKind::MailboxReceived {
            msg: "d1".into(),
            rcpt: rcpt.into(),
            mail_from: String::new(),
            size: 1,
            body_sha256: String::new(),
            additions: vec![],
            original_sha256: String::new(),
            spam_tagged: false,
            dsn_about: dsn_about.map(str::to_string),
            dsn_rcpts: vec![],
            dsn_statuses: vec![],
            dsn_actions: vec![],
            dsn_reporting_mta: String::new(),
            unflagged_sha256: String::new(),
            client: "gw-1".into(),
        };
        let mut log = Log::new();
        log.push(7_000, "mbx-s0", arrival("erin@Sender0.example", Some("m1")));
        log.push(9_000, "mbx-s0", arrival("erin@sender0.example", Some("m2")));
        log.push(9_500, "mbx-acme", arrival("bob@acme.example", None));
        let found = aims(&features(&log, &properties::Facts::default()));
        let found: Vec<(&str, &str, u64)> = found
            .iter()
            .map(|a| (a.what.as_str(), a.target.as_str(), a.t_ms))
            .collect();
        assert_eq!(
            found,
            [
                ("dsn_to", "sender0.example", 7),
                ("mail_to", "acme.example", 9)
            ]
        );
    }
}
