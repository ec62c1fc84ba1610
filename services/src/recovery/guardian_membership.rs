//! GuardianMembershipChange: add or remove one guardian of the account.
//!
//! Implements the seed entry **GuardianMembershipChange** (CHOREO-REC-002,
//! owner `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: the membership change request and
//! journal state. Current guardians vote from their policy (a candidate they
//! vouch for, a roster that stays large enough) against the roster they
//! know; the candidate confirms joining (or signs its release) from its own
//! policy; the remaining guardians commit to reshares for the new roster.
//! The Account commits the new roster iff the current threshold approved,
//! the candidate confirmed and the new threshold of reshares arrived. A
//! change the guardians do not approve, or that the candidate declines, is
//! refused by the role that decides it: the session is cancelled with the
//! reason and everyone keeps the current roster. For a removal the
//! departing guardian plays Candidate and does not vote.
//!
//! # Who learns what
//!
//! - Proposals, votes and the committed roster (digests are BLAKE3) are
//!   known to the current guardians; the candidate learns its notice only
//!   (`leak = "neighbor:1"`); reshare commitments are digests.
//! - Not yet done: the candidate's confirmation is a keyed BLAKE3 MAC, not
//!   an Ed25519 signature, and reshares are commitments without FROST
//!   resharing of the secret itself.

use choreo_guardian_membership_change::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::stand_in::Journal;
use crate::{reject, ServiceError};

/// A guardian roster: who, how many to recover, since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterView {
    /// Guardian ids.
    pub members: Vec<Digest>,
    /// Shares needed to recover.
    pub threshold: u16,
    /// The epoch of this roster.
    pub epoch: u64,
}

impl RosterView {
    /// The roster's digest, as every party computes it.
    pub fn digest(&self) -> Digest {
        let mut parts: Vec<&[u8]> = self.members.iter().map(|m| m.as_slice()).collect();
        let (t, e) = (self.threshold.to_le_bytes(), self.epoch.to_le_bytes());
        parts.extend([&t[..], &e[..]]);
        crypto::digest("membership/roster", &parts)
    }

    /// The roster after `change`, one epoch later.
    pub fn after(&self, change: &MembershipChange) -> RosterView {
        let mut members = self.members.clone();
        match change {
            MembershipChange::Add(id) if !members.contains(id) => members.push(*id),
            MembershipChange::Remove(id) => members.retain(|m| m != id),
            MembershipChange::Add(_) => {}
        }
        let threshold = self.threshold.min(members.len() as u16);
        RosterView {
            members,
            threshold,
            epoch: self.epoch + 1,
        }
    }
}

/// The change proposed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add this guardian.
    Add(Digest),
    /// Remove this guardian.
    Remove(Digest),
}

/// The Account's proposal to the current guardians.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChangeProposal {
    /// The change.
    pub change: MembershipChange,
    /// Digest of the roster it applies to.
    pub current: Digest,
    /// The roster it results in.
    pub proposed: RosterView,
}

/// A guardian's vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipVote {
    /// The voter.
    pub guardian_id: Digest,
    /// Approval, or why not.
    pub vote: Result<(), String>,
}

/// What the candidate is told once the current threshold approved the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipNotice {
    /// The change.
    pub change: MembershipChange,
    /// The roster it results in.
    pub proposed: RosterView,
}

/// The candidate's signed join acceptance or release (it declines by refusing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateConfirmation {
    /// The candidate.
    pub candidate_id: Digest,
    /// Its signature over the proposed roster.
    pub confirmation: Digest,
}

/// A remaining guardian's commitment to its reshare for the new roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareCommitment {
    /// The guardian.
    pub guardian_id: Digest,
    /// Its commitment.
    pub commitment: Digest,
}

/// Binds the protocol's payload types to this module's.
pub struct MembershipTypes;

impl choreo_guardian_membership_change::Types for MembershipTypes {
    type MembershipChangeProposal = MembershipChangeProposal;
    type MembershipVote = MembershipVote;
    type MembershipNotice = MembershipNotice;
    type CandidateConfirmation = CandidateConfirmation;
    type ReshareCommitment = ReshareCommitment;
}

/// A fact of membership change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipFact {
    /// A guardian voted.
    Voted(Digest, Result<(), String>),
    /// The roster now in force after a committed change.
    Roster(RosterView),
    /// The change was not committed (refused or cancelled), and why.
    Rejected(String),
}

