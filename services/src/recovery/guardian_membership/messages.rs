//! The payloads of GuardianMembershipChange, their digests and signatures,
//! and its facts.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest, Signature, SigningKey, VerifyingKey};
use crate::journal::DomainFact;

const ROSTER: &str = "choreo-services/guardian-membership/roster";
const PROPOSAL: &str = "choreo-services/guardian-membership/proposal";
const NOTICE: &str = "choreo-services/guardian-membership/notice";
const VOTE: &str = "choreo-services/guardian-membership/vote";
const CONFIRM: &str = "choreo-services/guardian-membership/confirm";
const RESHARE: &str = "choreo-services/guardian-membership/reshare";
pub(super) const RESHARE_COMMIT: &str = "choreo-services/guardian-membership/reshare-commitment";

/// A guardian roster: who, how many to recover, since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterView {
    /// The guardians' identity keys.
    pub members: Vec<VerifyingKey>,
    /// Shares needed to recover.
    pub threshold: u16,
    /// The epoch of this roster.
    pub epoch: u64,
}

impl RosterView {
    /// The roster's digest, as every party computes it.
    pub fn digest(&self) -> Digest {
        crypto::digest(ROSTER, &[&crypto::encode(self)])
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
    Add(VerifyingKey),
    /// Remove this guardian.
    Remove(VerifyingKey),
}

impl MembershipChange {
    /// The guardian being added or removed.
    pub fn candidate(&self) -> VerifyingKey {
        match self {
            MembershipChange::Add(id) | MembershipChange::Remove(id) => *id,
        }
    }
}

/// The Account's proposal to the current guardians.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChangeProposal {
    /// Identifies this change (fresh per change: votes of another do not count).
    pub change_id: Digest,
    /// The change.
    pub change: MembershipChange,
    /// Digest of the roster it applies to.
    pub current: Digest,
    /// The roster it results in.
    pub proposed: RosterView,
}

impl MembershipChangeProposal {
    /// The digest votes and reshare commitments sign.
    pub fn digest(&self) -> Digest {
        crypto::digest(PROPOSAL, &[&crypto::encode(self)])
    }

    /// What the candidate is told of this proposal.
    pub fn notice(&self) -> MembershipNotice {
        MembershipNotice {
            change_id: self.change_id,
            change: self.change.clone(),
            proposed: self.proposed.clone(),
        }
    }
}

/// A guardian's signed vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipVote {
    /// The voter's identity key.
    pub guardian: VerifyingKey,
    /// Approval, or why not.
    pub vote: Result<(), String>,
    /// The voter's signature over the proposal's digest and the vote.
    pub signature: Signature,
}

impl MembershipVote {
    /// `vote` on the proposal with digest `proposal`, signed with `identity`.
    pub fn signed(identity: &SigningKey, proposal: &Digest, vote: Result<(), String>) -> Self {
        let signature = identity.sign(VOTE, &[proposal, &crypto::encode(&vote)]);
        MembershipVote {
            guardian: identity.verifying_key(),
            vote,
            signature,
        }
    }

    /// Checks the signature over the proposal with digest `proposal`.
    pub fn verify(&self, proposal: &Digest) -> Result<(), crypto::CryptoError> {
        let vote = crypto::encode(&self.vote);
        (self.guardian).verify(VOTE, &[proposal, &vote], &self.signature)
    }
}

/// What the candidate is told once the current threshold approved the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipNotice {
    /// The change's id.
    pub change_id: Digest,
    /// The change.
    pub change: MembershipChange,
    /// The roster it results in.
    pub proposed: RosterView,
}

impl MembershipNotice {
    /// The digest the candidate's confirmation signs.
    pub fn digest(&self) -> Digest {
        crypto::digest(NOTICE, &[&crypto::encode(self)])
    }
}

/// The candidate's signed join acceptance or release (it declines by refusing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateConfirmation {
    /// The candidate's identity key.
    pub candidate: VerifyingKey,
    /// Its signature over the notice's digest.
    pub signature: Signature,
}

impl CandidateConfirmation {
    /// The confirmation of `notice`, signed with `identity`.
    pub fn signed(identity: &SigningKey, notice: &MembershipNotice) -> Self {
        CandidateConfirmation {
            candidate: identity.verifying_key(),
            signature: identity.sign(CONFIRM, &[&notice.digest()]),
        }
    }

    /// Checks the signature over `notice`.
    pub fn verify(&self, notice: &MembershipNotice) -> Result<(), crypto::CryptoError> {
        (self.candidate).verify(CONFIRM, &[&notice.digest()], &self.signature)
    }
}

/// A remaining guardian's signed commitment to its reshare for the new roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareCommitment {
    /// The guardian's identity key.
    pub guardian: VerifyingKey,
    /// Its commitment (BLAKE3 of its share seed and the new roster's digest).
    pub commitment: Digest,
    /// Its signature over the proposal's digest and the commitment.
    pub signature: Signature,
}

impl ReshareCommitment {
    /// `commitment` for the proposal with digest `proposal`, signed with `identity`.
    pub fn signed(identity: &SigningKey, proposal: &Digest, commitment: Digest) -> Self {
        ReshareCommitment {
            guardian: identity.verifying_key(),
            commitment,
            signature: identity.sign(RESHARE, &[proposal, &commitment]),
        }
    }

    /// Checks the signature over the proposal with digest `proposal`.
    pub fn verify(&self, proposal: &Digest) -> Result<(), crypto::CryptoError> {
        (self.guardian).verify(RESHARE, &[proposal, &self.commitment], &self.signature)
    }
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
    /// A guardian voted (recorded by the Account and the voter).
    Voted(VerifyingKey, Result<(), String>),
    /// The candidate confirmed (recorded by the Account and the candidate).
    Confirmed(VerifyingKey),
    /// The roster now in force after a committed change.
    Roster(RosterView),
    /// The change was not committed (refused or cancelled), and why.
    Rejected(String),
}

impl DomainFact for MembershipFact {
    const PROTOCOL: &'static str = "GuardianMembershipChange";

    fn kind(&self) -> &'static str {
        match self {
            MembershipFact::Voted(..) => "Voted",
            MembershipFact::Confirmed(..) => "Confirmed",
            MembershipFact::Roster(..) => "Roster",
            MembershipFact::Rejected(..) => "Rejected",
        }
    }
}
