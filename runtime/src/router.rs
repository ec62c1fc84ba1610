//! A node's router: the table of its sessions, and what happens to every
//! frame that arrives.
//!
//! A frame is delivered only into the session it names, only if it carries
//! that session's protocol digest, only from a peer of the session that runs
//! on the node the transport authenticated, and only to this node's own peer.
//! Everything else is dropped and counted ([`NodeStats`]), never delivered
//! elsewhere. A frame of an unknown session can open a new one when a
//! [`Listener`](crate::Listener) waits for sessions of its protocol.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::mpsc;

use crate::error::ErrorKind;
use crate::layout::Layout;
use crate::protocol::Digest;
use crate::transport::{Inbound, NodeId, Route, SessionId};
use crate::wire::{self, Kind};

/// How many ended sessions a router remembers, to count their late frames apart.
const ENDED_MEMORY: usize = 4096;

/// Why a session stopped, as its peers learn it.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// Peer `by` (dense index) cancelled the session.
    Cancelled { by: usize, reason: String },
    /// Something arrived that ends the session here (an oversized frame).
    Poisoned { from: usize, kind: ErrorKind },
}

/// What a running session and the router share: failures and a waker.
#[derive(Debug)]
pub(crate) struct Control {
    failure: OnceLock<Failure>,
    gone: Vec<AtomicBool>,
    gone_reason: Mutex<Option<String>>,
    pub waker: AtomicWaker,
}

impl Control {
    fn new(peers: usize) -> Self {
        Control {
            failure: OnceLock::new(),
            gone: (0..peers).map(|_| AtomicBool::new(false)).collect(),
            gone_reason: Mutex::new(None),
            waker: AtomicWaker::new(),
        }
    }

    /// The failure that ended the session, if one did.
    #[inline]
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.get()
    }

    /// Records `failure` (the first one wins) and wakes the session.
    pub fn fail(&self, failure: Failure) {
        let _ = self.failure.set(failure);
        self.waker.wake();
    }

    /// Whether peer `p`'s node has gone, and why.
    #[inline]
    pub fn gone(&self, p: usize) -> Option<String> {
        if !self.gone.get(p)?.load(Ordering::Acquire) {
            return None;
        }
        let reason = lock(&self.gone_reason).clone();
        Some(reason.unwrap_or_else(|| "link lost".into()))
    }

    fn mark_gone(&self, p: usize, reason: &str) {
        lock(&self.gone_reason).get_or_insert_with(|| reason.to_owned());
        if let Some(flag) = self.gone.get(p) {
            flag.store(true, Ordering::Release);
        }
        self.waker.wake();
    }
}

/// One registered session: where its frames go.
#[derive(Debug)]
pub(crate) struct Slot {
    pub session: SessionId,
    pub layout: Arc<Layout>,
    pub me: usize,
    /// Per sending peer: the sender end of its inbox (none for this node's own peer).
    inbox: Vec<Option<mpsc::Sender<Bytes>>>,
    pub control: Control,
}

/// The receiving ends of a slot's inboxes, handed to the session.
pub(crate) type Inboxes = Vec<Option<mpsc::Receiver<Bytes>>>;

/// A session opened by a frame that a listener accepted.
pub(crate) struct Accepted {
    pub slot: Arc<Slot>,
    pub inbox: Inboxes,
}

struct Listening {
    layout: Arc<Layout>,
    me: usize,
    capacity: usize,
    queue: mpsc::Sender<Accepted>,
}

#[derive(Default)]
struct Table {
    /// Per session, the slot of each of this node's peers in it (usually one).
    sessions: HashMap<SessionId, Vec<Arc<Slot>>>,
    ended: VecDeque<SessionId>,
    ended_set: HashSet<SessionId>,
    listeners: Vec<Listening>,
}

/// Whether `frame` carries protocol digest `digest` (where a frame's header puts it).
#[inline]
pub(crate) fn carries(frame: &[u8], digest: &Digest) -> bool {
    wire::digest(frame) == Some(&digest.0[..])
}

