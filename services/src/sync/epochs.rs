//! EpochRotationProtocol: move every replica of an account journal to a new epoch.
//!
//! Implements the seed entry **EpochRotationProtocol** (CHOREO-SYNC-001,
//! owner `aura-sync`, seed entry point `runtime/services/sync_manager.rs`).
//! Decision sourcing as the seed says: every message comes from the sync
//! manager's state. The Coordinator proposes a rotation (a fresh rotation
//! id, the closing and the new epoch, the replicas taking part), joins its
//! own facts with the checkpoint of replica 0, sends each replica the facts
//! it lacks (computed from the heads it reported), and commits the new epoch
//! with a digest binding the rotation id, the new epoch, the replicas and
//! the merged head. A replica advances only when its merged journal has
//! exactly that head; one holding facts nobody else has (or at another
//! epoch) stays behind and is reported as lagging (its acknowledgement
//! names the epoch it stayed at). A replica keeps what it merged only when
//! the rotation ran to its end.
//!
//! # Checks
//!
//! - A replica refuses a proposal whose new epoch is not strictly after both
//!   its own epoch and the closing one (stale or replayed), or that names
//!   other replicas than the session's; a checkpoint request or delta of
//!   another epoch than the closing one; and a commit of another epoch, or
//!   whose digest does not bind this rotation, its replicas and the head
//!   its delta announced.
//! - The Coordinator refuses a checkpoint of another epoch, one whose facts
//!   do not have its head, or whose head is not the one replica 0
//!   confirmed; and an acknowledgement of the new epoch by a replica that
//!   did not report the merged head, or of an epoch that is neither the new
//!   one nor an old one.
//!
//! A value that fails a check is refused with [`ServiceError::Unverified`],
//! which cancels the rotation for everyone; nothing of that step is
//! recorded and no replica merges. An acknowledgement is the last message:
//! when the Coordinator refuses one, the replicas that acknowledged before
//! may already have moved, but the Coordinator records no rotation.
//!
//! # Who learns what
//!
//! Nothing here is secret within the account group: the journal's facts are
//! the account's own, and journal heads and commit digests are BLAKE3
//! digests.
//!
//! - The Coordinator learns every replica's epoch and head
//!   (`leak = "Group"` of `EpochConfirmation`), the facts of replica 0's
//!   checkpoint and each replica's merged head.
//! - Each replica learns the proposal, the facts it lacks of the joined
//!   journal (its delta), the merged head and the commit digest; replica 0
//!   also learns the Coordinator's head. No replica learns another's head.

use std::collections::BTreeSet;

use choreo_epoch_rotation_protocol::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::{family_size, index_of, own_index, reject, ServiceError};

const COMMIT: &str = "choreo-services/epochs/commit";

/// The Coordinator's proposal to rotate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRotationProposal {
    /// Identifies this rotation (fresh per rotation: a commit of another
    /// does not apply).
    pub rotation_id: Digest,
    /// The epoch being closed.
    pub current_epoch: u64,
    /// The epoch being opened.
    pub new_epoch: u64,
    /// The member indices of the replicas taking part (every one of the family).
    pub participants: Vec<u16>,
    /// Why (`"key rotation"`, `"recovery"`).
    pub reason: String,
}

impl EpochRotationProposal {
    /// The `checkpoint_digest` of this rotation's commit with the merged
    /// journal `head`: binds the rotation id, the new epoch and the participants.
    pub fn commit_digest(&self, head: &Digest) -> Digest {
        let epoch = self.new_epoch.to_le_bytes();
        let participants = crypto::encode(&self.participants);
        crypto::digest(COMMIT, &[&self.rotation_id, &epoch, &participants, head])
    }
}

/// The checkpoint replica's facts for the closing epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalCheckpoint {
    /// The epoch.
    pub epoch: u64,
    /// Its facts, sorted.
    pub facts: Vec<String>,
    /// Their head.
    pub head: Digest,
}

