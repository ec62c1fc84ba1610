//! Typed errors: [`EffectError`] for the byte-level effects and transports,
//! [`Error`] for the typed adapter that generated code calls.

use std::fmt;
use std::time::Duration;

use crate::guard::Refusal;
use crate::metrics::SessionId;
use crate::roster::Peer;

/// A failure of the byte-level effects: the transport or the session lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EffectError {
    /// Nothing arrived from `peer` within the session's receive timeout.
    #[error("no message from {peer} within {after:?}")]
    Timeout {
        /// The peer that was waited for.
        peer: Peer,
        /// The timeout that expired.
        after: Duration,
    },
    /// `peer`'s endpoint has been dropped; anything it sent before was delivered.
    #[error("peer {peer} has gone away")]
    PeerGone {
        /// The departed peer.
        peer: Peer,
    },
    /// `peer` is not part of this session or network.
    #[error("peer {peer} is not part of this session")]
    UnknownPeer {
        /// The unknown peer.
        peer: Peer,
    },
    /// An endpoint for `peer` was already handed out.
    #[error("an endpoint for {peer} was already handed out")]
    PeerTaken {
        /// The peer asked for twice.
        peer: Peer,
    },
    /// A send or receive happened with no session started.
    #[error("no session is active")]
    NoSession,
    /// A session was started while another one was active.
    #[error("session {0} is still active")]
    SessionActive(SessionId),
}

/// An error of the typed adapter, with the context it happened in.
///
/// Boxed, so a `Result<T, Error>` stays small on the path that succeeds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(Box<Context>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Context {
    protocol: &'static str,
    role: Peer,
    peer: Option<Peer>,
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(
        protocol: &'static str,
        role: Peer,
        peer: Option<Peer>,
        kind: ErrorKind,
    ) -> Self {
        Error(Box::new(Context {
            protocol,
            role,
            peer,
            kind,
        }))
    }

    /// The protocol being run.
    pub fn protocol(&self) -> &'static str {
        self.0.protocol
    }

    /// The role whose code got the error.
    pub fn role(&self) -> &Peer {
        &self.0.role
    }

    /// The peer of the failed send or receive, when there is one.
    pub fn peer(&self) -> Option<&Peer> {
        self.0.peer.as_ref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol `{}`, role {}", self.protocol, self.role)?;
        if let Some(peer) = &self.peer {
            write!(f, ", peer {peer}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// What went wrong in an adapter operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The guard chain refused the send: nothing was charged, recorded or sent.
    #[error("send refused by {guard}: {0}", guard = .0.guard())]
    Refused(Refusal),
    /// The transport failed after the send's guard effects were applied; they stay recorded.
    #[error("send failed after its guard effects were applied: {0}")]
    Send(EffectError),
    /// A receive failed (timeout, peer gone, ...).
    #[error("receive failed: {0}")]
    Receive(EffectError),
    /// Starting or ending the session failed, or an operation ran outside a session.
    #[error("session: {0}")]
    Session(EffectError),
    /// A message arrived with a label other than the expected ones.
    #[error("expected {}, received `{received}`", Labels(expected))]
    WrongLabel {
        /// The labels that were acceptable here.
        expected: Vec<&'static str>,
        /// The label that arrived.
        received: String,
    },
    /// A message arrived that does not decode (its header, or its payload as the expected type).
    #[error("undecodable message (expected {}, received {}): {reason}", Labels(expected), Received(received.as_deref()))]
    Decode {
        /// The labels that were acceptable here.
        expected: Vec<&'static str>,
        /// The label that arrived, if the header could be read.
        received: Option<String>,
        /// The decoder's explanation.
        reason: String,
    },
    /// An outgoing message could not be encoded. Payloads are encoded before any
    /// guard effect (then nothing was charged, recorded or sent); the header,
    /// which carries the journal for `journal_merge`, after them.
    #[error("cannot encode `{label}`: {reason}")]
    Encode {
        /// The label of the message.
        label: &'static str,
        /// The encoder's explanation.
        reason: String,
    },
    /// The peer is not in the session's roster; nothing was charged, recorded or sent.
    #[error("peer is not in the roster")]
    UnknownPeer,
    /// The family is not in the session's roster.
    #[error("no family `{0}` in the roster")]
    UnknownFamily(String),
}

/// Formats a list of labels as "`A`" or "`A` or `B`".
struct Labels<'a>(&'a [&'static str]);

impl fmt::Display for Labels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, label) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "`{label}`")?;
        }
        Ok(())
    }
}

/// Formats a received label, or says that the header was unreadable.
struct Received<'a>(Option<&'a str>);

impl fmt::Display for Received<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(label) => write!(f, "`{label}`"),
            None => f.write_str("an unreadable header"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_label_names_protocol_role_peer_and_labels() {
        let kind = ErrorKind::WrongLabel {
            expected: vec!["Abort", "Commit"],
            received: "Propose".into(),
        };
        let (role, peer) = (Peer::member("Guardian", 1), Some(Peer::role("Initiator")));
        let err = Error::new("GuardianCeremony", role, peer, kind);
        assert_eq!(
            err.to_string(),
            "protocol `GuardianCeremony`, role Guardian[1], peer Initiator: \
             expected `Abort` or `Commit`, received `Propose`"
        );
    }
}
