//! The embedded default transport: endpoints in one process, joined by tokio channels.
//!
//! Each ordered pair of peers gets its own unbounded channel, created when
//! either side first uses it, so receives from different peers never wait on
//! each other and sends never block (a well-formed protocol cannot deadlock on
//! buffer space). Dropping an endpoint closes all its channels: its peers then
//! get [`EffectError::PeerGone`], after any frames it sent before leaving.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Mutex as AsyncMutex;

use crate::error::EffectError;
use crate::roster::{Peer, Roster};
use crate::transport::Transport;

type Frame = Vec<u8>;
type SharedReceiver = Arc<AsyncMutex<UnboundedReceiver<Frame>>>;

/// An in-process network that hands out one [`MemoryEndpoint`] per peer.
#[derive(Clone, Debug, Default)]
pub struct InMemoryNetwork {
    registry: Arc<Mutex<Registry>>,
}

/// Which peers exist, and the channel ends not yet claimed by their endpoints.
#[derive(Debug, Default)]
struct Registry {
    live: BTreeSet<Peer>,
    gone: BTreeSet<Peer>,
    /// Keyed by (sender, receiver).
    pairs: BTreeMap<(Peer, Peer), Pair>,
}

#[derive(Debug)]
struct Pair {
    tx: Option<UnboundedSender<Frame>>,
    rx: Option<UnboundedReceiver<Frame>>,
}

impl Registry {
    fn pair(&mut self, from: &Peer, to: &Peer) -> &mut Pair {
        self.pairs
            .entry((from.clone(), to.clone()))
            .or_insert_with(|| {
                let (tx, rx) = unbounded_channel();
                Pair {
                    tx: Some(tx),
                    rx: Some(rx),
                }
            })
    }

    /// Fails unless `peer` has an endpoint now.
    fn require_live(&self, peer: &Peer) -> Result<(), EffectError> {
        if self.live.contains(peer) {
            Ok(())
        } else if self.gone.contains(peer) {
            Err(EffectError::PeerGone { peer: peer.clone() })
        } else {
            Err(EffectError::UnknownPeer { peer: peer.clone() })
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl InMemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        InMemoryNetwork::default()
    }

    /// The endpoint of `peer`; each peer can be handed out once.
    pub fn endpoint(&self, peer: Peer) -> Result<MemoryEndpoint, EffectError> {
        let mut registry = lock(&self.registry);
        if registry.live.contains(&peer) || registry.gone.contains(&peer) {
            return Err(EffectError::PeerTaken { peer });
        }
        registry.live.insert(peer.clone());
        Ok(MemoryEndpoint {
            me: peer,
            registry: self.registry.clone(),
            senders: Mutex::new(BTreeMap::new()),
            receivers: Mutex::new(BTreeMap::new()),
        })
    }

    /// One endpoint for every peer of `roster`, by peer.
    pub fn endpoints(
        &self,
        roster: &Roster,
    ) -> Result<BTreeMap<Peer, MemoryEndpoint>, EffectError> {
        roster
            .peers()
            .into_iter()
            .map(|peer| Ok((peer.clone(), self.endpoint(peer)?)))
            .collect()
    }
}

/// One peer's end of an [`InMemoryNetwork`].
#[derive(Debug)]
pub struct MemoryEndpoint {
    me: Peer,
    registry: Arc<Mutex<Registry>>,
    senders: Mutex<BTreeMap<Peer, UnboundedSender<Frame>>>,
    receivers: Mutex<BTreeMap<Peer, SharedReceiver>>,
}

impl MemoryEndpoint {
    fn sender(&self, to: &Peer) -> Result<UnboundedSender<Frame>, EffectError> {
        let mut senders = lock(&self.senders);
        if let Some(tx) = senders.get(to) {
            return Ok(tx.clone());
        }
        let mut registry = lock(&self.registry);
        registry.require_live(to)?;
        let pair = registry.pair(&self.me, to);
        let tx = pair
            .tx
            .take()
            .ok_or_else(|| EffectError::PeerGone { peer: to.clone() })?;
        if pair.rx.is_none() {
            registry.pairs.remove(&(self.me.clone(), to.clone()));
        }
        senders.insert(to.clone(), tx.clone());
        Ok(tx)
    }

