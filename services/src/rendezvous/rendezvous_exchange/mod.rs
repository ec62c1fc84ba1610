//! RendezvousExchange: direct connection between two reachable peers.
//!
//! Implements the seed entry **RendezvousExchange** (CHOREO-RDV-001, owner
//! `aura-rendezvous`, seed entry point `handlers/rendezvous_service.rs`).
//! Decision sourcing as the seed says: descriptors and discovery payloads
//! come from the rendezvous manager's state. The Responder negotiates the
//! version (the minimum of both, if each side's minimum allows it) and the
//! shared capabilities, as in the seed's version handshake: when there is no
//! common version it takes the protocol's `Incompatible` branch, telling the
//! Initiator why and which versions it speaks, and the exchange ends there
//! with no channel recorded. Otherwise it picks the address it will use
//! among the transports the Initiator offers. Each side checks the other's
//! descriptor (context MAC, expiry, expected peer) and handshake transcript,
//! and the Responder the freshness of the Initiator's nonce. The handshake
//! is an X25519 key agreement of fresh ephemeral keys: both derive the
//! channel key from the agreed secret bound to the whole transcript, and
//! each proves it holds that key (the Responder's confirmation, the
//! Initiator's channel id). A value that does not check out is refused with
//! [`ServiceError::Unverified`], which cancels the session for both. Both
//! record the channel in their node's journal ([`RendezvousFact`]).
//!
//! # Who learns what
//!
//! - Initiator and Responder learn each other's versions, capabilities,
//!   descriptor (peer id, addresses, expiry) and ephemeral public key, the
//!   channel key and the channel id. Descriptors are public to outside
//!   observers as the protocol says (`leak = "External"`); the handshake
//!   messages (`leak = "neighbor:1"`) carry only X25519 public keys and
//!   MACs, nothing secret. The channel key is never sent: each side
//!   derives it with BLAKE3 from the X25519 secret of its own ephemeral and
//!   the other's public key, both public keys and the context-key MAC of
//!   the whole transcript; it is zeroized ([`SecretKey`]), and each
//!   ephemeral secret is used for this one agreement and dropped. An
//!   observer, the neighbour hop included, learns the public keys and the
//!   channel id, which reveal nothing of the key.
//! - Descriptors and transcripts are keyed BLAKE3 MACs under the rendezvous
//!   context key (a [`SecretKey`], never sent), so only context members can
//!   make them; they are compared in constant time. The transcript covers
//!   the Initiator's offer (versions, capabilities, its fresh random nonce),
//!   the negotiated answer, both descriptors and both fresh random
//!   ephemeral public keys: a downgraded offer, a swapped descriptor or a
//!   replayed handshake does not verify. The Responder refuses a nonce it
//!   has seen, and either side a low-order ephemeral key.
//! - Key confirmation: the Responder's handshake carries a MAC under the
//!   channel key, the Initiator's confirmation the channel id (another MAC
//!   under it), each checked in constant time. An ephemeral key substituted
//!   on the way, or one whose secret the sender does not hold, gives the
//!   checking side another key, and the MAC does not verify.
//! - Not yet done: descriptors and the transcript are MACed with the shared
//!   context key and the peers have no static keys, so a context member
//!   in the middle could run one agreement with each side (the channel is
//!   secret from outsiders, not from other context members).

use choreo_rendezvous_exchange::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest, EphemeralKey, SealPublic, SecretKey};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::ServiceError;

mod responder;

pub use responder::run_responder;

/// The version both peers use and the capabilities both have (the
/// Responder's answer on the `Compatible` branch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiatedVersion {
    /// The minimum of both peers' versions.
    pub negotiated_version: u32,
    /// The capabilities both peers have, sorted.
    pub capabilities: Vec<String>,
}

/// A peer's signed transport descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportDescriptor {
    /// The peer.
    pub peer_id: Digest,
    /// Where it can be reached (`quic://...`), most preferred first.
    pub addresses: Vec<String>,
    /// The last time the descriptor is valid at.
    pub expires_at: u64,
    /// MAC under the rendezvous context key.
    pub signature: Digest,
}

