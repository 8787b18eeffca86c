//! Export of an observation log to the Chrome trace-event format (JSON), which
//! Perfetto (ui.perfetto.dev) and chrome://tracing open: a run laid out on a
//! timeline, so a person can see who did what when.
//!
//! Layout: one process (pid) per region, one thread (tid) per host; hosts
//! outside every region (senders, DNS, mailbox servers) are threads of an
//! `internet` process, and the simulator's own events sit in a `world`
//! process. Metadata events name them all. Timestamps are simulated
//! microseconds, the log's own `t_us`.
//!
//! Every log event becomes an instant on its host's thread, with its fields
//! as args. Things with a duration become async spans (`ph: "b"`/`"e"` with
//! an id), because they overlap freely — a gateway runs many SMTP sessions
//! and deliveries at once — and complete events on one thread would have to
//! nest. Spans: SMTP sessions (`send_attempt` → `send_outcome`, on the
//! sender), scans (scanner receives the message → `scan_verdict`), deliveries
//! (`gw_accepted` → every recipient delivered, bounced or quarantined, on the
//! accepting gateway), hosts down (`host_crashed` → `host_restarted`), faults
//! (`fault_started` → `fault_ended`) and phases (on the world). A span still
//! open when the log ends is closed at the last event with `unfinished: true`.
//!
//! Pure: the same log and region map give the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::event::{Event, EventKind, Presence};
use crate::log::Log;

/// The process for the simulator's own events (phases, faults).
pub const WORLD_PROCESS: &str = "world";
/// The process for hosts outside every region.
pub const INTERNET_PROCESS: &str = "internet";
/// The host name the simulator records its own events under.
const WORLD_HOST: &str = "world";

/// The Chrome trace of `log`. `host_regions` maps a host to its region;
/// hosts not in it belong to the `internet` process.
pub fn chrome_trace(log: &Log, host_regions: &BTreeMap<String, String>) -> Value {
    let layout = Layout::new(log, host_regions);
    let mut out = Vec::new();
    layout.metadata(&mut out);
    let mut spans = Spans::new(&layout);
    for event in log.events() {
        out.push(layout.instant(event));
        spans.observe(event, &mut out);
    }
    let end_us = log.events().last().map_or(0, |e| e.t_us);
    spans.close_all(end_us, &mut out);
    let run = log.events().iter().find_map(|e| match &e.kind {
        EventKind::RunStarted {
            seed,
            schema,
            scenario_sha256,
        } => Some(json!({"seed": seed, "schema": schema, "scenario_sha256": scenario_sha256})),
        _ => None,
    });
    json!({
        "traceEvents": out,
        "displayTimeUnit": "ms",
        "otherData": run.unwrap_or_else(|| json!({})),
    })
}

/// The host → region map a log itself implies: the region of every host
/// that `bytes_seen` recorded. For a trace file without its scenario; hosts
/// that never held a message's bytes land in `internet`.
pub fn regions_from_log(log: &Log) -> BTreeMap<String, String> {
    log.events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BytesSeen { region, .. } => Some((e.host.clone(), region.clone())),
            _ => None,
        })
        .collect()
}

/// Which pid and tid every host gets.
struct Layout {
    /// Process names by pid, in pid order.
    processes: Vec<String>,
    /// host → (pid, tid).
    threads: BTreeMap<String, (u32, u32)>,
}

impl Layout {
    fn new(log: &Log, host_regions: &BTreeMap<String, String>) -> Layout {
        let mut hosts: BTreeSet<&str> = host_regions.keys().map(String::as_str).collect();
        hosts.extend(log.events().iter().map(|e| e.host.as_str()));
        let regions: BTreeSet<&str> = host_regions.values().map(String::as_str).collect();
        let mut processes = vec![WORLD_PROCESS.to_string()];
        processes.extend(regions.iter().map(|r| format!("region {r}")));
        processes.push(INTERNET_PROCESS.to_string());
        let pid_of_region =
            |region: &str| 1 + regions.iter().position(|r| *r == region).unwrap_or(0) as u32 + 1;
        let internet_pid = processes.len() as u32;
        let mut next_tid: BTreeMap<u32, u32> = BTreeMap::new();
        let mut threads = BTreeMap::new();
        // The world's own thread first, so it is tid 1 of pid 1.
        threads.insert(WORLD_HOST.to_string(), (1, 1));
        next_tid.insert(1, 2);
        for host in hosts.into_iter().filter(|h| *h != WORLD_HOST) {
            let pid = match host_regions.get(host) {
                Some(region) => pid_of_region(region),
                None => internet_pid,
            };
            let tid = next_tid.entry(pid).or_insert(1);
            threads.insert(host.to_string(), (pid, *tid));
            *tid += 1;
        }
        Layout { processes, threads }
    }

