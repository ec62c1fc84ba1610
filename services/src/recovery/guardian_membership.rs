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
//! the candidate confirmed and the new threshold of reshares arrived;
//! otherwise everyone keeps the current roster. For a removal the departing
//! guardian plays Candidate and does not vote.

use choreo_guardian_membership_change::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::ServiceError;

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

/// What the candidate is told: the change and whether the guardians approved it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipNotice {
    /// The change.
    pub change: MembershipChange,
    /// The roster it results in.
    pub proposed: RosterView,
    /// Whether the current threshold approved.
    pub approved: bool,
}

/// The candidate's join acceptance or signed release, or its refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateConfirmation {
    /// The candidate.
    pub candidate_id: Digest,
    /// Its confirmation, or why not.
    pub confirmation: Result<Digest, String>,
}

/// A remaining guardian's commitment to its reshare for the new roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareCommitment {
    /// The guardian.
    pub guardian_id: Digest,
    /// Its commitment, when it reshares.
    pub commitment: Option<Digest>,
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
    /// The roster now in force (new, or kept after a rejected change).
    Roster(RosterView),
}

/// How a change ended, for any role: the roster in force, and why when unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipOutcome {
    /// The roster in force afterwards.
    pub roster: RosterView,
    /// Why the change was not committed, when it was not.
    pub rejected: Option<String>,
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
    candidate: Option<String>,
    reshares: Vec<Digest>,
}

impl AccountSession<'_> {
    fn approved(&self) -> bool {
        self.approvals.len() >= usize::from(self.state.roster.threshold.max(1))
    }

    /// Why the change is not committed, if it is not.
    fn rejection(&self) -> Option<String> {
        let needed = self.proposal.proposed.threshold;
        if !self.approved() {
            Some(format!(
                "{} approvals, {} needed",
                self.approvals.len(),
                self.state.roster.threshold
            ))
        } else if let Some(why) = &self.candidate {
            Some(format!("candidate: {why}"))
        } else if self.reshares.len() < usize::from(needed) {
            Some(format!("{} reshares, {needed} needed", self.reshares.len()))
        } else {
            None
        }
    }

    fn in_force(&self) -> RosterView {
        match self.rejection() {
            None => self.proposal.proposed.clone(),
            Some(_) => self.state.roster.clone(),
        }
    }
}

impl choreo_guardian_membership_change::Account<MembershipTypes> for AccountSession<'_> {
    fn membership_proposal(&mut self, _to: &Peer) -> MembershipChangeProposal {
        self.proposal.clone()
    }

    fn on_membership_vote(&mut self, _from: &Peer, msg: MembershipVote) {
        let member = self.state.roster.members.contains(&msg.guardian_id);
        if msg.vote.is_ok() && member && !self.approvals.contains(&msg.guardian_id) {
            self.approvals.push(msg.guardian_id);
        }
        self.state
            .journal
            .record(MembershipFact::Voted(msg.guardian_id, msg.vote));
    }

    fn membership_notice(&mut self, _to: &Peer) -> MembershipNotice {
        let p = &self.proposal;
        MembershipNotice {
            change: p.change.clone(),
            proposed: p.proposed.clone(),
            approved: self.approved(),
        }
    }

    fn on_candidate_confirmation(&mut self, _from: &Peer, msg: CandidateConfirmation) {
        let expected = match &self.proposal.change {
            MembershipChange::Add(id) | MembershipChange::Remove(id) => *id,
        };
        self.candidate = match msg.confirmation {
            Ok(_) if msg.candidate_id == expected => None,
            Ok(_) => Some("confirmation from another party".into()),
            Err(why) => Some(why),
        };
    }

    fn reshare_request(&mut self, _to: &Peer) -> msg::ReshareRequest {
        // Reshare for the proposed roster only if the change can still go ahead.
        let target = if self.approved() && self.candidate.is_none() {
            &self.proposal.proposed
        } else {
            &self.state.roster
        };
        msg::ReshareRequest {
            roster_digest: target.digest(),
            threshold: target.threshold,
            epoch: target.epoch,
        }
    }

    fn on_reshare_commitment(&mut self, _from: &Peer, msg: ReshareCommitment) {
        let remains = self.proposal.proposed.members.contains(&msg.guardian_id);
        if msg.commitment.is_some() && remains && !self.reshares.contains(&msg.guardian_id) {
            self.reshares.push(msg.guardian_id);
        }
    }

    fn membership_committed(&mut self, _to: &Peer) -> msg::MembershipCommitted {
        let roster = self.in_force();
        msg::MembershipCommitted {
            epoch: roster.epoch,
            roster_digest: roster.digest(),
        }
    }
}

