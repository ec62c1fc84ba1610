//! SessionCoordinationChoreography through the session service: every
//! participant accepts or rejects from its own policy, the Coordinator
//! establishes the session iff enough accepted; mixes of answers with 1 and 5
//! participants, and both outcomes (both are branches of the protocol). A
//! policy no answers could satisfy is refused before anything is sent.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::{self, SigningKey};
use choreo_services::demo::coordination::{
    run_coordinator, run_participant, CoordinatorOutcome, CoordinatorPolicy, CoordinatorState,
    ParticipantOutcome, ParticipantPolicy, ParticipantState, SessionFact,
};
use choreo_services::journal::facts;
use choreo_services::ServiceError;
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
    let mut state = CoordinatorState {
        agent_id: crypto::digest("coordinator", &[]),
        signing_key: coordinator_key(),
        policy: CoordinatorPolicy {
            min_participants,
            invitation_ttl: 60,
        },
        now: 100,
        created: 0,
        sessions: Vec::new(),
    };
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
