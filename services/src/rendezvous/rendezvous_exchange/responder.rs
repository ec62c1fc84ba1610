//! The Responder's side of RendezvousExchange: negotiates the version,
//! answers with its descriptor, agrees the channel key and checks the
//! Initiator's channel id.

use choreo_rendezvous_exchange::choice::CompatibleOrIncompatible;
use choreo_rendezvous_exchange::msg;
use choreo_runtime::{Peer, Session, Transport};

use super::{
    channel_id, finish, responder_confirmation, scheme, NegotiatedVersion, NoiseHandshake,
    RendezvousOutcome, RendezvousState, RendezvousTypes, Transcript, TransportDescriptor,
};
use crate::crypto::{self, EphemeralKey, SecretKey};
use crate::error::Check;
use crate::journal::FactLog;
use crate::ServiceError;

/// One exchange as the Responder plays it.
struct ResponderSession<'s> {
    state: &'s mut RendezvousState,
    transcript: Transcript,
    /// The channel key this side agreed, whose channel id is to be confirmed.
    agreed: Option<SecretKey>,
    outcome: Option<RendezvousOutcome>,
}

impl ResponderSession<'_> {
    /// The negotiated version (`Ok`), or why there is no common one (`Err`).
    fn negotiate(&self) -> Result<Result<NegotiatedVersion, String>, ServiceError> {
        let mine = &self.state.versions;
        let theirs = (self.transcript.request.as_ref())
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
        if self.state.seen_nonces.contains(&msg.nonce) {
            return Err(ServiceError::unverified(
                Check::Nonce,
                "the initiator's nonce was used before",
            ));
        }
        self.state.seen_nonces.push(msg.nonce);
        self.transcript.request = Some(msg);
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
        self.transcript.negotiated = Some(negotiated.clone());
        Ok(negotiated)
    }

    async fn on_rendezvous_descriptor(
        &mut self,
        _from: Peer,
        msg: TransportDescriptor,
    ) -> Result<(), ServiceError> {
        self.state.check(&msg, None)?;
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
        let mut seen = self.transcript.clone();
        seen.initiator_ephemeral = Some(msg.ephemeral);
        let expected = seen.digest(&self.state.context_key)?;
        if crypto::ensure_eq(&msg.transcript, &expected).is_err() {
            return Err(ServiceError::unverified(
                Check::Transcript,
                "the initiator's handshake transcript",
            ));
        }
        let mine = EphemeralKey::generate();
        seen.responder_ephemeral = Some(mine.public());
        let key = seen.channel_key(&self.state.context_key, mine, &msg.ephemeral)?;
        self.transcript = seen;
        self.agreed = Some(key);
        Ok(())
    }

    async fn handshake_complete(&mut self, _to: Peer) -> Result<NoiseHandshake, ServiceError> {
        let ephemeral =
            (self.transcript.responder_ephemeral).ok_or(ServiceError::Missing("handshake"))?;
        let key = self
            .agreed
            .as_ref()
            .ok_or(ServiceError::Missing("handshake"))?;
        Ok(NoiseHandshake {
            ephemeral,
            transcript: responder_confirmation(key),
        })
    }

    async fn on_channel_established(
        &mut self,
        _from: Peer,
        msg: msg::ChannelEstablished,
    ) -> Result<(), ServiceError> {
        let key = self
            .agreed
            .as_ref()
            .ok_or(ServiceError::Missing("handshake"))?;
        let agreed = channel_id(key);
        if crypto::ensure_eq(&msg.channel_id, &agreed).is_err() {
            return Err(ServiceError::unverified(
                Check::Transcript,
                "the confirmed channel is not the agreed one",
            ));
        }
        if msg.epoch != self.state.epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!(
                    "channel for epoch {}, the context is at {}",
                    msg.epoch, self.state.epoch
                ),
            ));
        }
        let peer = (self.transcript.initiator.as_ref())
            .map(|d| d.peer_id)
            .ok_or(ServiceError::Missing("transport descriptor"))?;
        let channel = self.transcript.channel(agreed, peer, msg.epoch)?;
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
    let log = FactLog::of(&session);
    let mut code = ResponderSession {
        state,
        transcript: Transcript::default(),
        agreed: None,
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
    finish(&log, &mut code.state.channels, result).await
}
