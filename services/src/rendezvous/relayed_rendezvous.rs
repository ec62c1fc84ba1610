//! RelayedRendezvous: a relay-assisted connection between two peers.
//!
//! Implements the seed entry **RelayedRendezvous** (CHOREO-RDV-002, owner
//! `aura-rendezvous`, seed entry point `runtime/services/rendezvous_manager.rs`).
//! Decision sourcing as the seed says: every payload comes from the
//! rendezvous manager's state. The Relay grants a slot only for a context it
//! agreed to relay for and while it has capacity (reported in RelayComplete),
//! and only ever handles bodies sealed under the peers' pairwise key. The
//! Responder answers only peers it shares a key with (reported in its sealed
//! reply). Both peers derive the channel from the sealed exchange.

use choreo_relayed_rendezvous::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::ServiceError;

/// A relay slot identifier.
pub type SlotId = [u8; 16];

/// The Initiator's request to the Relay, with its sealed hello for the Responder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayRequest {
    /// The slot asked for.
    pub slot_id: SlotId,
    /// The relational context the Relay is asked to relay for.
    pub context_id: Digest,
    /// Routing: who asks, and whom to reach.
    pub route: Route,
    /// The hello, sealed for the Responder.
    pub sealed: Vec<u8>,
}

/// Who a relayed body is from and for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The Initiator's peer id.
    pub source: Digest,
    /// The Responder's peer id.
    pub destination: Digest,
}

/// A body the Relay forwards, with its routing metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayEnvelope {
    /// The slot.
    pub slot_id: SlotId,
    /// Routing.
    pub route: Route,
    /// Whether the Relay granted the slot (empty bodies when not).
    pub granted: bool,
    /// The sealed body.
    pub sealed: Vec<u8>,
}

/// A handshake message sealed end to end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedHandshake {
    /// The slot.
    pub slot_id: SlotId,
    /// The sealed confirmation (empty when there is nothing to confirm).
    pub sealed: Vec<u8>,
}

/// Binds the protocol's payload types to this module's.
pub struct RelayedTypes;

impl choreo_relayed_rendezvous::Types for RelayedTypes {
    type RelayRequest = RelayRequest;
    type RelayEnvelope = RelayEnvelope;
    type SealedHandshake = SealedHandshake;
}

/// A channel established through a relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayedChannel {
    /// The channel (digest of the session key).
    pub channel_id: Digest,
    /// The other peer.
    pub peer_id: Digest,
    /// The slot it went through.
    pub slot_id: SlotId,
}

/// A fact of relayed rendezvous.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayFact {
    /// A peer established a relayed channel.
    ChannelEstablished(RelayedChannel),
    /// A peer's attempt failed.
    Failed(String),
    /// The Relay granted a slot.
    SlotGranted(SlotId),
    /// The Relay refused a slot.
    SlotRefused(SlotId, String),
    /// The Relay released a slot.
    SlotReleased(SlotId),
}

/// How a relayed exchange ended for a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerOutcome {
    /// Connected.
    Connected(RelayedChannel),
    /// Why not.
    Failed(String),
}

/// A peer's rendezvous state (Initiator or Responder).
#[derive(Clone, Debug)]
pub struct PeerState {
    /// This peer's id.
    pub peer_id: Digest,
    /// Secret for its ephemeral values.
    pub secret: Digest,
    /// Pairwise keys with known peers: (peer id, key).
    pub pairwise: Vec<(Digest, Digest)>,
    /// Channels established so far.
    pub channels: Vec<RelayedChannel>,
    /// Facts of every exchange.
    pub journal: Journal<RelayFact>,
}

impl PeerState {
    fn key_for(&self, peer: &Digest) -> Option<Digest> {
        self.pairwise
            .iter()
            .find(|(p, _)| p == peer)
            .map(|(_, k)| *k)
    }

    fn ephemeral(&self, slot: &SlotId) -> Digest {
        crypto::digest("relayed/ephemeral", &[&self.secret, slot])
    }

    fn finish(&mut self, result: Result<RelayedChannel, String>) -> PeerOutcome {
        match result {
            Ok(channel) => {
                self.journal
                    .record(RelayFact::ChannelEstablished(channel.clone()));
                self.channels.push(channel.clone());
                PeerOutcome::Connected(channel)
            }
            Err(why) => {
                self.journal.record(RelayFact::Failed(why.clone()));
                PeerOutcome::Failed(why)
            }
        }
    }
}

