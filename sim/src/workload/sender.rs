//! The internet's MTAs (`mta-<k>`): they send the workload to whatever the
//! MX records say, and record what they were told.
//!
//! Their `send_*` events are ground truth for the properties: a 250 after the
//! final dot is a promise the gateway must keep, a 5xx a refusal it must
//! stand by, and an answer lost after the dot (RFC 1047) licenses exactly one
//! kind of duplicate. So a sender behaves like a careful real MTA (RFC 5321
//! §4.5.4, §5.1): it walks the MX list in preference order, keeps retrying
//! recipients that got 4xx or no answer with doubling backoff until its
//! lifetime runs out, trusts DNS answers for their TTL, and treats an
//! indefinite answer as "not delivered" and tries again. Like Exim with
//! `multi_domain`, it puts recipients of domains served by the same MX hosts
//! in one transaction, so the gateway meets envelopes naming several tenants;
//! recipients answered 452 (no room, RFC 5321 §4.5.3.1.10) go in a new
//! transaction at once, the only way the sender learns the server's limit.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::workload::ports;
use models::env::{self, Env, SharedEnv};
use traces::{Class, EventKind, Told};

use crate::scenario::MessagePlan;
use crate::workload::dns::{MxCache, resolve_shared};
use crate::workload::mime::{MessageKind, MessageSpec, build_message};
use crate::workload::size_edge;
use crate::workload::smtp_client::{self, Failure, Offer, Transaction};
use crate::workload::smtp_reply::ServerReply;

/// How every sender of a run behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderSettings {
    /// The host serving MX answers.
    pub dns_host: String,
    /// How long after its first try a message is given up.
    pub lifetime_ms: u64,
    pub backoff_ms_min: u64,
    pub backoff_ms_max: u64,
    /// Bound on connecting, on each SMTP command, and on each DNS query.
    pub smtp_timeout_ms: u64,
}