/// Runs the Account: proposes `change` to the current guardians and commits
/// the new roster iff they approve, the candidate confirms and enough reshare.
pub async fn run_account<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut AccountState,
    change: MembershipChange,
) -> Result<MembershipOutcome, ServiceError> {
    let proposed = state.roster.after(&change);
    if proposed.members.is_empty() || proposed.members == state.roster.members {
        return Err(ServiceError::Invalid(
            "the change leaves the roster empty or unchanged".into(),
        ));
    }
    let proposal = MembershipChangeProposal {
        change,
        current: state.roster.digest(),
        proposed,
    };
    let mut session = AccountSession {
        state,
        proposal,
        approvals: Vec::new(),
        candidate: None,
        reshares: Vec::new(),
    };
    choreo_guardian_membership_change::execute_as::<MembershipTypes, _>(
        choreo_guardian_membership_change::As::Account(&mut session),
        adapter,
        &choreo_guardian_membership_change::Params::default(),
    )
    .await?;
    let (roster, rejected) = (session.in_force(), session.rejection());
    let state = session.state;
    state.roster = roster.clone();
    state.journal.record(MembershipFact::Roster(roster.clone()));
    Ok(MembershipOutcome { roster, rejected })
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
    reshare_for: Option<msg::ReshareRequest>,
    committed: Option<msg::MembershipCommitted>,
}

impl GuardianSession<'_> {
    fn vote(&self) -> Result<(), String> {
        let p = self.proposal.as_ref().ok_or("no proposal")?;
        if p.current != self.state.roster.digest() {
            return Err("proposal is not against the roster this guardian knows".into());
        }
        match &p.change {
            MembershipChange::Add(id) if !self.state.policy.vouched.contains(id) => {
                Err("does not vouch for the candidate".into())
            }
            MembershipChange::Remove(_)
                if p.proposed.members.len() < self.state.policy.min_guardians =>
            {
                Err("the roster would be too small".into())
            }
            _ => Ok(()),
        }
    }
}

impl choreo_guardian_membership_change::Guardian<MembershipTypes> for GuardianSession<'_> {
    fn on_membership_proposal(&mut self, _from: &Peer, msg: MembershipChangeProposal) {
        self.proposal = Some(msg);
    }

    fn membership_vote(&mut self, _to: &Peer) -> MembershipVote {
        let vote = self.vote();
        self.state
            .journal
            .record(MembershipFact::Voted(self.state.guardian_id, vote.clone()));
        MembershipVote {
            guardian_id: self.state.guardian_id,
            vote,
        }
    }

    fn on_reshare_request(&mut self, _from: &Peer, msg: msg::ReshareRequest) {
        self.reshare_for = Some(msg);
    }

    fn reshare_commitment(&mut self, _to: &Peer) -> ReshareCommitment {
        let proposed = self.proposal.as_ref().map(|p| p.proposed.digest());
        let commitment = match &self.reshare_for {
            Some(r) if Some(r.roster_digest) == proposed => Some(crypto::digest(
                "membership/reshare",
                &[&self.state.share_seed, &r.roster_digest],
            )),
            _ => None,
        };
        ReshareCommitment {
            guardian_id: self.state.guardian_id,
            commitment,
        }
    }

    fn on_membership_committed(&mut self, _from: &Peer, msg: msg::MembershipCommitted) {
        self.committed = Some(msg);
    }
}