impl TransportDescriptor {
    /// The descriptor of `peer_id`, MACed under the context key `key`.
    pub fn signed(
        key: &SecretKey,
        peer_id: Digest,
        addresses: Vec<String>,
        expires_at: u64,
    ) -> Self {
        let signature = descriptor_mac(key, &peer_id, &addresses, expires_at);
        TransportDescriptor {
            peer_id,
            addresses,
            expires_at,
            signature,
        }
    }
}

/// One message of the key agreement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseHandshake {
    /// The sender's fresh ephemeral X25519 public key.
    pub ephemeral: SealPublic,
    /// The Initiator's: the context-key MAC of the transcript so far; the
    /// Responder's: its key confirmation ([`responder_confirmation`]).
    pub transcript: Digest,
}

/// The BLAKE3 domain of the channel key.
const CHANNEL_KEY: &str = "choreo-services/rendezvous/channel-key/v1";

/// The Responder's key confirmation: a MAC under the channel key `key`.
pub fn responder_confirmation(key: &SecretKey) -> Digest {
    crypto::mac(key.expose(), &[b"rendezvous/confirm/responder"])
}

/// The channel id, the Initiator's key confirmation: another MAC under the
/// channel key `key` (it reveals nothing of the key).
pub fn channel_id(key: &SecretKey) -> Digest {
    crypto::mac(key.expose(), &[b"rendezvous/channel-id"])
}

/// Binds the protocol's payload types to this module's.
pub struct RendezvousTypes;

impl choreo_rendezvous_exchange::Types for RendezvousTypes {
    type NegotiatedVersion = NegotiatedVersion;
    type TransportDescriptor = TransportDescriptor;
    type NoiseHandshake = NoiseHandshake;
}

/// A secure channel both peers recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecureChannel {
    /// The channel ([`channel_id`] of the agreed channel key).
    pub channel_id: Digest,
    /// The other peer.
    pub peer_id: Digest,
    /// The Responder's address the channel uses.
    pub address: String,
    /// The negotiated protocol version.
    pub version: u32,
    /// The context's epoch.
    pub epoch: u64,
}

/// A fact of rendezvous, recorded in the node's journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RendezvousFact {
    /// A channel was established.
    ChannelEstablished(SecureChannel),
    /// The peers speak no common version.
    Incompatible(String),
    /// A connection attempt failed (this side refused, or the other cancelled).
    Failed(String),
}

impl DomainFact for RendezvousFact {
    const PROTOCOL: &'static str = "RendezvousExchange";

    fn kind(&self) -> &'static str {
        match self {
            RendezvousFact::ChannelEstablished(_) => "ChannelEstablished",
            RendezvousFact::Incompatible(_) => "Incompatible",
            RendezvousFact::Failed(_) => "Failed",
        }
    }
}

/// How an exchange ended, for either peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RendezvousOutcome {
    /// The channel both recorded.
    Established(SecureChannel),
    /// The Responder found no common version.
    Incompatible {
        /// Why, in the Responder's words.
        reason: String,
        /// The Responder's version.
        version: u32,
        /// The oldest version the Responder speaks.
        min_version: u32,
    },
}

/// The versions a peer speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// Its version.
    pub version: u32,
    /// The oldest version it still speaks.
    pub min_version: u32,
    /// Its protocol capabilities (`"fact_journal"`).
    pub capabilities: Vec<String>,
}

/// A rendezvous manager's state, for either role.
#[derive(Clone, Debug)]
pub struct RendezvousState {
    /// This peer's identity.
    pub peer_id: Digest,
    /// Its addresses, most preferred first.
    pub addresses: Vec<String>,
    /// Its versions.
    pub versions: VersionInfo,
    /// The shared rendezvous context's key (known to its members only).
    pub context_key: SecretKey,
    /// The context's epoch.
    pub epoch: u64,
    /// How long its descriptors stay valid.
    pub descriptor_ttl: u64,
    /// The current time.
    pub now: u64,
    /// The Initiators' nonces this peer answered as Responder (never twice).
    pub seen_nonces: Vec<Digest>,
    /// Channels established so far.
    pub channels: Vec<SecureChannel>,
}

