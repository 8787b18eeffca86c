//! The SVG timeline of one failed run: a row per region with the scheduled
//! faults that hit it as bars (crash, isolation, cloud outage, partition,
//! host crash, scanner outage; mailbox outages on a row of their own), the
//! heal time as a line, and below, one dot per accepted message at its
//! acceptance time and height by its latency to the mailbox — or a red cross
//! on top if it never arrived. Bars come from the scenario's fault schedule;
//! dots from the saved trace, when there is one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use traces::{EventKind, Log, Told};

use crate::faults::FaultKind;
use crate::scenario::Scenario;
use crate::sweep::xml;

/// One fault as drawn on one row.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub row: usize,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The fault kind's name, which picks the colour.
    pub kind: &'static str,
    /// The fault as the scenario prints it, for the tooltip.
    pub label: String,
}

/// Where an accepted message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    Quarantined,
    /// Accepted and never seen at a mailbox nor quarantined.
    Missing,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dot {
    pub msg: String,
    pub accepted_ms: f64,
    /// Acceptance to first arrival; `None` unless delivered.
    pub latency_ms: Option<f64>,
    pub fate: Fate,
    /// A violation's reason names this message.
    pub implicated: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub rows: Vec<String>,
    pub bars: Vec<Bar>,
    pub heal_ms: u64,
    pub end_ms: u64,
    pub dots: Vec<Dot>,
    pub has_trace: bool,
}

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 170.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 22.0;
const TOP: f64 = 24.0;
const PLOT: f64 = 170.0;

/// The colour of a fault kind (and of its legend entry).
fn colour(kind: &str) -> &'static str {
    match kind {
        "region_crash" => "#d62728",
        "region_isolation" => "#ff7f0e",
        "cloud_outage" => "#8c1c13",
        "partition" => "#17becf",
        "host_crash" => "#7f7f7f",
        "scanner_outage" => "#9467bd",
        _ => "#bcbd22",
    }
}

impl Timeline {
    /// The timeline of a run of `scenario`; `reasons` are its violations'
    /// reasons, whose message ids mark the dots they implicate.
    pub fn build(scenario: &Scenario, log: Option<&Log>, reasons: &[String]) -> Timeline {
        let regions = &scenario.topology.regions;
        let mut rows: Vec<String> = regions
            .iter()
            .map(|r| format!("{}/{} ({})", r.cloud, r.name, r.jurisdiction))
            .collect();
        let row_of = |name: &str| regions.iter().position(|r| r.name == name);
        let heal_ms = scenario.phases.heal_at_ms;
        let mut bars = Vec::new();
        let mut mailbox_row = None;
        for fault in &scenario.faults.faults {
            // The engine undoes every fault at heal time.
            let (start_ms, end_ms) = (fault.at_ms, fault.end_ms().min(heal_ms));
            let targets: Vec<usize> = match &fault.kind {
                FaultKind::RegionCrash { region }
                | FaultKind::RegionIsolation { region }
                | FaultKind::ScannerOutage { region } => row_of(region).into_iter().collect(),
                FaultKind::CloudOutage { cloud } => (0..regions.len())
                    .filter(|&i| &regions[i].cloud == cloud)
                    .collect(),
                FaultKind::Partition { from, to, .. } | FaultKind::GrayLink { from, to, .. } => {
                    row_of(from).into_iter().chain(row_of(to)).collect()
                }
                FaultKind::HostCrash { host }
                | FaultKind::Disk { host, .. }
                | FaultKind::DiskLost { host }
                | FaultKind::Clock { host, .. }
                | FaultKind::Pause { host } => (0..regions.len())
                    .filter(|&i| {
                        let r = &regions[i];
                        host.contains(&format!("-{}-{}-", r.cloud, r.name))
                    })
                    .take(1)
                    .collect(),
                FaultKind::HostPartition { from, to, .. } => (0..regions.len())
                    .filter(|&i| {
                        let r = &regions[i];
                        let tag = format!("-{}-{}-", r.cloud, r.name);
                        from.contains(&tag) || to.contains(&tag)
                    })
                    .collect(),
                FaultKind::MailboxOutage { .. }
                | FaultKind::MailboxRejects { .. }
                | FaultKind::MailboxMisbehaves { .. }
                | FaultKind::DnsFails { .. }
                | FaultKind::StaleDns { .. } => {
                    let row = *mailbox_row.get_or_insert_with(|| {
                        rows.push("mailboxes and DNS".to_string());
                        rows.len() - 1
                    });
                    vec![row]
                }
            };
            for row in targets {
                bars.push(Bar {
                    row,
                    start_ms,
                    end_ms,
                    kind: fault.kind.name(),
                    label: fault.to_string(),
                });
            }
        }
        let dots = log.map(|log| dots(log, reasons)).unwrap_or_default();
        let last_event_ms = log
            .and_then(|l| l.events().last())
            .map_or(0, |e| e.t_us.div_ceil(1_000));
        let end_ms = if log.is_some() {
            last_event_ms.max(heal_ms + 1_000)
        } else {
            scenario.end_ms()
        };
        Timeline {
            rows,
            bars,
            heal_ms,
            end_ms,
            dots,
            has_trace: log.is_some(),
        }
    }

