//! `order_after_recovery`: mail for one mailbox server that waited out the
//! same outage of that server is delivered in acceptance order after it
//! returns, within the few passes the gateway runs at once.
//!
//! What the gateway promises (docs/ARCHITECTURE.md, "What order is
//! promised") is narrow, and this judges exactly that, from the outside:
//! - the *wait*: a `mailbox_outage` of the tenant's server ends at `t_end`
//!   (`fault_ended`, from the world); a message waited it out if a 250 for
//!   it came before `t_end` and its first copy at that server came after
//!   (and no later outage of the same server ended before that copy);
//! - *one owner*: its first copy was delivered by the gateway that gave
//!   the 250 (`mailbox_received.client` = the MX of the accepting attempt),
//!   so no failover moved it; mail of different owners is never compared;
//! - *only the server was missing*: a clean or spam verdict came before
//!   `t_end` (mail still waiting for a scanner is not promised), and no
//!   other fault was active from `t_end` until the group's last first copy
//!   — a code-level fault included: once BUGGIFY fired on the owner
//!   (`buggify_fired`, which only the seam records, at a site's first
//!   firing on each host), its passes may stall for a lease (after a
//!   confirmation, say)
//!   and any number may overtake a stalled one, so its groups are not
//!   judged from then on;
//! - *acceptance order*, strictly: A comes before B when A's 250 came
//!   before B's accepting attempt even began, so the gateway had A first
//!   whatever its own clocks say.
//!
//! The owner takes due mail oldest first, at most
//! [`PASSES_PER_DESTINATION`] passes at a time per destination, and the
//! first retry that gets through makes the rest due at once. Passes that
//! were already running when the server returned (retries on their own
//! timers, in any order) may arrive first, and three more run beside any
//! message: so a message may be overtaken by at most
//! `2 × PASSES_PER_DESTINATION − 1` later-accepted ones of its group. More
//! is a gateway draining its queue out of order.

use std::collections::BTreeMap;

use traces::{EventKind, Log, Told, Verdict};

use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "order_after_recovery";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "mail for one mailbox that waited out its outage arrives in \
                               acceptance order after it returns, within the passes in flight";

/// The passes per destination the gateway documents running at once.
pub const PASSES_PER_DESTINATION: usize = 4;

/// Later-accepted messages of its group that may arrive before a message:
/// the passes already running when the server returned, and the three
/// beside it.
pub const OVERTAKERS_MAX: usize = 2 * PASSES_PER_DESTINATION - 1;

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

/// One message of a group: when it was offered and accepted, and its first
/// copy at the server.
#[derive(Clone, Debug)]
struct Waited<'a> {
    msg: &'a str,
    offered_us: u64,
    accepted_us: u64,
    accepted_at: usize,
    arrived_us: u64,
    arrived_at: usize,
}