    fn place(&self, host: &str) -> (u32, u32) {
        // Every host of the log was laid out in `new`.
        self.threads[host]
    }

    /// `process_name`, `thread_name` and sort indices, so the timeline reads
    /// world, regions, internet, top to bottom.
    fn metadata(&self, out: &mut Vec<Value>) {
        for (index, name) in self.processes.iter().enumerate() {
            let pid = index as u32 + 1;
            out.push(json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": name}}));
            out.push(json!({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}}));
        }
        for (host, (pid, tid)) in &self.threads {
            out.push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": host}}));
            out.push(json!({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": tid}}));
        }
    }

    /// The event as an instant on its host's thread, its fields as args.
    fn instant(&self, event: &Event) -> Value {
        let (pid, tid) = self.place(&event.host);
        let mut args = serde_json::to_value(&event.kind).expect("events always serialize");
        if let Some(fields) = args.as_object_mut() {
            fields.remove("ev");
        }
        json!({
            "ph": "i", "s": "t", "name": event.kind.name(), "cat": category(&event.kind),
            "pid": pid, "tid": tid, "ts": event.t_us, "args": args,
        })
    }
}

/// The category an event's instant is filed under (Perfetto can filter by it).
fn category(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::RunStarted { .. }
        | EventKind::Phase { .. }
        | EventKind::FaultStarted { .. }
        | EventKind::FaultEnded { .. }
        | EventKind::HostCrashed {}
        | EventKind::HostRestarted {}
        | EventKind::BuggifyFired { .. }
        | EventKind::EventRefused { .. } => "world",
        EventKind::MessageBuilt { .. }
        | EventKind::SendAttempt { .. }
        | EventKind::RcptReply { .. }
        | EventKind::SendOutcome { .. }
        | EventKind::SenderGaveUp { .. } => "sender",
        EventKind::MailboxReceived { .. }
        | EventKind::MailboxReplyLost { .. }
        | EventKind::MailboxRefused { .. }
        | EventKind::MailboxRefusalUnheard { .. } => "mailbox",
        EventKind::BytesSeen { .. }
        | EventKind::BytesDurable { .. }
        | EventKind::QuarantineHeld { .. } => "bytes",
        EventKind::ScanVerdict { .. } => "scanner",
        EventKind::GwAccepted { .. }
        | EventKind::GwDeferred { .. }
        | EventKind::GwDelivered { .. }
        | EventKind::GwBounced { .. }
        | EventKind::GwQuarantined { .. }
        | EventKind::GwNote { .. } => "gateway",
    }
}

/// A span that has begun and not ended yet.
struct Open {
    id: u64,
    cat: &'static str,
    name: String,
    pid: u32,
    tid: u32,
}

/// A delivery span: the recipients still to settle.
struct Delivery {
    span: Open,
    pending: BTreeSet<String>,
}

/// Pairs begin and end events into async spans.
struct Spans<'a> {
    layout: &'a Layout,
    next_id: u64,
    /// (sender host, msg) → its SMTP session.
    sessions: BTreeMap<(String, String), Open>,
    /// (host, msg) → when the host last received the message's bytes: a
    /// scan begins there if a verdict from that host follows.
    received: BTreeMap<(String, String), u64>,
    /// msg → its open deliveries, oldest first (a duplicate acceptance
    /// opens a second one).
    deliveries: BTreeMap<String, Vec<Delivery>>,
    /// host → its downtime.
    down: BTreeMap<String, Open>,
    /// fault index → its span.
    faults: BTreeMap<u32, Open>,
    phase: Option<Open>,
}

impl<'a> Spans<'a> {
    fn new(layout: &'a Layout) -> Self {
        Spans {
            layout,
            next_id: 1,
            sessions: BTreeMap::new(),
            received: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            down: BTreeMap::new(),
            faults: BTreeMap::new(),
            phase: None,
        }
    }