    fn receiver(&self, from: &Peer) -> Result<SharedReceiver, EffectError> {
        let mut receivers = lock(&self.receivers);
        if let Some(rx) = receivers.get(from) {
            return Ok(rx.clone());
        }
        let mut registry = lock(&self.registry);
        let key = (from.clone(), self.me.clone());
        if !registry.pairs.contains_key(&key) {
            // A departed peer's unclaimed channel stays registered until
            // claimed, so a missing pair means it never sent anything.
            registry.require_live(from)?;
        }
        let pair = registry.pair(from, &self.me);
        let rx = pair
            .rx
            .take()
            .ok_or_else(|| EffectError::PeerGone { peer: from.clone() })?;
        if pair.tx.is_none() {
            registry.pairs.remove(&key);
        }
        let rx = Arc::new(AsyncMutex::new(rx));
        receivers.insert(from.clone(), rx.clone());
        Ok(rx)
    }
}

impl Transport for MemoryEndpoint {
    fn local(&self) -> &Peer {
        &self.me
    }

    async fn send(&self, to: &Peer, frame: Vec<u8>) -> Result<(), EffectError> {
        self.sender(to)?
            .send(frame)
            .map_err(|_| EffectError::PeerGone { peer: to.clone() })
    }

    async fn recv(&self, from: &Peer) -> Result<Vec<u8>, EffectError> {
        let rx = self.receiver(from)?;
        let mut rx = rx.lock().await;
        rx.recv()
            .await
            .ok_or_else(|| EffectError::PeerGone { peer: from.clone() })
    }
}

impl Drop for MemoryEndpoint {
    fn drop(&mut self) {
        let mut registry = lock(&self.registry);
        registry.live.remove(&self.me);
        registry.gone.insert(self.me.clone());
        for ((from, to), pair) in registry.pairs.iter_mut() {
            if *from == self.me {
                pair.tx = None;
            }
            if *to == self.me {
                pair.rx = None;
            }
        }
        registry
            .pairs
            .retain(|_, pair| pair.tx.is_some() || pair.rx.is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_arrive_in_order_and_per_sender() {
        let net = InMemoryNetwork::new();
        let (a, b, c) = (Peer::role("A"), Peer::role("B"), Peer::role("C"));
        let ea = net.endpoint(a.clone()).unwrap();
        let eb = net.endpoint(b.clone()).unwrap();
        let ec = net.endpoint(c.clone()).unwrap();
        ea.send(&c, vec![1]).await.unwrap();
        eb.send(&c, vec![2]).await.unwrap();
        ea.send(&c, vec![3]).await.unwrap();
        assert_eq!(ec.recv(&b).await.unwrap(), vec![2]);
        assert_eq!(ec.recv(&a).await.unwrap(), vec![1]);
        assert_eq!(ec.recv(&a).await.unwrap(), vec![3]);
    }

    #[tokio::test]
    async fn departed_peer_delivers_what_it_sent_then_is_gone() {
        let net = InMemoryNetwork::new();
        let (a, b) = (Peer::role("A"), Peer::role("B"));
        let ea = net.endpoint(a.clone()).unwrap();
        let eb = net.endpoint(b.clone()).unwrap();
        ea.send(&b, vec![7]).await.unwrap();
        drop(ea);
        assert_eq!(eb.recv(&a).await.unwrap(), vec![7]);
        assert_eq!(
            eb.recv(&a).await,
            Err(EffectError::PeerGone { peer: a.clone() })
        );
        assert_eq!(
            eb.send(&a, vec![1]).await,
            Err(EffectError::PeerGone { peer: a })
        );
    }

    #[tokio::test]
    async fn unknown_and_taken_peers_are_errors() {
        let net = InMemoryNetwork::new();
        let a = Peer::role("A");
        let ea = net.endpoint(a.clone()).unwrap();
        assert!(matches!(
            net.endpoint(a),
            Err(EffectError::PeerTaken { .. })
        ));
        let x = Peer::role("X");
        assert_eq!(
            ea.send(&x, vec![]).await,
            Err(EffectError::UnknownPeer { peer: x.clone() })
        );
        assert_eq!(ea.recv(&x).await, Err(EffectError::UnknownPeer { peer: x }));
    }
}
