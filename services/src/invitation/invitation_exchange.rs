//! InvitationExchange: turn an out-of-band invitation into a contact.
//!
//! Implements the seed entry **InvitationExchange** (CHOREO-INV-001, owner
//! `aura-invitation`, seed entry point `handlers/invitation_service.rs`).
//! Decision sourcing as the seed says: the invitation payload comes from
//! parameters and local facts. The Receiver accepts only an offer that
//! proves one of the codes it was given out of band, before expiry, from a
//! sender it has not blocked; a blocked sender is its policy's decline, a
//! refusal that cancels the exchange and tells the Sender why. Contact
//! descriptors are exchanged only after an acceptance, and both sides record
//! the relational context only when they derived the same one.
//!
//! # Checks
//!
//! Each side commits in phase 1, under a MAC keyed by the invitation code,
//! to the descriptor it will send in phase 2. A peer's value that fails one
//! of these cancels the exchange, and the checking role records nothing of
//! that step ([`ServiceError::Unverified`]):
//!
//! - Receiver, the offer: its proof is a MAC under one of the Receiver's
//!   codes ([`Check::Mac`]), and it has not expired ([`Check::Epoch`]).
//! - Sender, the response: it answers this offer ([`Check::Binding`]), and
//!   its proof, a MAC under the code over the offer's proof and the
//!   Receiver's descriptor commitment, verifies ([`Check::Mac`]): only a
//!   holder of the code can accept.
//! - Both, the descriptors: each is the one its sender committed to
//!   ([`Check::Commitment`]); the Sender's names the inviting user
//!   ([`Check::Binding`]).
//! - Receiver, the relationship: at the offer's epoch ([`Check::Epoch`]),
//!   in the context it derives itself ([`Check::Transcript`]); Sender, the
//!   acknowledgement: in the same context ([`Check::Transcript`]).
//!
//! # Who learns what
//!
//! - External observers see the offer once (`leak = "External"`, budget
//!   `[1, 0, 0]`): that the sender invites someone, the invitation id (fresh
//!   random), the descriptor commitment and the MAC. The code never travels;
//!   the MACs are keyed BLAKE3 under a key derived from it
//!   ([`crypto::SecretKey`], zeroized, also how the Receiver stores its
//!   codes: [`code_key`]).
//! - The Receiver learns the Sender's descriptor, and the Sender the
//!   Receiver's, only after the Receiver accepted with a valid proof; they
//!   travel between the two parties only (no `leak` annotation).
//!
//! # Limitation: the code is guessable offline
//!
//! Whoever sees the offer (an external observer included) holds a MAC under
//! the code and can test guesses offline; a low-entropy code (a few words,
//! a short number) falls to that quickly, and the guesser can then answer as
//! the Receiver. A real fix needs a PAKE (for example CPace or SPAKE2), in
//! which a transcript gives one online guess per run and nothing offline;
//! until then, codes must carry enough entropy (say 128 bits, as a QR
//! code does) or be used only over a channel observers do not see.

use choreo_invitation_exchange::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest, SecretKey};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::ServiceError;

/// The offer presented to the Receiver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationOffer {
    /// The invitation (random, fresh per invitation).
    pub invitation_id: Digest,
    /// The inviting user.
    pub sender_id: Digest,
    /// Commitment to the descriptor the Sender will send ([`descriptor_digest`]).
    pub descriptor: Digest,
    /// The epoch the new context starts at.
    pub epoch: u64,
    /// When the invitation expires.
    pub expires_at: u64,
    /// MAC under the code's key over all of the above.
    pub proof: Digest,
}

/// The Receiver's acceptance (it declines by refusing the offer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationResponse {
    /// The invitation accepted.
    pub invitation_id: Digest,
    /// Commitment to the descriptor the Receiver will send.
    pub descriptor: Digest,
    /// MAC under the code's key over the offer's proof and the commitment.
    pub proof: Digest,
}

/// What a user tells a new contact about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDescriptor {
    /// The user's id.
    pub id: Digest,
    /// The name it goes by.
    pub nickname: String,
    /// Its public key.
    pub public_key: Digest,
    /// Where it can be found (rendezvous hints).
    pub hints: Vec<String>,
}

/// Binds the protocol's payload types to this module's.
pub struct InvitationTypes;

impl choreo_invitation_exchange::Types for InvitationTypes {
    type InvitationOffer = InvitationOffer;
    type InvitationResponse = InvitationResponse;
    type ContactDescriptor = ContactDescriptor;
}

