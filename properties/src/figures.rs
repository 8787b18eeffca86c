//! Figures: numbers that describe a run without passing or failing it —
//! how available ingress stayed while one region was down, how much mail was
//! duplicated, and how long delivery took.
//!
//! They come from ground truth only (what senders were told, what mailboxes
//! received), like the properties, so a dashboard built on them cannot be
//! flattered by the gateway's own bookkeeping. Every figure is computed in
//! integer microseconds and converted at the end, so it is reproducible.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use traces::{EventKind, Log, Told};

use crate::Facts;
use crate::duplicates_bounded::allowed_deliveries;
use crate::facts::msg_key;
use crate::view::Outcomes;

/// A count of accepted outcomes out of a total.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Share {
    pub accepted: u64,
    pub total: u64,
    /// accepted / total; None when there was nothing to count.
    pub share: Option<f64>,
}

impl Share {
    fn add(&mut self, accepted: bool) {
        self.total += 1;
        self.accepted += u64::from(accepted);
    }

    fn finish(mut self) -> Self {
        self.share = (self.total > 0).then(|| self.accepted as f64 / self.total as f64);
        self
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Accepted share of `send_outcome`s inside windows where exactly one
    /// region was down: the outage the product promises to ride through.
    pub availability: Share,
    /// Accepted share of every `send_outcome` in the run.
    pub acceptance_overall: Share,
    /// Availability as a sender sees it: of the messages a sender tried,
    /// the share accepted (some recipient got a 250) within 1, 5 and 30
    /// simulated minutes of its first attempt. The seed's headline is
    /// 99.999% ([`HEADLINE_AVAILABILITY`]).
    #[serde(default)]
    pub accepted_within_1m: Share,
    #[serde(default)]
    pub accepted_within_5m: Share,
    #[serde(default)]
    pub accepted_within_30m: Share,
    /// The 5-minute share for messages first tried during an outage.
    #[serde(default)]
    pub accepted_within_5m_in_outage: Share,
    /// Delivered copies beyond the first, summed over pairs.
    pub duplicates: u64,
    /// Of those, the ones no indefinite reply explains.
    pub unexplained_duplicates: u64,
    /// Deliveries measured for latency (those of messages ever accepted).
    pub latency_samples: u64,
    /// From a message's first accepted outcome to each of its deliveries.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

/// The availability the product promises, as a share of messages.
pub const HEADLINE_AVAILABILITY: f64 = 0.99999;

/// Simulated minutes, in microseconds.
const MINUTE_US: u64 = 60_000_000;

/// The figures of one run.
pub fn figures(log: &Log, facts: &Facts) -> Figures {
    from_view(&Outcomes::build(log, facts))
}

/// The figures from a view already built.
pub fn from_view(view: &Outcomes<'_>) -> Figures {
    let facts = view.facts;
    let mut availability = Share::default();
    let mut overall = Share::default();
    let mut first_accept: BTreeMap<String, u64> = BTreeMap::new();
    for event in view.events {
        if let EventKind::SendOutcome { msg, told, .. } = &event.kind {
            let accepted = *told == Told::Accepted;
            overall.add(accepted);
            if facts.in_single_region_outage(event.t_us) {
                availability.add(accepted);
            }
            if accepted {
                first_accept.entry(msg_key(msg)).or_insert(event.t_us);
            }
        }
    }

    // Mail refused for good (an unknown user: 5xx) and never accepted is
    // not the gateway's to take; it is left out of the availability shares.
    let refused_only = |msg: &str| {
        !first_accept.contains_key(msg)
            && view.sends_by_msg.get(msg).is_some_and(|sends| {
                sends.iter().any(|&i| {
                    matches!(
                        view.events[i].kind,
                        EventKind::SendOutcome {
                            told: Told::Rejected,
                            ..
                        }
                    )
                })
            })
    };
    let mut first_attempt: BTreeMap<String, u64> = BTreeMap::new();
    for (msg, attempts) in &view.attempts {
        if refused_only(msg) {
            continue;
        }
        if let Some(&(index, _, _)) = attempts.first() {
            first_attempt.insert(msg.clone(), view.events[index].t_us);
        }
    }
    let mut within = [
        Share::default(),
        Share::default(),
        Share::default(),
        Share::default(),
    ];
    for (msg, &tried_at) in &first_attempt {
        let waited = first_accept.get(msg).map(|&t| t.saturating_sub(tried_at));
        for (share, minutes) in within[..3].iter_mut().zip([1, 5, 30]) {
            share.add(waited.is_some_and(|w| w <= minutes * MINUTE_US));
        }
        if facts.in_outage(tried_at) {
            within[3].add(waited.is_some_and(|w| w <= 5 * MINUTE_US));
        }
    }
    let [within_1m, within_5m, within_30m, within_5m_in_outage] = within;

    let mut duplicates = 0u64;
    let mut unexplained = 0u64;
    let mut latencies_us: Vec<u64> = Vec::new();
    for (pair, arrivals) in &view.deliveries {
        let copies = arrivals.len();
        duplicates += copies.saturating_sub(1) as u64;
        // Unexplained beyond what the sender's outcomes allow, but a lone
        // uncovered copy is not a duplicate (no_unacked_delivery has it).
        let allowed = allowed_deliveries(view, pair).max(1);
        unexplained += copies.saturating_sub(allowed) as u64;
        if let Some(&accepted_at) = first_accept.get(&pair.msg) {
            latencies_us.extend(arrivals.iter().map(|a| a.t_us.saturating_sub(accepted_at)));
        }
    }
    latencies_us.sort_unstable();

    Figures {
        availability: availability.finish(),
        acceptance_overall: overall.finish(),
        accepted_within_1m: within_1m.finish(),
        accepted_within_5m: within_5m.finish(),
        accepted_within_30m: within_30m.finish(),
        accepted_within_5m_in_outage: within_5m_in_outage.finish(),
        duplicates,
        unexplained_duplicates: unexplained,
        latency_samples: latencies_us.len() as u64,
        latency_p50_ms: percentile_ms(&latencies_us, 50),
        latency_p99_ms: percentile_ms(&latencies_us, 99),
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
fn percentile_ms(sorted_us: &[u64], percent: usize) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = (percent * sorted_us.len()).div_ceil(100).max(1);
    let us = sorted_us[rank.min(sorted_us.len()) - 1];
    Some(us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, clean_run, facts};

    #[test]
    fn availability_counts_only_outcomes_inside_single_region_outages() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]); // before the outage
        run.at(10_000_000);
        run.send("m2", Told::Accepted, &["dave@globex.example"]);
        run.send("m3", Told::Deferred, &["bob@acme.example"]);
        run.at(20_000_000);
        run.send("m3", Told::Accepted, &["bob@acme.example"]); // after it
        let f = figures(&run.log, &facts());
        assert_eq!((f.availability.accepted, f.availability.total), (1, 2));
        assert_eq!(f.availability.share, Some(0.5));
        assert_eq!(
            (f.acceptance_overall.accepted, f.acceptance_overall.total),
            (3, 4)
        );
    }

