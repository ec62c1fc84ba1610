//! The embedded default transport: nodes in one process.
//!
//! A frame goes straight into the inbox of the session it belongs to (a
//! bounded channel per session and sending peer), so a slow receiver slows
//! its sender; frames of sessions the receiving node does not run go through
//! its router like frames from a network. A node leaves the network when its
//! last handle is dropped or when [`MemoryNetwork::cut`] removes it: every
//! other node's sessions then learn that its peers have gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc::OwnedPermit;

use crate::error::{Error, ErrorKind};
use crate::node::{Node, NodeOptions};
use crate::router::Router;
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
            nodes.remove(node);
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

/// A place reserved in a session's inbox, or a frame to route on arrival.
#[derive(Debug)]
pub enum MemoryPermit {
    /// Straight into the receiving session's inbox.
    Inbox {
        /// The reserved place.
        permit: OwnedPermit<Bytes>,
        /// The receiving node's router, for frames it must refuse.
        router: Arc<Router>,
        /// This node.
        from: NodeId,
    },
    /// Through the receiving node's router (a session it does not run yet).
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
            MemoryPermit::Inbox {
                permit,
                router,
                from,
            } => {
                if frame.len() > router.max_frame() {
                    drop(permit);
                    router.deliver_now(&from, frame);
                } else {
                    permit.send(frame);
                }
            }
            MemoryPermit::Route { router, from } => router.deliver_now(&from, frame),
        }
    }
}

impl MemoryTransport {
    fn peer(&self, to: &NodeId) -> Result<Arc<Router>, TransportError> {
        self.network
            .router(to)
            .ok_or_else(|| TransportError::Unreachable {
                node: to.clone(),
                reason: "no such node on this network".into(),
            })
    }
}

impl Transport for MemoryTransport {
    type Permit = MemoryPermit;

    fn local(&self) -> &NodeId {
        &self.local
    }

    fn max_frame(&self) -> usize {
        self.max_frame
    }

    async fn reserve(&self, to: &NodeId, route: Route) -> Result<MemoryPermit, TransportError> {
        let router = self.peer(to)?;
        let from = self.local.clone();
        match router.inbox_for(&self.local, route) {
            Some(inbox) => match inbox.reserve_owned().await {
                Ok(permit) => Ok(MemoryPermit::Inbox {
                    permit,
                    router,
                    from,
                }),
                // The session ended there meanwhile: its router counts the frame.
                Err(_) => Ok(MemoryPermit::Route { router, from }),
            },
            None => Ok(MemoryPermit::Route { router, from }),
        }
    }

    fn send_now(&self, to: &NodeId, _route: Route, frame: Bytes) -> Result<(), TransportError> {
        self.peer(to)?.deliver_now(&self.local, frame);
        Ok(())
    }
}

impl Drop for MemoryTransport {
    fn drop(&mut self) {
        self.network.leave(&self.local, Some(&self.router));
    }
}
