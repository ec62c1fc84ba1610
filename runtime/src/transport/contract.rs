//! The contract between a node's sessions and the transports under them.
//!
//! A transport moves opaque frames between *nodes* (processes or devices,
//! named by [`NodeId`]); it knows nothing of sessions, roles or protocols.
//! Outgoing, the node's sessions ask the transport for a [`Transport::reserve`]
//! permit (waiting while the link's buffer is full: backpressure), then hand
//! the finished frame to it; control frames (cancellation) go with
//! [`Transport::send_now`], which never waits. Incoming, the transport hands
//! every frame, tagged with the node it authenticated as the sender, to the
//! node's [`Inbound`] (its router), which validates and routes it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

/// The identity of a node: a name in the in-memory network, or the name the
/// node configuration gives to the certificate a TLS peer presented.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// The node called `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        NodeId(name.into())
    }

    /// The node's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({:?})", &*self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of one session: 16 bytes, unique per run. A node makes ids
/// from a random 64-bit prefix drawn once from the operating system and a
/// counter, so two nodes never pick the same id (up to a 2^-64 chance per pair
/// of nodes) and one node never repeats one.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct SessionId(pub [u8; 16]);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Where a frame goes inside the receiving node, for transports that can
/// deliver straight into a session (the in-memory one); others ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The session the frame belongs to.
    pub session: SessionId,
    /// The receiving peer's dense index in that session.
    pub to: u32,
    /// The sending peer's dense index in that session.
    pub from: u32,
}

/// Why a transport could not take or deliver a frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No link to `node` exists and none could be made (unknown address,
    /// refused, all retries failed).
    #[error("cannot reach node {node}: {reason}")]
    Unreachable {
        /// The node.
        node: NodeId,
        /// What failed.
        reason: String,
    },
    /// The link to `node` was lost (closed, reset, keep-alive expired).
    #[error("link to node {node} lost: {reason}")]
    LinkLost {
        /// The node.
        node: NodeId,
        /// What happened.
        reason: String,
    },
    /// The frame is larger than the transport's maximum frame size.
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The frame's size.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// The transport is shutting down.
    #[error("transport closed")]
    Closed,
}

/// Moves frames from this node to others.
///
/// Frames from one node to another arrive in the order they were sent.
/// Implementations never panic on what a peer does.
pub trait Transport: Send + Sync + 'static {
    /// A reserved place for one frame on the link to a node; sending through
    /// it cannot fail (the frame may still be lost with the link later).
    type Permit: SendPermit;

    /// This node.
    fn local(&self) -> &NodeId;

    /// The largest frame this transport carries, in bytes.
    fn max_frame(&self) -> usize;

    /// Reserves a place for one frame to `to`, waiting while the link's buffer
    /// is full. `route` says where the frame goes inside `to`.
    fn reserve(
        &self,
        to: &NodeId,
        route: Route,
    ) -> impl Future<Output = Result<Self::Permit, TransportError>> + Send;

    /// Queues a control frame (a cancellation) to `to` without waiting; it may
    /// overtake data frames queued earlier. Best effort: an error only says the
    /// frame was certainly not queued.
    fn send_now(&self, to: &NodeId, route: Route, frame: Bytes) -> Result<(), TransportError>;
}

/// A place reserved by [`Transport::reserve`].
pub trait SendPermit: Send {
    /// Hands `frame` to the transport.
    fn send(self, frame: Bytes);
}

/// Where a transport hands what arrives: the receiving node's router.
///
/// The transport has authenticated `from`; the router checks everything else
/// (session, protocol, the sending peer's binding to `from`, size, format) and
/// drops and counts what it refuses.
pub trait Inbound: Send + Sync + 'static {
    /// A frame arrived from node `from`. Waits while the receiving session's
    /// buffer is full, so a slow receiver slows its sender.
    fn deliver(&self, from: &NodeId, frame: Bytes) -> impl Future<Output = ()> + Send;

    /// The link to `node` went down for `reason`: sessions waiting on peers
    /// at that node end with a typed "peer gone" error.
    fn link_down(&self, node: &NodeId, reason: &str);
}

impl<T: Inbound> Inbound for Arc<T> {
    fn deliver(&self, from: &NodeId, frame: Bytes) -> impl Future<Output = ()> + Send {
        (**self).deliver(from, frame)
    }

    fn link_down(&self, node: &NodeId, reason: &str) {
        (**self).link_down(node, reason)
    }
}