/// The groups judged: (server, outage end, owner) → messages that waited.
fn groups<'a>(view: &'a Outcomes<'a>) -> Vec<(String, usize, String, Vec<Waited<'a>>)> {
    let windows = view.fault_windows();
    // An outage takes every server of the tenant's down together.
    let outages: Vec<(&str, u64, usize)> = windows
        .iter()
        .filter(|w| w.kind == "mailbox_outage")
        .filter_map(|w| Some((view.facts.tenant(w.target)?, w.end_us?, w.ended_at?)))
        .flat_map(|(tenant, end_us, ended_at)| {
            tenant
                .mailbox_hosts()
                .map(move |host| (host, end_us, ended_at))
        })
        .collect();
    // First copy of each message at each server: (time, index, client).
    let mut first_copy: BTreeMap<(&str, &str), (u64, usize, &str)> = BTreeMap::new();
    for arrivals in view.deliveries.values() {
        for a in arrivals {
            let slot = first_copy
                .entry((a.msg.as_str(), a.host))
                .or_insert((a.t_us, a.index, a.client));
            if a.index < slot.1 {
                *slot = (a.t_us, a.index, a.client);
            }
        }
    }
    let mut out: BTreeMap<(String, usize, String), Vec<Waited<'a>>> = BTreeMap::new();
    for (&(msg, server), &(arrived_us, arrived_at, client)) in &first_copy {
        let Some((accepted_us, accepted_at, offered_us, mx)) = first_acceptance(view, msg) else {
            continue;
        };
        // The last outage of this server that ended before the copy.
        let Some(&(_, end_us, ended_at)) = outages
            .iter()
            .filter(|(host, end_us, _)| *host == server && *end_us <= arrived_us)
            .max_by_key(|(_, end_us, _)| *end_us)
        else {
            continue;
        };
        let scanned_before = view.verdicts.get(msg).is_some_and(|scans| {
            scans
                .iter()
                .any(|s| s.t_us <= end_us && matches!(s.verdict, Verdict::Clean | Verdict::Spam))
        });
        if accepted_us >= end_us || client != mx || !scanned_before {
            continue;
        }
        out.entry((server.to_string(), ended_at, client.to_string()))
            .or_default()
            .push(Waited {
                msg,
                offered_us,
                accepted_us,
                accepted_at,
                arrived_us,
                arrived_at,
            });
    }
    // When BUGGIFY first fired on each host (the seam logs a site once per
    // host).
    let mut buggified: BTreeMap<&str, u64> = BTreeMap::new();
    for event in view.events {
        if matches!(event.kind, EventKind::BuggifyFired { .. }) {
            buggified.entry(event.host.as_str()).or_insert(event.t_us);
        }
    }
    out.into_iter()
        .filter(|((_, _, client), group)| {
            let last_us = group.iter().map(|w| w.arrived_us).max().unwrap_or(0);
            buggified
                .get(client.as_str())
                .is_none_or(|&fired_us| fired_us > last_us)
        })
        .filter(|((_, ended_at, _), group)| {
            // Only the server was missing: nothing else active from its
            // return until the group's last first copy.
            let end_us = view.events[*ended_at].t_us;
            let last_us = group.iter().map(|w| w.arrived_us).max().unwrap_or(end_us);
            !windows.iter().any(|w| {
                w.ended_at != Some(*ended_at)
                    && w.start_us <= last_us
                    && w.end_us.is_none_or(|e| e > end_us)
            })
        })
        .map(|((server, ended_at, client), group)| (server, ended_at, client, group))
        .collect()
}

/// The first 250 for `msg`: (its time, its index, when the attempt behind
/// it began, the MX that attempt spoke to).
fn first_acceptance<'a>(view: &'a Outcomes<'a>, msg: &str) -> Option<(u64, usize, u64, &'a str)> {
    let index = *view.sends_by_msg.get(msg)?.iter().find(|&&i| {
        matches!(
            view.events[i].kind,
            EventKind::SendOutcome {
                told: Told::Accepted,
                ..
            }
        )
    })?;
    let event = &view.events[index];
    let (attempt_at, _, mx) = *view
        .attempts
        .get(msg)?
        .iter()
        .rev()
        .find(|(i, host, _)| *i < index && *host == event.host)?;
    Some((event.t_us, index, view.events[attempt_at].t_us, mx))
}