/// Frames a node dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Frames of a session this node does not know (and no listener took).
    pub unknown_session: u64,
    /// Frames of a session that has ended here.
    pub ended_session: u64,
    /// Frames that are not frames of this format.
    pub malformed: u64,
    /// Frames claiming a sender that does not run on the node that sent them,
    /// or addressed to a peer that is not this node's.
    pub forged: u64,
    /// Frames of a known session carrying another protocol's digest.
    pub protocol_mismatch: u64,
    /// Frames over the maximum frame size.
    pub oversized: u64,
    /// New sessions refused because their listener's queue was full.
    pub listener_full: u64,
}

#[derive(Default)]
struct Counters {
    unknown_session: AtomicU64,
    ended_session: AtomicU64,
    malformed: AtomicU64,
    forged: AtomicU64,
    protocol_mismatch: AtomicU64,
    oversized: AtomicU64,
    listener_full: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A node's session table and the [`Inbound`] its transports deliver to.
pub struct Router {
    node: NodeId,
    max_frame: usize,
    attached: AtomicBool,
    table: Mutex<Table>,
    counters: Counters,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("node", &self.node)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What to do with a routed message frame.
enum Routed {
    Inbox(mpsc::Sender<Bytes>),
    Done,
}

impl Router {
    /// The router of node `node`, refusing frames over `max_frame` bytes.
    pub fn new(node: NodeId, max_frame: usize) -> Arc<Router> {
        Arc::new(Router {
            node,
            max_frame,
            attached: AtomicBool::new(true),
            table: Mutex::new(Table::default()),
            counters: Counters::default(),
        })
    }

    /// The node this router belongs to.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Whether the node is still on its network (an in-memory node that left is not).
    #[inline]
    pub fn attached(&self) -> bool {
        self.attached.load(Ordering::Acquire)
    }

    /// Marks the node as gone from its network.
    pub(crate) fn detach(&self) {
        self.attached.store(false, Ordering::Release);
    }

    /// The largest frame accepted.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// What has been dropped so far.
    pub fn stats(&self) -> NodeStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NodeStats {
            unknown_session: get(&c.unknown_session),
            ended_session: get(&c.ended_session),
            malformed: get(&c.malformed),
            forged: get(&c.forged),
            protocol_mismatch: get(&c.protocol_mismatch),
            oversized: get(&c.oversized),
            listener_full: get(&c.listener_full),
        }
    }

    /// The number of sessions running here now (a session in which this node
    /// plays several peers counts once per peer).
    pub fn sessions(&self) -> usize {
        lock(&self.table).sessions.values().map(Vec::len).sum()
    }

    /// Registers session `session` in which this node plays peer `me`.
    pub(crate) fn register(
        &self,
        session: SessionId,
        layout: Arc<Layout>,
        me: usize,
        capacity: usize,
    ) -> Result<(Arc<Slot>, Inboxes), String> {
        let mut table = lock(&self.table);
        if table.ended_set.contains(&session) {
            return Err("has already ended on this node".into());
        }
        let local = table.sessions.entry(session).or_default();
        if let Some(other) = local.first() {
            if !other.layout.same_parties(&layout) {
                return Err("is already running on this node with other parties".into());
            }
            if local.iter().any(|s| s.me == me) {
                return Err(format!(
                    "is already running on this node as {}",
                    layout.entries[me].peer
                ));
            }
        }
        let (slot, inbox) = new_slot(session, layout, me, capacity);
        local.push(slot.clone());
        Ok((slot, inbox))
    }

