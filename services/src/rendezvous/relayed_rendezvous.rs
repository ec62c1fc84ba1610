//! RelayedRendezvous: a relay-assisted connection between two peers.
//!
//! Implements the seed entry **RelayedRendezvous** (CHOREO-RDV-002, owner
//! `aura-rendezvous`, seed entry point `runtime/services/rendezvous_manager.rs`).
//! Decision sourcing as the seed says: every payload comes from the
//! rendezvous manager's state. The Relay grants a slot only for a context it
//! agreed to relay for and while it has capacity, and only ever handles
//! bodies sealed under the peers' pairwise key. The Responder answers only
//! peers it shares a key with. The sealed hello and reply carry fresh
//! X25519 ephemeral public keys; both peers derive the session key from
//! their agreement and the pairwise key, and check each other's
//! confirmation. A refused slot or an
//! unknown initiator is a policy refusal; a body that does not open, a
//! replayed hello, a body labelled with another slot or a confirmation that
//! does not verify is refused with [`ServiceError::Unverified`]. Either way
//! the session is cancelled for all three, nothing of the refused step is
//! recorded, and a slot the Relay had granted is released. Facts go to each
//! node's journal ([`RelayFact`]).
//!
//! # Who learns what
//!
//! - The Relay learns the routing metadata and nothing else
//!   (`leak = "neighbor:1"` on every forwarded envelope, the request to the
//!   relay group): the slot id, the context id, the route (both peer ids),
//!   and the sizes and timing of the bodies. The hello and the reply are
//!   the peers' fresh ephemeral X25519 public keys, sealed with ChaCha20-Poly1305
//!   under their pairwise key (a fresh random nonce; the slot, the route and
//!   the direction as associated data), so the Relay can neither read nor
//!   forge them, nor move one to another slot, route or direction. The
//!   confirmations it forwards are keyed BLAKE3 MACs under the session key:
//!   they reveal nothing of it and cannot be made without it.
//! - The Initiator and the Responder learn each other's ephemeral public
//!   key and the session key: BLAKE3 of the X25519 secret of their
//!   ephemerals, both public keys, the pairwise key, the slot and the
//!   route. It is never sent and is zeroized ([`SecretKey`]); only its
//!   digest, the channel id, is recorded. Each ephemeral secret is used for
//!   this one agreement and dropped, so whoever later learns the pairwise
//!   key (and has recorded the relayed bodies) opens the public keys but
//!   cannot derive past session keys: forward secrecy. A low-order
//!   ephemeral is refused. Confirmations are compared in constant time; an
//!   ephemeral the sender does not hold gives the other side another key,
//!   and its confirmation does not verify. The Responder refuses a hello of
//!   a slot it answered before, so a replayed hello does not start a
//!   second channel.

use choreo_relayed_rendezvous::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest, EphemeralKey, SealPublic, SecretKey};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
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

/// A handshake confirmation, end to end through the Relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedHandshake {
    /// The slot.
    pub slot_id: SlotId,
    /// The confirmation: a MAC under the session key.
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

/// A fact of relayed rendezvous, recorded in the node's journal.
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

impl DomainFact for RelayFact {
    const PROTOCOL: &'static str = "RelayedRendezvous";

    fn kind(&self) -> &'static str {
        match self {
            RelayFact::ChannelEstablished(_) => "ChannelEstablished",
            RelayFact::Failed(_) => "Failed",
            RelayFact::SlotGranted(_) => "SlotGranted",
            RelayFact::SlotRefused(..) => "SlotRefused",
            RelayFact::SlotReleased(_) => "SlotReleased",
        }
    }
}

/// A peer's rendezvous state (Initiator or Responder).
#[derive(Clone, Debug)]
pub struct PeerState {
    /// This peer's id.
    pub peer_id: Digest,
    /// Pairwise keys with known peers: (peer id, key).
    pub pairwise: Vec<(Digest, SecretKey)>,
    /// The slots whose hello this peer answered as Responder (never twice).
    pub seen_slots: Vec<SlotId>,
    /// Channels established so far.
    pub channels: Vec<RelayedChannel>,
}

