//! The delivery contract under the effects layer: frames of bytes between peers.

pub mod contract;
pub mod memory;
#[cfg(feature = "tls")]
pub mod tls;

use std::future::Future;

use crate::error::EffectError;
use crate::roster::Peer;

/// Delivers frames between the endpoints of a network, each endpoint being one peer.
///
/// Frames from one sender to one receiver arrive in the order they were sent.
/// Implementations must never panic on what a peer does; a departed peer is
/// [`EffectError::PeerGone`].
pub trait Transport: Send + Sync {
    /// The peer this endpoint is.
    fn local(&self) -> &Peer;

    /// Hands `frame` to the transport for delivery to `to`.
    fn send(
        &self,
        to: &Peer,
        frame: Vec<u8>,
    ) -> impl Future<Output = Result<(), EffectError>> + Send;

    /// Waits for the next frame that `from` sent to this endpoint (no timeout of its own).
    fn recv(&self, from: &Peer) -> impl Future<Output = Result<Vec<u8>, EffectError>> + Send;
}
