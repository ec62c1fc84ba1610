//! RelayedRendezvous: a relay-assisted connection between two peers.
//!
//! Implements the seed entry **RelayedRendezvous** (CHOREO-RDV-002, owner
//! `aura-rendezvous`, seed entry point `runtime/services/rendezvous_manager.rs`).
//! Decision sourcing as the seed says: every payload comes from the
//! rendezvous manager's state. The Relay grants a slot only for a context it
//! agreed to relay for and while it has capacity, and only ever handles
//! bodies sealed under the peers' pairwise key. The Responder answers only
//! peers it shares a key with. Both peers derive the channel from the sealed
//! exchange and check each other's confirmation. A refused slot, an unknown
//! initiator or a confirmation that does not verify makes the role that
//! finds it refuse: the session is cancelled for all three, and a slot the
//! Relay had granted is released.
//!
//! # Who learns what
//!
//! - The hello and the reply are sealed with ChaCha20-Poly1305 under the
//!   peers' pairwise key (a fresh random nonce, the slot and direction as
//!   associated data): the Relay forwards ciphertexts it cannot open
//!   (`leak = "neighbor:1"`), and learns only slot ids, routes and sizes.
//! - The confirmations are keyed BLAKE3 MACs under the derived channel key,
//!   compared in constant time.
//! - Not yet done: the channel key derives from the pairwise key and the
//!   exchanged values, without an X25519 exchange (no forward secrecy).

use choreo_relayed_rendezvous::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::error::Check;
use crate::stand_in::Journal;
use crate::{reject, ServiceError};

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
    /// The sealed body.
    pub sealed: Vec<u8>,
}

/// A handshake message sealed end to end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedHandshake {
    /// The slot.
    pub slot_id: SlotId,
    /// The sealed confirmation.
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

    /// Records how the exchange ended and returns it.
    fn finish(
        &mut self,
        result: Result<RelayedChannel, ServiceError>,
    ) -> Result<RelayedChannel, ServiceError> {
        match &result {
            Ok(channel) => {
                self.journal
                    .record(RelayFact::ChannelEstablished(channel.clone()));
                self.channels.push(channel.clone());
            }
            Err(e) => self.journal.record(RelayFact::Failed(e.reason())),
        }
        result
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

/// The nonce a sealed body of `slot` is sealed under, for `part`.
fn nonce(slot: &SlotId, part: &[u8]) -> Vec<u8> {
    [&slot[..], part].concat()
}

/// Seals `plain` for the other end under the pre-shared `key`, bound to the
/// slot and the direction (`part`).
fn seal_for(key: &Digest, slot: &SlotId, part: &[u8], plain: &[u8]) -> Vec<u8> {
    crypto::seal_with(key, &[&nonce(slot, part)], plain)
}

/// Opens what the other end sealed with [`seal_for`].
fn open_from(
    key: &Digest,
    slot: &SlotId,
    part: &[u8],
    sealed: &[u8],
) -> Result<Digest, ServiceError> {
    crypto::open_with(key, &[&nonce(slot, part)], sealed)
        .ok()
        .and_then(|plain| <[u8; 32]>::try_from(plain.as_slice()).ok())
        .ok_or_else(|| ServiceError::unverified(Check::Decryption, "the sealed handshake"))
}

/// Checks that a relayed body belongs to `slot`.
fn same_slot(slot: &SlotId, got: &SlotId) -> Result<(), ServiceError> {
    if slot == got {
        Ok(())
    } else {
        Err(ServiceError::Refused("a body of another slot".into()))
    }
}

/// One exchange as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut PeerState,
    slot_id: SlotId,
    context_id: Digest,
    route: Route,
    key: Digest,
    session: Option<Digest>,
    confirmed: bool,
}

impl InitiatorSession<'_> {
    fn session(&self) -> Result<Digest, ServiceError> {
        self.session.ok_or(ServiceError::Missing("relayed reply"))
    }
}

