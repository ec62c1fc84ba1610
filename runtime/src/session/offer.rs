//! What a receive hands back before decoding: an [`Offer`].

use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};
use crate::protocol::Protocol;
use crate::roster::Peer;
use crate::wire;

/// The labels a receive accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expected {
    One(u16),
    Any(&'static [u16]),
    /// Whatever label the protocol has (the byte-level receive).
    All,
}

impl Expected {
    /// Whether `label` is one of them.
    #[inline]
    pub fn accepts(self, label: u16) -> bool {
        match self {
            Expected::One(one) => one == label,
            Expected::Any(any) => any.contains(&label),
            Expected::All => true,
        }
    }

    /// Their names.
    pub fn names(self, protocol: &Protocol) -> Vec<&'static str> {
        match self {
            Expected::One(one) => vec![protocol.label(one)],
            Expected::Any(any) => any.iter().map(|l| protocol.label(*l)).collect(),
            Expected::All => protocol.labels.to_vec(),
        }
    }
}

/// A received message whose label was one of those expected, payload not
/// yet decoded: the runner branches on [`Offer::label`].
#[derive(Clone, Debug)]
pub struct Offer {
    pub(crate) label: u16,
    pub(crate) from: Peer,
    pub(crate) frame: Bytes,
    pub(crate) body: Range<usize>,
    pub(crate) protocol: &'static Protocol,
    pub(crate) role: Peer,
    pub(crate) expected: Expected,
}

impl Offer {
    /// The label id that arrived (one of those expected).
    pub fn label(&self) -> u16 {
        self.label
    }

    /// The sender.
    pub fn from(&self) -> Peer {
        self.from
    }

    /// The encoded payload.
    pub fn payload(&self) -> &[u8] {
        self.frame.get(self.body.clone()).unwrap_or_default()
    }

    /// The encoded payload, sharing the frame's buffer.
    pub fn payload_bytes(&self) -> Bytes {
        self.frame.slice(self.body.clone())
    }

    /// Decodes the payload as `M`.
    pub fn decode<M: DeserializeOwned>(&self) -> Result<M, Error> {
        wire::decode(self.payload()).map_err(|reason| {
            self.error(ErrorKind::Decode {
                expected: self.expected.names(self.protocol),
                received: Some(self.protocol.label(self.label).to_owned()),
                reason,
            })
        })
    }

    /// The error for a label the caller did not expect after all.
    pub fn unexpected(&self) -> Error {
        self.error(ErrorKind::WrongLabel {
            expected: self.expected.names(self.protocol),
            received: self.protocol.label(self.label).to_owned(),
        })
    }

    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(self.protocol.name, Some(self.role), Some(self.from), kind)
    }
}