    fn begin(
        &mut self,
        cat: &'static str,
        name: String,
        host: &str,
        ts: u64,
        args: Value,
        out: &mut Vec<Value>,
    ) -> Open {
        let (pid, tid) = self.layout.place(host);
        let id = self.next_id;
        self.next_id += 1;
        out.push(json!({"ph": "b", "cat": cat, "name": name, "id": id, "pid": pid, "tid": tid, "ts": ts, "args": args}));
        Open {
            id,
            cat,
            name,
            pid,
            tid,
        }
    }

    fn end(open: Open, ts: u64, args: Value, out: &mut Vec<Value>) {
        out.push(json!({
            "ph": "e", "cat": open.cat, "name": open.name, "id": open.id,
            "pid": open.pid, "tid": open.tid, "ts": ts, "args": args,
        }));
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Value>) {
        let (host, ts) = (event.host.as_str(), event.t_us);
        match &event.kind {
            EventKind::Phase { phase } => {
                if let Some(open) = self.phase.take() {
                    Self::end(open, ts, json!({}), out);
                }
                if phase != "done" {
                    let open =
                        self.begin("phase", format!("phase {phase}"), host, ts, json!({}), out);
                    self.phase = Some(open);
                }
            }
            EventKind::FaultStarted {
                fault,
                kind,
                target,
            } => {
                let args = json!({"fault": fault, "kind": kind, "target": target});
                let open = self.begin("fault", format!("{kind} {target}"), host, ts, args, out);
                if let Some(previous) = self.faults.insert(*fault, open) {
                    Self::end(previous, ts, json!({"restarted": true}), out);
                }
            }
            EventKind::FaultEnded { fault } => {
                if let Some(open) = self.faults.remove(fault) {
                    Self::end(open, ts, json!({}), out);
                }
            }
            // A crash of a host already down (two faults on it) opens nothing.
            EventKind::HostCrashed {} if !self.down.contains_key(host) => {
                let open = self.begin("down", format!("{host} down"), host, ts, json!({}), out);
                self.down.insert(host.to_string(), open);
            }
            EventKind::HostRestarted {} => {
                if let Some(open) = self.down.remove(host) {
                    Self::end(open, ts, json!({}), out);
                }
            }
            EventKind::SendAttempt { msg, attempt, mx } => {
                let key = (host.to_string(), msg.clone());
                if let Some(previous) = self.sessions.remove(&key) {
                    Self::end(previous, ts, json!({"unfinished": true}), out);
                }
                let args = json!({"msg": msg, "attempt": attempt, "mx": mx});
                let open = self.begin("smtp", format!("smtp {msg} → {mx}"), host, ts, args, out);
                self.sessions.insert(key, open);
            }
            EventKind::SendOutcome {
                msg,
                told,
                code,
                rcpts,
            } => {
                if let Some(open) = self.sessions.remove(&(host.to_string(), msg.clone())) {
                    let args = json!({"told": told, "code": code, "rcpts": rcpts});
                    Self::end(open, ts, args, out);
                }
            }
            EventKind::BytesSeen {
                msg,
                presence: Presence::Received,
                ..
            } => {
                self.received
                    .entry((host.to_string(), msg.clone()))
                    .or_insert(ts);
            }
            EventKind::ScanVerdict { msg, verdict, .. } => {
                let key = (host.to_string(), msg.clone());
                let started = self.received.remove(&key).unwrap_or(ts);
                let open = self.begin(
                    "scan",
                    format!("scan {msg}"),
                    host,
                    started,
                    json!({"msg": msg}),
                    out,
                );
                Self::end(open, ts, json!({"verdict": verdict}), out);
            }
            EventKind::GwAccepted { msg, rcpts, .. } => {
                let args = json!({"msg": msg, "rcpts": rcpts});
                let span = self.begin("delivery", format!("deliver {msg}"), host, ts, args, out);
                let pending = rcpts.iter().map(|r| r.to_ascii_lowercase()).collect();
                self.deliveries
                    .entry(msg.clone())
                    .or_default()
                    .push(Delivery { span, pending });
            }
            EventKind::GwDelivered { msg, rcpt } | EventKind::GwBounced { msg, rcpt, .. } => {
                self.settle(msg, Some(rcpt), ts, out);
            }
            EventKind::GwQuarantined { msg, .. } => self.settle(msg, None, ts, out),
            _ => {}
        }
    }

