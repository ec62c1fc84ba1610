//! SessionCoordinationChoreography through the session service: every
//! participant accepts or rejects from its own policy, the Coordinator
//! establishes the session iff enough accepted; mixes of answers with 1 and 5
//! participants, and both outcomes (both are branches of the protocol). A
//! policy no answers could satisfy is refused before anything is sent.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::{self, SigningKey, VerifyingKey};
use choreo_services::demo::coordination::{
    run_coordinator, run_participant, CoordinatorOutcome, CoordinatorPolicy, CoordinatorState,
    ParticipantOutcome, ParticipantPolicy, ParticipantState, SessionFact, SessionHandle,
    SessionRequest, SessionResponse, SessionTypes,
};
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::ServiceError;
use choreo_session_coordination_choreography::choice::{AcceptOrReject, FailureOrSuccess};
use choreo_session_coordination_choreography::msg;
use common::{assert_cancelled, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Coordinator", &["session:create"]),
    ("Participants", &["session:join"]),
];
const COORDINATOR: Peer = Peer::role("Coordinator");

/// How a participant is configured to answer.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// Its policy allows `sync` sessions and it has room.
    Accept,
    /// It does not take part in `sync` sessions.
    WrongPurpose,
    /// It already holds as many sessions as it may.
    Busy,
}

/// The Coordinator's signing key, the same in every test.
fn coordinator_key() -> SigningKey {
    SigningKey::from_seed(&crypto::digest("coordinator key", &[]))
}

fn session_facts(h: &Harness, peer: Peer) -> Vec<SessionFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

fn participant(answer: Answer) -> ParticipantState {
    let purposes = if answer == Answer::WrongPurpose {
        vec!["call".into()]
    } else {
        vec!["sync".into(), "call".into()]
    };
    ParticipantState {
        device_key: SigningKey::generate(),
        coordinator_key: coordinator_key().verifying_key(),
        policy: ParticipantPolicy {
            purposes,
            max_sessions: if answer == Answer::Busy { 0 } else { 4 },
        },
        now: 100,
        sessions: Vec::new(),
    }
}

/// The Coordinator, needing `min_participants` acceptances.
fn coordinator(min_participants: u16) -> CoordinatorState {
    CoordinatorState {
        agent_id: crypto::digest("coordinator", &[]),
        signing_key: coordinator_key(),
        policy: CoordinatorPolicy {
            min_participants,
            invitation_ttl: 60,
        },
        now: 100,
        created: 0,
        sessions: Vec::new(),
    }
}

type Participants = Vec<(Result<ParticipantOutcome, ServiceError>, ParticipantState)>;

/// One set-up with participants answering as `answers` say, all roles at once.
async fn try_run(
    answers: &[Answer],
    min_participants: u16,
) -> (
    Result<CoordinatorOutcome, ServiceError>,
    CoordinatorState,
    Participants,
    Harness,
) {
    let n = answers.len() as u32;
    let mut h = Harness::new(
        &choreo_session_coordination_choreography::PROTOCOL,
        &[("Participants", n)],
        CAPS,
    );
    let mut states: Vec<ParticipantState> = answers.iter().map(|a| participant(*a)).collect();
    let mut state = coordinator(min_participants);
    let mut sessions = h.join();
    let lead = sessions.take(COORDINATOR);
    let members = sessions.members("Participants", n);
    sessions.done();
    let (outcome, outcomes) = tokio::join!(
        run_coordinator(lead, &mut state, "sync"),
        join_all(
            members
                .into_iter()
                .zip(states.iter_mut())
                .map(|(s, p)| run_participant(s, p))
        ),
    );
    (
        outcome,
        state,
        outcomes.into_iter().zip(states).collect(),
        h,
    )
}

/// A set-up every role completes.
async fn run(
    answers: &[Answer],
    min_participants: u16,
) -> (
    CoordinatorOutcome,
    CoordinatorState,
    Vec<(ParticipantOutcome, ParticipantState)>,
    Harness,
) {
    let (outcome, state, participants, h) = try_run(answers, min_participants).await;
    let outcome = outcome.expect("the coordinator runs");
    let journal = h.node(COORDINATOR).journal();
    assert_eq!(
        journal.count("SessionFact::Created").unwrap(),
        answers.len() as u64
    );
    let fact = match outcome {
        CoordinatorOutcome::Established(_) => "SessionFact::Established",
        CoordinatorOutcome::Failed { .. } => "SessionFact::Aborted",
    };
    assert_eq!(
        journal.count(fact).unwrap(),
        answers.len() as u64,
        "{fact} once per participant"
    );
    let participants = participants
        .into_iter()
        .map(|(o, s)| (o.expect("every participant runs"), s))
        .collect();
    (outcome, state, participants, h)
}

