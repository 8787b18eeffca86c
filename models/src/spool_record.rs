//! The checksummed frame every spool file is written in: one header line
//! naming the payload's length and SHA-256, then the payload.
//!
//! Disks lie: a read can come back with a flipped bit, a crash can leave a
//! torn write (new blocks over old ones), a full disk can stop a write
//! halfway. A copy whose bytes are not the bytes we wrote is a lost copy,
//! never mail: delivering it would hand a mailbox something no sender sent,
//! and a bit flipped inside an entry could change a recipient. So every
//! read checks the frame and refuses (`InvalidData`) what does not match;
//! the spool then treats the copy as gone and the other copies carry the
//! message.

use std::io;

const MAGIC: &str = "mailsim-spool-record v1";

/// `payload` framed: `mailsim-spool-record v1 <len> <sha256 hex>\n` + payload.
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "{MAGIC} {} {}\n",
        payload.len(),
        traces::sha256_hex(payload)
    );
    let mut framed = Vec::with_capacity(header.len() + payload.len());
    framed.extend_from_slice(header.as_bytes());
    framed.extend_from_slice(payload);
    framed
}

fn corrupt(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("spool record corrupt: {why}"),
    )
}

/// The header line and the payload after it, unchecked.
fn split(framed: &[u8]) -> io::Result<(&str, &[u8])> {
    let end = framed
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| corrupt("no header line"))?;
    let header = std::str::from_utf8(&framed[..end]).map_err(|_| corrupt("header not text"))?;
    Ok((header, &framed[end + 1..]))
}

/// The payload, if the frame's length and checksum match it.
pub fn open(framed: &[u8]) -> io::Result<Vec<u8>> {
    let (header, payload) = split(framed)?;
    let mut fields = header.split(' ');
    let magic = format!(
        "{} {}",
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default()
    );
    if magic != MAGIC {
        return Err(corrupt("unknown header"));
    }
    let len: usize = fields
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| corrupt("no length"))?;
    let sha = fields.next().ok_or_else(|| corrupt("no checksum"))?;
    if payload.len() != len {
        return Err(corrupt(&format!(
            "{} bytes where {len} were written",
            payload.len()
        )));
    }
    if traces::sha256_hex(payload) != sha {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(payload.to_vec())
}

/// The payload without checking it: only for the `spool-trusts-reads` bug.
pub fn open_unchecked(framed: &[u8]) -> io::Result<Vec<u8>> {
    split(framed).map(|(_, payload)| payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_to_its_payload() {
        let payload = b"Subject: hi\r\n\r\nbody\r\n";
        assert_eq!(open(&seal(payload)).unwrap(), payload);
        assert_eq!(open(&seal(b"")).unwrap(), b"");
    }

    #[test]
    fn every_single_bit_flip_is_refused() {
        let framed = seal(b"From: a@b.example\r\n\r\nhello\r\n");
        for byte in 0..framed.len() {
            for bit in 0..8 {
                let mut flipped = framed.clone();
                flipped[byte] ^= 1 << bit;
                let err = open(&flipped).expect_err("a flipped bit must not open");
                assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            }
        }
    }

    #[test]
    fn a_torn_or_cut_short_record_is_refused() {
        let old = seal(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let new = seal(b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        // A torn write: the new record's first blocks over the old one's.
        let mut torn = new[..48].to_vec();
        torn.extend_from_slice(&old[48..]);
        assert!(open(&torn).is_err());
        // A write stopped halfway by a full disk.
        assert!(open(&new[..new.len() / 2]).is_err());
        assert!(open(b"").is_err());
        assert!(open(b"{\"id\":\"legacy entry without a frame\"}").is_err());
    }

    #[test]
    fn the_unchecked_reader_passes_a_flipped_bit_through() {
        let framed = seal(b"hello");
        let mut flipped = framed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(open_unchecked(&flipped).unwrap(), b"helln");
    }
}
