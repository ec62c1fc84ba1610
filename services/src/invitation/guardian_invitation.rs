//! GuardianInvitation: invite a contact to become one of the account's guardians.
//!
//! Implements the seed entry **GuardianInvitation** (CHOREO-INV-002, owner
//! `aura-invitation`, seed entry point `handlers/invitation_service.rs`).
//! Decision sourcing as the seed says: the guardian invite payload comes from
//! parameters and local facts. The Invitee accepts only an account it knows
//! as a contact while it has room for another guardianship, and signs a
//! binding only to terms its policy allows; the current guardians learn of
//! the new guardian only once it is bound, and the relationship is recorded
//! on both sides only when the binding and every guardian's acknowledgement
//! are in.

use choreo_guardian_invitation::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
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

/// The Invitee's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianInviteResponse {
    /// The invitee.
    pub guardian_id: Digest,
    /// Acceptance, or why it declines.
    pub answer: Result<(), String>,
}

/// The Invitee's signed binding to the terms, or its refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianBindingSignature {
    /// Digest of the terms it binds to.
    pub terms_digest: Digest,
    /// The signature over them, or why it does not sign.
    pub signature: Result<Digest, String>,
}

/// What the current guardians are told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianJoinNotice {
    /// The account.
    pub account_id: Digest,
    /// The new guardian, when one was bound.
    pub new_guardian: Option<Digest>,
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
    /// The invitee answered.
    Answered(Digest, Result<(), String>),
    /// A guardian relationship was recorded.
    Bound(GuardianRelationship),
}

/// How an invitation ended for the Inviter or the Invitee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvitationOutcome {
    /// The relationship, recorded.
    Bound(GuardianRelationship),
    /// No relationship, and why.
    Declined(String),
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
    failure: Option<String>,
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

impl choreo_guardian_invitation::Inviter<GuardianInvitationTypes> for InviterSession<'_> {
    fn guardian_invite(&mut self, _to: &Peer) -> GuardianInvite {
        self.invite.clone()
    }

    fn on_guardian_invite_response(&mut self, _from: &Peer, msg: GuardianInviteResponse) {
        let fact = GuardianInvitationFact::Answered(msg.guardian_id, msg.answer.clone());
        self.state.journal.record(fact);
        self.failure = match msg.answer {
            Ok(()) if msg.guardian_id == self.invitee => None,
            Ok(()) => Some("answered by another party".into()),
            Err(why) => Some(why),
        };
    }

    fn guardian_terms(&mut self, _to: &Peer) -> msg::GuardianTerms {
        let relationship = self.relationship();
        let terms = msg::GuardianTerms {
            threshold: relationship.threshold,
            total: relationship.total,
            policy_digest: self.state.policy_digest,
        };
        self.terms = Some(terms.clone());
        terms
    }

    fn on_guardian_binding(&mut self, _from: &Peer, msg: GuardianBindingSignature) {
        let bound_to_ours = self.terms.as_ref().map(terms_digest) == Some(msg.terms_digest);
        match (msg.signature, bound_to_ours) {
            (Ok(_), true) => {}
            (Ok(_), false) => {
                self.failure.get_or_insert("binding to other terms".into());
            }
            (Err(why), _) => {
                self.failure.get_or_insert(why);
            }
        }
    }

    fn guardian_join_notice(&mut self, _to: &Peer) -> GuardianJoinNotice {
        GuardianJoinNotice {
            account_id: self.state.account_id,
            new_guardian: self.failure.is_none().then_some(self.invitee),
            threshold: self.state.threshold,
        }
    }

    fn on_join_notice_ack(&mut self, _from: &Peer, msg: msg::JoinNoticeAck) {
        if self.state.guardians.contains(&msg.guardian_id) && !self.acks.contains(&msg.guardian_id)
        {
            self.acks.push(msg.guardian_id);
        }
    }

    fn invitation_complete(&mut self, _to: &Peer) -> GuardianRelationship {
        if self.failure.is_none() && self.acks.len() < self.state.guardians.len() {
            self.failure = Some("not every current guardian acknowledged".into());
        }
        let mut relationship = self.relationship();
        if self.failure.is_some() {
            relationship.guardian_id = [0; 32];
        }
        relationship
    }
}

/// Runs the Inviter: invites `invitee` to become a guardian of the account,
/// and records it once bound to the terms and every guardian acknowledged.
pub async fn run_inviter<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut InviterState,
    invitee: Digest,
) -> Result<InvitationOutcome, ServiceError> {
    let count = (state.journal.len() as u64).to_le_bytes();
    let invite = GuardianInvite {
        invitation_id: crypto::digest(
            "guardian-invitation/id",
            &[&state.account_id, &invitee, &count],
        ),
        account_id: state.account_id,
        expires_at: state.now + state.invite_ttl,
    };
    let mut session = InviterSession {
        state,
        invite,
        invitee,
        failure: None,
        terms: None,
        acks: Vec::new(),
    };
    choreo_guardian_invitation::execute_as::<GuardianInvitationTypes, _>(
        choreo_guardian_invitation::As::Inviter(&mut session),
        adapter,
        &choreo_guardian_invitation::Params::default(),
    )
    .await?;
    if let Some(why) = session.failure {
        return Ok(InvitationOutcome::Declined(why));
    }
    let relationship = session.relationship();
    let state = session.state;
    state.guardians.push(invitee);
    state
        .journal
        .record(GuardianInvitationFact::Bound(relationship.clone()));
    Ok(InvitationOutcome::Bound(relationship))
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
    answer: Result<(), String>,
    terms: Option<msg::GuardianTerms>,
    completed: Option<GuardianRelationship>,
}