impl PeerState {
    fn key_for(&self, peer: &Digest) -> Option<SecretKey> {
        (self.pairwise.iter())
            .find(|(p, _)| p == peer)
            .map(|(_, k)| k.clone())
    }
}

/// Records how a peer's exchange ended and returns it.
async fn finish(
    log: &FactLog,
    state: &mut PeerState,
    result: Result<RelayedChannel, ServiceError>,
) -> Result<RelayedChannel, ServiceError> {
    match &result {
        Ok(channel) => {
            log.record(RelayFact::ChannelEstablished(channel.clone()))
                .await?;
            state.channels.push(channel.clone());
        }
        Err(e) => log.record(RelayFact::Failed(e.reason())).await?,
    }
    result
}

/// The relayed channel of the session key `key`.
fn channel(key: &SecretKey, peer_id: Digest, slot_id: SlotId) -> RelayedChannel {
    RelayedChannel {
        channel_id: crypto::digest("relayed/channel", &[key.expose()]),
        peer_id,
        slot_id,
    }
}

/// The session key: the X25519 agreement of `mine` with the other end's
/// ephemeral `theirs`, bound to the pairwise key, the slot and the route.
fn session_key(
    pairwise: &SecretKey,
    slot: &SlotId,
    route: &Route,
    mine: EphemeralKey,
    theirs: &SealPublic,
) -> Result<SecretKey, ServiceError> {
    let context: [&[u8]; 4] = [pairwise.expose(), slot, &route.source, &route.destination];
    mine.agree(theirs, "choreo-services/relayed/session/v1", &context)
        .map_err(|e| ServiceError::unverified(Check::Decryption, format!("the ephemeral key: {e}")))
}

/// The confirmation each side sends, a MAC under the session key.
fn confirmation(session: &SecretKey, side: &str) -> Vec<u8> {
    crypto::mac(session.expose(), &[side.as_bytes()]).to_vec()
}

/// Checks the other side's confirmation `got`.
fn check_confirmation(session: &SecretKey, side: &str, got: &[u8]) -> Result<(), ServiceError> {
    crypto::ensure_eq(got, &confirmation(session, side))
        .map_err(|_| ServiceError::unverified(Check::Mac, format!("the {side}'s confirmation")))
}

/// Seals the ephemeral public key `plain` for the other end under the
/// pairwise `key`, bound to the slot, the route and the direction (`part`).
fn seal_for(
    key: &SecretKey,
    slot: &SlotId,
    route: &Route,
    part: &str,
    plain: &SealPublic,
) -> Vec<u8> {
    let context: [&[u8]; 4] = [part.as_bytes(), slot, &route.source, &route.destination];
    crypto::seal_with(key.expose(), &context, &plain.0)
}

/// Opens what the other end sealed with [`seal_for`].
fn open_from(
    key: &SecretKey,
    slot: &SlotId,
    route: &Route,
    part: &str,
    sealed: &[u8],
) -> Result<SealPublic, ServiceError> {
    let context: [&[u8]; 4] = [part.as_bytes(), slot, &route.source, &route.destination];
    crypto::open_with(key.expose(), &context, sealed)
        .ok()
        .and_then(|plain| <[u8; 32]>::try_from(plain.as_slice()).ok())
        .map(SealPublic)
        .ok_or_else(|| ServiceError::unverified(Check::Decryption, format!("the sealed {part}")))
}

/// Checks that a relayed body belongs to `slot`.
fn same_slot(slot: &SlotId, got: &SlotId) -> Result<(), ServiceError> {
    if slot == got {
        Ok(())
    } else {
        Err(ServiceError::unverified(
            Check::Binding,
            "a body of another slot",
        ))
    }
}

