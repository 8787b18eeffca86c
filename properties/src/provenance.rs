//! `provenance`: every event came from the class of host that may report
//! its kind, so each property's ground truth is what it claims to be.
//!
//! Any host could once report any event kind through `Env::observe`: a
//! gateway could log a `fault_started {disk_lost}` about itself and buy
//! the duplicate allowance a lost disk grants, or speak for a mailbox. The
//! seam now refuses an event whose kind belongs to another class of host
//! (`traces::Source`) and records `event_refused` instead; this property
//! fails every run with one, and also judges a log from elsewhere: world
//! events only under `world` (crashes and restarts under the host they
//! happened to), the seam's and the gateway's only under gateway-side hosts
//! (those that stored or received bytes, or wrote a `gw_*`), never under a
//! sender's or mailbox's name.

use std::collections::BTreeSet;

use traces::{EventKind, Log, Source};

use crate::view::{Outcomes, WORLD, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "provenance";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "each event kind comes only from its class of host (world, seam, sender, mailbox, scanner, gateway)";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    // Hosts seen speaking as senders or mailboxes: nothing else may be
    // reported under their names but crashes and restarts.
    let mut outside: BTreeSet<&str> = BTreeSet::new();
    for event in view.events {
        if matches!(event.kind.source(), Source::Sender | Source::Mailbox) {
            outside.insert(event.host.as_str());
        }
    }
    let mut out = Vec::new();
    for (index, event) in view.events.iter().enumerate() {
        let host = event.host.as_str();
        let problem = match (&event.kind, event.kind.source()) {
            (EventKind::EventRefused { kind, from }, _) => Some(format!(
                "{host} tried to report `{kind}`, which only a {from:?} host may (refused at the seam)"
            )),
            (EventKind::HostCrashed {} | EventKind::HostRestarted {}, _) => None,
            (_, Source::World) if host != WORLD => Some(format!(
                "`{}` was reported by {host}, not by the world",
                event.kind.name()
            )),
            (_, Source::Seam | Source::Gateway | Source::Scanner) if outside.contains(host) => {
                Some(format!(
                    "`{}` was reported under {host}, a sender's or mailbox's name",
                    event.kind.name()
                ))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            out.push(Violation::new(
                NAME,
                KIND,
                format!("{problem} at {}", ms(event.t_us)),
                vec![index],
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};
    use traces::Told;

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn an_event_refused_at_the_seam_is_reported() {
        let mut run = Run::new();
        run.push(
            "gw-eu-west-1-0",
            EventKind::EventRefused {
                kind: "fault_started".into(),
                from: Source::World,
            },
        );
        assert_reported(&check(&run.log, &facts()), NAME, "refused at the seam");
    }

    #[test]
    fn a_disk_lost_reported_by_a_gateway_is_reported_and_buys_no_allowance() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.store("m1", "eu-west-1", "spool/m1");
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        run.push(
            "gw-eu-west-1-0",
            EventKind::FaultStarted {
                fault: 9,
                kind: "disk_lost".into(),
                target: "gw-eu-west-1-0".into(),
            },
        );
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        let facts = facts();
        assert_reported(&check(&run.log, &facts), NAME, "not by the world");
        let dups = crate::duplicates_bounded::check(&run.log, &facts);
        assert_eq!(dups.len(), 1, "the forged disk loss excused a duplicate");
    }

    #[test]
    fn a_scan_verdict_under_a_mailbox_name_is_reported() {
        let mut run = Run::new();
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        run.push(
            "mbx-acme",
            EventKind::ScanVerdict {
                msg: "m1".into(),
                verdict: traces::Verdict::Clean,
                input_sha256: "00".into(),
            },
        );
        assert_reported(
            &check(&run.log, &facts()),
            NAME,
            "a sender's or mailbox's name",
        );
    }
}
