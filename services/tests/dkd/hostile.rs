//! Hostile peers of DkdChoreography: a participant and an Initiator of the
//! test's own that each forge, replay, misdirect or stale one value. The
//! honest side must refuse it with the check it failed and record nothing of
//! that step; the session is cancelled for the others.

use choreo_dkd_choreography::msg;
use choreo_runtime::Peer;
use choreo_services::authentication::dkd::{
    ack_digest, binding, commitment, input, run_initiator, run_participant, CommitmentSet,
    DerivationRequest, DerivationShare, DerivedPublicKey, DkdFact, DkdTypes, InitiatorState,
};
use choreo_services::crypto::tprf::{self, Partial};
use choreo_services::crypto::{self, SealKey};
use choreo_services::error::Check;
use choreo_services::ServiceError;
use futures_util::future::join_all;

use super::common::{assert_cancelled, Harness, TIMEOUT};
use super::{dkd_facts, participants, root, CAPS, INITIATOR};

/// Participants of each hostile derivation; all must contribute.
const N: u32 = 3;

fn derivation_id(name: &str) -> crypto::Digest {
    crypto::digest("derivation", &[name.as_bytes()])
}

/// What the hostile participant (Participant[1]) gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParticipantLie {
    /// Commits as participant 0.
    Impersonate,
    /// Reveals another partial than the one it committed to.
    ForgedReveal,
    /// Commits to and reveals the partial of a share that is not its own.
    WrongShare,
    /// Commits to and reveals its partial with a proof made for another
    /// derivation.
    ReplayedProof,
    /// Reveals for another derivation.
    ForeignReveal,
    /// Seals its reveal to a key that is not the Initiator's.
    MisSealed,
    /// Acknowledges the key as published by another derivation.
    ReplayedAck,
}

/// A participant of the test's own: honest but for its lie.
struct HostileParticipant {
    lie: ParticipantLie,
    /// Its real share, and a share of another root.
    share: tprf::Share,
    stranger: tprf::Share,
    salt: crypto::Digest,
    request: Option<DerivationRequest>,
    partial: Option<Partial>,
    derived: Option<DerivedPublicKey>,
}

impl HostileParticipant {
    /// Its partial for `request`, as its lie has it.
    fn partial(&self, request: &DerivationRequest) -> Partial {
        use ParticipantLie::*;
        let share = if self.lie == WrongShare {
            &self.stranger
        } else {
            &self.share
        };
        let at = input(self.share.verifying_key(), request).unwrap();
        let id = if self.lie == ReplayedProof {
            derivation_id("an earlier one")
        } else {
            request.derivation_id
        };
        tprf::evaluate(share, &at, &binding(&id, 1))
    }
}

impl choreo_dkd_choreography::Participant for HostileParticipant {
    type Types = DkdTypes;
    type Error = ServiceError;

    async fn on_derivation_request(
        &mut self,
        _: Peer,
        msg: DerivationRequest,
    ) -> Result<(), ServiceError> {
        self.partial = Some(self.partial(&msg));
        self.request = Some(msg);
        Ok(())
    }

    async fn share_commitment(&mut self, _: Peer) -> Result<msg::ShareCommitment, ServiceError> {
        Ok(msg::ShareCommitment {
            commitment: commitment(self.partial.as_ref().unwrap(), &self.salt),
            participant_id: u16::from(self.lie != ParticipantLie::Impersonate),
        })
    }

    async fn on_commitment_set(&mut self, _: Peer, _: CommitmentSet) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn share_reveal(&mut self, _: Peer) -> Result<DerivationShare, ServiceError> {
        let mut request = self.request.clone().unwrap();
        let mut partial = self.partial.clone().unwrap();
        if self.lie == ParticipantLie::ForgedReveal {
            let mut elsewhere = request.clone();
            elsewhere.context = "storage/elsewhere".into();
            partial = self.partial(&elsewhere);
        }
        if self.lie == ParticipantLie::MisSealed {
            request.sealing_key = SealKey::generate().public();
        }
        let mut reveal = DerivationShare::seal(&request, 1, &partial, &self.salt)?;
        if self.lie == ParticipantLie::ForeignReveal {
            reveal.derivation_id = derivation_id("another");
        }
        Ok(reveal)
    }

