//! The frame format: a fixed 53-byte header naming the session, the
//! protocol's digest, the sending and receiving peers and the label, then the
//! postcard-encoded payload and, for `journal_merge` sends, the facts shipped.
//!
//! ```text
//!  0      version (1)
//!  1      kind: 0 message, 1 cancel
//!  2..18  session id
//! 18..34  protocol digest
//! 34..36  sender's role index (u16, little endian)
//! 36..40  sender's member index (u32, u32::MAX for a single role)
//! 40..42  receiver's role index
//! 42..46  receiver's member index
//! 46..48  label id (message) or 0
//! 48      flags: bit 0 = facts follow the payload
//! 49..53  body length (u32): the payload (message) or the reason (cancel)
//! 53..    body, then the facts (postcard) when flagged
//! ```

use bytes::{BufMut, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::journal::Fact;
use crate::protocol::Digest;
use crate::transport::SessionId;

/// The frame format version this runtime speaks.
pub(crate) const VERSION: u8 = 1;
/// Length of the fixed header.
pub(crate) const HEADER: usize = 53;
/// Longest cancellation reason carried, in bytes (longer ones are cut).
pub(crate) const MAX_REASON: usize = 512;
/// The member field of a single role.
const SINGLE: u32 = u32::MAX;
/// Flag: facts follow the payload.
const FACTS: u8 = 1;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A protocol message.
    Message,
    /// The sender stopped the session; the body is the reason.
    Cancel,
}

/// A peer as frames name it: role index and member index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Addr {
    pub role: u16,
    pub member: Option<u32>,
}

/// The fixed part of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub kind: Kind,
    pub session: SessionId,
    pub digest: Digest,
    pub from: Addr,
    pub to: Addr,
    pub label: u16,
    pub facts: bool,
    pub body_len: u32,
}

/// Why a frame could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Malformed {
    Short(usize),
    Version(u8),
    Kind(u8),
    Length { declared: u32, available: usize },
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Short(n) => write!(f, "frame of {n} bytes is shorter than its header"),
            Malformed::Version(v) => write!(f, "frame version {v} (this runtime speaks {VERSION})"),
            Malformed::Kind(k) => write!(f, "unknown frame kind {k}"),
            Malformed::Length {
                declared,
                available,
            } => write!(f, "body of {declared} bytes declared, {available} present"),
        }
    }
}

#[inline]
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
fn addr_at(b: &[u8], at: usize) -> Addr {
    let member = u32_at(b, at + 2);
    Addr {
        role: u16_at(b, at),
        member: (member != SINGLE).then_some(member),
    }
}

/// Reads the fixed header of `frame` and checks the declared body fits.
#[inline]
pub(crate) fn header(frame: &[u8]) -> Result<Header, Malformed> {
    if frame.len() < HEADER {
        return Err(Malformed::Short(frame.len()));
    }
    if frame[0] != VERSION {
        return Err(Malformed::Version(frame[0]));
    }
    let kind = match frame[1] {
        0 => Kind::Message,
        1 => Kind::Cancel,
        k => return Err(Malformed::Kind(k)),
    };
    let mut session = [0; 16];
    session.copy_from_slice(&frame[2..18]);
    let mut digest = [0; 16];
    digest.copy_from_slice(&frame[18..34]);
    let body_len = u32_at(frame, 49);
    let available = frame.len() - HEADER;
    if body_len as usize > available {
        return Err(Malformed::Length {
            declared: body_len,
            available,
        });
    }
    Ok(Header {
        kind,
        session: SessionId(session),
        digest: Digest(digest),
        from: addr_at(frame, 34),
        to: addr_at(frame, 40),
        label: u16_at(frame, 46),
        facts: frame[48] & FACTS != 0,
        body_len,
    })
}

/// The body of a frame whose header is `h`.
pub(crate) fn body<'f>(frame: &'f [u8], h: &Header) -> &'f [u8] {
    &frame[HEADER..HEADER + h.body_len as usize]
}

/// The facts shipped after the body, if the header says there are any.
pub(crate) fn facts(frame: &[u8], h: &Header) -> Result<Vec<Fact>, String> {
    if !h.facts {
        return Ok(Vec::new());
    }
    let rest = &frame[HEADER + h.body_len as usize..];
    decode(rest)
}

