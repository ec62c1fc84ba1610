//! GuardianInvitation: invite a contact to become one of the account's guardians.
//!
//! Implements the seed entry **GuardianInvitation** (CHOREO-INV-002, owner
//! `aura-invitation`, seed entry point `handlers/invitation_service.rs`).
//! Decision sourcing as the seed says: the guardian invite payload comes from
//! parameters and local facts. The Invitee accepts only an account it knows
//! as a contact while it has room for another guardianship, and signs a
//! binding only to terms its policy allows; otherwise it declines by
//! refusing, which cancels the invitation for every party and tells them
//! why. The current guardians learn of the new guardian only once it is
//! bound, and the relationship is recorded on both sides only when the
//! binding and every guardian's acknowledgement are in.
//!
//! A guardian is known by its Ed25519 key: its id is [`guardian_id`] of the
//! key. The Invitee signs a [`GuardianBindingSignature`] over the invitation,
//! the account, its own key and the terms; the Inviter and every current
//! guardian verify it ([`GuardianBindingSignature::verify`]), so the Inviter
//! cannot announce a guardian that never agreed, nor other terms than the
//! ones it agreed to.
//!
//! # Checks
//!
//! A peer's value that fails one of these cancels the invitation for every
//! party, and the checking role records nothing of that step
//! ([`ServiceError::Unverified`]):
//!
//! - Inviter, the response: it answers this invitation (its fresh random id;
//!   a replayed response of an earlier one fails [`Check::Nonce`]) as the
//!   invited guardian ([`Check::Binding`]).
//! - Inviter, the binding: it binds this invitation, this account, the
//!   invited guardian's key and the terms sent ([`Check::Binding`]), under a
//!   signature that verifies under that key ([`Check::Signature`]).
//! - Inviter, the acknowledgements: member `k` of `Guardian` acknowledges as
//!   the account's guardian `k` ([`Check::Binding`]).
//! - Invitee, the invite: not expired ([`Check::Epoch`]); the completion: it
//!   records this invitation's account, this guardian and the terms it
//!   signed ([`Check::Binding`]).
//! - Guardian, the join notice: the binding is for the account it guards
//!   ([`Check::Binding`]) and its signature verifies ([`Check::Signature`]).
//!
//! Limitation (of the protocol's order): a guardian's part ends with its
//! acknowledgement, before `InvitationComplete`, so a completion the Invitee
//! refuses afterwards cancels the session for the Inviter and Invitee only;
//! the guardians have already taken the (signed, verified) new guardian.
//!
//! # Who learns what
//!
//! - The invite (invitation id, account, expiry) goes to the Invitee only;
//!   the protocol's one `leak` annotation, `neighbor:1`, is that this reveals
//!   the account and invitee pair to one neighbour hop.
//! - The Inviter learns the invitee's answer and its signed binding; the
//!   Invitee learns the terms (threshold, total, policy digest) and the
//!   completed relationship.
//! - The current guardians learn the join notice only, and only once the
//!   new guardian is bound: the signed binding (the new guardian's public
//!   key, the invitation id and the terms). Nothing secret travels: the
//!   Invitee's signing key never leaves it ([`crypto::SigningKey`], zeroized
//!   on drop), and no key material is handed out (GuardianSetup or
//!   GuardianMembershipChange do that, sealed to each guardian).

use choreo_guardian_invitation::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest, Signature, SigningKey, VerifyingKey};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::{family_size, index_of, reject, ServiceError};

/// The domain the Invitee signs its binding under.
const BINDING: &str = "choreo-services/guardian-invitation/binding";

/// The id of the guardian whose Ed25519 key is `key`.
pub fn guardian_id(key: &VerifyingKey) -> Digest {
    crypto::digest("choreo-services/guardian-invitation/guardian", &[&key.0])
}

/// The invitation to become a guardian.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianInvite {
    /// The invitation (random, fresh per invitation).
    pub invitation_id: Digest,
    /// The account asking.
    pub account_id: Digest,
    /// When the invitation expires.
    pub expires_at: u64,
}

/// The Invitee's acceptance (it declines by refusing the invitation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianInviteResponse {
    /// The invitation it answers.
    pub invitation_id: Digest,
    /// The invitee.
    pub guardian_id: Digest,
}

