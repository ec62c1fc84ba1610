//! EpochRotationProtocol: move every replica of an account journal to a new epoch.
//!
//! Implements the seed entry **EpochRotationProtocol** (CHOREO-SYNC-001,
//! owner `aura-sync`, seed entry point `runtime/services/sync_manager.rs`).
//! Decision sourcing as the seed says: every message comes from the sync
//! manager's state. The Coordinator joins its own facts with the checkpoint
//! of replica 0 (checked against its head), sends each replica the facts it
//! lacks (computed from the heads it reported), and commits the new epoch
//! with the merged head. A replica advances only when its merged journal has
//! exactly that head; one holding facts nobody else has stays behind and is
//! reported as lagging (its acknowledgement names the epoch it stayed at). A
//! checkpoint that does not match its own head or the closing epoch makes
//! the Coordinator refuse: the rotation is cancelled for every replica
//! before anything is merged.
//!
//! # Who learns what
//!
//! - Journal heads and checkpoint digests are BLAKE3 digests; every replica
//!   learns the facts it lacks (`leak = "Group"`), nothing is secret here.

use std::collections::BTreeSet;

use choreo_epoch_rotation_protocol::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::stand_in::Journal;
use crate::{family_size, index_of, own_index, reject, ServiceError};

/// The Coordinator's proposal to rotate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRotationProposal {
    /// The epoch being closed.
    pub current_epoch: u64,
    /// The epoch being opened.
    pub new_epoch: u64,
    /// Why (`"key rotation"`, `"recovery"`).
    pub reason: String,
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

/// The Coordinator's sync-manager state.
#[derive(Clone, Debug)]
pub struct CoordinatorState {
    /// Its own replica.
    pub replica: Replica,
    /// Facts of every rotation.
    pub journal: Journal<EpochFact>,
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
    heads: Vec<(u16, Digest)>,
    checkpoint: Option<BTreeSet<String>>,
    merged: BTreeSet<String>,
    rotated: Vec<u16>,
}

impl CoordinatorSession<'_> {
    fn target(&self) -> Digest {
        head(self.proposal.current_epoch, &self.merged)
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
        let facts: BTreeSet<String> = msg.facts.into_iter().collect();
        // Only a checkpoint that matches its own head and epoch is joined in.
        if msg.epoch != self.proposal.current_epoch || head(msg.epoch, &facts) != msg.head {
            return Err(ServiceError::Refused(format!(
                "the checkpoint of {from} does not match its head and epoch"
            )));
        }
        self.merged.extend(facts.iter().cloned());
        self.checkpoint = Some(facts);
        Ok(())
    }

    async fn journal_delta(&mut self, to: Peer) -> Result<JournalDelta, ServiceError> {
        // The replica's head names a state the Coordinator knows, or the full journal goes.
        let replica = index_of(to)?;
        let reported = self
            .heads
            .iter()
            .find(|(p, _)| *p == replica)
            .map(|(_, h)| *h);
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
        _from: Peer,
        _msg: msg::DeltaMerged,
    ) -> Result<(), ServiceError> {
        // A replica whose merged head differs stays behind; its acknowledgement tells.
        Ok(())
    }

    async fn epoch_commit(&mut self, _to: Peer) -> Result<msg::EpochCommit, ServiceError> {
        Ok(msg::EpochCommit {
            new_epoch: self.proposal.new_epoch,
            checkpoint_digest: self.target(),
        })
    }

    async fn on_epoch_rotation_ack(
        &mut self,
        from: Peer,
        msg: msg::EpochRotationAck,
    ) -> Result<(), ServiceError> {
        // A replica that stayed at another epoch is lagging, not failing.
        if msg.new_epoch == self.proposal.new_epoch {
            self.rotated.push(index_of(from)?);
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
        current_epoch,
        new_epoch: current_epoch + 1,
        reason: reason.into(),
    };
    let merged = state.replica.facts.clone();
    let mut code = CoordinatorSession {
        state,
        proposal,
        heads: Vec::new(),
        checkpoint: None,
        merged,
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
    state.replica = Replica {
        epoch: proposal.new_epoch,
        facts: merged,
    };
    state
        .journal
        .record(EpochFact::Rotated(proposal.new_epoch, head));
    let lagging: Vec<u16> = (0..replicas).filter(|r| !rotated.contains(r)).collect();
    for r in &lagging {
        state.journal.record(EpochFact::Lagging(*r));
    }
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
    /// Facts of every rotation.
    pub journal: Journal<EpochFact>,
}

/// One rotation as a replica plays it.
struct ParticipantSession<'s> {
    state: &'s mut ParticipantState,
    target: Option<Digest>,
    rotated: bool,
}

impl choreo_epoch_rotation_protocol::Participant for ParticipantSession<'_> {
    type Types = EpochTypes;
    type Error = ServiceError;

    async fn on_epoch_rotation_proposal(
        &mut self,
        _from: Peer,
        _msg: EpochRotationProposal,
    ) -> Result<(), ServiceError> {
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
        _msg: msg::CheckpointRequest,
    ) -> Result<(), ServiceError> {
        Ok(())
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
        // A delta of another epoch does not apply: this replica stays behind.
        if msg.epoch == self.state.replica.epoch {
            self.state.replica.facts.extend(msg.facts);
            self.target = Some(msg.target_head);
        }
        Ok(())
    }

    async fn delta_merged(&mut self, _to: Peer) -> Result<msg::DeltaMerged, ServiceError> {
        Ok(msg::DeltaMerged {
            journal_head: self.state.replica.head(),
        })
    }

    async fn on_epoch_commit(
        &mut self,
        _from: Peer,
        msg: msg::EpochCommit,
    ) -> Result<(), ServiceError> {
        // Advance only with exactly the journal that was committed.
        if self.state.replica.head() == msg.checkpoint_digest
            && self.target == Some(msg.checkpoint_digest)
        {
            self.state.replica.epoch = msg.new_epoch;
            self.state
                .journal
                .record(EpochFact::Rotated(msg.new_epoch, msg.checkpoint_digest));
            self.rotated = true;
        }
        Ok(())
    }

    async fn epoch_rotation_ack(
        &mut self,
        _to: Peer,
    ) -> Result<msg::EpochRotationAck, ServiceError> {
        Ok(msg::EpochRotationAck {
            new_epoch: self.state.replica.epoch,
        })
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
/// matches the committed head.
pub async fn run_participant<T: Transport>(
    session: Session<'_, T>,
    state: &mut ParticipantState,
) -> Result<ParticipantOutcome, ServiceError> {
    if let Err(e) = own_index(&session, Role::Participant.name()) {
        return Err(reject(session, e));
    }
    let mut code = ParticipantSession {
        state,
        target: None,
        rotated: false,
    };
    choreo_epoch_rotation_protocol::execute_as(
        choreo_epoch_rotation_protocol::As::Participant(&mut code),
        session,
        &choreo_epoch_rotation_protocol::Params::default(),
    )
    .await?;
    Ok(ParticipantOutcome {
        epoch: code.state.replica.epoch,
        rotated: code.rotated,
    })
}
