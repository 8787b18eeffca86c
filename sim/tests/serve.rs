//! `mailsim serve` for real, checked with SMTP clients nobody on this project
//! wrote: Python's smtplib, raw Python sockets where smtplib will not go
//! (pipelining, an undeclared oversized body), and swaks when installed.
//!
//! Each test starts its own deployment on its own free ports and data dir
//! (see `serve_support`), so they run in parallel; every wait is a poll with
//! a generous deadline, never a sleep standing in for a condition.

mod serve_support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use serve_support::{
    Cluster, DELIVERED_WITHIN, KillOnDrop, READY_WITHIN, TempDir, mailsim, mailsim_output,
    python_json, require_python3, script, test_config, wait_for,
};

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

/// smtplib sends one message through `port`; `extra` adds send.py flags.
fn send(port: u16, message_id: &str, to: &[&str], extra: &[&str]) -> Value {
    let mut args = words(&["--port", &port.to_string(), "--message-id", message_id]);
    for rcpt in to {
        args.extend(words(&["--to", rcpt]));
    }
    args.extend(words(extra));
    python_json("send.py", &args)
}

#[test]
fn smtplib_mail_is_accepted_and_lands_in_maildir_with_dotted_lines_intact() {
    require_python3();
    let cluster = Cluster::start("deliver");
    let id = "<deliver-1@client.test>";
    let body = "first\\n.hidden line\\n..two dots\\n.\\nlast\\n";
    let reply = send(
        cluster.smtp_port("gw-a"),
        id,
        &["alice@example.test", "Bob@Example.test"],
        &["--body", body],
    );
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    let both = wait_for(DELIVERED_WITHIN, || {
        cluster.delivered("alice@example.test", id) && cluster.delivered("bob@example.test", id)
    });
    assert!(both, "not in both Maildirs within {DELIVERED_WITHIN:?}");
    let copy = cluster
        .maildir("alice@example.test")
        .into_iter()
        .find(|m| m.contains(id))
        .expect("delivered");
    assert!(
        copy.starts_with(
            "Return-Path: <sender@client.test>\r\nDelivered-To: alice@example.test\r\n"
        ),
        "{copy}"
    );
    // smtplib stuffed every leading dot; the gateway and the mailbox must
    // both have unstuffed exactly once.
    assert!(
        copy.contains("\r\n\r\nfirst\r\n.hidden line\r\n..two dots\r\n.\r\nlast\r\n"),
        "{copy}"
    );
}

#[test]
fn unknown_recipients_get_550_and_known_ones_still_get_their_mail() {
    require_python3();
    let cluster = Cluster::start("unknown");
    let port = cluster.smtp_port("gw-b");
    let alone = send(
        port,
        "<unknown-1@client.test>",
        &["nobody@example.test"],
        &[],
    );
    assert_eq!(alone["outcome"], "refused", "{alone}");
    assert_eq!(alone["refused"]["nobody@example.test"], 550, "{alone}");
    let foreign = send(
        port,
        "<unknown-2@client.test>",
        &["someone@elsewhere.test"],
        &[],
    );
    assert_eq!(
        foreign["refused"]["someone@elsewhere.test"], 550,
        "{foreign}"
    );
    let id = "<unknown-3@client.test>";
    let mixed = send(
        port,
        id,
        &["nobody@example.test", "alice@example.test"],
        &[],
    );
    assert_eq!(mixed["outcome"], "accepted", "{mixed}");
    assert_eq!(mixed["refused"]["nobody@example.test"], 550, "{mixed}");
    assert!(wait_for(DELIVERED_WITHIN, || cluster
        .delivered("alice@example.test", id)));
    assert!(cluster.maildir("nobody@example.test").is_empty());
    // RFC 5321 §4.5.1: the postmaster of a domain we serve is always there.
    let id = "<unknown-4@client.test>";
    let postmaster = send(port, id, &["PostMaster@example.test"], &[]);
    assert_eq!(postmaster["outcome"], "accepted", "{postmaster}");
    assert!(wait_for(DELIVERED_WITHIN, || cluster
        .delivered("postmaster@example.test", id)));
    // RFC 5321 §4.1.1.3: `RCPT TO:<Postmaster>` with no domain MUST be
    // taken; smtplib sends it as given, and it reaches the operator's
    // postmaster (the first tenant's here).
    let id = "<unknown-5@client.test>";
    let bare = send(port, id, &["Postmaster"], &[]);
    assert_eq!(bare["outcome"], "accepted", "{bare}");
    assert!(wait_for(DELIVERED_WITHIN, || cluster
        .delivered("postmaster@example.test", id)));
}

