//! Ownership of one message: a ballot `(epoch, owner)` and the set of nodes
//! holding a copy (the owner and its replicas), plus the two pure rules the
//! failover protocol is built from — ballots are totally ordered, and
//! per-recipient progress only ever moves forward, so merging two views of
//! a message can never undo a delivery or a bounce.
//!
//! A ballot is the pair the spool entry already carries (`epoch`, `owner`);
//! ordering by epoch first and then by owner name makes two candidates that
//! picked the same epoch still comparable, so every node sorts them alike.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use traces::Verdict;

use crate::config::GatewayConfig;
use crate::spool::{Entry, InDoubt, RcptState};

/// Who may schedule a message, and under which fencing epoch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ballot {
    pub epoch: u64,
    pub owner: String,
}

impl Ballot {
    pub fn of(entry: &Entry) -> Ballot {
        Ballot {
            epoch: entry.epoch,
            owner: entry.owner.clone(),
        }
    }
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "epoch {} of {}", self.epoch, self.owner)
    }
}

/// A message's progress without its envelope or Message-ID: what peers
/// exchange when they compare notes, small and free of message bytes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub rcpts: std::collections::BTreeMap<String, RcptState>,
    pub verdict: Option<Verdict>,
    pub dsn_reported: Vec<String>,
    pub attempts: u32,
    /// Not merged like the rest: only a takeover picks it up (see
    /// [`doubt_for`]), and only the owner clears it.
    #[serde(default)]
    pub in_doubt: Option<InDoubt>,
}

impl Progress {
    pub fn of(entry: &Entry) -> Progress {
        Progress {
            rcpts: entry.rcpts.clone(),
            verdict: entry.verdict,
            dsn_reported: entry.dsn_reported.clone(),
            attempts: entry.attempts,
            in_doubt: entry.in_doubt.clone(),
        }
    }
}

/// The delivery a new owner `me` must wait to hear about: the latest one
/// any copy says another node was making.
pub fn doubt_for<'a>(
    me: &str,
    doubts: impl IntoIterator<Item = &'a Option<InDoubt>>,
) -> Option<InDoubt> {
    doubts
        .into_iter()
        .flatten()
        .filter(|d| d.by != me)
        .max_by_key(|d| d.since_ms)
        .cloned()
}

/// Folds `other`'s progress into `entry`: a recipient settled anywhere is
/// settled here, a verdict anywhere is the verdict, reported bounces stay
/// reported. Returns whether `entry` changed.
pub fn merge_progress(entry: &mut Entry, other: &Progress) -> bool {
    let before = (
        entry.rcpts.clone(),
        entry.verdict,
        entry.dsn_reported.len(),
        entry.attempts,
    );
    for (rcpt, state) in &other.rcpts {
        if let Some(mine) = entry.rcpts.get_mut(rcpt)
            && !mine.is_final()
            && state.is_final()
        {
            *mine = state.clone();
        }
    }
    if entry.verdict.is_none() {
        entry.verdict = other.verdict;
    }
    for rcpt in &other.dsn_reported {
        if !entry.dsn_reported.contains(rcpt) {
            entry.dsn_reported.push(rcpt.clone());
        }
    }
    entry.attempts = entry.attempts.max(other.attempts);
    before
        != (
            entry.rcpts.clone(),
            entry.verdict,
            entry.dsn_reported.len(),
            entry.attempts,
        )
}

/// Every node holding a copy (owner and replicas), in config order so
/// every node ranks successors the same way.
pub fn copy_set(config: &GatewayConfig, entry: &Entry) -> Vec<String> {
    let members: BTreeSet<&str> = std::iter::once(entry.owner.as_str())
        .chain(entry.replicas.iter().map(String::as_str))
        .collect();
    let mut ordered: Vec<String> = config
        .gateways
        .iter()
        .filter(|n| members.contains(n.host.as_str()))
        .map(|n| n.host.clone())
        .collect();
    // A member the config does not know (it should not happen) still counts.
    for member in members {
        if !ordered.iter().any(|m| m == member) {
            ordered.push(member.to_string());
        }
    }
    ordered
}

/// How many of `copies` nodes make a majority.
pub fn majority(copies: usize) -> usize {
    copies / 2 + 1
}