/// The Account's membership state.
#[derive(Clone, Debug)]
pub struct AccountState {
    /// The roster in force.
    pub roster: RosterView,
    /// Facts of every change.
    pub journal: Journal<MembershipFact>,
}

/// One change as the Account plays it.
struct AccountSession<'s> {
    state: &'s mut AccountState,
    proposal: MembershipChangeProposal,
    approvals: Vec<Digest>,
    voted: Vec<Digest>,
    confirmed: bool,
    reshares: Vec<Digest>,
}

impl AccountSession<'_> {
    /// The guardian being added or removed.
    fn candidate(&self) -> Digest {
        match &self.proposal.change {
            MembershipChange::Add(id) | MembershipChange::Remove(id) => *id,
        }
    }
}

impl choreo_guardian_membership_change::Account for AccountSession<'_> {
    type Types = MembershipTypes;
    type Error = ServiceError;

    async fn membership_proposal(
        &mut self,
        _to: Peer,
    ) -> Result<MembershipChangeProposal, ServiceError> {
        Ok(self.proposal.clone())
    }

    async fn on_membership_vote(
        &mut self,
        from: Peer,
        msg: MembershipVote,
    ) -> Result<(), ServiceError> {
        let member = self.state.roster.members.contains(&msg.guardian_id);
        if !member || self.voted.contains(&msg.guardian_id) {
            return Err(ServiceError::Refused(format!(
                "{from} votes as no guardian of the roster"
            )));
        }
        self.voted.push(msg.guardian_id);
        if msg.vote.is_ok() {
            self.approvals.push(msg.guardian_id);
        }
        self.state
            .journal
            .record(MembershipFact::Voted(msg.guardian_id, msg.vote));
        Ok(())
    }

    async fn membership_notice(&mut self, _to: Peer) -> Result<MembershipNotice, ServiceError> {
        let needed = self.state.roster.threshold.max(1);
        if self.approvals.len() < usize::from(needed) {
            return Err(ServiceError::Refused(format!(
                "{} approvals, {needed} needed",
                self.approvals.len()
            )));
        }
        let p = &self.proposal;
        Ok(MembershipNotice {
            change: p.change.clone(),
            proposed: p.proposed.clone(),
        })
    }

    async fn on_candidate_confirmation(
        &mut self,
        _from: Peer,
        msg: CandidateConfirmation,
    ) -> Result<(), ServiceError> {
        if msg.candidate_id != self.candidate() {
            return Err(ServiceError::Refused(
                "confirmation from another party".into(),
            ));
        }
        self.confirmed = true;
        Ok(())
    }

    async fn reshare_request(&mut self, _to: Peer) -> Result<msg::ReshareRequest, ServiceError> {
        let target = &self.proposal.proposed;
        Ok(msg::ReshareRequest {
            roster_digest: target.digest(),
            threshold: target.threshold,
            epoch: target.epoch,
        })
    }

    async fn on_reshare_commitment(
        &mut self,
        from: Peer,
        msg: ReshareCommitment,
    ) -> Result<(), ServiceError> {
        let remains = self.proposal.proposed.members.contains(&msg.guardian_id);
        if !remains || self.reshares.contains(&msg.guardian_id) {
            return Err(ServiceError::Refused(format!(
                "{from} reshares as no guardian of the new roster"
            )));
        }
        self.reshares.push(msg.guardian_id);
        Ok(())
    }

    async fn membership_committed(
        &mut self,
        _to: Peer,
    ) -> Result<msg::MembershipCommitted, ServiceError> {
        let roster = &self.proposal.proposed;
        if self.reshares.len() < usize::from(roster.threshold) {
            return Err(ServiceError::Refused(format!(
                "{} reshares, {} needed",
                self.reshares.len(),
                roster.threshold
            )));
        }
        if !self.confirmed {
            return Err(ServiceError::Missing("candidate confirmation"));
        }
        Ok(msg::MembershipCommitted {
            epoch: roster.epoch,
            roster_digest: roster.digest(),
        })
    }
}

