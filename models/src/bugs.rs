//! The known-bug catalogue: realistic mistakes the gateway can be switched
//! into at run time, so every property can be shown to catch the bug it
//! exists for. All are off by default. Each is a small change of behaviour in
//! the real code path (grep for its name), never a flag a checker reads.

/// (name, what goes wrong).
pub const CATALOGUE: &[(&str, &str)] = &[
    (
        "ack-before-fsync",
        "answers 250 before the spooled message is fsynced",
    ),
    (
        "ack-before-dir-sync",
        "answers 250 once the spooled files are fsynced, without syncing their directory",
    ),
    (
        "quorum-below-majority",
        "answers 250 on the replication quorum even when it is less than a majority of the copy set",
    ),
    (
        "no-parent-dir-sync",
        "syncs the spool's files and directory but never the new directory's name in its parent",
    ),
    (
        "fsync-retry-trusted",
        "retries a failed fsync and believes the retry, though the failed one dropped the dirty pages",
    ),
    (
        "successor-waits-for-copyless",
        "a replica defers a takeover to a live member ahead of it in config order even when that member holds no copy and so can never take over",
    ),
    (
        "claims-never-retried",
        "an owner whose ballot lost its majority to a claim that some members granted and that still failed waits for a majority for ever instead of claiming over that promise",
    ),
    (
        "duelling-claims",
        "a replica claims a message while its owner still answers with its copy, and a claimant whose claim failed asks again every sync round: two claimants that each hold some of the votes keep each other's voters and neither ever wins",
    ),
    (
        "fresh-copy-taken-for-finished",
        "a replica drops a copy that a majority of its copy set does not hold yet, while its owner is still copying it, as if it were delivered and forgotten",
    ),
    (
        "settled-unspoken",
        "a node that settled a message for good (finished or refused it, or holds it in quarantine) answers a sync about it as if it had never heard of it, so stale copies that missed its forget cannot tell it was settled",
    ),
    (
        "amnesia-taken-for-forgetting",
        "a node reborn on an empty disk answers \"no copy\" about messages it held before and the asker takes that for \"never had it or forgot it\", and a copy set left with fewer holders than a majority waits for one for ever: two disks lost in turn leave acknowledged mail with an intact copy undelivered",
    ),
    (
        "stale-ballot-counted-as-copy",
        "a copy set's holders are counted whatever ballot they hold, so a member still on an older ballot than a claim's stands in for a lost copy of the new one: two members on each ballot and one reborn empty, no owner reaches a majority and no one restores the lost copy",
    ),
    (
        "spool-read-retry-hot",
        "retries a failed spool read at once, on the doorbell its own pass rings: a loop that takes no simulated time",
    ),
    (
        "read-error-bounces",
        "takes an I/O error reading a spooled message for a message gone for good and bounces its recipients, where the next read (or another copy) would have delivered it",
    ),
    (
        "spool-trusts-reads",
        "delivers the spooled bytes as the disk returns them, without checking their checksum",
    ),
    (
        "refusal-despite-copies",
        "answers 451 to a message it missed the quorum for even when its copies could not all be told to forget it, so one may be delivered beside the sender's resend",
    ),
    (
        "ack-before-replication-quorum",
        "answers 250 after the local fsync without waiting for replicas",
    ),
    (
        "delete-before-downstream-ack",
        "removes the spooled message before the mailbox server's 250",
    ),
    (
        "fail-open-scanner",
        "delivers unscanned when the scanner does not answer in time",
    ),
    (
        "scanner-skips-encoded-attachments",
        "the scanner ignores base64-encoded attachments",
    ),
    (
        "scanner-signature-typo",
        "the scanner looks for a misspelt EICAR signature and misses the real test file",
    ),
    (
        "failover-ignores-residency",
        "replicates to and scans in any region, whatever the tenant's jurisdiction",
    ),
    (
        "no-fencing-on-rejoin",
        "a recovered node delivers messages it no longer owns",
    ),
    (
        "dsn-about-dsn",
        "bounces undeliverable DSNs with another DSN",
    ),
    (
        "dsn-to-wrong-sender",
        "sends DSNs to the first recipient instead of the sender",
    ),
    ("expiry-without-dsn", "drops expired messages without a DSN"),
    ("retry-forever", "never expires a message; keeps retrying"),
    (
        "bounce-while-in-doubt",
        "stops waiting on an in-doubt mark after half the queue lifetime and forgets it, so a message a previous owner may have delivered is bounced as expired: the sender is told it failed though the mailbox has it",
    ),
    (
        "in-doubt-gives-up",
        "a new owner stops waiting on a predecessor's in-doubt delivery after half the queue lifetime and delivers anyway, so mail whose first delivery got through just before its owner was cut off for longer is delivered twice",
    ),
    (
        "late-after-doubt",
        "delivers mail it held past its queue lifetime for a previous owner's in-doubt delivery, once that owner says it did not get through, instead of bouncing it as expired",
    ),
    (
        "dsn-before-refusal-recorded",
        "queues and replicates the DSN about a refused recipient before telling the copy set the recipient failed, so an owner that crashes between the two leaves a successor that delivers what the DSN reports failed",
    ),
    (
        "quarantine-on-owner-only",
        "a replica told that a message was quarantined drops its copy as its own entry says, and an entry that missed the owner's update says nothing of a quarantine: the quarantine lives on the owner's disk alone, and one lost disk takes it",
    ),
    (
        "dsn-dropped-after-doubt",
        "drops a DSN it held for a previous owner's in-doubt delivery once that owner says it did not get through, when the DSN's lifetime ran out meanwhile, without trying it once: the sender never hears its mail failed",
    ),
    (
        "late-start-after-expiry",
        "starts delivering mail already past its queue lifetime (its owner held it without a majority, or was down) the moment it can act, instead of bouncing it as expired",
    ),
    (
        "bounce-unquarantined",
        "bounces malware (or quarantine-policy spam) as expired when its quarantine write failed past the queue lifetime, sending a DSN about malware to a likely forged sender",
    ),
    (
        "expiry-waits-for-scan",
        "delivers mail whose scan waited past its queue lifetime (every scanner of its jurisdiction down) once a scanner answers, instead of bouncing it as expired",
    ),
    (
        "split-by-first-tenant",
        "takes several tenants' recipients in one transaction and files the message under the first one's tenant",
    ),
    (
        "cross-tenant-routing",
        "routes a recipient to another tenant's mailbox server",
    ),
    (
        "answer-451-always",
        "takes the replication quorum over the whole deployment, so every message gets 451",
    ),
    (
        "report-disk-lost-on-empty-boot",
        "a gateway that boots with an empty spool reports its disk as lost (a fault event)",
    ),
    (
        "first-mailbox-only",
        "delivers a tenant's mail only to the first server of its delivery route and never tries the backups when that one is down",
    ),
    (
        "retry-without-backoff",
        "schedules the retry of a deferred recipient for now instead of after the backoff, so a greylisting or failing server is knocked on again at once",
    ),
    (
        "refusal-text-kept-whole",
        "keeps a mail server's whole refusal as the recipient's diagnostic: a multi-line 554 of tens of KiB, reported for a few recipients, makes a DSN bigger than any peer takes a copy of, so the DSN never goes out and the bounces are lost",
    ),
    (
        "dsn-status-generic",
        "reports every recipient its server refused as 5.0.0 in the DSN, whatever enhanced status the server's reply gave",
    ),
    (
        "dsn-delayed-for-expired",
        "reports a recipient it gave up at expiry (a status of class 4) with Action: delayed, telling the sender its mail is still being tried",
    ),
    (
        "null-sender-is-dsn",
        "takes any message with a null reverse-path (MAIL FROM:<>) for a DSN of its own: routes it by MX instead of to the tenant's mailbox server and never quarantines it",
    ),
    (
        "truncate-body",
        "delivers the body without its last line (an off-by-one in line splitting)",
    ),
    (
        "quarantine-clean-mail",
        "quarantines a message no scanner answered for, instead of waiting",
    ),
    (
        "dsn-replicas-anywhere",
        "replicates a DSN to every gateway, whatever the jurisdiction of the tenant whose mail it quotes",
    ),
    (
        "expired-after-calling-off",
        "gives a message up as expired (bounces it, or drops a DSN) at the end of a pass whose delivery it called off itself, fenced by a newer owner or without a majority to confirm its ballot",
    ),
    (
        "unknown-users-accepted",
        "takes mail at RCPT for any address of a tenant's domain, as a catch-all would, without asking whether the tenant has that mailbox",
    ),
    (
        "size-limit-off-by-one",
        "refuses a message exactly at the declared size limit (counts with >= where RFC 1870 allows equal)",
    ),
    (
        "scan-head-only",
        "sends the scanner only a message's first 4 KiB and delivers the whole on that verdict",
    ),
    (
        "deliver-and-bounce",
        "after a delivery attempt that settled nothing, bounces the recipients it had just delivered",
    ),
    (
        "queue-newest-first",
        "takes due messages newest first, so mail parked behind an outage drains in reverse",
    ),
    (
        "expiry-trusts-clocks",
        "expires queued mail by comparing the owner's clock with the acceptor's as if both were exact",
    ),
    (
        "bounce-on-4xx",
        "bounces a recipient at the first 4xx or refused connection instead of retrying",
    ),
    (
        "retry-after-5xx",
        "takes a 5xx at RCPT for a temporary refusal and offers the recipient again at every retry until the queue lifetime runs out",
    ),
    (
        "refusal-cached-per-recipient",
        "remembers a recipient its server refused with a 5xx at RCPT and bounces every later message to it without offering it, whoever sent it",
    ),
    (
        "drop-means-delivered",
        "takes a connection that dies once the message's data is on its way for a delivery",
    ),
    (
        "dot-timeout-bounces",
        "waits 1 s for the reply to the final dot (RFC 5321 §4.5.3.2: 10 minutes) and takes the silence for a refusal",
    ),
    (
        "servfail-bounces",
        "takes a DNS SERVFAIL or timeout for NXDOMAIN and gives up the DSN it was routing",
    ),
    (
        "short-write-ignored",
        "takes a spool write that ENOSPC stopped halfway for a whole one and acknowledges the cut copy",
    ),
    (
        "slow-fsync-assumed-done",
        "waits 500 ms for the spool's fsync and, if the disk is slower, answers as if it were done",
    ),
];

pub fn is_known(name: &str) -> bool {
    CATALOGUE.iter().any(|(known, _)| *known == name)
}
