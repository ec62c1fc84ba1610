//! SessionCoordinationChoreography through the session service: every
//! participant accepts or rejects from its own policy, the Coordinator
//! establishes the session iff enough accepted; mixes of answers with 1 and 5
//! participants, and both outcomes.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto;
use choreo_services::demo::coordination::{
    run_coordinator, run_participant, CoordinatorOutcome, CoordinatorPolicy, CoordinatorState,
    ParticipantOutcome, ParticipantPolicy, ParticipantState, SessionFact,
};
use common::{session, take};

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

fn participant(answer: Answer) -> ParticipantState {
    let purposes = if answer == Answer::WrongPurpose {
        vec!["call".into()]
    } else {
        vec!["sync".into(), "call".into()]
    };
    ParticipantState {
        device_key: crypto::digest("device", &[&[answer as u8]]),
        policy: ParticipantPolicy {
            purposes,
            max_sessions: if answer == Answer::Busy { 0 } else { 4 },
        },
        now: 100,
        sessions: Vec::new(),
        journal: Default::default(),
    }
}

async fn run(
    answers: &[Answer],
    min_participants: u16,
) -> (
    CoordinatorOutcome,
    CoordinatorState,
    Vec<(ParticipantOutcome, ParticipantState)>,
) {
    let n = answers.len() as u32;
    let roster = Roster::new()
        .with_role("Coordinator")
        .with_family("Participants", n);
    let caps: [(&str, &[&str]); 2] = [
        ("Coordinator", &["session:create"]),
        ("Participants", &["session:join"]),
    ];
    let mut adapters = session(
        choreo_session_coordination_choreography::PROTOCOL,
        &roster,
        &caps,
    );
    let mut tasks = Vec::new();
    for (k, answer) in answers.iter().enumerate() {
        let mut adapter = take(&mut adapters, &Peer::member("Participants", k as u32));
        let mut state = participant(*answer);
        tasks.push(tokio::spawn(async move {
            let outcome = run_participant(&mut adapter, &mut state)
                .await
                .expect("participant runs");
            (outcome, state)
        }));
    }
    let mut adapter = take(&mut adapters, &Peer::role("Coordinator"));
    let mut state = CoordinatorState {
        agent_id: crypto::digest("coordinator", &[]),
        policy: CoordinatorPolicy {
            min_participants,
            invitation_ttl: 60,
        },
        now: 100,
        created: 0,
        sessions: Vec::new(),
        journal: Default::default(),
    };
    let outcome = run_coordinator(&mut adapter, &mut state, "sync")
        .await
        .expect("coordinator runs");
    let journal = adapter.context().journal();
    assert_eq!(journal.count("SessionFact::Created"), answers.len());
    let fact = match outcome {
        CoordinatorOutcome::Established(_) => "SessionFact::Established",
        CoordinatorOutcome::Failed { .. } => "SessionFact::Aborted",
    };
    assert_eq!(
        journal.count(fact),
        answers.len(),
        "{fact} once per participant"
    );
    let mut participants = Vec::new();
    for task in tasks {
        participants.push(task.await.expect("no participant panics"));
    }
    (outcome, state, participants)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enough_acceptances_establish_the_session_with_exactly_those_members() {
    use Answer::*;
    for (answers, min) in [
        (vec![Accept], 1),
        (vec![Accept; 5], 5),
        (vec![Accept, WrongPurpose, Accept, Busy, Accept], 3),
    ] {
        let (outcome, state, participants) = run(&answers, min).await;
        let members: Vec<u16> = (0..answers.len() as u16)
            .filter(|k| answers[usize::from(*k)] == Accept)
            .collect();
        let CoordinatorOutcome::Established(handle) = outcome else {
            panic!("expected the session, got {outcome:?}");
        };
        assert_eq!(handle.members, members);
        assert_eq!(handle.purpose, "sync");
        assert_eq!(state.sessions, vec![handle.clone()]);
        assert!(state.journal.contains(&SessionFact::Established(
            handle.session_id,
            members.clone()
        )));
        for (k, (outcome, state)) in participants.into_iter().enumerate() {
            if answers[k] == Accept {
                assert_eq!(
                    outcome,
                    ParticipantOutcome::Joined(handle.clone()),
                    "Participants[{k}]"
                );
                assert_eq!(state.sessions, vec![handle.clone()]);
            } else {
                assert!(
                    matches!(outcome, ParticipantOutcome::Declined { .. }),
                    "Participants[{k}]: {outcome:?}"
                );
                assert!(state.sessions.is_empty(), "a decliner is not a member");
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
        let (outcome, state, participants) = run(&answers, min).await;
        let reason = format!("{accepted} accepted, {min} needed");
        assert_eq!(
            outcome,
            CoordinatorOutcome::Failed {
                reason: reason.clone()
            }
        );
        assert!(state.sessions.is_empty());
        let rejected = state
            .journal
            .count(|f| matches!(f, SessionFact::Rejected(..)));
        assert_eq!(rejected, answers.len() - accepted);
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
        }
    }
}
