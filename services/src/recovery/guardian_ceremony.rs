//! GuardianCeremony: rotate the account's guardian key shares.
//!
//! Implements the seed entry **GuardianCeremony** (CHOREO-REC-003, owner
//! `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: proposal, response, commit or abort
//! come from service state, and the Initiator's Commit/Abort from its policy:
//! it commits only when at least `policy.threshold` guardians accepted. Each
//! guardian accepts or declines from its own view and policy (the prestate it
//! knows, the next epoch, a minimum threshold). On Commit every guardian gets
//! a fresh Shamir share of the new secret, sealed under its pairwise key. A
//! response, commit, share or confirmation that does not check out makes
//! the role that finds it refuse, which cancels the ceremony for everyone;
//! a state that cannot run a ceremony is refused before anything is sent.

use choreo_guardian_ceremony::{choice::AbortOrCommit, msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::shamir::{self, Share};
use crate::{family_size, index_of, own_index, reject, ServiceError};

/// The rotation proposed against the account's current prestate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyProposal {
    /// Identifies the ceremony (digest of prestate and new epoch).
    pub ceremony_id: Digest,
    /// Digest of the account state the rotation applies to.
    pub prestate: Digest,
    /// The epoch the new shares belong to.
    pub new_epoch: u64,
    /// Shares needed to reconstruct the new secret.
    pub threshold: u16,
    /// Guardians that receive a share.
    pub total: u16,
}

/// A guardian's answer to the proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyResponse {
    /// The ceremony answered.
    pub ceremony_id: Digest,
    /// Whether the guardian takes part, or why it declines.
    pub answer: Result<(), String>,
}

/// The Initiator's commit: the new epoch and who accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyCommit {
    /// The ceremony committed.
    pub ceremony_id: Digest,
    /// The epoch the shares now belong to.
    pub new_epoch: u64,
    /// Member indices of the guardians that accepted.
    pub accepted_by: Vec<u16>,
}

/// One guardian's new share, sealed under its pairwise key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedKeyShare {
    /// The ceremony the share belongs to.
    pub ceremony_id: Digest,
    /// The share's evaluation point (member index + 1).
    pub share_index: u16,
    /// The share's bytes, sealed.
    pub sealed: Vec<u8>,
    /// Commitment to the plaintext share.
    pub commitment: Digest,
}

/// The Initiator's abort and its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyAbort {
    /// The ceremony aborted.
    pub ceremony_id: Digest,
    /// Why.
    pub reason: String,
}

/// Binds the protocol's payload types to this module's.
pub struct GuardianCeremonyTypes;

impl choreo_guardian_ceremony::Types for GuardianCeremonyTypes {
    type CeremonyProposal = CeremonyProposal;
    type CeremonyResponse = CeremonyResponse;
    type CeremonyCommit = CeremonyCommit;
    type EncryptedKeyShare = EncryptedKeyShare;
    type CeremonyAbort = CeremonyAbort;
}

/// A fact of the ceremony, as recorded by either role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CeremonyFact {
    /// The Initiator proposed the ceremony.
    Proposed {
        /// The ceremony.
        ceremony_id: Digest,
        /// Its epoch.
        new_epoch: u64,
    },
    /// A guardian answered (recorded by both sides).
    Responded {
        /// The guardian's member index.
        guardian: u16,
        /// Its answer.
        accepted: bool,
    },
    /// The ceremony was committed.
    Committed {
        /// The ceremony.
        ceremony_id: Digest,
        /// Its epoch.
        new_epoch: u64,
    },
    /// The ceremony was aborted.
    Aborted {
        /// The ceremony.
        ceremony_id: Digest,
        /// Why.
        reason: String,
    },
    /// A guardian installed its new share (recorded by both sides).
    ShareInstalled {
        /// The guardian's member index.
        guardian: u16,
        /// The share's epoch.
        new_epoch: u64,
    },
    /// A delivered share did not match its commitment.
    ShareRejected {
        /// The guardian's member index.
        guardian: u16,
    },
}

/// The account as the Initiator knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountState {
    /// Digest of the current account state.
    pub prestate: Digest,
    /// The current epoch.
    pub epoch: u64,
}

/// When the Initiator commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeremonyPolicy {
    /// Acceptances needed to commit; also the new sharing's threshold.
    pub threshold: u16,
}

/// The Initiator's service state.
#[derive(Clone, Debug)]
pub struct InitiatorState {
    /// The account being rotated; its epoch advances on Commit.
    pub account: AccountState,
    /// The commit policy.
    pub policy: CeremonyPolicy,
    /// The key shared with each guardian, by member index.
    pub guardian_keys: Vec<Digest>,
    /// The new secret the guardians' shares split.
    pub new_secret: [u8; 32],
    /// Facts of every ceremony run.
    pub journal: Journal<CeremonyFact>,
}

