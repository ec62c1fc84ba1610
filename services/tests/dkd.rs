//! DkdChoreography through the derivation service: 1 and 5 participants,
//! keys that depend only on context and path, and participants whose policy
//! withholds their share on both sides of the threshold.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::authentication::dkd::{
    run_initiator, run_participant, DkdFact, DkdOutcome, InitiatorState, ParticipantOutcome,
    ParticipantState,
};
use choreo_services::crypto;
use common::{session, take};

fn participant(k: u32, allowed: &[&str]) -> ParticipantState {
    ParticipantState {
        root_share: crypto::digest("root share", &[&k.to_le_bytes()]),
        salt_seed: crypto::digest("salt seed", &[&k.to_le_bytes()]),
        allowed_contexts: allowed.iter().map(|c| c.to_string()).collect(),
        epoch: 2,
        keys: Vec::new(),
        journal: Default::default(),
    }
}

fn participants(n: u32, withholding: &[u32]) -> Vec<ParticipantState> {
    (0..n)
        .map(|k| {
            participant(
                k,
                if withholding.contains(&k) {
                    &["messaging/"]
                } else {
                    &["storage/", "messaging/"]
                },
            )
        })
        .collect()
}

async fn derive(
    threshold: u16,
    states: Vec<ParticipantState>,
    context: &str,
) -> (
    DkdOutcome,
    InitiatorState,
    Vec<(ParticipantOutcome, ParticipantState)>,
) {
    let n = states.len() as u32;
    let roster = Roster::new()
        .with_role("Initiator")
        .with_family("Participant", n);
    let caps: [(&str, &[&str]); 2] = [
        ("Initiator", &["dkd:initiate"]),
        ("Participant", &["dkd:contribute"]),
    ];
    let mut adapters = session(choreo_dkd_choreography::PROTOCOL, &roster, &caps);
    let mut tasks = Vec::new();
    for (k, mut state) in states.into_iter().enumerate() {
        let mut adapter = take(&mut adapters, &Peer::member("Participant", k as u32));
        tasks.push(tokio::spawn(async move {
            let outcome = run_participant(&mut adapter, &mut state)
                .await
                .expect("participant runs");
            (outcome, state)
        }));
    }
    let mut adapter = take(&mut adapters, &Peer::role("Initiator"));
    let mut state = InitiatorState {
        threshold,
        epoch: 2,
        keys: Vec::new(),
        journal: Default::default(),
    };
    let outcome = run_initiator(&mut adapter, &mut state, context, vec![0, 7])
        .await
        .expect("initiator runs");
    assert_eq!(
        adapter.context().journal().count("DkdFact::KeyDerived"),
        n as usize
    );
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("no participant panics"));
    }
    (outcome, state, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_participant_contributes_and_confirms_the_key() {
    for n in [1u32, 5] {
        let (outcome, state, results) =
            derive(n as u16, participants(n, &[]), "storage/photos").await;
        let everyone: Vec<u16> = (0..n as u16).collect();
        let DkdOutcome::Derived(key, confirmed) = outcome else {
            panic!("{n}: {outcome:?}")
        };
        assert_eq!(
            (key.context.as_str(), key.path.as_slice()),
            ("storage/photos", &[0, 7][..])
        );
        assert_eq!(key.contributors, everyone);
        assert_eq!(
            confirmed, everyone,
            "every participant acknowledged the key"
        );
        assert_eq!(state.keys, vec![key.clone()]);
        for (k, (outcome, state)) in results.iter().enumerate() {
            assert_eq!(
                outcome,
                &ParticipantOutcome {
                    released: Ok(()),
                    public_key: Some(key.public_key)
                }
            );
            assert!(
                state.journal.contains(&DkdFact::KeyDerived(key.clone())),
                "Participant[{k}]"
            );
        }
        // The same shares, context and path derive the same key; another context another.
        let (again, _, _) = derive(n as u16, participants(n, &[]), "storage/photos").await;
        assert!(matches!(again, DkdOutcome::Derived(ref k, _) if k.public_key == key.public_key));
        let (other, _, _) = derive(n as u16, participants(n, &[]), "storage/docs").await;
        assert!(matches!(other, DkdOutcome::Derived(ref k, _) if k.public_key != key.public_key));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_share_is_reported_and_counts_against_the_threshold() {
    let why = Err("context `storage/photos` is not released by policy".to_string());
    // Threshold 4 of 5: still derived, from the four released shares.
    let (outcome, _, results) = derive(4, participants(5, &[2]), "storage/photos").await;
    let DkdOutcome::Derived(key, confirmed) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(key.contributors, vec![0, 1, 3, 4]);
    assert_eq!(confirmed, vec![0, 1, 2, 3, 4]);
    assert_eq!(results[2].0.released, why);
    assert!(
        results[2].1.keys.is_empty(),
        "a withholding participant records no key"
    );
    assert_eq!(results[0].1.keys, vec![key]);
    // Threshold 5 of 5, and 1 of 1: no key anywhere.
    for (threshold, n, invalid) in [(5, 5, vec![2]), (1, 1, vec![0])] {
        let (outcome, state, results) = derive(
            threshold,
            participants(n, &[invalid[0] as u32]),
            "storage/photos",
        )
        .await;
        assert_eq!(outcome, DkdOutcome::Failed(invalid.clone()));
        assert!(state.keys.is_empty());
        assert!(results
            .iter()
            .all(|(o, s)| o.public_key.is_none() && s.keys.is_empty()));
    }
}
