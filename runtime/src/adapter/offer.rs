//! What a receive hands back before decoding: [`Offer`], and the [`Choice`]
//! trait for branch types decoded from it.

use serde::de::DeserializeOwned;

use super::wire;
use crate::error::{Error, ErrorKind};
use crate::roster::Peer;

/// A received message whose label was one of those expected, payload not yet decoded.
#[derive(Clone, Debug)]
pub struct Offer {
    pub(super) label: &'static str,
    pub(super) from: Peer,
    /// The whole frame; the payload starts at `offset`.
    pub(super) frame: Vec<u8>,
    pub(super) offset: usize,
    pub(super) protocol: &'static str,
    pub(super) role: Peer,
    pub(super) expected: Expected,
}

/// A type a runner branches on: one variant per label of an external choice.
pub trait Choice: Sized {
    /// The labels that select a branch.
    const LABELS: &'static [&'static str];

    /// Builds the branch from a received offer (typically `match offer.label()`
    /// with [`Offer::decode`], and [`Offer::unexpected`] for other labels).
    fn from_offer(offer: Offer) -> Result<Self, Error>;
}

/// The labels a receive accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expected {
    One(&'static str),
    Any(&'static [&'static str]),
}

impl Expected {
    pub(crate) fn find(self, label: &str) -> Option<&'static str> {
        match self {
            Expected::One(one) => (one == label).then_some(one),
            Expected::Any(any) => any.iter().copied().find(|l| *l == label),
        }
    }

    pub(crate) fn to_vec(self) -> Vec<&'static str> {
        match self {
            Expected::One(one) => vec![one],
            Expected::Any(any) => any.to_vec(),
        }
    }
}

impl Offer {
    /// The label that arrived (one of those expected).
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The sender.
    pub fn from(&self) -> &Peer {
        &self.from
    }

    /// The encoded payload.
    pub fn payload(&self) -> &[u8] {
        self.frame.get(self.offset..).unwrap_or_default()
    }

    /// Decodes the payload as `M`.
    pub fn decode<M: DeserializeOwned>(&self) -> Result<M, Error> {
        wire::decode_payload(self.payload()).map_err(|reason| {
            self.error(ErrorKind::Decode {
                expected: self.expected.to_vec(),
                received: Some(self.label.to_owned()),
                reason,
            })
        })
    }

    /// The error for a label the caller did not expect after all.
    pub fn unexpected(&self) -> Error {
        self.error(ErrorKind::WrongLabel {
            expected: self.expected.to_vec(),
            received: self.label.to_owned(),
        })
    }

    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(
            self.protocol,
            self.role.clone(),
            Some(self.from.clone()),
            kind,
        )
    }
}