/// Groups of two or more messages this property judged: a counter for the
/// "sometimes" checks (a suite that never parked mail behind an outage
/// proved nothing about order).
pub fn groups_judged(view: &Outcomes<'_>) -> u64 {
    groups(view)
        .iter()
        .filter(|(_, _, _, group)| group.len() >= 2)
        .count() as u64
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (server, ended_at, client, group) in groups(view) {
        let end_us = view.events[ended_at].t_us;
        for a in &group {
            let overtakers: Vec<&Waited<'_>> = group
                .iter()
                .filter(|b| b.offered_us > a.accepted_us && b.arrived_us < a.arrived_us)
                .collect();
            if overtakers.len() <= OVERTAKERS_MAX {
                continue;
            }
            let mut events = vec![ended_at, a.accepted_at, a.arrived_at];
            events.extend(overtakers.iter().map(|b| b.arrived_at));
            let names: Vec<String> = overtakers
                .iter()
                .map(|b| format!("{} (accepted {})", b.msg, ms(b.accepted_us)))
                .collect();
            out.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "{server} came back at {} and {client} delivered message {} (accepted {}) \
                     at {}, after {} messages accepted later that waited out the same outage: \
                     {} (at most {OVERTAKERS_MAX} may overtake it)",
                    ms(end_us),
                    a.msg,
                    ms(a.accepted_us),
                    ms(a.arrived_us),
                    overtakers.len(),
                    names.join(", ")
                ),
                events,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Arrive, Run, clean_run, facts};
    use crate::view::WORLD;

    /// Nine messages for acme accepted by the testkit's MX while
    /// mbx-acme was down, scanned, then delivered in `order` after it came
    /// back.
    fn parked(order: &[usize]) -> Run {
        let mut run = Run::new();
        run.push(
            WORLD,
            EventKind::FaultStarted {
                fault: 0,
                kind: "mailbox_outage".into(),
                target: "acme".into(),
            },
        );
        let ids: Vec<String> = (0..9).map(|i| format!("p{i}")).collect();
        for id in &ids {
            run.send(id, Told::Accepted, &["bob@acme.example"]);
            run.scan(id, Verdict::Clean);
        }
        run.push(WORLD, EventKind::FaultEnded { fault: 0 });
        for &i in order {
            run.arrive(Arrive {
                msg: &ids[i],
                client: crate::testkit::MX,
                ..Arrive::default()
            });
        }
        run
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn parked_mail_drained_oldest_first_passes_and_is_counted() {
        let run = parked(&[0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(check(&run.log, &facts()), vec![]);
        assert_eq!(groups_judged(&Outcomes::build(&run.log, &facts())), 1);
    }

    #[test]
    fn a_few_passes_in_flight_may_overtake() {
        // Seven later-accepted messages before p0: the passes that were
        // running and those beside it.
        let run = parked(&[3, 2, 1, 4, 5, 6, 7, 0, 8]);
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn parked_mail_drained_newest_first_is_reported() {
        let run = parked(&[8, 7, 6, 5, 4, 3, 2, 1, 0]);
        let found = check(&run.log, &facts());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].reason.contains("message p0"));
        assert!(found[0].reason.contains("after 8 messages accepted later"));
    }

    /// Newest first, with BUGGIFY first firing on `host` before the drain.
    fn buggified_then_drained_newest_first(host: &str) -> Run {
        let mut run = parked(&[]);
        run.push(
            host,
            EventKind::BuggifyFired {
                site: "delivery.stall_after_confirm".into(),
            },
        );
        for i in (0..9).rev() {
            run.arrive(Arrive {
                msg: &format!("p{i}"),
                client: crate::testkit::MX,
                ..Arrive::default()
            });
        }
        run
    }

    #[test]
    fn a_code_level_fault_on_the_owner_excuses_its_order() {
        // A pass stalled by BUGGIFY for a lease may be overtaken by any
        // number: the owner's groups are not judged once it fired.
        let run = buggified_then_drained_newest_first(crate::testkit::MX);
        assert_eq!(check(&run.log, &facts()), vec![]);
        // Elsewhere, it excuses nothing.
        let run = buggified_then_drained_newest_first("gw-us-west-2-0");
        assert_eq!(check(&run.log, &facts()).len(), 1);
    }

    #[test]
    fn mail_of_another_owner_or_still_faulted_is_not_compared() {
        // Delivered by a host other than the one that accepted it: a
        // failover, so no order is promised.
        let mut run = parked(&[]);
        for i in (0..9).rev() {
            run.arrive(Arrive {
                msg: &format!("p{i}"),
                client: "gw-us-west-2-0",
                ..Arrive::default()
            });
        }
        assert_eq!(check(&run.log, &facts()), vec![]);
        assert_eq!(groups_judged(&Outcomes::build(&run.log, &facts())), 0);
    }
}
