//! Typed errors of the TLS transport: configuration, identity, handshake, link.

use std::path::PathBuf;

use crate::transport::contract::NodeId;

use super::config::ConfigError;
use super::handshake::Incompatibility;
use super::identity::Fingerprint;

/// Everything that can go wrong in the TLS transport, from a bad file to a
/// misbehaving peer. Cloneable so that it can be broadcast as a [`super::LinkEvent`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The node configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A certificate or key file named by the configuration is unusable.
    #[error("{}: {problem}", path.display())]
    Pem {
        /// The PEM file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The certificate or key is not acceptable to rustls.
    #[error("cannot use this node's certificate and key: {0}")]
    Credentials(String),
    /// The peer presented a certificate that the configuration does not bind to
    /// any node.
    #[error("unknown certificate {fingerprint}")]
    UnknownCertificate {
        /// The certificate's fingerprint.
        fingerprint: Fingerprint,
    },
    /// We dialed `expected` but the peer presented another certificate.
    #[error("dialed node {expected} but the peer presented {presented}{}", match .belongs_to { Some(n) => format!(", the certificate of node {n}"), None => String::new() })]
    WrongCertificate {
        /// The node we dialed.
        expected: NodeId,
        /// The certificate's fingerprint.
        presented: Fingerprint,
        /// The node the certificate belongs to, if it is known.
        belongs_to: Option<NodeId>,
    },
    /// The peer's certificate is that of `certificate_of`, but its handshake
    /// claims to be `claimed`.
    #[error("peer with the certificate of node {certificate_of} claims to be node {claimed:?}")]
    IdentityMismatch {
        /// Whose certificate the peer presented.
        certificate_of: NodeId,
        /// The name it claimed.
        claimed: String,
    },
    /// `node` dialed us, but by the dialing rule we dial it.
    #[error("node {node} dialed in, but this node dials it (the lower name dials)")]
    WrongDirection {
        /// The node that dialed.
        node: NodeId,
    },
    /// The TLS layer failed (bad record, alert, handshake failure).
    #[error("TLS: {0}")]
    Tls(String),
    /// An I/O error on the socket.
    #[error("{context}: {message}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The operating system's message.
        message: String,
    },
    /// The versions of the two sides are incompatible.
    #[error("incompatible protocol versions: this node {local}, peer {peer}: {reason}")]
    Incompatible {
        /// This node's version.
        local: String,
        /// The peer's version.
        peer: String,
        /// Why they are incompatible.
        reason: Incompatibility,
    },
    /// The peer refused our handshake.
    #[error("refused by the peer (its version {peer_version}): {reason}")]
    RefusedByPeer {
        /// The peer's version, as it sent it.
        peer_version: String,
        /// The peer's reason.
        reason: String,
    },
    /// The peer's handshake carries a nonce seen before.
    #[error("replayed handshake from {node}: nonce seen before")]
    Replay {
        /// The node whose certificate the peer presented.
        node: NodeId,
    },
    /// The peer's answer does not echo the nonce we sent on this connection.
    #[error("handshake answer from {node} does not echo this connection's nonce")]
    NonceMismatch {
        /// The node.
        node: NodeId,
    },
    /// A handshake message could not be decoded or is out of place.
    #[error("malformed handshake: {0}")]
    Malformed(String),
    /// The peer sent a frame larger than the configured maximum.
    #[error("peer sent a frame larger than the maximum of {max} bytes")]
    FrameTooLarge {
        /// The maximum, in bytes (this node's `max_frame`, or the handshake limit).
        max: usize,
    },
    /// A frame with a type byte this side does not know, or out of place.
    #[error("unexpected frame type {kind:#04x}")]
    UnexpectedFrame {
        /// The type byte.
        kind: u8,
    },
    /// Nothing arrived from the peer within the keep-alive timeout.
    #[error("keep-alive expired: nothing received for {after_ms} ms")]
    KeepAliveExpired {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// A step did not finish in time.
    #[error("{what} timed out after {after_ms} ms")]
    Timeout {
        /// The step.
        what: &'static str,
        /// The bound, in milliseconds.
        after_ms: u64,
    },
    /// The peer closed the connection.
    #[error("connection closed by the peer")]
    ClosedByPeer,
    /// A newer connection from the same node replaced this one.
    #[error("replaced by a newer connection from the same node")]
    Replaced,
    /// The transport was started outside a tokio runtime.
    #[error("the TLS transport must be started inside a tokio runtime")]
    NoRuntime,
}

impl TlsError {
    /// An I/O error while doing `context`, mapping the errors that rustls and
    /// the framing codec wrap in `io::Error` to their own variants.
    pub(crate) fn io(context: &'static str, err: &std::io::Error, max_frame: usize) -> Self {
        if let Some(inner) = err.get_ref() {
            if inner
                .downcast_ref::<tokio_util::codec::LengthDelimitedCodecError>()
                .is_some()
            {
                return TlsError::FrameTooLarge { max: max_frame };
            }
            if let Some(tls) = inner.downcast_ref::<tokio_rustls::rustls::Error>() {
                return super::identity::from_rustls(tls);
            }
        }
        match err.kind() {
            std::io::ErrorKind::UnexpectedEof => TlsError::ClosedByPeer,
            _ => TlsError::Io {
                context,
                message: err.to_string(),
            },
        }
    }

    /// Whether retrying the same connection soon can succeed (a refused or
    /// reset connection can; a wrong certificate or version cannot).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TlsError::Io { .. }
                | TlsError::Timeout { .. }
                | TlsError::ClosedByPeer
                | TlsError::KeepAliveExpired { .. }
                | TlsError::Tls(_)
                | TlsError::Replaced
        )
    }
}