impl choreo_relayed_rendezvous::Initiator for InitiatorSession<'_> {
    type Types = RelayedTypes;
    type Error = ServiceError;

    async fn relay_request(&mut self, _to: Peer) -> Result<RelayRequest, ServiceError> {
        let hello = self.state.ephemeral(&self.slot_id);
        Ok(RelayRequest {
            slot_id: self.slot_id,
            context_id: self.context_id,
            route: self.route,
            sealed: seal_for(&self.key, &self.slot_id, b"hello", &hello),
        })
    }

    async fn on_relay_complete(
        &mut self,
        _from: Peer,
        msg: RelayEnvelope,
    ) -> Result<(), ServiceError> {
        same_slot(&self.slot_id, &msg.slot_id)?;
        let responder = open_from(&self.key, &self.slot_id, b"reply", &msg.sealed)?;
        let mine = self.state.ephemeral(&self.slot_id);
        self.session = Some(session_key(&self.key, &mine, &responder));
        Ok(())
    }

    async fn sealed_handshake(&mut self, _to: Peer) -> Result<SealedHandshake, ServiceError> {
        Ok(SealedHandshake {
            slot_id: self.slot_id,
            sealed: confirmation(&self.session()?, "initiator"),
        })
    }

    async fn on_sealed_handshake_reply(
        &mut self,
        _from: Peer,
        msg: SealedHandshake,
    ) -> Result<(), ServiceError> {
        same_slot(&self.slot_id, &msg.slot_id)?;
        if crypto::ensure_eq(&msg.sealed, &confirmation(&self.session()?, "responder")).is_err() {
            return Err(ServiceError::Refused(
                "the responder's confirmation does not verify".into(),
            ));
        }
        self.confirmed = true;
        Ok(())
    }

    async fn relay_release(&mut self, _to: Peer) -> Result<msg::RelayRelease, ServiceError> {
        Ok(msg::RelayRelease {
            slot_id: self.slot_id,
        })
    }
}

/// Runs the Initiator: asks the Relay for a slot to reach `target` in the
/// relational context `context_id`, and completes the sealed handshake.
pub async fn run_initiator<T: Transport>(
    session: Session<'_, T>,
    state: &mut PeerState,
    context_id: Digest,
    target: Digest,
) -> Result<RelayedChannel, ServiceError> {
    let Some(key) = state.key_for(&target) else {
        let e = ServiceError::Invalid("no pairwise key with the target peer".into());
        return Err(reject(session, e));
    };
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
    let mut code = InitiatorSession {
        state,
        slot_id,
        context_id,
        route,
        key,
        session: None,
        confirmed: false,
    };
    let run = choreo_relayed_rendezvous::execute_as(
        choreo_relayed_rendezvous::As::Initiator(&mut code),
        session,
        &choreo_relayed_rendezvous::Params::default(),
    )
    .await;
    let result = match (run, code.session, code.confirmed) {
        (Ok(_), Some(key), true) => Ok(RelayedChannel {
            channel_id: crypto::digest("relayed/channel", &[&key]),
            peer_id: target,
            slot_id,
        }),
        (Ok(_), _, _) => Err(ServiceError::Missing("confirmed handshake")),
        (Err(e), _, _) => Err(e.into()),
    };
    code.state.finish(result)
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

impl RelayState {
    /// Releases `slot` if it is granted; whether it was.
    fn release(&mut self, slot: &SlotId) -> bool {
        let before = self.active_slots.len();
        self.active_slots.retain(|s| s != slot);
        let released = self.active_slots.len() < before;
        if released {
            self.journal.record(RelayFact::SlotReleased(*slot));
        }
        released
    }
}

/// How a relayed exchange ended for the Relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayOutcome {
    /// The slot it granted.
    pub slot_id: SlotId,
    /// Whether the slot was released at the end.
    pub released: bool,
}

/// One slot as the Relay plays it.
struct RelaySession<'s> {
    state: &'s mut RelayState,
    request: Option<RelayRequest>,
    pending: Vec<u8>,
    released: bool,
}

