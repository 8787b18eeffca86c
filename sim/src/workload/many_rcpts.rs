//! Messages with many recipients across tenants, and a recipient limit
//! they sometimes exceed.
//!
//! A shared gateway serves many tenants behind the same MX hosts, so a
//! real MTA that batches by host (Exim's `multi_domain`, Postfix towards a
//! relay) hands it one transaction whose RCPTs belong to several tenants,
//! and it must keep each tenant's copy, policy and jurisdiction apart.
//! Each seed adds such messages: every user of two tenants of one
//! jurisdiction, sometimes a user of the other jurisdiction (a different
//! MX set, so another transaction) and sometimes an unknown user.
//!
//! RFC 5321 §4.5.3.1.10: a server out of room for recipients answers 452
//! and the client sends the rest in a later transaction. The scenario draws
//! the gateway's `recipients_max` low enough that one tenant's users
//! sometimes exceed it; the senders learn nothing of it but the 452s.

use crate::prng::Prng;
use crate::scenario::{MessagePlan, TenantSpec, Workload, sender_domain};
use crate::workload::mime::MessageKind;

/// The gateway's recipient limit for a seed: 2 to 5, under the user count
/// of most tenants, so one tenant's users alone can run over it.
pub fn draw_recipients_max(prng: &mut Prng) -> u32 {
    prng.range(2, 6) as u32
}

/// Messages each seed adds.
const MESSAGES: usize = 3;

/// Adds [`MESSAGES`] messages to many recipients across tenants, sent
/// during the fault phase, of a kind drawn so that spam meets both spam
/// policies and malware is among them.
pub fn add(prng: &mut Prng, seed: u64, tenants: &[TenantSpec], workload: &mut Workload) {
    let first = workload.messages.len();
    let send_window_ms = workload
        .messages
        .iter()
        .map(|m| m.at_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let kinds = [
        MessageKind::Plain,
        MessageKind::Spam,
        MessageKind::Html,
        MessageKind::Eicar,
    ];
    for offset in 0..MESSAGES {
        let rcpts = draw_rcpts(prng, tenants);
        let Some(first_tenant) = rcpts.first().and_then(|r| tenant_of(tenants, r)) else {
            continue;
        };
        let sender = prng.range(0, u64::from(workload.senders)) as u32;
        workload.messages.push(MessagePlan {
            id: format!("m{}.s{seed}@mailsim.test", first + offset),
            at_ms: prng.range(0, send_window_ms),
            sender,
            mail_from: format!("list@{}", sender_domain(sender)),
            tenant: first_tenant.name.clone(),
            rcpts,
            kind: *prng.pick(&kinds),
            body_bytes_approx: prng.range(300, 3_000) as u32,
            body_seed: prng.next_u64(),
            size_octets: None,
            null_reverse_path: false,
        });
    }
    workload
        .messages
        .sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.id.cmp(&b.id)));
}

/// Every user of two tenants that share a jurisdiction (interleaved, so a
/// transaction starts with either), sometimes a user of a tenant
/// elsewhere and sometimes a user nobody has.
fn draw_rcpts(prng: &mut Prng, tenants: &[TenantSpec]) -> Vec<String> {
    let anchor = prng.pick(tenants);
    let neighbours: Vec<&TenantSpec> = tenants
        .iter()
        .filter(|t| t.jurisdiction == anchor.jurisdiction && t.name != anchor.name)
        .collect();
    let mut groups: Vec<Vec<String>> = vec![addresses(anchor)];
    if !neighbours.is_empty() {
        let neighbour = prng.pick(&neighbours);
        groups.push(addresses(neighbour));
    }
    let mut rcpts: Vec<String> = Vec::new();
    let longest = groups.iter().map(Vec::len).max().unwrap_or(0);
    for index in 0..longest {
        for group in &groups {
            if let Some(address) = group.get(index) {
                rcpts.push(address.clone());
            }
        }
    }
    let abroad: Vec<&TenantSpec> = tenants
        .iter()
        .filter(|t| t.jurisdiction != anchor.jurisdiction)
        .collect();
    if !abroad.is_empty() && prng.percent(50) {
        let tenant = *prng.pick(&abroad);
        let at = prng.range(0, rcpts.len() as u64 + 1) as usize;
        rcpts.insert(
            at,
            format!("{}@{}", prng.pick(&tenant.users), tenant.domain),
        );
    }
    if prng.percent(30) {
        rcpts.push(format!("nobody@{}", anchor.domain));
    }
    rcpts
}

fn addresses(tenant: &TenantSpec) -> Vec<String> {
    tenant
        .users
        .iter()
        .map(|user| format!("{user}@{}", tenant.domain))
        .collect()
}

fn tenant_of<'a>(tenants: &'a [TenantSpec], address: &str) -> Option<&'a TenantSpec> {
    let domain = address.rsplit_once('@')?.1;
    tenants
        .iter()
        .find(|t| t.domain.eq_ignore_ascii_case(domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn every_seed_sends_several_tenants_in_one_envelope() {
        for seed in 0..20 {
            let scenario = Scenario::generate(seed);
            let many: Vec<&MessagePlan> = scenario
                .workload
                .messages
                .iter()
                .filter(|m| m.mail_from.starts_with("list@"))
                .collect();
            assert_eq!(many.len(), MESSAGES, "seed {seed}");
            for message in many {
                let tenants: std::collections::BTreeSet<&str> = message
                    .rcpts
                    .iter()
                    .filter_map(|r| tenant_of(&scenario.tenants, r))
                    .map(|t| t.name.as_str())
                    .collect();
                assert!(tenants.len() >= 2, "seed {seed}: {:?}", message.rcpts);
            }
        }
    }

    #[test]
    fn some_seeds_give_one_tenant_more_users_than_the_limit() {
        let over = (0..20)
            .map(Scenario::generate)
            .filter(|s| {
                let limit = s.knobs.recipients_max as usize;
                s.tenants.iter().any(|t| t.users.len() > limit)
                    && s.workload.messages.iter().any(|m| m.rcpts.len() > limit)
            })
            .count();
        assert!(
            (1..20).contains(&over),
            "{over} of 20 seeds run over the limit"
        );
    }
}