/// The session key both peers derive from their ephemerals.
fn session_key(pairwise: &Digest, initiator: &[u8], responder: &[u8]) -> Digest {
    crypto::digest("relayed/session", &[pairwise, initiator, responder])
}

/// The confirmation each side seals under the session key.
fn confirmation(session: &Digest, side: &str) -> Vec<u8> {
    crypto::mac(session, &[side.as_bytes()]).to_vec()
}

/// One exchange as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut PeerState,
    slot_id: SlotId,
    context_id: Digest,
    route: Route,
    key: Digest,
    session: Option<Digest>,
    failure: Option<String>,
}

impl choreo_relayed_rendezvous::Initiator<RelayedTypes> for InitiatorSession<'_> {
    fn relay_request(&mut self, _to: &Peer) -> RelayRequest {
        let hello = self.state.ephemeral(&self.slot_id);
        RelayRequest {
            slot_id: self.slot_id,
            context_id: self.context_id,
            route: self.route,
            sealed: crypto::seal(&self.key, &[&self.slot_id[..], b"hello"].concat(), &hello),
        }
    }

    fn on_relay_complete(&mut self, _from: &Peer, msg: RelayEnvelope) {
        if !msg.granted {
            self.failure = Some("the relay refused the slot".into());
            return;
        }
        let reply = crypto::open(
            &self.key,
            &[&self.slot_id[..], b"reply"].concat(),
            &msg.sealed,
        );
        match reply.split_first() {
            Some((1, responder)) if responder.len() == 32 => {
                let mine = self.state.ephemeral(&self.slot_id);
                self.session = Some(session_key(&self.key, &mine, responder));
            }
            _ => self.failure = Some("the responder declined".into()),
        }
    }

    fn sealed_handshake(&mut self, _to: &Peer) -> SealedHandshake {
        let sealed = self
            .session
            .map(|s| confirmation(&s, "initiator"))
            .unwrap_or_default();
        SealedHandshake {
            slot_id: self.slot_id,
            sealed,
        }
    }

    fn on_sealed_handshake_reply(&mut self, _from: &Peer, msg: SealedHandshake) {
        if let Some(session) = self.session {
            if msg.sealed != confirmation(&session, "responder") {
                self.failure
                    .get_or_insert("the responder's confirmation does not verify".into());
            }
        }
    }

    fn relay_release(&mut self, _to: &Peer) -> msg::RelayRelease {
        msg::RelayRelease {
            slot_id: self.slot_id,
        }
    }
}

/// Runs the Initiator: asks the Relay for a slot to reach `target` in the
/// relational context `context_id`, and completes the sealed handshake.
pub async fn run_initiator<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut PeerState,
    context_id: Digest,
    target: Digest,
) -> Result<PeerOutcome, ServiceError> {
    let key = state
        .key_for(&target)
        .ok_or_else(|| ServiceError::Invalid("no pairwise key with the target peer".into()))?;
    let slot = crypto::digest(
        "relayed/slot",
        &[
            &state.peer_id,
            &target,
            &(state.journal.len() as u64).to_le_bytes(),
        ],
    );
    let mut slot_id = [0u8; 16];
    slot_id.copy_from_slice(&slot[..16]);
    let route = Route {
        source: state.peer_id,
        destination: target,
    };
    let mut session = InitiatorSession {
        state,
        slot_id,
        context_id,
        route,
        key,
        session: None,
        failure: None,
    };
    choreo_relayed_rendezvous::execute_as::<RelayedTypes, _>(
        choreo_relayed_rendezvous::As::Initiator(&mut session),
        adapter,
        &choreo_relayed_rendezvous::Params::default(),
    )
    .await?;
    let result = match (session.failure, session.session) {
        (None, Some(key)) => {
            let channel_id = crypto::digest("relayed/channel", &[&key]);
            Ok(RelayedChannel {
                channel_id,
                peer_id: target,
                slot_id,
            })
        }
        (failure, _) => Err(failure.unwrap_or_else(|| "no session key".into())),
    };
    Ok(session.state.finish(result))
}

/// When the Relay grants a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayPolicy {
    /// Relational contexts it agreed to relay for.
    pub contexts: Vec<Digest>,
    /// Slots it holds at once.
    pub max_slots: usize,
}

