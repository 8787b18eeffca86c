//! The gateway's resolver (`models::mx`, simple-dns) against the world's DNS
//! server (`workload::dns`, hickory-proto) on turmoil: two codecs nobody
//! here wrote, one on each side, must agree on real RFC 1035 messages over
//! TCP, and the server must survive whatever arrives on its port.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

use models::config::DNS_PORT;
use models::env::SharedEnv;
use models::mx;
use sim::engine::observer::Observer;
use sim::engine::turmoil_env::{Shared, TurmoilEnv};
use sim::faults::DnsMode;
use sim::workload::dns::{self, MxDirectory};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A world with `dns` serving acme.example → gw-a, gw-b (TTL 10 s) and
/// steered by `ctl`; `failing` breaks acme.example's answers.
fn world(failing: Option<DnsMode>) -> (turmoil::Sim<'static>, impl Fn(&str) -> SharedEnv) {
    let shared = Rc::new(Shared {
        observer: Observer::new(),
        host_regions: BTreeMap::new(),
        disk_faults: RefCell::new(BTreeMap::new()),
        lost_disks: Default::default(),
        rejections: Default::default(),
        unsynced_dirs: Default::default(),
        honest_disks: Default::default(),
        slow_disks: Default::default(),
        livelock: Default::default(),
        sources: BTreeMap::new(),
        host_faults: Default::default(),
    });
    let env = move |host: &str| -> SharedEnv { Rc::new(TurmoilEnv::new(host, shared.clone(), 7)) };
    let mut directory = MxDirectory {
        ttl_ms: 10_000,
        ..MxDirectory::default()
    };
    directory
        .domains
        .insert("acme.example".into(), vec!["gw-a".into(), "gw-b".into()]);
    if let Some(mode) = failing {
        directory.failing.insert("acme.example".into(), mode);
    }
    let directory = Rc::new(RefCell::new(directory));
    let mut sim = turmoil::Builder::new().rng_seed(1).build();
    let dns_env = env("dns");
    sim.host("dns", move || {
        let (env, directory) = (dns_env.clone(), directory.clone());
        async move {
            dns::serve_steered(env, directory, vec!["ctl".into()]).await;
            Ok(())
        }
    });
    (sim, env)
}

#[test]
fn the_gateway_reads_the_witness_servers_mx_records_in_order_with_their_ttl() {
    let (mut sim, env) = world(None);
    let gw = env("gw");
    sim.client("gw", async move {
        let answer = mx::lookup(gw.as_ref(), "dns", "ACME.example", 2_000).await?;
        assert_eq!(answer.hosts, ["gw-a", "gw-b"]);
        assert_eq!(answer.ttl_ms, 10_000);
        let missing = mx::lookup(gw.as_ref(), "dns", "nowhere.example", 2_000).await;
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
        Ok(())
    });
    sim.run().expect("the lookups end");
}

#[test]
fn servfail_and_silence_reach_the_gateway_as_servfail_and_a_timeout() {
    for (mode, expected) in [
        (DnsMode::Servfail, io::ErrorKind::Other),
        (DnsMode::Timeout, io::ErrorKind::TimedOut),
    ] {
        let (mut sim, env) = world(Some(mode));
        let gw = env("gw");
        sim.client("gw", async move {
            let error = mx::lookup(gw.as_ref(), "dns", "acme.example", 2_000)
                .await
                .unwrap_err();
            assert_eq!(error.kind(), expected, "{mode:?}: {error}");
            Ok(())
        });
        sim.run().expect("the lookup ends");
    }
}

#[test]
fn the_control_plane_steers_by_dynamic_update_and_a_stranger_is_refused() {
    let (mut sim, env) = world(None);
    let (ctl, stranger) = (env("ctl"), env("stranger"));
    sim.client("ctl", async move {
        let views = vec![("acme.example".to_string(), vec!["gw-b".to_string()])];
        assert_eq!(mx::publish(ctl.as_ref(), "dns", &views, 2_000).await?, 1);
        let answer = mx::lookup(ctl.as_ref(), "dns", "acme.example", 2_000).await?;
        assert_eq!(answer.hosts, ["gw-b"]);
        // A host outside the configured list: refused, and nothing changes.
        let outside = vec![("acme.example".to_string(), vec!["gw-eu".to_string()])];
        assert_eq!(mx::publish(ctl.as_ref(), "dns", &outside, 2_000).await?, 0);
        let answer = mx::lookup(ctl.as_ref(), "dns", "acme.example", 2_000).await?;
        assert_eq!(answer.hosts, ["gw-b"]);
        Ok(())
    });
    sim.client("stranger", async move {
        let views = vec![("acme.example".to_string(), Vec::new())];
        assert_eq!(
            mx::publish(stranger.as_ref(), "dns", &views, 2_000).await?,
            0
        );
        Ok(())
    });
    sim.run().expect("the updates end");
}

#[test]
fn garbage_on_the_dns_port_gets_formerr_and_the_server_keeps_answering() {
    let (mut sim, env) = world(None);
    let gw = env("gw");
    sim.client("gw", async move {
        // A framed message that is not DNS: FORMERR echoing its ID, then EOF.
        let mut conn = gw.connect("dns", DNS_PORT).await?;
        let garbage = b"\xbe\xefMX acme.example\r\n";
        let mut frame = (garbage.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(garbage);
        conn.write_all(&frame).await?;
        let mut length = [0u8; 2];
        conn.read_exact(&mut length).await?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
        conn.read_exact(&mut reply).await?;
        assert_eq!(&reply[..2], b"\xbe\xef", "the ID is echoed");
        assert_eq!(reply[2] & 0x80, 0x80, "a response");
        assert_eq!(reply[3] & 0x0f, 1, "RCODE 1, FORMERR");
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).await?;
        assert!(rest.is_empty(), "the server hung up: {rest:?}");
        // The old line protocol, unframed, then EOF mid-frame: dropped.
        let mut conn = gw.connect("dns", DNS_PORT).await?;
        conn.write_all(b"MX acme.example\r\n").await?;
        conn.shutdown().await?;
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).await?;
        assert!(rest.is_empty(), "no answer to half a frame: {rest:?}");
        // And the server still answers a real query.
        let answer = mx::lookup(gw.as_ref(), "dns", "acme.example", 2_000).await?;
        assert_eq!(answer.hosts, ["gw-a", "gw-b"]);
        Ok(())
    });
    sim.run().expect("the exchange ends");
}