/// How a ceremony ended for the Initiator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitiatorOutcome {
    /// Committed; shares were delivered.
    Committed {
        /// The new epoch.
        new_epoch: u64,
        /// Guardians that accepted.
        accepted_by: Vec<u16>,
        /// Guardians that confirmed installing their share.
        installed_by: Vec<u16>,
    },
    /// Aborted, with the reason sent to the guardians.
    Aborted {
        /// Why.
        reason: String,
    },
}

/// One ceremony as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut InitiatorState,
    proposal: CeremonyProposal,
    shares: Vec<Share>,
    accepted: Vec<u16>,
    installed: Vec<u16>,
}

impl InitiatorSession<'_> {
    /// The share and pairwise key of guardian `peer`.
    fn share_for(&self, peer: Peer) -> Result<(&Share, &Digest), ServiceError> {
        let i = usize::from(index_of(peer)?);
        match (self.shares.get(i), self.state.guardian_keys.get(i)) {
            (Some(share), Some(key)) => Ok((share, key)),
            _ => Err(ServiceError::Invalid(format!("no share for {peer}"))),
        }
    }

    /// Why the ceremony aborts: fewer guardians accepted than the policy needs.
    fn shortfall(&self) -> Option<String> {
        let needed = self.state.policy.threshold;
        (self.accepted.len() < usize::from(needed)).then(|| {
            format!(
                "{} of {} guardians accepted, the policy needs {needed}",
                self.accepted.len(),
                self.proposal.total
            )
        })
    }
}

impl choreo_guardian_ceremony::Initiator for InitiatorSession<'_> {
    type Types = GuardianCeremonyTypes;
    type Error = ServiceError;

    async fn propose_rotation(&mut self, _to: Peer) -> Result<CeremonyProposal, ServiceError> {
        Ok(self.proposal.clone())
    }

    async fn on_ceremony_response(
        &mut self,
        from: Peer,
        msg: CeremonyResponse,
    ) -> Result<(), ServiceError> {
        if msg.ceremony_id != self.proposal.ceremony_id {
            return Err(ServiceError::Refused(format!(
                "{from} answered another ceremony"
            )));
        }
        let guardian = index_of(from)?;
        let accepted = msg.answer.is_ok();
        if accepted {
            self.accepted.push(guardian);
        }
        let fact = CeremonyFact::Responded { guardian, accepted };
        self.state.journal.record(fact);
        Ok(())
    }

    async fn choose_abort_or_commit(&mut self) -> Result<AbortOrCommit, ServiceError> {
        Ok(match self.shortfall() {
            Some(_) => AbortOrCommit::Abort,
            None => AbortOrCommit::Commit,
        })
    }

    async fn abort_ceremony(&mut self, _to: Peer) -> Result<CeremonyAbort, ServiceError> {
        let reason = self.shortfall().ok_or_else(|| {
            ServiceError::Invalid("asked to abort a ceremony the policy commits".into())
        })?;
        Ok(CeremonyAbort {
            ceremony_id: self.proposal.ceremony_id,
            reason,
        })
    }

    async fn commit_ceremony(&mut self, _to: Peer) -> Result<CeremonyCommit, ServiceError> {
        Ok(CeremonyCommit {
            ceremony_id: self.proposal.ceremony_id,
            new_epoch: self.proposal.new_epoch,
            accepted_by: self.accepted.clone(),
        })
    }

    async fn key_share_delivery(&mut self, to: Peer) -> Result<EncryptedKeyShare, ServiceError> {
        let id = self.proposal.ceremony_id;
        let (share, key) = self.share_for(to)?;
        Ok(EncryptedKeyShare {
            ceremony_id: id,
            share_index: u16::from(share.index),
            sealed: crypto::seal(key, &id, &share.bytes),
            commitment: share_commitment(&id, &share.bytes),
        })
    }

    async fn on_share_installed(
        &mut self,
        from: Peer,
        msg: msg::ShareInstalled,
    ) -> Result<(), ServiceError> {
        let expected = u16::from(self.share_for(from)?.0.index);
        if msg.ceremony_id != self.proposal.ceremony_id || msg.share_index != expected {
            return Err(ServiceError::Refused(format!(
                "{from} confirms a share it was not sent"
            )));
        }
        let guardian = index_of(from)?;
        self.installed.push(guardian);
        let new_epoch = self.proposal.new_epoch;
        let fact = CeremonyFact::ShareInstalled {
            guardian,
            new_epoch,
        };
        self.state.journal.record(fact);
        Ok(())
    }
}

/// The commitment a share is checked against.
fn share_commitment(ceremony_id: &Digest, share: &[u8]) -> Digest {
    crypto::digest("guardian-ceremony/share", &[ceremony_id, share])
}