    /// Settles `rcpt` (or, for a quarantine, every recipient) of the oldest
    /// open delivery of `msg` that still waits for it; ends it when none wait.
    fn settle(&mut self, msg: &str, rcpt: Option<&str>, ts: u64, out: &mut Vec<Value>) {
        let Some(open) = self.deliveries.get_mut(msg) else {
            return;
        };
        let rcpt = rcpt.map(str::to_ascii_lowercase);
        let Some(index) = open.iter().position(|d| match &rcpt {
            Some(rcpt) => d.pending.contains(rcpt),
            None => true,
        }) else {
            return;
        };
        match &rcpt {
            Some(rcpt) => {
                open[index].pending.remove(rcpt);
            }
            None => open[index].pending.clear(),
        }
        if open[index].pending.is_empty() {
            let done = open.remove(index);
            Self::end(done.span, ts, json!({}), out);
        }
        if open.is_empty() {
            self.deliveries.remove(msg);
        }
    }

    /// Ends every span still open at the end of the log.
    fn close_all(self, end_us: u64, out: &mut Vec<Value>) {
        let unfinished = || json!({"unfinished": true});
        let mut open: Vec<Open> = Vec::new();
        open.extend(self.phase);
        open.extend(self.faults.into_values());
        open.extend(self.down.into_values());
        open.extend(self.sessions.into_values());
        open.extend(
            self.deliveries
                .into_values()
                .flat_map(|d| d.into_iter().map(|d| d.span)),
        );
        open.sort_by_key(|o| o.id);
        for span in open {
            Self::end(span, end_us, unfinished(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Told, Verdict};

    fn regions() -> BTreeMap<String, String> {
        [
            ("gw-aws-us-east-1-0", "us-east-1"),
            ("scan-aws-us-east-1-0", "us-east-1"),
            ("gw-gcp-us-central1-0", "us-central1"),
        ]
        .into_iter()
        .map(|(h, r)| (h.to_string(), r.to_string()))
        .collect()
    }

    /// Two overlapping SMTP sessions, a scan, a delivery, a fault with a
    /// crash inside it, and a session left open at the end.
    fn sample() -> Log {
        let mut log = Log::new();
        let gw = "gw-aws-us-east-1-0";
        log.push(
            0,
            "world",
            EventKind::RunStarted {
                seed: 7,
                schema: 1,
                scenario_sha256: "ab".into(),
            },
        );
        log.push(
            0,
            "world",
            EventKind::Phase {
                phase: "faults".into(),
            },
        );
        log.push(
            10,
            "mta-0",
            EventKind::SendAttempt {
                msg: "m1".into(),
                attempt: 1,
                mx: gw.into(),
            },
        );
        log.push(
            20,
            "mta-1",
            EventKind::SendAttempt {
                msg: "m2".into(),
                attempt: 1,
                mx: gw.into(),
            },
        );
        log.push(
            25,
            gw,
            EventKind::BytesSeen {
                msg: "m1".into(),
                region: "us-east-1".into(),
                presence: Presence::Stored,
                place: "spool/x".into(),
            },
        );
        log.push(
            30,
            gw,
            EventKind::GwAccepted {
                msg: "m1".into(),
                spool_id: "x".into(),
                rcpts: vec!["Bob@acme.example".into()],
                replicas: vec![],
            },
        );
        log.push(
            31,
            "mta-0",
            EventKind::SendOutcome {
                msg: "m1".into(),
                told: Told::Accepted,
                code: 250,
                rcpts: vec!["Bob@acme.example".into()],
            },
        );
        log.push(
            40,
            "scan-aws-us-east-1-0",
            EventKind::BytesSeen {
                msg: "m1".into(),
                region: "us-east-1".into(),
                presence: Presence::Received,
                place: gw.into(),
            },
        );
        log.push(
            45,
            "world",
            EventKind::FaultStarted {
                fault: 0,
                kind: "host_crash".into(),
                target: "gw-gcp-us-central1-0".into(),
            },
        );
        log.push(45, "gw-gcp-us-central1-0", EventKind::HostCrashed {});
        log.push(
            50,
            "scan-aws-us-east-1-0",
            EventKind::ScanVerdict {
                msg: "m1".into(),
                verdict: Verdict::Clean,
                input_sha256: "ab".into(),
            },
        );
        log.push(
            60,
            "mbx-acme",
            EventKind::MailboxReceived {
                msg: "m1".into(),
                rcpt: "bob@acme.example".into(),
                mail_from: "a@b".into(),
                size: 10,
                body_sha256: "cd".into(),
                additions: vec![],
                original_sha256: String::new(),
                spam_tagged: false,
                dsn_about: None,
                dsn_rcpts: vec![],
                dsn_statuses: vec![],
                dsn_actions: vec![],
                dsn_reporting_mta: String::new(),
                unflagged_sha256: "cd".into(),
                client: "gw-aws-us-east-1-0".into(),
            },
        );
        log.push(
            61,
            gw,
            EventKind::GwDelivered {
                msg: "m1".into(),
                rcpt: "bob@acme.example".into(),
            },
        );
        log.push(70, "world", EventKind::FaultEnded { fault: 0 });
        log.push(71, "gw-gcp-us-central1-0", EventKind::HostRestarted {});
        log.push(
            80,
            "world",
            EventKind::Phase {
                phase: "drain".into(),
            },
        );
        log.push(
            90,
            "world",
            EventKind::Phase {
                phase: "done".into(),
            },
        );
        log
    }

    fn events(trace: &Value) -> &Vec<Value> {
        trace["traceEvents"]
            .as_array()
            .expect("traceEvents is an array")
    }

    fn with_ph<'v>(trace: &'v Value, ph: &str) -> Vec<&'v Value> {
        events(trace).iter().filter(|e| e["ph"] == ph).collect()
    }

    #[test]
    fn the_export_is_valid_json_that_round_trips() {
        let trace = chrome_trace(&sample(), &regions());
        let text = serde_json::to_string(&trace).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, trace);
        assert_eq!(back["otherData"]["seed"], 7);
        assert_eq!(back["displayTimeUnit"], "ms");
    }

