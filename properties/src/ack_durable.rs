//! `ack_durable`: a 250 is a promise kept at the instant it is given — the
//! message's bytes are durable on at least the replication quorum's hosts,
//! across at least the required number of clouds.
//!
//! `no_acked_loss` sees an early acknowledgement only when a crash or a
//! lost disk happens to take the one copy that was not yet safe; most runs
//! never line that up. This judges every 250 against the disks instead: the
//! seam records `bytes_durable` when a file holding the message's bytes has
//! both its contents and its directory entry synced, and a 250 the sender
//! heard at `t` needs that many durable hosts by `t` (a disk lost since
//! takes back a copy made before the sender's attempt began; one made
//! during the attempt and lost before the 250 arrived still counts, since
//! no gateway can see a replica's disk go as it answers). The sender hears the 250 a link latency after the
//! gateway sent it, so a gateway that syncs within that latency after its
//! 250 slips through; one that skips a sync never does.

use std::collections::BTreeSet;

use traces::{EventKind, Log, Told};

use crate::view::Outcomes;
use crate::{Facts, Kind, Violation};

pub const NAME: &str = "ack_durable";
pub const KIND: Kind = Kind::Safety;
pub const DESCRIPTION: &str = "at every 250 the message is durable (file and directory synced) on a quorum of hosts across enough clouds";

pub fn check(log: &Log, facts: &Facts) -> Vec<Violation> {
    judge(&Outcomes::build(log, facts))
}

pub fn judge(view: &Outcomes<'_>) -> Vec<Violation> {
    let facts = view.facts;
    if facts.replica_quorum == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (index, event) in view.events.iter().enumerate() {
        let EventKind::SendOutcome {
            msg,
            told: Told::Accepted,
            ..
        } = &event.kind
        else {
            continue;
        };
        let key = crate::facts::msg_key(msg);
        let t = event.t_us;
        // When the sender began the attempt this 250 answers (without one,
        // the 250 itself: the strictest reading).
        let attempt_began = view
            .attempt_for(index)
            .map_or(t, |(attempt, _)| view.events[attempt].t_us);
        let copies = view.durable.get(&key).map_or(&[][..], Vec::as_slice);
        let mut hosts: BTreeSet<&str> = BTreeSet::new();
        let mut clouds: BTreeSet<&str> = BTreeSet::new();
        let mut evidence = vec![index];
        for &(at, t_durable, host, region) in copies {
            // A copy made for this attempt whose disk is lost before the
            // sender hears the 250 still counts: the replica said yes before
            // the loss, and no gateway can know of a loss as it answers (the
            // promise is the copies at the instant the 250 is given, not
            // their survival; `no_acked_loss` judges that). A copy older
            // than the attempt is taken back by any loss since: the gateway
            // had the whole attempt to copy the message again.
            let lost_since = t_durable < attempt_began
                && view
                    .lost_disks
                    .iter()
                    .any(|&(t_lost, lost)| lost == host && t_durable <= t_lost && t_lost <= t);
            if t_durable > t || lost_since {
                continue;
            }
            if hosts.insert(host) {
                evidence.push(at);
                if let Some(cloud) = facts.region_clouds.get(region) {
                    clouds.insert(cloud.as_str());
                }
            }
        }
        let quorum = facts.replica_quorum as usize;
        let clouds_min = facts.replica_clouds_min as usize;
        if hosts.len() >= quorum && clouds.len() >= clouds_min {
            continue;
        }
        out.push(Violation::new(
            NAME,
            KIND,
            format!(
                "message {key} was {} while durable on {} host(s) [{}] in {} cloud(s); the \
                 promise needs {quorum} host(s) across {clouds_min} cloud(s)",
                view.describe_send(&crate::view::Sent {
                    index,
                    t_us: t,
                    host: event.host.as_str(),
                    told: Told::Accepted,
                    code: 250,
                }),
                hosts.len(),
                hosts.iter().copied().collect::<Vec<_>>().join(", "),
                clouds.len()
            ),
            evidence,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Run, assert_reported, clean_run, facts};

    fn lose_disk(run: &mut Run, host: &str) {
        run.push(
            "world",
            EventKind::FaultStarted {
                fault: 0,
                kind: "disk_lost".into(),
                target: host.into(),
            },
        );
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(check(&clean_run().log, &facts()), vec![]);
    }

    #[test]
    fn a_250_with_one_durable_copy_is_reported() {
        let mut run = Run::new();
        run.durable("m1", "eu-west-1");
        let ack = run.send("m1", Told::Accepted, &["bob@acme.example"]);
        // Durable on the second cloud only after the 250: too late.
        run.durable("m1", "eu-central-1");
        let found = check(&run.log, &facts());
        assert_reported(&found, NAME, "durable on 1 host(s)");
        assert!(found[0].events.contains(&ack));
    }

    #[test]
    fn two_copies_on_one_cloud_are_not_enough() {
        let mut run = Run::new();
        run.durable("m2", "us-east-1");
        run.push(
            "gw-us-east-1-1",
            EventKind::BytesDurable {
                msg: "m2".into(),
                region: "us-east-1".into(),
                place: "spool/m2.msg".into(),
            },
        );
        run.send("m2", Told::Accepted, &["dave@globex.example"]);
        assert_reported(&check(&run.log, &facts()), NAME, "in 1 cloud(s)");
    }

    #[test]
    fn a_disk_lost_before_the_250_takes_its_copy_back() {
        let mut run = Run::new();
        run.durable("m1", "eu-west-1");
        run.durable("m1", "eu-central-1");
        lose_disk(&mut run, "gw-eu-west-1-0");
        run.send("m1", Told::Accepted, &["bob@acme.example"]);
        assert_reported(&check(&run.log, &facts()), NAME, "durable on 1 host(s)");
    }

    #[test]
    fn a_copy_made_for_the_attempt_and_lost_as_the_250_travels_still_counts() {
        // Swarm seed 5841: the replica's disk went after its copy was
        // durable and before the sender heard the 250; the gateway could not
        // have known.
        let mut run = Run::new();
        let attempt = |run: &mut Run| {
            run.push(
                crate::testkit::SENDER,
                EventKind::SendAttempt {
                    msg: "m1".into(),
                    attempt: 1,
                    mx: "gw-eu-west-1-0".into(),
                },
            );
        };
        attempt(&mut run);
        run.durable("m1", "eu-west-1");
        run.durable("m1", "eu-central-1");
        lose_disk(&mut run, "gw-eu-west-1-0");
        run.push(
            crate::testkit::SENDER,
            EventKind::SendOutcome {
                msg: "m1".into(),
                told: Told::Accepted,
                code: 250,
                rcpts: vec!["bob@acme.example".into()],
            },
        );
        assert_eq!(check(&run.log, &facts()), vec![]);
    }
}
