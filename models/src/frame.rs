//! Framing for the gateway's internal protocols (replication, scanning): a
//! MessagePack header and a raw payload, each length-prefixed. Message
//! bytes travel raw, never re-encoded, so what crosses a link is exactly
//! what was spooled.
//!
//! The header is MessagePack with named fields (`rmp_serde::to_vec_named`):
//! binary numbers and no escaping, so smaller and cheaper to read than the
//! JSON it replaced (a sync round's reply is a list of ballots), yet
//! self-describing, so optional fields may be left out and a reader can
//! still render any header as JSON ([`readable`]) for a person or a trace.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::env::BoxConn;

/// Anything bigger is a broken or hostile peer. Most headers are small,
/// but a sync reply carries the progress of up to
/// `peer::SYNC_BALLOTS_PER_REQUEST_MAX` messages, each with a state (and a
/// bounce's diagnostic, `mime::dsn::DIAGNOSTIC_BYTES_MAX`) per recipient:
/// 64 messages of 50 refused recipients come to about 2 MiB.
const HEADER_BYTES_MAX: u32 = 4 * 1024 * 1024;

pub async fn write_frame<H: Serialize>(
    conn: &mut BoxConn,
    header: &H,
    payload: &[u8],
) -> io::Result<()> {
    let header = rmp_serde::to_vec_named(header).map_err(io::Error::other)?;
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
    let header: H = rmp_serde::from_slice(&header).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame header ({e}): {}", readable(&header)),
        )
    })?;
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

/// A header as JSON text, for people: what a trace or an error shows. Not
/// MessagePack (or cut short): its first bytes, escaped.
pub fn readable(header: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 200;
    match rmp_serde::from_slice::<serde_json::Value>(header) {
        Ok(value) => value.to_string(),
        Err(_) => format!(
            "{} bytes, not a header: {:?}",
            header.len(),
            String::from_utf8_lossy(&header[..header.len().min(SHOWN_BYTES_MAX)])
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::answering_node;
    use crate::gateway::wire::{FramedRef, PeerRequest};
    use crate::spool::RcptState;

    /// An update whose recipient bounced: an entry, with an internally
    /// tagged recipient state and fields left out when unset.
    fn update_request() -> PeerRequest {
        let mut entry = answering_node::entry();
        for state in entry.rcpts.values_mut() {
            *state = RcptState::Bounced {
                status: "5.1.1".into(),
                diagnostic: "550 no such user".into(),
            };
        }
        PeerRequest::Update { entry }
    }

    #[test]
    fn a_header_reads_back_as_it_was_and_is_smaller_than_its_json() {
        let request = update_request();
        let framed = FramedRef {
            from: "gw-us-east-1-0",
            request: &request,
        };
        let packed = rmp_serde::to_vec_named(&framed).unwrap();
        let json = serde_json::to_vec(&framed).unwrap();
        assert!(
            packed.len() < json.len(),
            "{} vs {}",
            packed.len(),
            json.len()
        );
        let back: crate::gateway::wire::Framed = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(back.from, "gw-us-east-1-0");
        assert_eq!(
            format!("{:?}", back.request),
            format!("{request:?}"),
            "the request survives the trip"
        );
        // What a person sees is the JSON it stands for.
        let shown: serde_json::Value = serde_json::from_str(&readable(&packed)).unwrap();
        assert_eq!(shown, serde_json::to_value(&framed).unwrap());
    }

    #[test]
    fn garbage_is_shown_as_bytes_not_as_a_header() {
        let shown = readable(b"\xc1HELO there");
        assert!(shown.contains("not a header"), "{shown}");
    }
}
