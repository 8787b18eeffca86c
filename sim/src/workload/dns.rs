//! The simulated DNS: an MX directory served by the host `dns` in real
//! DNS messages (RFC 1035, over TCP: see `dns_frame` and `dns_answer`),
//! the senders' lookup, and the per-sender cache.
//!
//! The directory sits behind an `Rc<RefCell>` so a control plane can
//! re-point a domain mid-run; senders keep using the old answer until its
//! TTL runs out, which is exactly the staleness real MTAs live with.
//!
//! Steering: a control-plane host (and only one of those named at start)
//! may send a dynamic update (RFC 2136) naming the domain's hosts it found
//! healthy, possibly none — answered NOERROR, or REFUSED (then close) if it
//! names a host outside the domain's configured list: steering can drop a
//! region from an answer, never add one, so it cannot move a tenant out of
//! its jurisdiction. Controllers work alone and may disagree (each sees its
//! own side of a partition), so the answer keeps every configured host that
//! any controller called healthy within the last [`VIEW_LIFETIME_MS`], in
//! the configured order; when none did, it is the whole configured list.
//!
//! Like a real one, it fails (the `dns_fails` fault): SERVFAIL for a
//! domain, no answer at all (the resolver times out), or answers that flap
//! between the record and the same hosts rotated by one.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use crate::workload::ports;
use models::env::{self, BoxConn, Env, SharedEnv};
use tokio::io::AsyncWriteExt;

use crate::faults::DnsMode;
use crate::workload::dns_answer::respond;
use crate::workload::dns_frame::{read_frame, write_frame};

/// A resolver connection idle this long is dropped, so a silent peer cannot
/// pin a task forever.
const IDLE_MS: u64 = 30_000;

/// How long a controller's word counts: a controller that died or was cut
/// off stops steering after this, and the others' views (or the whole
/// configured list) take over.
pub const VIEW_LIFETIME_MS: u64 = 5_000;

/// The zone data: what the `dns` host answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MxDirectory {
    /// Domain → MX hosts in preference order (most preferred first).
    pub domains: BTreeMap<String, Vec<String>>,
    /// TTL handed out with every answer.
    pub ttl_ms: u64,
    /// Stale records served instead of `domains` (the stale-DNS fault sets
    /// and clears them): domain → MX hosts. Rewrites of `domains` meanwhile
    /// are kept, and served again once the stale record is gone.
    pub stale: BTreeMap<String, Vec<String>>,
    /// Domains (lower case) the `dns` host fails for right now, and how
    /// (the `dns_fails` fault sets and clears them): `SERVFAIL`, silence,
    /// or answers that flap.
    pub failing: BTreeMap<String, DnsMode>,
    /// Answers given to flapping domains so far: odd ones are rotated.
    pub flaps: Cell<u64>,
}

impl MxDirectory {
    /// The MX hosts for `domain`; domain names compare case-insensitively
    /// (RFC 4343). None when the domain is unknown or has no MX.
    pub fn hosts(&self, domain: &str) -> Option<&[String]> {
        let hosts = match self.domains.get(domain) {
            Some(hosts) => hosts,
            None => {
                self.domains
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(domain))?
                    .1
            }
        };
        (!hosts.is_empty()).then_some(hosts.as_slice())
    }

    /// What the `dns` host answers for `domain`: a stale record if one is
    /// set, else the live one.
    pub fn served_hosts(&self, domain: &str) -> Option<&[String]> {
        let stale = self
            .stale
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(domain))
            .map(|(_, hosts)| hosts.as_slice());
        match stale {
            Some(hosts) if !hosts.is_empty() => Some(hosts),
            _ => self.hosts(domain),
        }
    }
}

pub use crate::workload::mx_query::MxAnswer;

/// What the control plane said, and the zone it may steer within.
#[derive(Debug)]
pub struct Steering {
    /// Hosts allowed to send `SET`.
    controllers: Vec<String>,
    /// The zone as configured: each domain's full MX list, the only hosts a
    /// `SET` may name and the order answers keep.
    configured: BTreeMap<String, Vec<String>>,
    /// Domain → controller → (hosts it called healthy, when it said so).
    views: BTreeMap<String, BTreeMap<String, (Vec<String>, Duration)>>,
}

impl Steering {
    pub fn new(configured: &MxDirectory, controllers: Vec<String>) -> Self {
        Steering {
            controllers,
            configured: configured.domains.clone(),
            views: BTreeMap::new(),
        }
    }

