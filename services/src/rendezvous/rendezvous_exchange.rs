//! RendezvousExchange: direct connection between two reachable peers.
//!
//! Implements the seed entry **RendezvousExchange** (CHOREO-RDV-001, owner
//! `aura-rendezvous`, seed entry point `handlers/rendezvous_service.rs`).
//! Decision sourcing as the seed says: descriptors and discovery payloads
//! come from the rendezvous manager's state. The Responder negotiates the
//! version (the minimum of both, if each side's minimum allows it) and the
//! shared capabilities, as in the seed's version handshake: when there is no
//! common version it takes the protocol's `Incompatible` branch, telling the
//! Initiator why and which versions it speaks, and the exchange ends there.
//! Otherwise it picks the address it will use among the transports the
//! Initiator offers. Each side checks the other's descriptor (context MAC,
//! expiry, expected peer) and handshake transcript; one that does not check
//! out makes that side refuse, which cancels the session for both. Both
//! derive the channel from the handshake transcript and record it.
//!
//! # Who learns what
//!
//! - Descriptors (addresses, expiry) are public to outsiders as the
//!   protocol says (`leak = "External"`), authenticated by a keyed BLAKE3
//!   MAC under the context key; handshake transcripts are BLAKE3 digests of
//!   everything exchanged. Both are compared in constant time.
//! - Not yet done: the handshake's ephemeral values are not X25519 keys
//!   (no Noise handshake), so the channel id is agreed, not secret.

use choreo_rendezvous_exchange::choice::CompatibleOrIncompatible;
use choreo_rendezvous_exchange::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::stand_in::Journal;
use crate::ServiceError;

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
    /// When the descriptor stops being valid.
    pub expires_at: u64,
    /// MAC under the rendezvous context key.
    pub signature: Digest,
}

/// One message of the key agreement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseHandshake {
    /// The sender's ephemeral public value.
    pub ephemeral: Digest,
    /// Digest of the transcript so far, as the sender saw it.
    pub transcript: Digest,
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
    /// The channel (digest of the agreed transcript).
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

/// A fact of rendezvous.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RendezvousFact {
    /// A channel was established.
    ChannelEstablished(SecureChannel),
    /// The peers speak no common version.
    Incompatible(String),
    /// A connection attempt failed (this side refused, or the other cancelled).
    Failed(String),
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
    /// Secret for its ephemeral values.
    pub secret: Digest,
    /// The shared rendezvous context: its key and epoch.
    pub context_key: Digest,
    /// The context's epoch.
    pub epoch: u64,
    /// How long its descriptors stay valid.
    pub descriptor_ttl: u64,
    /// The current time.
    pub now: u64,
    /// Channels established so far.
    pub channels: Vec<SecureChannel>,
    /// Facts of every exchange.
    pub journal: Journal<RendezvousFact>,
}

impl RendezvousState {
    fn descriptor(&self, addresses: Vec<String>) -> TransportDescriptor {
        let expires_at = self.now + self.descriptor_ttl;
        let signature = descriptor_mac(&self.context_key, &self.peer_id, &addresses, expires_at);
        TransportDescriptor {
            peer_id: self.peer_id,
            addresses,
            expires_at,
            signature,
        }
    }

    /// Why `d` is not acceptable from `expected`, if it is not.
    fn check(&self, d: &TransportDescriptor, expected: Option<&Digest>) -> Option<String> {
        let mac = descriptor_mac(&self.context_key, &d.peer_id, &d.addresses, d.expires_at);
        if expected.is_some_and(|e| *e != d.peer_id) {
            Some("descriptor of an unexpected peer".into())
        } else if crypto::ensure_eq(&mac, &d.signature).is_err() {
            Some("descriptor signature does not verify".into())
        } else if d.expires_at < self.now {
            Some("descriptor has expired".into())
        } else if d.addresses.is_empty() {
            Some("no common transport".into())
        } else {
            None
        }
    }

    fn ephemeral(&self, nonce: &Digest) -> Digest {
        crypto::digest("rendezvous/ephemeral", &[&self.secret, nonce])
    }

    /// Records how the exchange ended and returns it.
    fn finish(
        &mut self,
        result: Result<RendezvousOutcome, ServiceError>,
    ) -> Result<RendezvousOutcome, ServiceError> {
        let fact = match &result {
            Ok(RendezvousOutcome::Established(channel)) => {
                self.channels.push(channel.clone());
                RendezvousFact::ChannelEstablished(channel.clone())
            }
            Ok(RendezvousOutcome::Incompatible { reason, .. }) => {
                RendezvousFact::Incompatible(reason.clone())
            }
            Err(e) => RendezvousFact::Failed(e.reason()),
        };
        self.journal.record(fact);
        result
    }
}

fn descriptor_mac(key: &Digest, peer: &Digest, addresses: &[String], expires: u64) -> Digest {
    let joined = addresses.join("\n");
    crypto::mac(key, &[peer, joined.as_bytes(), &expires.to_le_bytes()])
}

