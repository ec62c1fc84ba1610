//! RendezvousExchange: direct connection between two reachable peers.
//!
//! Implements the seed entry **RendezvousExchange** (CHOREO-RDV-001, owner
//! `aura-rendezvous`, seed entry point `handlers/rendezvous_service.rs`).
//! Decision sourcing as the seed says: descriptors and discovery payloads
//! come from the rendezvous manager's state. The Responder negotiates the
//! version (the minimum of both, if each side's minimum allows it) and the
//! shared capabilities, as in the seed's version handshake, and picks the
//! address it will use among the transports the Initiator offers. Each side
//! checks the other's descriptor (context MAC, expiry, expected peer); both
//! derive the channel from the handshake transcript and record it only when
//! their transcripts agree. A failure travels in the payloads (no branch).

use choreo_rendezvous_exchange::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::ServiceError;

/// The Responder's answer to the version handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandshakeOutcome {
    /// Compatible: the version both use and the capabilities both have.
    Compatible {
        /// The minimum of both peers' versions.
        negotiated_version: u32,
        /// The capabilities both peers have, sorted.
        capabilities: Vec<String>,
    },
    /// Incompatible, with the Responder's version.
    Incompatible {
        /// Why.
        reason: String,
        /// The Responder's version.
        peer_version: u32,
    },
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
    /// Why the sender refuses the connection, if it does.
    pub refusal: Option<String>,
}

/// Binds the protocol's payload types to this module's.
pub struct RendezvousTypes;

impl choreo_rendezvous_exchange::Types for RendezvousTypes {
    type HandshakeOutcome = HandshakeOutcome;
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
    /// A connection attempt failed.
    Failed(String),
}

/// How an exchange ended, for either peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RendezvousOutcome {
    /// The channel both recorded.
    Established(SecureChannel),
    /// Why there is no channel.
    Failed(String),
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
        } else if mac != d.signature {
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

    fn finish(&mut self, result: Result<SecureChannel, String>) -> RendezvousOutcome {
        match result {
            Ok(channel) => {
                self.journal
                    .record(RendezvousFact::ChannelEstablished(channel.clone()));
                self.channels.push(channel.clone());
                RendezvousOutcome::Established(channel)
            }
            Err(why) => {
                self.journal.record(RendezvousFact::Failed(why.clone()));
                RendezvousOutcome::Failed(why)
            }
        }
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
    initiator_ephemeral: Digest,
}

impl Transcript {
    fn digest(&self, responder_ephemeral: &Digest) -> Digest {
        let sig =
            |d: &Option<TransportDescriptor>| d.as_ref().map(|d| d.signature).unwrap_or_default();
        let (a, b) = (sig(&self.initiator), sig(&self.responder));
        let v = self.version.to_le_bytes();
        let parts: [&[u8]; 6] = [
            &self.nonce,
            &v,
            &a,
            &b,
            &self.initiator_ephemeral,
            responder_ephemeral,
        ];
        crypto::digest("rendezvous/transcript", &parts)
    }
}

/// One exchange as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut RendezvousState,
    target: Digest,
    transcript: Transcript,
    failure: Option<String>,
    channel: Option<SecureChannel>,
}