/// One exchange as the Initiator plays it.
struct InitiatorSession {
    slot_id: SlotId,
    context_id: Digest,
    route: Route,
    key: SecretKey,
    /// This side's ephemeral key, until the agreement uses it.
    ephemeral: Option<EphemeralKey>,
    /// Its public key, sealed in the hello.
    public: SealPublic,
    session: Option<SecretKey>,
    confirmed: bool,
}

impl InitiatorSession {
    fn session(&self) -> Result<&SecretKey, ServiceError> {
        self.session
            .as_ref()
            .ok_or(ServiceError::Missing("relayed reply"))
    }
}

impl choreo_relayed_rendezvous::Initiator for InitiatorSession {
    type Types = RelayedTypes;
    type Error = ServiceError;

    async fn relay_request(&mut self, _to: Peer) -> Result<RelayRequest, ServiceError> {
        let (slot, route) = (&self.slot_id, &self.route);
        Ok(RelayRequest {
            slot_id: self.slot_id,
            context_id: self.context_id,
            route: self.route,
            sealed: seal_for(&self.key, slot, route, "hello", &self.public),
        })
    }

    async fn on_relay_complete(
        &mut self,
        _from: Peer,
        msg: RelayEnvelope,
    ) -> Result<(), ServiceError> {
        same_slot(&self.slot_id, &msg.slot_id)?;
        let (slot, route) = (&self.slot_id, &self.route);
        let responder = open_from(&self.key, slot, route, "reply", &msg.sealed)?;
        let mine = (self.ephemeral.take()).ok_or(ServiceError::Missing("ephemeral key"))?;
        self.session = Some(session_key(&self.key, slot, route, mine, &responder)?);
        Ok(())
    }

    async fn sealed_handshake(&mut self, _to: Peer) -> Result<SealedHandshake, ServiceError> {
        Ok(SealedHandshake {
            slot_id: self.slot_id,
            sealed: confirmation(self.session()?, "initiator"),
        })
    }

    async fn on_sealed_handshake_reply(
        &mut self,
        _from: Peer,
        msg: SealedHandshake,
    ) -> Result<(), ServiceError> {
        same_slot(&self.slot_id, &msg.slot_id)?;
        check_confirmation(self.session()?, "responder", &msg.sealed)?;
        self.confirmed = true;
        Ok(())
    }

    async fn relay_release(&mut self, _to: Peer) -> Result<msg::RelayRelease, ServiceError> {
        Ok(msg::RelayRelease {
            slot_id: self.slot_id,
        })
    }
}

/// Runs the Initiator: asks the Relay for a fresh slot to reach `target` in
/// the relational context `context_id`, and completes the sealed handshake.
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
    let log = FactLog::of(&session);
    let ephemeral = EphemeralKey::generate();
    let mut code = InitiatorSession {
        slot_id: crypto::random(),
        context_id,
        route: Route {
            source: state.peer_id,
            destination: target,
        },
        key,
        public: ephemeral.public(),
        ephemeral: Some(ephemeral),
        session: None,
        confirmed: false,
    };
    let run = choreo_relayed_rendezvous::execute_as(
        choreo_relayed_rendezvous::As::Initiator(&mut code),
        session,
        &choreo_relayed_rendezvous::Params::default(),
    )
    .await;
    let result = match (run, &code.session, code.confirmed) {
        (Ok(_), Some(key), true) => Ok(channel(key, target, code.slot_id)),
        (Ok(_), _, _) => Err(ServiceError::Missing("confirmed handshake")),
        (Err(e), _, _) => Err(e.into()),
    };
    finish(&log, state, result).await
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
}

