//! What a node has heard, and when: from each peer at all, and from the
//! owner of each message it holds a copy of. In memory only, on purpose —
//! a restarted node remembers nothing, so it grants no takeover for one
//! lease after boot ([`Heard::in_boot_grace`]): it cannot know whether it
//! heard from an owner just before the crash.
//!
//! The owner lease rests on these times: a replica that heard the owner
//! at `t` refuses to let anyone else take the message over before `t +
//! lease`, so an owner that got a majority to confirm its ballot at `t`
//! can act until then without anyone else acting too.

use std::collections::BTreeMap;

use crate::config::GatewayConfig;
use crate::gateway::replication;

#[derive(Debug, Default)]
pub struct Heard {
    boot_ms: u64,
    /// Message id → when its owner (by our copy's ballot) last spoke to us.
    owner_ms: BTreeMap<String, u64>,
    /// Peer host → when it last answered or asked us anything.
    peer_ms: BTreeMap<String, u64>,
    /// Message id → the highest epoch any peer mentioned, so a new claim
    /// outbids every ballot already in play.
    epoch_seen: BTreeMap<String, u64>,
    /// Message id → until when this node makes no claim for it, after one
    /// that failed (see `sync::back_off_after_failed_claim`).
    claims_paused_until_ms: BTreeMap<String, u64>,
}

impl Heard {
    pub fn new(boot_ms: u64) -> Self {
        Heard {
            boot_ms,
            ..Heard::default()
        }
    }

    /// Within one lease of boot: too soon to vote anyone's owner out.
    pub fn in_boot_grace(&self, now_ms: u64, lease_ms: u64) -> bool {
        now_ms < self.boot_ms.saturating_add(lease_ms)
    }

    pub fn owner_spoke(&mut self, id: &str, now_ms: u64) {
        self.owner_ms.insert(id.to_string(), now_ms);
    }

    /// The owner of `id` has been silent for a whole lease (a copy whose
    /// owner never spoke counts from boot).
    pub fn owner_quiet(&self, id: &str, now_ms: u64, lease_ms: u64) -> bool {
        let last = self.owner_ms.get(id).copied().unwrap_or(self.boot_ms);
        now_ms.saturating_sub(last) >= lease_ms
    }

    pub fn peer_spoke(&mut self, host: &str, now_ms: u64) {
        self.peer_ms.insert(host.to_string(), now_ms);
    }

    /// `host` spoke to us within the last lease.
    pub fn peer_recent(&self, host: &str, now_ms: u64, lease_ms: u64) -> bool {
        self.peer_ms
            .get(host)
            .is_some_and(|&t| now_ms.saturating_sub(t) < lease_ms)
    }

    pub fn saw_epoch(&mut self, id: &str, epoch: u64) {
        let seen = self.epoch_seen.entry(id.to_string()).or_insert(0);
        *seen = (*seen).max(epoch);
    }

    pub fn epoch_max(&self, id: &str) -> u64 {
        self.epoch_seen.get(id).copied().unwrap_or(0)
    }

    /// Whether node `me` can take mail now: it has heard, within a lease,
    /// from enough peers of its jurisdiction to reach the replication quorum.
    pub fn healthy(&self, config: &GatewayConfig, me: &str, now_ms: u64) -> bool {
        let lease_ms = config.knobs.owner_lease_ms;
        // The quorum only grows with more peers: stop at the first set that
        // holds it (asked per request; counting every peer of a large
        // jurisdiction each time cost the square of its size).
        let mut reachable: Vec<String> = Vec::new();
        for peer in config.jurisdiction_peers(me) {
            if self.peer_recent(&peer.host, now_ms, lease_ms) {
                reachable.push(peer.host.clone());
                if replication::quorum_holds(config, me, &reachable) {
                    return true;
                }
            }
        }
        replication::quorum_holds(config, me, &reachable)
    }

