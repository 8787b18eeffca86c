//! The `dns` host's answers, as RFC 1035 messages built and read with
//! `hickory-proto` (the Hickory DNS project's codec; the gateway's
//! resolver uses a different one, `simple-dns`, so a mistake in reading
//! or writing DNS cannot hide by being made the same way on both sides).
//!
//! - A query (opcode QUERY) for a domain in the zone is answered with its
//!   MX records, preference 10, 20, … in the directory's order, each with
//!   the zone's TTL in whole seconds (rounded up: DNS has no finer unit);
//!   other types for a known domain get an empty NOERROR (no such data),
//!   unknown or empty domains NXDOMAIN.
//! - A dynamic update (opcode UPDATE, RFC 2136) is how the control plane
//!   steers: the zone section names the domain, the update section adds
//!   one MX record per host the controller found healthy. Each update is
//!   that controller's whole current view (see `dns::Steering`), not an
//!   increment; REFUSED (then close) from a host that is not a controller
//!   or for a host outside the domain's configured list.
//! - The `dns_fails` fault: SERVFAIL, no answer at all, or answers that
//!   flap between the record and the same hosts rotated by one.
//! - Anything that does not decode, or is not a request, is answered
//!   FORMERR (echoing the ID when there is one) and the connection closes;
//!   other opcodes get NOTIMP.

use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::MX;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::faults::DnsMode;
use crate::workload::dns::{MxDirectory, Steering};

/// What to send back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The response message; None means silence (the resolver times out).
    pub message: Option<Vec<u8>>,
    /// Whether the connection stays open for another request.
    pub keep_open: bool,
}

/// The zone's TTL in whole seconds, rounded up so an answer is never
/// trusted for less than the scenario asked.
pub fn ttl_seconds(ttl_ms: u64) -> u32 {
    u32::try_from(ttl_ms.div_ceil(1_000)).unwrap_or(u32::MAX)
}

/// A domain name as the directory spells it: ASCII, no trailing dot.
pub fn domain_text(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_string()
}