    /// The timeline as an inline `<svg>` element.
    pub fn svg(&self) -> String {
        let rows_h = self.rows.len() as f64 * ROW;
        let plot_top = TOP + rows_h + 30.0;
        let height = plot_top + PLOT + 60.0;
        let span = self.end_ms.max(1) as f64;
        let x = |ms: f64| LEFT + (WIDTH - LEFT - RIGHT) * (ms / span).clamp(0.0, 1.0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="11">"#
        );
        // Time grid: a line every 10 s of simulated time.
        let step = if self.end_ms > 120_000 {
            30_000
        } else {
            10_000
        };
        for t in (0..=self.end_ms).step_by(step) {
            let tx = x(t as f64);
            let _ = writeln!(
                out,
                r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{:.1}" stroke="#eee"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#666">{}s</text>"##,
                plot_top + PLOT,
                plot_top + PLOT + 14.0,
                t / 1_000
            );
        }
        for (i, row) in self.rows.iter().enumerate() {
            let y = TOP + i as f64 * ROW;
            let _ = writeln!(
                out,
                r##"<rect x="{LEFT}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                WIDTH - LEFT - RIGHT,
                ROW - 4.0,
                if i % 2 == 0 { "#f7f7f7" } else { "#fff" },
                LEFT - 6.0,
                y + ROW - 9.0,
                xml::text(row)
            );
        }
        for bar in &self.bars {
            let (x1, x2) = (x(bar.start_ms as f64), x(bar.end_ms as f64));
            let y = TOP + bar.row as f64 * ROW + 2.0;
            let _ = writeln!(
                out,
                r#"<rect class="fault" x="{x1:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}" opacity="0.8"><title>{}</title></rect>"#,
                (x2 - x1).max(1.5),
                ROW - 8.0,
                colour(bar.kind),
                xml::text(&bar.label)
            );
        }
        let heal_x = x(self.heal_ms as f64);
        let _ = writeln!(
            out,
            r##"<line x1="{heal_x:.1}" y1="{:.1}" x2="{heal_x:.1}" y2="{:.1}" stroke="#2ca02c" stroke-dasharray="4 3"/><text x="{heal_x:.1}" y="{:.1}" fill="#2ca02c" text-anchor="middle">heal</text>"##,
            TOP - 6.0,
            plot_top + PLOT,
            TOP - 10.0
        );
        self.plot(&mut out, plot_top, &x);
        self.legend(&mut out, height - 18.0);
        out.push_str("</svg>");
        out
    }

