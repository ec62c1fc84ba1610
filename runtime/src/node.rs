//! A node: one process's (or device's) presence on a network. It runs any
//! number of sessions at once, of one or several protocols, with the same or
//! different peers; its router keeps their frames apart.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::{Error, ErrorKind};
use crate::guard::context::RoleContext;
use crate::guard::journal::Journal;
use crate::layout::Layout;
use crate::protocol::Protocol;
use crate::roster::{Peer, Roster};
use crate::router::{Accepted, NodeStats, Router};
use crate::session::Session;
use crate::transport::{NodeId, SessionId, Transport};

/// Receive timeout of a session unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames a session buffers per sending peer unless configured otherwise.
pub const DEFAULT_INBOX: usize = 64;
/// The largest frame, in bytes, unless configured otherwise.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// How a node runs its sessions.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// How long a receive waits before the session fails with a timeout.
    pub timeout: Duration,
    /// Frames buffered per session and sending peer before the sender waits.
    pub inbox_capacity: usize,
    /// The largest frame sent or accepted, in bytes.
    pub max_frame: usize,
    /// The node's journal (an in-memory one when `None`).
    pub journal: Option<Journal>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            timeout: DEFAULT_TIMEOUT,
            inbox_capacity: DEFAULT_INBOX,
            max_frame: DEFAULT_MAX_FRAME,
            journal: None,
        }
    }
}

/// A node over transport `T`; cheap to clone (a handle).
#[derive(Debug)]
pub struct Node<T: Transport> {
    inner: Arc<Inner<T>>,
}

impl<T: Transport> Clone for Node<T> {
    fn clone(&self) -> Self {
        Node {
            inner: self.inner.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Inner<T> {
    pub transport: T,
    pub router: Arc<Router>,
    pub journal: Journal,
    pub timeout: Duration,
    pub inbox_capacity: usize,
    prefix: u64,
    next: AtomicU64,
}

/// A random 64-bit value from the operating system (falling back on std's
/// randomly keyed hasher, itself seeded from the operating system).
fn random_prefix(node: &NodeId) -> u64 {
    getrandom::u64().unwrap_or_else(|_| RandomState::new().hash_one((node, std::process::id())))
}

impl<T: Transport> Node<T> {
    /// A node over `transport`, whose incoming frames go to `router`.
    pub fn new(transport: T, router: Arc<Router>, options: NodeOptions) -> Self {
        let id = transport.local().clone();
        let journal = options
            .journal
            .unwrap_or_else(|| Journal::in_memory(id.clone()));
        let prefix = random_prefix(&id);
        Node {
            inner: Arc::new(Inner {
                transport,
                router,
                journal,
                timeout: options.timeout,
                inbox_capacity: options.inbox_capacity,
                prefix,
                next: AtomicU64::new(1),
            }),
        }
    }

    /// This node's identity.
    pub fn id(&self) -> &NodeId {
        self.inner.transport.local()
    }

    /// The node's journal, shared by all its sessions.
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// The frames this node dropped so far, by reason.
    pub fn stats(&self) -> NodeStats {
        self.inner.router.stats()
    }

    /// The number of sessions running on this node now.
    pub fn running(&self) -> usize {
        self.inner.router.sessions()
    }

    /// A session id no other session of this run has: this node's random
    /// prefix and a counter.
    pub fn new_session_id(&self) -> SessionId {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0; 16];
        id[..8].copy_from_slice(&self.inner.prefix.to_be_bytes());
        id[8..].copy_from_slice(&n.to_be_bytes());
        SessionId(id)
    }

    pub(crate) fn inner(&self) -> &Inner<T> {
        &self.inner
    }

    fn setup_error(protocol: &Protocol, me: Peer, kind: ErrorKind) -> Error {
        Error::new(protocol.name, Some(me), None, kind)
    }

    /// Lays out `roster` for `protocol` and finds `me` in it, on this node.
    fn place(
        &self,
        protocol: &'static Protocol,
        roster: &Roster,
        me: Peer,
    ) -> Result<(Arc<Layout>, usize), Error> {
        let layout = Layout::new(protocol, roster)
            .map_err(|reason| Self::setup_error(protocol, me, ErrorKind::Roster(reason)))?;
        let index = layout.index_of(&me).ok_or_else(|| {
            let reason = format!("{me} is not a party of {}", protocol.name);
            Self::setup_error(protocol, me, ErrorKind::Roster(reason))
        })?;
        if layout.entries[index].node != *self.id() {
            let reason = format!(
                "the roster runs {me} on node {}, not on {}",
                layout.entries[index].node,
                self.id()
            );
            return Err(Self::setup_error(protocol, me, ErrorKind::Roster(reason)));
        }
        Ok((Arc::new(layout), index))
    }

    /// Joins session `id` of `protocol` as `me`, with the parties of `roster`
    /// and the guard state `ctx`. Every party joins the same id (the one that
    /// made it with [`Node::new_session_id`] tells the others); frames that
    /// arrive before a party joins are dropped, so join before any party sends.
    pub fn session<'a>(
        &self,
        protocol: &'static Protocol,
        id: SessionId,
        roster: &Roster,
        me: Peer,
        ctx: &'a mut RoleContext,
    ) -> Result<Session<'a, T>, Error> {
        let (layout, index) = self.place(protocol, roster, me)?;
        let (slot, inbox) = self
            .inner
            .router
            .register(id, layout, index, self.inner.inbox_capacity)
            .map_err(|reason| {
                let kind = ErrorKind::Setup {
                    session: id,
                    reason,
                };
                Self::setup_error(protocol, me, kind)
            })?;
        Ok(Session::new(self.clone(), slot, inbox, ctx))
    }

    /// Waits for sessions of `protocol` that peers open with this node as
    /// `me`: the first frame of an unknown session addressed to `me` opens
    /// it, and up to `backlog` such sessions wait for [`Listener::accept`].
    pub fn listen(
        &self,
        protocol: &'static Protocol,
        roster: &Roster,
        me: Peer,
        backlog: usize,
    ) -> Result<Listener<T>, Error> {
        let (layout, index) = self.place(protocol, roster, me)?;
        let queue = self
            .inner
            .router
            .listen(layout, index, self.inner.inbox_capacity, backlog)
            .map_err(|reason| Self::setup_error(protocol, me, ErrorKind::Roster(reason)))?;
        Ok(Listener {
            node: self.clone(),
            queue,
        })
    }
}

/// Sessions that peers opened with this node, waiting to be run.
#[derive(Debug)]
pub struct Listener<T: Transport> {
    node: Node<T>,
    queue: mpsc::Receiver<Accepted>,
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("session", &self.slot.session)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Listener<T> {
    /// The next session a peer opened, to be run with the guard state `ctx`;
    /// `None` once the node can open no more.
    pub async fn accept<'a>(&mut self, ctx: &'a mut RoleContext) -> Option<Session<'a, T>> {
        let accepted = self.queue.recv().await?;
        Some(Session::new(
            self.node.clone(),
            accepted.slot,
            accepted.inbox,
            ctx,
        ))
    }
}
