//! Typed errors: [`Error`] for everything a session does, [`RunError`] for a
//! whole run of a role (the runtime's error, or the role code's own).

use std::fmt;
use std::time::Duration;

use crate::guard::journal::JournalError;
use crate::guard::Refusal;
use crate::roster::Peer;
use crate::transport::{NodeId, SessionId, TransportError};

/// An error of a session operation, with the context it happened in.
///
/// Boxed, so a `Result<T, Error>` stays small on the path that succeeds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(Box<Context>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Context {
    protocol: &'static str,
    role: Option<Peer>,
    peer: Option<Peer>,
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(
        protocol: &'static str,
        role: Option<Peer>,
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

    /// The role whose session got the error (none before the session had one).
    pub fn role(&self) -> Option<&Peer> {
        self.0.role.as_ref()
    }

    /// The peer of the failed send or receive, when there is one.
    pub fn peer(&self) -> Option<&Peer> {
        self.0.peer.as_ref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Whether this is the cancellation of the session by another peer.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Cancelled { .. })
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol `{}`", self.protocol)?;
        if let Some(role) = &self.role {
            write!(f, ", role {role}")?;
        }
        if let Some(peer) = &self.peer {
            write!(f, ", peer {peer}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// What went wrong in a session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The guard chain refused the send: nothing was charged, recorded or sent.
    #[error("send refused by {guard}: {0}", guard = .0.guard())]
    Refused(Refusal),
    /// The transport could not take the frame: nothing was charged or recorded for it.
    #[error("send failed: {0}")]
    Send(TransportError),
    /// Nothing arrived from the peer within the session's receive timeout.
    #[error("no message within {after:?}")]
    Timeout {
        /// The timeout that expired.
        after: Duration,
    },
    /// The peer's node has gone (link lost, node shut down); anything it sent
    /// before was delivered.
    #[error("peer has gone: {reason}")]
    PeerGone {
        /// What the transport said.
        reason: String,
    },
    /// Another peer stopped the session: its code failed, a guard refused,
    /// a receive timed out or a payload did not decode there.
    #[error("session cancelled by {by}: {reason}")]
    Cancelled {
        /// The peer that stopped.
        by: Peer,
        /// Why, in its words.
        reason: String,
    },
    /// A message arrived with a label other than the expected ones.
    #[error("expected {}, received `{received}`", Labels(expected))]
    WrongLabel {
        /// The labels that were acceptable here.
        expected: Vec<&'static str>,
        /// The label that arrived.
        received: String,
    },
    /// A message arrived that does not decode (its frame, or its payload as the expected type).
    #[error("undecodable message (expected {}, received {}): {reason}", Labels(expected), Received(received.as_deref()))]
    Decode {
        /// The labels that were acceptable here.
        expected: Vec<&'static str>,
        /// The label that arrived, if the frame could be read.
        received: Option<String>,
        /// The decoder's explanation.
        reason: String,
    },
    /// An outgoing payload could not be encoded; nothing was charged, recorded or sent.
    #[error("cannot encode `{label}`: {reason}")]
    Encode {
        /// The label of the message.
        label: &'static str,
        /// The encoder's explanation.
        reason: String,
    },
    /// A frame is larger than the maximum frame size (refused by the sender
    /// before any effect, or by the receiver on arrival).
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Its size.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// A peer shipped a journal fact of another origin; nothing of it was recorded.
    #[error("fact of origin {claimed} shipped by node {sender}")]
    ForgedFact {
        /// The origin the fact claims.
        claimed: NodeId,
        /// The node that actually sent it.
        sender: NodeId,
    },
    /// The journal could not record a fact; the send it belongs to was not made.
    #[error("journal: {0}")]
    Journal(JournalError),
    /// The peer is not in the session's roster; nothing was charged, recorded or sent.
    #[error("peer is not in the roster")]
    UnknownPeer,
    /// The family is not in the session's roster.
    #[error("no family `{0}` in the roster")]
    UnknownFamily(String),
    /// The roster does not fit the protocol (a role missing, a family declared single, ...).
    #[error("roster: {0}")]
    Roster(String),
    /// The session could not be set up on this node.
    #[error("session {session}: {reason}")]
    Setup {
        /// The session.
        session: SessionId,
        /// What is wrong.
        reason: String,
    },
}

/// Why a run of a role ended early: the runtime, or the role's own code.
#[derive(Debug, PartialEq, Eq)]
pub enum RunError<E> {
    /// The role's code returned this error; the session was cancelled with it.
    Role(E),
    /// The session failed (refusal, timeout, cancellation by a peer, ...).
    Session(Error),
}

impl<E> RunError<E> {
    /// The session error, if the runtime failed.
    pub fn session(&self) -> Option<&Error> {
        match self {
            RunError::Session(e) => Some(e),
            RunError::Role(_) => None,
        }
    }

    /// The role code's error, if it failed.
    pub fn role(&self) -> Option<&E> {
        match self {
            RunError::Role(e) => Some(e),
            RunError::Session(_) => None,
        }
    }
}

impl<E> From<Error> for RunError<E> {
    fn from(e: Error) -> Self {
        RunError::Session(e)
    }
}

impl<E: fmt::Display> fmt::Display for RunError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Role(e) => write!(f, "role code failed: {e}"),
            RunError::Session(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for RunError<E> {}

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

/// Formats a received label, or says that the frame was unreadable.
struct Received<'a>(Option<&'a str>);

impl fmt::Display for Received<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(label) => write!(f, "`{label}`"),
            None => f.write_str("an unreadable frame"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_protocol_role_peer_and_what_happened() {
        let kind = ErrorKind::WrongLabel {
            expected: vec!["Abort", "Commit"],
            received: "Propose".into(),
        };
        let role = Some(Peer::member("Guardian", 1));
        let err = Error::new(
            "GuardianCeremony",
            role,
            Some(Peer::role("Initiator")),
            kind,
        );
        assert_eq!(
            err.to_string(),
            "protocol `GuardianCeremony`, role Guardian[1], peer Initiator: \
             expected `Abort` or `Commit`, received `Propose`"
        );
        let cancelled = ErrorKind::Cancelled {
            by: Peer::role("Initiator"),
            reason: "policy".into(),
        };
        let err = Error::new("P", None, None, cancelled);
        assert!(err.is_cancelled());
        assert_eq!(
            err.to_string(),
            "protocol `P`: session cancelled by Initiator: policy"
        );
    }
}