impl choreo_rendezvous_exchange::Initiator<RendezvousTypes> for InitiatorSession<'_> {
    fn version_handshake_request(&mut self, _to: &Peer) -> msg::VersionHandshakeRequest {
        let v = &self.state.versions;
        msg::VersionHandshakeRequest {
            version: v.version,
            min_version: v.min_version,
            capabilities: v.capabilities.clone(),
            nonce: self.transcript.nonce,
        }
    }

    fn on_version_handshake_response(&mut self, _from: &Peer, msg: HandshakeOutcome) {
        match msg {
            HandshakeOutcome::Compatible {
                negotiated_version, ..
            } => {
                self.transcript.version = negotiated_version;
            }
            HandshakeOutcome::Incompatible { reason, .. } => {
                self.failure.get_or_insert(reason);
            }
        }
    }

    fn rendezvous_descriptor(&mut self, _to: &Peer) -> TransportDescriptor {
        let d = self.state.descriptor(self.state.addresses.clone());
        self.transcript.initiator = Some(d.clone());
        d
    }

    fn on_descriptor_reply(&mut self, _from: &Peer, msg: TransportDescriptor) {
        if let Some(why) = self.state.check(&msg, Some(&self.target)) {
            self.failure.get_or_insert(why);
        }
        self.transcript.responder = Some(msg);
    }

    fn handshake_init(&mut self, _to: &Peer) -> NoiseHandshake {
        let ephemeral = self.state.ephemeral(&self.transcript.nonce);
        self.transcript.initiator_ephemeral = ephemeral;
        // The transcript so far: the Responder's ephemeral is not known yet.
        let transcript = self.transcript.digest(&[0; 32]);
        NoiseHandshake {
            ephemeral,
            transcript,
            refusal: self.failure.clone(),
        }
    }

    fn on_handshake_complete(&mut self, _from: &Peer, msg: NoiseHandshake) {
        if let Some(why) = msg.refusal {
            self.failure.get_or_insert(why);
        } else if msg.transcript != self.transcript.digest(&msg.ephemeral) {
            self.failure.get_or_insert("transcripts differ".into());
        }
        if self.failure.is_none() {
            let address = self
                .transcript
                .responder
                .as_ref()
                .and_then(|d| d.addresses.first());
            self.channel = Some(SecureChannel {
                channel_id: msg.transcript,
                peer_id: self.target,
                address: address.cloned().unwrap_or_default(),
                version: self.transcript.version,
                epoch: self.state.epoch,
            });
        }
    }

    fn channel_established(&mut self, _to: &Peer) -> msg::ChannelEstablished {
        // An all-zero channel id tells the Responder that nothing was established.
        let channel_id = self
            .channel
            .as_ref()
            .map(|c| c.channel_id)
            .unwrap_or_default();
        msg::ChannelEstablished {
            channel_id,
            epoch: self.state.epoch,
        }
    }
}

/// Runs the Initiator: connects to the peer `target`, whose descriptor it found.
pub async fn run_initiator<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
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
    let mut session = InitiatorSession {
        state,
        target,
        transcript,
        failure: None,
        channel: None,
    };
    choreo_rendezvous_exchange::execute_as::<RendezvousTypes, _>(
        choreo_rendezvous_exchange::As::Initiator(&mut session),
        adapter,
        &choreo_rendezvous_exchange::Params::default(),
    )
    .await?;
    let result = match (session.channel, session.failure) {
        (Some(channel), _) => Ok(channel),
        (None, failure) => Err(failure.unwrap_or_else(|| "no channel".into())),
    };
    Ok(session.state.finish(result))
}

/// One exchange as the Responder plays it.
struct ResponderSession<'s> {
    state: &'s mut RendezvousState,
    request: Option<msg::VersionHandshakeRequest>,
    transcript: Transcript,
    peer: Option<Digest>,
    refusal: Option<String>,
    channel: Option<SecureChannel>,
}

impl ResponderSession<'_> {
    fn negotiate(&self) -> HandshakeOutcome {
        let mine = &self.state.versions;
        let Some(theirs) = &self.request else {
            let reason = "no handshake request".into();
            return HandshakeOutcome::Incompatible {
                reason,
                peer_version: mine.version,
            };
        };
        let version = mine.version.min(theirs.version);
        if version < mine.min_version.max(theirs.min_version) {
            let reason = format!(
                "no common version: peer speaks {}..={}",
                mine.min_version, mine.version
            );
            return HandshakeOutcome::Incompatible {
                reason,
                peer_version: mine.version,
            };
        }
        let mut capabilities: Vec<String> = (theirs.capabilities.iter())
            .filter(|c| mine.capabilities.contains(c))
            .cloned()
            .collect();
        capabilities.sort();
        HandshakeOutcome::Compatible {
            negotiated_version: version,
            capabilities,
        }
    }
}

