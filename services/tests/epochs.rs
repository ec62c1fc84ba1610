//! EpochRotationProtocol through the sync service: 1 and 5 replicas at
//! different points of the journal all converge on the joined journal and
//! move to the new epoch; a replica holding a fact nobody else has lags.

mod common;

use std::collections::BTreeSet;

use choreo_runtime::{Peer, Roster};
use choreo_services::sync::epochs::{
    run_coordinator, run_participant, CoordinatorState, EpochFact, ParticipantOutcome,
    ParticipantState, Replica, RotationOutcome,
};
use common::{session, take};

fn replica(facts: &[&str]) -> Replica {
    Replica {
        epoch: 4,
        facts: facts.iter().map(|f| f.to_string()).collect(),
    }
}

async fn rotate(
    coordinator: Replica,
    replicas: Vec<Replica>,
) -> (
    RotationOutcome,
    CoordinatorState,
    Vec<(ParticipantOutcome, ParticipantState)>,
) {
    let n = replicas.len() as u32;
    let roster = Roster::new()
        .with_role("Coordinator")
        .with_family("Participant", n);
    let caps: [(&str, &[&str]); 2] = [
        ("Coordinator", &["sync:epoch:propose", "sync:epoch:commit"]),
        ("Participant", &["sync:checkpoint"]),
    ];
    let mut adapters = session(choreo_epoch_rotation_protocol::PROTOCOL, &roster, &caps);
    let mut tasks = Vec::new();
    for (k, replica) in replicas.into_iter().enumerate() {
        let mut adapter = take(&mut adapters, &Peer::member("Participant", k as u32));
        let mut state = ParticipantState {
            replica,
            journal: Default::default(),
        };
        tasks.push(tokio::spawn(async move {
            let outcome = run_participant(&mut adapter, &mut state)
                .await
                .expect("replica runs");
            (outcome, state)
        }));
    }
    let mut adapter = take(&mut adapters, &Peer::role("Coordinator"));
    let mut state = CoordinatorState {
        replica: coordinator,
        journal: Default::default(),
    };
    let outcome = run_coordinator(&mut adapter, &mut state, "key rotation")
        .await
        .expect("coordinator runs");
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("no replica panics"));
    }
    (outcome, state, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_converges_on_the_joined_journal_and_rotates() {
    let joined: BTreeSet<String> = [
        "device:add:laptop",
        "device:add:phone",
        "guardian:add:carol",
        "key:rotate",
    ]
    .map(String::from)
    .into();
    let cases = [
        vec![replica(&[
            "device:add:laptop",
            "device:add:phone",
            "guardian:add:carol",
            "key:rotate",
        ])],
        vec![
            replica(&[
                "device:add:laptop",
                "device:add:phone",
                "guardian:add:carol",
                "key:rotate",
            ]),
            replica(&["device:add:laptop"]),
            replica(&["device:add:laptop", "device:add:phone"]),
            replica(&[]),
            replica(&[
                "device:add:laptop",
                "device:add:phone",
                "guardian:add:carol",
                "key:rotate",
            ]),
        ],
    ];
    for replicas in cases {
        let n = replicas.len() as u16;
        let (outcome, coordinator, results) = rotate(
            replica(&["device:add:laptop", "device:add:phone"]),
            replicas,
        )
        .await;
        let expected = Replica {
            epoch: 5,
            facts: joined.clone(),
        };
        assert_eq!(outcome.rotated, (0..n).collect::<Vec<_>>());
        assert!(outcome.lagging.is_empty());
        assert_eq!(coordinator.replica, expected);
        assert!(coordinator
            .journal
            .contains(&EpochFact::Rotated(5, outcome.head)));
        for (k, (outcome_k, state)) in results.iter().enumerate() {
            assert_eq!(
                outcome_k,
                &ParticipantOutcome {
                    epoch: 5,
                    rotated: true
                },
                "Participant[{k}]"
            );
            assert_eq!(
                state.replica, expected,
                "Participant[{k}] holds the joined journal"
            );
            assert!(state.journal.contains(&EpochFact::Rotated(5, outcome.head)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_a_fact_nobody_else_has_lags_behind() {
    let replicas = vec![
        replica(&["a", "b", "c"]),
        replica(&["a"]),
        replica(&["a", "b"]),
        replica(&["a", "x"]),
        replica(&[]),
    ];
    let (outcome, coordinator, results) = rotate(replica(&["a", "b"]), replicas).await;
    assert_eq!(outcome.rotated, vec![0, 1, 2, 4]);
    assert_eq!(outcome.lagging, vec![3]);
    assert!(coordinator.journal.contains(&EpochFact::Lagging(3)));
    let (lagging, state) = &results[3];
    assert_eq!(
        lagging,
        &ParticipantOutcome {
            epoch: 4,
            rotated: false
        }
    );
    assert_eq!(
        state.replica.facts,
        ["a", "b", "c", "x"].map(String::from).into(),
        "it merged, but holds more"
    );
    assert!(results
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != 3)
        .all(|(_, (o, _))| o.rotated));
}