/// The facts one replica lacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalDelta {
    /// The epoch.
    pub epoch: u64,
    /// Facts to merge, sorted.
    pub facts: Vec<String>,
    /// The head the replica should have afterwards.
    pub target_head: Digest,
}

/// Binds the protocol's payload types to this module's.
pub struct EpochTypes;

impl choreo_epoch_rotation_protocol::Types for EpochTypes {
    type EpochRotationProposal = EpochRotationProposal;
    type JournalCheckpoint = JournalCheckpoint;
    type JournalDelta = JournalDelta;
}

/// One replica of the account journal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// The current epoch.
    pub epoch: u64,
    /// Its facts (a grow-only set; the epoch labels the state they reached).
    pub facts: BTreeSet<String>,
}

impl Replica {
    /// The head of the replica: a digest of its epoch and facts.
    pub fn head(&self) -> Digest {
        head(self.epoch, &self.facts)
    }
}

fn head(epoch: u64, facts: &BTreeSet<String>) -> Digest {
    let e = epoch.to_le_bytes();
    let mut parts: Vec<&[u8]> = vec![&e];
    parts.extend(facts.iter().map(|f| f.as_bytes()));
    crypto::digest("epochs/head", &parts)
}

/// A fact of epoch rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpochFact {
    /// The rotation to this epoch committed, with this head.
    Rotated(u64, Digest),
    /// A replica stayed behind.
    Lagging(u16),
}

impl DomainFact for EpochFact {
    const PROTOCOL: &'static str = "EpochRotationProtocol";

    fn kind(&self) -> &'static str {
        match self {
            EpochFact::Rotated(..) => "Rotated",
            EpochFact::Lagging(..) => "Lagging",
        }
    }
}

/// The Coordinator's sync-manager state.
#[derive(Clone, Debug)]
pub struct CoordinatorState {
    /// Its own replica.
    pub replica: Replica,
}

/// How a rotation ended for the Coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationOutcome {
    /// The new epoch.
    pub epoch: u64,
    /// The merged head committed.
    pub head: Digest,
    /// Replicas that moved to the new epoch.
    pub rotated: Vec<u16>,
    /// Replicas that did not.
    pub lagging: Vec<u16>,
}

/// One rotation as the Coordinator plays it.
struct CoordinatorSession<'s> {
    state: &'s mut CoordinatorState,
    proposal: EpochRotationProposal,
    /// The head each replica confirmed.
    heads: Vec<(u16, Digest)>,
    checkpoint: Option<BTreeSet<String>>,
    merged: BTreeSet<String>,
    /// The head each replica reported after merging its delta.
    merged_heads: Vec<(u16, Digest)>,
    rotated: Vec<u16>,
}

impl CoordinatorSession<'_> {
    fn target(&self) -> Digest {
        head(self.proposal.current_epoch, &self.merged)
    }

    fn reported(list: &[(u16, Digest)], replica: u16) -> Option<Digest> {
        list.iter().find(|(p, _)| *p == replica).map(|(_, h)| *h)
    }
}

