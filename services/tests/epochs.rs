//! EpochRotationProtocol through the sync service: 1 and 5 replicas at
//! different points of the journal all converge on the joined journal and
//! move to the new epoch; a replica holding a fact nobody else has lags; a
//! checkpoint from another epoch makes the Coordinator cancel the rotation.
//! Hostile Coordinators and replicas (stale, replayed, misbound or forged
//! values) are refused with the check they fail (`epochs/hostile.rs`).

mod common;

use std::collections::BTreeSet;

use choreo_runtime::Peer;
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::sync::epochs::{
    run_coordinator, run_participant, CoordinatorState, EpochFact, ParticipantOutcome,
    ParticipantState, Replica, RotationOutcome,
};
use choreo_services::ServiceError;
use common::{assert_cancelled, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Coordinator", &["sync:epoch:propose", "sync:epoch:commit"]),
    ("Participant", &["sync:checkpoint"]),
];
const COORDINATOR: Peer = Peer::role("Coordinator");

fn replica(facts: &[&str]) -> Replica {
    Replica {
        epoch: 4,
        facts: facts.iter().map(|f| f.to_string()).collect(),
    }
}

type Replicas = Vec<(Result<ParticipantOutcome, ServiceError>, ParticipantState)>;

fn new_harness(n: u32) -> Harness {
    Harness::new(
        &choreo_epoch_rotation_protocol::PROTOCOL,
        &[("Participant", n)],
        CAPS,
    )
}

fn epoch_facts(h: &Harness, peer: Peer) -> Vec<EpochFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

/// One rotation of `replicas` by a Coordinator holding `coordinator`.
async fn try_rotate(
    coordinator: Replica,
    replicas: Vec<Replica>,
) -> (
    Result<RotationOutcome, ServiceError>,
    CoordinatorState,
    Replicas,
    Harness,
) {
    let n = replicas.len() as u32;
    let mut h = new_harness(n);
    let mut states: Vec<ParticipantState> = replicas
        .into_iter()
        .map(|replica| ParticipantState { replica })
        .collect();
    let mut state = CoordinatorState {
        replica: coordinator,
    };
    let mut sessions = h.join();
    let lead = sessions.take(COORDINATOR);
    let members = sessions.members("Participant", n);
    sessions.done();
    let (outcome, outcomes) = tokio::join!(
        run_coordinator(lead, &mut state, "key rotation"),
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

/// A rotation every role completes.
async fn rotate(
    coordinator: Replica,
    replicas: Vec<Replica>,
) -> (
    RotationOutcome,
    CoordinatorState,
    Vec<(ParticipantOutcome, ParticipantState)>,
    Harness,
) {
    let (outcome, state, results, h) = try_rotate(coordinator, replicas).await;
    let results = results
        .into_iter()
        .map(|(o, s)| (o.expect("every replica runs"), s))
        .collect();
    (outcome.expect("the coordinator runs"), state, results, h)
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
        let (outcome, coordinator, results, h) = rotate(
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
        assert_eq!(
            epoch_facts(&h, COORDINATOR),
            vec![EpochFact::Rotated(5, outcome.head)]
        );
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
            assert_eq!(
                epoch_facts(&h, Peer::member("Participant", k as u32)),
                vec![EpochFact::Rotated(5, outcome.head)]
            );
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
    let (outcome, _, results, h) = rotate(replica(&["a", "b"]), replicas).await;
    assert_eq!(outcome.rotated, vec![0, 1, 2, 4]);
    assert_eq!(outcome.lagging, vec![3]);
    assert!(epoch_facts(&h, COORDINATOR).contains(&EpochFact::Lagging(3)));
    assert!(epoch_facts(&h, Peer::member("Participant", 3)).is_empty());
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

#[tokio::test(start_paused = true)]
async fn a_checkpoint_from_another_epoch_cancels_the_rotation_before_any_merge() {
    let started = Instant::now();
    let mut behind = replica(&["a", "b"]);
    behind.epoch = 3;
    let (outcome, coordinator, results, h) =
        try_rotate(replica(&["a"]), vec![behind, replica(&["a"]), replica(&[])]).await;
    let why = "the checkpoint of Participant[0] is of epoch 3";
    let e = outcome.expect_err("the Coordinator refuses");
    assert_eq!(e.failed_check(), Some(Check::Epoch), "{e}");
    assert!(e.to_string().contains(why), "{e}");
    assert_eq!(coordinator.replica, replica(&["a"]), "nothing was merged");
    assert!(epoch_facts(&h, COORDINATOR).is_empty());
    for (k, (outcome, _)) in results.iter().enumerate() {
        assert_cancelled(outcome, COORDINATOR, why);
        let theirs = epoch_facts(&h, Peer::member("Participant", k as u32));
        assert!(theirs.is_empty(), "Participant[{k}] did not rotate");
    }
    assert_eq!(results[2].1.replica, replica(&[]), "no delta reached it");
    assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
}

#[path = "epochs/hostile.rs"]
mod hostile;
