//! One peer's side of one session: what generated runners call.
//!
//! A [`Session`] is made by [`Node::session`] (or accepted by a
//! [`Listener`](crate::Listener)), run by a generated `execute_as`, and ended
//! by [`Session::complete`]. Everything it sends goes through the guard
//! chain; everything it receives comes from its own inboxes, which the router
//! fills only with frames of this session from this session's peers.
//!
//! When a session fails here (the role's code fails, a guard refuses, a
//! receive times out, a payload does not decode) every other peer is sent a
//! cancel frame with the reason, and ends at once with
//! [`ErrorKind::Cancelled`]. Dropping a session that has not ended cancels it
//! the same way.

mod offer;
mod recv;
mod send;

pub use offer::Offer;
pub use recv::Members;

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use tokio::time::{Instant, Sleep};

use crate::error::{Error, ErrorKind, RunError};
use crate::evidence::{self, EntryPoint};
use crate::guard::context::RoleContext;
use crate::layout::Layout;
use crate::metrics::SessionMetrics;
use crate::node::Node;
use crate::protocol::Protocol;
use crate::roster::Peer;
use crate::router::{Failure, Inboxes, Slot};
use crate::transport::{Route, SessionId, Transport};
use crate::wire::{self, Kind};

/// Bytes of frame buffer a session reserves at a time.
const SCRATCH: usize = 8 * 1024;

/// One peer's side of a running session, over transport `T`, with the guard
/// state it borrowed for as long as it runs.
pub struct Session<'a, T: Transport> {
    node: Node<T>,
    slot: Arc<Slot>,
    inbox: Inboxes,
    /// Per peer on another node: the transport's link to it.
    links: Vec<Option<T::Link>>,
    ctx: &'a mut RoleContext,
    /// Per capability of the protocol's table: held by the role.
    held: Vec<bool>,
    /// Per peer: flow budget left, whether it was charged, scratch for checks.
    budgets: Vec<u64>,
    charged: Vec<bool>,
    pending: Vec<u64>,
    /// Per peer: the highest sequence number of this node's facts shipped to it.
    shipped: Vec<u64>,
    timeout: Duration,
    /// The session's one receive timer, re-armed lazily (see `recv`).
    timer: Option<Pin<Box<Sleep>>>,
    scratch: BytesMut,
    metrics: SessionMetrics,
    started: Instant,
    entry: Option<EntryPoint>,
    /// `!Peer.Label` / `?Peer.Label` of every message, when evidence is on.
    trace: Option<Vec<String>>,
    open: bool,
}

impl<T: Transport> std::fmt::Debug for Session<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("protocol", &self.protocol().name)
            .field("session", &self.slot.session)
            .field("me", &self.me())
            .finish_non_exhaustive()
    }
}

impl<'a, T: Transport> Session<'a, T> {
    pub(crate) fn new(
        node: Node<T>,
        slot: Arc<Slot>,
        inbox: Inboxes,
        ctx: &'a mut RoleContext,
    ) -> Self {
        let layout = &slot.layout;
        let held = layout
            .protocol
            .capabilities
            .iter()
            .map(|c| ctx.has_capability(c))
            .collect();
        let budgets = layout
            .entries
            .iter()
            .map(|e| ctx.remaining_budget(&e.peer))
            .collect();
        let n = layout.len();
        let metrics = SessionMetrics::new(slot.session, layout.protocol.name);
        let timeout = node.inner().timeout;
        let links = layout
            .entries
            .iter()
            .enumerate()
            .map(|(p, entry)| {
                let remote = p != slot.me && entry.node != *node.id();
                let route = Route {
                    session: slot.session,
                    to: p as u32,
                    from: slot.me as u32,
                };
                remote.then(|| node.inner().transport.link(&entry.node, route))
            })
            .collect();
        Session {
            node,
            inbox,
            links,
            ctx,
            held,
            budgets,
            charged: vec![false; n],
            pending: vec![0; n],
            shipped: vec![0; n],
            timeout,
            timer: None,
            scratch: BytesMut::with_capacity(SCRATCH),
            metrics,
            started: Instant::now(),
            entry: None,
            trace: evidence::enabled().then(Vec::new),
            open: true,
            slot,
        }
    }