impl RendezvousState {
    fn descriptor(&self, addresses: Vec<String>) -> TransportDescriptor {
        let expires_at = self.now.saturating_add(self.descriptor_ttl);
        TransportDescriptor::signed(&self.context_key, self.peer_id, addresses, expires_at)
    }

    /// Checks a peer's descriptor: from `expected` (when known), MACed
    /// under the context key, not expired.
    fn check(
        &self,
        d: &TransportDescriptor,
        expected: Option<&Digest>,
    ) -> Result<(), ServiceError> {
        if expected.is_some_and(|e| *e != d.peer_id) {
            return Err(ServiceError::unverified(
                Check::Binding,
                "descriptor of an unexpected peer",
            ));
        }
        let mac = descriptor_mac(&self.context_key, &d.peer_id, &d.addresses, d.expires_at);
        if crypto::ensure_eq(&mac, &d.signature).is_err() {
            return Err(ServiceError::unverified(
                Check::Mac,
                "the peer's descriptor",
            ));
        }
        if d.expires_at < self.now {
            return Err(ServiceError::unverified(
                Check::Epoch,
                "descriptor has expired",
            ));
        }
        Ok(())
    }
}

fn descriptor_mac(key: &SecretKey, peer: &Digest, addresses: &[String], expires: u64) -> Digest {
    crypto::mac(
        key.expose(),
        &[
            b"rendezvous/descriptor",
            peer,
            &crypto::encode(addresses),
            &expires.to_le_bytes(),
        ],
    )
}

fn scheme(address: &str) -> &str {
    address.split("://").next().unwrap_or_default()
}

/// What both sides MAC into the transcript, in protocol order, filled in
/// as the exchange goes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    /// The Initiator's offer, with its nonce.
    pub request: Option<msg::VersionHandshakeRequest>,
    /// The Responder's answer.
    pub negotiated: Option<NegotiatedVersion>,
    /// The Initiator's descriptor.
    pub initiator: Option<TransportDescriptor>,
    /// The Responder's descriptor.
    pub responder: Option<TransportDescriptor>,
    /// The Initiator's ephemeral public key.
    pub initiator_ephemeral: Option<SealPublic>,
    /// The Responder's ephemeral public key.
    pub responder_ephemeral: Option<SealPublic>,
}

impl Transcript {
    /// The MAC under the context key `key` of everything up to the
    /// Initiator's ephemeral, and the Responder's ephemeral once it is
    /// known (the Initiator's handshake MACs the transcript without it).
    pub fn digest(&self, key: &SecretKey) -> Result<Digest, ServiceError> {
        let request = self
            .request
            .as_ref()
            .ok_or(ServiceError::Missing("version handshake request"))?;
        let negotiated = self
            .negotiated
            .as_ref()
            .ok_or(ServiceError::Missing("version handshake response"))?;
        let (Some(a), Some(b)) = (&self.initiator, &self.responder) else {
            return Err(ServiceError::Missing("transport descriptor"));
        };
        let mine = self
            .initiator_ephemeral
            .ok_or(ServiceError::Missing("handshake"))?
            .0;
        let (request, negotiated) = (crypto::encode(request), crypto::encode(negotiated));
        let (a, b) = (crypto::encode(a), crypto::encode(b));
        let mut parts: Vec<&[u8]> = vec![
            b"rendezvous/transcript",
            &request,
            &negotiated,
            &a,
            &b,
            &mine,
        ];
        let theirs = self.responder_ephemeral.map(|e| e.0);
        if let Some(theirs) = &theirs {
            parts.push(theirs);
        }
        Ok(crypto::mac(key.expose(), &parts))
    }