/// The proposal and the new shares for a ceremony among `total` guardians.
fn prepare(
    state: &InitiatorState,
    total: u16,
) -> Result<(CeremonyProposal, Vec<Share>), ServiceError> {
    if state.guardian_keys.len() < usize::from(total) {
        return Err(ServiceError::Invalid(format!(
            "{} guardian keys for {total} guardians",
            state.guardian_keys.len()
        )));
    }
    let new_epoch = state.account.epoch + 1;
    let ceremony_id = crypto::digest(
        "guardian-ceremony/id",
        &[&state.account.prestate, &new_epoch.to_le_bytes()],
    );
    let threshold = state.policy.threshold;
    let shares =
        shamir::split(&state.new_secret, threshold, total, &ceremony_id).ok_or_else(|| {
            ServiceError::Invalid(format!("threshold {threshold} of {total} guardians"))
        })?;
    let proposal = CeremonyProposal {
        ceremony_id,
        prestate: state.account.prestate,
        new_epoch,
        threshold,
        total,
    };
    Ok((proposal, shares))
}

/// Runs the Initiator: proposes the rotation to every guardian, commits when
/// the policy threshold accepted (delivering each guardian its new share),
/// otherwise aborts. A state that cannot run the ceremony is refused before
/// anything is sent, and the guardians are told why.
pub async fn run_initiator<T: Transport>(
    session: Session<'_, T>,
    state: &mut InitiatorState,
) -> Result<InitiatorOutcome, ServiceError> {
    let prepared = family_size(&session, Role::Guardian.index()).and_then(|n| prepare(state, n));
    let (proposal, shares) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return Err(reject(session, e)),
    };
    let (ceremony_id, new_epoch) = (proposal.ceremony_id, proposal.new_epoch);
    state.journal.record(CeremonyFact::Proposed {
        ceremony_id,
        new_epoch,
    });
    let mut code = InitiatorSession {
        state,
        proposal,
        shares,
        accepted: Vec::new(),
        installed: Vec::new(),
    };
    choreo_guardian_ceremony::execute_as(
        choreo_guardian_ceremony::As::Initiator(&mut code),
        session,
        &choreo_guardian_ceremony::Params::default(),
    )
    .await?;
    let shortfall = code.shortfall();
    let InitiatorSession {
        state,
        accepted,
        installed,
        ..
    } = code;
    Ok(match shortfall {
        Some(reason) => {
            state.journal.record(CeremonyFact::Aborted {
                ceremony_id,
                reason: reason.clone(),
            });
            InitiatorOutcome::Aborted { reason }
        }
        None => {
            state.journal.record(CeremonyFact::Committed {
                ceremony_id,
                new_epoch,
            });
            state.account.epoch = new_epoch;
            InitiatorOutcome::Committed {
                new_epoch,
                accepted_by: accepted,
                installed_by: installed,
            }
        }
    })
}

/// When a guardian takes part in a ceremony.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardianPolicy {
    /// The lowest threshold this guardian accepts to share a secret under.
    pub min_threshold: u16,
}

/// A share a guardian holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledShare {
    /// The epoch of the sharing.
    pub epoch: u64,
    /// The share.
    pub share: Share,
}

/// A guardian's service state.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// The account state this guardian last saw.
    pub view: AccountState,
    /// Its policy.
    pub policy: GuardianPolicy,
    /// The key it shares with the Initiator.
    pub initiator_key: Digest,
    /// The share it holds, replaced on Commit.
    pub share: Option<InstalledShare>,
    /// Facts of every ceremony it took part in.
    pub journal: Journal<CeremonyFact>,
}

/// How a ceremony ended for a guardian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardianOutcome {
    /// Committed and the new share installed.
    Installed {
        /// The new epoch.
        epoch: u64,
    },
    /// Aborted by the Initiator.
    Aborted {
        /// The Initiator's reason.
        reason: String,
    },
}

/// One ceremony as a guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    me: u16,
    proposal: Option<CeremonyProposal>,
    committed: Option<CeremonyCommit>,
    installed: Option<Share>,
    outcome: Option<GuardianOutcome>,
}

impl GuardianSession<'_> {
    /// Why this guardian declines `p`, if it does.
    fn objection(&self, p: &CeremonyProposal) -> Option<String> {
        let view = &self.state.view;
        if p.prestate != view.prestate {
            Some("proposal is not against the prestate this guardian knows".into())
        } else if p.new_epoch != view.epoch + 1 {
            Some(format!(
                "epoch {} does not follow {}",
                p.new_epoch, view.epoch
            ))
        } else if p.threshold < self.state.policy.min_threshold || p.threshold > p.total {
            Some(format!(
                "threshold {} of {} is outside policy",
                p.threshold, p.total
            ))
        } else {
            None
        }
    }

    fn proposal(&self) -> Result<&CeremonyProposal, ServiceError> {
        self.proposal
            .as_ref()
            .ok_or(ServiceError::Missing("ceremony proposal"))
    }
}

