//! The error of a service run: the runtime's, or a state that cannot run.

use std::fmt;

/// Why a service function returned without an outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceError {
    /// The session failed in the runtime: a guard refused a send, a peer
    /// timed out or left, a message had the wrong label or did not decode.
    Runtime(choreo_runtime::Error),
    /// The service's state cannot run this session (for example a threshold
    /// above the family size); checked before anything is sent.
    Invalid(String),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Runtime(e) => write!(f, "{e}"),
            ServiceError::Invalid(why) => write!(f, "invalid service state: {why}"),
        }
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServiceError::Runtime(e) => Some(e),
            ServiceError::Invalid(_) => None,
        }
    }
}

impl From<choreo_runtime::Error> for ServiceError {
    fn from(e: choreo_runtime::Error) -> Self {
        ServiceError::Runtime(e)
    }
}