/// Releases `slot` if it is granted, recording it on `log`; whether it was.
async fn release(
    log: &FactLog,
    state: &mut RelayState,
    slot: &SlotId,
) -> Result<bool, ServiceError> {
    let before = state.active_slots.len();
    state.active_slots.retain(|s| s != slot);
    let released = state.active_slots.len() < before;
    if released {
        log.record(RelayFact::SlotReleased(*slot)).await?;
    }
    Ok(released)
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
    log: FactLog,
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
            self.log.record(fact).await?;
            return Err(ServiceError::Refused(why.into()));
        }
        self.log.record(RelayFact::SlotGranted(msg.slot_id)).await?;
        self.state.active_slots.push(msg.slot_id);
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
        self.released = release(&self.log, self.state, &msg.slot_id).await?;
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
    let log = FactLog::of(&session);
    let mut code = RelaySession {
        state,
        log: log.clone(),
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
                release(&log, code.state, &slot).await?;
            }
            Err(e.into())
        }
    }
}

/// One exchange as the Responder plays it.
struct ResponderSession<'s> {
    state: &'s mut PeerState,
    /// The opened hello's slot and route, with the pairwise key and this
    /// side's ephemeral public key (its secret went into the session key).
    forward: Option<(SlotId, Route, SecretKey, SealPublic)>,
    session: Option<SecretKey>,
    confirmed: bool,
}

impl ResponderSession<'_> {
    fn forward(&self) -> Result<&(SlotId, Route, SecretKey, SealPublic), ServiceError> {
        self.forward
            .as_ref()
            .ok_or(ServiceError::Missing("relayed hello"))
    }

    fn session(&self) -> Result<&SecretKey, ServiceError> {
        self.session
            .as_ref()
            .ok_or(ServiceError::Missing("relayed hello"))
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
        if self.state.seen_slots.contains(&msg.slot_id) {
            return Err(ServiceError::unverified(
                Check::Nonce,
                "a hello of a slot answered before",
            ));
        }
        let (slot, route) = (msg.slot_id, msg.route);
        let hello = open_from(&key, &slot, &route, "hello", &msg.sealed)?;
        let mine = EphemeralKey::generate();
        let public = mine.public();
        self.session = Some(session_key(&key, &slot, &route, mine, &hello)?);
        self.state.seen_slots.push(slot);
        self.forward = Some((slot, route, key, public));
        Ok(())
    }

    async fn relay_response(&mut self, _to: Peer) -> Result<RelayEnvelope, ServiceError> {
        let (slot_id, route, key, mine) = self.forward()?;
        Ok(RelayEnvelope {
            slot_id: *slot_id,
            route: *route,
            sealed: seal_for(key, slot_id, route, "reply", mine),
        })
    }

    async fn on_sealed_handshake(
        &mut self,
        _from: Peer,
        msg: SealedHandshake,
    ) -> Result<(), ServiceError> {
        same_slot(&self.forward()?.0, &msg.slot_id)?;
        check_confirmation(self.session()?, "initiator", &msg.sealed)?;
        self.confirmed = true;
        Ok(())
    }

    async fn sealed_handshake_reply(&mut self, _to: Peer) -> Result<SealedHandshake, ServiceError> {
        Ok(SealedHandshake {
            slot_id: self.forward()?.0,
            sealed: confirmation(self.session()?, "responder"),
        })
    }

    async fn on_relay_release(
        &mut self,
        _from: Peer,
        msg: msg::RelayRelease,
    ) -> Result<(), ServiceError> {
        same_slot(&self.forward()?.0, &msg.slot_id)
    }
}

/// Runs the Responder: answers the relayed hello of a peer it shares a key
/// with (refusing any other, and any slot it answered before), and
/// completes the sealed handshake.
pub async fn run_responder<T: Transport>(
    session: Session<'_, T>,
    state: &mut PeerState,
) -> Result<RelayedChannel, ServiceError> {
    let log = FactLog::of(&session);
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
    let result = match (run, &code.forward, &code.session, code.confirmed) {
        (Ok(_), Some((slot, route, ..)), Some(key), true) => Ok(channel(key, route.source, *slot)),
        (Ok(_), ..) => Err(ServiceError::Missing("confirmed handshake")),
        (Err(e), ..) => Err(e.into()),
    };
    finish(&log, code.state, result).await
}
