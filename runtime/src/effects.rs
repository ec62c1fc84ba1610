//! The byte-level contract ([`ChoreographicEffects`]) and its implementation
//! over any [`Transport`] ([`Effects`]): sessions, receive timeouts and metrics.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::EffectError;
use crate::metrics::{SessionId, SessionMetrics};
use crate::roster::{Peer, Roster};
use crate::transport::Transport;

/// Receive timeout of a session unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The byte-level effects of one role in a session, as the typed adapter uses them.
pub trait ChoreographicEffects: Send + Sync {
    /// Sends `bytes` to `to`.
    fn send_to_role_bytes(
        &self,
        to: &Peer,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), EffectError>> + Send;

    /// Receives the next bytes `from` sent, waiting at most the session's timeout.
    fn receive_from_role_bytes(
        &self,
        from: &Peer,
    ) -> impl Future<Output = Result<Vec<u8>, EffectError>> + Send;

    /// Sends `bytes` to every other peer of the roster, in roster order; all are
    /// attempted and the first failure is returned.
    fn broadcast_bytes(
        &self,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), EffectError>> + Send;

    /// Starts a session of `protocol` with fresh metrics.
    fn start_session(&mut self, protocol: &'static str) -> Result<SessionId, EffectError>;

    /// Ends the current session and returns its final metrics.
    fn end_session(&mut self) -> Result<SessionMetrics, EffectError>;

    /// The current session's metrics so far, if a session is active.
    fn metrics(&self) -> Option<SessionMetrics>;

    /// The peer these effects act as.
    fn role(&self) -> &Peer;

    /// The parties of the session.
    fn roster(&self) -> &Roster;
}

/// [`ChoreographicEffects`] over a [`Transport`]: one role's endpoint, roster and current session.
///
/// Sends and receives take `&self`, so a role may run several at once (fan-out
/// and fan-in); sessions run one after another.
#[derive(Debug)]
pub struct Effects<T> {
    transport: T,
    roster: Roster,
    timeout: Duration,
    sessions: u64,
    active: Mutex<Option<Active>>,
}

#[derive(Debug)]
struct Active {
    metrics: SessionMetrics,
    started: Instant,
}

impl<T: Transport> Effects<T> {
    /// Effects for the role `transport.local()` with the parties in `roster`.
    pub fn new(transport: T, roster: Roster) -> Self {
        Effects {
            transport,
            roster,
            timeout: DEFAULT_TIMEOUT,
            sessions: 0,
            active: Mutex::new(None),
        }
    }

    /// Sets the receive timeout ([`DEFAULT_TIMEOUT`] unless set).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The receive timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The transport endpoint.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    fn active(&self) -> MutexGuard<'_, Option<Active>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fails unless a session is active and `peer` belongs to it.
    fn check(&self, peer: &Peer) -> Result<(), EffectError> {
        if self.active().is_none() {
            Err(EffectError::NoSession)
        } else if self.roster.contains(peer) {
            Ok(())
        } else {
            Err(EffectError::UnknownPeer { peer: peer.clone() })
        }
    }

    fn record(&self, update: impl FnOnce(&mut SessionMetrics)) {
        if let Some(active) = self.active().as_mut() {
            update(&mut active.metrics);
        }
    }
}

impl<T: Transport> ChoreographicEffects for Effects<T> {
    async fn send_to_role_bytes(&self, to: &Peer, bytes: Vec<u8>) -> Result<(), EffectError> {
        self.check(to)?;
        let len = bytes.len() as u64;
        self.transport.send(to, bytes).await?;
        self.record(|m| {
            m.messages_sent += 1;
            m.bytes_sent += len;
        });
        Ok(())
    }

    async fn receive_from_role_bytes(&self, from: &Peer) -> Result<Vec<u8>, EffectError> {
        self.check(from)?;
        let start = Instant::now();
        let deadline = start + self.timeout;
        match tokio::time::timeout_at(deadline, self.transport.recv(from)).await {
            Ok(Ok(frame)) => {
                let (len, waited) = (frame.len() as u64, start.elapsed());
                self.record(|m| {
                    m.messages_received += 1;
                    m.bytes_received += len;
                    m.receive_wait.record(waited);
                });
                Ok(frame)
            }
            Ok(Err(err)) => Err(err),
            Err(_) => {
                self.record(|m| m.timeouts += 1);
                Err(EffectError::Timeout {
                    peer: from.clone(),
                    after: self.timeout,
                })
            }
        }
    }

    async fn broadcast_bytes(&self, bytes: Vec<u8>) -> Result<(), EffectError> {
        let mut first_error = None;
        for peer in self.roster.peers() {
            if peer != *self.transport.local() {
                if let Err(err) = self.send_to_role_bytes(&peer, bytes.clone()).await {
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn start_session(&mut self, protocol: &'static str) -> Result<SessionId, EffectError> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = active.as_ref() {
            return Err(EffectError::SessionActive(current.metrics.session));
        }
        self.sessions += 1;
        let id = SessionId(self.sessions);
        *active = Some(Active {
            metrics: SessionMetrics::new(id, protocol),
            started: Instant::now(),
        });
        Ok(id)
    }

    fn end_session(&mut self) -> Result<SessionMetrics, EffectError> {
        let active = self.active().take().ok_or(EffectError::NoSession)?;
        let mut metrics = active.metrics;
        metrics.duration = active.started.elapsed();
        Ok(metrics)
    }

    fn metrics(&self) -> Option<SessionMetrics> {
        self.active().as_ref().map(|active| {
            let mut metrics = active.metrics.clone();
            metrics.duration = active.started.elapsed();
            metrics
        })
    }

    fn role(&self) -> &Peer {
        self.transport.local()
    }

    fn roster(&self) -> &Roster {
        &self.roster
    }
}
