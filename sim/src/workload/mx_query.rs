//! The senders' resolver: asks the `dns` host for a domain's MX records in
//! a real DNS query (RFC 1035, over TCP: `dns_frame`), built and read with
//! `hickory-proto`.
//!
//! The world's own client, not the gateway's `models::mx` (which reads DNS
//! with a different crate): the senders are witnesses, and a witness that
//! resolved with the gateway's code would share its mistakes.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use crate::workload::ports;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use models::env::{self, Env};
use tokio::io::AsyncWriteExt;

use crate::workload::dns_answer::domain_text;
use crate::workload::dns_frame::{read_frame, write_frame};

/// One MX answer as a resolver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxAnswer {
    /// In preference order.
    pub hosts: Vec<String>,
    /// How long the answer may be trusted: the smallest TTL among its records.
    pub ttl_ms: u64,
}

/// Asks `dns_host` for the MX hosts of `domain`, all within `timeout_ms`.
pub async fn lookup(
    env: &dyn Env,
    dns_host: &str,
    domain: &str,
    timeout_ms: u64,
) -> io::Result<MxAnswer> {
    // One query per connection, so the ID only has to tell its answer from
    // garbage; taken from the clock, not the generator, so a lookup costs
    // the host no random draw.
    let id = (env.now().as_millis() % 65_536) as u16;
    let request = query_bytes(id, domain)?;
    let exchange = async {
        let mut conn = env.connect(dns_host, ports::DNS).await?;
        write_frame(&mut conn, &request).await?;
        let answer = read_frame(&mut conn).await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "DNS server closed without an answer",
            )
        })?;
        let _ = conn.shutdown().await;
        parse(id, &answer)
    };
    env::timeout(env, Duration::from_millis(timeout_ms), exchange).await?
}

/// The wire form of an MX query for `domain` with `id`.
pub fn query_bytes(id: u16, domain: &str) -> io::Result<Vec<u8>> {
    let name = Name::from_ascii(domain).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("domain {domain:?}: {e}"),
        )
    })?;
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name, RecordType::MX));
    message.to_vec().map_err(io::Error::other)
}

/// Reads the answer to query `id`: the MX hosts by preference (ties in
/// the order given), NXDOMAIN as NotFound, anything else as an error.
pub fn parse(id: u16, answer: &[u8]) -> io::Result<MxAnswer> {
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let message = Message::from_vec(answer).map_err(|e| bad(format!("bad DNS answer: {e}")))?;
    if message.message_type != MessageType::Response || message.id != id {
        return Err(bad(format!(
            "not the answer to query {id}: {:?} {}",
            message.message_type, message.id
        )));
    }
    match message.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => {
            return Err(io::Error::new(io::ErrorKind::NotFound, "NXDOMAIN"));
        }
        // The server failed, not the domain: try again later.
        ResponseCode::ServFail => return Err(io::Error::other("SERVFAIL")),
        code => return Err(bad(format!("DNS answer {code}"))),
    }
    // RFC 5321 §5.1: lower preference first; equal preferences keep the
    // order they came in (the directory gives one host per preference).
    let mut by_preference: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    let mut ttl_s: Option<u32> = None;
    for record in message.answers.iter() {
        let RData::MX(mx) = &record.data else {
            continue;
        };
        by_preference
            .entry(mx.preference)
            .or_default()
            .push(domain_text(&mx.exchange));
        // An answer is only as fresh as its shortest-lived record.
        ttl_s = Some(ttl_s.map_or(record.ttl, |shortest| shortest.min(record.ttl)));
    }
    let Some(ttl_s) = ttl_s else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no MX records"));
    };
    Ok(MxAnswer {
        hosts: by_preference.into_values().flatten().collect(),
        ttl_ms: u64::from(ttl_s) * 1_000,
    })
}