impl choreo_epoch_rotation_protocol::Coordinator for CoordinatorSession<'_> {
    type Types = EpochTypes;
    type Error = ServiceError;

    async fn epoch_rotation_proposal(
        &mut self,
        _to: Peer,
    ) -> Result<EpochRotationProposal, ServiceError> {
        Ok(self.proposal.clone())
    }

    async fn on_epoch_confirmation(
        &mut self,
        from: Peer,
        msg: msg::EpochConfirmation,
    ) -> Result<(), ServiceError> {
        self.heads.push((index_of(from)?, msg.journal_head));
        Ok(())
    }

    async fn checkpoint_request(
        &mut self,
        _to: Peer,
    ) -> Result<msg::CheckpointRequest, ServiceError> {
        Ok(msg::CheckpointRequest {
            epoch: self.proposal.current_epoch,
            journal_head: self.state.replica.head(),
        })
    }

    async fn on_journal_checkpoint(
        &mut self,
        from: Peer,
        msg: JournalCheckpoint,
    ) -> Result<(), ServiceError> {
        // Only the closing epoch's journal, as its head and the replica's
        // confirmation say, is joined in.
        let facts: BTreeSet<String> = msg.facts.into_iter().collect();
        if msg.epoch != self.proposal.current_epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!("the checkpoint of {from} is of epoch {}", msg.epoch),
            ));
        }
        if crypto::ensure_eq(&head(msg.epoch, &facts), &msg.head).is_err() {
            return Err(ServiceError::unverified(
                Check::Commitment,
                format!("the checkpoint of {from} does not match its head"),
            ));
        }
        let confirmed = Self::reported(&self.heads, index_of(from)?);
        if confirmed != Some(msg.head) {
            return Err(ServiceError::unverified(
                Check::Transcript,
                format!("the checkpoint of {from} is not the journal it confirmed"),
            ));
        }
        self.merged.extend(facts.iter().cloned());
        self.checkpoint = Some(facts);
        Ok(())
    }

    async fn journal_delta(&mut self, to: Peer) -> Result<JournalDelta, ServiceError> {
        // The replica's head names a state the Coordinator knows, or the full journal goes.
        let reported = Self::reported(&self.heads, index_of(to)?);
        let epoch = self.proposal.current_epoch;
        let known = [
            Some(&self.merged),
            Some(&self.state.replica.facts),
            self.checkpoint.as_ref(),
        ];
        let base = known
            .into_iter()
            .flatten()
            .find(|set| Some(head(epoch, set)) == reported);
        let facts = match base {
            Some(base) => self.merged.difference(base).cloned().collect(),
            None => self.merged.iter().cloned().collect(),
        };
        Ok(JournalDelta {
            epoch,
            facts,
            target_head: self.target(),
        })
    }

    async fn on_delta_merged(
        &mut self,
        from: Peer,
        msg: msg::DeltaMerged,
    ) -> Result<(), ServiceError> {
        // A replica whose merged head differs stays behind; its acknowledgement tells.
        self.merged_heads.push((index_of(from)?, msg.journal_head));
        Ok(())
    }

    async fn epoch_commit(&mut self, _to: Peer) -> Result<msg::EpochCommit, ServiceError> {
        Ok(msg::EpochCommit {
            new_epoch: self.proposal.new_epoch,
            checkpoint_digest: self.proposal.commit_digest(&self.target()),
        })
    }

    async fn on_epoch_rotation_ack(
        &mut self,
        from: Peer,
        msg: msg::EpochRotationAck,
    ) -> Result<(), ServiceError> {
        // A replica that stayed at its old epoch is lagging, not failing; one
        // that moved must have merged exactly the committed journal.
        let replica = index_of(from)?;
        if msg.new_epoch == self.proposal.new_epoch {
            let merged = Self::reported(&self.merged_heads, replica);
            if merged != Some(self.target()) {
                return Err(ServiceError::unverified(
                    Check::Transcript,
                    format!("{from} acknowledges a journal it did not merge"),
                ));
            }
            self.rotated.push(replica);
        } else if msg.new_epoch > self.proposal.current_epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!("{from} acknowledges epoch {}", msg.new_epoch),
            ));
        }
        Ok(())
    }
}