/// Sends `plans` (each on its own task, at its own time) and returns once
/// every one is delivered, refused or given up.
pub async fn run(env: SharedEnv, plans: Vec<MessagePlan>, settings: SenderSettings) {
    // One resolver cache per MTA, as in real life: every message of this host
    // sees the same (possibly stale) MX answer.
    let cache = Rc::new(RefCell::new(MxCache::new()));
    let settings = Rc::new(settings);
    // Nothing is ever sent on this channel: each task owns a sender half, and
    // `recv` returns None once all of them have been dropped. Waiting matters
    // because turmoil stops running a host whose main future has returned.
    let (running, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    for plan in plans {
        let task = deliver(
            env.clone(),
            cache.clone(),
            settings.clone(),
            plan,
            running.clone(),
        );
        env.spawn(Box::pin(task));
    }
    drop(running);
    let _ = all_done.recv().await;
}

/// One message from its first try to its end.
async fn deliver(
    env: SharedEnv,
    cache: Rc<RefCell<MxCache>>,
    settings: Rc<SenderSettings>,
    plan: MessagePlan,
    _running: tokio::sync::mpsc::Sender<()>,
) {
    let env = &*env;
    let start = now_ms(env);
    if plan.at_ms > start {
        env.sleep(Duration::from_millis(plan.at_ms - start)).await;
    }
    let date = date_for(plan.at_ms);
    // Built once: every retry sends the very same bytes, as a real MTA's
    // queue file would.
    let message = build_message(&MessageSpec {
        message_id: &plan.id,
        from: &plan.mail_from,
        to: &plan.rcpts,
        subject_seed: plan.body_seed.rotate_left(17),
        body_seed: plan.body_seed,
        kind: plan.kind,
        body_bytes_approx: plan.body_bytes_approx as usize,
        date_rfc2822: &date,
    });
    // A message meant to sit at the size limit is padded to it exactly; if
    // it cannot be, it goes as built and `size` below says what it is.
    let message = match plan.size_octets {
        Some(octets) => size_edge::padded_to(message.clone(), octets).unwrap_or(message),
        None => message,
    };
    env.observe(EventKind::MessageBuilt {
        msg: plan.id.clone(),
        class: class_of(plan.kind),
        body_sha256: traces::sha256_hex(&message),
        size: size_edge::rfc1870_octets(&message),
        mail_from: plan.envelope_sender().to_string(),
        rcpts: plan.rcpts.clone(),
    });
    let deadline = plan.at_ms.saturating_add(settings.lifetime_ms);
    let mut delivery = Delivery::new(env, &plan, &settings);
    let mut passes = 0u32;
    loop {
        // Domains served by the same MX hosts travel together, one
        // transaction for all their recipients, as Exim's `multi_domain`
        // batches addresses routed to the same hosts: the gateway fronts
        // many tenants, so one envelope may name several of them.
        let mut routes: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for domain in delivery.pending_domains() {
            let (dns_host, limit) = (&settings.dns_host, settings.smtp_timeout_ms);
            let hosts = match resolve_shared(&cache, env, dns_host, &domain, limit).await {
                Ok(hosts) => hosts,
                Err(error) => {
                    delivery.last_error = format!("MX lookup for {domain}: {error}");
                    continue;
                }
            };
            match routes
                .iter_mut()
                .find(|(known, _)| same_hosts(known, &hosts))
            {
                Some((_, domains)) => domains.push(domain),
                None => routes.push((hosts, vec![domain])),
            }
        }
        for (hosts, domains) in routes {
            // RFC 5321 §5.1: try the MX hosts in preference order (the first
            // domain's), each only for the recipients still pending.
            for mx in hosts {
                // RFC 5321 §4.5.3.1.10: recipients refused with 452 for want
                // of room go in a later transaction, at once while the
                // server keeps taking some.
                loop {
                    let rcpts = delivery.pending_in(&domains);
                    if rcpts.is_empty() || now_ms(env) >= deadline {
                        break;
                    }
                    if !delivery.attempt(&mx, &rcpts, &message).await {
                        break;
                    }
                }
            }
        }
        if delivery.pending.is_empty() {
            delivery.finish();
            return;
        }
        if now_ms(env) >= deadline {
            break;
        }
        passes += 1;
        let min = settings.backoff_ms_min.max(1);
        let backoff = backoff_ms(passes, min, settings.backoff_ms_max.max(min));
        let left = deadline.saturating_sub(now_ms(env));
        env.sleep(Duration::from_millis(backoff.min(left))).await;
        if now_ms(env) >= deadline {
            break;
        }
    }
    env.observe(EventKind::SenderGaveUp {
        msg: plan.id.clone(),
        reason: format!("lifetime over; last error: {}", delivery.last_error),
    });
}

/// What one message's delivery knows so far.
struct Delivery<'a> {
    env: &'a dyn Env,
    plan: &'a MessagePlan,
    settings: &'a SenderSettings,
    /// Recipients neither accepted nor refused yet, in plan order.
    pending: Vec<String>,
    /// Counts SMTP attempts across all MX hosts and passes, from 1.
    attempts: u32,
    accepted_ever: bool,
    /// The code of the last permanent refusal, if any recipient got one.
    rejected_code: Option<u16>,
    /// Why the last attempt failed, for the give-up reason.
    last_error: String,
}

impl<'a> Delivery<'a> {
    fn new(env: &'a dyn Env, plan: &'a MessagePlan, settings: &'a SenderSettings) -> Self {
        let mut pending: Vec<String> = Vec::new();
        for rcpt in &plan.rcpts {
            if !pending.contains(rcpt) {
                pending.push(rcpt.clone());
            }
        }
        Delivery {
            env,
            plan,
            settings,
            pending,
            attempts: 0,
            accepted_ever: false,
            rejected_code: None,
            last_error: "never tried".to_string(),
        }
    }