/// The Invitee's signed binding to the terms of one invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianBindingSignature {
    /// The invitation it answers.
    pub invitation_id: Digest,
    /// The account it agrees to guard.
    pub account_id: Digest,
    /// The new guardian's key (its id is [`guardian_id`] of it).
    pub guardian_key: VerifyingKey,
    /// Shares needed to recover, with the new guardian.
    pub threshold: u16,
    /// Guardians of the account, with the new one.
    pub total: u16,
    /// Digest of the guardian policy document it agrees to.
    pub policy_digest: Digest,
    /// The new guardian's Ed25519 signature over all of the above.
    pub signature: Signature,
}

/// The fields a binding's signature covers, in order.
fn binding_parts(
    invitation_id: &Digest,
    account_id: &Digest,
    key: &VerifyingKey,
    terms: &msg::GuardianTerms,
) -> [Vec<u8>; 6] {
    [
        invitation_id.to_vec(),
        account_id.to_vec(),
        key.0.to_vec(),
        terms.threshold.to_le_bytes().to_vec(),
        terms.total.to_le_bytes().to_vec(),
        terms.policy_digest.to_vec(),
    ]
}

impl GuardianBindingSignature {
    /// The binding of the holder of `key` to `terms` of invitation `invite`.
    pub fn sign(invite: &GuardianInvite, terms: &msg::GuardianTerms, key: &SigningKey) -> Self {
        let guardian_key = key.verifying_key();
        let parts = binding_parts(
            &invite.invitation_id,
            &invite.account_id,
            &guardian_key,
            terms,
        );
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        GuardianBindingSignature {
            invitation_id: invite.invitation_id,
            account_id: invite.account_id,
            guardian_key,
            threshold: terms.threshold,
            total: terms.total,
            policy_digest: terms.policy_digest,
            signature: key.sign(BINDING, &parts),
        }
    }

    /// The terms it binds to.
    pub fn terms(&self) -> msg::GuardianTerms {
        msg::GuardianTerms {
            threshold: self.threshold,
            total: self.total,
            policy_digest: self.policy_digest,
        }
    }

    /// The id of the guardian it binds.
    pub fn guardian_id(&self) -> Digest {
        guardian_id(&self.guardian_key)
    }

    /// Checks the signature under the guardian key it names.
    pub fn verify(&self) -> Result<(), ServiceError> {
        let parts = binding_parts(
            &self.invitation_id,
            &self.account_id,
            &self.guardian_key,
            &self.terms(),
        );
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        self.guardian_key
            .verify(BINDING, &parts, &self.signature)
            .map_err(|e| ServiceError::unverified(Check::Signature, format!("the binding: {e}")))
    }
}

/// What the current guardians are told: the new guardian's signed binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianJoinNotice {
    /// The binding, which names the account, the new guardian and the terms.
    pub binding: GuardianBindingSignature,
}

/// The recorded guardian relationship.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianRelationship {
    /// The account.
    pub account_id: Digest,
    /// The guardian.
    pub guardian_id: Digest,
    /// Shares needed to recover.
    pub threshold: u16,
    /// Guardians of the account, with this one.
    pub total: u16,
}

/// Binds the protocol's payload types to this module's.
pub struct GuardianInvitationTypes;

impl choreo_guardian_invitation::Types for GuardianInvitationTypes {
    type GuardianInvite = GuardianInvite;
    type GuardianInviteResponse = GuardianInviteResponse;
    type GuardianBindingSignature = GuardianBindingSignature;
    type GuardianJoinNotice = GuardianJoinNotice;
    type GuardianRelationship = GuardianRelationship;
}

/// A fact of guardian invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GuardianInvitationFact {
    /// The invitee accepted (`Ok`) or declined, with the reason.
    Answered(Digest, Result<(), String>),
    /// A guardian relationship was recorded.
    Bound(GuardianRelationship),
}

impl DomainFact for GuardianInvitationFact {
    const PROTOCOL: &'static str = "GuardianInvitation";

    fn kind(&self) -> &'static str {
        match self {
            GuardianInvitationFact::Answered(..) => "Answered",
            GuardianInvitationFact::Bound(..) => "Bound",
        }
    }
}

/// A binding-check failure: `what` is not this invitation's.
fn unbound(what: impl Into<String>) -> ServiceError {
    ServiceError::unverified(Check::Binding, what)
}

