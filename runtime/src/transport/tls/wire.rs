//! The wire format inside TLS: length-delimited frames (tokio-util's codec: a
//! 4-byte big-endian length, then that many bytes), each starting with a
//! one-byte type that separates this transport's own messages (handshake,
//! keep-alive) from the opaque data frames it carries for the node.

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// The handshake's first message (version, minimum, capabilities, nonce).
pub const HELLO: u8 = 0x01;
/// The handshake's answer (accepted or rejected, echoing the peer's nonce).
pub const ANSWER: u8 = 0x02;
/// A data frame: the rest is the node's opaque frame.
pub const DATA: u8 = 0x10;
/// A keep-alive ping (empty); any frame received proves the peer alive.
pub const PING: u8 = 0x11;

/// The largest handshake message, in bytes (type byte included).
pub const HANDSHAKE_MAX: usize = 4096;

/// One frame to write: its type byte and its payload.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The type byte.
    pub kind: u8,
    /// The payload.
    pub payload: Bytes,
}

impl Frame {
    /// A data frame carrying `payload`.
    pub fn data(payload: Bytes) -> Frame {
        Frame {
            kind: DATA,
            payload,
        }
    }
}

/// Length-delimited frames of at most `max` bytes (type byte included) with a
/// leading type byte.
#[derive(Debug)]
pub struct WireCodec {
    inner: LengthDelimitedCodec,
}

impl WireCodec {
    /// A codec accepting frames of up to `max` bytes, type byte included.
    pub fn new(max: usize) -> WireCodec {
        WireCodec {
            inner: LengthDelimitedCodec::builder()
                .length_field_length(4)
                .max_frame_length(max)
                .new_codec(),
        }
    }

    /// Changes the largest frame accepted (after the handshake).
    pub fn set_max(&mut self, max: usize) {
        self.inner.set_max_frame_length(max);
    }

    /// The largest frame accepted, type byte included.
    pub fn max(&self) -> usize {
        self.inner.max_frame_length()
    }
}

impl Decoder for WireCodec {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, std::io::Error> {
        self.inner.decode(src)
    }
}

impl Encoder<Frame> for WireCodec {
    type Error = std::io::Error;

    /// Writes the header the decoder reads (length of type byte + payload),
    /// then the type byte and the payload, in one copy.
    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        let len = frame.payload.len() + 1;
        if len > self.inner.max_frame_length() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "frame of {len} bytes exceeds the maximum of {}",
                    self.inner.max_frame_length()
                ),
            ));
        }
        dst.reserve(4 + len);
        dst.put_u32(len as u32);
        dst.put_u8(frame.kind);
        dst.extend_from_slice(&frame.payload);
        Ok(())
    }
}
