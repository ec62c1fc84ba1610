//! Hostile parties of an epoch rotation: each plays one role through the
//! generated trait and gets one value wrong; the honest role that checks it
//! refuses with the check it fails, the others are cancelled, and nothing of
//! the refused step is on record or merged.

use choreo_epoch_rotation_protocol::{msg, As, Params};
use choreo_services::sync::epochs::{
    EpochRotationProposal, EpochTypes, JournalCheckpoint, JournalDelta,
};

use super::*;

/// The replicas of every hostile run, all at epoch 4.
fn replicas() -> Vec<Replica> {
    vec![replica(&["a"]), replica(&["a", "b"]), replica(&[])]
}

/// The journal they join to.
fn joined() -> BTreeSet<String> {
    ["a", "b"].map(String::from).into()
}

#[track_caller]
fn assert_unverified<T: std::fmt::Debug>(outcome: &Result<T, ServiceError>, check: Check) {
    match outcome {
        Err(e) => assert_eq!(e.failed_check(), Some(check), "{e}"),
        Ok(v) => panic!("expected a refusal ({check}), got {v:?}"),
    }
}

// ---------------------------------------------------------------- coordinator

/// What a hostile Coordinator gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CoordinatorLie {
    /// Proposes a rotation to the current epoch.
    StaleEpoch,
    /// Replays an older rotation (2 to 3).
    ReplayedEpoch,
    /// Proposes closing epoch 6 for epoch 5.
    BackwardsEpoch,
    /// Names two replicas of the three.
    OtherParticipants,
    /// Asks for the checkpoint of another epoch.
    CheckpointEpoch,
    /// Sends deltas of another epoch.
    DeltaEpoch,
    /// Commits another epoch than the proposed one.
    CommitEpoch,
    /// Commits with the digest of another rotation.
    CommitOtherRotation,
    /// Commits with a digest over other replicas.
    CommitOtherParticipants,
    /// Commits with a digest over another journal head.
    CommitOtherHead,
}

struct HostileCoordinator {
    lie: CoordinatorLie,
    proposal: EpochRotationProposal,
}

impl HostileCoordinator {
    fn new(lie: CoordinatorLie) -> Self {
        let (current_epoch, new_epoch) = match lie {
            CoordinatorLie::StaleEpoch => (4, 4),
            CoordinatorLie::ReplayedEpoch => (2, 3),
            CoordinatorLie::BackwardsEpoch => (6, 5),
            _ => (4, 5),
        };
        let participants = match lie {
            CoordinatorLie::OtherParticipants => vec![0, 1],
            _ => vec![0, 1, 2],
        };
        HostileCoordinator {
            lie,
            proposal: EpochRotationProposal {
                rotation_id: choreo_services::crypto::random(),
                current_epoch,
                new_epoch,
                participants,
                reason: "key rotation".into(),
            },
        }
    }

    fn target(&self) -> choreo_services::crypto::Digest {
        Replica {
            epoch: 4,
            facts: joined(),
        }
        .head()
    }
}

impl choreo_epoch_rotation_protocol::Coordinator for HostileCoordinator {
    type Types = EpochTypes;
    type Error = ServiceError;

    async fn epoch_rotation_proposal(
        &mut self,
        _: Peer,
    ) -> Result<EpochRotationProposal, ServiceError> {
        Ok(self.proposal.clone())
    }