fn member(k: usize) -> Peer {
    Peer::member("Participants", k as u32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enough_acceptances_establish_the_session_with_exactly_those_members() {
    use Answer::*;
    for (answers, min) in [
        (vec![Accept], 1),
        (vec![Accept; 5], 5),
        (vec![Accept, WrongPurpose, Accept, Busy, Accept], 3),
    ] {
        let (outcome, state, participants, h) = run(&answers, min).await;
        let members: Vec<u16> = (0..answers.len() as u16)
            .filter(|k| answers[usize::from(*k)] == Accept)
            .collect();
        let CoordinatorOutcome::Established(handle) = outcome else {
            panic!("expected the session, got {outcome:?}");
        };
        let id = handle.session_id;
        assert_eq!(handle.members, members);
        assert_eq!(handle.purpose, "sync");
        assert_eq!(state.sessions, vec![handle.clone()]);
        let mine = session_facts(&h, COORDINATOR);
        assert_eq!(mine.first(), Some(&SessionFact::Invited(id)));
        assert_eq!(
            mine.last(),
            Some(&SessionFact::Established(id, members.clone()))
        );
        for (k, (outcome, state)) in participants.into_iter().enumerate() {
            let theirs = session_facts(&h, member(k));
            assert_eq!(
                theirs.last(),
                Some(&SessionFact::Established(id, members.clone())),
                "Participants[{k}]"
            );
            if answers[k] == Accept {
                assert_eq!(
                    outcome,
                    ParticipantOutcome::Joined(handle.clone()),
                    "Participants[{k}]"
                );
                assert_eq!(
                    handle.keys[members.iter().position(|m| usize::from(*m) == k).unwrap()],
                    state.device_key.verifying_key()
                );
                assert_eq!(state.sessions, vec![handle.clone()]);
                assert_eq!(theirs[0], SessionFact::Accepted(id, k as u16));
                assert!(mine.contains(&SessionFact::Accepted(id, k as u16)));
            } else {
                assert!(
                    matches!(outcome, ParticipantOutcome::Declined { .. }),
                    "Participants[{k}]: {outcome:?}"
                );
                assert!(state.sessions.is_empty(), "a decliner is not a member");
                assert!(matches!(theirs[0], SessionFact::Rejected(..)));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_acceptances_abort_the_session_everywhere() {
    use Answer::*;
    for (answers, min, accepted) in [
        (vec![WrongPurpose], 1, 0),
        (vec![Busy; 5], 1, 0),
        (vec![Accept, Busy, WrongPurpose, Accept, Busy], 3, 2),
    ] {
        let (outcome, state, participants, h) = run(&answers, min).await;
        let reason = format!("{accepted} accepted, {min} needed");
        assert_eq!(
            outcome,
            CoordinatorOutcome::Failed {
                reason: reason.clone()
            }
        );
        assert!(state.sessions.is_empty());
        let mine = session_facts(&h, COORDINATOR);
        let rejected = mine
            .iter()
            .filter(|f| matches!(f, SessionFact::Rejected(..)))
            .count();
        assert_eq!(rejected, answers.len() - accepted);
        assert!(matches!(mine.last(), Some(SessionFact::Aborted(_, why)) if *why == reason));
        for (k, (outcome, state)) in participants.into_iter().enumerate() {
            let expected_reason = match answers[k] {
                Accept => None,
                WrongPurpose => Some("does not take part in `sync` sessions".to_string()),
                Busy => Some("already holds 0 sessions".to_string()),
            };
            match expected_reason {
                None => assert_eq!(
                    outcome,
                    ParticipantOutcome::Aborted {
                        reason: reason.clone()
                    }
                ),
                Some(why) => assert_eq!(outcome, ParticipantOutcome::Declined { reason: why }),
            }
            assert!(state.sessions.is_empty(), "Participants[{k}]");
            let theirs = session_facts(&h, member(k));
            assert!(
                matches!(theirs.last(), Some(SessionFact::Aborted(_, why)) if *why == reason),
                "Participants[{k}]: {theirs:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_policy_needing_more_participants_than_invited_is_refused_before_anything_is_sent() {
    use Answer::*;
    let started = Instant::now();
    let (outcome, _, participants, h) = try_run(&[Accept, Accept], 3).await;
    let why = "3 participants needed, 2 invited";
    assert!(
        matches!(&outcome, Err(ServiceError::Invalid(w)) if w == why),
        "{outcome:?}"
    );
    assert_eq!(h.node(COORDINATOR).journal().len().unwrap(), 0);
    for (k, (outcome, _)) in participants.iter().enumerate() {
        assert_cancelled(outcome, COORDINATOR, why);
        assert_eq!(
            h.node(member(k)).journal().len().unwrap(),
            0,
            "Participants[{k}] was never invited"
        );
    }
    assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
}

/// What a hostile participant gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParticipantLie {
    /// Accepts another session (validly signed for it).
    OtherSession,
    /// Accepts this session with a signature made for another one.
    ReplayedAcceptance,
    /// Accepts with a signature made for member 0 (a relayed acceptance).
    OtherMember,
    /// Acknowledges the outcome of another session.
    OtherAck,
}

/// A participant of the test's own that accepts, lying as `lie` says.
struct HostileParticipant {
    lie: ParticipantLie,
    me: u16,
    key: SigningKey,
    request: Option<SessionRequest>,
}

const OTHER: [u8; 16] = [7; 16];

impl choreo_session_coordination_choreography::Participants for HostileParticipant {
    type Types = SessionTypes;
    type Error = ServiceError;

    async fn on_session_invite(
        &mut self,
        _: Peer,
        msg: SessionRequest,
    ) -> Result<(), ServiceError> {
        self.request = Some(msg);
        Ok(())
    }

    async fn choose_accept_or_reject(&mut self) -> Result<AcceptOrReject, ServiceError> {
        Ok(AcceptOrReject::Accept)
    }

    async fn session_accept(&mut self, _: Peer) -> Result<SessionResponse, ServiceError> {
        let id = self.request.as_ref().unwrap().session_id;
        Ok(match self.lie {
            ParticipantLie::OtherSession => SessionResponse::signed(&self.key, OTHER, self.me),
            ParticipantLie::ReplayedAcceptance => SessionResponse {
                session_id: id,
                ..SessionResponse::signed(&self.key, OTHER, self.me)
            },
            ParticipantLie::OtherMember => SessionResponse::signed(&self.key, id, 0),
            ParticipantLie::OtherAck => SessionResponse::signed(&self.key, id, self.me),
        })
    }

    async fn session_reject(&mut self, _: Peer) -> Result<msg::SessionReject, ServiceError> {
        unreachable!("it accepts")
    }

    async fn on_session_aborted(
        &mut self,
        _: Peer,
        _: msg::SessionAborted,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn on_session_established(
        &mut self,
        _: Peer,
        _: SessionHandle,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn outcome_ack(&mut self, _: Peer) -> Result<msg::OutcomeAck, ServiceError> {
        let id = self.request.as_ref().unwrap().session_id;
        Ok(msg::OutcomeAck {
            session_id: if self.lie == ParticipantLie::OtherAck {
                OTHER
            } else {
                id
            },
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_coordinator_refuses_a_hostile_participants_acceptance_or_ack() {
    use ParticipantLie::*;
    for (lie, check) in [
        (OtherSession, Check::Binding),
        (ReplayedAcceptance, Check::Signature),
        (OtherMember, Check::Signature),
        (OtherAck, Check::Binding),
    ] {
        let started = Instant::now();
        let mut h = Harness::new(
            &choreo_session_coordination_choreography::PROTOCOL,
            &[("Participants", 2)],
            CAPS,
        );
        let mut state = coordinator(1);
        let mut honest = participant(Answer::Accept);
        let mut hostile = HostileParticipant {
            lie,
            me: 1,
            key: SigningKey::generate(),
            request: None,
        };
        let params = choreo_session_coordination_choreography::Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(COORDINATOR);
        let (first, second) = (sessions.take(member(0)), sessions.take(member(1)));
        sessions.done();
        let (outcome, theirs, end) = tokio::join!(
            run_coordinator(lead, &mut state, "sync"),
            run_participant(first, &mut honest),
            choreo_session_coordination_choreography::execute_as(
                choreo_session_coordination_choreography::As::Participants(&mut hostile),
                second,
                &params
            ),
        );
        let e = outcome.expect_err("the Coordinator refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        assert!(state.sessions.is_empty(), "{lie:?}");
        let mine = session_facts(&h, COORDINATOR);
        assert!(
            !mine
                .iter()
                .any(|f| matches!(f, SessionFact::Established(..))),
            "{lie:?}: {mine:?}"
        );
        if lie != OtherAck {
            // Refused while everyone waits for the outcome.
            assert_cancelled(&theirs, COORDINATOR, &e.to_string());
            let end = ServiceError::from(end.expect_err("cancelled"));
            assert_eq!(end.cancelled_by(), Some(COORDINATOR), "{lie:?}");
            let id = match mine.first() {
                Some(SessionFact::Invited(id)) => *id,
                other => panic!("{lie:?}: {other:?}"),
            };
            assert!(!mine.contains(&SessionFact::Accepted(id, 1)), "{lie:?}");
        }
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// What a hostile Coordinator gets wrong in the handle it establishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HandleLie {
    /// Signs with a key the participants do not know.
    Forged,
    /// Establishes another session (validly signed).
    OtherSession,
    /// Leaves out the participant that accepted.
    LeavesOut,
    /// Lists the participant that rejected.
    ListsDecliner,
    /// Lists the accepting participant with another key.
    WrongKey,
}

/// A Coordinator of the test's own that establishes a session, lying in
/// its handle as `lie` says.
struct HostileCoordinator {
    lie: HandleLie,
    request: SessionRequest,
    accepted: Vec<(u16, VerifyingKey)>,
}

impl choreo_session_coordination_choreography::Coordinator for HostileCoordinator {
    type Types = SessionTypes;
    type Error = ServiceError;

    async fn session_invite(&mut self, _: Peer) -> Result<SessionRequest, ServiceError> {
        Ok(self.request.clone())
    }

    async fn on_session_accept(
        &mut self,
        from: Peer,
        msg: SessionResponse,
    ) -> Result<(), ServiceError> {
        self.accepted
            .push((from.index().unwrap() as u16, msg.device_key));
        Ok(())
    }

    async fn on_session_reject(
        &mut self,
        _: Peer,
        _: msg::SessionReject,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn choose_failure_or_success(&mut self) -> Result<FailureOrSuccess, ServiceError> {
        Ok(FailureOrSuccess::Success)
    }

    async fn session_aborted(&mut self, _: Peer) -> Result<msg::SessionAborted, ServiceError> {
        unreachable!("it establishes")
    }

    async fn session_established(&mut self, _: Peer) -> Result<SessionHandle, ServiceError> {
        let (mut key, mut id) = (coordinator_key(), self.request.session_id);
        let mut members = self.accepted.clone();
        match self.lie {
            HandleLie::Forged => key = SigningKey::generate(),
            HandleLie::OtherSession => id = OTHER,
            HandleLie::LeavesOut => members.clear(),
            HandleLie::ListsDecliner => members.push((1, SigningKey::generate().verifying_key())),
            HandleLie::WrongKey => members[0].1 = SigningKey::generate().verifying_key(),
        }
        Ok(SessionHandle::signed(&key, id, "sync", &members, 100))
    }

    async fn on_outcome_ack(&mut self, _: Peer, _: msg::OutcomeAck) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn participants_refuse_a_hostile_coordinators_handle() {
    use HandleLie::*;
    // Participants[0] accepts, Participants[1] rejects; who must refuse.
    for (lie, check, refusers) in [
        (Forged, Check::Signature, vec![0, 1]),
        (OtherSession, Check::Binding, vec![0, 1]),
        (LeavesOut, Check::Binding, vec![0]),
        (ListsDecliner, Check::Binding, vec![1]),
        (WrongKey, Check::Binding, vec![0]),
    ] {
        let started = Instant::now();
        let mut h = Harness::new(
            &choreo_session_coordination_choreography::PROTOCOL,
            &[("Participants", 2)],
            CAPS,
        );
        let mut hostile = HostileCoordinator {
            lie,
            request: SessionRequest {
                session_id: [1; 16],
                purpose: "sync".into(),
                min_participants: 1,
                expires_at: 200,
            },
            accepted: Vec::new(),
        };
        let mut states = [
            participant(Answer::Accept),
            participant(Answer::WrongPurpose),
        ];
        let params = choreo_session_coordination_choreography::Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(COORDINATOR);
        let members = sessions.members("Participants", 2);
        sessions.done();
        let (end, outcomes) = tokio::join!(
            choreo_session_coordination_choreography::execute_as(
                choreo_session_coordination_choreography::As::Coordinator(&mut hostile),
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
        let end = ServiceError::from(end.expect_err("cancelled"));
        let by = end.cancelled_by().expect("cancelled by a participant");
        assert!(
            refusers.iter().any(|k| by == member(*k)),
            "{lie:?}: cancelled by {by}"
        );
        for k in refusers {
            let theirs = &outcomes[k];
            let refused = match theirs {
                Err(ServiceError::Cancelled { by: who, .. }) if *who != member(k) => continue,
                Err(e) => e,
                Ok(o) => panic!("{lie:?}: Participants[{k}] accepted {o:?}"),
            };
            assert_eq!(refused.failed_check(), Some(check), "{lie:?}: {refused}");
            assert!(states[k].sessions.is_empty(), "{lie:?}");
            let facts = session_facts(&h, member(k));
            assert!(
                !facts
                    .iter()
                    .any(|f| matches!(f, SessionFact::Established(..))),
                "{lie:?}: Participants[{k}] recorded {facts:?}"
            );
        }
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}
