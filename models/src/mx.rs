//! Client side of the MX directory protocol, so the gateway can find where to
//! send DSNs: one line `MX <domain>` answered by `MX <ttl_ms> <host>...` or
//! `NXDOMAIN`; and so the control plane can steer senders: `SET <domain>
//! <host>...` (the hosts it found healthy, possibly none) answered by `OK`.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::DNS_PORT;
use crate::env::{self, Env};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxAnswer {
    pub hosts: Vec<String>,
    pub ttl_ms: u64,
}

/// Parses one reply line (without CRLF).
pub fn parse_answer(line: &str) -> io::Result<MxAnswer> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad MX answer {line:?}"),
        )
    };
    if line == "NXDOMAIN" {
        return Err(io::Error::new(io::ErrorKind::NotFound, "NXDOMAIN"));
    }
    let mut words = line.split_ascii_whitespace();
    if words.next() != Some("MX") {
        return Err(bad());
    }
    let ttl_ms = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let hosts: Vec<String> = words.map(str::to_string).collect();
    if hosts.is_empty() {
        return Err(bad());
    }
    Ok(MxAnswer { hosts, ttl_ms })
}

/// Asks `dns_host` for the MX hosts of `domain`.
pub async fn lookup(
    env: &dyn Env,
    dns_host: &str,
    domain: &str,
    timeout_ms: u64,
) -> io::Result<MxAnswer> {
    let query = async {
        let mut conn = env.connect(dns_host, DNS_PORT).await?;
        conn.write_all(format!("MX {domain}\r\n").as_bytes())
            .await?;
        conn.flush().await?;
        parse_answer(&read_line(&mut conn, "MX answer").await?)
    };
    env::timeout(env, Duration::from_millis(timeout_ms), query).await?
}

/// Reads one CRLF-terminated line (without the CRLF); `what` names it in
/// the error when the connection ends first or the line runs past 4 KiB.
async fn read_line(conn: &mut crate::env::BoxConn, what: &str) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if conn.read(&mut byte).await? == 0 || line.len() > 4096 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("short {what}"),
            ));
        }
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line[..line.len() - 2]).into_owned())
}

/// Tells `dns_host` which of each domain's hosts are healthy, one `SET`
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
        for (domain, hosts) in views {
            let mut line = format!("SET {domain}");
            for host in hosts {
                line.push(' ');
                line.push_str(host);
            }
            line.push_str("\r\n");
            conn.write_all(line.as_bytes()).await?;
            conn.flush().await?;
            if read_line(&mut conn, "directory answer").await? == "OK" {
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

    #[test]
    fn an_answer_lists_hosts_in_preference_order() {
        let answer = parse_answer("MX 10000 gw-a gw-b").unwrap();
        assert_eq!(answer.hosts, vec!["gw-a", "gw-b"]);
        assert_eq!(answer.ttl_ms, 10_000);
    }

    #[test]
    fn garbage_and_nxdomain_are_errors() {
        assert!(parse_answer("NXDOMAIN").is_err());
        assert!(parse_answer("MX").is_err());
        assert!(parse_answer("MX ten gw-a").is_err());
        assert!(parse_answer("HELLO").is_err());
    }
}