    /// Distinct domains of the pending recipients, in first-seen order.
    fn pending_domains(&self) -> Vec<String> {
        let mut domains: Vec<String> = Vec::new();
        for rcpt in &self.pending {
            let domain = domain_of(rcpt);
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        domains
    }

    /// The pending recipients whose domain is one of `domains`, in plan order.
    fn pending_in(&self, domains: &[String]) -> Vec<String> {
        self.pending
            .iter()
            .filter(|rcpt| domains.contains(&domain_of(rcpt)))
            .cloned()
            .collect()
    }

    fn settle(&mut self, rcpt: &str) {
        self.pending.retain(|pending| pending != rcpt);
    }

    fn outcome(&self, told: Told, code: u16, rcpts: Vec<String>) {
        self.env.observe(EventKind::SendOutcome {
            msg: self.plan.id.clone(),
            told,
            code,
            rcpts,
        });
    }

    /// One connection to `mx` offering the message to `rcpts`. True when
    /// the server took some recipients and had no room for others (452):
    /// worth a new transaction for the rest right away.
    async fn attempt(&mut self, mx: &str, rcpts: &[String], message: &[u8]) -> bool {
        self.attempts += 1;
        self.env.observe(EventKind::SendAttempt {
            msg: self.plan.id.clone(),
            attempt: self.attempts,
            mx: mx.to_string(),
        });
        let limit = Duration::from_millis(self.settings.smtp_timeout_ms);
        let mut conn = match env::timeout(self.env, limit, self.env.connect(mx, ports::SMTP)).await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => {
                self.no_answer(mx, &format!("connect: {error}"));
                return false;
            }
            Err(_) => {
                self.no_answer(mx, "connect: timed out");
                return false;
            }
        };
        let offer = Offer {
            helo: self.env.host_name(),
            mail_from: self.plan.envelope_sender(),
            rcpts,
            message,
        };
        let result =
            smtp_client::send(self.env, &mut conn, offer, self.settings.smtp_timeout_ms).await;
        match result {
            Ok(transaction) => self.judge(mx, rcpts, &transaction),
            Err(Failure::BeforeDot(why)) => {
                self.no_answer(mx, &why);
                false
            }
            Err(Failure::AfterDot(why)) => {
                // RFC 1047: the server may have taken the message. The error
                // does not say which RCPTs were accepted, so every recipient
                // offered is reported (a superset errs on the safe side for
                // the duplicate accounting). They stay pending: RFC 5321
                // §6.1 prefers a duplicate to a loss.
                self.last_error = format!("{mx}: {why}");
                self.outcome(Told::Indefinite, 0, rcpts.to_vec());
                false
            }
        }
    }

    /// Nothing was said about the message (refused, dropped or timed out
    /// before the final dot): definitely not accepted, try elsewhere.
    fn no_answer(&mut self, mx: &str, why: &str) {
        self.last_error = format!("{mx}: {why}");
        self.outcome(Told::Deferred, 0, Vec::new());
    }

    /// Reads a completed transaction: who was accepted, refused or put off.
    /// True when some recipients were accepted and others found no room.
    fn judge(&mut self, mx: &str, offered: &[String], transaction: &Transaction) -> bool {
        let mail = &transaction.mail;
        if !mail.positive_completion() {
            // No RCPT was sent. A permanent MAIL refusal refuses the message
            // for everyone offered; anything else is worth another try.
            self.last_error = format!("{mx}: MAIL {mail}");
            if mail.permanent_negative() {
                for rcpt in offered {
                    self.settle(rcpt);
                }
                self.rejected_code = Some(mail.code);
                self.outcome(Told::Rejected, mail.code, Vec::new());
            } else {
                self.outcome(Told::Deferred, mail.code, Vec::new());
            }
            return false;
        }
        let mut accepted = Vec::new();
        let mut transient: Option<&ServerReply> = None;
        let mut permanent: Option<&ServerReply> = None;
        let mut no_room = false;
        for (rcpt, reply) in &transaction.rcpts {
            self.env.observe(EventKind::RcptReply {
                msg: self.plan.id.clone(),
                rcpt: rcpt.clone(),
                code: reply.code,
            });
            if reply.positive_completion() {
                accepted.push(rcpt.clone());
            } else if reply.permanent_negative() {
                self.settle(rcpt);
                self.rejected_code = Some(reply.code);
                permanent = Some(reply);
            } else {
                // 4xx (or a nonsensical 3xx): the recipient stays pending.
                no_room |= reply.code == TOO_MANY_RECIPIENTS;
                transient.get_or_insert(reply);
            }
        }
        if let Some(reply) = transient.or(permanent) {
            self.last_error = format!("{mx}: RCPT {reply}");
        }
        // The reply that decided the accepted recipients' fate: the one after
        // the final dot, or a DATA command answered with anything but 354.
        let verdict = transaction.data.as_ref().or(transaction
            .data_start
            .as_ref()
            .filter(|reply| reply.code != 354));
        match verdict {
            Some(reply) if reply.positive_completion() => {
                for rcpt in &accepted {
                    self.settle(rcpt);
                }
                self.accepted_ever = true;
                self.outcome(Told::Accepted, reply.code, accepted);
                return no_room;
            }
            Some(reply) if reply.permanent_negative() => {
                self.last_error = format!("{mx}: DATA {reply}");
                for rcpt in &accepted {
                    self.settle(rcpt);
                }
                self.rejected_code = Some(reply.code);
                self.outcome(Told::Rejected, reply.code, accepted);
            }
            Some(reply) => {
                self.last_error = format!("{mx}: DATA {reply}");
                self.outcome(Told::Deferred, reply.code, accepted);
            }
            // No DATA was sent, so no recipient was accepted.
            None => match (transient, permanent) {
                (Some(reply), _) => self.outcome(Told::Deferred, reply.code, Vec::new()),
                (None, Some(reply)) => self.outcome(Told::Rejected, reply.code, Vec::new()),
                // A server that answered nothing to our RCPTs: cannot happen
                // with a non-empty offer, but is not worth a panic.
                (None, None) => self.outcome(Told::Deferred, 0, Vec::new()),
            },
        }
        false
    }