    pub fn pause_claims(&mut self, id: &str, until_ms: u64) {
        self.claims_paused_until_ms.insert(id.to_string(), until_ms);
    }

    /// A claim for `id` failed here recently: not our turn to ask again.
    pub fn claims_paused(&self, id: &str, now_ms: u64) -> bool {
        self.claims_paused_until_ms
            .get(id)
            .is_some_and(|&until_ms| now_ms < until_ms)
    }

    /// The message is gone from this node: drop what we knew about it.
    pub fn forget(&mut self, id: &str) {
        self.owner_ms.remove(id);
        self.epoch_seen.remove(id);
        self.claims_paused_until_ms.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SpamPolicy, Tenant};
    use crate::gateway::answering_node;

    /// gw-a, gw-b, gw-c on three clouds, one tenant allowed in all three.
    fn config() -> GatewayConfig {
        let mut config = answering_node::config(&[]);
        config.tenants.push(Tenant {
            name: "t".into(),
            domain: "t.test".into(),
            users: vec!["u".into()],
            allowed_regions: vec!["r1".into(), "r2".into(), "r3".into()],
            mailbox_host: "mx".into(),
            backup_mailbox_hosts: Vec::new(),
            spam_policy: SpamPolicy::Tag,
        });
        config
    }

    #[test]
    fn a_node_is_healthy_only_while_it_hears_enough_peers_for_a_quorum() {
        let config = config();
        let lease_ms = config.knobs.owner_lease_ms;
        let mut heard = Heard::new(0);
        // Alone: no copy could reach the quorum (2 copies on 2 clouds).
        assert!(!heard.healthy(&config, "gw-b", 1_000));
        heard.peer_spoke("gw-c", 1_000);
        assert!(heard.healthy(&config, "gw-b", 1_000));
        assert!(heard.healthy(&config, "gw-b", 1_000 + lease_ms - 1));
        // The peer went quiet for a whole lease: cut off again.
        assert!(!heard.healthy(&config, "gw-b", 1_000 + lease_ms));
        heard.peer_spoke("gw-a", 1_000 + lease_ms);
        assert!(heard.healthy(&config, "gw-b", 1_000 + lease_ms));
    }

    #[test]
    fn claims_pause_until_the_given_time_and_no_longer() {
        let mut heard = Heard::new(0);
        assert!(!heard.claims_paused("m", 0));
        heard.pause_claims("m", 2_000);
        assert!(heard.claims_paused("m", 1_999));
        assert!(!heard.claims_paused("m", 2_000));
        assert!(!heard.claims_paused("other", 1_999));
        heard.forget("m");
        assert!(!heard.claims_paused("m", 1_999));
    }

    #[test]
    fn an_owner_is_quiet_only_after_a_whole_lease_of_silence() {
        let mut heard = Heard::new(1_000);
        assert!(heard.in_boot_grace(5_999, 5_000));
        assert!(!heard.in_boot_grace(6_000, 5_000));
        // Never heard: counted from boot.
        assert!(!heard.owner_quiet("m", 5_999, 5_000));
        assert!(heard.owner_quiet("m", 6_000, 5_000));
        heard.owner_spoke("m", 7_000);
        assert!(!heard.owner_quiet("m", 11_999, 5_000));
        assert!(heard.owner_quiet("m", 12_000, 5_000));
    }

    #[test]
    fn peers_are_recent_for_one_lease_and_epochs_only_grow() {
        let mut heard = Heard::new(0);
        assert!(!heard.peer_recent("gw-b", 0, 5_000));
        heard.peer_spoke("gw-b", 100);
        assert!(heard.peer_recent("gw-b", 5_099, 5_000));
        assert!(!heard.peer_recent("gw-b", 5_100, 5_000));
        heard.saw_epoch("m", 3);
        heard.saw_epoch("m", 2);
        assert_eq!(heard.epoch_max("m"), 3);
        heard.forget("m");
        assert_eq!(heard.epoch_max("m"), 0);
    }
}