fn scheme(address: &str) -> &str {
    address.split("://").next().unwrap_or_default()
}

/// What both sides digest into the transcript, in protocol order.
#[derive(Default)]
struct Transcript {
    nonce: Digest,
    version: u32,
    initiator: Option<TransportDescriptor>,
    responder: Option<TransportDescriptor>,
    initiator_ephemeral: Option<Digest>,
}

impl Transcript {
    /// The digest of the transcript with the Responder's ephemeral, once
    /// both descriptors are in (`None` for the Initiator's own view before
    /// the Responder's ephemeral is known).
    fn digest(&self, responder_ephemeral: Option<&Digest>) -> Result<Digest, ServiceError> {
        let (Some(a), Some(b)) = (&self.initiator, &self.responder) else {
            return Err(ServiceError::Missing("transport descriptor"));
        };
        let mine = self
            .initiator_ephemeral
            .ok_or(ServiceError::Missing("handshake"))?;
        let v = self.version.to_le_bytes();
        let mut parts: Vec<&[u8]> = vec![&self.nonce, &v, &a.signature, &b.signature, &mine];
        if let Some(theirs) = responder_ephemeral {
            parts.push(theirs);
        }
        Ok(crypto::digest("rendezvous/transcript", &parts))
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
        Ok(SecureChannel {
            channel_id,
            peer_id,
            address: address.clone(),
            version: self.version,
            epoch,
        })
    }
}

/// One exchange as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut RendezvousState,
    target: Digest,
    transcript: Transcript,
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
        Ok(msg::VersionHandshakeRequest {
            version: v.version,
            min_version: v.min_version,
            capabilities: v.capabilities.clone(),
            nonce: self.transcript.nonce,
        })
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
        self.transcript.version = msg.negotiated_version;
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
        if let Some(why) = self.state.check(&msg, Some(&self.target)) {
            return Err(ServiceError::Refused(why));
        }
        self.transcript.responder = Some(msg);
        Ok(())
    }

    async fn handshake_init(&mut self, _to: Peer) -> Result<NoiseHandshake, ServiceError> {
        let ephemeral = self.state.ephemeral(&self.transcript.nonce);
        self.transcript.initiator_ephemeral = Some(ephemeral);
        // The transcript so far: the Responder's ephemeral is not known yet.
        let transcript = self.transcript.digest(None)?;
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
        if crypto::ensure_eq(
            &msg.transcript,
            &self.transcript.digest(Some(&msg.ephemeral))?,
        )
        .is_err()
        {
            return Err(ServiceError::Refused("transcripts differ".into()));
        }
        let channel = self
            .transcript
            .channel(msg.transcript, self.target, self.state.epoch)?;
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
    let nonce = crypto::digest(
        "rendezvous/nonce",
        &[&state.secret, &state.now.to_le_bytes()],
    );
    let transcript = Transcript {
        nonce,
        ..Transcript::default()
    };
    let mut code = InitiatorSession {
        state,
        target,
        transcript,
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
    code.state.finish(result)
}

/// One exchange as the Responder plays it.
struct ResponderSession<'s> {
    state: &'s mut RendezvousState,
    request: Option<msg::VersionHandshakeRequest>,
    transcript: Transcript,
    peer: Option<Digest>,
    outcome: Option<RendezvousOutcome>,
}

impl ResponderSession<'_> {
    /// The negotiated version (`Ok`), or why there is no common one (`Err`).
    fn negotiate(&self) -> Result<Result<NegotiatedVersion, String>, ServiceError> {
        let mine = &self.state.versions;
        let theirs = self
            .request
            .as_ref()
            .ok_or(ServiceError::Missing("version handshake request"))?;
        let version = mine.version.min(theirs.version);
        if version < mine.min_version.max(theirs.min_version) {
            return Ok(Err(format!(
                "no common version: peer speaks {}..={}",
                mine.min_version, mine.version
            )));
        }
        let mut capabilities: Vec<String> = (theirs.capabilities.iter())
            .filter(|c| mine.capabilities.contains(c))
            .cloned()
            .collect();
        capabilities.sort();
        Ok(Ok(NegotiatedVersion {
            negotiated_version: version,
            capabilities,
        }))
    }
}

