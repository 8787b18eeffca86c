//! "Sometimes" counters: how often a run reached the hard states the tests
//! exist for — failovers, fencing, outages hitting open sessions, scans that
//! had to wait, lost replies, bounces, quarantines.
//!
//! They never pass or fail a run. Across many seeds they show whether the
//! fault schedule actually exercises the paths the properties guard: a suite
//! where `failovers` is always zero proves nothing about failover. This is
//! the one place the gateway's `gw_*` self-reports are read, since only the
//! gateway knows it failed over or was fenced.

use serde::{Deserialize, Serialize};
use traces::{EventKind, Log, Told};

use crate::Facts;
use crate::view::Outcomes;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Sometimes {
    /// `gw_note` what=failover: a node took over another's spool.
    pub failovers: u64,
    /// `gw_note` what=fenced: a stale owner was stopped from acting.
    pub fenced_attempts: u64,
    /// `send_outcome`s told deferred or indefinite inside an outage window:
    /// the outage caught a session in flight.
    pub outage_hit_open_session: u64,
    /// `gw_note` what=scan_waited: delivery held for a slow scanner.
    pub scans_waited: u64,
    /// `send_outcome`s told indefinite (RFC 1047 window).
    pub indefinite_outcomes: u64,
    /// DSNs that reached a mailbox.
    pub dsns_sent: u64,
    /// Distinct messages stored in a quarantine.
    pub quarantines: u64,
    /// Delivered copies beyond the first that an indefinite reply excused:
    /// the duplicate path exercised end to end.
    pub excused_duplicates: u64,
    /// Hosts the world crashed.
    pub host_crashes: u64,
}

/// The counters of one run.
pub fn sometimes(log: &Log, facts: &Facts) -> Sometimes {
    from_view(&Outcomes::build(log, facts))
}

/// The counters from a view already built.
pub fn from_view(view: &Outcomes<'_>) -> Sometimes {
    let facts = view.facts;
    let mut s = Sometimes::default();
    for event in view.events {
        match &event.kind {
            EventKind::GwNote { what, .. } => match what.as_str() {
                "failover" => s.failovers += 1,
                "fenced" => s.fenced_attempts += 1,
                "scan_waited" => s.scans_waited += 1,
                _ => {}
            },
            EventKind::SendOutcome { told, .. } => {
                if *told == Told::Indefinite {
                    s.indefinite_outcomes += 1;
                }
                if matches!(told, Told::Deferred | Told::Indefinite) && facts.in_outage(event.t_us)
                {
                    s.outage_hit_open_session += 1;
                }
            }
            EventKind::HostCrashed {} => s.host_crashes += 1,
            _ => {}
        }
    }
    s.dsns_sent = view.dsns.len() as u64;
    s.quarantines = view.quarantined.len() as u64;
    s.excused_duplicates = view
        .deliveries
        .iter()
        .map(|(pair, arrivals)| {
            let copies = arrivals.len();
            let allowed = crate::duplicates_bounded::allowed_deliveries(view, pair).max(1);
            copies.min(allowed).saturating_sub(1) as u64
        })
        .sum();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, clean_run, facts};

    #[test]
    fn the_clean_run_reaches_bounce_quarantine_and_indefinite_states() {
        let s = sometimes(&clean_run().log, &facts());
        assert_eq!(s.indefinite_outcomes, 1);
        assert_eq!(s.dsns_sent, 1);
        assert_eq!(s.quarantines, 2);
        assert_eq!(s.excused_duplicates, 1);
        assert_eq!(s.failovers, 0);
    }

    #[test]
    fn gateway_notes_and_outage_deferrals_are_counted() {
        let mut run = Run::new();
        run.note("failover");
        run.note("fenced");
        run.note("fenced");
        run.note("scan_waited");
        run.note("something_else");
        run.at(15_000_000);
        run.send("m1", Told::Deferred, &["bob@acme.example"]);
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        let s = sometimes(&run.log, &facts());
        assert_eq!((s.failovers, s.fenced_attempts, s.scans_waited), (1, 2, 1));
        assert_eq!(s.outage_hit_open_session, 1);
    }
}