/// The Relay's state.
#[derive(Clone, Debug)]
pub struct RelayState {
    /// Its policy.
    pub policy: RelayPolicy,
    /// Slots currently granted.
    pub active_slots: Vec<SlotId>,
    /// Bytes of sealed bodies it forwarded so far.
    pub forwarded_bytes: u64,
    /// Facts of every slot.
    pub journal: Journal<RelayFact>,
}

/// How a relayed exchange ended for the Relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayOutcome {
    /// Whether it granted the slot, or why not.
    pub granted: Result<(), String>,
    /// Whether the slot was released at the end.
    pub released: bool,
}

/// One slot as the Relay plays it.
struct RelaySession<'s> {
    state: &'s mut RelayState,
    request: Option<RelayRequest>,
    granted: Result<(), String>,
    pending: Vec<u8>,
    released: bool,
}

impl RelaySession<'_> {
    /// An envelope carrying `body` when the slot is granted, nothing otherwise.
    fn envelope(&mut self, body: Vec<u8>) -> RelayEnvelope {
        let (slot_id, route) = match &self.request {
            Some(r) => (r.slot_id, r.route),
            None => (
                [0; 16],
                Route {
                    source: [0; 32],
                    destination: [0; 32],
                },
            ),
        };
        let granted = self.granted.is_ok();
        let sealed = if granted { body } else { Vec::new() };
        self.state.forwarded_bytes += sealed.len() as u64;
        RelayEnvelope {
            slot_id,
            route,
            granted,
            sealed,
        }
    }

    fn forward(&mut self) -> SealedHandshake {
        let body = std::mem::take(&mut self.pending);
        let envelope = self.envelope(body);
        SealedHandshake {
            slot_id: envelope.slot_id,
            sealed: envelope.sealed,
        }
    }
}

impl choreo_relayed_rendezvous::Relay<RelayedTypes> for RelaySession<'_> {
    fn on_relay_request(&mut self, _from: &Peer, msg: RelayRequest) {
        let policy = &self.state.policy;
        self.granted = if !policy.contexts.contains(&msg.context_id) {
            Err("context not relayed".into())
        } else if self.state.active_slots.len() >= policy.max_slots {
            Err("no free slot".into())
        } else {
            Ok(())
        };
        let fact = match &self.granted {
            Ok(()) => {
                self.state.active_slots.push(msg.slot_id);
                RelayFact::SlotGranted(msg.slot_id)
            }
            Err(why) => RelayFact::SlotRefused(msg.slot_id, why.clone()),
        };
        self.state.journal.record(fact);
        self.pending = msg.sealed.clone();
        self.request = Some(msg);
    }

    fn relay_forward(&mut self, _to: &Peer) -> RelayEnvelope {
        let body = std::mem::take(&mut self.pending);
        self.envelope(body)
    }

    fn on_relay_response(&mut self, _from: &Peer, msg: RelayEnvelope) {
        self.pending = msg.sealed;
    }

    fn relay_complete(&mut self, _to: &Peer) -> RelayEnvelope {
        let body = std::mem::take(&mut self.pending);
        self.envelope(body)
    }

    fn on_sealed_handshake(&mut self, _from: &Peer, msg: SealedHandshake) {
        self.pending = msg.sealed;
    }

    fn sealed_handshake(&mut self, _to: &Peer) -> SealedHandshake {
        self.forward()
    }

    fn on_sealed_handshake_reply(&mut self, _from: &Peer, msg: SealedHandshake) {
        self.pending = msg.sealed;
    }

    fn sealed_handshake_reply(&mut self, _to: &Peer) -> SealedHandshake {
        self.forward()
    }

    fn on_relay_release(&mut self, _from: &Peer, msg: msg::RelayRelease) {
        let before = self.state.active_slots.len();
        self.state.active_slots.retain(|s| *s != msg.slot_id);
        self.released = self.state.active_slots.len() < before;
        if self.released {
            self.state
                .journal
                .record(RelayFact::SlotReleased(msg.slot_id));
        }
    }

    fn relay_release(&mut self, _to: &Peer) -> msg::RelayRelease {
        let slot_id = self.request.as_ref().map(|r| r.slot_id).unwrap_or_default();
        msg::RelayRelease { slot_id }
    }
}

