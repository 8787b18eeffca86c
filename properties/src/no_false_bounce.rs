//! `no_false_bounce`: a recipient is bounced only after the recipient's
//! server refused it with a 5xx, or after the whole queue lifetime; and
//! never both delivered and bounced.
//!
//! A bounce settles a pair as surely as a delivery, so `no_acked_loss`
//! accepts a gateway that gives up at the first 4xx or refused connection:
//! the sender hears "undeliverable" about mail a correct gateway would have
//! delivered minutes later. Judged from the outside:
//! - a 5xx: a `mailbox_refused` with a 5xx code listing the recipient,
//!   before the DSN (after DATA for this message, or at RCPT in a
//!   transaction from the message's sender);
//! - the lifetime: the gateway cannot have taken the message before the
//!   sender's attempt that led to its first acceptance (or indefinite
//!   outcome), so a bounce for expiry comes at least `queue_lifetime_us`
//!   after that attempt started (not judged when the lifetime is unknown);
//! - delivered and bounced both: excused only where the gateway may
//!   honestly have held the pair twice or lost the record of a delivery —
//!   two accepted or indefinite outcomes, a 250 the mailbox saw go
//!   unheard, the disk of the gateway that delivered it lost after.

use traces::Log;

use crate::facts::addr_key;
use crate::view::{Outcomes, Pair, duration_ms, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "no_false_bounce";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "a bounce only after a 5xx from the recipient's server or the full queue lifetime; never delivered and bounced both";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    let lifetime_us = view.facts.queue_lifetime_us;
    let mut pairs: Vec<&Pair> = view.bounces.keys().collect();
    pairs.extend(view.refused_bounces.keys());
    pairs.sort();
    pairs.dedup();
    for pair in pairs {
        let mut dsns: Vec<usize> = view.bounces.get(pair).cloned().unwrap_or_default();
        dsns.extend(view.refused_bounces.get(pair).cloned().unwrap_or_default());
        dsns.sort_unstable();
        let first_dsn = dsns[0];
        let t_dsn = view.events[first_dsn].t_us;
        let sender = view.message(&pair.msg).map(|m| addr_key(&m.sender));
        let refused = view.refusals.iter().find(|r| {
            r.code >= 500
                && r.t_us <= t_dsn
                && r.rcpts.contains(&pair.rcpt)
                && match &r.msg {
                    Some(m) => *m == pair.msg,
                    // A refusal at RCPT names no message, but its
                    // transaction names a sender: another sender's mail
                    // refused says nothing of this one (old logs, without
                    // the sender, are taken as they were).
                    None => match (r.mail_from, sender.as_deref()) {
                        (Some(from), Some(sender)) => addr_key(from) == sender,
                        _ => true,
                    },
                }
        });
        let taken = taken_at_earliest(view, pair);
        let expired =
            lifetime_us == 0 || taken.is_some_and(|(t, _)| t_dsn >= t.saturating_add(lifetime_us));
        if refused.is_none() && !expired {
            let mut evidence = vec![first_dsn];
            let since = match taken {
                Some((t, index)) => {
                    evidence.push(index);
                    format!(
                        "{} after the sender's attempt that got it in ({})",
                        duration_ms(t_dsn.saturating_sub(t)),
                        ms(t)
                    )
                }
                None => "and the gateway never acknowledged it".to_string(),
            };
            out.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "{pair} was bounced ({}) with no 5xx from its server, {since}, inside the \
                     queue lifetime of {}",
                    ms(t_dsn),
                    duration_ms(lifetime_us)
                ),
                evidence,
            ));
        }
        if let Some(arrivals) = view.deliveries.get(pair)
            && !delivered_twice_honestly(view, pair)
        {
            let mut evidence = vec![first_dsn];
            evidence.extend(arrivals.iter().map(|a| a.index));
            out.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "{pair} was delivered to {} ({}) and also bounced ({}), held once",
                    arrivals[0].host,
                    ms(arrivals[0].t_us),
                    ms(t_dsn)
                ),
                evidence,
            ));
        }
    }
    out
}

/// The earliest moment the gateway can have taken the pair: the start of
/// the sender's attempt behind its first accepted or indefinite outcome
/// (time, and that outcome's index).
fn taken_at_earliest(view: &Outcomes<'_>, pair: &Pair) -> Option<(u64, usize)> {
    let first = view.covers.get(pair)?.iter().min_by_key(|s| s.t_us)?;
    let started = view
        .attempts
        .get(&pair.msg)
        .and_then(|attempts| {
            attempts
                .iter()
                .rev()
                .find(|(i, host, _)| *i < first.index && *host == first.host)
        })
        .map(|(i, _, _)| view.events[*i].t_us)
        .unwrap_or(first.t_us);
    Some((started, first.index))
}