impl choreo_rendezvous_exchange::Responder<RendezvousTypes> for ResponderSession<'_> {
    fn on_version_handshake_request(&mut self, _from: &Peer, msg: msg::VersionHandshakeRequest) {
        self.transcript.nonce = msg.nonce;
        self.request = Some(msg);
    }

    fn version_handshake_response(&mut self, _to: &Peer) -> HandshakeOutcome {
        let outcome = self.negotiate();
        match &outcome {
            HandshakeOutcome::Compatible {
                negotiated_version, ..
            } => {
                self.transcript.version = *negotiated_version;
            }
            HandshakeOutcome::Incompatible { reason, .. } => self.refusal = Some(reason.clone()),
        }
        outcome
    }

    fn on_rendezvous_descriptor(&mut self, _from: &Peer, msg: TransportDescriptor) {
        if let Some(why) = self.state.check(&msg, None) {
            self.refusal.get_or_insert(why);
        }
        self.peer = Some(msg.peer_id);
        self.transcript.initiator = Some(msg);
    }

    fn descriptor_reply(&mut self, _to: &Peer) -> TransportDescriptor {
        // The first of its own addresses over a transport the Initiator offers.
        let offered = self
            .transcript
            .initiator
            .as_ref()
            .map(|d| d.addresses.as_slice());
        let usable = (self.state.addresses.iter()).find(|a| {
            offered
                .unwrap_or_default()
                .iter()
                .any(|o| scheme(o) == scheme(a))
        });
        let d = self.state.descriptor(usable.cloned().into_iter().collect());
        self.transcript.responder = Some(d.clone());
        d
    }

    fn on_handshake_init(&mut self, _from: &Peer, msg: NoiseHandshake) {
        self.transcript.initiator_ephemeral = msg.ephemeral;
        if let Some(why) = msg.refusal {
            self.refusal.get_or_insert(why);
        } else if msg.transcript != self.transcript.digest(&[0; 32]) {
            self.refusal.get_or_insert("transcripts differ".into());
        }
    }

    fn handshake_complete(&mut self, _to: &Peer) -> NoiseHandshake {
        let ephemeral = self.state.ephemeral(&self.transcript.nonce);
        let transcript = self.transcript.digest(&ephemeral);
        NoiseHandshake {
            ephemeral,
            transcript,
            refusal: self.refusal.clone(),
        }
    }

    fn on_channel_established(&mut self, _from: &Peer, msg: msg::ChannelEstablished) {
        let ephemeral = self.state.ephemeral(&self.transcript.nonce);
        let agreed = msg.channel_id == self.transcript.digest(&ephemeral);
        if self.refusal.is_none() && agreed && msg.epoch == self.state.epoch {
            let address = self
                .transcript
                .responder
                .as_ref()
                .and_then(|d| d.addresses.first());
            self.channel = Some(SecureChannel {
                channel_id: msg.channel_id,
                peer_id: self.peer.unwrap_or_default(),
                address: address.cloned().unwrap_or_default(),
                version: self.transcript.version,
                epoch: msg.epoch,
            });
        }
    }
}

/// Runs the Responder: negotiates the version, answers with its descriptor,
/// completes the handshake and records the channel the Initiator confirms.
pub async fn run_responder<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut RendezvousState,
) -> Result<RendezvousOutcome, ServiceError> {
    let mut session = ResponderSession {
        state,
        request: None,
        transcript: Transcript::default(),
        peer: None,
        refusal: None,
        channel: None,
    };
    choreo_rendezvous_exchange::execute_as::<RendezvousTypes, _>(
        choreo_rendezvous_exchange::As::Responder(&mut session),
        adapter,
        &choreo_rendezvous_exchange::Params::default(),
    )
    .await?;
    let result = match (session.channel, session.refusal) {
        (Some(channel), _) => Ok(channel),
        (None, Some(why)) => Err(why),
        (None, None) => Err("the Initiator established no channel".into()),
    };
    Ok(session.state.finish(result))
}
