//! The property checkers: named, pure functions over one run's observation
//! log plus the [`Facts`] the simulator knows, each returning the violations
//! it found with a reason and the events that prove it.
//!
//! Jepsen style, every verdict rests on ground truth seen from outside the
//! gateway: what senders were told, what mailbox servers received, where a
//! message's bytes were, and what scanners said. The gateway's `gw_*`
//! self-reports feed only the [`Sometimes`] counters, which say which hard
//! states a run reached, never whether it passed.
//!
//! [`all`] is the registry; [`check_all`] runs every property over one shared
//! [`Outcomes`] view and adds the [`Figures`] and [`Sometimes`] counters.

use serde::{Deserialize, Serialize};
use traces::Log;

pub mod facts;
pub mod figures;
pub mod sometimes;
pub mod view;

pub mod ack_durable;
pub mod drained_after_heal;
pub mod dsn_correct;
pub mod dsn_status;
pub mod duplicates_bounded;
pub mod expiry_honoured;
pub mod integrity;
pub mod no_acked_loss;
pub mod no_false_bounce;
pub mod no_false_quarantine;
pub mod no_malware_delivered;
pub mod no_retry_after_refusal;
pub mod no_unacked_delivery;
pub mod order_after_recovery;
pub mod progress;
pub mod provenance;
pub mod recipients_only;
pub mod residency;
pub mod retry_paced;
pub mod size_limit;
pub mod tenant_isolation;
pub mod unknown_recipients_refused;
pub mod verdict_before_delivery;

#[cfg(test)]
mod testkit;

pub use facts::{Facts, MessageFacts, OutageWindow, TenantFacts};
pub use figures::{Figures, Share, figures};
pub use sometimes::{Sometimes, sometimes};
pub use view::{Outcomes, Pair};

/// Whether a property forbids something ever happening, or demands that
/// something eventually does.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Safety,
    Liveness,
}

/// One broken promise, with the events that show it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property's name, as in [`all`].
    pub property: String,
    pub kind: Kind,
    /// What went wrong, for a person: message, recipient, hosts, times.
    pub reason: String,
    /// Indices into `log.events()`, ascending, that prove it.
    pub events: Vec<usize>,
}

impl Violation {
    /// A violation with its evidence sorted and deduplicated, so the same
    /// finding always prints the same way.
    pub fn new(property: &str, kind: Kind, reason: String, mut events: Vec<usize>) -> Self {
        events.sort_unstable();
        events.dedup();
        Violation {
            property: property.to_string(),
            kind,
            reason,
            events,
        }
    }
}

/// A registered property.
#[derive(Clone, Copy, Debug)]
pub struct Property {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
    /// Checks one log on its own (builds its own view).
    pub check: fn(&Log, &Facts) -> Vec<Violation>,
    /// Checks a view already built, so [`check_all`] indexes the log once.
    pub judge: fn(&Outcomes<'_>) -> Vec<Violation>,
}

/// Declares a property module's registry entry from its constants.
macro_rules! property {
    ($module:ident) => {
        Property {
            name: $module::NAME,
            kind: $module::KIND,
            description: $module::DESCRIPTION,
            check: $module::check,
            judge: $module::judge,
        }
    };
}

static ALL: [Property; 23] = [
    property!(no_acked_loss),
    property!(ack_durable),
    property!(integrity),
    property!(size_limit),
    property!(no_false_quarantine),
    property!(no_false_bounce),
    property!(no_retry_after_refusal),
    property!(retry_paced),
    property!(no_unacked_delivery),
    property!(duplicates_bounded),
    property!(recipients_only),
    property!(unknown_recipients_refused),
    property!(tenant_isolation),
    property!(verdict_before_delivery),
    property!(no_malware_delivered),
    property!(residency),
    property!(dsn_correct),
    property!(dsn_status),
    property!(provenance),
    property!(expiry_honoured),
    property!(drained_after_heal),
    property!(progress),
    property!(order_after_recovery),
];

/// Every property, in a fixed order (reports list them in this order).
pub fn all() -> &'static [Property] {
    &ALL
}

