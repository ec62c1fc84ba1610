//! AuraConsensus through the consensus service: witnesses sign what matches
//! their view, the Coordinator commits iff its threshold of shares verify;
//! 1 and 5 witnesses, with stale witnesses on both sides of the threshold.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::consensus::aura_consensus::{
    run_coordinator, run_witness, ConsensusFact, ConsensusOutcome, ConsensusParams,
    CoordinatorState, Operation, WitnessOutcome, WitnessState, WitnessView,
};
use choreo_services::crypto::{self, Digest};
use common::{session, take};

const COORDINATOR_CAPS: &[&str] = &[
    "consensus:initiate",
    "consensus:aggregate",
    "consensus:finalize",
];
const WITNESS_CAPS: &[&str] = &["consensus:witness", "consensus:sign"];

fn key(k: u32) -> Digest {
    crypto::digest("witness key", &[&k.to_le_bytes()])
}

fn prestate() -> Digest {
    crypto::digest("tree", &[b"epoch 3"])
}

fn operation() -> Operation {
    Operation {
        kind: "tree.add_device".into(),
        payload: b"device-7".to_vec(),
    }
}

async fn run(
    n: u32,
    threshold: u16,
    stale: u32,
) -> (
    ConsensusOutcome,
    CoordinatorState,
    Vec<(WitnessOutcome, WitnessState)>,
) {
    let roster = Roster::new()
        .with_role("Coordinator")
        .with_family("Witness", n);
    let caps = [("Coordinator", COORDINATOR_CAPS), ("Witness", WITNESS_CAPS)];
    let mut adapters = session(choreo_aura_consensus::PROTOCOL, &roster, &caps);
    let mut tasks = Vec::new();
    for k in 0..n {
        let mut adapter = take(&mut adapters, &Peer::member("Witness", k));
        // The last `stale` witnesses have not seen the latest state.
        let seen = if k >= n - stale {
            crypto::digest("tree", &[b"epoch 2"])
        } else {
            prestate()
        };
        let mut state = WitnessState {
            signing_key: key(k),
            nonce_seed: crypto::digest("nonce seed", &[&k.to_le_bytes()]),
            view: WitnessView {
                prestate_hash: seen,
                epoch: 3,
            },
            journal: Default::default(),
        };
        tasks.push(tokio::spawn(async move {
            let outcome = run_witness(&mut adapter, &mut state)
                .await
                .expect("witness runs");
            (outcome, state)
        }));
    }
    let mut adapter = take(&mut adapters, &Peer::role("Coordinator"));
    let mut state = CoordinatorState {
        params: ConsensusParams {
            threshold,
            epoch: 3,
            witness_keys: (0..n).map(key).collect(),
        },
        prestate_hash: prestate(),
        journal: Default::default(),
    };
    let outcome = run_coordinator(&mut adapter, &mut state, operation())
        .await
        .expect("coordinator runs");
    // Every witness's SignShare records a fact that its ResultAck merges back.
    assert_eq!(
        adapter
            .context()
            .journal()
            .count("ConsensusFact::ShareSigned"),
        n as usize
    );
    let mut witnesses = Vec::new();
    for task in tasks {
        witnesses.push(task.await.expect("no witness panics"));
    }
    (outcome, state, witnesses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_of_matching_views_commits_the_operation() {
    for (n, threshold, stale) in [(1, 1, 0), (5, 5, 0), (5, 3, 2)] {
        let (outcome, state, witnesses) = run(n, threshold, stale).await;
        let signers: Vec<u16> = (0..(n - stale) as u16).collect();
        let ConsensusOutcome::Committed {
            poststate,
            signers: got,
            ..
        } = outcome
        else {
            panic!("{n} witnesses, {stale} stale: {outcome:?}");
        };
        assert_eq!(got, signers);
        assert_ne!(poststate, prestate());
        assert_eq!(state.prestate_hash, poststate, "the coordinator advances");
        assert_eq!(
            state
                .journal
                .count(|f| matches!(f, ConsensusFact::Committed(_, s) if *s == signers)),
            1
        );
        for (k, (outcome, state)) in witnesses.iter().enumerate() {
            let fresh = (k as u32) < n - stale;
            let expected = WitnessOutcome {
                signed: fresh,
                committed: true,
                applied: fresh,
            };
            assert_eq!(outcome, &expected, "Witness[{k}]");
            let view = if fresh {
                poststate
            } else {
                crypto::digest("tree", &[b"epoch 2"])
            };
            assert_eq!(state.view.prestate_hash, view, "Witness[{k}] view");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_valid_shares_fail_and_nothing_is_applied() {
    for (n, threshold, stale) in [(1, 1, 1), (5, 4, 2)] {
        let (outcome, state, witnesses) = run(n, threshold, stale).await;
        let signers: Vec<u16> = (0..(n - stale) as u16).collect();
        assert_eq!(outcome, ConsensusOutcome::Failed { signers });
        assert_eq!(
            state.prestate_hash,
            prestate(),
            "the coordinator keeps its prestate"
        );
        for (k, (outcome, state)) in witnesses.iter().enumerate() {
            assert!(
                !outcome.committed && !outcome.applied,
                "Witness[{k}]: {outcome:?}"
            );
            assert_eq!(outcome.signed, (k as u32) < n - stale);
            assert_eq!(
                state
                    .journal
                    .count(|f| matches!(f, ConsensusFact::Applied(..))),
                0
            );
        }
    }
}
