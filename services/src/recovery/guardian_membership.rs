//! GuardianMembershipChange: add or remove one guardian of the account.
//!
//! Implements the seed entry **GuardianMembershipChange** (CHOREO-REC-002,
//! owner `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: the membership change request and
//! journal state. A guardian is named by its Ed25519 identity key. Current
//! guardians vote from their policy (a candidate they vouch for, a roster
//! that stays large enough) against the roster they know; the candidate
//! confirms joining (or signs its release) from its own policy; the
//! remaining guardians commit to reshares for the new roster. The Account
//! commits the new roster iff the current threshold approved, the candidate
//! confirmed and the new threshold of reshares arrived. A change the
//! guardians do not approve, or that the candidate declines, is refused by
//! the role that decides it: the session is cancelled with the reason and
//! everyone keeps the current roster. For a removal the departing guardian
//! plays Candidate and does not vote.
//!
//! # Checks
//!
//! - The Account counts a vote only if it is signed (over the proposal's
//!   digest, which names a fresh change id) by a guardian of the current
//!   roster that did not vote yet; the same for reshare commitments, from
//!   guardians that remain. The candidate's confirmation must be signed by
//!   the candidate over the notice.
//! - A guardian refuses a proposal against the roster it knows whose
//!   proposed roster is not that roster with the change applied, and a
//!   reshare request or commit for another roster, threshold or epoch.
//! - The candidate refuses a notice that does not change its own membership,
//!   and a commit of another roster or epoch.
//!
//! A value that fails a check is refused with [`ServiceError::Unverified`],
//! which cancels the change for everyone; nothing of that step is recorded.
//!
//! # Who learns what
//!
//! - The current guardians learn the proposal (the change, the current and
//!   the proposed roster: public keys, thresholds, epochs), the reshare
//!   request and the commit. They do not learn each other's votes.
//! - The Account learns every vote with its reason, the candidate's signed
//!   confirmation and each guardian's reshare commitment (a hiding BLAKE3
//!   commitment to the guardian's secret share seed and the new roster: the
//!   seed never leaves the guardian).
//! - The candidate learns its notice only (the change and the proposed
//!   roster; `leak = "neighbor:1"`, one hop from the Account) and the
//!   committed roster's digest and epoch; not the votes.
//! - Identity signing keys and share seeds are zeroized on drop and never sent.
//!
//! # Limitation
//!
//! The reshare is a signed commitment only: no secret is reshared here (no
//! FROST resharing or redealing of the recovery secret to the new roster).
//! Until the recovery secret is redealt (a `GuardianCeremony` for the new
//! roster), the new roster's shares do not exist, and the Account cannot
//! check a commitment beyond its signature.

mod messages;

use choreo_guardian_membership_change::msg;
use choreo_runtime::{Peer, Session, Transport};

pub use messages::{
    CandidateConfirmation, MembershipChange, MembershipChangeProposal, MembershipFact,
    MembershipNotice, MembershipTypes, MembershipVote, ReshareCommitment, RosterView,
};

use crate::crypto::{self, Digest, SecretKey, SigningKey, VerifyingKey};
use crate::error::Check;
use crate::journal::FactLog;
use crate::{reject, ServiceError};
use messages::RESHARE_COMMIT;

/// The Account's membership state.
#[derive(Clone, Debug)]
pub struct AccountState {
    /// The roster in force.
    pub roster: RosterView,
}

/// One change as the Account plays it.
struct AccountSession<'s> {
    state: &'s mut AccountState,
    log: FactLog,
    proposal: MembershipChangeProposal,
    approvals: Vec<VerifyingKey>,
    voted: Vec<VerifyingKey>,
    confirmed: bool,
    reshares: Vec<VerifyingKey>,
}

impl AccountSession<'_> {
    /// Whether `guardian` votes and reshares: a current guardian that is not
    /// the one leaving.
    fn is_voter(&self, guardian: &VerifyingKey) -> bool {
        self.state.roster.members.contains(guardian)
            && *guardian != self.proposal.change.candidate()
    }
}