/// Writes the header of a frame into the first [`HEADER`] bytes of `out`.
#[inline]
pub(crate) fn write_header(out: &mut [u8], h: &Header) {
    out[0] = VERSION;
    out[1] = match h.kind {
        Kind::Message => 0,
        Kind::Cancel => 1,
    };
    out[2..18].copy_from_slice(&h.session.0);
    out[18..34].copy_from_slice(&h.digest.0);
    for (at, addr) in [(34, h.from), (40, h.to)] {
        out[at..at + 2].copy_from_slice(&addr.role.to_le_bytes());
        let member = addr.member.unwrap_or(SINGLE);
        out[at + 2..at + 6].copy_from_slice(&member.to_le_bytes());
    }
    out[46..48].copy_from_slice(&h.label.to_le_bytes());
    out[48] = if h.facts { FACTS } else { 0 };
    set_body_len(out, h.body_len);
}

/// Sets the body length in the header at the start of `frame`.
#[inline]
pub(crate) fn set_body_len(frame: &mut [u8], body_len: u32) {
    frame[49..53].copy_from_slice(&body_len.to_le_bytes());
}

/// The protocol digest of `frame`, if its header reads (as [`header`] checks).
#[inline]
pub(crate) fn digest(frame: &[u8]) -> Option<&[u8]> {
    let ok = frame.len() >= HEADER
        && frame[0] == VERSION
        && frame[1] <= 1
        && u32_at(frame, 49) as usize <= frame.len() - HEADER;
    ok.then(|| &frame[18..34])
}

/// A postcard flavor appending to a `BytesMut`.
struct Append<'a>(&'a mut BytesMut);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.put_u8(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.put_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Values up to this size are encoded on the stack, then copied in one piece.
const STACK: usize = 256;

/// Appends the postcard encoding of `value` to `out`.
pub(crate) fn encode_into<M: Serialize + ?Sized>(
    out: &mut BytesMut,
    value: &M,
) -> Result<(), String> {
    let mut stack = [0u8; STACK];
    match postcard::to_slice(value, &mut stack) {
        Ok(encoded) => {
            out.put_slice(encoded);
            Ok(())
        }
        Err(postcard::Error::SerializeBufferFull) => {
            postcard::serialize_with_flavor(value, Append(out)).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Decodes a whole postcard value; bytes left over are an error too.
pub(crate) fn decode<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, String> {
    let (value, rest) = postcard::take_from_bytes::<M>(bytes).map_err(|e| e.to_string())?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(format!("{} bytes left over after the value", rest.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            kind: Kind::Message,
            session: SessionId([7; 16]),
            digest: Digest([9; 16]),
            from: Addr {
                role: 1,
                member: Some(2),
            },
            to: Addr {
                role: 0,
                member: None,
            },
            label: 5,
            facts: false,
            body_len: 2,
        }
    }

    #[test]
    fn headers_round_trip_and_bodies_are_bounded() {
        let h = sample();
        let mut frame = vec![0; HEADER + 2];
        write_header(&mut frame, &h);
        frame[HEADER..].copy_from_slice(&[0xAA, 0xBB]);
        assert_eq!(header(&frame), Ok(h));
        assert_eq!(digest(&frame), Some(&[9; 16][..]));
        assert_eq!(body(&frame, &h), [0xAA, 0xBB]);
        frame.pop();
        assert!(matches!(header(&frame), Err(Malformed::Length { .. })));
        assert_eq!(digest(&frame), None);
        assert_eq!(header(&frame[..10]), Err(Malformed::Short(10)));
        frame[0] = 9;
        assert_eq!(header(&frame), Err(Malformed::Version(9)));
    }

    #[test]
    fn payloads_encode_in_place_and_decode_whole() {
        let mut out = BytesMut::new();
        encode_into(&mut out, &300u32).unwrap();
        assert_eq!(decode::<u32>(&out), Ok(300));
        assert!(decode::<u8>(&out).is_err());
        // Larger than the stack buffer: encoded straight into the output.
        let big = vec![7u8; 3 * STACK];
        let mut out = BytesMut::new();
        encode_into(&mut out, &big).unwrap();
        assert_eq!(decode::<Vec<u8>>(&out), Ok(big));
    }
}