    /// Applies `controller`'s view at `now`: `words` is the domain, then
    /// the hosts it found healthy. False (refused, nothing changed) from a
    /// host that is not a controller, for an unknown domain, or naming a
    /// host outside the domain's configured list.
    pub fn set(
        &mut self,
        directory: &mut MxDirectory,
        controller: &str,
        words: &[&str],
        now: Duration,
    ) -> bool {
        let refused = || false;
        if !self.controllers.iter().any(|c| c == controller) {
            return refused();
        }
        let Some((domain, hosts)) = words.split_first() else {
            return refused();
        };
        let Some((name, configured)) = self
            .configured
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(domain))
        else {
            return refused();
        };
        if !hosts.iter().all(|h| configured.iter().any(|c| c == h)) {
            return refused();
        }
        let name = name.clone();
        let healthy: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let views = self.views.entry(name.clone()).or_default();
        views.insert(controller.to_string(), (healthy, now));
        let lifetime = Duration::from_millis(VIEW_LIFETIME_MS);
        let fresh: Vec<&String> = views
            .values()
            .filter(|(_, said)| now.saturating_sub(*said) < lifetime)
            .flat_map(|(hosts, _)| hosts)
            .collect();
        let steered: Vec<String> = configured
            .iter()
            .filter(|host| fresh.contains(host))
            .cloned()
            .collect();
        let answer = if steered.is_empty() {
            configured.clone()
        } else {
            steered
        };
        directory.domains.insert(name, answer);
        true
    }
}

/// Serves the directory on `ports::DNS` until the host dies; nobody may
/// steer it.
pub async fn serve(env: SharedEnv, directory: Rc<RefCell<MxDirectory>>) {
    serve_steered(env, directory, Vec::new()).await
}

/// Serves the directory on `ports::DNS` until the host dies, taking `SET`s
/// from the `controllers`.
pub async fn serve_steered(
    env: SharedEnv,
    directory: Rc<RefCell<MxDirectory>>,
    controllers: Vec<String>,
) {
    let Ok(listener) = env.listen(ports::DNS).await else {
        // Nothing to serve on; resolvers will see refused connections, which
        // is how a dead DNS server looks anyway.
        return;
    };
    let steering = Rc::new(RefCell::new(Steering::new(
        &directory.borrow(),
        controllers,
    )));
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let task =
                    serve_connection(env.clone(), directory.clone(), steering.clone(), conn, peer);
                env.spawn(Box::pin(task));
            }
            // An accept error does not advance simulated time; pause so a
            // persistent one cannot spin the host forever.
            Err(_) => env.sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Answers requests on one connection until EOF, idleness or garbage.
async fn serve_connection(
    env: SharedEnv,
    directory: Rc<RefCell<MxDirectory>>,
    steering: Rc<RefCell<Steering>>,
    mut conn: BoxConn,
    peer: String,
) {
    loop {
        let idle = Duration::from_millis(IDLE_MS);
        let request = match env::timeout(&*env, idle, read_frame(&mut conn)).await {
            Ok(Ok(Some(request))) => request,
            // EOF, a reset, a frame cut short or idleness: nobody to answer.
            _ => return,
        };
        // The borrows end with the statement: the directory is never held
        // across an await, so a control plane may change it any time.
        let reply = respond(
            &mut directory.borrow_mut(),
            &mut steering.borrow_mut(),
            &peer,
            env.now(),
            &request,
        );
        if let Some(message) = &reply.message
            && write_frame(&mut conn, message).await.is_err()
        {
            return;
        }
        if !reply.keep_open {
            let _ = conn.shutdown().await;
            return;
        }
    }
}

/// Asks `dns_host` for the MX hosts of `domain`, all within `timeout_ms`.
pub async fn lookup_mx(
    env: &dyn Env,
    dns_host: &str,
    domain: &str,
    timeout_ms: u64,
) -> io::Result<MxAnswer> {
    crate::workload::mx_query::lookup(env, dns_host, domain, timeout_ms).await
}

/// A sender's resolver cache: answers are reused until their TTL runs out,
/// even if the directory has changed meanwhile (realistic, and wanted: it
/// makes senders keep knocking on a re-pointed or dead MX for a while).
#[derive(Clone, Debug, Default)]
pub struct MxCache {
    /// Lower-cased domain → (hosts, expiry on the engine clock).
    entries: BTreeMap<String, (Vec<String>, Duration)>,
}