/// Runs the Relay: grants a slot from its policy, forwards sealed bodies it
/// cannot read, and releases the slot.
pub async fn run_relay<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut RelayState,
) -> Result<RelayOutcome, ServiceError> {
    let mut session = RelaySession {
        state,
        request: None,
        granted: Err("no request".into()),
        pending: Vec::new(),
        released: false,
    };
    choreo_relayed_rendezvous::execute_as::<RelayedTypes, _>(
        choreo_relayed_rendezvous::As::Relay(&mut session),
        adapter,
        &choreo_relayed_rendezvous::Params::default(),
    )
    .await?;
    Ok(RelayOutcome {
        granted: session.granted,
        released: session.released,
    })
}

/// One exchange as the Responder plays it.
struct ResponderSession<'s> {
    state: &'s mut PeerState,
    forward: Option<RelayEnvelope>,
    key: Option<Digest>,
    session: Option<Digest>,
    failure: Option<String>,
}

impl choreo_relayed_rendezvous::Responder<RelayedTypes> for ResponderSession<'_> {
    fn on_relay_forward(&mut self, _from: &Peer, msg: RelayEnvelope) {
        self.key = self.state.key_for(&msg.route.source);
        self.failure = if !msg.granted {
            Some("the relay refused the slot".into())
        } else if self.key.is_none() {
            Some("unknown initiator".into())
        } else {
            None
        };
        self.forward = Some(msg);
    }

    fn relay_response(&mut self, _to: &Peer) -> RelayEnvelope {
        let Some(forward) = self.forward.clone() else {
            let route = Route {
                source: [0; 32],
                destination: [0; 32],
            };
            return RelayEnvelope {
                slot_id: [0; 16],
                route,
                granted: false,
                sealed: Vec::new(),
            };
        };
        let slot = forward.slot_id;
        let (hello_nonce, reply_nonce) = (
            [&slot[..], b"hello"].concat(),
            [&slot[..], b"reply"].concat(),
        );
        let sealed = match (self.failure.is_none(), self.key) {
            (true, Some(key)) => {
                let hello = crypto::open(&key, &hello_nonce, &forward.sealed);
                let mine = self.state.ephemeral(&slot);
                self.session = Some(session_key(&key, &hello, &mine));
                crypto::seal(&key, &reply_nonce, &[&[1u8][..], &mine].concat())
            }
            (_, Some(key)) => crypto::seal(&key, &reply_nonce, &[0u8; 33]),
            (_, None) => Vec::new(),
        };
        RelayEnvelope { sealed, ..forward }
    }

    fn on_sealed_handshake(&mut self, _from: &Peer, msg: SealedHandshake) {
        if let Some(session) = self.session {
            if msg.sealed != confirmation(&session, "initiator") {
                self.failure
                    .get_or_insert("the initiator's confirmation does not verify".into());
            }
        }
    }

    fn sealed_handshake_reply(&mut self, _to: &Peer) -> SealedHandshake {
        let slot_id = self.forward.as_ref().map(|f| f.slot_id).unwrap_or_default();
        let sealed = match (self.failure.is_none(), self.session) {
            (true, Some(s)) => confirmation(&s, "responder"),
            _ => Vec::new(),
        };
        SealedHandshake { slot_id, sealed }
    }

    fn on_relay_release(&mut self, _from: &Peer, _msg: msg::RelayRelease) {}
}

/// Runs the Responder: answers the relayed hello of a peer it shares a key
/// with, and completes the sealed handshake.
pub async fn run_responder<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut PeerState,
) -> Result<PeerOutcome, ServiceError> {
    let mut session = ResponderSession {
        state,
        forward: None,
        key: None,
        session: None,
        failure: None,
    };
    choreo_relayed_rendezvous::execute_as::<RelayedTypes, _>(
        choreo_relayed_rendezvous::As::Responder(&mut session),
        adapter,
        &choreo_relayed_rendezvous::Params::default(),
    )
    .await?;
    let ResponderSession {
        state,
        forward,
        session,
        failure,
        ..
    } = session;
    let result = match (failure, session, forward) {
        (None, Some(key), Some(forward)) => Ok(RelayedChannel {
            channel_id: crypto::digest("relayed/channel", &[&key]),
            peer_id: forward.route.source,
            slot_id: forward.slot_id,
        }),
        (failure, _, _) => Err(failure.unwrap_or_else(|| "no session key".into())),
    };
    Ok(state.finish(result))
}
