//! The gateway's DNS client, so it can find where to send DSNs (an MX
//! query) and so the control plane can steer senders (a dynamic update,
//! RFC 2136, naming the hosts it found healthy, possibly none).
//!
//! Real DNS messages (RFC 1035) over TCP with the two-byte length prefix
//! of §4.2.2 (the seam carries streams only), written and read with
//! `simple-dns`. The world's DNS server and the senders' resolver use a
//! different codec (`hickory-proto`), so a mistake in how the gateway reads
//! an answer cannot be mirrored by the witness that writes it.

use std::io;
use std::time::Duration;

use simple_dns::rdata::{MX, RData};
use simple_dns::{
    CLASS, Name, OPCODE, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, ResourceRecord, TYPE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::DNS_PORT;
use crate::env::{self, BoxConn, Env};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxAnswer {
    /// In preference order.
    pub hosts: Vec<String>,
    /// The smallest TTL among the records.
    pub ttl_ms: u64,
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

fn name(text: &str) -> io::Result<Name<'_>> {
    Name::new(text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("name {text:?}: {e}")))
}

/// The wire form of an MX query for `domain` with `id`.
pub fn mx_query(id: u16, domain: &str) -> io::Result<Vec<u8>> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        name(domain)?,
        QTYPE::TYPE(TYPE::MX),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec().map_err(io::Error::other)
}

/// The wire form of `domain`'s steering update: zone `domain`, one MX
/// record added per healthy host, in order.
pub fn steering_update(id: u16, domain: &str, hosts: &[String]) -> io::Result<Vec<u8>> {
    let zone = name(domain)?;
    let mut packet = Packet::new_query(id);
    *packet.opcode_mut() = OPCODE::Update;
    packet.questions.push(Question::new(
        zone.clone(),
        QTYPE::TYPE(TYPE::SOA),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    for (rank, host) in hosts.iter().enumerate() {
        let preference = u16::try_from((rank + 1) * 10).unwrap_or(u16::MAX);
        let exchange = name(host)?;
        // RFC 2136 §2.5.1 puts the update section where answers would be
        // authority records; simple-dns calls that section `name_servers`.
        packet.name_servers.push(ResourceRecord::new(
            zone.clone(),
            CLASS::IN,
            0,
            RData::MX(MX {
                preference,
                exchange,
            }),
        ));
    }
    packet.build_bytes_vec().map_err(io::Error::other)
}

/// Decodes the response to request `id`, checking it is one.
fn response(id: u16, bytes: &[u8]) -> io::Result<Packet<'_>> {
    let packet = Packet::parse(bytes).map_err(|e| invalid(format!("bad DNS answer: {e}")))?;
    if !packet.has_flags(PacketFlag::RESPONSE) || packet.id() != id {
        return Err(invalid(format!(
            "not the answer to request {id} (id {})",
            packet.id()
        )));
    }
    Ok(packet)
}

/// Reads the answer to MX query `id`: hosts by preference, NXDOMAIN (or
/// no MX at all) as NotFound, SERVFAIL and garbage as errors.
pub fn parse_mx_answer(id: u16, bytes: &[u8]) -> io::Result<MxAnswer> {
    let packet = response(id, bytes)?;
    match packet.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Err(io::Error::new(io::ErrorKind::NotFound, "NXDOMAIN")),
        RCODE::ServerFailure => return Err(io::Error::other("SERVFAIL")),
        code => return Err(invalid(format!("DNS answer {code:?}"))),
    }
    let mut records: Vec<(u16, String, u32)> = packet
        .answers
        .iter()
        .filter_map(|record| match &record.rdata {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_string(), record.ttl)),
            _ => None,
        })
        .collect();
    if records.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no MX records"));
    }
    records.sort_by_key(|(preference, _, _)| *preference);
    let ttl_s = records.iter().map(|(_, _, ttl)| *ttl).min().unwrap_or(0);
    Ok(MxAnswer {
        hosts: records.into_iter().map(|(_, host, _)| host).collect(),
        ttl_ms: u64::from(ttl_s) * 1_000,
    })
}

/// Writes `message` behind its two-byte length, in one write.
async fn write_frame(conn: &mut BoxConn, message: &[u8]) -> io::Result<()> {
    let length = u16::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "DNS message too long"))?;
    let mut frame = length.to_be_bytes().to_vec();
    frame.extend_from_slice(message);
    conn.write_all(&frame).await?;
    conn.flush().await
}

/// Reads one length-prefixed message; the connection ending first is an
/// error naming `what`.
async fn read_frame(conn: &mut BoxConn, what: &str) -> io::Result<Vec<u8>> {
    let short = |e: io::Error| io::Error::new(e.kind(), format!("short {what}: {e}"));
    let mut length = [0u8; 2];
    conn.read_exact(&mut length).await.map_err(short)?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    conn.read_exact(&mut message).await.map_err(short)?;
    Ok(message)
}

/// A request ID for a connection that carries one exchange at a time: the
/// clock's milliseconds, so it costs the host no random draw.
fn request_id(env: &dyn Env) -> u16 {
    (env.now().as_millis() % 65_536) as u16
}