/// Refuses a signature by `guardian` that is not a voter's or not a first one.
fn check_contributor(
    voter: bool,
    seen: &[VerifyingKey],
    guardian: &VerifyingKey,
    what: &str,
) -> Result<(), ServiceError> {
    if !voter {
        return Err(ServiceError::unverified(
            Check::Signature,
            format!("a {what} signed by no voting guardian of the roster"),
        ));
    }
    if seen.contains(guardian) {
        return Err(ServiceError::unverified(
            Check::Threshold,
            format!("a second {what} of one guardian"),
        ));
    }
    Ok(())
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
        check_contributor(
            self.is_voter(&msg.guardian),
            &self.voted,
            &msg.guardian,
            "vote",
        )?;
        msg.verify(&self.proposal.digest()).map_err(|_| {
            ServiceError::unverified(Check::Signature, format!("the vote of {from}"))
        })?;
        let fact = MembershipFact::Voted(msg.guardian, msg.vote.clone());
        self.log.record(fact).await?;
        self.voted.push(msg.guardian);
        if msg.vote.is_ok() {
            self.approvals.push(msg.guardian);
        }
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
        Ok(self.proposal.notice())
    }

    async fn on_candidate_confirmation(
        &mut self,
        _from: Peer,
        msg: CandidateConfirmation,
    ) -> Result<(), ServiceError> {
        if msg.candidate != self.proposal.change.candidate() {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a confirmation by another party than the candidate",
            ));
        }
        msg.verify(&self.proposal.notice()).map_err(|_| {
            ServiceError::unverified(Check::Signature, "the candidate's confirmation")
        })?;
        self.log
            .record(MembershipFact::Confirmed(msg.candidate))
            .await?;
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
        let voter = self.is_voter(&msg.guardian);
        check_contributor(voter, &self.reshares, &msg.guardian, "reshare")?;
        msg.verify(&self.proposal.digest()).map_err(|_| {
            ServiceError::unverified(Check::Signature, format!("the reshare of {from}"))
        })?;
        self.reshares.push(msg.guardian);
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
        change_id: crypto::random(),
        change,
        current: state.roster.digest(),
        proposed,
    };
    let log = FactLog::of(&session);
    let mut code = AccountSession {
        state,
        log: log.clone(),
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
        log.record(MembershipFact::Rejected(e.reason())).await?;
        return Err(e);
    }
    let roster = proposal.proposed;
    log.record(MembershipFact::Roster(roster.clone())).await?;
    state.roster = roster.clone();
    Ok(roster)
}

/// When a guardian approves a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VotePolicy {
    /// Candidates it vouches for.
    pub vouched: Vec<VerifyingKey>,
    /// The smallest roster it lets a removal leave.
    pub min_guardians: usize,
}

/// A current guardian's membership state.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// Its identity key (its public key names it in rosters).
    pub identity: SigningKey,
    /// The secret seed of its reshare commitments (zeroized on drop).
    pub share_seed: SecretKey,
    /// The roster it knows.
    pub roster: RosterView,
    /// Its policy.
    pub policy: VotePolicy,
}

/// One change as a current guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    log: FactLog,
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

/// Checks that a roster named by `epoch` and `digest` is `proposed`.
fn check_roster(
    proposed: &RosterView,
    epoch: u64,
    digest: &Digest,
    what: &str,
) -> Result<(), ServiceError> {
    if epoch != proposed.epoch {
        return Err(ServiceError::unverified(
            Check::Epoch,
            format!("{what} for epoch {epoch}, not {}", proposed.epoch),
        ));
    }
    if crypto::ensure_eq(digest, &proposed.digest()).is_err() {
        return Err(ServiceError::unverified(
            Check::Binding,
            format!("{what} for another roster than the proposed one"),
        ));
    }
    Ok(())
}