    /// Removes this node's peer `me` from a session that has ended for it;
    /// late frames to it are dropped.
    pub(crate) fn end(&self, session: SessionId, me: usize) {
        let mut table = lock(&self.table);
        let Some(local) = table.sessions.get_mut(&session) else {
            return;
        };
        local.retain(|s| s.me != me);
        if !local.is_empty() {
            return;
        }
        table.sessions.remove(&session);
        if table.ended.len() == ENDED_MEMORY {
            if let Some(old) = table.ended.pop_front() {
                table.ended_set.remove(&old);
            }
        }
        table.ended.push_back(session);
        table.ended_set.insert(session);
    }

    /// Lets frames of unknown sessions of `protocol`, addressed to peer `me`
    /// of `layout`, open new sessions, queued (at most `capacity`) on the returned receiver.
    pub(crate) fn listen(
        &self,
        layout: Arc<Layout>,
        me: usize,
        capacity: usize,
        backlog: usize,
    ) -> Result<mpsc::Receiver<Accepted>, String> {
        let mut table = lock(&self.table);
        table.listeners.retain(|l| !l.queue.is_closed());
        let taken = table.listeners.iter().any(|l| {
            l.layout.protocol.digest == layout.protocol.digest
                && l.layout.entries[l.me].peer == layout.entries[me].peer
        });
        if taken {
            return Err(format!(
                "{} is already listening for {} as {}",
                self.node, layout.protocol.name, layout.entries[me].peer
            ));
        }
        let (queue, accepted) = mpsc::channel(backlog.max(1));
        table.listeners.push(Listening {
            layout,
            me,
            capacity,
            queue,
        });
        Ok(accepted)
    }

    /// For a transport that delivers straight into sessions: the inbox a
    /// frame on `route` from node `from` goes to, if the session runs here and
    /// `from` runs the sending peer, with the session's protocol digest (a
    /// frame of another digest must go through [`Router::deliver_now`], as
    /// must any frame when this is `None`).
    pub(crate) fn inbox_for(
        &self,
        from: &NodeId,
        route: Route,
    ) -> Option<(mpsc::Sender<Bytes>, Digest)> {
        let table = lock(&self.table);
        let local = table.sessions.get(&route.session)?;
        let slot = local.iter().find(|s| s.me == route.to as usize)?;
        let sender = route.from as usize;
        let entry = slot.layout.entries.get(sender)?;
        if entry.node != *from {
            return None;
        }
        let inbox = slot.inbox.get(sender)?.clone()?;
        Some((inbox, slot.layout.protocol.digest))
    }

    /// Delivers `frame` from node `from` without waiting: a message for a
    /// full inbox is dropped (counted as `ended_session` when the session is
    /// gone, else as `listener_full`).
    pub(crate) fn deliver_now(&self, from: &NodeId, frame: Bytes) {
        if let Routed::Inbox(tx) = self.route(from, &frame) {
            if tx.try_send(frame).is_err() {
                bump(&self.counters.ended_session);
            }
        }
    }

    fn route(&self, from: &NodeId, frame: &Bytes) -> Routed {
        let h = match wire::header(frame) {
            Ok(h) => h,
            Err(_) => {
                bump(&self.counters.malformed);
                return Routed::Done;
            }
        };
        let mut table = lock(&self.table);
        let Some(local) = table.sessions.get(&h.session) else {
            if table.ended_set.contains(&h.session) {
                bump(&self.counters.ended_session);
            } else if h.kind == Kind::Message {
                return self.open(&mut table, from, &h, frame);
            } else {
                bump(&self.counters.unknown_session);
            }
            return Routed::Done;
        };
        let layout = match local.first() {
            Some(slot) => slot.layout.clone(),
            None => return Routed::Done,
        };
        if layout.protocol.digest != h.digest {
            bump(&self.counters.protocol_mismatch);
            return Routed::Done;
        }
        let to = layout.index(h.to);
        let Some(slot) = local.iter().find(|s| Some(s.me) == to).cloned() else {
            // A peer of this node whose part ended, or one that is not this node's.
            match to {
                Some(p) if layout.entries[p].node == self.node => {
                    bump(&self.counters.ended_session)
                }
                _ => bump(&self.counters.forged),
            }
            return Routed::Done;
        };
        drop(table);
        let sender = match layout.index(h.from) {
            Some(p) if layout.entries[p].node == *from && p != slot.me => p,
            _ => {
                bump(&self.counters.forged);
                return Routed::Done;
            }
        };
        if frame.len() > self.max_frame {
            bump(&self.counters.oversized);
            let kind = ErrorKind::FrameTooLarge {
                size: frame.len(),
                max: self.max_frame,
            };
            slot.control.fail(Failure::Poisoned { from: sender, kind });
            return Routed::Done;
        }
        match h.kind {
            Kind::Cancel => {
                let reason = String::from_utf8_lossy(wire::body(frame, &h)).into_owned();
                slot.control.fail(Failure::Cancelled { by: sender, reason });
                Routed::Done
            }
            Kind::Message => match &slot.inbox[sender] {
                Some(tx) => Routed::Inbox(tx.clone()),
                None => Routed::Done,
            },
        }
    }

