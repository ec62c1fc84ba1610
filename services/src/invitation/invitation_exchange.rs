//! InvitationExchange: turn an out-of-band invitation into a contact.
//!
//! Implements the seed entry **InvitationExchange** (CHOREO-INV-001, owner
//! `aura-invitation`, seed entry point `handlers/invitation_service.rs`).
//! Decision sourcing as the seed says: the invitation payload comes from
//! parameters and local facts. The Receiver accepts only an offer whose code
//! matches one it was given out of band, before expiry, from a sender it has
//! not blocked. Contact descriptors are exchanged in full only after an
//! acceptance (redacted otherwise), and both sides record the relational
//! context only when they derived the same one.

use choreo_invitation_exchange::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
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

/// The Receiver's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationResponse {
    /// The invitation answered.
    pub invitation_id: Digest,
    /// Acceptance, or why it declines.
    pub answer: Result<(), String>,
}

/// What a user tells a new contact about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// An invitation was answered.
    Answered(Digest, Result<(), String>),
    /// A relationship was established.
    Established(Contact),
}

/// How an exchange ended, for either role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvitationOutcome {
    /// The new contact.
    Established(Contact),
    /// No contact, and why.
    Declined(String),
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
    fn finish(&mut self, contact: Option<Contact>, why: Option<String>) -> InvitationOutcome {
        match contact {
            Some(contact) => {
                self.journal
                    .record(InvitationFact::Established(contact.clone()));
                self.contacts.push(contact.clone());
                InvitationOutcome::Established(contact)
            }
            None => InvitationOutcome::Declined(why.unwrap_or_else(|| "no relationship".into())),
        }
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
    answer: Result<(), String>,
    peer: Option<ContactDescriptor>,
    context: Option<Digest>,
    acked: bool,
}

impl choreo_invitation_exchange::Sender<InvitationTypes> for SenderSession<'_> {
    fn invitation_offer(&mut self, _to: &Peer) -> InvitationOffer {
        self.offer.clone()
    }

    fn on_invitation_response(&mut self, _from: &Peer, msg: InvitationResponse) {
        let ours = msg.invitation_id == self.offer.invitation_id;
        self.answer = if ours {
            msg.answer
        } else {
            Err("answer to another invitation".into())
        };
        let fact = InvitationFact::Answered(self.offer.invitation_id, self.answer.clone());
        self.state.journal.record(fact);
    }

    fn contact_descriptor(&mut self, _to: &Peer) -> ContactDescriptor {
        if self.answer.is_ok() {
            self.state.profile.clone()
        } else {
            ContactDescriptor::default()
        }
    }

    fn on_contact_descriptor_reply(&mut self, _from: &Peer, msg: ContactDescriptor) {
        if self.answer.is_ok() && msg.id != [0; 32] {
            self.context = Some(context_id(
                &self.offer.invitation_id,
                &self.state.profile,
                &msg,
            ));
            self.peer = Some(msg);
        }
    }

    fn relationship_established(&mut self, _to: &Peer) -> msg::RelationshipEstablished {
        let context_id = self.context.unwrap_or_default();
        msg::RelationshipEstablished {
            context_id,
            epoch: self.invitation.epoch,
        }
    }

    fn on_invitation_ack(&mut self, _from: &Peer, msg: msg::InvitationAck) {
        self.acked = self.context == Some(msg.context_id);
    }
}

/// Runs the Sender: presents `invitation`, and on acceptance exchanges
/// descriptors and records the new contact.
pub async fn run_sender<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut UserState,
    invitation: IssuedInvitation,
) -> Result<InvitationOutcome, ServiceError> {
    let sender_id = state.profile.id;
    let offer = InvitationOffer {
        invitation_id: crypto::digest("invitation/id", &[&sender_id, invitation.code.as_bytes()]),
        sender_id,
        code_digest: code_digest(&invitation.code, &sender_id),
        expires_at: invitation.expires_at,
    };
    let mut session = SenderSession {
        state,
        invitation,
        offer,
        answer: Err("no answer".into()),
        peer: None,
        context: None,
        acked: false,
    };
    choreo_invitation_exchange::execute_as::<InvitationTypes, _>(
        choreo_invitation_exchange::As::Sender(&mut session),
        adapter,
        &choreo_invitation_exchange::Params::default(),
    )
    .await?;
    let SenderSession {
        state,
        invitation,
        answer,
        peer,
        context,
        acked,
        ..
    } = session;
    let contact = match (acked, peer, context) {
        (true, Some(descriptor), Some(context_id)) => Some(Contact {
            descriptor,
            context_id,
            epoch: invitation.epoch,
        }),
        _ => None,
    };
    Ok(state.finish(contact, answer.err()))
}