/// Answers one request from `peer` at `now`.
pub fn respond(
    directory: &mut MxDirectory,
    steering: &mut Steering,
    peer: &str,
    now: Duration,
    request: &[u8],
) -> Reply {
    let Ok(message) = Message::from_vec(request) else {
        // Not a DNS message: echo what could be its ID and give up on the
        // connection, whose framing can no longer be trusted.
        let id = match request {
            [high, low, ..] => u16::from_be_bytes([*high, *low]),
            _ => 0,
        };
        return closing(Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
    };
    if message.message_type != MessageType::Query {
        return closing(error_for(&message, ResponseCode::FormErr));
    }
    match message.op_code {
        OpCode::Query => query(directory, &message),
        OpCode::Update => update(directory, steering, peer, now, &message),
        _ => closing(error_for(&message, ResponseCode::NotImp)),
    }
}

fn query(directory: &MxDirectory, request: &Message) -> Reply {
    let [question] = request.queries.as_slice() else {
        return closing(error_for(request, ResponseCode::FormErr));
    };
    if question.query_class() != DNSClass::IN {
        return closing(error_for(request, ResponseCode::NotImp));
    }
    let domain = domain_text(question.name());
    let failing = directory.failing.get(&domain.to_ascii_lowercase()).copied();
    match failing {
        Some(DnsMode::Servfail) => return open(error_for(request, ResponseCode::ServFail)),
        // Silence: the connection stays open, the resolver's own timeout
        // ends the wait.
        Some(DnsMode::Timeout) => {
            return Reply {
                message: None,
                keep_open: true,
            };
        }
        _ => {}
    }
    let Some(hosts) = directory.served_hosts(&domain) else {
        return open(error_for(request, ResponseCode::NXDomain));
    };
    let mut hosts = hosts.to_vec();
    let mut response = error_for(request, ResponseCode::NoError);
    if question.query_type() != RecordType::MX {
        return open(response);
    }
    if failing == Some(DnsMode::Flap) {
        let count = directory.flaps.get();
        directory.flaps.set(count + 1);
        if count % 2 == 1 {
            hosts.rotate_left(1);
        }
    }
    let ttl = ttl_seconds(directory.ttl_ms);
    for (rank, host) in hosts.iter().enumerate() {
        let Ok(exchange) = Name::from_ascii(host) else {
            // A zone naming a host DNS cannot spell is the server's fault.
            return open(error_for(request, ResponseCode::ServFail));
        };
        let preference = u16::try_from((rank + 1) * 10).unwrap_or(u16::MAX);
        response.add_answer(Record::from_rdata(
            question.name().clone(),
            ttl,
            RData::MX(MX::new(preference, exchange)),
        ));
    }
    open(response)
}

fn update(
    directory: &mut MxDirectory,
    steering: &mut Steering,
    peer: &str,
    now: Duration,
    request: &Message,
) -> Reply {
    let [zone] = request.queries.as_slice() else {
        return closing(error_for(request, ResponseCode::FormErr));
    };
    let domain = domain_text(zone.name());
    let mut hosts = Vec::new();
    for record in &request.authorities {
        let RData::MX(mx) = &record.data else {
            return closing(error_for(request, ResponseCode::FormErr));
        };
        if !domain_text(&record.name).eq_ignore_ascii_case(&domain) {
            // RFC 2136 §3.4.1.3: an update outside the zone.
            return closing(error_for(request, ResponseCode::NotZone));
        }
        hosts.push(domain_text(&mx.exchange));
    }
    let mut words: Vec<&str> = vec![domain.as_str()];
    words.extend(hosts.iter().map(String::as_str));
    if steering.set(directory, peer, &words, now) {
        open(error_for(request, ResponseCode::NoError))
    } else {
        closing(error_for(request, ResponseCode::Refused))
    }
}

/// A response to `request` with `code`, echoing its ID, opcode, question
/// and recursion-desired bit, as RFC 1035 §4.1.1 asks.
fn error_for(request: &Message, code: ResponseCode) -> Message {
    let mut response = Message::error_msg(request.id, request.op_code, code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.recursion_desired;
    response.add_queries(request.queries.iter().cloned());
    response
}

fn open(response: Message) -> Reply {
    Reply {
        message: response.to_vec().ok(),
        keep_open: true,
    }
}

fn closing(response: Message) -> Reply {
    Reply {
        message: response.to_vec().ok(),
        keep_open: false,
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::Query;

    use super::*;
    use crate::workload::dns::tests::directory;
    use crate::workload::mx_query::{parse, query_bytes};

    /// Asks `directory` for the MX of `domain` as `peer` with no controllers.
    fn ask(directory: &mut MxDirectory, domain: &str) -> Reply {
        let mut steering = Steering::new(directory, Vec::new());
        let request = query_bytes(7, domain).unwrap();
        respond(directory, &mut steering, "mta-0", Duration::ZERO, &request)
    }

    fn rcode(reply: &Reply) -> ResponseCode {
        Message::from_vec(reply.message.as_ref().expect("an answer"))
            .unwrap()
            .response_code
    }

    fn update(domain: &str, hosts: &[&str]) -> Vec<u8> {
        let zone = Name::from_ascii(domain).unwrap();
        let mut message = Message::new(9, MessageType::Query, OpCode::Update);
        message.add_query(Query::query(zone.clone(), RecordType::SOA));
        for host in hosts {
            let mx = MX::new(10, Name::from_ascii(host).unwrap());
            message.add_authority(Record::from_rdata(zone.clone(), 0, RData::MX(mx)));
        }
        message.to_vec().unwrap()
    }

    #[test]
    fn a_known_domain_is_answered_with_its_mx_records_in_order_whatever_its_case() {
        let reply = ask(&mut directory(), "ACME.example");
        assert!(reply.keep_open);
        let answer = parse(7, reply.message.as_ref().unwrap()).unwrap();
        assert_eq!(answer.hosts, ["gw-a", "gw-b"]);
        assert_eq!(answer.ttl_ms, 5_000);
        let message = Message::from_vec(reply.message.as_ref().unwrap()).unwrap();
        assert!(message.authoritative);
        assert_eq!(message.queries.len(), 1, "the question is echoed");
        let preferences: Vec<u16> = message
            .answers
            .iter()
            .map(|r| match &r.data {
                RData::MX(mx) => mx.preference,
                other => panic!("not an MX: {other:?}"),
            })
            .collect();
        assert_eq!(preferences, [10, 20]);
    }

    #[test]
    fn unknown_or_empty_domains_are_nxdomain_and_other_types_get_no_data() {
        for domain in ["nowhere.example", "empty.example"] {
            let reply = ask(&mut directory(), domain);
            assert_eq!(rcode(&reply), ResponseCode::NXDomain, "{domain}");
            assert!(reply.keep_open);
            let error = parse(7, reply.message.as_ref().unwrap()).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
            assert_eq!(error.to_string(), "NXDOMAIN");
        }
        let mut message = Message::new(3, MessageType::Query, OpCode::Query);
        message.add_query(Query::query(
            Name::from_ascii("acme.example").unwrap(),
            RecordType::A,
        ));
        let mut zone = directory();
        let mut steering = Steering::new(&zone, Vec::new());
        let reply = respond(
            &mut zone,
            &mut steering,
            "mta-0",
            Duration::ZERO,
            &message.to_vec().unwrap(),
        );
        assert_eq!(rcode(&reply), ResponseCode::NoError);
        let answer = Message::from_vec(reply.message.as_ref().unwrap()).unwrap();
        assert!(answer.answers.is_empty());
    }

    #[test]
    fn garbage_gets_formerr_with_its_id_and_the_connection_closes() {
        let mut zone = directory();
        let mut steering = Steering::new(&zone, Vec::new());
        let mut answered =
            |request: &[u8]| respond(&mut zone, &mut steering, "mta-0", Duration::ZERO, request);
        for garbage in [
            &b""[..],
            b"\x12",
            b"\x12\x34MX acme.example\r\n",
            &[0xff; 300],
        ] {
            let reply = answered(garbage);
            assert!(!reply.keep_open, "{garbage:?}");
            let message = Message::from_vec(reply.message.as_ref().unwrap()).unwrap();
            assert_eq!(message.response_code, ResponseCode::FormErr, "{garbage:?}");
            assert_eq!(message.message_type, MessageType::Response);
            let id = if garbage.len() >= 2 {
                u16::from_be_bytes([garbage[0], garbage[1]])
            } else {
                0
            };
            assert_eq!(message.id, id, "{garbage:?}");
        }
        // A response sent to the server is not a request either.
        let mut response = Message::from_vec(&query_bytes(5, "acme.example").unwrap()).unwrap();
        response.metadata.message_type = MessageType::Response;
        let reply = answered(&response.to_vec().unwrap());
        assert!(!reply.keep_open);
        assert_eq!(rcode(&reply), ResponseCode::FormErr);
        // And the resolver reads garbage as garbage, not as an answer.
        assert_eq!(
            parse(7, b"\x00\x07garbage").unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn a_failing_domain_gets_servfail_silence_or_flapping_answers_and_others_do_not() {
        let mut zone = directory();
        zone.failing
            .insert("acme.example".into(), DnsMode::Servfail);
        let reply = ask(&mut zone, "acme.example");
        assert_eq!(rcode(&reply), ResponseCode::ServFail);
        assert_eq!(
            parse(7, reply.message.as_ref().unwrap())
                .unwrap_err()
                .to_string(),
            "SERVFAIL"
        );
        zone.failing.insert("acme.example".into(), DnsMode::Timeout);
        assert_eq!(
            ask(&mut zone, "Acme.Example"),
            Reply {
                message: None,
                keep_open: true
            }
        );
        zone.failing.insert("acme.example".into(), DnsMode::Flap);
        let answers: Vec<Vec<String>> = (0..4)
            .map(|_| {
                let reply = ask(&mut zone, "acme.example");
                parse(7, reply.message.as_ref().unwrap()).unwrap().hosts
            })
            .collect();
        assert_eq!(
            answers,
            [
                ["gw-a", "gw-b"],
                ["gw-b", "gw-a"],
                ["gw-a", "gw-b"],
                ["gw-b", "gw-a"]
            ]
        );
        zone.failing.clear();
        let reply = ask(&mut zone, "acme.example");
        assert_eq!(
            parse(7, reply.message.as_ref().unwrap()).unwrap().hosts,
            ["gw-a", "gw-b"]
        );
    }

    #[test]
    fn a_stale_record_is_served_instead_of_the_live_one_until_it_is_cleared() {
        let mut zone = directory();
        zone.stale
            .insert("acme.example".into(), vec!["gw-old".into(), "gw-a".into()]);
        // A rewrite of the live record while stale: kept, but not served.
        zone.domains
            .insert("acme.example".into(), vec!["gw-b".into()]);
        let reply = ask(&mut zone, "acme.EXAMPLE");
        assert_eq!(
            parse(7, reply.message.as_ref().unwrap()).unwrap().hosts,
            ["gw-old", "gw-a"]
        );
        zone.stale.clear();
        let reply = ask(&mut zone, "acme.example");
        assert_eq!(
            parse(7, reply.message.as_ref().unwrap()).unwrap().hosts,
            ["gw-b"]
        );
    }

    #[test]
    fn only_a_controller_steers_by_dynamic_update_and_only_within_the_configured_hosts() {
        let mut zone = directory();
        let mut steering = Steering::new(&zone, vec!["ctl-1".into()]);
        let now = Duration::ZERO;
        let refused = respond(
            &mut zone,
            &mut steering,
            "mta-0",
            now,
            &update("acme.example", &["gw-b"]),
        );
        assert_eq!(rcode(&refused), ResponseCode::Refused);
        assert!(!refused.keep_open);
        let outside = respond(
            &mut zone,
            &mut steering,
            "ctl-1",
            now,
            &update("acme.example", &["gw-us"]),
        );
        assert_eq!(rcode(&outside), ResponseCode::Refused);
        assert_eq!(zone.hosts("acme.example").unwrap(), ["gw-a", "gw-b"]);
        let taken = respond(
            &mut zone,
            &mut steering,
            "ctl-1",
            now,
            &update("acme.example", &["gw-b"]),
        );
        assert_eq!(rcode(&taken), ResponseCode::NoError);
        assert!(taken.keep_open);
        assert_eq!(zone.hosts("acme.example").unwrap(), ["gw-b"]);
    }

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_seconds(10_000), 10);
        assert_eq!(ttl_seconds(1_001), 2);
        assert_eq!(ttl_seconds(1), 1);
        assert_eq!(ttl_seconds(0), 0);
    }
}