    /// A message of an unknown session: opens it if a listener takes it.
    fn open(&self, table: &mut Table, from: &NodeId, h: &wire::Header, frame: &Bytes) -> Routed {
        if frame.len() > self.max_frame {
            bump(&self.counters.oversized);
            return Routed::Done;
        }
        let listener = table
            .listeners
            .iter()
            .find(|l| l.layout.protocol.digest == h.digest && l.layout.index(h.to) == Some(l.me));
        let Some(listener) = listener else {
            bump(&self.counters.unknown_session);
            return Routed::Done;
        };
        let sender = match listener.layout.index(h.from) {
            Some(p) if listener.layout.entries[p].node == *from && p != listener.me => p,
            _ => {
                bump(&self.counters.forged);
                return Routed::Done;
            }
        };
        let (slot, inbox) = new_slot(
            h.session,
            listener.layout.clone(),
            listener.me,
            listener.capacity,
        );
        let delivered = slot.inbox[sender]
            .as_ref()
            .is_some_and(|tx| tx.try_send(frame.clone()).is_ok());
        let accepted = Accepted {
            slot: slot.clone(),
            inbox,
        };
        if !delivered || listener.queue.try_send(accepted).is_err() {
            bump(&self.counters.listener_full);
            return Routed::Done;
        }
        table.sessions.insert(h.session, vec![slot]);
        Routed::Done
    }

    /// Tells every session with a peer on `node` that it has gone.
    fn mark_gone(&self, node: &NodeId, reason: &str) {
        let slots: Vec<Arc<Slot>> = lock(&self.table)
            .sessions
            .values()
            .flatten()
            .cloned()
            .collect();
        for slot in slots {
            for (p, entry) in slot.layout.entries.iter().enumerate() {
                if entry.node == *node && p != slot.me {
                    slot.control.mark_gone(p, reason);
                }
            }
        }
    }
}

fn new_slot(
    session: SessionId,
    layout: Arc<Layout>,
    me: usize,
    capacity: usize,
) -> (Arc<Slot>, Inboxes) {
    let mut senders = Vec::with_capacity(layout.len());
    let mut receivers = Vec::with_capacity(layout.len());
    for p in 0..layout.len() {
        if p == me {
            senders.push(None);
            receivers.push(None);
        } else {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            senders.push(Some(tx));
            receivers.push(Some(rx));
        }
    }
    let control = Control::new(layout.len());
    let slot = Slot {
        session,
        layout,
        me,
        inbox: senders,
        control,
    };
    (Arc::new(slot), receivers)
}

impl Inbound for Router {
    async fn deliver(&self, from: &NodeId, frame: Bytes) {
        if let Routed::Inbox(tx) = self.route(from, &frame) {
            if tx.send(frame).await.is_err() {
                bump(&self.counters.ended_session);
            }
        }
    }

    fn link_down(&self, node: &NodeId, reason: &str) {
        self.mark_gone(node, reason);
    }
}