/// A contact and the relational context shared with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// What the contact told about itself.
    pub descriptor: ContactDescriptor,
    /// The shared relational context.
    pub context_id: Digest,
    /// The context's epoch.
    pub epoch: u64,
}

/// A fact of invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvitationFact {
    /// An invitation was accepted (`Ok`) or declined, with the reason.
    Answered(Digest, Result<(), String>),
    /// A relationship was established.
    Established(Contact),
}

impl DomainFact for InvitationFact {
    const PROTOCOL: &'static str = "InvitationExchange";

    fn kind(&self) -> &'static str {
        match self {
            InvitationFact::Answered(..) => "Answered",
            InvitationFact::Established(..) => "Established",
        }
    }
}

/// A user's invitation state, for either role.
#[derive(Clone, Debug)]
pub struct UserState {
    /// What this user tells new contacts.
    pub profile: ContactDescriptor,
    /// The current time.
    pub now: u64,
    /// Keys of the codes received out of band (for the Receiver): [`code_key`].
    pub received_codes: Vec<SecretKey>,
    /// Users it refuses invitations from.
    pub blocked: Vec<Digest>,
    /// Its contacts.
    pub contacts: Vec<Contact>,
}

/// An invitation the Sender issued (the code travels out of band).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedInvitation {
    /// The code shown as text or QR.
    pub code: String,
    /// When it expires.
    pub expires_at: u64,
    /// The epoch the new context starts at.
    pub epoch: u64,
}

const OFFER: &[u8] = b"choreo-services/invitation/offer";
const RESPONSE: &[u8] = b"choreo-services/invitation/response";

/// The MAC key of an invitation code (what a Receiver keeps of a code).
pub fn code_key(code: &str) -> SecretKey {
    SecretKey::derive("choreo-services/invitation/code", &[code.as_bytes()])
}

/// The commitment to a descriptor: the digest of its encoding.
pub fn descriptor_digest(descriptor: &ContactDescriptor) -> Digest {
    crypto::digest(
        "choreo-services/invitation/descriptor",
        &[&crypto::encode(descriptor)],
    )
}

/// The parts the offer's proof covers.
fn offer_parts(offer: &InvitationOffer) -> [Vec<u8>; 6] {
    [
        OFFER.to_vec(),
        offer.invitation_id.to_vec(),
        offer.sender_id.to_vec(),
        offer.descriptor.to_vec(),
        offer.epoch.to_le_bytes().to_vec(),
        offer.expires_at.to_le_bytes().to_vec(),
    ]
}

/// The proof of `offer` under `key`.
pub fn offer_proof(key: &SecretKey, offer: &InvitationOffer) -> Digest {
    let [a, b, c, d, e, f] = offer_parts(offer);
    crypto::mac(key.expose(), &[&a, &b, &c, &d, &e, &f])
}

/// The proof of an answer to `offer` committing to `descriptor`, under `key`.
pub fn response_proof(key: &SecretKey, offer: &InvitationOffer, descriptor: &Digest) -> Digest {
    crypto::mac(
        key.expose(),
        &[RESPONSE, &offer.invitation_id, &offer.proof, descriptor],
    )
}

/// The context both sides derive from the offer and the two commitments.
fn context_id(offer: &InvitationOffer, receiver: &Digest) -> Digest {
    crypto::digest(
        "choreo-services/invitation/context",
        &[
            &offer.invitation_id,
            &offer.descriptor,
            receiver,
            &offer.epoch.to_le_bytes(),
        ],
    )
}

/// A commitment-check failure of `whose` descriptor.
fn uncommitted(whose: &str) -> ServiceError {
    ServiceError::unverified(
        Check::Commitment,
        format!("{whose} descriptor is not the one committed to"),
    )
}

/// One exchange as the Sender plays it.
struct SenderSession<'s> {
    state: &'s mut UserState,
    log: FactLog,
    key: SecretKey,
    offer: InvitationOffer,
    /// The Receiver's commitment, once it answered.
    answer: Option<Digest>,
    contact: Option<Contact>,
    acked: bool,
}