/// Whether a correct gateway may have both delivered and bounced the pair:
/// it held two copies (two accepted or indefinite outcomes), or it cannot
/// have known of a delivery (a lost 250, or the delivering gateway's disk
/// lost after it delivered).
fn delivered_twice_honestly(view: &Outcomes<'_>, pair: &Pair) -> bool {
    let covers = view.covers.get(pair).map_or(0, Vec::len);
    covers > 1 || view.lost_replies(pair) > 0 || !view.delivery_records_lost_after(pair).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};
    use traces::{EventKind, Told};

    fn with_lifetime(lifetime_us: u64) -> Facts {
        Facts {
            queue_lifetime_us: lifetime_us,
            ..facts()
        }
    }

    fn refuse(run: &mut Run, msg: &str, rcpt: &str, code: u16) -> usize {
        run.push(
            "mbx-acme",
            EventKind::MailboxRefused {
                msg: Some(msg.into()),
                mail_from: Some("erin@sender.example".into()),
                client: "gw-eu-west-1-0".into(),
                rcpts: vec![rcpt.into()],
                code,
                status: None,
                dsn_about: None,
                dsn_rcpts: vec![],
            },
        )
    }

    #[test]
    fn a_clean_log_passes_with_its_bounce_after_a_5xx() {
        // The clean run's m5 bounce, now explained by a 5xx before it.
        let mut explained = Run::new();
        explained.send("m5", Told::Accepted, &["bob@acme.example"]);
        refuse(&mut explained, "m5", "bob@acme.example", 550);
        explained.bounce_m5();
        assert_eq!(check(&explained.log, &with_lifetime(60_000_000)), vec![]);
        // With the lifetime unknown, the clean run is not judged on timing.
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn a_refusal_at_rcpt_counts_only_in_the_messages_own_senders_transaction() {
        let bounced_after_rcpt_refusal_from = |from: &str| {
            let mut run = Run::new();
            run.send("m5", Told::Accepted, &["bob@acme.example"]);
            run.refuse_at_rcpt("gw-eu-west-1-0", from, "bob@acme.example", 550);
            run.bounce_m5();
            check(&run.log, &with_lifetime(60_000_000))
        };
        assert_eq!(
            bounced_after_rcpt_refusal_from("Erin@Sender.example"),
            vec![]
        );
        // Bob refused alice's mail: erin's to bob was never offered.
        assert_reported(
            &bounced_after_rcpt_refusal_from("alice@sender.example"),
            NAME,
            "with no 5xx from its server",
        );
    }

    #[test]
    fn a_bounce_after_a_4xx_inside_the_lifetime_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        refuse(&mut run, "m5", "bob@acme.example", 451);
        let dsn = run.bounce_m5();
        let found = check(&run.log, &with_lifetime(60_000_000));
        assert_reported(&found, NAME, "with no 5xx from its server");
        assert!(found[0].events.contains(&dsn));
    }

    #[test]
    fn a_bounce_after_the_whole_lifetime_passes() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.at(70_000_000);
        run.bounce_m5();
        assert_eq!(check(&run.log, &with_lifetime(60_000_000)), vec![]);
    }

    #[test]
    fn delivered_and_bounced_both_is_reported_unless_held_twice() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        run.at(70_000_000);
        run.dsn(
            "dsn-m1",
            "m1",
            &["bob@acme.example"],
            "alice@sender.example",
            "mbx-ext",
        );
        let lifetime = with_lifetime(60_000_000);
        assert_reported(&check(&run.log, &lifetime), NAME, "and also bounced");
        // The sender's first 250 was lost, so it sent again: two copies.
        let mut twice = Run::new();
        twice.send("m1", Told::Indefinite, &["bob@acme.example"]);
        twice.send("m1", Told::Accepted, &["bob@acme.example"]);
        twice.deliver("m1", "bob@acme.example", "mbx-acme");
        twice.at(70_000_000);
        twice.dsn(
            "dsn-m1",
            "m1",
            &["bob@acme.example"],
            "alice@sender.example",
            "mbx-ext",
        );
        assert_eq!(check(&twice.log, &lifetime), vec![]);
    }
}