    #[test]
    fn the_clean_run_has_one_excused_duplicate_and_measured_latency() {
        let f = figures(&clean_run().log, &facts());
        assert_eq!(f.duplicates, 1);
        assert_eq!(f.unexplained_duplicates, 0);
        // m1 twice, m2 once, m6 twice.
        assert_eq!(f.latency_samples, 5);
        assert!(f.latency_p50_ms.is_some());
        assert!(f.latency_p99_ms >= f.latency_p50_ms);
        assert_eq!(f.availability.share, None);
    }

    #[test]
    fn availability_as_a_sender_sees_it_counts_minutes_from_the_first_attempt() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.send("m2", Told::Deferred, &["dave@globex.example"]);
        run.at(3 * MINUTE_US);
        run.send("m2", Told::Accepted, &["dave@globex.example"]);
        run.send("m3", Told::Deferred, &["bob@acme.example"]);
        let f = figures(&run.log, &facts());
        let counts = |s: &Share| (s.accepted, s.total);
        assert_eq!(counts(&f.accepted_within_1m), (1, 3));
        assert_eq!(counts(&f.accepted_within_5m), (2, 3));
        assert_eq!(counts(&f.accepted_within_30m), (2, 3));
        assert_eq!(counts(&f.accepted_within_5m_in_outage), (0, 0));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let us: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&us, 50), Some(50.0));
        assert_eq!(percentile_ms(&us, 99), Some(99.0));
        assert_eq!(percentile_ms(&[7_000], 99), Some(7.0));
        assert_eq!(percentile_ms(&[], 50), None);
    }
}