impl choreo_invitation_exchange::Sender for SenderSession<'_> {
    type Types = InvitationTypes;
    type Error = ServiceError;

    async fn invitation_offer(&mut self, _to: Peer) -> Result<InvitationOffer, ServiceError> {
        Ok(self.offer.clone())
    }

    async fn on_invitation_response(
        &mut self,
        _from: Peer,
        msg: InvitationResponse,
    ) -> Result<(), ServiceError> {
        if msg.invitation_id != self.offer.invitation_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "an answer to another invitation",
            ));
        }
        let expected = response_proof(&self.key, &self.offer, &msg.descriptor);
        if crypto::ensure_eq(&expected, &msg.proof).is_err() {
            return Err(ServiceError::unverified(
                Check::Mac,
                "the answer's invitation code proof",
            ));
        }
        let fact = InvitationFact::Answered(self.offer.invitation_id, Ok(()));
        self.log.record(fact).await?;
        self.answer = Some(msg.descriptor);
        Ok(())
    }

    async fn contact_descriptor(&mut self, _to: Peer) -> Result<ContactDescriptor, ServiceError> {
        Ok(self.state.profile.clone())
    }

    async fn on_contact_descriptor_reply(
        &mut self,
        _from: Peer,
        msg: ContactDescriptor,
    ) -> Result<(), ServiceError> {
        let committed = self
            .answer
            .ok_or(ServiceError::Missing("invitation response"))?;
        if crypto::ensure_eq(&descriptor_digest(&msg), &committed).is_err() {
            return Err(uncommitted("the receiver's"));
        }
        self.contact = Some(Contact {
            descriptor: msg,
            context_id: context_id(&self.offer, &committed),
            epoch: self.offer.epoch,
        });
        Ok(())
    }

    async fn relationship_established(
        &mut self,
        _to: Peer,
    ) -> Result<msg::RelationshipEstablished, ServiceError> {
        let contact = self
            .contact
            .as_ref()
            .ok_or(ServiceError::Missing("contact descriptor"))?;
        Ok(msg::RelationshipEstablished {
            context_id: contact.context_id,
            epoch: contact.epoch,
        })
    }

    async fn on_invitation_ack(
        &mut self,
        _from: Peer,
        msg: msg::InvitationAck,
    ) -> Result<(), ServiceError> {
        let ours = self
            .contact
            .as_ref()
            .ok_or(ServiceError::Missing("contact descriptor"))?;
        if crypto::ensure_eq(&ours.context_id, &msg.context_id).is_err() {
            return Err(ServiceError::unverified(
                Check::Transcript,
                "the receiver acknowledges another context",
            ));
        }
        self.acked = true;
        Ok(())
    }
}

/// Runs the Sender: presents `invitation`, and on acceptance exchanges
/// descriptors and records the new contact. A declined invitation ends as
/// the Receiver's cancellation, with its reason recorded.
pub async fn run_sender<T: Transport>(
    session: Session<'_, T>,
    state: &mut UserState,
    invitation: IssuedInvitation,
) -> Result<Contact, ServiceError> {
    let log = FactLog::of(&session);
    let key = code_key(&invitation.code);
    let mut offer = InvitationOffer {
        invitation_id: crypto::random(),
        sender_id: state.profile.id,
        descriptor: descriptor_digest(&state.profile),
        epoch: invitation.epoch,
        expires_at: invitation.expires_at,
        proof: [0; 32],
    };
    offer.proof = offer_proof(&key, &offer);
    let invitation_id = offer.invitation_id;
    let mut code = SenderSession {
        state,
        log: log.clone(),
        key,
        offer,
        answer: None,
        contact: None,
        acked: false,
    };
    let run = choreo_invitation_exchange::execute_as(
        choreo_invitation_exchange::As::Sender(&mut code),
        session,
        &choreo_invitation_exchange::Params::default(),
    )
    .await;
    let SenderSession {
        state,
        answer,
        contact,
        acked,
        ..
    } = code;
    if let Err(e) = run {
        let e = ServiceError::from(e);
        if answer.is_none() && e.cancelled_by() == Some(Peer::role("Receiver")) {
            let declined = InvitationFact::Answered(invitation_id, Err(e.reason()));
            log.record(declined).await?;
        }
        return Err(e);
    }
    match (contact, acked) {
        (Some(contact), true) => establish(&log, state, contact).await,
        _ => Err(ServiceError::Missing("invitation acknowledgement")),
    }
}

/// Records the new contact and returns it.
async fn establish(
    log: &FactLog,
    state: &mut UserState,
    contact: Contact,
) -> Result<Contact, ServiceError> {
    log.record(InvitationFact::Established(contact.clone()))
        .await?;
    state.contacts.push(contact.clone());
    Ok(contact)
}

/// One exchange as the Receiver plays it.
struct ReceiverSession<'s> {
    state: &'s mut UserState,
    log: FactLog,
    /// The accepted offer, and the key of the code it proves.
    offer: Option<(InvitationOffer, SecretKey)>,
    peer: Option<ContactDescriptor>,
    contact: Option<Contact>,
}

