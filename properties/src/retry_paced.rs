//! `retry_paced`: a recipient its server deferred is not offered to that
//! server again by the same client before the deployed minimal backoff.
//!
//! RFC 5321 §4.5.4.1: "the sender MUST delay retrying a particular
//! destination after one attempt has failed". A gateway that retries at
//! once delivers everything in the end and passes every other property,
//! while it hammers a greylisting or failing server (and, on a real
//! greylist, resets its clock by never waiting). The gateway's own
//! schedule is declared in its deployment (`knobs.backoff_ms_min`, in
//! [`Facts::retry_backoff_us_min`]), as its queue lifetime is.
//!
//! Judged from the mailbox side alone, per offer (server, client host,
//! envelope sender, recipient). An offer fails for now when the server
//! answers its RCPT with a 4xx (greylisting), or refuses it after DATA
//! with a 4xx, or keeps it but loses its reply (`mailbox_reply_lost`: the
//! client did not hear the 250 and must treat the attempt as failed; it
//! counts from when the data arrived, since the client may have given up
//! on the reply at any time after its final dot, and a tarpit writes the
//! late 250 into the dead session, and logs it lost, long after). The
//! next offer of the same recipient by the same client to the same server
//! must come at least the minimal backoff later, unless:
//! - the destination took mail from that client meanwhile (a delivery or a
//!   5xx at any server of the recipient's domain): a client may then try
//!   what it holds for that destination at once, as the gateway does;
//! - that client crashed, or a fault concerning it (its host, region,
//!   cloud or links: a clock stepped forward, a pause, a partition that may
//!   move ownership and back) was active in between, or BUGGIFY fired on
//!   it by then: its clock or its memory of the schedule is not the world's.
//!
//! A refusal at RCPT names no message, so only offers the workload made
//! unambiguous are judged: the envelope sender is not null, and one sender
//! attempt in the whole run may have left the client a copy of mail from
//! that sender to that recipient (two copies would each keep their own
//! schedule, and their offers interleave honestly).

use std::collections::BTreeMap;

use traces::{EventKind, Log};

use crate::facts::{addr_key, domain_of, msg_key};
use crate::no_retry_after_refusal::copies_offered_at_most;
use crate::view::{FaultWindow, Outcomes, duration_ms, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "retry_paced";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "a recipient its server deferred (4xx, or a reply lost after DATA) \
                               is not offered again by the same client before the deployed \
                               minimal backoff, unless that destination took mail from it \
                               meanwhile (RFC 5321 §4.5.4.1)";

/// What the gateway's millisecond clock may cost a retry measured in the
/// log's microseconds (it schedules from a time rounded down to the ms).
const ROUNDING_US: u64 = 1_000;

/// (server, client host, normalised envelope sender, normalised recipient).
type Offer = (String, String, String, String);

/// One offer of a recipient to a server, as the server saw it.
#[derive(Clone, Copy, Debug)]
struct Knock {
    index: usize,
    t_us: u64,
    /// It failed for now: a retry must wait.
    deferred: bool,
    /// It settled the recipient at that server (a 250 heard, or a 5xx).
    took: bool,
}

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    judged_retries(view).violations
}

/// The retries judged in a run and those that came too soon.
#[derive(Default)]
pub struct Judged {
    pub retries: u64,
    pub violations: Vec<Violation>,
}

pub fn judged_retries(view: &Outcomes<'_>) -> Judged {
    let mut judged = Judged::default();
    let min_us = view.facts.retry_backoff_us_min;
    if min_us == 0 {
        return judged;
    }
    let knocks = knocks_by_offer(view);
    let windows = view.fault_windows();
    for ((server, client, sender, rcpt), offers) in &knocks {
        if sender.is_empty() || copies_offered_at_most(view, sender, rcpt) != 1 {
            continue;
        }
        for pair in offers.windows(2) {
            let (failed, next) = (pair[0], pair[1]);
            if !failed.deferred {
                continue;
            }
            judged.retries += 1;
            let gap_us = next.t_us.saturating_sub(failed.t_us);
            if gap_us + ROUNDING_US >= min_us
                || destination_took_mail(view, &knocks, client, rcpt, failed, next)
                || client_disturbed(view, &windows, client, failed.t_us, next.t_us)
            {
                continue;
            }
            judged.violations.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "{client} offered {rcpt} (mail from {sender}) to {server} again at {} only \
                     {} after it was deferred at {}, with nothing taken from it by that \
                     destination meanwhile: the deployed minimal backoff is {}",
                    ms(next.t_us),
                    duration_ms(gap_us),
                    ms(failed.t_us),
                    duration_ms(min_us),
                ),
                vec![failed.index, next.index],
            ));
        }
    }
    judged
}

