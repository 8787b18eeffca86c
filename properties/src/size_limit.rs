//! `size_limit`: a message at or under the gateway's configured size limit
//! is never refused as too big, and one over it is never accepted nor
//! delivered (RFC 1870).
//!
//! Size is what RFC 1870 §3 counts: the octets the client sends after 354,
//! CRLFs included, stuffing dots and the final dot not — the `size` the
//! sender records in `message_built`, judged against the
//! `message_bytes_max` the gateway was deployed with (`Facts`). A limit is
//! where off-by-ones live, so the workload sends one message an octet
//! under it, one exactly at it and one an octet over. Whether the first
//! two are then accepted and arrive intact is `progress`'s and
//! `integrity`'s to judge (this property only forbids refusing them with
//! the code RFC 1870 gives for "too big", 552); the third must end as a
//! permanent refusal at the sender, so no `send_outcome` may say it was
//! accepted and no mailbox may receive it.

use traces::{EventKind, Log, Told};

use crate::view::{Outcomes, ms};
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "size_limit";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "mail within the configured size limit is never refused as too big; mail over it is never accepted nor delivered";

/// RFC 1870 §6.2: "552 Message size exceeds fixed maximum message size".
const TOO_BIG: u16 = 552;

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let limit = view.facts.message_bytes_max;
    if limit == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (msg, built) in &view.built {
        let over = view.facts.over_size_limit(built.size);
        let size = built.size;
        for &index in view.sends_by_msg.get(msg).into_iter().flatten() {
            let event = &view.events[index];
            let EventKind::SendOutcome { told, code, .. } = &event.kind else {
                continue;
            };
            let problem = match (over, told) {
                (false, Told::Rejected) if *code == TOO_BIG => {
                    format!("was refused as too big ({code}) though within the limit of {limit}")
                }
                (true, Told::Accepted) => {
                    format!("was accepted ({code}) though over the limit of {limit}")
                }
                _ => continue,
            };
            out.push(Violation::new(
                NAME,
                KIND,
                format!(
                    "message {msg} of {size} octets {problem} at {}",
                    ms(event.t_us)
                ),
                vec![built.index, index],
            ));
        }
        if !over {
            continue;
        }
        for (pair, arrivals) in view.deliveries.iter().filter(|(p, _)| &p.msg == msg) {
            for arrival in arrivals {
                out.push(Violation::new(
                    NAME,
                    KIND,
                    format!(
                        "{pair} of {size} octets, over the limit of {limit}, arrived at {} ({})",
                        arrival.host,
                        ms(arrival.t_us)
                    ),
                    vec![built.index, arrival.index],
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};
    use traces::Class;

    /// The test facts' limit; the clean run builds every message at it.
    const LIMIT: u64 = 1_000;

    fn built_at(run: &mut Run, msg: &str, size: u64) -> usize {
        run.push(
            "mta-0",
            EventKind::MessageBuilt {
                msg: msg.into(),
                class: Class::Clean,
                body_sha256: "00".into(),
                size,
                mail_from: "alice@sender.example".into(),
                rcpts: vec!["bob@acme.example".into()],
            },
        )
    }

    fn told(run: &mut Run, msg: &str, told: Told, code: u16) -> usize {
        run.push(
            "mta-0",
            EventKind::SendOutcome {
                msg: msg.into(),
                told,
                code,
                rcpts: vec!["bob@acme.example".into()],
            },
        )
    }

    #[test]
    fn a_clean_log_with_every_message_at_the_limit_passes() {
        assert_eq!(facts().message_bytes_max, LIMIT);
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn an_over_limit_message_refused_with_552_passes() {
        let mut run = Run::new();
        built_at(&mut run, "m1", LIMIT + 1);
        told(&mut run, "m1", Told::Rejected, 552);
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_message_at_the_limit_refused_as_too_big_is_reported() {
        let mut run = Run::new();
        let built = built_at(&mut run, "m1", LIMIT);
        let refusal = told(&mut run, "m1", Told::Rejected, 552);
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "of 1000 octets was refused as too big");
        assert_eq!(found[0].events, vec![built, refusal]);
    }

    #[test]
    fn a_message_at_the_limit_refused_for_another_reason_is_not_this_propertys() {
        let mut run = Run::new();
        built_at(&mut run, "m1", LIMIT);
        told(&mut run, "m1", Told::Rejected, 550);
        assert_eq!(check(&run.log, &facts()), vec![]);
    }

    #[test]
    fn a_message_over_the_limit_accepted_and_delivered_is_reported_twice() {
        let mut run = Run::new();
        built_at(&mut run, "m1", LIMIT + 1);
        told(&mut run, "m1", Told::Accepted, 250);
        run.deliver("m1", "bob@acme.example", "mbx-acme");
        let found = check(&run.log, &facts());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].reason.contains("was accepted (250)"));
        assert!(found[1].reason.contains("arrived at mbx-acme"));
    }

    #[test]
    fn nothing_is_judged_when_the_limit_is_unknown() {
        let mut run = Run::new();
        built_at(&mut run, "m1", LIMIT + 1);
        told(&mut run, "m1", Told::Accepted, 250);
        let unknown = Facts {
            message_bytes_max: 0,
            ..facts()
        };
        assert_eq!(check(&run.log, &unknown), vec![]);
    }
}