impl ReceiverSession<'_> {
    fn offer(&self) -> Result<&(InvitationOffer, SecretKey), ServiceError> {
        self.offer
            .as_ref()
            .ok_or(ServiceError::Missing("invitation offer"))
    }

    /// The key of the received code `offer` proves, if any.
    fn code_of(&self, offer: &InvitationOffer) -> Option<SecretKey> {
        (self.state.received_codes.iter())
            .find(|key| crypto::ensure_eq(&offer_proof(key, offer), &offer.proof).is_ok())
            .cloned()
    }
}

impl choreo_invitation_exchange::Receiver for ReceiverSession<'_> {
    type Types = InvitationTypes;
    type Error = ServiceError;

    async fn on_invitation_offer(
        &mut self,
        _from: Peer,
        msg: InvitationOffer,
    ) -> Result<(), ServiceError> {
        let key = self.code_of(&msg).ok_or_else(|| {
            ServiceError::unverified(Check::Mac, "the offer's invitation code proof")
        })?;
        if self.state.now > msg.expires_at {
            return Err(ServiceError::unverified(
                Check::Epoch,
                "an expired invitation",
            ));
        }
        let verdict = if self.state.blocked.contains(&msg.sender_id) {
            Err("sender is blocked".to_string())
        } else {
            Ok(())
        };
        let fact = InvitationFact::Answered(msg.invitation_id, verdict.clone());
        self.log.record(fact).await?;
        verdict.map_err(ServiceError::Refused)?;
        self.offer = Some((msg, key));
        Ok(())
    }

    async fn invitation_response(&mut self, _to: Peer) -> Result<InvitationResponse, ServiceError> {
        let (offer, key) = self.offer()?;
        let descriptor = descriptor_digest(&self.state.profile);
        Ok(InvitationResponse {
            invitation_id: offer.invitation_id,
            descriptor,
            proof: response_proof(key, offer, &descriptor),
        })
    }

    async fn on_contact_descriptor(
        &mut self,
        _from: Peer,
        msg: ContactDescriptor,
    ) -> Result<(), ServiceError> {
        let (offer, _) = self.offer()?;
        if msg.id != offer.sender_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "the descriptor is not the inviting user's",
            ));
        }
        if crypto::ensure_eq(&descriptor_digest(&msg), &offer.descriptor).is_err() {
            return Err(uncommitted("the sender's"));
        }
        self.peer = Some(msg);
        Ok(())
    }

    async fn contact_descriptor_reply(
        &mut self,
        _to: Peer,
    ) -> Result<ContactDescriptor, ServiceError> {
        Ok(self.state.profile.clone())
    }

    async fn on_relationship_established(
        &mut self,
        _from: Peer,
        msg: msg::RelationshipEstablished,
    ) -> Result<(), ServiceError> {
        let (offer, _) = self.offer()?;
        let peer = self
            .peer
            .as_ref()
            .ok_or(ServiceError::Missing("contact descriptor"))?;
        if msg.epoch != offer.epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                "a relationship at another epoch than offered",
            ));
        }
        let expected = context_id(offer, &descriptor_digest(&self.state.profile));
        if crypto::ensure_eq(&expected, &msg.context_id).is_err() {
            return Err(ServiceError::unverified(
                Check::Transcript,
                "the sender derived another context",
            ));
        }
        self.contact = Some(Contact {
            descriptor: peer.clone(),
            context_id: msg.context_id,
            epoch: msg.epoch,
        });
        Ok(())
    }

    async fn invitation_ack(&mut self, _to: Peer) -> Result<msg::InvitationAck, ServiceError> {
        let contact = self
            .contact
            .as_ref()
            .ok_or(ServiceError::Missing("relationship"))?;
        Ok(msg::InvitationAck {
            context_id: contact.context_id,
        })
    }
}

/// Runs the Receiver: accepts the presented offer from its codes and block
/// list (declining, and so cancelling the exchange, otherwise), and on
/// acceptance records the new contact.
pub async fn run_receiver<T: Transport>(
    session: Session<'_, T>,
    state: &mut UserState,
) -> Result<Contact, ServiceError> {
    let log = FactLog::of(&session);
    let mut code = ReceiverSession {
        state,
        log: log.clone(),
        offer: None,
        peer: None,
        contact: None,
    };
    choreo_invitation_exchange::execute_as(
        choreo_invitation_exchange::As::Receiver(&mut code),
        session,
        &choreo_invitation_exchange::Params::default(),
    )
    .await?;
    let contact = code.contact.ok_or(ServiceError::Missing("relationship"))?;
    establish(&log, code.state, contact).await
}