/// The property called `name`.
pub fn by_name(name: &str) -> Option<&'static Property> {
    ALL.iter().find(|p| p.name == name)
}

/// The whole judgement of one run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Report {
    /// (property name, passed, number of violations), in [`all`] order.
    pub verdicts: Vec<(String, bool, usize)>,
    /// Every violation, grouped by property in [`all`] order.
    pub violations: Vec<Violation>,
    pub figures: Figures,
    pub sometimes: Sometimes,
}

impl Report {
    pub fn has_safety_violation(&self) -> bool {
        self.violations.iter().any(|v| v.kind == Kind::Safety)
    }

    pub fn has_liveness_violation(&self) -> bool {
        self.violations.iter().any(|v| v.kind == Kind::Liveness)
    }

    /// Whether every property held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Runs every property over one view of the log, plus figures and counters.
pub fn check_all(log: &Log, facts: &Facts) -> Report {
    let view = Outcomes::build(log, facts);
    let mut verdicts = Vec::with_capacity(ALL.len());
    let mut violations = Vec::new();
    for property in all() {
        let found = (property.judge)(&view);
        verdicts.push((property.name.to_string(), found.is_empty(), found.len()));
        violations.extend(found);
    }
    Report {
        verdicts,
        violations,
        figures: figures::from_view(&view),
        sometimes: sometimes::from_view(&view),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{clean_run, facts};
    use traces::Told;

    #[test]
    fn the_registry_names_twenty_three_distinct_properties_matching_their_modules() {
        let names: std::collections::BTreeSet<&str> = all().iter().map(|p| p.name).collect();
        assert_eq!(names.len(), 23);
        assert!(names.contains("unknown_recipients_refused"));
        assert!(names.contains("no_retry_after_refusal"));
        assert!(names.contains("size_limit"));
        assert!(names.contains("order_after_recovery"));
        assert!(names.contains("expiry_honoured"));
        assert!(names.contains("no_acked_loss"));
        assert!(names.contains("drained_after_heal"));
        assert_eq!(
            by_name("drained_after_heal").map(|p| p.kind),
            Some(Kind::Liveness)
        );
        assert!(all().iter().all(|p| !p.description.is_empty()));
    }

    #[test]
    fn a_clean_run_passes_every_property() {
        let run = clean_run();
        let report = check_all(&run.log, &facts());
        assert!(
            report.passed(),
            "unexpected violations: {:#?}",
            report.violations
        );
        assert_eq!(report.verdicts.len(), all().len());
        assert!(
            report
                .verdicts
                .iter()
                .all(|(_, passed, n)| *passed && *n == 0)
        );
        assert!(!report.has_safety_violation());
        assert!(!report.has_liveness_violation());
    }

    #[test]
    fn check_all_agrees_with_each_property_checked_alone() {
        let mut run = clean_run();
        // An unacknowledged delivery and a lost acknowledged pair.
        run.deliver("m-unknown", "bob@acme.example", "mbx-acme");
        run.send("m-lost", Told::Accepted, &["bob@acme.example"]);
        let facts = facts();
        let report = check_all(&run.log, &facts);
        for property in all() {
            let alone = (property.check)(&run.log, &facts);
            let together: Vec<&Violation> = report
                .violations
                .iter()
                .filter(|v| v.property == property.name)
                .collect();
            assert_eq!(
                alone.iter().collect::<Vec<_>>(),
                together,
                "{}",
                property.name
            );
        }
        assert!(report.has_safety_violation());
        assert!(report.has_liveness_violation());
    }

    #[test]
    fn a_report_round_trips_through_json() {
        let run = clean_run();
        let report = check_all(&run.log, &facts());
        let text = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }
}