    #[test]
    fn every_begin_has_one_matching_end_no_earlier() {
        let trace = chrome_trace(&sample(), &regions());
        let begins = with_ph(&trace, "b");
        let ends = with_ph(&trace, "e");
        assert_eq!(begins.len(), ends.len());
        // session m1, session m2 (unfinished), scan, delivery, fault, down, 2 phases
        assert_eq!(begins.len(), 8);
        for begin in begins {
            let matching: Vec<_> = ends
                .iter()
                .filter(|e| {
                    ["id", "cat", "name", "pid", "tid"]
                        .iter()
                        .all(|key| e[*key] == begin[*key])
                })
                .collect();
            assert_eq!(matching.len(), 1, "{begin}");
            assert!(
                matching[0]["ts"].as_u64() >= begin["ts"].as_u64(),
                "{begin}"
            );
        }
    }

    #[test]
    fn every_pid_and_tid_used_is_named_by_metadata() {
        let trace = chrome_trace(&sample(), &regions());
        let named_processes: BTreeSet<u64> = with_ph(&trace, "M")
            .iter()
            .filter(|e| e["name"] == "process_name")
            .map(|e| e["pid"].as_u64().unwrap())
            .collect();
        let named_threads: BTreeSet<(u64, u64)> = with_ph(&trace, "M")
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap()))
            .collect();
        for event in events(&trace).iter().filter(|e| e["ph"] != "M") {
            let pid = event["pid"].as_u64().unwrap();
            let tid = event["tid"].as_u64().unwrap();
            assert!(named_processes.contains(&pid), "{event}");
            assert!(named_threads.contains(&(pid, tid)), "{event}");
        }
    }

    #[test]
    fn regions_are_processes_and_outside_hosts_are_the_internet() {
        let trace = chrome_trace(&sample(), &regions());
        let process_names: Vec<&str> = with_ph(&trace, "M")
            .iter()
            .filter(|e| e["name"] == "process_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            process_names,
            [
                "world",
                "region us-central1",
                "region us-east-1",
                "internet"
            ]
        );
        let thread = |host: &str| {
            with_ph(&trace, "M")
                .into_iter()
                .find(|e| e["name"] == "thread_name" && e["args"]["name"] == host)
                .map(|e| e["pid"].as_u64().unwrap())
        };
        assert_eq!(thread("world"), Some(1));
        assert_eq!(thread("gw-gcp-us-central1-0"), Some(2));
        assert_eq!(thread("gw-aws-us-east-1-0"), Some(3));
        assert_eq!(thread("scan-aws-us-east-1-0"), Some(3));
        assert_eq!(thread("mta-0"), Some(4));
        assert_eq!(thread("mbx-acme"), Some(4));
    }

    #[test]
    fn spans_cover_sessions_scans_deliveries_and_faults_in_simulated_microseconds() {
        let trace = chrome_trace(&sample(), &regions());
        let span = |name: &str| {
            let begin = with_ph(&trace, "b").into_iter().find(|e| e["name"] == name);
            let begin = begin.unwrap_or_else(|| panic!("no span {name}"));
            let end = with_ph(&trace, "e")
                .into_iter()
                .find(|e| e["id"] == begin["id"])
                .unwrap();
            (
                begin["ts"].as_u64().unwrap(),
                end["ts"].as_u64().unwrap(),
                end["args"].clone(),
            )
        };
        assert_eq!(span("smtp m1 → gw-aws-us-east-1-0").0, 10);
        assert_eq!(span("smtp m1 → gw-aws-us-east-1-0").1, 31);
        assert_eq!(span("smtp m2 → gw-aws-us-east-1-0").2["unfinished"], true);
        assert_eq!(span("scan m1").0, 40);
        assert_eq!(span("scan m1").1, 50);
        // Recipients match whatever their case.
        assert_eq!((span("deliver m1").0, span("deliver m1").1), (30, 61));
        assert_eq!(
            (
                span("host_crash gw-gcp-us-central1-0").0,
                span("host_crash gw-gcp-us-central1-0").1
            ),
            (45, 70)
        );
        assert_eq!(span("gw-gcp-us-central1-0 down").1, 71);
        assert_eq!(span("phase faults").1, 80);
    }

    #[test]
    fn every_log_event_is_an_instant_with_its_fields() {
        let log = sample();
        let trace = chrome_trace(&log, &regions());
        let instants = with_ph(&trace, "i");
        assert_eq!(instants.len(), log.len());
        let outcome = instants
            .iter()
            .find(|e| e["name"] == "send_outcome")
            .unwrap();
        assert_eq!(outcome["args"]["told"], "accepted");
        assert!(outcome["args"].get("ev").is_none());
    }

    #[test]
    fn regions_can_be_read_from_the_log_itself() {
        let regions = regions_from_log(&sample());
        assert_eq!(
            regions.get("scan-aws-us-east-1-0").map(String::as_str),
            Some("us-east-1")
        );
        assert!(!regions.contains_key("mta-0"));
    }

    #[test]
    fn an_empty_log_still_exports() {
        let trace = chrome_trace(&Log::new(), &BTreeMap::new());
        assert!(with_ph(&trace, "b").is_empty());
        assert!(!with_ph(&trace, "M").is_empty());
    }
}