#[test]
fn size_is_advertised_and_an_oversized_message_gets_552() {
    require_python3();
    let cluster = Cluster::start("size");
    let port = cluster.smtp_port("gw-a");
    let limit = cluster.config.gateway.knobs.message_bytes_max;
    let over = (limit + 40_000).to_string();
    // smtplib declares SIZE= in MAIL FROM, so the refusal comes up front.
    let declared = send(
        port,
        "<size-1@client.test>",
        &["alice@example.test"],
        &["--pad-bytes", &over],
    );
    assert!(
        declared["features"]
            .as_array()
            .unwrap()
            .contains(&"size".into()),
        "{declared}"
    );
    assert_eq!(declared["size"], limit, "{declared}");
    assert_eq!(declared["outcome"], "refused", "{declared}");
    assert_eq!(declared["stage"], "mail", "{declared}");
    assert_eq!(declared["code"], 552, "{declared}");
    // A client that does not declare it learns after the final dot.
    let args = words(&["--port", &port.to_string(), "--mode", "oversized"]);
    let raw = python_json(
        "raw_smtp.py",
        &[
            args,
            words(&["--message-id", "<size-2@client.test>", "--pad-bytes", &over]),
        ]
        .concat(),
    );
    assert_eq!(raw["replies"], serde_json::json!([250, 250, 354]), "{raw}");
    assert_eq!(raw["data_reply"], 552, "{raw}");
    assert_eq!(raw["quit_reply"], 221, "{raw}");
    // Just under the limit is fine.
    let id = "<size-3@client.test>";
    let under = (limit - 20_000).to_string();
    let fits = send(port, id, &["alice@example.test"], &["--pad-bytes", &under]);
    assert_eq!(fits["outcome"], "accepted", "{fits}");
    assert!(wait_for(DELIVERED_WITHIN, || cluster
        .delivered("alice@example.test", id)));
}

