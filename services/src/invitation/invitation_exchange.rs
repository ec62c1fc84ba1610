//! InvitationExchange: turn an out-of-band invitation into a contact.
//!
//! Implements the seed entry **InvitationExchange** (CHOREO-INV-001, owner
//! `aura-invitation`, seed entry point `handlers/invitation_service.rs`).
//! Decision sourcing as the seed says: the invitation payload comes from
//! parameters and local facts. The Receiver accepts only an offer whose code
//! matches one it was given out of band, before expiry, from a sender it has
//! not blocked; otherwise it declines by refusing the offer, which cancels
//! the exchange and tells the Sender why. Contact descriptors are exchanged
//! only after an acceptance, and both sides record the relational context
//! only when they derived the same one (a differing one cancels the exchange).
//!
//! # Who learns what
//!
//! - The offer carries a BLAKE3 digest of the out-of-band code and the
//!   sender (never the code), compared in constant time; outsiders learn the
//!   offer's existence (`leak = "External"`, budget `[1, 0, 0]`).
//! - Contact descriptors are exchanged only after an acceptance, between
//!   the two parties.

use choreo_invitation_exchange::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::stand_in::Journal;
use crate::ServiceError;

/// The offer presented to the Receiver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationOffer {
    /// The invitation.
    pub invitation_id: Digest,
    /// The inviting user.
    pub sender_id: Digest,
    /// Digest of the code given out of band, bound to the invitation.
    pub code_digest: Digest,
    /// When the invitation expires.
    pub expires_at: u64,
}

/// The Receiver's acceptance (it declines by refusing the offer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationResponse {
    /// The invitation accepted.
    pub invitation_id: Digest,
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

/// A user's invitation state, for either role.
#[derive(Clone, Debug)]
pub struct UserState {
    /// What this user tells new contacts.
    pub profile: ContactDescriptor,
    /// The current time.
    pub now: u64,
    /// Codes received out of band (for the Receiver).
    pub received_codes: Vec<String>,
    /// Users it refuses invitations from.
    pub blocked: Vec<Digest>,
    /// Its contacts.
    pub contacts: Vec<Contact>,
    /// Facts of every exchange.
    pub journal: Journal<InvitationFact>,
}

impl UserState {
    /// Records the new contact and returns it.
    fn add(&mut self, contact: Contact) -> Contact {
        self.journal
            .record(InvitationFact::Established(contact.clone()));
        self.contacts.push(contact.clone());
        contact
    }
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

fn code_digest(code: &str, sender: &Digest) -> Digest {
    crypto::digest("invitation/code", &[code.as_bytes(), sender])
}

/// The context both sides derive from the invitation and the two keys.
fn context_id(
    invitation: &Digest,
    sender: &ContactDescriptor,
    receiver: &ContactDescriptor,
) -> Digest {
    crypto::digest(
        "invitation/context",
        &[invitation, &sender.public_key, &receiver.public_key],
    )
}

/// One exchange as the Sender plays it.
struct SenderSession<'s> {
    state: &'s mut UserState,
    invitation: IssuedInvitation,
    offer: InvitationOffer,
    answered: bool,
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
            return Err(ServiceError::Refused(
                "an answer to another invitation".into(),
            ));
        }
        self.answered = true;
        let fact = InvitationFact::Answered(self.offer.invitation_id, Ok(()));
        self.state.journal.record(fact);
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
        let context_id = context_id(&self.offer.invitation_id, &self.state.profile, &msg);
        self.contact = Some(Contact {
            descriptor: msg,
            context_id,
            epoch: self.invitation.epoch,
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
        let ours = self.contact.as_ref().map(|c| c.context_id);
        if ours != Some(msg.context_id) {
            return Err(ServiceError::Refused(
                "the receiver derived another context".into(),
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
    let sender_id = state.profile.id;
    let offer = InvitationOffer {
        invitation_id: crypto::digest("invitation/id", &[&sender_id, invitation.code.as_bytes()]),
        sender_id,
        code_digest: code_digest(&invitation.code, &sender_id),
        expires_at: invitation.expires_at,
    };
    let invitation_id = offer.invitation_id;
    let mut code = SenderSession {
        state,
        invitation,
        offer,
        answered: false,
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
        answered,
        contact,
        acked,
        ..
    } = code;
    if let Err(e) = run {
        let e = ServiceError::from(e);
        if !answered {
            let fact = InvitationFact::Answered(invitation_id, Err(e.reason()));
            state.journal.record(fact);
        }
        return Err(e);
    }
    match (contact, acked) {
        (Some(contact), true) => Ok(state.add(contact)),
        _ => Err(ServiceError::Missing("invitation acknowledgement")),
    }
}

/// One exchange as the Receiver plays it.
struct ReceiverSession<'s> {
    state: &'s mut UserState,
    offer: Option<InvitationOffer>,
    peer: Option<ContactDescriptor>,
    contact: Option<Contact>,
}

impl ReceiverSession<'_> {
    /// Why the Receiver declines `offer`, if it does.
    fn objection(&self, offer: &InvitationOffer) -> Option<&'static str> {
        let codes = &self.state.received_codes;
        if !codes.iter().any(|c| {
            crypto::ensure_eq(&code_digest(c, &offer.sender_id), &offer.code_digest).is_ok()
        }) {
            Some("invitation code does not match")
        } else if self.state.now > offer.expires_at {
            Some("invitation expired")
        } else if self.state.blocked.contains(&offer.sender_id) {
            Some("sender is blocked")
        } else {
            None
        }
    }

    fn offer(&self) -> Result<&InvitationOffer, ServiceError> {
        self.offer
            .as_ref()
            .ok_or(ServiceError::Missing("invitation offer"))
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
        let verdict = self
            .objection(&msg)
            .map_or(Ok(()), |why| Err(why.to_string()));
        self.state
            .journal
            .record(InvitationFact::Answered(msg.invitation_id, verdict.clone()));
        verdict.map_err(ServiceError::Refused)?;
        self.offer = Some(msg);
        Ok(())
    }

    async fn invitation_response(&mut self, _to: Peer) -> Result<InvitationResponse, ServiceError> {
        Ok(InvitationResponse {
            invitation_id: self.offer()?.invitation_id,
        })
    }

    async fn on_contact_descriptor(
        &mut self,
        _from: Peer,
        msg: ContactDescriptor,
    ) -> Result<(), ServiceError> {
        if msg.id != self.offer()?.sender_id {
            return Err(ServiceError::Refused(
                "the descriptor is not the inviting user's".into(),
            ));
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
        let peer = self
            .peer
            .as_ref()
            .ok_or(ServiceError::Missing("contact descriptor"))?;
        let expected = context_id(&self.offer()?.invitation_id, peer, &self.state.profile);
        if msg.context_id != expected {
            return Err(ServiceError::Refused(
                "the sender derived another context".into(),
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
    let mut code = ReceiverSession {
        state,
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
    Ok(code.state.add(contact))
}
