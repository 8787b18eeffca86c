//! Framing for the gateway's internal protocols (replication, scanning): a
//! JSON header and a raw payload, each length-prefixed. Message bytes travel
//! raw, never re-encoded, so what crosses a link is exactly what was spooled.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::env::BoxConn;

/// Headers are small; anything bigger is a broken or hostile peer.
const HEADER_BYTES_MAX: u32 = 64 * 1024;

pub async fn write_frame<H: Serialize>(
    conn: &mut BoxConn,
    header: &H,
    payload: &[u8],
) -> io::Result<()> {
    let header = serde_json::to_vec(header).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(8 + header.len() + payload.len());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    conn.write_all(&frame).await?;
    conn.flush().await
}

/// Reads one frame; `payload_bytes_max` bounds what a peer can make us buffer.
pub async fn read_frame<H: DeserializeOwned>(
    conn: &mut BoxConn,
    payload_bytes_max: u64,
) -> io::Result<(H, Vec<u8>)> {
    let header_len = conn.read_u32().await?;
    if header_len > HEADER_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame header too large",
        ));
    }
    let mut header = vec![0; header_len as usize];
    conn.read_exact(&mut header).await?;
    let header: H = serde_json::from_slice(&header)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let payload_len = conn.read_u32().await?;
    if u64::from(payload_len) > payload_bytes_max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame payload too large",
        ));
    }
    let mut payload = vec![0; payload_len as usize];
    conn.read_exact(&mut payload).await?;
    Ok((header, payload))
}