/// One exchange as the Receiver plays it.
struct ReceiverSession<'s> {
    state: &'s mut UserState,
    offer: Option<InvitationOffer>,
    answer: Result<(), String>,
    peer: Option<ContactDescriptor>,
    contact: Option<Contact>,
}

impl ReceiverSession<'_> {
    fn decide(&self, offer: &InvitationOffer) -> Result<(), String> {
        let codes = &self.state.received_codes;
        if !codes
            .iter()
            .any(|c| code_digest(c, &offer.sender_id) == offer.code_digest)
        {
            Err("invitation code does not match".into())
        } else if self.state.now > offer.expires_at {
            Err("invitation expired".into())
        } else if self.state.blocked.contains(&offer.sender_id) {
            Err("sender is blocked".into())
        } else {
            Ok(())
        }
    }
}

impl choreo_invitation_exchange::Receiver<InvitationTypes> for ReceiverSession<'_> {
    fn on_invitation_offer(&mut self, _from: &Peer, msg: InvitationOffer) {
        self.answer = self.decide(&msg);
        self.state.journal.record(InvitationFact::Answered(
            msg.invitation_id,
            self.answer.clone(),
        ));
        self.offer = Some(msg);
    }

    fn invitation_response(&mut self, _to: &Peer) -> InvitationResponse {
        let invitation_id = self
            .offer
            .as_ref()
            .map(|o| o.invitation_id)
            .unwrap_or_default();
        InvitationResponse {
            invitation_id,
            answer: self.answer.clone(),
        }
    }

    fn on_contact_descriptor(&mut self, _from: &Peer, msg: ContactDescriptor) {
        let from_sender = self.offer.as_ref().is_some_and(|o| o.sender_id == msg.id);
        if self.answer.is_ok() && from_sender {
            self.peer = Some(msg);
        }
    }

    fn contact_descriptor_reply(&mut self, _to: &Peer) -> ContactDescriptor {
        if self.peer.is_some() {
            self.state.profile.clone()
        } else {
            ContactDescriptor::default()
        }
    }

    fn on_relationship_established(&mut self, _from: &Peer, msg: msg::RelationshipEstablished) {
        let (Some(offer), Some(peer)) = (&self.offer, &self.peer) else {
            return;
        };
        if msg.context_id == context_id(&offer.invitation_id, peer, &self.state.profile) {
            let (context_id, epoch) = (msg.context_id, msg.epoch);
            self.contact = Some(Contact {
                descriptor: peer.clone(),
                context_id,
                epoch,
            });
        }
    }

    fn invitation_ack(&mut self, _to: &Peer) -> msg::InvitationAck {
        msg::InvitationAck {
            context_id: self
                .contact
                .as_ref()
                .map(|c| c.context_id)
                .unwrap_or_default(),
        }
    }
}

/// Runs the Receiver: answers the presented offer from its codes and block
/// list, and on acceptance records the new contact.
pub async fn run_receiver<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut UserState,
) -> Result<InvitationOutcome, ServiceError> {
    let mut session = ReceiverSession {
        state,
        offer: None,
        answer: Err("no offer".into()),
        peer: None,
        contact: None,
    };
    choreo_invitation_exchange::execute_as::<InvitationTypes, _>(
        choreo_invitation_exchange::As::Receiver(&mut session),
        adapter,
        &choreo_invitation_exchange::Params::default(),
    )
    .await?;
    let ReceiverSession {
        state,
        answer,
        contact,
        ..
    } = session;
    Ok(state.finish(contact, answer.err()))
}