impl choreo_guardian_invitation::Invitee<GuardianInvitationTypes> for InviteeSession<'_> {
    fn on_guardian_invite(&mut self, _from: &Peer, msg: GuardianInvite) {
        let policy = &self.state.policy;
        self.answer = if !policy.contacts.contains(&msg.account_id) {
            Err("the account is not a contact".into())
        } else if self.state.guardianships.len() >= policy.max_guardianships {
            Err("guards as many accounts as its policy allows".into())
        } else if self.state.now > msg.expires_at {
            Err("invitation expired".into())
        } else {
            Ok(())
        };
        let fact = GuardianInvitationFact::Answered(self.state.guardian_id, self.answer.clone());
        self.state.journal.record(fact);
        self.invite = Some(msg);
    }

    fn guardian_invite_response(&mut self, _to: &Peer) -> GuardianInviteResponse {
        GuardianInviteResponse {
            guardian_id: self.state.guardian_id,
            answer: self.answer.clone(),
        }
    }

    fn on_guardian_terms(&mut self, _from: &Peer, msg: msg::GuardianTerms) {
        self.terms = Some(msg);
    }

    fn guardian_binding(&mut self, _to: &Peer) -> GuardianBindingSignature {
        let Some(terms) = &self.terms else {
            return GuardianBindingSignature {
                terms_digest: [0; 32],
                signature: Err("no terms".into()),
            };
        };
        let digest = terms_digest(terms);
        let signature = match &self.answer {
            Err(why) => Err(why.clone()),
            Ok(())
                if terms.threshold < self.state.policy.min_threshold
                    || terms.threshold > terms.total =>
            {
                Err(format!(
                    "terms {} of {} are outside policy",
                    terms.threshold, terms.total
                ))
            }
            Ok(()) => Ok(crypto::mac(&self.state.signing_key, &[&digest])),
        };
        if let Err(why) = &signature {
            self.answer = Err(why.clone());
        }
        GuardianBindingSignature {
            terms_digest: digest,
            signature,
        }
    }

    fn on_invitation_complete(&mut self, _from: &Peer, msg: GuardianRelationship) {
        let ours = self
            .invite
            .as_ref()
            .is_some_and(|i| i.account_id == msg.account_id);
        if ours && msg.guardian_id == self.state.guardian_id {
            self.completed = Some(msg);
        }
    }
}

/// Runs the Invitee: answers from its policy, binds to acceptable terms, and
/// records the guardianship once the Inviter completes it.
pub async fn run_invitee<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut InviteeState,
) -> Result<InvitationOutcome, ServiceError> {
    let mut session = InviteeSession {
        state,
        invite: None,
        answer: Err("no invitation".into()),
        terms: None,
        completed: None,
    };
    choreo_guardian_invitation::execute_as::<GuardianInvitationTypes, _>(
        choreo_guardian_invitation::As::Invitee(&mut session),
        adapter,
        &choreo_guardian_invitation::Params::default(),
    )
    .await?;
    let InviteeSession {
        state,
        answer,
        completed,
        ..
    } = session;
    Ok(match (completed, answer) {
        (Some(relationship), _) => {
            state
                .journal
                .record(GuardianInvitationFact::Bound(relationship.clone()));
            state.guardianships.push(relationship.clone());
            InvitationOutcome::Bound(relationship)
        }
        (None, Err(why)) => InvitationOutcome::Declined(why),
        (None, Ok(())) => {
            InvitationOutcome::Declined("the inviter did not complete the invitation".into())
        }
    })
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

impl choreo_guardian_invitation::Guardian<GuardianInvitationTypes> for GuardianSession<'_> {
    fn on_guardian_join_notice(&mut self, _from: &Peer, msg: GuardianJoinNotice) {
        if msg.account_id == self.state.account_id {
            if let Some(new) = msg.new_guardian {
                self.joined = Some(new);
                self.state.threshold = msg.threshold;
            }
        }
    }

    fn join_notice_ack(&mut self, _to: &Peer) -> msg::JoinNoticeAck {
        msg::JoinNoticeAck {
            guardian_id: self.state.guardian_id,
        }
    }
}

/// Runs a current guardian: learns of the new co-guardian, if one was bound,
/// and acknowledges. Returns the new co-guardian.
pub async fn run_guardian<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut GuardianState,
) -> Result<Option<Digest>, ServiceError> {
    let mut session = GuardianSession {
        state,
        joined: None,
    };
    choreo_guardian_invitation::execute_as::<GuardianInvitationTypes, _>(
        choreo_guardian_invitation::As::Guardian(&mut session),
        adapter,
        &choreo_guardian_invitation::Params::default(),
    )
    .await?;
    let GuardianSession { state, joined } = session;
    if let Some(new) = joined.filter(|n| !state.co_guardians.contains(n)) {
        state.co_guardians.push(new);
    }
    Ok(joined)
}