    async fn on_epoch_confirmation(
        &mut self,
        _: Peer,
        _: msg::EpochConfirmation,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn checkpoint_request(
        &mut self,
        _: Peer,
    ) -> Result<msg::CheckpointRequest, ServiceError> {
        let stale = self.lie == CoordinatorLie::CheckpointEpoch;
        Ok(msg::CheckpointRequest {
            epoch: if stale { 3 } else { 4 },
            journal_head: replica(&["a"]).head(),
        })
    }

    async fn on_journal_checkpoint(
        &mut self,
        _: Peer,
        _: JournalCheckpoint,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn journal_delta(&mut self, _: Peer) -> Result<JournalDelta, ServiceError> {
        let stale = self.lie == CoordinatorLie::DeltaEpoch;
        Ok(JournalDelta {
            epoch: if stale { 5 } else { 4 },
            facts: joined().into_iter().collect(),
            target_head: self.target(),
        })
    }

    async fn on_delta_merged(&mut self, _: Peer, _: msg::DeltaMerged) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn epoch_commit(&mut self, _: Peer) -> Result<msg::EpochCommit, ServiceError> {
        let mut bound = self.proposal.clone();
        let mut head = self.target();
        match self.lie {
            CoordinatorLie::CommitEpoch => bound.new_epoch = 6,
            CoordinatorLie::CommitOtherRotation => bound.rotation_id = [7; 32],
            CoordinatorLie::CommitOtherParticipants => bound.participants = vec![0, 1],
            CoordinatorLie::CommitOtherHead => head = replica(&["a"]).head(),
            _ => {}
        }
        Ok(msg::EpochCommit {
            new_epoch: bound.new_epoch,
            checkpoint_digest: bound.commit_digest(&head),
        })
    }

    async fn on_epoch_rotation_ack(
        &mut self,
        _: Peer,
        _: msg::EpochRotationAck,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_refuse_a_hostile_coordinators_values_and_merge_nothing() {
    use CoordinatorLie::*;
    let cases = [
        (StaleEpoch, Check::Epoch),
        (ReplayedEpoch, Check::Epoch),
        (BackwardsEpoch, Check::Epoch),
        (OtherParticipants, Check::Binding),
        (CheckpointEpoch, Check::Epoch),
        (DeltaEpoch, Check::Epoch),
        (CommitEpoch, Check::Epoch),
        (CommitOtherRotation, Check::Binding),
        (CommitOtherParticipants, Check::Binding),
        (CommitOtherHead, Check::Binding),
    ];
    for (lie, check) in cases {
        let mut h = new_harness(3);
        let mut hostile = HostileCoordinator::new(lie);
        let mut states: Vec<ParticipantState> = replicas()
            .into_iter()
            .map(|replica| ParticipantState { replica })
            .collect();
        let params = Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(COORDINATOR);
        let members = sessions.members("Participant", 3);
        sessions.done();
        let (_, ends) = tokio::join!(
            choreo_epoch_rotation_protocol::execute_as(
                As::Coordinator(&mut hostile),
                lead,
                &params
            ),
            join_all(
                members
                    .into_iter()
                    .zip(states.iter_mut())
                    .map(|(s, p)| run_participant(s, p))
            ),
        );
        let mut refused = 0;
        for (k, end) in ends.iter().enumerate() {
            match end {
                Err(ServiceError::Cancelled { .. }) => {}
                other => {
                    assert_unverified(other, check);
                    refused += 1;
                }
            }
            let theirs = epoch_facts(&h, Peer::member("Participant", k as u32));
            assert!(theirs.is_empty(), "{lie:?}: Participant[{k}]: {theirs:?}");
        }
        assert!(refused > 0, "{lie:?}: no replica refused: {ends:?}");
        let after: Vec<Replica> = states.into_iter().map(|s| s.replica).collect();
        assert_eq!(after, replicas(), "{lie:?}: nothing merged or rotated");
    }
}

// ---------------------------------------------------------------- participant

/// What a hostile replica gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParticipantLie {
    /// Replica 0's checkpoint is of epoch 3 (consistent with its head).
    CheckpointEpoch,
    /// Replica 0's checkpoint holds a fact its head does not.
    CheckpointForged,
    /// Replica 0's checkpoint is consistent but not the journal it confirmed.
    CheckpointUnconfirmed,
    /// Replica 1 merges nothing, yet acknowledges the new epoch.
    FalseAck,
    /// Replica 1 acknowledges an epoch after the new one.
    AckFutureEpoch,
}

struct HostileReplica {
    lie: ParticipantLie,
    replica: Replica,
    proposal: Option<EpochRotationProposal>,
    delta: Option<JournalDelta>,
}

impl choreo_epoch_rotation_protocol::Participant for HostileReplica {
    type Types = EpochTypes;
    type Error = ServiceError;

    async fn on_epoch_rotation_proposal(
        &mut self,
        _: Peer,
        msg: EpochRotationProposal,
    ) -> Result<(), ServiceError> {
        self.proposal = Some(msg);
        Ok(())
    }

    async fn epoch_confirmation(
        &mut self,
        _: Peer,
    ) -> Result<msg::EpochConfirmation, ServiceError> {
        Ok(msg::EpochConfirmation {
            current_epoch: self.replica.epoch,
            journal_head: self.replica.head(),
        })
    }

    async fn on_checkpoint_request(
        &mut self,
        _: Peer,
        _: msg::CheckpointRequest,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn journal_checkpoint(&mut self, _: Peer) -> Result<JournalCheckpoint, ServiceError> {
        let mut shown = self.replica.clone();
        match self.lie {
            ParticipantLie::CheckpointEpoch => shown.epoch = 3,
            ParticipantLie::CheckpointUnconfirmed => {
                shown.facts.insert("unconfirmed".into());
            }
            _ => {}
        }
        let head = shown.head();
        if self.lie == ParticipantLie::CheckpointForged {
            shown.facts.insert("forged".into());
        }
        Ok(JournalCheckpoint {
            epoch: shown.epoch,
            facts: shown.facts.into_iter().collect(),
            head,
        })
    }

    async fn on_journal_delta(&mut self, _: Peer, msg: JournalDelta) -> Result<(), ServiceError> {
        self.delta = Some(msg);
        Ok(())
    }

    async fn delta_merged(&mut self, _: Peer) -> Result<msg::DeltaMerged, ServiceError> {
        let delta = self.delta.as_ref().expect("a delta");
        let journal_head = match self.lie {
            ParticipantLie::FalseAck => self.replica.head(),
            _ => delta.target_head,
        };
        Ok(msg::DeltaMerged { journal_head })
    }

    async fn on_epoch_commit(&mut self, _: Peer, _: msg::EpochCommit) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn epoch_rotation_ack(&mut self, _: Peer) -> Result<msg::EpochRotationAck, ServiceError> {
        let new_epoch = self.proposal.as_ref().expect("a proposal").new_epoch;
        let future = self.lie == ParticipantLie::AckFutureEpoch;
        Ok(msg::EpochRotationAck {
            new_epoch: if future { new_epoch + 1 } else { new_epoch },
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_refuses_a_hostile_replicas_checkpoint_or_ack() {
    use ParticipantLie::*;
    let cases = [
        (CheckpointEpoch, Check::Epoch, 0),
        (CheckpointForged, Check::Commitment, 0),
        (CheckpointUnconfirmed, Check::Transcript, 0),
        (FalseAck, Check::Transcript, 1),
        (AckFutureEpoch, Check::Epoch, 1),
    ];
    for (lie, check, liar) in cases {
        let mut h = new_harness(3);
        let mut coordinator = CoordinatorState {
            replica: replica(&["a"]),
        };
        let mut hostile = HostileReplica {
            lie,
            replica: replicas()[liar].clone(),
            proposal: None,
            delta: None,
        };
        let mut states: Vec<ParticipantState> = replicas()
            .into_iter()
            .map(|replica| ParticipantState { replica })
            .collect();
        let params = Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(COORDINATOR);
        let mut members: Vec<_> = sessions
            .members("Participant", 3)
            .into_iter()
            .map(Some)
            .collect();
        sessions.done();
        let hostile_session = members[liar].take().expect("a session");
        let honest = members
            .into_iter()
            .zip(states.iter_mut())
            .filter_map(|(s, p)| s.map(|s| run_participant(s, p)));
        let (outcome, ends, _) = tokio::join!(
            run_coordinator(lead, &mut coordinator, "key rotation"),
            join_all(honest),
            choreo_epoch_rotation_protocol::execute_as(
                As::Participant(&mut hostile),
                hostile_session,
                &params
            ),
        );
        assert_unverified(&outcome, check);
        assert_eq!(
            coordinator.replica,
            replica(&["a"]),
            "{lie:?}: nothing merged"
        );
        let mine = epoch_facts(&h, COORDINATOR);
        assert!(mine.is_empty(), "{lie:?}: {mine:?}");
        if liar == 0 {
            // Refused before any delta: every replica is cancelled unchanged.
            for end in &ends {
                assert_cancelled(end, COORDINATOR, "");
            }
            for (k, state) in states.iter().enumerate() {
                assert_eq!(state.replica, replicas()[k], "{lie:?}: Participant[{k}]");
                let theirs = epoch_facts(&h, Peer::member("Participant", k as u32));
                assert!(theirs.is_empty(), "{lie:?}: Participant[{k}]");
            }
        }
    }
}