/// Runs the Coordinator: rotates every replica from the current epoch to the
/// next, for `reason`, after joining their journals.
pub async fn run_coordinator<T: Transport>(
    session: Session<'_, T>,
    state: &mut CoordinatorState,
    reason: &str,
) -> Result<RotationOutcome, ServiceError> {
    let replicas = match family_size(&session, Role::Participant.index()) {
        Ok(n) => n,
        Err(e) => return Err(reject(session, e)),
    };
    let current_epoch = state.replica.epoch;
    let proposal = EpochRotationProposal {
        rotation_id: crypto::random(),
        current_epoch,
        new_epoch: current_epoch + 1,
        participants: (0..replicas).collect(),
        reason: reason.into(),
    };
    let log = FactLog::of(&session);
    let merged = state.replica.facts.clone();
    let mut code = CoordinatorSession {
        state,
        proposal,
        heads: Vec::new(),
        checkpoint: None,
        merged,
        merged_heads: Vec::new(),
        rotated: Vec::new(),
    };
    choreo_epoch_rotation_protocol::execute_as(
        choreo_epoch_rotation_protocol::As::Coordinator(&mut code),
        session,
        &choreo_epoch_rotation_protocol::Params::default(),
    )
    .await?;
    let head = code.target();
    let CoordinatorSession {
        state,
        proposal,
        merged,
        rotated,
        ..
    } = code;
    let lagging: Vec<u16> = (0..replicas).filter(|r| !rotated.contains(r)).collect();
    let mut facts = vec![EpochFact::Rotated(proposal.new_epoch, head)];
    facts.extend(lagging.iter().map(|r| EpochFact::Lagging(*r)));
    log.record_all(&facts).await?;
    state.replica = Replica {
        epoch: proposal.new_epoch,
        facts: merged,
    };
    Ok(RotationOutcome {
        epoch: proposal.new_epoch,
        head,
        rotated,
        lagging,
    })
}

/// A replica's sync state.
#[derive(Clone, Debug)]
pub struct ParticipantState {
    /// Its replica.
    pub replica: Replica,
}

/// One rotation as a replica plays it.
struct ParticipantSession<'s> {
    state: &'s mut ParticipantState,
    /// The size of the Participant family.
    replicas: u16,
    proposal: Option<EpochRotationProposal>,
    /// The replica's facts joined with its delta, when the delta applied.
    merged: Option<BTreeSet<String>>,
    /// The head the delta said the merged journal has.
    target: Option<Digest>,
    rotated: bool,
}

impl ParticipantSession<'_> {
    fn proposal(&self) -> Result<&EpochRotationProposal, ServiceError> {
        self.proposal
            .as_ref()
            .ok_or(ServiceError::Missing("rotation proposal"))
    }

    /// The head of the replica as merged so far.
    fn merged_head(&self) -> Digest {
        let facts = self.merged.as_ref().unwrap_or(&self.state.replica.facts);
        head(self.state.replica.epoch, facts)
    }
}

/// Refuses a value of `epoch` where `expected` is due.
fn check_epoch(epoch: u64, expected: u64, what: &str) -> Result<(), ServiceError> {
    if epoch == expected {
        Ok(())
    } else {
        Err(ServiceError::unverified(
            Check::Epoch,
            format!("{what} of epoch {epoch}, not {expected}"),
        ))
    }
}

