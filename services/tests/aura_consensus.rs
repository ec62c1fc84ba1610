//! AuraConsensus through the consensus service: witnesses sign what matches
//! their view and decline otherwise, the Coordinator commits iff its
//! threshold of shares verify and cancels the instance otherwise; 1 and 5
//! witnesses, with stale witnesses on both sides of the threshold.

mod common;

use choreo_runtime::Peer;
use choreo_services::consensus::aura_consensus::{
    run_coordinator, run_witness, ConsensusFact, ConsensusOutcome, ConsensusParams,
    CoordinatorState, Operation, WitnessOutcome, WitnessState, WitnessView,
};
use choreo_services::stand_in::{self as crypto, Digest};
use choreo_services::ServiceError;
use common::{assert_cancelled, assert_refused, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const COORDINATOR: Peer = Peer::role("Coordinator");

const COORDINATOR_CAPS: &[&str] = &[
    "consensus:initiate",
    "consensus:aggregate",
    "consensus:finalize",
];
const WITNESS_CAPS: &[&str] = &["consensus:witness", "consensus:sign"];
const CAPS: &[(&str, &[&str])] = &[("Coordinator", COORDINATOR_CAPS), ("Witness", WITNESS_CAPS)];

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

/// The view every witness had before the latest commit.
fn old_view() -> Digest {
    crypto::digest("tree", &[b"epoch 2"])
}

struct Run {
    coordinator: (Result<ConsensusOutcome, ServiceError>, CoordinatorState),
    witnesses: Vec<(Result<WitnessOutcome, ServiceError>, WitnessState)>,
    harness: Harness,
}

/// One instance with `n` witnesses, the last `stale` of which have not seen
/// the latest state.
async fn run(n: u32, threshold: u16, stale: u32) -> Run {
    let mut h = Harness::new(&choreo_aura_consensus::PROTOCOL, &[("Witness", n)], CAPS);
    let mut witnesses: Vec<WitnessState> = (0..n)
        .map(|k| WitnessState {
            signing_key: key(k),
            nonce_seed: crypto::digest("nonce seed", &[&k.to_le_bytes()]),
            view: WitnessView {
                prestate_hash: if k >= n - stale {
                    old_view()
                } else {
                    prestate()
                },
                epoch: 3,
            },
            journal: Default::default(),
        })
        .collect();
    let mut state = CoordinatorState {
        params: ConsensusParams {
            threshold,
            epoch: 3,
            witness_keys: (0..n).map(key).collect(),
        },
        prestate_hash: prestate(),
        journal: Default::default(),
    };
    let mut sessions = h.join();
    let lead = sessions.take(COORDINATOR);
    let members = sessions.members("Witness", n);
    sessions.done();
    let (outcome, outcomes) = tokio::join!(
        run_coordinator(lead, &mut state, operation()),
        join_all(
            members
                .into_iter()
                .zip(witnesses.iter_mut())
                .map(|(s, w)| run_witness(s, w))
        ),
    );
    Run {
        coordinator: (outcome, state),
        witnesses: outcomes.into_iter().zip(witnesses).collect(),
        harness: h,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_of_matching_views_commits_the_operation() {
    for (n, threshold, stale) in [(1, 1, 0), (5, 5, 0), (5, 3, 2)] {
        let run = run(n, threshold, stale).await;
        let (outcome, state) = run.coordinator;
        let signers: Vec<u16> = (0..(n - stale) as u16).collect();
        let Ok(ConsensusOutcome {
            poststate,
            signers: got,
            ..
        }) = outcome
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
        // Each signing witness's SignShare records a fact that its ResultAck
        // merges back; a declining witness records none.
        let journal = run.harness.node(COORDINATOR).journal();
        assert_eq!(
            journal.count("ConsensusFact::ShareSigned").unwrap(),
            signers.len() as u64,
            "{n} witnesses, {stale} stale"
        );
        for (k, (outcome, state)) in run.witnesses.iter().enumerate() {
            let fresh = (k as u32) < n - stale;
            let expected = WitnessOutcome {
                signed: fresh,
                applied: fresh,
            };
            assert_eq!(outcome, &Ok(expected), "Witness[{k}]");
            let view = if fresh { poststate } else { old_view() };
            assert_eq!(state.view.prestate_hash, view, "Witness[{k}] view");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn too_few_valid_shares_cancel_the_instance_and_nothing_is_applied() {
    for (n, threshold, stale) in [(1, 1, 1), (5, 4, 2)] {
        let started = Instant::now();
        let run = run(n, threshold, stale).await;
        let (outcome, state) = &run.coordinator;
        let why = format!("{} valid shares, {threshold} needed", n - stale);
        assert_refused(outcome, &why);
        assert_eq!(
            state.prestate_hash,
            prestate(),
            "the coordinator keeps its prestate"
        );
        assert!(state.journal.contains(&ConsensusFact::Failed(
            consensus_id(&state.journal),
            why.clone()
        )));
        let journal = run.harness.node(COORDINATOR).journal();
        assert_eq!(journal.count("ConsensusFact::Committed").unwrap(), 0);
        for (k, (outcome, state)) in run.witnesses.iter().enumerate() {
            assert_cancelled(outcome, COORDINATOR, &why);
            let fresh = (k as u32) < n - stale;
            assert_eq!(
                state.journal.count(
                    |f| matches!(f, ConsensusFact::Signed(_, w, s) if *w == k as u16 && *s == fresh)
                ),
                1,
                "Witness[{k}] recorded whether it signed"
            );
            assert_eq!(
                state
                    .journal
                    .count(|f| matches!(f, ConsensusFact::Applied(..))),
                0
            );
        }
        assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
    }
}

/// The id of the instance a journal proposed.
fn consensus_id(journal: &choreo_services::stand_in::Journal<ConsensusFact>) -> Digest {
    match journal.facts().first() {
        Some(ConsensusFact::Proposed(id)) => *id,
        other => panic!("the journal starts with the proposal: {other:?}"),
    }
}