/// Asks `dns_host` for the MX hosts of `domain`.
pub async fn lookup(
    env: &dyn Env,
    dns_host: &str,
    domain: &str,
    timeout_ms: u64,
) -> io::Result<MxAnswer> {
    let id = request_id(env);
    let request = mx_query(id, domain)?;
    let query = async {
        let mut conn = env.connect(dns_host, DNS_PORT).await?;
        write_frame(&mut conn, &request).await?;
        let answer = read_frame(&mut conn, "MX answer").await?;
        let _ = conn.shutdown().await;
        parse_mx_answer(id, &answer)
    };
    env::timeout(env, Duration::from_millis(timeout_ms), query).await?
}

/// Tells `dns_host` which of each domain's hosts are healthy, one update
/// per (domain, hosts) on one connection; the number of updates it took.
pub async fn publish(
    env: &dyn Env,
    dns_host: &str,
    views: &[(String, Vec<String>)],
    timeout_ms: u64,
) -> io::Result<usize> {
    let exchange = async {
        let mut conn = env.connect(dns_host, DNS_PORT).await?;
        let mut taken = 0;
        for (rank, (domain, hosts)) in views.iter().enumerate() {
            let id = request_id(env).wrapping_add(rank as u16);
            write_frame(&mut conn, &steering_update(id, domain, hosts)?).await?;
            let answer = read_frame(&mut conn, "update answer").await?;
            if response(id, &answer)?.rcode() == RCODE::NoError {
                taken += 1;
            }
        }
        let _ = conn.shutdown().await;
        Ok(taken)
    };
    env::timeout(env, Duration::from_millis(timeout_ms), exchange).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `query` with `rcode` and MX records (preference, host, ttl).
    fn answer(query: &[u8], rcode: RCODE, records: &[(u16, &'static str, u32)]) -> Vec<u8> {
        let request = Packet::parse(query).unwrap();
        let mut packet = Packet::new_reply(request.id());
        *packet.rcode_mut() = rcode;
        packet.questions = request.questions.clone();
        for (preference, host, ttl) in records {
            packet.answers.push(ResourceRecord::new(
                Name::new("acme.example").unwrap(),
                CLASS::IN,
                *ttl,
                RData::MX(MX {
                    preference: *preference,
                    exchange: Name::new(host).unwrap(),
                }),
            ));
        }
        packet.build_bytes_vec().unwrap()
    }

    #[test]
    fn an_answer_lists_hosts_by_preference_and_is_trusted_for_its_shortest_ttl() {
        let query = mx_query(42, "acme.example").unwrap();
        let records = [(20, "gw-b", 60), (10, "gw-a", 10), (30, "gw-c", 60)];
        let parsed = parse_mx_answer(42, &answer(&query, RCODE::NoError, &records)).unwrap();
        assert_eq!(parsed.hosts, vec!["gw-a", "gw-b", "gw-c"]);
        assert_eq!(parsed.ttl_ms, 10_000);
    }

    #[test]
    fn nxdomain_servfail_no_records_and_garbage_are_errors() {
        let query = mx_query(1, "acme.example").unwrap();
        let nx = parse_mx_answer(1, &answer(&query, RCODE::NameError, &[])).unwrap_err();
        assert_eq!(nx.kind(), io::ErrorKind::NotFound);
        let fail = parse_mx_answer(1, &answer(&query, RCODE::ServerFailure, &[])).unwrap_err();
        assert_eq!(fail.to_string(), "SERVFAIL");
        let empty = parse_mx_answer(1, &answer(&query, RCODE::NoError, &[])).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::NotFound);
        let other_id = parse_mx_answer(2, &answer(&query, RCODE::NoError, &[(10, "gw-a", 5)]));
        assert_eq!(other_id.unwrap_err().kind(), io::ErrorKind::InvalidData);
        // The query itself is not an answer, and garbage is garbage.
        for garbage in [&query[..], b"", b"MX 5000 gw-a\r\n", &[0xff; 40]] {
            let error = parse_mx_answer(1, garbage).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{garbage:?}");
        }
    }

    #[test]
    fn a_steering_update_names_the_zone_and_adds_each_healthy_host_in_order() {
        let hosts = vec!["gw-b".to_string(), "gw-c".to_string()];
        let bytes = steering_update(7, "acme.example", &hosts).unwrap();
        let packet = Packet::parse(&bytes).unwrap();
        assert_eq!(packet.opcode(), OPCODE::Update);
        assert_eq!(packet.questions[0].qname.to_string(), "acme.example");
        let added: Vec<String> = packet
            .name_servers
            .iter()
            .map(|record| match &record.rdata {
                RData::MX(mx) => mx.exchange.to_string(),
                other => panic!("not an MX: {other:?}"),
            })
            .collect();
        assert_eq!(added, hosts);
        let none = Packet::parse(&steering_update(8, "acme.example", &[]).unwrap())
            .unwrap()
            .name_servers
            .len();
        assert_eq!(none, 0, "no healthy host is an update with no records");
    }
}