    /// The channel key: the X25519 agreement of `mine` with `theirs` (the
    /// other side's ephemeral), bound to the MAC under the context key
    /// `key` of the whole transcript (both ephemerals). A low-order `theirs`
    /// is refused ([`Check::Decryption`]: no key is agreed).
    pub fn channel_key(
        &self,
        key: &SecretKey,
        mine: EphemeralKey,
        theirs: &SealPublic,
    ) -> Result<SecretKey, ServiceError> {
        if self.responder_ephemeral.is_none() {
            return Err(ServiceError::Missing("handshake"));
        }
        let transcript = self.digest(key)?;
        mine.agree(theirs, CHANNEL_KEY, &[&transcript])
            .map_err(|e| {
                ServiceError::unverified(
                    Check::Decryption,
                    format!("the peer's ephemeral key: {e}"),
                )
            })
    }

    /// The channel recorded once the transcript is agreed.
    fn channel(
        &self,
        channel_id: Digest,
        peer_id: Digest,
        epoch: u64,
    ) -> Result<SecureChannel, ServiceError> {
        let address = self
            .responder
            .as_ref()
            .and_then(|d| d.addresses.first())
            .ok_or(ServiceError::Missing("transport descriptor"))?;
        let version = self
            .negotiated
            .as_ref()
            .ok_or(ServiceError::Missing("version handshake response"))?
            .negotiated_version;
        Ok(SecureChannel {
            channel_id,
            peer_id,
            address: address.clone(),
            version,
            epoch,
        })
    }
}

/// Records how the exchange ended on `log` (and a channel in `channels`),
/// and returns it.
async fn finish(
    log: &FactLog,
    channels: &mut Vec<SecureChannel>,
    result: Result<RendezvousOutcome, ServiceError>,
) -> Result<RendezvousOutcome, ServiceError> {
    let fact = match &result {
        Ok(RendezvousOutcome::Established(channel)) => {
            RendezvousFact::ChannelEstablished(channel.clone())
        }
        Ok(RendezvousOutcome::Incompatible { reason, .. }) => {
            RendezvousFact::Incompatible(reason.clone())
        }
        Err(e) => RendezvousFact::Failed(e.reason()),
    };
    log.record(fact).await?;
    if let Ok(RendezvousOutcome::Established(channel)) = &result {
        channels.push(channel.clone());
    }
    result
}

/// One exchange as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut RendezvousState,
    target: Digest,
    transcript: Transcript,
    /// This side's ephemeral key, until the agreement uses it.
    ephemeral: Option<EphemeralKey>,
    outcome: Option<RendezvousOutcome>,
}

