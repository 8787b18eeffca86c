//! The senders' resolver: asks the `dns` host for a domain's MX hosts over
//! the directory's one-line protocol (see `dns`): `MX <domain>` answered by
//! `MX <ttl_ms> <host>...`, `NXDOMAIN` or `SERVFAIL`.
//!
//! The world's own client, not the gateway's `models::mx`: the senders are
//! witnesses, and a witness that resolved with the gateway's code would
//! share its mistakes.

use std::io;
use std::time::Duration;

use models::config::DNS_PORT;
use models::env::{self, Env};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer longer than this is not the directory speaking.
const ANSWER_BYTES_MAX: usize = 4096;

/// One MX answer as a resolver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxAnswer {
    /// In preference order.
    pub hosts: Vec<String>,
    /// How long the answer may be trusted.
    pub ttl_ms: u64,
}

/// Asks `dns_host` for the MX hosts of `domain`, all within `timeout_ms`.
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
        let mut answer = Vec::new();
        let mut chunk = [0u8; 512];
        while !answer.ends_with(b"\r\n") {
            let n = conn.read(&mut chunk).await?;
            if n == 0 || answer.len() > ANSWER_BYTES_MAX {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "short MX answer",
                ));
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        let _ = conn.shutdown().await;
        parse(String::from_utf8_lossy(&answer).trim_end())
    };
    env::timeout(env, Duration::from_millis(timeout_ms), query).await?
}

/// Reads one answer line (without its CRLF).
pub fn parse(line: &str) -> io::Result<MxAnswer> {
    if line == "NXDOMAIN" {
        return Err(io::Error::new(io::ErrorKind::NotFound, "NXDOMAIN"));
    }
    if line == "SERVFAIL" {
        // The server failed, not the domain: try again later.
        return Err(io::Error::other("SERVFAIL"));
    }
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad MX answer {line:?}"),
        )
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_name_hosts_in_order_with_their_ttl() {
        let answer = parse("MX 5000 gw-a gw-b").unwrap();
        assert_eq!(answer.hosts, ["gw-a", "gw-b"]);
        assert_eq!(answer.ttl_ms, 5000);
        assert_eq!(
            parse("NXDOMAIN").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        for garbage in ["", "ERR", "MX", "MX x gw-a", "MX 5000"] {
            assert_eq!(
                parse(garbage).unwrap_err().kind(),
                io::ErrorKind::InvalidData
            );
        }
    }
}