    /// Sets the receive timeout of this session.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.slot.session
    }

    /// The protocol it runs.
    pub fn protocol(&self) -> &'static Protocol {
        self.slot.layout.protocol
    }

    /// The peer this side plays.
    pub fn me(&self) -> Peer {
        self.slot.layout.entries[self.slot.me].peer
    }

    /// The guard state this session uses.
    pub fn context(&self) -> &RoleContext {
        self.ctx
    }

    /// The node it runs on.
    pub fn node(&self) -> &Node<T> {
        &self.node
    }

    /// The metrics so far.
    pub fn metrics(&self) -> SessionMetrics {
        let mut metrics = self.metrics.clone();
        metrics.duration = self.started.elapsed();
        metrics
    }

    fn layout(&self) -> &Layout {
        &self.slot.layout
    }

    pub(crate) fn error(&self, peer: Option<usize>, kind: ErrorKind) -> Error {
        let peer = peer
            .and_then(|p| self.layout().entries.get(p))
            .map(|e| e.peer);
        Error::new(self.protocol().name, Some(self.me()), peer, kind)
    }

    /// The error for a failure the router recorded, if there is one.
    #[cold]
    fn failed(&self) -> Option<Error> {
        Some(match self.slot.control.failure()? {
            Failure::Cancelled { by, reason } => {
                let by_peer = self.layout().entries[*by].peer;
                let kind = ErrorKind::Cancelled {
                    by: by_peer,
                    reason: reason.clone(),
                };
                self.error(Some(*by), kind)
            }
            Failure::Poisoned { from, kind } => self.error(Some(*from), kind.clone()),
        })
    }

    /// Fails if the session has been cancelled or poisoned.
    #[inline]
    pub(crate) fn live(&self) -> Result<(), Error> {
        if self.slot.control.failure().is_none() {
            return Ok(());
        }
        match self.failed() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Awaits `fut`, the role's own code, unless the session fails first: an
    /// `Err` of the code becomes [`RunError::Role`].
    pub async fn call<V, E>(
        &self,
        fut: impl Future<Output = Result<V, E>>,
    ) -> Result<V, RunError<E>> {
        self.live()?;
        // `guarded`, written out: one future less around every call.
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(out.map_err(RunError::Role));
            }
            self.slot.control.waker.register(cx.waker());
            match self.failed() {
                Some(e) => Poll::Ready(Err(RunError::Session(e))),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Awaits `fut` unless the session fails first.
    pub(crate) async fn guarded<V>(&self, fut: impl Future<Output = V>) -> Result<V, Error> {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            self.slot.control.waker.register(cx.waker());
            match self.failed() {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Ends the session with the outcome of its run: on success its metrics;
    /// on failure every other peer is told why (unless a peer cancelled it,
    /// in which case they were told already).
    pub fn complete<E: std::fmt::Display>(
        mut self,
        outcome: Result<(), RunError<E>>,
    ) -> Result<SessionMetrics, RunError<E>> {
        match outcome {
            Ok(()) => {
                self.record("completed".into());
                Ok(self.finish())
            }
            Err(RunError::Role(e)) => {
                self.record(format!("failed: role code: {e}"));
                self.cancel(&e.to_string());
                Err(RunError::Role(e))
            }
            Err(RunError::Session(e)) => {
                self.record(format!("failed: {}", e.kind()));
                if !e.is_cancelled() {
                    self.cancel(&e.kind().to_string());
                }
                self.close();
                Err(RunError::Session(e))
            }
        }
    }

    /// Ends the session successfully and returns its metrics.
    pub fn finish(mut self) -> SessionMetrics {
        self.close();
        self.metrics()
    }

    /// Marks the start of a run from `entry` (the caller of a generated
    /// `execute_as`): restarts the metrics' clock; with evidence on, the
    /// session's end is recorded with it.
    pub fn enter(&mut self, entry: EntryPoint) {
        self.entry = Some(entry);
        self.restart_clock();
    }

    /// The entry point that ran this session, once entered.
    pub fn entry_point(&self) -> Option<&EntryPoint> {
        self.entry.as_ref()
    }

    /// Notes a message for the evidence trace (`!` sent, `?` received).
    pub(crate) fn traced(&mut self, mark: char, p: usize, label: u16) {
        if let Some(trace) = self.trace.as_mut() {
            let peer = self.slot.layout.entries[p].peer;
            let label = self.slot.layout.protocol.label(label);
            trace.push(format!("{mark}{peer}.{label}"));
        }
    }

    /// Records how the session ended, when evidence is on and it was entered.
    fn record(&mut self, outcome: String) {
        let (Some(trace), Some(entry)) = (self.trace.take(), self.entry.as_ref()) else {
            return;
        };
        let protocol = self.slot.layout.protocol;
        let site = entry.site;
        evidence::write(&evidence::Record {
            protocol: protocol.name,
            digest: protocol.digest.to_string(),
            peer: self.me().to_string(),
            outcome,
            entry: format!("{}:{}:{}", site.file(), site.line(), site.column()),
            test: entry.thread.as_deref(),
            trace: &trace,
        });
    }

    /// The error for running as a peer the protocol has no part for.
    pub fn not_a_party(&self) -> Error {
        self.error(Some(self.slot.me), ErrorKind::UnknownPeer)
    }

    /// Restarts the clock of the session's metrics.
    pub(crate) fn restart_clock(&mut self) {
        self.started = Instant::now();
    }

    /// Tells every other peer that this side stopped, for `reason`, and ends.
    pub fn cancel(&mut self, reason: &str) {
        if !self.open {
            return;
        }
        let mut cut = reason.len().min(wire::MAX_REASON);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let reason = &reason.as_bytes()[..cut];
        let layout = self.slot.layout.clone();
        let me = self.slot.me;
        for (p, entry) in layout.entries.iter().enumerate() {
            if p == me {
                continue;
            }
            let header = wire::Header {
                kind: Kind::Cancel,
                session: self.slot.session,
                digest: layout.protocol.digest,
                from: layout.entries[me].addr,
                to: entry.addr,
                label: 0,
                facts: false,
                body_len: reason.len() as u32,
            };
            self.scratch.reserve(wire::HEADER + reason.len());
            self.scratch.resize(wire::HEADER, 0);
            wire::write_header(&mut self.scratch, &header);
            self.scratch.extend_from_slice(reason);
            let frame = self.scratch.split().freeze();
            let inner = self.node.inner();
            match &self.links[p] {
                Some(link) => {
                    let _ = inner.transport.send_now(link, frame);
                }
                None => inner.router.deliver_now(self.node.id(), frame),
            }
        }
        self.close();
    }

    /// The route of a frame to peer `to`.
    pub(crate) fn route(&self, to: usize) -> Route {
        Route {
            session: self.slot.session,
            to: to as u32,
            from: self.slot.me as u32,
        }
    }

    /// Leaves the router and hands the budgets back to the role's context.
    fn close(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        self.node
            .inner()
            .router
            .end(self.slot.session, self.slot.me);
        let layout = self.slot.layout.clone();
        for (p, entry) in layout.entries.iter().enumerate() {
            if self.charged[p] {
                self.ctx.set_remaining(entry.peer, self.budgets[p]);
            }
        }
    }
}

impl<T: Transport> Drop for Session<'_, T> {
    fn drop(&mut self) {
        if self.open {
            self.record("failed: dropped before it ended".into());
            self.cancel("the session was dropped before it ended");
        }
    }
}
