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
//! # Who learns what
//!
//! - The invite and the terms are known to the Inviter and Invitee
//!   (`leak = "neighbor:1"`); the Invitee's binding carries a keyed BLAKE3
//!   MAC over the terms digest, and the terms digest is checked.
//! - The current guardians learn only the join notice of a bound guardian.
//! - Not yet done: the binding is a MAC, not an Ed25519 signature the
//!   guardians could verify themselves.

use choreo_guardian_invitation::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::stand_in::Journal;
use crate::ServiceError;

/// The invitation to become a guardian.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianInvite {
    /// The invitation.
    pub invitation_id: Digest,
    /// The account asking.
    pub account_id: Digest,
    /// When the invitation expires.
    pub expires_at: u64,
}

/// The Invitee's acceptance (it declines by refusing the invitation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianInviteResponse {
    /// The invitee.
    pub guardian_id: Digest,
}

/// The Invitee's signed binding to the terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianBindingSignature {
    /// Digest of the terms it binds to.
    pub terms_digest: Digest,
    /// The signature over them.
    pub signature: Digest,
}

/// What the current guardians are told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianJoinNotice {
    /// The account.
    pub account_id: Digest,
    /// The new guardian, bound to the terms.
    pub new_guardian: Digest,
    /// Shares needed to recover, with the new guardian.
    pub threshold: u16,
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

fn terms_digest(terms: &msg::GuardianTerms) -> Digest {
    let (t, n) = (terms.threshold.to_le_bytes(), terms.total.to_le_bytes());
    crypto::digest("guardian-invitation/terms", &[&t, &n, &terms.policy_digest])
}

/// The account's guardian-invitation state.
#[derive(Clone, Debug)]
pub struct InviterState {
    /// The account.
    pub account_id: Digest,
    /// Its current guardians' ids.
    pub guardians: Vec<Digest>,
    /// Shares needed to recover once the invitee joins.
    pub threshold: u16,
    /// Digest of the guardian policy document the invitee binds to.
    pub policy_digest: Digest,
    /// The current time and how long invitations last.
    pub now: u64,
    /// How long an invitation stays valid.
    pub invite_ttl: u64,
    /// Facts of every invitation.
    pub journal: Journal<GuardianInvitationFact>,
}

/// One invitation as the Inviter plays it.
struct InviterSession<'s> {
    state: &'s mut InviterState,
    invite: GuardianInvite,
    invitee: Digest,
    answered: bool,
    terms: Option<msg::GuardianTerms>,
    acks: Vec<Digest>,
}