/// Runs the Account: proposes `change` to the current guardians and commits
/// the new roster iff they approve, the candidate confirms and enough
/// reshare; otherwise the change is cancelled and the roster stays.
pub async fn run_account<T: Transport>(
    session: Session<'_, T>,
    state: &mut AccountState,
    change: MembershipChange,
) -> Result<RosterView, ServiceError> {
    let proposed = state.roster.after(&change);
    if proposed.members.is_empty() || proposed.members == state.roster.members {
        let e = ServiceError::Invalid("the change leaves the roster empty or unchanged".into());
        return Err(reject(session, e));
    }
    let proposal = MembershipChangeProposal {
        change,
        current: state.roster.digest(),
        proposed,
    };
    let mut code = AccountSession {
        state,
        proposal,
        approvals: Vec::new(),
        voted: Vec::new(),
        confirmed: false,
        reshares: Vec::new(),
    };
    let run = choreo_guardian_membership_change::execute_as(
        choreo_guardian_membership_change::As::Account(&mut code),
        session,
        &choreo_guardian_membership_change::Params::default(),
    )
    .await;
    let AccountSession {
        state, proposal, ..
    } = code;
    if let Err(e) = run {
        let e = ServiceError::from(e);
        state.journal.record(MembershipFact::Rejected(e.reason()));
        return Err(e);
    }
    state.roster = proposal.proposed.clone();
    state
        .journal
        .record(MembershipFact::Roster(proposal.proposed.clone()));
    Ok(proposal.proposed)
}

/// When a guardian approves a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VotePolicy {
    /// Candidates it vouches for.
    pub vouched: Vec<Digest>,
    /// The smallest roster it lets a removal leave.
    pub min_guardians: usize,
}

/// A current guardian's membership state.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// Its id.
    pub guardian_id: Digest,
    /// Seed of its reshare commitments.
    pub share_seed: Digest,
    /// The roster it knows.
    pub roster: RosterView,
    /// Its policy.
    pub policy: VotePolicy,
    /// Facts of every change.
    pub journal: Journal<MembershipFact>,
}

/// One change as a current guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    proposal: Option<MembershipChangeProposal>,
    reshare_for: Option<Digest>,
    committed: bool,
}

impl GuardianSession<'_> {
    fn proposal(&self) -> Result<&MembershipChangeProposal, ServiceError> {
        self.proposal
            .as_ref()
            .ok_or(ServiceError::Missing("membership proposal"))
    }

    fn vote(&self) -> Result<Result<(), String>, ServiceError> {
        let p = self.proposal()?;
        if p.current != self.state.roster.digest() {
            return Ok(Err(
                "proposal is not against the roster this guardian knows".into(),
            ));
        }
        Ok(match &p.change {
            MembershipChange::Add(id) if !self.state.policy.vouched.contains(id) => {
                Err("does not vouch for the candidate".into())
            }
            MembershipChange::Remove(_)
                if p.proposed.members.len() < self.state.policy.min_guardians =>
            {
                Err("the roster would be too small".into())
            }
            _ => Ok(()),
        })
    }
}

/// Checks that a committed roster is the proposed one.
fn is_proposed(proposed: &RosterView, msg: &msg::MembershipCommitted) -> Result<(), ServiceError> {
    if msg.roster_digest == proposed.digest() && msg.epoch == proposed.epoch {
        Ok(())
    } else {
        Err(ServiceError::Refused(
            "the committed roster is not the proposed one".into(),
        ))
    }
}

impl choreo_guardian_membership_change::Guardian for GuardianSession<'_> {
    type Types = MembershipTypes;
    type Error = ServiceError;

    async fn on_membership_proposal(
        &mut self,
        _from: Peer,
        msg: MembershipChangeProposal,
    ) -> Result<(), ServiceError> {
        self.proposal = Some(msg);
        Ok(())
    }

    async fn membership_vote(&mut self, _to: Peer) -> Result<MembershipVote, ServiceError> {
        let vote = self.vote()?;
        self.state
            .journal
            .record(MembershipFact::Voted(self.state.guardian_id, vote.clone()));
        Ok(MembershipVote {
            guardian_id: self.state.guardian_id,
            vote,
        })
    }

    async fn on_reshare_request(
        &mut self,
        _from: Peer,
        msg: msg::ReshareRequest,
    ) -> Result<(), ServiceError> {
        let proposed = &self.proposal()?.proposed;
        if msg.roster_digest != proposed.digest() || msg.epoch != proposed.epoch {
            return Err(ServiceError::Refused("a reshare for another roster".into()));
        }
        self.reshare_for = Some(msg.roster_digest);
        Ok(())
    }

    async fn reshare_commitment(&mut self, _to: Peer) -> Result<ReshareCommitment, ServiceError> {
        let roster = self
            .reshare_for
            .ok_or(ServiceError::Missing("reshare request"))?;
        Ok(ReshareCommitment {
            guardian_id: self.state.guardian_id,
            commitment: crypto::digest("membership/reshare", &[&self.state.share_seed, &roster]),
        })
    }

    async fn on_membership_committed(
        &mut self,
        _from: Peer,
        msg: msg::MembershipCommitted,
    ) -> Result<(), ServiceError> {
        is_proposed(&self.proposal()?.proposed, &msg)?;
        self.committed = true;
        Ok(())
    }
}

