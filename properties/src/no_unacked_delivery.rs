//! `no_unacked_delivery`: nothing reaches a mailbox unless the gateway could
//! have legitimately held it.
//!
//! A delivered pair must be covered by a `send_outcome` told `accepted` or
//! `indefinite` that lists the recipient. A sender told `deferred` (4xx) or
//! `rejected` (5xx) still owns the message; if the gateway delivers it anyway
//! the sender will retry (a duplicate) or believes it failed (a lie). A DSN
//! counts too: it reports on a pair, so each pair it names must have been
//! accepted or left indefinite. A delivery of a message the workload never
//! sent (not in the facts) is also reported: nobody could have handed it over.
//! A copy that a replica delivered of an attempt its MX answered 4xx is
//! no exception: an MX that cannot make its copies forget a refused
//! message must hang up rather than say 451 (`duplicates_bounded`).

use traces::Log;

use crate::view::{Arrival, Outcomes, Pair, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "no_unacked_delivery";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "every delivered or bounced pair was accepted or left indefinite \
                               by the gateway's reply to the sender";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (pair, arrivals) in &view.deliveries {
        for arrival in arrivals {
            if view.message(&pair.msg).is_none() {
                out.push(Violation::new(
                    NAME,
                    KIND,
                    format!(
                        "message {} arrived for {} at {} ({}) but is not a workload message: \
                         no sender handed it to the gateway",
                        pair.msg,
                        pair.rcpt,
                        arrival.host,
                        ms(arrival.t_us)
                    ),
                    vec![arrival.index],
                ));
            } else if !view.covered(pair) {
                out.push(uncovered(view, pair, arrival, "delivered"));
            }
        }
    }
    for dsn in &view.dsns {
        let Some(about) = &dsn.dsn_about else {
            continue;
        };
        for rcpt in &dsn.dsn_rcpts {
            let pair = Pair {
                msg: about.clone(),
                rcpt: rcpt.clone(),
            };
            if !view.covered(&pair) {
                out.push(uncovered(view, &pair, dsn, "bounced"));
            }
        }
    }
    out
}

/// The violation for a pair that reached a mailbox without cover.
fn uncovered(view: &Outcomes<'_>, pair: &Pair, arrival: &Arrival<'_>, how: &str) -> Violation {
    let mut events = vec![arrival.index];
    events.extend(view.sends_by_msg.get(&pair.msg).into_iter().flatten());
    let via = if how == "bounced" {
        format!(" (DSN {} to {})", arrival.msg, arrival.rcpt)
    } else {
        String::new()
    };
    Violation::new(
        NAME,
        KIND,
        format!(
            "{pair} was {how}{via} at {} ({}) but the sender was never told accepted or \
             indefinite for that recipient; it was told: {}",
            arrival.host,
            ms(arrival.t_us),
            view.describe_sends(&pair.msg)
        ),
        events,
    )
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
    fn a_message_delivered_after_a_deferral_is_reported() {
        let mut run = Run::new();
        let deferred = run.send("m1", Told::Deferred, &["bob@acme.example"]);
        let delivered = run.deliver("m1", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert!(found[0].reason.contains("deferred (451)"));
        assert_eq!(found[0].events, vec![deferred, delivered]);
    }

    #[test]
    fn a_recipient_missing_from_the_accepted_outcome_is_not_covered() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        run.deliver("m1", "carol@acme.example", "mbx-acme");
        assert_reported(&check(&run.log, &facts()), NAME, "carol@acme.example");
    }

    #[test]
    fn a_delivery_of_a_message_nobody_sent_is_reported() {
        let mut run = Run::new();
        run.deliver("ghost", "bob@acme.example", "mbx-acme");
        assert_reported(&check(&run.log, &facts()), NAME, "message ghost");
    }

    #[test]
    fn a_dsn_about_a_rejected_message_is_reported() {
        let mut run = Run::new();
        run.send("m5", Told::Rejected, &["bob@acme.example"]);
        run.dsn(
            "d",
            "m5",
            &["bob@acme.example"],
            "erin@sender.example",
            "mbx-ext",
        );
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m5 to bob@acme.example was bounced");
    }

    #[test]
    fn an_indefinite_outcome_covers_a_delivery() {
        let mut run = Run::new();
        run.send("m1", Told::Indefinite, &["<Bob@ACME.example>"]);
        run.deliver("<m1>", "bob@acme.example", "mbx-acme");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