impl choreo_guardian_ceremony::Guardian for GuardianSession<'_> {
    type Types = GuardianCeremonyTypes;
    type Error = ServiceError;

    async fn on_propose_rotation(
        &mut self,
        _from: Peer,
        msg: CeremonyProposal,
    ) -> Result<(), ServiceError> {
        self.proposal = Some(msg);
        Ok(())
    }

    async fn ceremony_response(&mut self, _to: Peer) -> Result<CeremonyResponse, ServiceError> {
        let p = self.proposal()?;
        let response = CeremonyResponse {
            ceremony_id: p.ceremony_id,
            answer: self.objection(p).map_or(Ok(()), Err),
        };
        let fact = CeremonyFact::Responded {
            guardian: self.me,
            accepted: response.answer.is_ok(),
        };
        self.state.journal.record(fact);
        Ok(response)
    }

    async fn on_abort_ceremony(
        &mut self,
        _from: Peer,
        msg: CeremonyAbort,
    ) -> Result<(), ServiceError> {
        if msg.ceremony_id != self.proposal()?.ceremony_id {
            return Err(ServiceError::Refused("abort of another ceremony".into()));
        }
        let reason = msg.reason.clone();
        self.state.journal.record(CeremonyFact::Aborted {
            ceremony_id: msg.ceremony_id,
            reason,
        });
        self.outcome = Some(GuardianOutcome::Aborted { reason: msg.reason });
        Ok(())
    }

    async fn on_commit_ceremony(
        &mut self,
        _from: Peer,
        msg: CeremonyCommit,
    ) -> Result<(), ServiceError> {
        let p = self.proposal()?;
        if msg.ceremony_id != p.ceremony_id || msg.new_epoch != p.new_epoch {
            return Err(ServiceError::Refused(
                "commit of another ceremony or epoch".into(),
            ));
        }
        let (ceremony_id, new_epoch) = (msg.ceremony_id, msg.new_epoch);
        self.state.journal.record(CeremonyFact::Committed {
            ceremony_id,
            new_epoch,
        });
        self.committed = Some(msg);
        Ok(())
    }

    async fn on_key_share_delivery(
        &mut self,
        _from: Peer,
        msg: EncryptedKeyShare,
    ) -> Result<(), ServiceError> {
        let commit = self
            .committed
            .as_ref()
            .ok_or(ServiceError::Missing("ceremony commit"))?;
        let opened = crypto::open(&self.state.initiator_key, &commit.ceremony_id, &msg.sealed);
        let valid = msg.ceremony_id == commit.ceremony_id
            && share_commitment(&commit.ceremony_id, &opened) == msg.commitment;
        let (true, Some(bytes), Ok(index)) = (
            valid,
            crypto::array32(&opened),
            u8::try_from(msg.share_index),
        ) else {
            self.state
                .journal
                .record(CeremonyFact::ShareRejected { guardian: self.me });
            return Err(ServiceError::Refused(
                "the delivered share does not match its commitment".into(),
            ));
        };
        let share = Share { index, bytes };
        let epoch = commit.new_epoch;
        self.installed = Some(share.clone());
        self.state.share = Some(InstalledShare { epoch, share });
        self.state.view.epoch = epoch;
        let fact = CeremonyFact::ShareInstalled {
            guardian: self.me,
            new_epoch: epoch,
        };
        self.state.journal.record(fact);
        self.outcome = Some(GuardianOutcome::Installed { epoch });
        Ok(())
    }

    async fn share_installed(&mut self, _to: Peer) -> Result<msg::ShareInstalled, ServiceError> {
        match (&self.committed, &self.installed) {
            (Some(commit), Some(share)) => Ok(msg::ShareInstalled {
                ceremony_id: commit.ceremony_id,
                share_index: u16::from(share.index),
            }),
            _ => Err(ServiceError::Missing("key share")),
        }
    }
}

/// Runs a guardian: answers the proposal from its policy, then installs its
/// new share on Commit or discards the ceremony on Abort. A delivered share
/// that does not match its commitment cancels the ceremony.
pub async fn run_guardian<T: Transport>(
    session: Session<'_, T>,
    state: &mut GuardianState,
) -> Result<GuardianOutcome, ServiceError> {
    let me = match own_index(&session, Role::Guardian.name()) {
        Ok(me) => me,
        Err(e) => return Err(reject(session, e)),
    };
    let mut code = GuardianSession {
        state,
        me,
        proposal: None,
        committed: None,
        installed: None,
        outcome: None,
    };
    choreo_guardian_ceremony::execute_as(
        choreo_guardian_ceremony::As::Guardian(&mut code),
        session,
        &choreo_guardian_ceremony::Params::default(),
    )
    .await?;
    code.outcome.ok_or(ServiceError::Missing("commit or abort"))
}