/// The account's guardian-invitation state.
#[derive(Clone, Debug)]
pub struct InviterState {
    /// The account.
    pub account_id: Digest,
    /// Its current guardians' ids, by member index of the `Guardian` family.
    pub guardians: Vec<Digest>,
    /// Shares needed to recover once the invitee joins.
    pub threshold: u16,
    /// Digest of the guardian policy document the invitee binds to.
    pub policy_digest: Digest,
    /// The current time.
    pub now: u64,
    /// How long an invitation stays valid.
    pub invite_ttl: u64,
}

/// One invitation as the Inviter plays it.
struct InviterSession<'s> {
    state: &'s mut InviterState,
    log: FactLog,
    invite: GuardianInvite,
    invitee: VerifyingKey,
    answered: bool,
    terms: Option<msg::GuardianTerms>,
    binding: Option<GuardianBindingSignature>,
}

impl InviterSession<'_> {
    fn relationship(&self) -> GuardianRelationship {
        GuardianRelationship {
            account_id: self.state.account_id,
            guardian_id: guardian_id(&self.invitee),
            threshold: self.state.threshold,
            total: self.state.guardians.len() as u16 + 1,
        }
    }
}

impl choreo_guardian_invitation::Inviter for InviterSession<'_> {
    type Types = GuardianInvitationTypes;
    type Error = ServiceError;

    async fn guardian_invite(&mut self, _to: Peer) -> Result<GuardianInvite, ServiceError> {
        Ok(self.invite.clone())
    }

    async fn on_guardian_invite_response(
        &mut self,
        _from: Peer,
        msg: GuardianInviteResponse,
    ) -> Result<(), ServiceError> {
        if crypto::ensure_eq(&msg.invitation_id, &self.invite.invitation_id).is_err() {
            return Err(ServiceError::unverified(
                Check::Nonce,
                "a response to another invitation",
            ));
        }
        let invitee = guardian_id(&self.invitee);
        if msg.guardian_id != invitee {
            return Err(unbound("a response of another guardian"));
        }
        let fact = GuardianInvitationFact::Answered(invitee, Ok(()));
        self.log.record(fact).await?;
        self.answered = true;
        Ok(())
    }

    async fn guardian_terms(&mut self, _to: Peer) -> Result<msg::GuardianTerms, ServiceError> {
        let relationship = self.relationship();
        let terms = msg::GuardianTerms {
            threshold: relationship.threshold,
            total: relationship.total,
            policy_digest: self.state.policy_digest,
        };
        self.terms = Some(terms.clone());
        Ok(terms)
    }

    async fn on_guardian_binding(
        &mut self,
        _from: Peer,
        msg: GuardianBindingSignature,
    ) -> Result<(), ServiceError> {
        let terms = self.terms.as_ref().ok_or(ServiceError::Missing("terms"))?;
        if msg.invitation_id != self.invite.invitation_id {
            return Err(unbound("a binding for another invitation"));
        }
        if msg.account_id != self.state.account_id {
            return Err(unbound("a binding for another account"));
        }
        if msg.guardian_key != self.invitee {
            return Err(unbound("a binding of another guardian"));
        }
        if msg.terms() != *terms {
            return Err(unbound("a binding to other terms"));
        }
        msg.verify()?;
        self.binding = Some(msg);
        Ok(())
    }

    async fn guardian_join_notice(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianJoinNotice, ServiceError> {
        let binding = self.binding.clone();
        Ok(GuardianJoinNotice {
            binding: binding.ok_or(ServiceError::Missing("guardian binding"))?,
        })
    }

    async fn on_join_notice_ack(
        &mut self,
        from: Peer,
        msg: msg::JoinNoticeAck,
    ) -> Result<(), ServiceError> {
        let k = index_of(from)?;
        if self.state.guardians.get(usize::from(k)) != Some(&msg.guardian_id) {
            return Err(unbound(format!("{from} acknowledges as another guardian")));
        }
        Ok(())
    }

    async fn invitation_complete(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianRelationship, ServiceError> {
        // The runner completes only after every member acknowledged.
        Ok(self.relationship())
    }
}

/// Runs the Inviter: invites the contact whose key is `invitee` to become a
/// guardian, and records it once bound to the terms and every guardian
/// acknowledged. A declining invitee ends it as a cancellation, with its
/// reason recorded.
pub async fn run_inviter<T: Transport>(
    session: Session<'_, T>,
    state: &mut InviterState,
    invitee: VerifyingKey,
) -> Result<GuardianRelationship, ServiceError> {
    match family_size(&session, Role::Guardian.index()) {
        Ok(n) if usize::from(n) == state.guardians.len() => {}
        Ok(n) => {
            let why = format!(
                "{n} Guardian members for {} guardians",
                state.guardians.len()
            );
            return Err(reject(session, ServiceError::Invalid(why)));
        }
        Err(e) => return Err(reject(session, e)),
    }
    let log = FactLog::of(&session);
    let invite = GuardianInvite {
        invitation_id: crypto::random(),
        account_id: state.account_id,
        expires_at: state.now + state.invite_ttl,
    };
    let mut code = InviterSession {
        state,
        log: log.clone(),
        invite,
        invitee,
        answered: false,
        terms: None,
        binding: None,
    };
    let run = choreo_guardian_invitation::execute_as(
        choreo_guardian_invitation::As::Inviter(&mut code),
        session,
        &choreo_guardian_invitation::Params::default(),
    )
    .await;
    let relationship = code.relationship();
    let InviterSession {
        state, answered, ..
    } = code;
    if let Err(e) = run {
        let e = ServiceError::from(e);
        if !answered && e.cancelled_by() == Some(Peer::role(Role::Invitee.name())) {
            let declined = GuardianInvitationFact::Answered(guardian_id(&invitee), Err(e.reason()));
            log.record(declined).await?;
        }
        return Err(e);
    }
    log.record(GuardianInvitationFact::Bound(relationship.clone()))
        .await?;
    state.guardians.push(relationship.guardian_id);
    Ok(relationship)
}

/// When a contact agrees to guard an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteePolicy {
    /// Accounts it knows as contacts.
    pub contacts: Vec<Digest>,
    /// Accounts it guards at most.
    pub max_guardianships: usize,
    /// The lowest threshold it serves under.
    pub min_threshold: u16,
}