/// Runs a current guardian: votes from its policy, commits to its reshare,
/// and adopts the committed roster.
pub async fn run_guardian<T: Transport>(
    session: Session<'_, T>,
    state: &mut GuardianState,
) -> Result<RosterView, ServiceError> {
    let mut code = GuardianSession {
        state,
        proposal: None,
        reshare_for: None,
        committed: false,
    };
    choreo_guardian_membership_change::execute_as(
        choreo_guardian_membership_change::As::Guardian(&mut code),
        session,
        &choreo_guardian_membership_change::Params::default(),
    )
    .await?;
    let (Some(proposal), true) = (code.proposal, code.committed) else {
        return Err(ServiceError::Missing("committed roster"));
    };
    code.state.roster = proposal.proposed.clone();
    code.state
        .journal
        .record(MembershipFact::Roster(proposal.proposed.clone()));
    Ok(proposal.proposed)
}

/// The candidate's state: the guardian being added or removed.
#[derive(Clone, Debug)]
pub struct CandidateState {
    /// Its id.
    pub candidate_id: Digest,
    /// Its signing key for confirmations.
    pub signing_key: Digest,
    /// Whether it is willing to serve as a guardian of this account.
    pub willing: bool,
    /// The roster it is part of, when it is.
    pub roster: Option<RosterView>,
    /// Facts of every change.
    pub journal: Journal<MembershipFact>,
}

/// One change as the candidate plays it.
struct CandidateSession<'s> {
    state: &'s mut CandidateState,
    notice: Option<MembershipNotice>,
    committed: bool,
}

impl CandidateSession<'_> {
    fn notice(&self) -> Result<&MembershipNotice, ServiceError> {
        self.notice
            .as_ref()
            .ok_or(ServiceError::Missing("membership notice"))
    }
}

impl choreo_guardian_membership_change::Candidate for CandidateSession<'_> {
    type Types = MembershipTypes;
    type Error = ServiceError;

    async fn on_membership_notice(
        &mut self,
        _from: Peer,
        msg: MembershipNotice,
    ) -> Result<(), ServiceError> {
        self.notice = Some(msg);
        Ok(())
    }

    async fn candidate_confirmation(
        &mut self,
        _to: Peer,
    ) -> Result<CandidateConfirmation, ServiceError> {
        let n = self.notice()?;
        if matches!(n.change, MembershipChange::Add(_)) && !self.state.willing {
            return Err(ServiceError::Refused("declines to serve".into()));
        }
        Ok(CandidateConfirmation {
            candidate_id: self.state.candidate_id,
            confirmation: crypto::mac(&self.state.signing_key, &[&n.proposed.digest()]),
        })
    }

    async fn on_membership_committed(
        &mut self,
        _from: Peer,
        msg: msg::MembershipCommitted,
    ) -> Result<(), ServiceError> {
        is_proposed(&self.notice()?.proposed, &msg)?;
        self.committed = true;
        Ok(())
    }
}

/// Runs the candidate: confirms joining (or signs its release) from its
/// policy (declining cancels the change), and learns the roster in force.
pub async fn run_candidate<T: Transport>(
    session: Session<'_, T>,
    state: &mut CandidateState,
) -> Result<RosterView, ServiceError> {
    let mut code = CandidateSession {
        state,
        notice: None,
        committed: false,
    };
    choreo_guardian_membership_change::execute_as(
        choreo_guardian_membership_change::As::Candidate(&mut code),
        session,
        &choreo_guardian_membership_change::Params::default(),
    )
    .await?;
    let CandidateSession {
        state,
        notice,
        committed,
    } = code;
    let (Some(notice), true) = (notice, committed) else {
        return Err(ServiceError::Missing("committed roster"));
    };
    let roster = notice.proposed;
    let member = roster.members.contains(&state.candidate_id);
    state.roster = member.then(|| roster.clone());
    state.journal.record(MembershipFact::Roster(roster.clone()));
    Ok(roster)
}