/// Every offer the mailbox servers saw, by offer, in log order.
fn knocks_by_offer(view: &Outcomes<'_>) -> BTreeMap<Offer, Vec<Knock>> {
    let mut out: BTreeMap<Offer, Vec<Knock>> = BTreeMap::new();
    // (server, message, recipient) → the offer of its last arrival and
    // when the data arrived, for the lost reply that follows it.
    let mut arrived: BTreeMap<(&str, String, String), (Offer, u64)> = BTreeMap::new();
    for (index, event) in view.events.iter().enumerate() {
        let server = event.host.as_str();
        let t_us = event.t_us;
        let knock = |deferred, took| Knock {
            index,
            t_us,
            deferred,
            took,
        };
        match &event.kind {
            EventKind::MailboxReceived {
                msg,
                rcpt,
                mail_from,
                client,
                ..
            } => {
                let offer = offer(server, client, mail_from, rcpt);
                arrived.insert(
                    (server, msg_key(msg), addr_key(rcpt)),
                    (offer.clone(), t_us),
                );
                out.entry(offer).or_default().push(knock(false, true));
            }
            EventKind::MailboxRefused {
                mail_from: Some(mail_from),
                client,
                rcpts,
                code,
                ..
            } => {
                let deferred = (400..500).contains(code);
                for rcpt in rcpts {
                    out.entry(offer(server, client, mail_from, rcpt))
                        .or_default()
                        .push(knock(deferred, !deferred));
                }
            }
            EventKind::MailboxReplyLost { msg, rcpts } => {
                for rcpt in rcpts {
                    let key = (server, msg_key(msg), addr_key(rcpt));
                    if let Some((offer, data_us)) = arrived.get(&key) {
                        out.entry(offer.clone()).or_default().push(Knock {
                            t_us: *data_us,
                            ..knock(true, false)
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn offer(server: &str, client: &str, mail_from: &str, rcpt: &str) -> Offer {
    (
        server.to_string(),
        client.to_string(),
        addr_key(mail_from),
        addr_key(rcpt),
    )
}

/// Whether a server of `rcpt`'s domain took mail (any sender, any
/// recipient) from `client` between the two offers: the destination is
/// back, and a client may try what it holds for it at once.
fn destination_took_mail(
    view: &Outcomes<'_>,
    knocks: &BTreeMap<Offer, Vec<Knock>>,
    client: &str,
    rcpt: &str,
    failed: Knock,
    next: Knock,
) -> bool {
    let servers = servers_of(view, rcpt);
    knocks
        .iter()
        .filter(|((server, by, _, _), _)| by == client && servers.iter().any(|s| s == server))
        .flat_map(|(_, offers)| offers)
        .any(|k| k.took && failed.index < k.index && k.index < next.index)
}

/// The mail servers of `rcpt`'s domain: its tenant's route, or the
/// external server of that domain.
fn servers_of(view: &Outcomes<'_>, rcpt: &str) -> Vec<String> {
    if let Some(tenant) = view.facts.tenant_for_address(rcpt) {
        return tenant.mailbox_hosts().map(str::to_string).collect();
    }
    let domain = domain_of(rcpt).unwrap_or_default().to_ascii_lowercase();
    view.facts
        .external_mailboxes
        .iter()
        .filter(|(d, _)| d.eq_ignore_ascii_case(&domain))
        .map(|(_, host)| host.clone())
        .collect()
}

/// Whether something other than the server may have moved `client`'s
/// schedule between `from_us` and `to_us`: a crash or restart of it, a
/// fault whose target names it, its region or its cloud (host names carry
/// both) active at any point in between, or BUGGIFY fired on it.
fn client_disturbed(
    view: &Outcomes<'_>,
    windows: &[FaultWindow<'_>],
    client: &str,
    from_us: u64,
    to_us: u64,
) -> bool {
    let concerns = |target: &str| {
        target.split(',').any(|part| {
            let part = part.trim();
            !part.is_empty() && client.contains(part)
        })
    };
    let faulted = windows.iter().any(|w| {
        concerns(w.target) && w.start_us <= to_us && w.end_us.is_none_or(|end| end >= from_us)
    });
    faulted
        || view.events.iter().any(|e| {
            e.host == client
                && match e.kind {
                    EventKind::HostCrashed {} | EventKind::HostRestarted {} => {
                        from_us <= e.t_us && e.t_us <= to_us
                    }
                    EventKind::BuggifyFired { .. } => e.t_us <= to_us,
                    _ => false,
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Arrive, MX, Run, assert_reported, clean_run, facts};
    use traces::Told;

    const BOB: &str = "bob@acme.example";
    const ERIN: &str = "erin@sender.example";

    fn paced_facts() -> Facts {
        Facts {
            retry_backoff_us_min: 1_000_000,
            ..facts()
        }
    }

    fn greylist(run: &mut Run, client: &str) -> usize {
        run.refuse_at_rcpt(client, ERIN, BOB, 451)
    }

    /// `msg` from erin arrives for `rcpt` at `host`, delivered by MX.
    fn arrive_from_erin(run: &mut Run, msg: &str, rcpt: &str, host: &str) -> usize {
        run.arrive(Arrive {
            host,
            msg,
            rcpt,
            mail_from: ERIN,
            client: MX,
            ..Arrive::default()
        })
    }

    /// erin's m5 to bob, accepted once; greylisted at `first_us`.
    fn greylisted_m5_at(first_us: u64) -> Run {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.at(first_us);
        greylist(&mut run, MX);
        run
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &paced_facts()), vec![]);
    }

    #[test]
    fn a_retry_after_the_backoff_passes_and_one_before_it_is_reported() {
        let mut run = greylisted_m5_at(10_000_000);
        run.at(11_000_000);
        greylist(&mut run, MX);
        run.at(13_000_000);
        arrive_from_erin(&mut run, "m5", BOB, "mbx-acme");
        assert!(
            judged_retries(&Outcomes::build(&run.log, &paced_facts())).retries >= 1,
            "the retries were judged"
        );
        assert_eq!(check(&run.log, &paced_facts()), vec![]);

        let mut run = greylisted_m5_at(10_000_000);
        run.at(10_200_000);
        greylist(&mut run, MX);
        let found = check(&run.log, &paced_facts());
        assert_reported(&found, NAME, "only 200.000ms after it was deferred");
        assert_eq!(found[0].events.len(), 2);
    }

    #[test]
    fn unknown_backoff_is_not_judged() {
        let mut run = greylisted_m5_at(10_000_000);
        greylist(&mut run, MX);
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn another_client_or_a_permanent_refusal_is_no_early_retry() {
        let mut run = greylisted_m5_at(10_000_000);
        greylist(&mut run, "gw-us-east-1-0");
        assert_eq!(check(&run.log, &paced_facts()), vec![]);
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.refuse_at_rcpt(MX, ERIN, BOB, 550);
        greylist(&mut run, MX);
        assert_eq!(check(&run.log, &paced_facts()), vec![]);
    }

    #[test]
    fn mail_taken_from_the_client_by_that_destination_meanwhile_excuses_it() {
        let mut run = greylisted_m5_at(10_000_000);
        arrive_from_erin(&mut run, "m1", "carol@acme.example", "mbx-acme");
        greylist(&mut run, MX);
        assert_eq!(check(&run.log, &paced_facts()), vec![]);
        // Mail to another domain's server says nothing about this one.
        let mut run = greylisted_m5_at(10_000_000);
        arrive_from_erin(&mut run, "m2", "dave@globex.example", "mbx-globex");
        greylist(&mut run, MX);
        assert_reported(&check(&run.log, &paced_facts()), NAME, "again at");
    }

    #[test]
    fn a_crash_or_a_fault_of_the_client_excuses_it_and_one_of_another_host_does_not() {
        let mut run = greylisted_m5_at(10_000_000);
        run.push(MX, EventKind::HostRestarted {});
        greylist(&mut run, MX);
        assert_eq!(check(&run.log, &paced_facts()), vec![]);

        for (target, excused) in [("eu-west-1", true), ("mbx-acme", false)] {
            let mut run = greylisted_m5_at(10_000_000);
            run.push(
                "world",
                EventKind::FaultStarted {
                    fault: 1,
                    kind: "clock".into(),
                    target: target.into(),
                },
            );
            greylist(&mut run, MX);
            let found = check(&run.log, &paced_facts());
            assert_eq!(found.is_empty(), excused, "fault on {target}: {found:?}");
        }
    }

    #[test]
    fn a_reply_lost_after_data_must_be_waited_out_before_the_copy_is_offered_again() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.at(10_000_000);
        arrive_from_erin(&mut run, "m5", BOB, "mbx-acme");
        run.push(
            "mbx-acme",
            EventKind::MailboxReplyLost {
                msg: "m5".into(),
                rcpts: vec![BOB.into()],
            },
        );
        run.at(10_300_000);
        arrive_from_erin(&mut run, "m5", BOB, "mbx-acme");
        assert_reported(&check(&run.log, &paced_facts()), NAME, "only 300.000ms");
    }

    #[test]
    fn a_reply_lost_counts_from_the_data_not_from_when_a_tarpit_wrote_it() {
        // The 250 a tarpit writes a second late into a session the client
        // hung up on: the client's wait began at its final dot at the latest.
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &[BOB]);
        run.at(10_000_000);
        arrive_from_erin(&mut run, "m5", BOB, "mbx-acme");
        run.at(11_000_000);
        run.push(
            "mbx-acme",
            EventKind::MailboxReplyLost {
                msg: "m5".into(),
                rcpts: vec![BOB.into()],
            },
        );
        run.at(11_300_000);
        arrive_from_erin(&mut run, "m5", BOB, "mbx-acme");
        assert_eq!(check(&run.log, &paced_facts()), vec![]);
    }

    #[test]
    fn offers_that_two_copies_may_make_are_not_judged() {
        let mut run = Run::new();
        run.send("m5", Told::Indefinite, &[BOB]);
        run.send("m5", Told::Accepted, &[BOB]);
        run.at(10_000_000);
        greylist(&mut run, MX);
        greylist(&mut run, MX);
        assert_eq!(check(&run.log, &paced_facts()), vec![]);
    }
}