    async fn on_derived_key(&mut self, _: Peer, msg: DerivedPublicKey) -> Result<(), ServiceError> {
        self.derived = Some(msg);
        Ok(())
    }

    async fn derivation_ack(&mut self, _: Peer) -> Result<msg::DerivationAck, ServiceError> {
        let mut acked = self.derived.clone().unwrap();
        if self.lie == ParticipantLie::ReplayedAck {
            acked.derivation_id = derivation_id("an earlier one");
        }
        Ok(msg::DerivationAck {
            key_digest: ack_digest(&acked),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_initiator_refuses_a_hostile_participants_commitment_reveal_or_ack() {
    use ParticipantLie::*;
    for (lie, check) in [
        (Impersonate, Check::Binding),
        (ForgedReveal, Check::Commitment),
        (WrongShare, Check::Proof),
        (ReplayedProof, Check::Proof),
        (ForeignReveal, Check::Binding),
        (MisSealed, Check::Decryption),
        (ReplayedAck, Check::Transcript),
    ] {
        let started = tokio::time::Instant::now();
        let mut h = Harness::new(
            &choreo_dkd_choreography::PROTOCOL,
            &[("Participant", N)],
            CAPS,
        );
        let (public, shares) = root(N as u16, N as u16);
        let mut state = InitiatorState {
            root: public,
            epoch: 2,
            keys: Vec::new(),
        };
        let mut hostile = HostileParticipant {
            lie,
            share: shares[1].clone(),
            stranger: root(N as u16, N as u16).1.remove(1),
            salt: crypto::digest("hostile salt", &[]),
            request: None,
            partial: None,
            derived: None,
        };
        let mut honest = participants(&shares, &[]);
        let params = choreo_dkd_choreography::Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(INITIATOR);
        let mut members = sessions.members("Participant", N);
        sessions.done();
        let second = members.remove(1);
        let (outcome, end, outcomes) = tokio::join!(
            run_initiator(lead, &mut state, "storage/photos", vec![1]),
            choreo_dkd_choreography::execute_as(
                choreo_dkd_choreography::As::Participant(&mut hostile),
                second,
                &params
            ),
            join_all(
                members
                    .into_iter()
                    .zip(honest.iter_mut().step_by(2))
                    .map(|(s, p)| run_participant(s, p))
            ),
        );
        let e = outcome.expect_err("the initiator refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        // The ack is every participant's last send: they have ended by then.
        if lie != ReplayedAck {
            assert_cancelled(&end.map_err(ServiceError::from), INITIATOR, "check failed");
            for outcome in &outcomes {
                assert_cancelled(outcome, INITIATOR, "check failed");
            }
        }
        assert!(state.keys.is_empty(), "{lie:?}");
        let mine = dkd_facts(&h, INITIATOR);
        let stepped = |f: &DkdFact| match f {
            DkdFact::KeyDerived(_) | DkdFact::ShareWithheld(..) => true,
            DkdFact::Failed(why) => !why.contains("check failed"),
        };
        assert!(!mine.iter().any(stepped), "{lie:?}: {mine:?}");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// What the hostile Initiator gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InitiatorLie {
    /// Requests a derivation at an older epoch.
    StaleEpoch,
    /// Sends the commitment set of another derivation.
    ForeignSet,
    /// Replaces Participant[1]'s commitment in the set.
    SwappedCommitment,
    /// Adds a commitment of a participant that does not exist.
    PaddedSet,
    /// Publishes the key of another derivation.
    ForeignKey,
    /// Leaves Participant[1], which released its share, out of the contributors.
    DroppedShare,
}

/// An Initiator of the test's own: honest but for its lie (it derives no
/// real key: the participants cannot tell, and the lie is elsewhere).
struct HostileInitiator {
    lie: InitiatorLie,
    key: SealKey,
    commitments: Vec<(u16, crypto::Digest)>,
}

impl choreo_dkd_choreography::Initiator for HostileInitiator {
    type Types = DkdTypes;
    type Error = ServiceError;

    async fn derivation_request(&mut self, _: Peer) -> Result<DerivationRequest, ServiceError> {
        Ok(DerivationRequest {
            derivation_id: derivation_id("this"),
            context: "storage/photos".into(),
            path: vec![1],
            epoch: 2 - u64::from(self.lie == InitiatorLie::StaleEpoch),
            sealing_key: self.key.public(),
        })
    }

    async fn on_share_commitment(
        &mut self,
        _: Peer,
        msg: msg::ShareCommitment,
    ) -> Result<(), ServiceError> {
        self.commitments.push((msg.participant_id, msg.commitment));
        Ok(())
    }

    async fn commitment_set(&mut self, _: Peer) -> Result<CommitmentSet, ServiceError> {
        let mut set = CommitmentSet {
            derivation_id: derivation_id("this"),
            commitments: self.commitments.clone(),
        };
        let forged = crypto::digest("forged", &[]);
        match self.lie {
            InitiatorLie::ForeignSet => set.derivation_id = derivation_id("another"),
            InitiatorLie::SwappedCommitment => set.commitments[1].1 = forged,
            InitiatorLie::PaddedSet => set.commitments.push((N as u16, forged)),
            _ => {}
        }
        Ok(set)
    }

    async fn on_share_reveal(&mut self, _: Peer, _: DerivationShare) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn derived_key(&mut self, _: Peer) -> Result<DerivedPublicKey, ServiceError> {
        let foreign = self.lie == InitiatorLie::ForeignKey;
        Ok(DerivedPublicKey {
            derivation_id: derivation_id(if foreign { "another" } else { "this" }),
            public_key: crypto::SigningKey::generate().verifying_key(),
            contributors: if self.lie == InitiatorLie::DroppedShare {
                vec![0, 2]
            } else {
                vec![0, 1, 2]
            },
            withheld: Vec::new(),
        })
    }

    async fn on_derivation_ack(
        &mut self,
        _: Peer,
        _: msg::DerivationAck,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn participants_refuse_a_hostile_initiators_request_set_or_key() {
    use InitiatorLie::*;
    for (lie, check) in [
        (StaleEpoch, Check::Epoch),
        (ForeignSet, Check::Binding),
        (SwappedCommitment, Check::Commitment),
        (PaddedSet, Check::Commitment),
        (ForeignKey, Check::Binding),
        (DroppedShare, Check::Transcript),
    ] {
        let started = tokio::time::Instant::now();
        let mut h = Harness::new(
            &choreo_dkd_choreography::PROTOCOL,
            &[("Participant", N)],
            CAPS,
        );
        let mut hostile = HostileInitiator {
            lie,
            key: SealKey::generate(),
            commitments: Vec::new(),
        };
        let mut states = participants(&root(N as u16, N as u16).1, &[]);
        let params = choreo_dkd_choreography::Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(INITIATOR);
        let members = sessions.members("Participant", N);
        sessions.done();
        let (end, outcomes) = tokio::join!(
            choreo_dkd_choreography::execute_as(
                choreo_dkd_choreography::As::Initiator(&mut hostile),
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
        let end = end.map_err(ServiceError::from).expect_err("cancelled");
        assert!(end.cancelled_by().is_some(), "{lie:?}: {end}");
        // Participant[1] is the one lied to where the lie is about it alone.
        let refused = match lie {
            SwappedCommitment | DroppedShare => outcomes[1].as_ref().err(),
            _ => outcomes
                .iter()
                .filter_map(|o| o.as_ref().err())
                .find(|e| e.failed_check().is_some()),
        };
        let refused = refused.unwrap_or_else(|| panic!("{lie:?}: nobody refused: {outcomes:?}"));
        assert_eq!(refused.failed_check(), Some(check), "{lie:?}: {refused}");
        for (k, outcome) in outcomes.iter().enumerate() {
            let theirs = dkd_facts(&h, Peer::member("Participant", k as u32));
            if outcome.is_err() {
                assert!(states[k].keys.is_empty(), "{lie:?}: Participant[{k}]");
                assert!(theirs.is_empty(), "{lie:?}: Participant[{k}]: {theirs:?}");
            }
        }
        assert!(outcomes[1].is_err(), "{lie:?}: Participant[1] is stopped");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}