    /// The latency scatter below the rows.
    fn plot(&self, out: &mut String, top: f64, x: &impl Fn(f64) -> f64) {
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{PLOT}" fill="none" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="end">delivery latency</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666">by time accepted</text>"##,
            WIDTH - LEFT - RIGHT,
            LEFT - 50.0,
            top + PLOT / 2.0,
            LEFT - 50.0,
            top + PLOT / 2.0 + 14.0
        );
        if !self.has_trace {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#999">no trace saved for this seed: latencies unknown</text>"##,
                (LEFT + WIDTH) / 2.0,
                top + PLOT / 2.0
            );
            return;
        }
        let latency_max = self
            .dots
            .iter()
            .filter_map(|d| d.latency_ms)
            .fold(1.0_f64, f64::max);
        // Missing messages sit in a band at the top, above every latency.
        let band = 14.0;
        let y = |ms: f64| top + PLOT - (PLOT - band - 4.0) * (ms / latency_max);
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666">{:.0} ms</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666">0</text>"##,
            LEFT - 6.0,
            y(latency_max) + 4.0,
            latency_max,
            LEFT - 6.0,
            top + PLOT,
        );
        if self.dots.iter().any(|d| d.fate == Fate::Missing) {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#d62728">never arrived</text>"##,
                LEFT - 6.0,
                top + band - 2.0
            );
        }
        for dot in &self.dots {
            let cx = x(dot.accepted_ms);
            let title = match (dot.fate, dot.latency_ms) {
                (Fate::Delivered, Some(ms)) => {
                    format!("{}: delivered {ms:.0} ms after acceptance", dot.msg)
                }
                (Fate::Quarantined, _) => format!("{}: quarantined", dot.msg),
                _ => format!("{}: accepted, never arrived", dot.msg),
            };
            let title = xml::text(&title);
            let _ = match (dot.fate, dot.latency_ms) {
                (Fate::Delivered, Some(ms)) if dot.implicated => writeln!(
                    out,
                    r##"<circle class="msg implicated" cx="{cx:.1}" cy="{:.1}" r="5" fill="#d62728" stroke="#5a0000" stroke-width="1.5"><title>{title} (named by a violation)</title></circle>"##,
                    y(ms)
                ),
                (Fate::Delivered, Some(ms)) => writeln!(
                    out,
                    r##"<circle class="msg" cx="{cx:.1}" cy="{:.1}" r="3" fill="#1f77b4" opacity="0.75"><title>{title}</title></circle>"##,
                    y(ms)
                ),
                (Fate::Quarantined, _) => writeln!(
                    out,
                    r##"<circle class="msg" cx="{cx:.1}" cy="{:.1}" r="3" fill="none" stroke="#7f7f7f"><title>{title}</title></circle>"##,
                    top + PLOT - 4.0
                ),
                _ => {
                    let cy = top + band / 2.0 + 1.0;
                    writeln!(
                        out,
                        r##"<path class="msg missing" d="M{:.1} {:.1}l6 6m0 -6l-6 6" stroke="#d62728" stroke-width="2"><title>{title}</title></path>"##,
                        cx - 3.0,
                        cy - 3.0
                    )
                }
            };
        }
    }

    fn legend(&self, out: &mut String, y: f64) {
        let mut kinds: Vec<&str> = self.bars.iter().map(|b| b.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut lx = LEFT;
        for kind in kinds {
            let _ = writeln!(
                out,
                r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                y - 9.0,
                colour(kind),
                lx + 16.0,
                y,
                kind.replace('_', " ")
            );
            lx += 30.0 + 6.5 * kind.len() as f64;
        }
        let entries = [
            ("#1f77b4", "delivered (height: latency)"),
            ("#d62728", "named by a violation"),
            ("#7f7f7f", "quarantined"),
            ("#d62728", "× accepted, never arrived"),
        ];
        // Without a trace there are no dots to explain.
        let entries = if self.has_trace { &entries[..] } else { &[] };
        for &(fill, text) in entries {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{fill}"/><text x="{:.1}" y="{y:.1}">{text}</text>"#,
                lx + 5.0,
                y - 4.0,
                lx + 14.0
            );
            lx += 30.0 + 6.0 * text.len() as f64;
        }
    }
}