impl RelaySession<'_> {
    fn request(&self) -> Result<&RelayRequest, ServiceError> {
        self.request
            .as_ref()
            .ok_or(ServiceError::Missing("relay request"))
    }

    /// Takes the body waiting to be forwarded, counting its bytes.
    fn take_body(&mut self) -> Vec<u8> {
        let body = std::mem::take(&mut self.pending);
        self.state.forwarded_bytes += body.len() as u64;
        body
    }

    /// An envelope of the granted slot carrying the waiting body.
    fn envelope(&mut self) -> Result<RelayEnvelope, ServiceError> {
        let r = self.request()?;
        let (slot_id, route) = (r.slot_id, r.route);
        Ok(RelayEnvelope {
            slot_id,
            route,
            sealed: self.take_body(),
        })
    }

    /// A sealed handshake of the granted slot carrying the waiting body.
    fn forward(&mut self) -> Result<SealedHandshake, ServiceError> {
        let slot_id = self.request()?.slot_id;
        Ok(SealedHandshake {
            slot_id,
            sealed: self.take_body(),
        })
    }

    /// Keeps the body of a message of the granted slot to forward next.
    fn hold(&mut self, slot: &SlotId, body: Vec<u8>) -> Result<(), ServiceError> {
        same_slot(&self.request()?.slot_id, slot)?;
        self.pending = body;
        Ok(())
    }
}

impl choreo_relayed_rendezvous::Relay for RelaySession<'_> {
    type Types = RelayedTypes;
    type Error = ServiceError;

    async fn on_relay_request(
        &mut self,
        _from: Peer,
        msg: RelayRequest,
    ) -> Result<(), ServiceError> {
        let policy = &self.state.policy;
        let refusal = if !policy.contexts.contains(&msg.context_id) {
            Some("context not relayed")
        } else if self.state.active_slots.len() >= policy.max_slots {
            Some("no free slot")
        } else {
            None
        };
        if let Some(why) = refusal {
            let fact = RelayFact::SlotRefused(msg.slot_id, why.into());
            self.state.journal.record(fact);
            return Err(ServiceError::Refused(why.into()));
        }
        self.state.active_slots.push(msg.slot_id);
        self.state
            .journal
            .record(RelayFact::SlotGranted(msg.slot_id));
        self.pending = msg.sealed.clone();
        self.request = Some(msg);
        Ok(())
    }

    async fn relay_forward(&mut self, _to: Peer) -> Result<RelayEnvelope, ServiceError> {
        self.envelope()
    }

    async fn on_relay_response(
        &mut self,
        _from: Peer,
        msg: RelayEnvelope,
    ) -> Result<(), ServiceError> {
        self.hold(&msg.slot_id, msg.sealed)
    }

    async fn relay_complete(&mut self, _to: Peer) -> Result<RelayEnvelope, ServiceError> {
        self.envelope()
    }

    async fn on_sealed_handshake(
        &mut self,
        _from: Peer,
        msg: SealedHandshake,
    ) -> Result<(), ServiceError> {
        self.hold(&msg.slot_id, msg.sealed)
    }

    async fn sealed_handshake(&mut self, _to: Peer) -> Result<SealedHandshake, ServiceError> {
        self.forward()
    }

    async fn on_sealed_handshake_reply(
        &mut self,
        _from: Peer,
        msg: SealedHandshake,
    ) -> Result<(), ServiceError> {
        self.hold(&msg.slot_id, msg.sealed)
    }

    async fn sealed_handshake_reply(&mut self, _to: Peer) -> Result<SealedHandshake, ServiceError> {
        self.forward()
    }

    async fn on_relay_release(
        &mut self,
        _from: Peer,
        msg: msg::RelayRelease,
    ) -> Result<(), ServiceError> {
        same_slot(&self.request()?.slot_id, &msg.slot_id)?;
        self.released = self.state.release(&msg.slot_id);
        Ok(())
    }

    async fn relay_release(&mut self, _to: Peer) -> Result<msg::RelayRelease, ServiceError> {
        let slot_id = self.request()?.slot_id;
        Ok(msg::RelayRelease { slot_id })
    }
}

/// Runs the Relay: grants a slot from its policy (refusing, and so cancelling
/// the exchange, otherwise), forwards sealed bodies it cannot read, and
/// releases the slot, also when the exchange fails after the grant.
pub async fn run_relay<T: Transport>(
    session: Session<'_, T>,
    state: &mut RelayState,
) -> Result<RelayOutcome, ServiceError> {
    let mut code = RelaySession {
        state,
        request: None,
        pending: Vec::new(),
        released: false,
    };
    let run = choreo_relayed_rendezvous::execute_as(
        choreo_relayed_rendezvous::As::Relay(&mut code),
        session,
        &choreo_relayed_rendezvous::Params::default(),
    )
    .await;
    let slot = code.request.as_ref().map(|r| r.slot_id);
    match (run, slot) {
        (Ok(_), Some(slot_id)) => Ok(RelayOutcome {
            slot_id,
            released: code.released,
        }),
        (Ok(_), None) => Err(ServiceError::Missing("relay request")),
        (Err(e), slot) => {
            if let Some(slot) = slot {
                code.state.release(&slot);
            }
            Err(e.into())
        }
    }
}

