//! `drained_after_heal` (liveness): once the faults are healed, every
//! acknowledged pair is settled (delivered, bounced, or quarantined) within
//! the drain bound.
//!
//! Safety alone is satisfied by a gateway that holds everything forever;
//! this is the promise that a healed system catches up. The deadline is
//! `heal_at_us + drain_bound_us`, or, for a pair first acknowledged after
//! the heal, that acknowledgement plus the bound (mail accepted during the
//! drain gets the same time to settle, not less). A pair never settled at
//! all fails here too; `no_acked_loss` reports it as loss, and both are
//! kept, since one is about time and the other about data.

use traces::Log;

use crate::view::{Outcomes, duration_ms, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "drained_after_heal";
pub const KIND: Kind = Kind::Liveness;
pub const DESCRIPTION: &str =
    "every acknowledged pair is settled within the drain bound after the heal";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let facts = view.facts;
    let mut out = Vec::new();
    for (pair, accepted) in view.acknowledged() {
        // `acknowledged` yields only pairs with at least one accepted outcome.
        let Some(first) = accepted.first() else {
            continue;
        };
        let start = facts.heal_at_us.max(first.t_us);
        let deadline = start.saturating_add(facts.drain_bound_us);
        let basis = if first.t_us > facts.heal_at_us {
            format!("acknowledged at {}", ms(first.t_us))
        } else {
            format!("healed at {}", ms(facts.heal_at_us))
        };
        let settled = view.settlements(pair);
        let mut events: Vec<usize> = accepted.iter().map(|s| s.index).collect();
        let reason = match settled.first() {
            Some(&(index, _)) if view.events[index].t_us <= deadline => continue,
            Some(&(index, how)) => {
                events.push(index);
                let at = view.events[index].t_us;
                format!(
                    "{pair} was first {} at {} on {}, {} after its deadline {} ({basis}, drain \
                     bound {})",
                    how.word(),
                    ms(at),
                    view.events[index].host,
                    duration_ms(at - deadline),
                    ms(deadline),
                    duration_ms(facts.drain_bound_us)
                )
            }
            None => format!(
                "{pair} was acknowledged ({}) but never delivered, bounced, or quarantined; its \
                 deadline was {} ({basis}, drain bound {})",
                view.describe_send(first),
                ms(deadline),
                duration_ms(facts.drain_bound_us)
            ),
        };
        out.push(Violation::new(NAME, KIND, reason, events));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};
    use traces::Told;

    const BOB: &str = "bob@acme.example";

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn a_pair_delivered_after_the_drain_deadline_is_reported() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &[BOB]);
        // heal at 50s + drain 60s = deadline 110s; delivered at ~120s.
        run.at(120_000_000);
        let late = run.deliver("m1", BOB, "mbx-acme");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert!(found[0].reason.contains("deadline t=110000.000ms"));
        assert!(found[0].events.contains(&late));
        assert_eq!(found[0].kind, Kind::Liveness);
    }

    #[test]
    fn a_pair_never_settled_is_a_liveness_failure() {
        let mut run = Run::new();
        run.send("m1", Told::Accepted, &[BOB]);
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "message m1 to bob@acme.example");
        assert!(found[0].reason.contains("never delivered"));
    }

    #[test]
    fn mail_acknowledged_after_the_heal_gets_the_full_drain_bound() {
        let mut run = Run::new();
        run.at(100_000_000);
        run.send("m1", Told::Accepted, &[BOB]);
        // Past heal + bound (110s) but within ack + bound (~160s).
        run.at(150_000_000);
        run.deliver("m1", BOB, "mbx-acme");
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