/// The invited contact's state.
#[derive(Clone, Debug)]
pub struct InviteeState {
    /// Its signing key (its id is [`guardian_id`] of the public key).
    pub signing_key: SigningKey,
    /// Its policy.
    pub policy: InviteePolicy,
    /// The current time.
    pub now: u64,
    /// The accounts it guards.
    pub guardianships: Vec<GuardianRelationship>,
}

impl InviteeState {
    /// Its id as a guardian.
    pub fn guardian_id(&self) -> Digest {
        guardian_id(&self.signing_key.verifying_key())
    }
}

/// One invitation as the Invitee plays it.
struct InviteeSession<'s> {
    state: &'s mut InviteeState,
    log: FactLog,
    invite: Option<GuardianInvite>,
    /// The terms it signed a binding to.
    signed: Option<msg::GuardianTerms>,
    terms: Option<msg::GuardianTerms>,
    completed: Option<GuardianRelationship>,
}

impl InviteeSession<'_> {
    /// Why the Invitee declines `invite`, if it does.
    fn objection(&self, invite: &GuardianInvite) -> Option<&'static str> {
        let policy = &self.state.policy;
        if !policy.contacts.contains(&invite.account_id) {
            Some("the account is not a contact")
        } else if self.state.guardianships.len() >= policy.max_guardianships {
            Some("guards as many accounts as its policy allows")
        } else {
            None
        }
    }

    fn invite(&self) -> Result<&GuardianInvite, ServiceError> {
        self.invite
            .as_ref()
            .ok_or(ServiceError::Missing("invitation"))
    }
}