impl MxCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached hosts for `domain` if the answer is still fresh at `now`.
    pub fn fresh(&self, domain: &str, now: Duration) -> Option<Vec<String>> {
        let (hosts, expires) = self.entries.get(&domain.to_ascii_lowercase())?;
        (now < *expires).then(|| hosts.clone())
    }

    /// Remembers `answer` for `domain`, received at `now`.
    pub fn store(&mut self, domain: &str, answer: &MxAnswer, now: Duration) {
        let expires = now.saturating_add(Duration::from_millis(answer.ttl_ms));
        self.entries
            .insert(domain.to_ascii_lowercase(), (answer.hosts.clone(), expires));
    }

    /// The MX hosts for `domain`, from the cache or else from `dns_host`.
    pub async fn resolve(
        &mut self,
        env: &dyn Env,
        dns_host: &str,
        domain: &str,
        timeout_ms: u64,
    ) -> io::Result<Vec<String>> {
        if let Some(hosts) = self.fresh(domain, env.now()) {
            return Ok(hosts);
        }
        let answer = lookup_mx(env, dns_host, domain, timeout_ms).await?;
        self.store(domain, &answer, env.now());
        Ok(answer.hosts)
    }
}

/// [`MxCache::resolve`] for a cache shared by several tasks: the cell is
/// borrowed only around the synchronous parts, never across the lookup, so
/// concurrent tasks cannot trip over each other's borrow.
pub async fn resolve_shared(
    cache: &RefCell<MxCache>,
    env: &dyn Env,
    dns_host: &str,
    domain: &str,
    timeout_ms: u64,
) -> io::Result<Vec<String>> {
    let cached = cache.borrow().fresh(domain, env.now());
    if let Some(hosts) = cached {
        return Ok(hosts);
    }
    let answer = lookup_mx(env, dns_host, domain, timeout_ms).await?;
    cache.borrow_mut().store(domain, &answer, env.now());
    Ok(answer.hosts)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// acme.example → gw-a, gw-b and an empty empty.example, TTL 5 s.
    pub(crate) fn directory() -> MxDirectory {
        let mut domains = BTreeMap::new();
        domains.insert(
            "acme.example".to_string(),
            vec!["gw-a".to_string(), "gw-b".to_string()],
        );
        domains.insert("empty.example".to_string(), Vec::new());
        MxDirectory {
            domains,
            ttl_ms: 5_000,
            ..MxDirectory::default()
        }
    }

    #[test]
    fn controllers_steer_within_the_configured_hosts_and_the_union_of_fresh_views_wins() {
        let mut zone = directory();
        let mut steering = Steering::new(&zone, vec!["ctl-1".into(), "ctl-2".into()]);
        let at = Duration::from_millis;
        // Only a controller may steer, and only among the configured hosts.
        assert!(!steering.set(&mut zone, "mta-0", &["acme.example", "gw-b"], at(0)));
        assert!(!steering.set(&mut zone, "ctl-1", &["acme.example", "gw-us"], at(0)));
        assert_eq!(zone.hosts("acme.example").unwrap(), ["gw-a", "gw-b"]);
        // ctl-1 sees only gw-b healthy; ctl-2 agrees later: gw-a drops out.
        assert!(steering.set(&mut zone, "ctl-1", &["ACME.example", "gw-b"], at(0)));
        assert_eq!(zone.hosts("acme.example").unwrap(), ["gw-b"]);
        // ctl-2 still sees gw-a: the union keeps it, in configured order.
        steering.set(&mut zone, "ctl-2", &["acme.example", "gw-a"], at(1_000));
        assert_eq!(zone.hosts("acme.example").unwrap(), ["gw-a", "gw-b"]);
        // ctl-2 goes silent; once its view is stale only ctl-1's counts.
        steering.set(&mut zone, "ctl-1", &["acme.example", "gw-b"], at(6_000));
        assert_eq!(zone.hosts("acme.example").unwrap(), ["gw-b"]);
        // Nothing healthy: the whole configured list, never an empty answer.
        steering.set(&mut zone, "ctl-1", &["acme.example"], at(7_000));
        assert_eq!(zone.hosts("acme.example").unwrap(), ["gw-a", "gw-b"]);
    }

    #[test]
    fn a_cached_answer_is_fresh_until_its_ttl_runs_out() {
        let mut cache = MxCache::new();
        let answer = MxAnswer {
            hosts: vec!["gw-a".into()],
            ttl_ms: 1_000,
        };
        cache.store("Acme.Example", &answer, Duration::from_millis(500));
        assert_eq!(
            cache.fresh("acme.example", Duration::from_millis(1_499)),
            Some(vec!["gw-a".into()])
        );
        assert_eq!(
            cache.fresh("acme.example", Duration::from_millis(1_500)),
            None
        );
        assert_eq!(cache.fresh("other.example", Duration::ZERO), None);
    }
}