impl choreo_epoch_rotation_protocol::Participant for ParticipantSession<'_> {
    type Types = EpochTypes;
    type Error = ServiceError;

    async fn on_epoch_rotation_proposal(
        &mut self,
        _from: Peer,
        msg: EpochRotationProposal,
    ) -> Result<(), ServiceError> {
        // A stale or replayed rotation opens no epoch after the current one.
        let current = self.state.replica.epoch.max(msg.current_epoch);
        if msg.new_epoch <= current {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!("a rotation to epoch {}, not after {current}", msg.new_epoch),
            ));
        }
        if msg.participants != (0..self.replicas).collect::<Vec<_>>() {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a rotation of other replicas than the session's",
            ));
        }
        self.proposal = Some(msg);
        Ok(())
    }

    async fn epoch_confirmation(
        &mut self,
        _to: Peer,
    ) -> Result<msg::EpochConfirmation, ServiceError> {
        let r = &self.state.replica;
        Ok(msg::EpochConfirmation {
            current_epoch: r.epoch,
            journal_head: r.head(),
        })
    }

    async fn on_checkpoint_request(
        &mut self,
        _from: Peer,
        msg: msg::CheckpointRequest,
    ) -> Result<(), ServiceError> {
        check_epoch(
            msg.epoch,
            self.proposal()?.current_epoch,
            "a checkpoint request",
        )
    }

    async fn journal_checkpoint(&mut self, _to: Peer) -> Result<JournalCheckpoint, ServiceError> {
        let r = &self.state.replica;
        Ok(JournalCheckpoint {
            epoch: r.epoch,
            facts: r.facts.iter().cloned().collect(),
            head: r.head(),
        })
    }

    async fn on_journal_delta(
        &mut self,
        _from: Peer,
        msg: JournalDelta,
    ) -> Result<(), ServiceError> {
        check_epoch(msg.epoch, self.proposal()?.current_epoch, "a delta")?;
        // A replica of another epoch does not merge: it stays behind.
        if msg.epoch == self.state.replica.epoch {
            let mut merged = self.state.replica.facts.clone();
            merged.extend(msg.facts);
            self.merged = Some(merged);
        }
        self.target = Some(msg.target_head);
        Ok(())
    }

    async fn delta_merged(&mut self, _to: Peer) -> Result<msg::DeltaMerged, ServiceError> {
        Ok(msg::DeltaMerged {
            journal_head: self.merged_head(),
        })
    }

    async fn on_epoch_commit(
        &mut self,
        _from: Peer,
        msg: msg::EpochCommit,
    ) -> Result<(), ServiceError> {
        let proposal = self.proposal()?;
        check_epoch(msg.new_epoch, proposal.new_epoch, "a commit")?;
        let target = self.target.ok_or(ServiceError::Missing("journal delta"))?;
        let expected = proposal.commit_digest(&target);
        if crypto::ensure_eq(&msg.checkpoint_digest, &expected).is_err() {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a commit of another rotation, replica set or journal",
            ));
        }
        // Advance only with exactly the journal that was committed.
        self.rotated = self.merged_head() == target;
        Ok(())
    }

    async fn epoch_rotation_ack(
        &mut self,
        _to: Peer,
    ) -> Result<msg::EpochRotationAck, ServiceError> {
        let new_epoch = match self.rotated {
            true => self.proposal()?.new_epoch,
            false => self.state.replica.epoch,
        };
        Ok(msg::EpochRotationAck { new_epoch })
    }
}

/// How a rotation ended for a replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantOutcome {
    /// Its epoch afterwards.
    pub epoch: u64,
    /// Whether it moved to the new epoch.
    pub rotated: bool,
}

/// Runs a replica: reports its head (and, as replica 0, its checkpoint),
/// merges the delta it is sent, and moves to the new epoch when its journal
/// matches the committed head. Nothing is merged when the rotation is
/// cancelled.
pub async fn run_participant<T: Transport>(
    session: Session<'_, T>,
    state: &mut ParticipantState,
) -> Result<ParticipantOutcome, ServiceError> {
    let replicas = own_index(&session, Role::Participant.name())
        .and_then(|_| family_size(&session, Role::Participant.index()));
    let replicas = match replicas {
        Ok(n) => n,
        Err(e) => return Err(reject(session, e)),
    };
    let log = FactLog::of(&session);
    let mut code = ParticipantSession {
        state,
        replicas,
        proposal: None,
        merged: None,
        target: None,
        rotated: false,
    };
    choreo_epoch_rotation_protocol::execute_as(
        choreo_epoch_rotation_protocol::As::Participant(&mut code),
        session,
        &choreo_epoch_rotation_protocol::Params::default(),
    )
    .await?;
    let ParticipantSession {
        state,
        proposal,
        merged,
        target,
        rotated,
        ..
    } = code;
    if let (true, Some(p), Some(head)) = (rotated, &proposal, target) {
        log.record(EpochFact::Rotated(p.new_epoch, head)).await?;
        state.replica.epoch = p.new_epoch;
    }
    if let Some(merged) = merged {
        state.replica.facts = merged;
    }
    Ok(ParticipantOutcome {
        epoch: state.replica.epoch,
        rotated,
    })
}