impl choreo_rendezvous_exchange::Initiator for InitiatorSession<'_> {
    type Types = RendezvousTypes;
    type Error = ServiceError;

    async fn version_handshake_request(
        &mut self,
        _to: Peer,
    ) -> Result<msg::VersionHandshakeRequest, ServiceError> {
        let v = &self.state.versions;
        let request = msg::VersionHandshakeRequest {
            version: v.version,
            min_version: v.min_version,
            capabilities: v.capabilities.clone(),
            nonce: crypto::random(),
        };
        self.transcript.request = Some(request.clone());
        Ok(request)
    }

    async fn on_version_handshake_response(
        &mut self,
        _from: Peer,
        msg: NegotiatedVersion,
    ) -> Result<(), ServiceError> {
        let mine = &self.state.versions;
        if msg.negotiated_version > mine.version || msg.negotiated_version < mine.min_version {
            return Err(ServiceError::Refused(format!(
                "negotiated version {} is outside {}..={}",
                msg.negotiated_version, mine.min_version, mine.version
            )));
        }
        self.transcript.negotiated = Some(msg);
        Ok(())
    }

    async fn on_version_incompatible(
        &mut self,
        _from: Peer,
        msg: msg::VersionIncompatible,
    ) -> Result<(), ServiceError> {
        self.outcome = Some(RendezvousOutcome::Incompatible {
            reason: msg.reason,
            version: msg.version,
            min_version: msg.min_version,
        });
        Ok(())
    }

    async fn rendezvous_descriptor(
        &mut self,
        _to: Peer,
    ) -> Result<TransportDescriptor, ServiceError> {
        let d = self.state.descriptor(self.state.addresses.clone());
        self.transcript.initiator = Some(d.clone());
        Ok(d)
    }

    async fn on_descriptor_reply(
        &mut self,
        _from: Peer,
        msg: TransportDescriptor,
    ) -> Result<(), ServiceError> {
        self.state.check(&msg, Some(&self.target))?;
        // The Responder picks one of the transports this side offered.
        let offered = |a: &String| self.state.addresses.iter().any(|o| scheme(o) == scheme(a));
        if !msg.addresses.first().is_some_and(offered) {
            return Err(ServiceError::Refused("no common transport".into()));
        }
        self.transcript.responder = Some(msg);
        Ok(())
    }

    async fn handshake_init(&mut self, _to: Peer) -> Result<NoiseHandshake, ServiceError> {
        let key = EphemeralKey::generate();
        let ephemeral = key.public();
        self.ephemeral = Some(key);
        self.transcript.initiator_ephemeral = Some(ephemeral);
        // The transcript so far: the Responder's ephemeral is not known yet.
        let transcript = self.transcript.digest(&self.state.context_key)?;
        Ok(NoiseHandshake {
            ephemeral,
            transcript,
        })
    }

    async fn on_handshake_complete(
        &mut self,
        _from: Peer,
        msg: NoiseHandshake,
    ) -> Result<(), ServiceError> {
        let mine = (self.ephemeral.take()).ok_or(ServiceError::Missing("handshake"))?;
        let mut agreed = self.transcript.clone();
        agreed.responder_ephemeral = Some(msg.ephemeral);
        let key = agreed.channel_key(&self.state.context_key, mine, &msg.ephemeral)?;
        if crypto::ensure_eq(&msg.transcript, &responder_confirmation(&key)).is_err() {
            return Err(ServiceError::unverified(
                Check::Transcript,
                "the responder's handshake transcript",
            ));
        }
        self.transcript = agreed;
        let channel = self
            .transcript
            .channel(channel_id(&key), self.target, self.state.epoch)?;
        self.outcome = Some(RendezvousOutcome::Established(channel));
        Ok(())
    }

    async fn channel_established(
        &mut self,
        _to: Peer,
    ) -> Result<msg::ChannelEstablished, ServiceError> {
        match &self.outcome {
            Some(RendezvousOutcome::Established(channel)) => Ok(msg::ChannelEstablished {
                channel_id: channel.channel_id,
                epoch: channel.epoch,
            }),
            _ => Err(ServiceError::Missing("completed handshake")),
        }
    }
}

/// Runs the Initiator: connects to the peer `target`, whose descriptor it
/// found. Ends with the channel both peers recorded, or with the Responder's
/// reason when their versions are incompatible; a descriptor or handshake
/// that does not check out (on either side) cancels the exchange.
pub async fn run_initiator<T: Transport>(
    session: Session<'_, T>,
    state: &mut RendezvousState,
    target: Digest,
) -> Result<RendezvousOutcome, ServiceError> {
    let log = FactLog::of(&session);
    let mut code = InitiatorSession {
        state,
        target,
        transcript: Transcript::default(),
        ephemeral: None,
        outcome: None,
    };
    let run = choreo_rendezvous_exchange::execute_as(
        choreo_rendezvous_exchange::As::Initiator(&mut code),
        session,
        &choreo_rendezvous_exchange::Params::default(),
    )
    .await;
    let result = match run {
        Ok(_) => code.outcome.ok_or(ServiceError::Missing("version answer")),
        Err(e) => Err(e.into()),
    };
    finish(&log, &mut code.state.channels, result).await
}