#[test]
fn pipelining_is_advertised_and_a_pipelined_transaction_works() {
    require_python3();
    let cluster = Cluster::start("pipeline");
    let id = "<pipeline-1@client.test>";
    let args = words(&[
        "--port",
        &cluster.smtp_port("gw-b").to_string(),
        "--mode",
        "pipeline",
        "--message-id",
        id,
    ]);
    let raw = python_json("raw_smtp.py", &args);
    let ehlo: Vec<&str> = raw["ehlo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(ehlo.contains(&"PIPELINING"), "{raw}");
    // MAIL, RCPT alice, RCPT nobody, RCPT bob, DATA — in order, from one write.
    assert_eq!(
        raw["replies"],
        serde_json::json!([250, 250, 550, 250, 354]),
        "{raw}"
    );
    assert_eq!(raw["data_reply"], 250, "{raw}");
    assert_eq!(raw["quit_reply"], 221, "{raw}");
    let both = wait_for(DELIVERED_WITHIN, || {
        cluster.delivered("alice@example.test", id) && cluster.delivered("bob@example.test", id)
    });
    assert!(both, "pipelined message not delivered to both");
    let copy = cluster.maildir("bob@example.test").concat();
    assert!(
        copy.contains("\r\npipelined body\r\n.stuffed by hand\r\n"),
        "{copy}"
    );
}

#[test]
fn an_eicar_attachment_is_quarantined_and_never_delivered() {
    require_python3();
    let cluster = Cluster::start("eicar");
    let port = cluster.smtp_port("gw-a");
    let bad = "<eicar-1@client.test>";
    let reply = send(port, bad, &["alice@example.test"], &["--eicar-attachment"]);
    // Scanning is asynchronous: the gateway takes responsibility first.
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    let held = wait_for(DELIVERED_WITHIN, || {
        cluster.quarantined().iter().any(|m| m.contains(bad))
    });
    assert!(held, "EICAR message not in any gateway's quarantine/");
    // The same file as a quoted-printable text attachment.
    let qp = "<eicar-qp@client.test>";
    let reply = send(
        port,
        qp,
        &["alice@example.test"],
        &["--eicar-quoted-printable"],
    );
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    let held = wait_for(DELIVERED_WITHIN, || {
        cluster.quarantined().iter().any(|m| m.contains(qp))
    });
    assert!(
        held,
        "quoted-printable EICAR not in any gateway's quarantine/"
    );
    // A clean message sent after it is delivered, the EICAR one never.
    let good = "<eicar-2@client.test>";
    let reply = send(port, good, &["alice@example.test"], &[]);
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    assert!(wait_for(DELIVERED_WITHIN, || cluster
        .delivered("alice@example.test", good)));
    assert!(!cluster.delivered("alice@example.test", qp));
    assert!(
        !cluster.delivered("alice@example.test", bad),
        "malware delivered"
    );
    assert!(
        cluster
            .maildir("alice@example.test")
            .iter()
            .all(|m| !m.contains("EICAR")),
        "EICAR bytes in a Maildir"
    );
}

#[test]
fn mail_with_a_null_reverse_path_reaches_its_mailbox_or_the_quarantine_never_a_loop() {
    // A remote server's bounce or an auto-reply comes with MAIL FROM:<>.
    // It is tenant mail like any other: scanned, then delivered to the
    // tenant's mailbox server. Taken for one of the gateway's own DSNs, it
    // went back out by the MX of example.test (the gateways themselves)
    // until the hop count said 554, and malware in it skipped quarantine.
    require_python3();
    let cluster = Cluster::start("nullsender");
    let port = cluster.smtp_port("gw-b");
    let clean = "<null-1@client.test>";
    let reply = send(port, clean, &["alice@example.test"], &["--mail-from", ""]);
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    let bad = "<null-2@client.test>";
    let reply = send(
        port,
        bad,
        &["alice@example.test"],
        &["--mail-from", "", "--eicar-attachment"],
    );
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    assert!(
        wait_for(DELIVERED_WITHIN, || cluster
            .delivered("alice@example.test", clean)),
        "a null reverse-path message not delivered within {DELIVERED_WITHIN:?}"
    );
    let copies: Vec<String> = cluster
        .maildir("alice@example.test")
        .into_iter()
        .filter(|m| m.contains(clean))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(
        copies[0].starts_with("Return-Path: <>\r\n"),
        "{}",
        copies[0]
    );
    // One hop: the gateway's own Received field, not fifty.
    assert_eq!(
        copies[0].matches("\r\nReceived: ").count(),
        1,
        "{}",
        copies[0]
    );
    assert!(
        wait_for(DELIVERED_WITHIN, || cluster
            .quarantined()
            .iter()
            .any(|m| m.contains(bad))),
        "null reverse-path EICAR not in any gateway's quarantine/"
    );
    assert!(
        !cluster.delivered("alice@example.test", bad),
        "malware delivered"
    );
}

#[test]
fn an_ascii_message_declared_smtputf8_is_delivered_by_a_hop_without_the_extension() {
    // The mailbox server does not offer SMTPUTF8. The declaration says the
    // message may need it; this one's envelope and header fields are ASCII,
    // so it does not, and bouncing it (5.6.7) would refuse good mail.
    require_python3();
    let cluster = Cluster::start("smtputf8");
    let id = "<utf8-1@client.test>";
    let reply = send(
        cluster.smtp_port("gw-c"),
        id,
        &["bob@example.test"],
        &["--smtputf8", "--body", "caf\u{e9}\\n"],
    );
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    assert!(
        wait_for(DELIVERED_WITHIN, || cluster
            .delivered("bob@example.test", id)),
        "not delivered within {DELIVERED_WITHIN:?}"
    );
}

/// One line of flood.py's report.
struct Attempt {
    message_id: String,
    result: String,
}

fn attempts(path: &Path) -> Vec<Attempt> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields.len() == 4).then(|| Attempt {
                message_id: fields[2].to_string(),
                result: fields[3].to_string(),
            })
        })
        .collect()
}

fn accepted(attempts: &[Attempt]) -> usize {
    attempts.iter().filter(|a| a.result == "250").count()
}