impl choreo_guardian_invitation::Invitee for InviteeSession<'_> {
    type Types = GuardianInvitationTypes;
    type Error = ServiceError;

    async fn on_guardian_invite(
        &mut self,
        _from: Peer,
        msg: GuardianInvite,
    ) -> Result<(), ServiceError> {
        if self.state.now > msg.expires_at {
            return Err(ServiceError::unverified(
                Check::Epoch,
                "an expired invitation",
            ));
        }
        let verdict = self
            .objection(&msg)
            .map_or(Ok(()), |why| Err(why.to_string()));
        let fact = GuardianInvitationFact::Answered(self.state.guardian_id(), verdict.clone());
        self.log.record(fact).await?;
        verdict.map_err(ServiceError::Refused)?;
        self.invite = Some(msg);
        Ok(())
    }

    async fn guardian_invite_response(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianInviteResponse, ServiceError> {
        Ok(GuardianInviteResponse {
            invitation_id: self.invite()?.invitation_id,
            guardian_id: self.state.guardian_id(),
        })
    }

    async fn on_guardian_terms(
        &mut self,
        _from: Peer,
        msg: msg::GuardianTerms,
    ) -> Result<(), ServiceError> {
        self.terms = Some(msg);
        Ok(())
    }

    async fn guardian_binding(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianBindingSignature, ServiceError> {
        let terms = self.terms.as_ref().ok_or(ServiceError::Missing("terms"))?;
        if terms.threshold < self.state.policy.min_threshold || terms.threshold > terms.total {
            return Err(ServiceError::Refused(format!(
                "terms {} of {} are outside policy",
                terms.threshold, terms.total
            )));
        }
        let binding =
            GuardianBindingSignature::sign(self.invite()?, terms, &self.state.signing_key);
        self.signed = Some(terms.clone());
        Ok(binding)
    }

    async fn on_invitation_complete(
        &mut self,
        _from: Peer,
        msg: GuardianRelationship,
    ) -> Result<(), ServiceError> {
        let account = self.invite()?.account_id;
        let signed = self.signed.as_ref().ok_or(ServiceError::Missing("terms"))?;
        if msg.account_id != account {
            return Err(unbound("a completed relationship with another account"));
        }
        if msg.guardian_id != self.state.guardian_id() {
            return Err(unbound("a completed relationship of another guardian"));
        }
        if (msg.threshold, msg.total) != (signed.threshold, signed.total) {
            return Err(unbound("a completed relationship on other terms"));
        }
        self.completed = Some(msg);
        Ok(())
    }
}

/// Runs the Invitee: accepts from its policy, binds to acceptable terms
/// (declining either cancels the invitation), and records the guardianship
/// once the Inviter completes it.
pub async fn run_invitee<T: Transport>(
    session: Session<'_, T>,
    state: &mut InviteeState,
) -> Result<GuardianRelationship, ServiceError> {
    let log = FactLog::of(&session);
    let mut code = InviteeSession {
        state,
        log: log.clone(),
        invite: None,
        signed: None,
        terms: None,
        completed: None,
    };
    choreo_guardian_invitation::execute_as(
        choreo_guardian_invitation::As::Invitee(&mut code),
        session,
        &choreo_guardian_invitation::Params::default(),
    )
    .await?;
    let InviteeSession {
        state, completed, ..
    } = code;
    let relationship = completed.ok_or(ServiceError::Missing("invitation completion"))?;
    log.record(GuardianInvitationFact::Bound(relationship.clone()))
        .await?;
    state.guardianships.push(relationship.clone());
    Ok(relationship)
}

/// A current guardian's view of the account's guardians.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// Its id.
    pub guardian_id: Digest,
    /// The account it guards.
    pub account_id: Digest,
    /// The other guardians of the account.
    pub co_guardians: Vec<Digest>,
    /// Shares needed to recover.
    pub threshold: u16,
}

/// One invitation as a current guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    joined: Option<GuardianBindingSignature>,
}

impl choreo_guardian_invitation::Guardian for GuardianSession<'_> {
    type Types = GuardianInvitationTypes;
    type Error = ServiceError;

    async fn on_guardian_join_notice(
        &mut self,
        _from: Peer,
        msg: GuardianJoinNotice,
    ) -> Result<(), ServiceError> {
        if msg.binding.account_id != self.state.account_id {
            return Err(unbound("a notice for an account it does not guard"));
        }
        msg.binding.verify()?;
        self.joined = Some(msg.binding);
        Ok(())
    }

    async fn join_notice_ack(&mut self, _to: Peer) -> Result<msg::JoinNoticeAck, ServiceError> {
        Ok(msg::JoinNoticeAck {
            guardian_id: self.state.guardian_id,
        })
    }
}

/// Runs a current guardian: learns of the new co-guardian once it is bound,
/// and acknowledges; takes the new guardian and threshold once the session
/// ended well. Returns the new co-guardian.
pub async fn run_guardian<T: Transport>(
    session: Session<'_, T>,
    state: &mut GuardianState,
) -> Result<Digest, ServiceError> {
    let mut code = GuardianSession {
        state,
        joined: None,
    };
    choreo_guardian_invitation::execute_as(
        choreo_guardian_invitation::As::Guardian(&mut code),
        session,
        &choreo_guardian_invitation::Params::default(),
    )
    .await?;
    let GuardianSession { state, joined } = code;
    let binding = joined.ok_or(ServiceError::Missing("join notice"))?;
    let new = binding.guardian_id();
    if !state.co_guardians.contains(&new) {
        state.co_guardians.push(new);
    }
    state.threshold = binding.threshold;
    Ok(new)
}