impl choreo_rendezvous_exchange::Responder for ResponderSession<'_> {
    type Types = RendezvousTypes;
    type Error = ServiceError;

    async fn on_version_handshake_request(
        &mut self,
        _from: Peer,
        msg: msg::VersionHandshakeRequest,
    ) -> Result<(), ServiceError> {
        self.transcript.nonce = msg.nonce;
        self.request = Some(msg);
        Ok(())
    }

    async fn choose_compatible_or_incompatible(
        &mut self,
    ) -> Result<CompatibleOrIncompatible, ServiceError> {
        Ok(match self.negotiate()? {
            Ok(_) => CompatibleOrIncompatible::Compatible,
            Err(_) => CompatibleOrIncompatible::Incompatible,
        })
    }

    async fn version_incompatible(
        &mut self,
        _to: Peer,
    ) -> Result<msg::VersionIncompatible, ServiceError> {
        let Err(reason) = self.negotiate()? else {
            return Err(ServiceError::Invalid(
                "asked to refuse a compatible version".into(),
            ));
        };
        let mine = &self.state.versions;
        self.outcome = Some(RendezvousOutcome::Incompatible {
            reason: reason.clone(),
            version: mine.version,
            min_version: mine.min_version,
        });
        Ok(msg::VersionIncompatible {
            reason,
            version: mine.version,
            min_version: mine.min_version,
        })
    }

    async fn version_handshake_response(
        &mut self,
        _to: Peer,
    ) -> Result<NegotiatedVersion, ServiceError> {
        let negotiated = self
            .negotiate()?
            .map_err(|_| ServiceError::Invalid("asked to accept an incompatible version".into()))?;
        self.transcript.version = negotiated.negotiated_version;
        Ok(negotiated)
    }

    async fn on_rendezvous_descriptor(
        &mut self,
        _from: Peer,
        msg: TransportDescriptor,
    ) -> Result<(), ServiceError> {
        if let Some(why) = self.state.check(&msg, None) {
            return Err(ServiceError::Refused(why));
        }
        self.peer = Some(msg.peer_id);
        self.transcript.initiator = Some(msg);
        Ok(())
    }

    async fn descriptor_reply(&mut self, _to: Peer) -> Result<TransportDescriptor, ServiceError> {
        // The first of its own addresses over a transport the Initiator offers.
        let offered = self
            .transcript
            .initiator
            .as_ref()
            .ok_or(ServiceError::Missing("transport descriptor"))?;
        let usable = (self.state.addresses.iter())
            .find(|a| offered.addresses.iter().any(|o| scheme(o) == scheme(a)))
            .ok_or_else(|| ServiceError::Refused("no common transport".into()))?;
        let d = self.state.descriptor(vec![usable.clone()]);
        self.transcript.responder = Some(d.clone());
        Ok(d)
    }

    async fn on_handshake_init(
        &mut self,
        _from: Peer,
        msg: NoiseHandshake,
    ) -> Result<(), ServiceError> {
        self.transcript.initiator_ephemeral = Some(msg.ephemeral);
        if crypto::ensure_eq(&msg.transcript, &self.transcript.digest(None)?).is_err() {
            return Err(ServiceError::Refused("transcripts differ".into()));
        }
        Ok(())
    }

    async fn handshake_complete(&mut self, _to: Peer) -> Result<NoiseHandshake, ServiceError> {
        let ephemeral = self.state.ephemeral(&self.transcript.nonce);
        let transcript = self.transcript.digest(Some(&ephemeral))?;
        Ok(NoiseHandshake {
            ephemeral,
            transcript,
        })
    }

    async fn on_channel_established(
        &mut self,
        _from: Peer,
        msg: msg::ChannelEstablished,
    ) -> Result<(), ServiceError> {
        let ephemeral = self.state.ephemeral(&self.transcript.nonce);
        if msg.channel_id != self.transcript.digest(Some(&ephemeral))? {
            return Err(ServiceError::Refused(
                "the confirmed channel is not the agreed one".into(),
            ));
        }
        if msg.epoch != self.state.epoch {
            return Err(ServiceError::Refused(format!(
                "channel for epoch {}, the context is at {}",
                msg.epoch, self.state.epoch
            )));
        }
        let peer = self
            .peer
            .ok_or(ServiceError::Missing("transport descriptor"))?;
        let channel = self.transcript.channel(msg.channel_id, peer, msg.epoch)?;
        self.outcome = Some(RendezvousOutcome::Established(channel));
        Ok(())
    }
}

/// Runs the Responder: negotiates the version (ending the exchange when
/// there is no common one), answers with its descriptor, completes the
/// handshake and records the channel the Initiator confirms.
pub async fn run_responder<T: Transport>(
    session: Session<'_, T>,
    state: &mut RendezvousState,
) -> Result<RendezvousOutcome, ServiceError> {
    let mut code = ResponderSession {
        state,
        request: None,
        transcript: Transcript::default(),
        peer: None,
        outcome: None,
    };
    let run = choreo_rendezvous_exchange::execute_as(
        choreo_rendezvous_exchange::As::Responder(&mut code),
        session,
        &choreo_rendezvous_exchange::Params::default(),
    )
    .await;
    let result = match run {
        Ok(_) => code
            .outcome
            .ok_or(ServiceError::Missing("channel confirmation")),
        Err(e) => Err(e.into()),
    };
    code.state.finish(result)
}