#[test]
fn a_region_killed_mid_flow_and_restarted_loses_nothing_acknowledged() {
    require_python3();
    let mut cluster = Cluster::start("kill");
    let out = cluster.data.with_file_name("flood.tsv");
    let ports = format!(
        "{},{}",
        cluster.smtp_port("gw-a"),
        cluster.smtp_port("gw-b")
    );
    let flood = Command::new("python3")
        .arg(script("flood.py"))
        .args([
            "--ports",
            &ports,
            "--count",
            "150",
            "--prefix",
            "kill",
            "--pause-ms",
            "15",
        ])
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut flood = KillOnDrop::new(flood);

    // Mail is flowing: kill region a (gateway and scanner) with SIGKILL.
    assert!(
        wait_for(READY_WITHIN, || accepted(&attempts(&out)) >= 20),
        "the flow never got going"
    );
    cluster.kill_group("local-a");
    let at_kill = attempts(&out).len();
    // Senders keep knocking on the dead region (refused) for a while.
    assert!(
        wait_for(READY_WITHIN, || attempts(&out).len() >= at_kill + 12),
        "the flow stalled after the kill"
    );
    cluster.start_group("local-a");
    cluster.wait_ready();
    let at_restart = attempts(&out).len();
    let finished = flood.wait_exit(Duration::from_secs(60));
    assert!(
        finished.is_some_and(|s| s.success()),
        "flood.py: {finished:?}"
    );

    let all = attempts(&out);
    assert_eq!(all.len(), 150);
    let during: Vec<&Attempt> = all[at_kill..at_restart].iter().collect();
    assert!(
        during.iter().any(|a| a.result != "250"),
        "the outage was never noticed by a sender"
    );
    assert!(
        accepted(&all[at_restart..]) > 0,
        "nothing accepted after the restart"
    );
    let acked: Vec<&str> = all
        .iter()
        .filter(|a| a.result == "250")
        .map(|a| a.message_id.as_str())
        .collect();
    let all_there = wait_for(DELIVERED_WITHIN, || {
        let maildir = cluster
            .maildir("alice@example.test")
            .concat()
            .to_ascii_lowercase();
        acked
            .iter()
            .all(|id| maildir.contains(&format!("message-id: {id}\r\n").to_ascii_lowercase()))
    });
    if !all_there {
        let missing: Vec<&&str> = acked
            .iter()
            .filter(|id| !cluster.delivered("alice@example.test", id))
            .collect();
        panic!(
            "{} of {} acknowledged messages lost: {missing:?}",
            missing.len(),
            acked.len()
        );
    }
    eprintln!(
        "kill test: {} attempts, {} acknowledged, {} failed while region a was down",
        all.len(),
        acked.len(),
        during.iter().filter(|a| a.result != "250").count()
    );
}

/// Fails loudly when swaks is missing: a test that needs it must not pass
/// without it. (.ci/run installs swaks and runs this ignored test.)
fn require_swaks() {
    let ok = Command::new("swaks")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "swaks is not installed: apt-get install -y swaks");
}

#[test]
#[ignore = "needs swaks (apt-get install -y swaks); .ci/run installs it and runs this with --ignored"]
fn swaks_delivers_pipelines_and_is_refused_an_unknown_user() {
    require_swaks();
    let cluster = Cluster::start("swaks");
    let server = format!("127.0.0.1:{}", cluster.smtp_port("gw-a"));
    let run = |to: &str, id: &str, extra: &[&str]| {
        Command::new("swaks")
            .args([
                "--server",
                &server,
                "--from",
                "sender@client.test",
                "--to",
                to,
            ])
            .args(["--header", &format!("Message-Id: {id}")])
            .args(["--body", "hello from swaks\n.a dotted line"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("swaks runs")
    };
    let plain = run("alice@example.test", "<swaks-1@client.test>", &[]);
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stdout)
    );
    let piped = run("bob@example.test", "<swaks-2@client.test>", &["--pipeline"]);
    let piped_text = String::from_utf8_lossy(&piped.stdout);
    assert!(piped.status.success(), "{piped_text}");
    // Pipelined: DATA went out before the reply to MAIL came back.
    let data_sent = piped_text.find(" -> DATA").expect("DATA sent");
    let mail_answered = piped_text.find("<-  250 2.1.0").expect("MAIL answered");
    assert!(data_sent < mail_answered, "{piped_text}");
    let unknown = run("nobody@example.test", "<swaks-3@client.test>", &[]);
    let unknown_text = String::from_utf8_lossy(&unknown.stdout);
    assert!(!unknown.status.success(), "{unknown_text}");
    assert!(unknown_text.contains("<** 550"), "{unknown_text}");
    let both = wait_for(DELIVERED_WITHIN, || {
        cluster.delivered("alice@example.test", "<swaks-1@client.test>")
            && cluster.delivered("bob@example.test", "<swaks-2@client.test>")
    });
    assert!(both, "swaks messages not delivered");
    let copy = cluster.maildir("alice@example.test").concat();
    assert!(copy.contains("\r\n.a dotted line\r\n"), "{copy}");
}

/// Fails loudly when dig is missing, like [`require_swaks`].
fn require_dig() {
    let ok = Command::new("dig")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "dig is not installed: apt-get install -y bind9-dnsutils"
    );
}