impl InviterSession<'_> {
    fn relationship(&self) -> GuardianRelationship {
        GuardianRelationship {
            account_id: self.state.account_id,
            guardian_id: self.invitee,
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
        if msg.guardian_id != self.invitee {
            return Err(ServiceError::Refused("answered by another party".into()));
        }
        self.answered = true;
        let fact = GuardianInvitationFact::Answered(msg.guardian_id, Ok(()));
        self.state.journal.record(fact);
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
        if terms_digest(terms) != msg.terms_digest {
            return Err(ServiceError::Refused("binding to other terms".into()));
        }
        Ok(())
    }

    async fn guardian_join_notice(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianJoinNotice, ServiceError> {
        Ok(GuardianJoinNotice {
            account_id: self.state.account_id,
            new_guardian: self.invitee,
            threshold: self.state.threshold,
        })
    }

    async fn on_join_notice_ack(
        &mut self,
        from: Peer,
        msg: msg::JoinNoticeAck,
    ) -> Result<(), ServiceError> {
        if !self.state.guardians.contains(&msg.guardian_id) || self.acks.contains(&msg.guardian_id)
        {
            return Err(ServiceError::Refused(format!(
                "{from} acknowledges as no current guardian"
            )));
        }
        self.acks.push(msg.guardian_id);
        Ok(())
    }

    async fn invitation_complete(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianRelationship, ServiceError> {
        if self.acks.len() < self.state.guardians.len() {
            return Err(ServiceError::Refused(
                "not every current guardian acknowledged".into(),
            ));
        }
        Ok(self.relationship())
    }
}

/// Runs the Inviter: invites `invitee` to become a guardian of the account,
/// and records it once bound to the terms and every guardian acknowledged.
/// A declining invitee ends it as a cancellation, with its reason recorded.
pub async fn run_inviter<T: Transport>(
    session: Session<'_, T>,
    state: &mut InviterState,
    invitee: Digest,
) -> Result<GuardianRelationship, ServiceError> {
    let count = (state.journal.len() as u64).to_le_bytes();
    let invite = GuardianInvite {
        invitation_id: crypto::digest(
            "guardian-invitation/id",
            &[&state.account_id, &invitee, &count],
        ),
        account_id: state.account_id,
        expires_at: state.now + state.invite_ttl,
    };
    let mut code = InviterSession {
        state,
        invite,
        invitee,
        answered: false,
        terms: None,
        acks: Vec::new(),
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
        if !answered {
            let fact = GuardianInvitationFact::Answered(invitee, Err(e.reason()));
            state.journal.record(fact);
        }
        return Err(e);
    }
    state.guardians.push(invitee);
    state
        .journal
        .record(GuardianInvitationFact::Bound(relationship.clone()));
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
    /// Its id as a guardian.
    pub guardian_id: Digest,
    /// Its signing key.
    pub signing_key: Digest,
    /// Its policy.
    pub policy: InviteePolicy,
    /// The current time.
    pub now: u64,
    /// The accounts it guards.
    pub guardianships: Vec<GuardianRelationship>,
    /// Facts of every invitation.
    pub journal: Journal<GuardianInvitationFact>,
}

/// One invitation as the Invitee plays it.
struct InviteeSession<'s> {
    state: &'s mut InviteeState,
    invite: Option<GuardianInvite>,
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
        } else if self.state.now > invite.expires_at {
            Some("invitation expired")
        } else {
            None
        }
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
        let verdict = self
            .objection(&msg)
            .map_or(Ok(()), |why| Err(why.to_string()));
        let fact = GuardianInvitationFact::Answered(self.state.guardian_id, verdict.clone());
        self.state.journal.record(fact);
        verdict.map_err(ServiceError::Refused)?;
        self.invite = Some(msg);
        Ok(())
    }

    async fn guardian_invite_response(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianInviteResponse, ServiceError> {
        Ok(GuardianInviteResponse {
            guardian_id: self.state.guardian_id,
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
        let digest = terms_digest(terms);
        Ok(GuardianBindingSignature {
            terms_digest: digest,
            signature: crypto::mac(&self.state.signing_key, &[&digest]),
        })
    }

    async fn on_invitation_complete(
        &mut self,
        _from: Peer,
        msg: GuardianRelationship,
    ) -> Result<(), ServiceError> {
        let invite = self
            .invite
            .as_ref()
            .ok_or(ServiceError::Missing("invitation"))?;
        if msg.account_id != invite.account_id || msg.guardian_id != self.state.guardian_id {
            return Err(ServiceError::Refused(
                "the completed relationship is not this invitation's".into(),
            ));
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
    let mut code = InviteeSession {
        state,
        invite: None,
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
    state
        .journal
        .record(GuardianInvitationFact::Bound(relationship.clone()));
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
    joined: Option<Digest>,
}

impl choreo_guardian_invitation::Guardian for GuardianSession<'_> {
    type Types = GuardianInvitationTypes;
    type Error = ServiceError;

    async fn on_guardian_join_notice(
        &mut self,
        _from: Peer,
        msg: GuardianJoinNotice,
    ) -> Result<(), ServiceError> {
        if msg.account_id != self.state.account_id {
            return Err(ServiceError::Refused(
                "a notice for an account it does not guard".into(),
            ));
        }
        self.joined = Some(msg.new_guardian);
        self.state.threshold = msg.threshold;
        Ok(())
    }

    async fn join_notice_ack(&mut self, _to: Peer) -> Result<msg::JoinNoticeAck, ServiceError> {
        Ok(msg::JoinNoticeAck {
            guardian_id: self.state.guardian_id,
        })
    }
}

/// Runs a current guardian: learns of the new co-guardian once it is bound,
/// and acknowledges. Returns the new co-guardian.
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
    let new = joined.ok_or(ServiceError::Missing("join notice"))?;
    if !state.co_guardians.contains(&new) {
        state.co_guardians.push(new);
    }
    Ok(new)
}