/// One exchange as the Responder plays it.
struct ResponderSession<'s> {
    state: &'s mut PeerState,
    forward: Option<(RelayEnvelope, Digest)>,
    session: Option<Digest>,
    confirmed: bool,
}

impl ResponderSession<'_> {
    fn forward(&self) -> Result<&(RelayEnvelope, Digest), ServiceError> {
        self.forward
            .as_ref()
            .ok_or(ServiceError::Missing("relayed hello"))
    }

    fn session(&self) -> Result<Digest, ServiceError> {
        self.session.ok_or(ServiceError::Missing("relayed hello"))
    }
}

impl choreo_relayed_rendezvous::Responder for ResponderSession<'_> {
    type Types = RelayedTypes;
    type Error = ServiceError;

    async fn on_relay_forward(
        &mut self,
        _from: Peer,
        msg: RelayEnvelope,
    ) -> Result<(), ServiceError> {
        let key = self
            .state
            .key_for(&msg.route.source)
            .ok_or_else(|| ServiceError::Refused("unknown initiator".into()))?;
        self.forward = Some((msg, key));
        Ok(())
    }

    async fn relay_response(&mut self, _to: Peer) -> Result<RelayEnvelope, ServiceError> {
        let (forward, key) = self.forward()?.clone();
        let slot = forward.slot_id;
        let hello = open_from(&key, &slot, b"hello", &forward.sealed)?;
        let mine = self.state.ephemeral(&slot);
        self.session = Some(session_key(&key, &hello, &mine));
        let sealed = seal_for(&key, &slot, b"reply", &mine);
        Ok(RelayEnvelope { sealed, ..forward })
    }

    async fn on_sealed_handshake(
        &mut self,
        _from: Peer,
        msg: SealedHandshake,
    ) -> Result<(), ServiceError> {
        same_slot(&self.forward()?.0.slot_id, &msg.slot_id)?;
        if crypto::ensure_eq(&msg.sealed, &confirmation(&self.session()?, "initiator")).is_err() {
            return Err(ServiceError::Refused(
                "the initiator's confirmation does not verify".into(),
            ));
        }
        self.confirmed = true;
        Ok(())
    }

    async fn sealed_handshake_reply(&mut self, _to: Peer) -> Result<SealedHandshake, ServiceError> {
        Ok(SealedHandshake {
            slot_id: self.forward()?.0.slot_id,
            sealed: confirmation(&self.session()?, "responder"),
        })
    }

    async fn on_relay_release(
        &mut self,
        _from: Peer,
        msg: msg::RelayRelease,
    ) -> Result<(), ServiceError> {
        same_slot(&self.forward()?.0.slot_id, &msg.slot_id)
    }
}

/// Runs the Responder: answers the relayed hello of a peer it shares a key
/// with (refusing any other), and completes the sealed handshake.
pub async fn run_responder<T: Transport>(
    session: Session<'_, T>,
    state: &mut PeerState,
) -> Result<RelayedChannel, ServiceError> {
    let mut code = ResponderSession {
        state,
        forward: None,
        session: None,
        confirmed: false,
    };
    let run = choreo_relayed_rendezvous::execute_as(
        choreo_relayed_rendezvous::As::Responder(&mut code),
        session,
        &choreo_relayed_rendezvous::Params::default(),
    )
    .await;
    let result = match (run, &code.forward, code.session, code.confirmed) {
        (Ok(_), Some((forward, _)), Some(key), true) => Ok(RelayedChannel {
            channel_id: crypto::digest("relayed/channel", &[&key]),
            peer_id: forward.route.source,
            slot_id: forward.slot_id,
        }),
        (Ok(_), ..) => Err(ServiceError::Missing("confirmed handshake")),
        (Err(e), ..) => Err(e.into()),
    };
    code.state.finish(result)
}
