//! The embedded default transport: nodes in one process.
//!
//! A frame goes straight into the inbox of the session it belongs to (a
//! bounded channel per session and sending peer), so a slow receiver slows
//! its sender; frames of sessions the receiving node does not run go through
//! its router like frames from a network. A node leaves the network when its
//! last handle is dropped or when [`MemoryNetwork::cut`] removes it: every
//! other node's sessions then learn that its peers have gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::{Error, ErrorKind};
use crate::node::{Node, NodeOptions};
use crate::protocol::Digest;
use crate::router::{carries, Router};
use crate::transport::{Inbound, NodeId, Route, SendPermit, Transport, TransportError};

/// An in-process network of nodes.
#[derive(Clone, Debug, Default)]
pub struct MemoryNetwork {
    nodes: Arc<Mutex<HashMap<NodeId, Arc<Router>>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        MemoryNetwork::default()
    }

    /// A new node called `name`, with default options.
    pub fn node(&self, name: &str) -> Result<Node<MemoryTransport>, Error> {
        self.node_with(name, NodeOptions::default())
    }

    /// A new node called `name`; each name can be taken once at a time.
    pub fn node_with(
        &self,
        name: &str,
        options: NodeOptions,
    ) -> Result<Node<MemoryTransport>, Error> {
        let id = NodeId::new(name);
        let router = Router::new(id.clone(), options.max_frame);
        {
            let mut nodes = lock(&self.nodes);
            if nodes.contains_key(&id) {
                let reason = format!("a node called {id} is already on this network");
                return Err(Error::new("", None, None, ErrorKind::Roster(reason)));
            }
            nodes.insert(id.clone(), router.clone());
        }
        let transport = MemoryTransport {
            local: id,
            network: self.clone(),
            router: router.clone(),
            max_frame: options.max_frame,
        };
        Ok(Node::new(transport, router, options))
    }

    /// One node per name of `names`.
    pub fn nodes<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<Vec<Node<MemoryTransport>>, Error> {
        names.into_iter().map(|n| self.node(n)).collect()
    }

    /// Removes `node` as if it vanished: every other node's sessions with
    /// peers on it learn that they have gone, and frames to it fail.
    pub fn cut(&self, node: &NodeId) {
        self.leave(node, None);
    }

    /// Removes `node` (only if `router` is still its router, when given) and
    /// tells every other node.
    fn leave(&self, node: &NodeId, router: Option<&Arc<Router>>) {
        let others: Vec<Arc<Router>> = {
            let mut nodes = lock(&self.nodes);
            match (nodes.get(node), router) {
                (Some(current), Some(mine)) if !Arc::ptr_eq(current, mine) => return,
                (None, _) => return,
                _ => {}
            }
            if let Some(gone) = nodes.remove(node) {
                gone.detach();
            }
            nodes.values().cloned().collect()
        };
        for router in others {
            router.link_down(node, "the node left the network");
        }
    }

    fn router(&self, node: &NodeId) -> Option<Arc<Router>> {
        lock(&self.nodes).get(node).cloned()
    }
}

/// One node's end of a [`MemoryNetwork`].
#[derive(Debug)]
pub struct MemoryTransport {
    local: NodeId,
    network: MemoryNetwork,
    router: Arc<Router>,
    max_frame: usize,
}

/// Where a link's frames go: straight into the receiving session's inbox.
///
/// Each inbox has exactly one producer, the session of the sending peer (a
/// session sends its frames to a peer one at a time, and the router writes
/// into an inbox only the first frame of a session it opens for a listener,
/// before that session's sender has found the inbox). So room seen in it
/// stays there until that producer uses it: reserving a place is waiting for
/// room, and sending through the place cannot find it full.
#[derive(Debug)]
pub struct Target {
    inbox: mpsc::Sender<Bytes>,
    /// The protocol digest of the receiving session.
    digest: Digest,
    /// The receiving node's router, for frames it must refuse.
    router: Arc<Router>,
    /// This node.
    from: NodeId,
}

/// A place reserved for one frame on a [`MemoryLink`].
#[derive(Debug)]
pub enum MemoryPermit {
    /// Straight into the receiving session's inbox, which has room.
    Inbox(Arc<Target>),
    /// Through the receiving node's router (a session it does not run yet,
    /// or no longer).
    Route {
        /// The receiving node's router.
        router: Arc<Router>,
        /// This node.
        from: NodeId,
    },
}

impl SendPermit for MemoryPermit {
    fn send(self, frame: Bytes) {
        match self {
            MemoryPermit::Inbox(target) => {
                let t = &*target;
                if frame.len() > t.router.max_frame() || !carries(&frame, &t.digest) {
                    t.router.deliver_now(&t.from, frame);
                } else if let Err(refused) = t.inbox.try_send(frame) {
                    // Closed: the session ended there; its router counts the frame.
                    t.router.deliver_now(&t.from, refused.into_inner());
                }
            }
            MemoryPermit::Route { router, from } => router.deliver_now(&from, frame),
        }
    }
}

/// The way to one peer of one session: the receiving node's router, and the
/// session's inbox once it is found there.
#[derive(Debug)]
pub struct MemoryLink {
    to: NodeId,
    route: Route,
    router: Option<Arc<Router>>,
    target: OnceLock<Arc<Target>>,
}

impl MemoryTransport {
    fn unreachable(to: &NodeId) -> TransportError {
        TransportError::Unreachable {
            node: to.clone(),
            reason: "no such node on this network".into(),
        }
    }
}

impl Transport for MemoryTransport {
    type Link = MemoryLink;
    type Permit = MemoryPermit;

    fn local(&self) -> &NodeId {
        &self.local
    }

    fn max_frame(&self) -> usize {
        self.max_frame
    }

    fn link(&self, to: &NodeId, route: Route) -> MemoryLink {
        MemoryLink {
            to: to.clone(),
            route,
            router: self.network.router(to),
            target: OnceLock::new(),
        }
    }

    async fn reserve(&self, link: &MemoryLink) -> Result<MemoryPermit, TransportError> {
        let target = match link.target.get() {
            Some(target) if target.router.attached() => target,
            Some(_) => return Err(Self::unreachable(&link.to)),
            None => {
                let router = match &link.router {
                    Some(router) if router.attached() => router.clone(),
                    Some(_) => return Err(Self::unreachable(&link.to)),
                    None => self
                        .network
                        .router(&link.to)
                        .ok_or_else(|| Self::unreachable(&link.to))?,
                };
                let Some((inbox, digest)) = router.inbox_for(&self.local, link.route) else {
                    let from = self.local.clone();
                    return Ok(MemoryPermit::Route { router, from });
                };
                let from = self.local.clone();
                let target = Target {
                    inbox,
                    digest,
                    router,
                    from,
                };
                link.target.get_or_init(|| Arc::new(target))
            }
        };
        if target.inbox.capacity() == 0 {
            // Wait for room; as the only producer, the room is still there
            // when the frame is sent.
            if target.inbox.reserve().await.is_err() {
                let (router, from) = (target.router.clone(), self.local.clone());
                return Ok(MemoryPermit::Route { router, from });
            }
        }
        Ok(MemoryPermit::Inbox(target.clone()))
    }

    fn send_now(&self, link: &MemoryLink, frame: Bytes) -> Result<(), TransportError> {
        let router = self
            .network
            .router(&link.to)
            .ok_or_else(|| Self::unreachable(&link.to))?;
        router.deliver_now(&self.local, frame);
        Ok(())
    }
}

impl Drop for MemoryTransport {
    fn drop(&mut self) {
        self.network.leave(&self.local, Some(&self.router));
    }
}