    /// Every recipient is settled: note a message nobody took.
    fn finish(&self) {
        if let (false, Some(code)) = (self.accepted_ever, self.rejected_code) {
            self.env.observe(EventKind::SenderGaveUp {
                msg: self.plan.id.clone(),
                reason: format!("rejected: {code}"),
            });
        }
    }
}

/// RFC 5321 §4.5.3.1.10: the reply to a RCPT beyond the server's limit.
const TOO_MANY_RECIPIENTS: u16 = 452;

/// Whether two MX answers name the same hosts, in whatever order: the
/// directory rotates one set of gateways per domain to spread the load, as
/// equal-preference records would (Exim's `same_hosts` takes equal-preference
/// hosts in any order as the same list).
fn same_hosts(a: &[String], b: &[String]) -> bool {
    let sorted = |hosts: &[String]| {
        let mut hosts: Vec<String> = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        hosts.sort();
        hosts
    };
    sorted(a) == sorted(b)
}

/// What the workload put in a message of `kind`: ground truth for the
/// properties, whatever a scanner makes of it.
fn class_of(kind: MessageKind) -> Class {
    match kind {
        MessageKind::Plain | MessageKind::MultipartAttachment | MessageKind::Html => Class::Clean,
        MessageKind::Spam => Class::Spam,
        MessageKind::Eicar | MessageKind::EicarZipLike => Class::Malware,
    }
}

/// The domain of an address, lower-cased (DNS names are case-insensitive);
/// empty if there is none.
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, domain)| domain.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The wait before retry pass `pass` (from 1): `min` doubled each pass,
/// capped at `max` (RFC 5321 §4.5.4.1 asks for at least 30 minutes between
/// real retries; the simulation scales time down, not the shape).
fn backoff_ms(pass: u32, min: u64, max: u64) -> u64 {
    let doublings = pass.saturating_sub(1).min(32);
    min.saturating_mul(1u64 << doublings).min(max)
}

fn now_ms(env: &dyn Env) -> u64 {
    u64::try_from(env.now().as_millis()).unwrap_or(u64::MAX)
}

/// A fixed, deterministic Date header for a message first sent at `at_ms`
/// after the start of the run: the run "starts" at midnight UTC on
/// Wednesday 25 November 2026, so replays carry identical bytes.
fn date_for(at_ms: u64) -> String {
    let seconds = at_ms / 1000;
    let (hours, minutes, seconds) = ((seconds / 3600) % 24, (seconds / 60) % 60, seconds % 60);
    format!("Wed, 25 Nov 2026 {hours:02}:{minutes:02}:{seconds:02} +0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_header_follows_the_send_time_within_the_day() {
        assert_eq!(date_for(0), "Wed, 25 Nov 2026 00:00:00 +0000");
        assert_eq!(date_for(3_723_999), "Wed, 25 Nov 2026 01:02:03 +0000");
    }

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_the_cap() {
        assert_eq!(backoff_ms(1, 100, 1_000), 100);
        assert_eq!(backoff_ms(2, 100, 1_000), 200);
        assert_eq!(backoff_ms(4, 100, 1_000), 800);
        assert_eq!(backoff_ms(5, 100, 1_000), 1_000);
        assert_eq!(backoff_ms(u32::MAX, 100, 1_000), 1_000);
    }

    #[test]
    fn mx_answers_with_the_same_hosts_in_another_order_are_one_route() {
        let hosts = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(same_hosts(
            &hosts(&["gw-a", "gw-b"]),
            &hosts(&["GW-B", "gw-a"])
        ));
        assert!(!same_hosts(&hosts(&["gw-a", "gw-b"]), &hosts(&["gw-a"])));
        assert!(!same_hosts(&hosts(&["gw-a"]), &hosts(&["gw-c"])));
    }

    #[test]
    fn domains_are_lower_cased_and_missing_ones_are_empty() {
        assert_eq!(domain_of("Bob@Acme.Example"), "acme.example");
        assert_eq!(domain_of("nobody"), "");
    }
}
