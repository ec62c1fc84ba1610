//! The error of a service run: what stopped a session before it ended well.
//!
//! A role's code returns an error when it cannot go on with a real value: what
//! it received does not check out, its policy refuses, or its state cannot run
//! the session. The runtime then cancels the session, and every peer ends
//! with [`ServiceError::Cancelled`] naming that role and carrying the error's
//! text as the reason.

use std::fmt;

use choreo_runtime::{ErrorKind, Peer, RunError};

/// Why a service function returned without an outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceError {
    /// The session failed in the runtime: a guard refused a send, a peer
    /// timed out or left, a message had the wrong label or did not decode.
    Runtime(choreo_runtime::Error),
    /// Another peer stopped the session, for `reason`.
    Cancelled {
        /// The peer that stopped it.
        by: Peer,
        /// Why, in its words.
        reason: String,
    },
    /// The service's state cannot run this session (for example a threshold
    /// above the family size); checked before anything is sent, and the
    /// peers are told.
    Invalid(String),
    /// This role refused to go on: what it received does not check out, or
    /// its policy does not allow the next step. The session was cancelled
    /// with this reason.
    Refused(String),
    /// The generated runner asked for a payload that needs a message this
    /// role has not received (a runner out of step with the protocol).
    Missing(&'static str),
    /// The node's journal could not record this role's facts.
    Journal(choreo_runtime::JournalError),
    /// A value a peer sent failed a check the protocol relies on (a
    /// signature, MAC, commitment, transcript, nonce, epoch or threshold):
    /// this role refused it, recorded nothing of the step, and cancelled
    /// the session with this error's text as the reason.
    Unverified {
        /// Which check failed.
        check: Check,
        /// What failed it, in words.
        what: String,
    },
}

/// The kind of check a peer's value failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A signature does not verify under the signer's key.
    Signature,
    /// A MAC does not verify.
    Mac,
    /// A value does not match its commitment, or a share its commitment.
    Commitment,
    /// A transcript or the digest of earlier messages does not match.
    Transcript,
    /// A nonce or challenge is not the one issued, or was seen before.
    Nonce,
    /// A value is for another epoch, or is stale.
    Epoch,
    /// Fewer valid contributions than the threshold.
    Threshold,
    /// A sealed value does not open for this role.
    Decryption,
    /// A value names another session, ceremony or instance.
    Binding,
    /// A ceremony was superseded, or its commit is not on record.
    Supersession,
    /// A zero-knowledge proof does not verify (a partial evaluation that
    /// is not of the sender's share).
    Proof,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::Signature => "signature",
            Check::Mac => "MAC",
            Check::Commitment => "commitment",
            Check::Transcript => "transcript",
            Check::Nonce => "nonce",
            Check::Epoch => "epoch",
            Check::Threshold => "threshold",
            Check::Decryption => "decryption",
            Check::Binding => "binding",
            Check::Supersession => "supersession",
            Check::Proof => "proof",
        })
    }
}

impl ServiceError {
    /// The refusal of a value that failed `check`.
    pub fn unverified(check: Check, what: impl Into<String>) -> Self {
        ServiceError::Unverified {
            check,
            what: what.into(),
        }
    }

    /// The check that failed, when this is a refusal of an unverified value.
    pub fn failed_check(&self) -> Option<Check> {
        match self {
            ServiceError::Unverified { check, .. } => Some(*check),
            _ => None,
        }
    }
}

impl ServiceError {
    /// The reason alone, as a journal records it: a peer's or this role's
    /// words for a cancellation or a refusal, the whole message otherwise.
    pub fn reason(&self) -> String {
        match self {
            ServiceError::Cancelled { reason, .. } => reason.clone(),
            ServiceError::Refused(why) => why.clone(),
            other => other.to_string(),
        }
    }

    /// The peer that cancelled the session, when a peer did.
    pub fn cancelled_by(&self) -> Option<Peer> {
        match self {
            ServiceError::Cancelled { by, .. } => Some(*by),
            _ => None,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Runtime(e) => write!(f, "{e}"),
            ServiceError::Cancelled { by, reason } => write!(f, "cancelled by {by}: {reason}"),
            ServiceError::Invalid(why) => write!(f, "invalid service state: {why}"),
            // The reason travels to every peer as is.
            ServiceError::Refused(why) => f.write_str(why),
            ServiceError::Missing(what) => write!(f, "no {what} received yet"),
            ServiceError::Journal(e) => write!(f, "journal: {e}"),
            ServiceError::Unverified { check, what } => write!(f, "{what} ({check} check failed)"),
        }
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServiceError::Runtime(e) => Some(e),
            ServiceError::Journal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<choreo_runtime::Error> for ServiceError {
    fn from(e: choreo_runtime::Error) -> Self {
        match e.kind() {
            ErrorKind::Cancelled { by, reason } => ServiceError::Cancelled {
                by: *by,
                reason: reason.clone(),
            },
            _ => ServiceError::Runtime(e),
        }
    }
}

impl From<RunError<ServiceError>> for ServiceError {
    /// The role's own error as it returned it, or the session's.
    fn from(e: RunError<ServiceError>) -> Self {
        match e {
            RunError::Role(e) => e,
            RunError::Session(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_travels_as_its_bare_reason() {
        let e = ServiceError::Refused("descriptor has expired".into());
        assert_eq!(e.to_string(), "descriptor has expired");
        assert_eq!(e.reason(), "descriptor has expired");
        let e = ServiceError::from(RunError::Role(e));
        assert_eq!(e, ServiceError::Refused("descriptor has expired".into()));
        let cancelled = ServiceError::Cancelled {
            by: Peer::role("Responder"),
            reason: "no common version".into(),
        };
        assert_eq!(
            cancelled.to_string(),
            "cancelled by Responder: no common version"
        );
        assert_eq!(cancelled.cancelled_by(), Some(Peer::role("Responder")));
        assert_eq!(cancelled.reason(), "no common version");
        assert_eq!(
            ServiceError::Missing("proposal").to_string(),
            "no proposal received yet"
        );
    }
}