#[test]
#[ignore = "needs dig (apt-get install -y bind9-dnsutils); .ci/run installs it and runs this with --ignored"]
fn dig_reads_the_mx_records_of_the_serve_dns_host_over_tcp() {
    require_dig();
    let cluster = Cluster::start("dig");
    let dns_host = cluster.config.gateway.dns_host.clone();
    let port = cluster
        .ports
        .port(&dns_host, models::config::DNS_PORT)
        .expect("the DNS host's port");
    let dig = |name: &str| {
        let out = Command::new("dig")
            .args(["+tcp", "+norecurse", "+tries=1", "+time=5"])
            .args(["-p", &port.to_string(), "@127.0.0.1", name, "MX"])
            .stdin(Stdio::null())
            .output()
            .expect("dig runs");
        assert!(out.status.success(), "{out:?}");
        // dig pads with tabs by name length: one space between fields.
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let answer = dig("example.test");
    assert!(answer.contains("status: NOERROR"), "{answer}");
    assert!(answer.contains("flags: qr aa"), "authoritative: {answer}");
    let ttl_s = cluster.config.dns_ttl_ms.div_ceil(1_000);
    let expected: Vec<String> = ["gw-a", "gw-b", "gw-c"]
        .iter()
        .zip([10, 20, 30])
        .map(|(host, preference)| format!("example.test. {ttl_s} IN MX {preference} {host}."))
        .collect();
    for record in &expected {
        assert!(
            answer.contains(record.as_str()),
            "{record:?} missing from {answer}"
        );
    }
    let missing = dig("nowhere.test");
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
}

/// The pids in the launcher's "(pid N)" lines.
fn child_pids(banner: &str) -> Vec<u32> {
    banner
        .split("(pid ")
        .skip(1)
        .filter_map(|rest| rest.split(')').next()?.parse().ok())
        .collect()
}

#[test]
fn the_launcher_prints_where_to_connect_serves_and_stops_cleanly_on_sigterm() {
    let dir = TempDir::new("launcher");
    let config = test_config();
    let config_path = dir.path.join("config.json");
    std::fs::write(&config_path, config.to_json()).unwrap();
    let data = dir.path.join("data");
    let stdout_path = dir.path.join("serve.out");
    let launcher = mailsim()
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .arg("--data")
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(dir.path.join("serve.err")).unwrap())
        .spawn()
        .expect("mailsim serve starts");
    let mut launcher = KillOnDrop::new(launcher);
    let banner = || std::fs::read_to_string(&stdout_path).unwrap_or_default();
    assert!(
        wait_for(READY_WITHIN, || banner().contains("ready")),
        "no ready line: {}",
        banner()
    );
    let ports = sim::serve::ports::PortMap::new(&config).unwrap();
    let (port_a, port_b) = (ports.smtp("gw-a").unwrap(), ports.smtp("gw-b").unwrap());
    let port_c = ports.smtp("gw-c").unwrap();
    for port in [port_a, port_b, port_c] {
        assert!(
            banner().contains(&format!("SMTP 127.0.0.1:{port}")),
            "{}",
            banner()
        );
    }
    let pids = child_pids(&banner());
    // Three regions and the outside hosts.
    assert_eq!(pids.len(), 4, "{}", banner());

    require_python3();
    let id = "<launcher-1@client.test>";
    let reply = send(port_b, id, &["alice@example.test"], &[]);
    assert_eq!(reply["outcome"], "accepted", "{reply}");
    let maildir = data.join("mbx-example/Maildir/alice@example.test/new");
    let landed = wait_for(DELIVERED_WITHIN, || {
        std::fs::read_dir(&maildir).is_ok_and(|mut d| d.next().is_some())
    });
    assert!(landed, "nothing in {}", maildir.display());

    // A region that dies is reported, not restarted.
    let region_a = pids[0];
    let killed = Command::new("kill")
        .args(["-KILL", &region_a.to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    assert!(
        wait_for(READY_WITHIN, || banner().contains("region local-a exited")),
        "{}",
        banner()
    );
    assert!(banner().contains("not restarting"), "{}", banner());

    let termed = Command::new("kill")
        .args(["-TERM", &launcher.child.id().to_string()])
        .status();
    assert!(termed.is_ok_and(|s| s.success()));
    let status = launcher.wait_exit(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", banner());
    assert!(banner().contains("stopping"), "{}", banner());
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} outlived the launcher"
        );
    }
}

