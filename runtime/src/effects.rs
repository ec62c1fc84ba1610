//! The seed's byte-level contract, [`ChoreographicEffects`], as a view of a
//! [`Session`]: payloads already encoded by the caller, every send still
//! through the guard chain of a guard of the protocol's table (there is no
//! unguarded way out).

use std::future::Future;

use bytes::{BufMut, Bytes};

use crate::error::Error;
use crate::metrics::SessionMetrics;
use crate::roster::Peer;
use crate::session::Session;
use crate::transport::{SessionId, Transport};

/// A message received by [`ChoreographicEffects::receive_from_role_bytes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Its label id.
    pub label: u16,
    /// Its payload, as the sender encoded it.
    pub payload: Bytes,
}

/// The effects of one role in a session, as the seed names them.
pub trait ChoreographicEffects: Send {
    /// Marks the start of the session (its metrics' clock) and returns its id.
    fn start_session(&mut self) -> SessionId;

    /// Sends `payload` (already encoded) to `to` through guard `guard`.
    fn send_to_role_bytes(
        &mut self,
        to: Peer,
        guard: u16,
        payload: &[u8],
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Receives the next message from `from`, whatever its label.
    fn receive_from_role_bytes(
        &mut self,
        from: Peer,
    ) -> impl Future<Output = Result<Received, Error>> + Send;

    /// Sends `payload` to every other peer, in order, through guard `guard`.
    fn broadcast_bytes(
        &mut self,
        guard: u16,
        payload: &[u8],
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Ends the session successfully and returns its metrics.
    fn end_session(self) -> SessionMetrics;
}

impl<T: Transport> ChoreographicEffects for Session<'_, T> {
    fn start_session(&mut self) -> SessionId {
        self.restart_clock();
        self.id()
    }

    async fn send_to_role_bytes(
        &mut self,
        to: Peer,
        guard: u16,
        payload: &[u8],
    ) -> Result<(), Error> {
        let p = self.index_of(to)?;
        let raw = |out: &mut bytes::BytesMut, _: usize| {
            out.put_slice(payload);
            Ok(())
        };
        self.dispatch_with(guard, false, &[p], raw).await
    }

    async fn receive_from_role_bytes(&mut self, from: Peer) -> Result<Received, Error> {
        let offer = self.recv_any(from).await?;
        Ok(Received {
            label: offer.label(),
            payload: offer.payload_bytes(),
        })
    }

    async fn broadcast_bytes(&mut self, guard: u16, payload: &[u8]) -> Result<(), Error> {
        let others = self.others();
        let raw = |out: &mut bytes::BytesMut, _: usize| {
            out.put_slice(payload);
            Ok(())
        };
        self.dispatch_with(guard, false, &others, raw).await
    }

    fn end_session(self) -> SessionMetrics {
        self.finish()
    }
}
