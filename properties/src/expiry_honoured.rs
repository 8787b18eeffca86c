//! `expiry_honoured`: a recipient the gateway could not deliver within its
//! queue lifetime is bounced, not delivered whenever the destination
//! finally comes back.
//!
//! The queue lifetime is the promise behind a sender's "your message is
//! still queued": after it, the sender hears it failed (RFC 5321 §4.5.4.1
//! says give up after some days; Postfix's `maximal_queue_lifetime`) rather
//! than have it turn up days late, when a reply is useless. As in Postfix a
//! message is given up when an attempt fails after its lifetime, so a
//! delivery a little late is fine: the judge allows one full retry interval
//! and the timeouts and handovers that can delay it (`Facts::expiry_grace_us`,
//! from the knobs). Judged from outside: the first arrival of a pair at its
//! mailbox server against the last 250 its sender was told. A run whose
//! facts give no lifetime (0) is not judged. The `retry-forever` bug fails
//! here (`sim/tests/bugs.rs`); the loss of an expired recipient without a DSN
//! is `no_acked_loss`'s.
//!
//! An arrival whose 250 the server saw go unheard (`mailbox_reply_lost`
//! right after it) is not held to the lifetime: its client had given up on
//! that session, and the bytes may have sat in the network far longer than
//! the gateway waited (madsim swarm explore campaign 12, run 3543: a
//! region cut off just as its gateway sent the final dot; the data reached
//! the mailbox 36 s later, after the successor had bounced the message as
//! expired). RFC 1047's window, as `no_false_bounce` reads it too.

use traces::{EventKind, Log};

use crate::view::{Arrival, Outcomes, Pair, duration_ms, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "expiry_honoured";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str =
    "no recipient is first delivered later than its queue lifetime (plus one retry) after the 250";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let facts = view.facts;
    if facts.queue_lifetime_us == 0 {
        return Vec::new();
    }
    let allowed_us = facts.queue_lifetime_us + facts.expiry_grace_us;
    let mut out = Vec::new();
    for (pair, accepted) in view.acknowledged() {
        // The latest 250: a sender that was told twice gave the gateway two
        // entries, and the later one's lifetime ends later.
        let Some(last) = accepted.iter().map(|s| s.t_us).max() else {
            continue;
        };
        let deadline = last + allowed_us;
        let arrivals = view.deliveries.get(pair).into_iter().flatten();
        let Some(first) = arrivals
            .take_while(|a| a.t_us > deadline)
            .find(|a| !reply_lost_after(view, pair, a))
        else {
            continue;
        };
        // Only late arrivals lead here, or an arrival in time came first.
        if view.deliveries[pair]
            .first()
            .is_some_and(|a| a.t_us <= deadline)
        {
            continue;
        }
        let mut events: Vec<usize> = accepted.iter().map(|s| s.index).collect();
        events.push(first.index);
        out.push(Violation::new(
            NAME,
            KIND,
            format!(
                "{pair} was acknowledged at {} and first delivered at {} on {}, {} after \
                 acknowledgement: past its queue lifetime {} plus {} grace, it should have \
                 bounced",
                ms(last),
                ms(first.t_us),
                first.host,
                duration_ms(first.t_us - last),
                duration_ms(facts.queue_lifetime_us),
                duration_ms(facts.expiry_grace_us)
            ),
            events,
        ));
    }
    out
}

/// Whether the server logged the 250 of `arrival` as unheard: a
/// `mailbox_reply_lost` of its host for the pair before that host's next
/// arrival of it.
fn reply_lost_after(view: &Outcomes<'_>, pair: &Pair, arrival: &Arrival<'_>) -> bool {
    for event in &view.events[arrival.index + 1..] {
        if event.host != arrival.host {
            continue;
        }
        match &event.kind {
            EventKind::MailboxReplyLost { msg, rcpts }
                if Pair::new(msg, "").msg == pair.msg
                    && rcpts.iter().any(|r| Pair::new(msg, r).rcpt == pair.rcpt) =>
            {
                return true;
            }
            EventKind::MailboxReceived { msg, rcpt, .. } if Pair::new(msg, rcpt) == *pair => {
                return false;
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};
    use traces::Told;

    fn short_lifetime() -> Facts {
        Facts {
            queue_lifetime_us: 10_000_000,
            expiry_grace_us: 5_000_000,
            ..facts()
        }
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &short_lifetime()), vec![]);
    }

    #[test]
    fn a_delivery_long_after_the_lifetime_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.at(31_000_000);
        let late = run.deliver("m5", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &short_lifetime());
        assert_reported(&found, NAME, "message m5 to bob@acme.example");
        assert!(found[0].reason.contains("should have bounced"));
        assert!(found[0].events.contains(&late));
    }

    #[test]
    fn a_late_arrival_whose_250_went_unheard_is_not_held_to_the_lifetime() {
        let late_run = |lost: bool| {
            let mut run = Run::new();
            run.send("m5", Told::Accepted, &["bob@acme.example"]);
            run.at(31_000_000);
            run.deliver("m5", "bob@acme.example", "mbx-acme");
            if lost {
                run.push(
                    "mbx-acme",
                    EventKind::MailboxReplyLost {
                        msg: "m5".into(),
                        rcpts: vec!["bob@acme.example".into()],
                    },
                );
            }
            run
        };
        assert_eq!(check(&late_run(true).log, &short_lifetime()), vec![]);
        // A second late arrival, heard, is judged.
        let mut run = late_run(true);
        run.at(32_000_000);
        let heard = run.deliver("m5", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &short_lifetime());
        assert_reported(&found, NAME, "first delivered at t=32001.000ms");
        assert!(found[0].events.contains(&heard));
        // Another server's lost reply excuses nothing.
        let mut run = late_run(false);
        run.push(
            "mbx-globex",
            EventKind::MailboxReplyLost {
                msg: "m5".into(),
                rcpts: vec!["bob@acme.example".into()],
            },
        );
        assert_reported(
            &check(&run.log, &short_lifetime()),
            NAME,
            "should have bounced",
        );
    }

    #[test]
    fn a_delivery_within_the_grace_passes() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.at(13_000_000);
        run.deliver("m5", "bob@acme.example", "mbx-acme");
        assert_eq!(check(&run.log, &short_lifetime()), vec![]);
    }

    #[test]
    fn without_a_lifetime_nothing_is_judged() {
        let mut run = Run::new();
        run.send("m5", Told::Accepted, &["bob@acme.example"]);
        run.at(301_000_000);
        run.deliver("m5", "bob@acme.example", "mbx-acme");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