impl choreo_guardian_membership_change::Guardian for GuardianSession<'_> {
    type Types = MembershipTypes;
    type Error = ServiceError;

    async fn on_membership_proposal(
        &mut self,
        _from: Peer,
        msg: MembershipChangeProposal,
    ) -> Result<(), ServiceError> {
        // Against the roster it knows, the proposed one must be that roster
        // with the change applied (a proposal against another roster gets a no).
        let known = &self.state.roster;
        if msg.current == known.digest() && msg.proposed != known.after(&msg.change) {
            return Err(ServiceError::unverified(
                Check::Binding,
                "the proposed roster is not the current one with the change applied",
            ));
        }
        self.proposal = Some(msg);
        Ok(())
    }

    async fn membership_vote(&mut self, _to: Peer) -> Result<MembershipVote, ServiceError> {
        let vote = self.vote()?;
        let digest = self.proposal()?.digest();
        let me = self.state.identity.verifying_key();
        (self.log)
            .record(MembershipFact::Voted(me, vote.clone()))
            .await?;
        Ok(MembershipVote::signed(&self.state.identity, &digest, vote))
    }

    async fn on_reshare_request(
        &mut self,
        _from: Peer,
        msg: msg::ReshareRequest,
    ) -> Result<(), ServiceError> {
        let proposed = &self.proposal()?.proposed;
        check_roster(proposed, msg.epoch, &msg.roster_digest, "a reshare")?;
        if msg.threshold != proposed.threshold {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a reshare for another threshold than the proposed one",
            ));
        }
        self.reshare_for = Some(msg.roster_digest);
        Ok(())
    }

    async fn reshare_commitment(&mut self, _to: Peer) -> Result<ReshareCommitment, ServiceError> {
        let roster = self
            .reshare_for
            .ok_or(ServiceError::Missing("reshare request"))?;
        let seed = self.state.share_seed.expose();
        let commitment = crypto::digest(RESHARE_COMMIT, &[seed, &roster]);
        let digest = self.proposal()?.digest();
        Ok(ReshareCommitment::signed(
            &self.state.identity,
            &digest,
            commitment,
        ))
    }

    async fn on_membership_committed(
        &mut self,
        _from: Peer,
        msg: msg::MembershipCommitted,
    ) -> Result<(), ServiceError> {
        let proposed = &self.proposal()?.proposed;
        check_roster(proposed, msg.epoch, &msg.roster_digest, "a commit")?;
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
    let log = FactLog::of(&session);
    let mut code = GuardianSession {
        state,
        log: log.clone(),
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
    let roster = proposal.proposed;
    log.record(MembershipFact::Roster(roster.clone())).await?;
    code.state.roster = roster.clone();
    Ok(roster)
}

/// The candidate's state: the guardian being added or removed.
#[derive(Clone, Debug)]
pub struct CandidateState {
    /// Its identity key (its public key names it in rosters).
    pub identity: SigningKey,
    /// Whether it is willing to serve as a guardian of this account.
    pub willing: bool,
    /// The roster it is part of, when it is.
    pub roster: Option<RosterView>,
}

/// One change as the candidate plays it.
struct CandidateSession<'s> {
    state: &'s mut CandidateState,
    log: FactLog,
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

/// Checks that `notice` changes the membership of `me`, as it says.
fn check_notice(notice: &MembershipNotice, me: &VerifyingKey) -> Result<(), ServiceError> {
    let joins = matches!(notice.change, MembershipChange::Add(_));
    if notice.change.candidate() != *me || notice.proposed.members.contains(me) != joins {
        return Err(ServiceError::unverified(
            Check::Binding,
            "a notice that does not change this candidate's membership",
        ));
    }
    Ok(())
}

impl choreo_guardian_membership_change::Candidate for CandidateSession<'_> {
    type Types = MembershipTypes;
    type Error = ServiceError;

    async fn on_membership_notice(
        &mut self,
        _from: Peer,
        msg: MembershipNotice,
    ) -> Result<(), ServiceError> {
        check_notice(&msg, &self.state.identity.verifying_key())?;
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
        let confirmation = CandidateConfirmation::signed(&self.state.identity, n);
        (self.log)
            .record(MembershipFact::Confirmed(confirmation.candidate))
            .await?;
        Ok(confirmation)
    }

    async fn on_membership_committed(
        &mut self,
        _from: Peer,
        msg: msg::MembershipCommitted,
    ) -> Result<(), ServiceError> {
        let proposed = &self.notice()?.proposed;
        check_roster(proposed, msg.epoch, &msg.roster_digest, "a commit")?;
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
    let log = FactLog::of(&session);
    let mut code = CandidateSession {
        state,
        log: log.clone(),
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
        ..
    } = code;
    let (Some(notice), true) = (notice, committed) else {
        return Err(ServiceError::Missing("committed roster"));
    };
    let roster = notice.proposed;
    log.record(MembershipFact::Roster(roster.clone())).await?;
    let member = roster.members.contains(&state.identity.verifying_key());
    state.roster = member.then(|| roster.clone());
    Ok(roster)
}
