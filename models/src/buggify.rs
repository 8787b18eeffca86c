//! Code-level fault injection, as FoundationDB's BUGGIFY: named places in
//! the gateway where a rare path (a short timeout, a dropped connection, a
//! torn write, a peer's spurious refusal, a slow scan) is taken on purpose
//! when the environment says so ([`crate::env::Env::buggify`]).
//!
//! The gateway only asks; the environment decides. A simulated run with
//! BUGGIFY switched on enables each site for the whole run with some
//! probability and then fires it at some per-site rate, all from the run's
//! seed; real mode and every run without it answer no, so the gateway's
//! behaviour there is unchanged. Each site must be survivable by a correct
//! gateway: it makes a real failure common, it never invents an impossible one.

/// (site, what happens when it fires). Sweeps list the sites that never
/// fired, so every site used in the code belongs here.
pub const SITES: &[(&str, &str)] = &[
    (
        "replication.short_timeout",
        "ingress waits a tenth of the replication timeout for its copies",
    ),
    (
        "delivery.drop_after_reply",
        "the delivery client drops the connection right after the mailbox's reply to the final dot",
    ),
    (
        "delivery.stall_after_confirm",
        "the owner stalls for a whole lease between its last confirmation and its final dot",
    ),
    (
        "spool.torn_write",
        "a spool entry write stops half way and fails, leaving a torn file",
    ),
    (
        "voter.spurious_refusal",
        "a node refuses a copy or an update from a peer with a transient failure",
    ),
    (
        "voter.close_after_reply",
        "a node closes a peer's connection right after its reply, so the asker's next request on it must reconnect",
    ),
    (
        "scanner.slow_scan",
        "a scanner sits on a message for as long as the gateway's scan timeout before answering",
    ),
];

pub fn is_site(name: &str) -> bool {
    SITES.iter().any(|(site, _)| *site == name)
}
