//! DNS over TCP framing for the witness side (RFC 1035 §4.2.2, RFC 7766):
//! every message travels behind a two-byte, big-endian length.
//!
//! TCP, not UDP, because the engines' seam carries streams only: turmoil
//! has UDP but madsim's is a different API, and the partitions, crashes
//! and gray links the faults inject are modelled for streams. Real
//! resolvers speak DNS over TCP too (RFC 7766 makes it mandatory), so the
//! messages on the wire are the real thing either way.

use std::io;

use models::env::BoxConn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads one framed message; None at a clean EOF before its length. An
/// EOF inside a frame is an error.
pub async fn read_frame(conn: &mut BoxConn) -> io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 2];
    let first = conn.read(&mut length[..1]).await?;
    if first == 0 {
        return Ok(None);
    }
    conn.read_exact(&mut length[1..]).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    conn.read_exact(&mut message).await?;
    Ok(Some(message))
}

/// Writes `message` behind its length, in one write so it leaves as one
/// segment; a message over 65,535 bytes cannot be framed.
pub async fn write_frame(conn: &mut BoxConn, message: &[u8]) -> io::Result<()> {
    let length = u16::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "DNS message over 65535 bytes"))?;
    let mut frame = Vec::with_capacity(message.len() + 2);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(message);
    conn.write_all(&frame).await?;
    conn.flush().await
}