#[test]
fn bad_serve_input_is_one_message_and_exit_2() {
    let dir = TempDir::new("bad");
    let check = |args: &[&str], mentions: &str| {
        let output = mailsim_output(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(mentions),
            "{args:?} should mention {mentions:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    let file = |name: &str, text: &str| {
        let path = dir.path.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let typo = file("typo.json", r#"{"base_prot": 30000}"#);
    check(&["serve", "--config", &typo], "unknown field");
    let mut config = sim::serve::config::ServeConfig::default();
    // More copies than there are gateways (three by default).
    config.gateway.knobs.replica_quorum = 4;
    let quorum = file("quorum.json", &config.to_json());
    check(&["serve", "--config", &quorum], "quorum");
    let garbage = file("garbage.json", "{not json");
    check(&["serve", "--config", &garbage], "bad config");
    check(
        &["serve", "--config", "/nonexistent/mailsim.json"],
        "cannot read",
    );
    let data = dir.path.join("data").display().to_string();
    check(
        &["serve-node", "--data", &data, "--host", "nobody"],
        "not a host",
    );
    check(&["serve-node", "--data", &data, "--region", "mars"], "mars");
    check(&["serve-node", "--data", &data], "--host or --region");
}

/// A plain-socket SMTP client, for what smtplib will not send (bare line
/// endings, trickled bytes, fifty Received fields) and so these tests need
/// nothing but the mailsim binary.
struct Raw {
    stream: TcpStream,
    inbox: Vec<u8>,
}

impl Raw {
    /// Connects and reads the greeting.
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("gateway answers");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let mut raw = Raw {
            stream,
            inbox: Vec::new(),
        };
        let greeting = raw.reply();
        assert!(greeting.starts_with("220 "), "{greeting}");
        raw
    }

    /// One complete reply, all its lines; "" once the server has closed.
    fn reply(&mut self) -> String {
        self.take().unwrap_or_default()
    }

    /// A reply if one comes within `wait`.
    fn reply_within(&mut self, wait: Duration) -> Option<String> {
        self.stream
            .set_read_timeout(Some(wait))
            .expect("read timeout");
        let got = self.take();
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        got
    }

    /// Some(reply), Some("") once closed, None if the read timed out.
    fn take(&mut self) -> Option<String> {
        loop {
            let mut start = 0;
            while let Some(newline) = self.inbox[start..].iter().position(|&b| b == b'\n') {
                let line = &self.inbox[start..start + newline + 1];
                start += newline + 1;
                if line.get(3) == Some(&b' ') || line.len() <= 5 {
                    let reply = String::from_utf8_lossy(&self.inbox[..start]).into_owned();
                    self.inbox.drain(..start);
                    return Some(reply);
                }
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Some(String::new()),
                Ok(n) => self.inbox.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None;
                }
                Err(_) => return Some(String::new()),
            }
        }
    }

    /// Writes `bytes`; a server that already hung up is not an error here.
    fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// EHLO, MAIL and RCPT for `rcpt`; the RCPT reply.
    fn envelope(&mut self, rcpt: &str) -> String {
        let ehlo = self.command("EHLO client.test");
        assert!(ehlo.starts_with("250"), "{ehlo}");
        let mail = self.command("MAIL FROM:<sender@client.test>");
        assert!(mail.starts_with("250"), "{mail}");
        self.command(&format!("RCPT TO:<{rcpt}>"))
    }

    /// A whole transaction with `body` (already CRLF and dot-stuffed, without
    /// the final dot); the reply to the final dot, or to RCPT if refused.
    fn mail(port: u16, rcpt: &str, body: &str) -> String {
        let mut raw = Raw::connect(port);
        let rcpt_reply = raw.envelope(rcpt);
        if !rcpt_reply.starts_with("250") {
            return rcpt_reply;
        }
        let data = raw.command("DATA");
        assert!(data.starts_with("354"), "{data}");
        raw.send(format!("{body}.\r\n").as_bytes());
        let answer = raw.reply();
        raw.command("QUIT");
        answer
    }
}

fn message(id: &str, extra_headers: &str) -> String {
    format!(
        "{extra_headers}From: sender@client.test\r\nTo: alice@example.test\r\nSubject: raw\r\nMessage-ID: {id}\r\n\r\nhello\r\n"
    )
}

/// With the mailbox down, `gateway` accepts a message (so it owns it and
/// cannot hand it on yet); then its whole region is killed with SIGKILL.
/// The other two regions must keep accepting and must deliver both the new
/// mail and what the dead region had accepted.
fn survives_the_loss_of(region: &str, gateway: &str) {
    let mut cluster = Cluster::start(&format!("lose-{region}"));
    cluster.kill_group("outside");
    let parked = format!("<parked-{region}@client.test>");
    let reply = Raw::mail(
        cluster.smtp_port(gateway),
        "alice@example.test",
        &message(&parked, ""),
    );
    assert!(reply.starts_with("250"), "{gateway} refused: {reply}");
    cluster.kill_group(region);
    cluster.start_group("outside");
    cluster.wait_ready();
    let mut fresh = Vec::new();
    for survivor in ["gw-a", "gw-b", "gw-c"]
        .into_iter()
        .filter(|g| *g != gateway)
    {
        let id = format!("<after-{region}-via-{survivor}@client.test>");
        let reply = Raw::mail(
            cluster.smtp_port(survivor),
            "alice@example.test",
            &message(&id, ""),
        );
        assert!(
            reply.starts_with("250"),
            "{survivor} refused with {region} dead: {reply}"
        );
        fresh.push(id);
    }
    // A lease (5 s) before a survivor may take the parked message over,
    // then its retry: well inside the deadline on a loaded machine.
    let within = DELIVERED_WITHIN * 2;
    let all = wait_for(within, || {
        std::iter::once(&parked)
            .chain(&fresh)
            .all(|id| cluster.delivered("alice@example.test", id))
    });
    assert!(
        all,
        "with {region} dead, not everything delivered within {within:?}: parked {}, fresh {:?}",
        cluster.delivered("alice@example.test", &parked),
        fresh
            .iter()
            .map(|id| cluster.delivered("alice@example.test", id))
            .collect::<Vec<_>>()
    );
}

#[test]
fn killing_region_a_of_three_leaves_acceptance_and_delivery_working() {
    survives_the_loss_of("local-a", "gw-a");
}

#[test]
fn killing_region_b_of_three_leaves_acceptance_and_delivery_working() {
    survives_the_loss_of("local-b", "gw-b");
}

#[test]
fn killing_region_c_of_three_leaves_acceptance_and_delivery_working() {
    survives_the_loss_of("local-c", "gw-c");
}

#[test]
fn with_two_regions_dead_the_third_says_451_at_rcpt_before_the_body() {
    let mut cluster = Cluster::start("no-quorum");
    cluster.kill_group("local-a");
    cluster.kill_group("local-b");
    let port = cluster.smtp_port("gw-c");
    // Once a lease has passed without hearing a peer, gw-c knows.
    let mut last = String::new();
    let refused_early = wait_for(DELIVERED_WITHIN, || {
        let mut raw = Raw::connect(port);
        last = raw.envelope("alice@example.test");
        raw.command("QUIT");
        last.starts_with("451 4.3.0")
    });
    assert!(refused_early, "RCPT still answered {last:?}");
    assert!(last.contains("quorum"), "{last}");
}

#[test]
fn every_hop_adds_one_received_field_and_fifty_of_them_are_a_loop() {
    let cluster = Cluster::start("received");
    let port = cluster.smtp_port("gw-b");
    let id = "<received-1@client.test>";
    let reply = Raw::mail(port, "alice@example.test", &message(id, ""));
    assert!(reply.starts_with("250"), "{reply}");
    assert!(wait_for(DELIVERED_WITHIN, || cluster
        .delivered("alice@example.test", id)));
    let copy = cluster
        .maildir("alice@example.test")
        .into_iter()
        .find(|m| m.contains(id))
        .expect("delivered");
    let ours = "Delivered-To: alice@example.test\r\nReceived: from client.test (127.0.0.1:";
    assert!(copy.contains(ours), "{copy}");
    assert!(copy.contains("\r\n\tby gw-b with ESMTP id "), "{copy}");
    assert_eq!(copy.matches("Received:").count(), 1, "{copy}");

    let looping = "<received-loop@client.test>";
    let hops = "Received: from elsewhere\r\n".repeat(50);
    let reply = Raw::mail(port, "alice@example.test", &message(looping, &hops));
    assert!(reply.starts_with("554 5.4.6"), "{reply}");
    let under = "Received: from elsewhere\r\n".repeat(49);
    let reply = Raw::mail(
        port,
        "alice@example.test",
        &message("<received-49@client.test>", &under),
    );
    assert!(reply.starts_with("250"), "{reply}");
}

#[test]
fn bare_line_feeds_and_carriage_returns_in_data_are_refused_and_smuggle_nothing() {
    let cluster = Cluster::start("bare");
    let port = cluster.smtp_port("gw-a");
    let smuggled = |n: usize| format!("<smuggled-{n}@client.test>");
    let attempts = [("\r\n.\n", "<LF>"), ("\n.\n", "<LF>"), ("\r\n.\r", "<CR>")];
    for (n, (ending, name)) in attempts.iter().enumerate() {
        let mut raw = Raw::connect(port);
        assert!(raw.envelope("alice@example.test").starts_with("250"));
        assert!(raw.command("DATA").starts_with("354"));
        let body = format!(
            "{}hi{ending}MAIL FROM:<evil@client.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n{}.\r\n",
            message("<outer@client.test>", "").trim_end_matches("hello\r\n"),
            message(&smuggled(n), "")
        );
        raw.send(body.as_bytes());
        let refused = raw.reply();
        assert!(
            refused.starts_with(&format!("554 5.5.2 Error: bare {name} received")),
            "{ending:?}: {refused}"
        );
        assert_eq!(raw.reply(), "", "{ending:?}: the connection stays open");
    }
    // Nothing went through: give a real message time to overtake them.
    let id = "<after-bare@client.test>";
    assert!(Raw::mail(port, "bob@example.test", &message(id, "")).starts_with("250"));
    assert!(wait_for(DELIVERED_WITHIN, || cluster
        .delivered("bob@example.test", id)));
    for n in 0..attempts.len() {
        assert!(!cluster.delivered("bob@example.test", &smuggled(n)));
    }
    assert!(!cluster.delivered("alice@example.test", "<outer@client.test>"));
}

#[test]
fn a_trickled_command_or_body_gets_421_when_its_own_timeout_runs_out() {
    let cluster = Cluster::start_with("trickle", |config| {
        config.gateway.knobs.smtp_command_timeout_ms = 1_500;
        config.gateway.knobs.smtp_data_timeout_ms = 2_500;
    });
    let port = cluster.smtp_port("gw-a");
    // One byte every 250 ms: each read is quick, the command is not. Stop
    // writing once the server has answered, so its reply is not lost to
    // the reset our next write would cause.
    let mut raw = Raw::connect(port);
    let mut reply = None;
    for byte in b"NOOP and a long, slowly typed argument\r\n" {
        raw.send(&[*byte]);
        reply = raw.reply_within(Duration::from_millis(250));
        if reply.is_some() {
            break;
        }
    }
    let reply = reply.unwrap_or_default();
    assert!(reply.starts_with("421 4.4.2"), "{reply:?}");
    // The body: one short line every 300 ms, past the DATA limit.
    let mut raw = Raw::connect(port);
    assert!(raw.envelope("alice@example.test").starts_with("250"));
    assert!(raw.command("DATA").starts_with("354"));
    let mut reply = None;
    for _ in 0..20 {
        raw.send(b"a line\r\n");
        reply = raw.reply_within(Duration::from_millis(300));
        if reply.is_some() {
            break;
        }
    }
    let reply = reply.unwrap_or_default();
    assert!(reply.starts_with("421 4.4.2"), "{reply:?}");
}

#[test]
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "real mode dates by the wall clock; the test compares with it"
)]
fn a_dsn_is_dated_by_the_host_clock_not_a_fixed_day() {
    let mut cluster = Cluster::start_with("dsn-date", |config| {
        config.gateway.knobs.queue_lifetime_ms = 2_000;
    });
    // No mailbox: the message expires and bounces; no DNS either, so the
    // DSN waits in the spool where we can read it.
    cluster.kill_group("outside");
    let id = "<dsn-date@client.test>";
    let reply = Raw::mail(
        cluster.smtp_port("gw-a"),
        "alice@example.test",
        &message(id, ""),
    );
    assert!(reply.starts_with("250"), "{reply}");
    let spools: Vec<std::path::PathBuf> = cluster
        .config
        .gateway
        .gateways
        .iter()
        .map(|g| cluster.data.join(&g.host).join("spool"))
        .collect();
    let mut dsn = String::new();
    let found = wait_for(DELIVERED_WITHIN, || {
        for spool in &spools {
            for entry in std::fs::read_dir(spool).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.contains("-dsn") && name.ends_with(".msg") {
                    dsn = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    return !dsn.is_empty();
                }
            }
        }
        false
    });
    assert!(found, "no DSN spooled within {DELIVERED_WITHIN:?}");
    // Real mode runs on the wall clock; the DSN's Date must be today's.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    // "Thu, 3 Dec 2026 08:00:00 +0000" -> "3 Dec 2026": the day is today's.
    let today: Vec<String> = models::mime::date::rfc5322(now)
        .split(' ')
        .skip(1)
        .take(3)
        .map(String::from)
        .collect();
    let date = dsn
        .lines()
        .find(|line| line.starts_with("Date: "))
        .expect("a Date field");
    assert!(
        date.contains(&today.join(" ")),
        "{date} is not today, {today:?}"
    );
}