/// One dot per accepted message, from the log's ground truth.
fn dots(log: &Log, reasons: &[String]) -> Vec<Dot> {
    let mut accepted: BTreeMap<&str, u64> = BTreeMap::new();
    let mut arrived: BTreeMap<&str, u64> = BTreeMap::new();
    let mut quarantined: BTreeMap<&str, ()> = BTreeMap::new();
    for event in log.events() {
        match &event.kind {
            EventKind::SendOutcome {
                msg,
                told: Told::Accepted,
                ..
            } => {
                accepted.entry(msg).or_insert(event.t_us);
            }
            EventKind::MailboxReceived {
                msg,
                dsn_about: None,
                ..
            } => {
                arrived.entry(msg).or_insert(event.t_us);
            }
            EventKind::GwQuarantined { msg, .. } => {
                quarantined.insert(msg, ());
            }
            _ => {}
        }
    }
    accepted
        .into_iter()
        .map(|(msg, at)| {
            let (latency_ms, fate) = match arrived.get(msg) {
                Some(&got) => (
                    Some(got.saturating_sub(at) as f64 / 1_000.0),
                    Fate::Delivered,
                ),
                None if quarantined.contains_key(msg) => (None, Fate::Quarantined),
                None => (None, Fate::Missing),
            };
            Dot {
                msg: msg.to_string(),
                accepted_ms: at as f64 / 1_000.0,
                latency_ms,
                fate,
                implicated: reasons.iter().any(|r| names(r, msg)),
            }
        })
        .collect()
}

/// Whether `text` names message `id` as a whole word (`m3.s1@x` is not
/// named by `m13.s1@x`).
fn names(text: &str, id: &str) -> bool {
    text.match_indices(id).any(|(at, _)| {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || "._-@".contains(c));
        let before = text[..at].chars().next_back();
        // A full stop after the id ends a sentence unless more of a name follows.
        let mut after = text[at + id.len()..].chars();
        let after = match after.next() {
            Some('.') => after.next().filter(|c| c.is_alphanumeric()),
            other => other,
        };
        !word(before) && !word(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Family;

    #[test]
    fn a_region_outage_draws_a_bar_on_its_region_and_a_heal_line() {
        let scenario = Scenario::generate_family(3, Family::RegionOutage);
        let timeline = Timeline::build(&scenario, None, &[]);
        assert!(!timeline.bars.is_empty());
        assert!(
            timeline
                .bars
                .iter()
                .all(|b| b.end_ms <= scenario.phases.heal_at_ms)
        );
        let svg = timeline.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("class=\"fault\""));
        assert!(svg.contains(">heal<"));
        assert!(svg.contains("no trace saved"));
    }

    #[test]
    fn a_trace_gives_one_dot_per_accepted_message() {
        let scenario = Scenario::generate_family(1, Family::Calm);
        let outcome = crate::run::run(&scenario, 1);
        let reasons = vec!["malicious message m1.s1@mailsim.test was delivered".to_string()];
        let timeline = Timeline::build(&scenario, Some(&outcome.log), &reasons);
        // A message to several tenants is accepted once per transaction
        // (the gateway defers other tenants' recipients to a new one), so
        // the dots are the distinct messages the senders were told 250 for.
        let accepted: std::collections::BTreeSet<&str> = outcome
            .log
            .events()
            .iter()
            .filter_map(|event| match &event.kind {
                EventKind::SendOutcome {
                    msg,
                    told: Told::Accepted,
                    ..
                } => Some(msg.as_str()),
                _ => None,
            })
            .collect();
        assert!(outcome.counts.accepted > accepted.len() as u64);
        assert_eq!(timeline.dots.len(), accepted.len());
        assert!(timeline.dots.iter().any(|d| d.fate == Fate::Delivered));
        assert!(timeline.svg().contains("class=\"msg\""));
        let implicated: Vec<&str> = timeline
            .dots
            .iter()
            .filter(|d| d.implicated)
            .map(|d| d.msg.as_str())
            .collect();
        assert!(
            implicated.iter().all(|m| *m == "m1.s1@mailsim.test"),
            "{implicated:?}"
        );
    }

    #[test]
    fn message_ids_are_matched_as_whole_words() {
        assert!(names("lost m3.s1@x.test at t=5", "m3.s1@x.test"));
        assert!(!names("lost m13.s1@x.test", "m3.s1@x.test"));
        assert!(!names("lost m3.s1@x.testing", "m3.s1@x.test"));
        assert!(names("lost m3.s1@x.test.", "m3.s1@x.test"));
    }
}