/// Moves `entry` to `ballot`, keeping the same copy set: the old owner
/// becomes a replica and the new owner stops being one.
pub fn adopt(config: &GatewayConfig, entry: &mut Entry, ballot: &Ballot) {
    let members = copy_set(config, entry);
    entry.epoch = ballot.epoch;
    entry.owner = ballot.owner.clone();
    entry.replicas = members.into_iter().filter(|m| *m != ballot.owner).collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Knobs, Node, Region};

    fn config() -> GatewayConfig {
        let region = |name: &str, cloud: &str| Region {
            name: name.into(),
            cloud: cloud.into(),
            jurisdiction: "us".into(),
        };
        let node = |host: &str, region: &str| Node {
            host: host.into(),
            region: region.into(),
        };
        GatewayConfig {
            regions: vec![
                region("r1", "aws"),
                region("r2", "gcp"),
                region("r3", "azure"),
            ],
            gateways: vec![node("gw-a", "r1"), node("gw-b", "r2"), node("gw-c", "r3")],
            scanners: Vec::new(),
            controllers: Vec::new(),
            tenants: Vec::new(),
            dns_host: "dns".into(),
            knobs: Knobs::simulation_defaults(),
            bugs: Vec::new(),
            postmaster: None,
        }
    }

    fn entry(owner: &str, replicas: &[&str]) -> Entry {
        Entry {
            id: "1".into(),
            message_id: "m1@mailsim.test".into(),
            tenant: "acme".into(),
            mail_from: "x@sender.example".into(),
            rcpts: [
                ("a@acme.example".to_string(), RcptState::Pending),
                ("b@acme.example".to_string(), RcptState::Pending),
            ]
            .into_iter()
            .collect(),
            received_ms: 0,
            owner: owner.into(),
            epoch: 1,
            replicas: replicas.iter().map(|r| r.to_string()).collect(),
            verdict: None,
            is_dsn: false,
            attempts: 0,
            next_attempt_ms: 0,
            dsn_reported: Vec::new(),
            in_doubt: None,
            smtputf8: false,
        }
    }

    #[test]
    fn ballots_order_by_epoch_then_owner() {
        let b = |epoch, owner: &str| Ballot {
            epoch,
            owner: owner.into(),
        };
        assert!(b(2, "gw-a") > b(1, "gw-z"));
        assert!(b(2, "gw-b") > b(2, "gw-a"));
    }

    #[test]
    fn a_takeover_keeps_the_copy_set_and_demotes_the_old_owner() {
        let config = config();
        let mut e = entry("gw-b", &["gw-a", "gw-c"]);
        assert_eq!(copy_set(&config, &e), vec!["gw-a", "gw-b", "gw-c"]);
        adopt(
            &config,
            &mut e,
            &Ballot {
                epoch: 2,
                owner: "gw-c".into(),
            },
        );
        assert_eq!((e.epoch, e.owner.as_str()), (2, "gw-c"));
        assert_eq!(e.replicas, vec!["gw-a", "gw-b"]);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
    }

    #[test]
    fn a_copy_set_member_the_config_does_not_know_still_counts_once() {
        let config = config();
        let e = entry("gw-x", &["gw-c", "gw-y", "gw-a"]);
        assert_eq!(copy_set(&config, &e), vec!["gw-a", "gw-c", "gw-x", "gw-y"]);
    }

    #[test]
    fn merging_never_undoes_a_settled_recipient() {
        let mut mine = entry("gw-a", &["gw-b"]);
        mine.rcpts
            .insert("a@acme.example".into(), RcptState::Delivered);
        let mut theirs = entry("gw-a", &["gw-b"]);
        theirs
            .rcpts
            .insert("b@acme.example".into(), RcptState::Quarantined);
        theirs.verdict = Some(Verdict::Spam);
        theirs.attempts = 3;
        theirs.dsn_reported = vec!["c@acme.example".into()];
        mine.dsn_reported = vec!["d@acme.example".into()];
        assert!(merge_progress(&mut mine, &Progress::of(&theirs)));
        assert_eq!(mine.rcpts["a@acme.example"], RcptState::Delivered);
        assert_eq!(mine.rcpts["b@acme.example"], RcptState::Quarantined);
        assert_eq!((mine.verdict, mine.attempts), (Some(Verdict::Spam), 3));
        // A bounce reported anywhere is reported: no second DSN for it.
        assert_eq!(mine.dsn_reported, vec!["d@acme.example", "c@acme.example"]);
        assert!(!merge_progress(&mut mine, &Progress::of(&theirs)));
        assert_eq!(mine.dsn_reported.len(), 2);
    }

    #[test]
    fn the_doubt_that_counts_is_the_latest_anyone_else_marked() {
        let doubt = |by: &str, since_ms| {
            Some(InDoubt {
                by: by.into(),
                since_ms,
                gave_up: false,
            })
        };
        assert_eq!(doubt_for("gw-a", &[None, None]), None);
        // Its own mark tells a node nothing it does not know.
        assert_eq!(doubt_for("gw-a", &[doubt("gw-a", 9)]), None);
        let marks = [doubt("gw-b", 5), None, doubt("gw-a", 9), doubt("gw-c", 7)];
        assert_eq!(doubt_for("gw-a", &marks), doubt("gw-c", 7));
        assert_eq!(doubt_for("gw-c", &marks), doubt("gw-a", 9));
    }
}