/// Adopts the committed roster when it is the proposed one; keeps `current` otherwise.
fn adopt(
    current: &RosterView,
    proposed: Option<&RosterView>,
    committed: Option<&msg::MembershipCommitted>,
) -> MembershipOutcome {
    match (proposed, committed) {
        (Some(p), Some(c)) if c.roster_digest == p.digest() && c.epoch == p.epoch => {
            MembershipOutcome {
                roster: p.clone(),
                rejected: None,
            }
        }
        _ => MembershipOutcome {
            roster: current.clone(),
            rejected: Some("the roster is unchanged".into()),
        },
    }
}

/// Runs a current guardian: votes from its policy, commits to its reshare,
/// and adopts the committed roster.
pub async fn run_guardian<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut GuardianState,
) -> Result<MembershipOutcome, ServiceError> {
    let mut session = GuardianSession {
        state,
        proposal: None,
        reshare_for: None,
        committed: None,
    };
    choreo_guardian_membership_change::execute_as::<MembershipTypes, _>(
        choreo_guardian_membership_change::As::Guardian(&mut session),
        adapter,
        &choreo_guardian_membership_change::Params::default(),
    )
    .await?;
    let proposed = session.proposal.map(|p| p.proposed);
    let outcome = adopt(
        &session.state.roster,
        proposed.as_ref(),
        session.committed.as_ref(),
    );
    session.state.roster = outcome.roster.clone();
    session
        .state
        .journal
        .record(MembershipFact::Roster(outcome.roster.clone()));
    Ok(outcome)
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
    committed: Option<msg::MembershipCommitted>,
}

impl choreo_guardian_membership_change::Candidate<MembershipTypes> for CandidateSession<'_> {
    fn on_membership_notice(&mut self, _from: &Peer, msg: MembershipNotice) {
        self.notice = Some(msg);
    }

    fn candidate_confirmation(&mut self, _to: &Peer) -> CandidateConfirmation {
        let confirmation = match &self.notice {
            None => Err("no notice".into()),
            Some(n) if !n.approved => Err("the guardians did not approve".into()),
            Some(n) if matches!(n.change, MembershipChange::Add(_)) && !self.state.willing => {
                Err("declines to serve".into())
            }
            Some(n) => Ok(crypto::mac(
                &self.state.signing_key,
                &[&n.proposed.digest()],
            )),
        };
        CandidateConfirmation {
            candidate_id: self.state.candidate_id,
            confirmation,
        }
    }

    fn on_membership_committed(&mut self, _from: &Peer, msg: msg::MembershipCommitted) {
        self.committed = Some(msg);
    }
}

/// Runs the candidate: confirms joining (or signs its release) from its
/// policy, and learns the roster in force.
pub async fn run_candidate<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut CandidateState,
) -> Result<MembershipOutcome, ServiceError> {
    let mut session = CandidateSession {
        state,
        notice: None,
        committed: None,
    };
    choreo_guardian_membership_change::execute_as::<MembershipTypes, _>(
        choreo_guardian_membership_change::As::Candidate(&mut session),
        adapter,
        &choreo_guardian_membership_change::Params::default(),
    )
    .await?;
    let CandidateSession {
        state,
        notice,
        committed,
    } = session;
    let notice = notice.ok_or_else(|| ServiceError::Invalid("no notice".into()))?;
    let current = state.roster.clone().unwrap_or(RosterView {
        members: Vec::new(),
        threshold: 0,
        epoch: 0,
    });
    let outcome = adopt(&current, Some(&notice.proposed), committed.as_ref());
    if outcome.rejected.is_none() {
        let member = outcome.roster.members.contains(&state.candidate_id);
        state.roster = member.then(|| outcome.roster.clone());
        state
            .journal
            .record(MembershipFact::Roster(outcome.roster.clone()));
    }
    Ok(outcome)
}
