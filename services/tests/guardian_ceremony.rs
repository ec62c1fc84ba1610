//! GuardianCeremony through the recovery service: Commit and Abort, with 1
//! and 5 guardians, decided from the Initiator's threshold policy and each
//! guardian's view of the account.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest};
use choreo_services::recovery::guardian_ceremony::{
    run_guardian, run_initiator, AccountState, CeremonyFact, CeremonyPolicy, GuardianOutcome,
    GuardianPolicy, GuardianState, InitiatorOutcome, InitiatorState,
};
use choreo_services::{shamir, ServiceError};
use common::{assert_cancelled, assert_refused, Harness, BUDGET, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const INITIATOR_CAPS: &[&str] = &["ceremony:propose", "ceremony:commit", "ceremony:abort"];
const GUARDIAN_CAPS: &[&str] = &["ceremony:respond"];
const CAPS: &[(&str, &[&str])] = &[("Initiator", INITIATOR_CAPS), ("Guardian", GUARDIAN_CAPS)];
const INITIATOR: Peer = Peer::role("Initiator");

fn prestate() -> Digest {
    crypto::digest("account-state", &[b"tree at epoch 7"])
}

fn pairwise_key(k: u32) -> Digest {
    crypto::digest("pairwise", &[&k.to_le_bytes()])
}

fn new_secret() -> [u8; 32] {
    crypto::digest("new group secret", &[])
}

fn initiator(n: u32, threshold: u16) -> InitiatorState {
    InitiatorState {
        account: AccountState {
            prestate: prestate(),
            epoch: 7,
        },
        policy: CeremonyPolicy { threshold },
        guardian_keys: (0..n).map(pairwise_key).collect(),
        new_secret: new_secret(),
        journal: Default::default(),
    }
}

/// Guardian `k`; a stale one has not seen the account's latest state.
fn guardian(k: u32, stale: bool) -> GuardianState {
    let prestate = if stale {
        crypto::digest("old", &[])
    } else {
        prestate()
    };
    GuardianState {
        view: AccountState { prestate, epoch: 7 },
        policy: GuardianPolicy { min_threshold: 1 },
        initiator_key: pairwise_key(k),
        share: None,
        journal: Default::default(),
    }
}

type GuardianRun = (Result<GuardianOutcome, ServiceError>, GuardianState);

/// Runs one ceremony of `initiator` with `guardians`, all roles at once.
async fn ceremony(
    h: &mut Harness,
    mut initiator: InitiatorState,
    guardians: Vec<GuardianState>,
) -> (
    Result<InitiatorOutcome, ServiceError>,
    InitiatorState,
    Vec<GuardianRun>,
) {
    let n = guardians.len() as u32;
    let mut sessions = h.join();
    let lead = sessions.take(INITIATOR);
    let members = sessions.members("Guardian", n);
    sessions.done();
    let mut guardians = guardians;
    let (outcome, outcomes) = tokio::join!(
        run_initiator(lead, &mut initiator),
        join_all(
            members
                .into_iter()
                .zip(guardians.iter_mut())
                .map(|(s, state)| run_guardian(s, state))
        ),
    );
    (
        outcome,
        initiator,
        outcomes.into_iter().zip(guardians).collect(),
    )
}

/// A ceremony of `n` guardians, the last `stale` of which decline.
async fn run(
    n: u32,
    threshold: u16,
    stale: u32,
) -> (
    InitiatorOutcome,
    InitiatorState,
    Harness,
    Vec<(GuardianOutcome, GuardianState)>,
) {
    let mut h = Harness::new(
        &choreo_guardian_ceremony::PROTOCOL,
        &[("Guardian", n)],
        CAPS,
    );
    let guardians = (0..n).map(|k| guardian(k, k >= n - stale)).collect();
    let (outcome, state, guardians) = ceremony(&mut h, initiator(n, threshold), guardians).await;
    let outcome = outcome.expect("the initiator runs");
    let guardians = guardians
        .into_iter()
        .map(|(o, s)| (o.expect("every guardian runs"), s))
        .collect();
    (outcome, state, h, guardians)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_installs_a_share_of_the_new_secret_at_every_guardian() {
    for (n, threshold, stale) in [(1, 1, 0), (5, 3, 0), (5, 3, 2)] {
        let (outcome, state, h, guardians) = run(n, threshold, stale).await;
        let accepted: Vec<u16> = (0..(n - stale) as u16).collect();
        let everyone: Vec<u16> = (0..n as u16).collect();
        assert_eq!(
            outcome,
            InitiatorOutcome::Committed {
                new_epoch: 8,
                accepted_by: accepted,
                installed_by: everyone
            },
            "{n} guardians, {stale} stale"
        );
        assert_eq!(state.account.epoch, 8);
        assert_eq!(
            state
                .journal
                .count(|f| matches!(f, CeremonyFact::Committed { new_epoch: 8, .. })),
            1
        );
        assert_eq!(
            state
                .journal
                .count(|f| matches!(f, CeremonyFact::ShareInstalled { .. })),
            n as usize
        );
        let journal = h.node(INITIATOR).journal();
        assert_eq!(
            journal.count("CeremonyFact::Committed").unwrap(),
            u64::from(n)
        );
        // Proposal 100, commit 50, share 50 to each guardian.
        assert_eq!(
            h.context(INITIATOR)
                .remaining_budget(&Peer::member("Guardian", 0)),
            BUDGET - 200
        );

        let mut shares = Vec::new();
        for (k, (outcome, state)) in guardians.iter().enumerate() {
            assert_eq!(
                outcome,
                &GuardianOutcome::Installed { epoch: 8 },
                "Guardian[{k}]"
            );
            let held = state.share.as_ref().expect("a share is installed");
            assert_eq!((held.epoch, usize::from(held.share.index)), (8, k + 1));
            let declined = k as u32 >= n - stale;
            let fact = CeremonyFact::Responded {
                guardian: k as u16,
                accepted: !declined,
            };
            assert!(state.journal.contains(&fact), "Guardian[{k}] journal");
            shares.push(held.share.clone());
        }
        // Any `threshold` of the installed shares give the new secret back.
        let t = usize::from(threshold);
        assert_eq!(
            shamir::combine(&shares[n as usize - t..]),
            Some(new_secret())
        );
        if t > 1 {
            assert_ne!(shamir::combine(&shares[..t - 1]), Some(new_secret()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_when_fewer_than_the_threshold_accept() {
    for (n, threshold, stale, accepted) in [(1, 1, 1, 0), (5, 3, 3, 2)] {
        let (outcome, state, h, guardians) = run(n, threshold, stale).await;
        let InitiatorOutcome::Aborted { reason } = outcome else {
            panic!("{n} guardians, {stale} stale: expected Abort, got {outcome:?}");
        };
        assert!(
            reason.starts_with(&format!("{accepted} of {n} guardians accepted")),
            "{reason}"
        );
        assert_eq!(state.account.epoch, 7, "the epoch does not advance");
        assert_eq!(
            state
                .journal
                .count(|f| matches!(f, CeremonyFact::Aborted { .. })),
            1
        );
        let journal = h.node(INITIATOR).journal();
        assert_eq!(
            journal.count("CeremonyFact::Aborted").unwrap(),
            u64::from(n)
        );
        assert_eq!(journal.count("CeremonyFact::Committed").unwrap(), 0);
        for (k, (outcome, state)) in guardians.iter().enumerate() {
            assert_eq!(
                outcome,
                &GuardianOutcome::Aborted {
                    reason: reason.clone()
                },
                "Guardian[{k}]"
            );
            assert_eq!(state.share, None);
            assert_eq!(state.view.epoch, 7);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_threshold_above_the_family_is_refused_before_anything_is_sent() {
    let mut h = Harness::new(
        &choreo_guardian_ceremony::PROTOCOL,
        &[("Guardian", 2)],
        CAPS,
    );
    let started = Instant::now();
    let guardians = (0..2).map(|k| guardian(k, false)).collect();
    let (outcome, state, guardians) = ceremony(&mut h, initiator(2, 3), guardians).await;
    assert!(
        matches!(outcome, Err(ServiceError::Invalid(ref why)) if why.contains("threshold 3 of 2")),
        "{outcome:?}"
    );
    assert!(state.journal.is_empty());
    assert_eq!(h.node(INITIATOR).journal().len().unwrap(), 0);
    for (outcome, state) in &guardians {
        assert_cancelled(outcome, INITIATOR, "threshold 3 of 2");
        assert!(state.journal.is_empty(), "no guardian answered");
    }
    assert!(started.elapsed() < TIMEOUT, "nobody waited for a timeout");
}

#[tokio::test(start_paused = true)]
async fn a_share_that_does_not_open_cancels_the_ceremony_for_everyone() {
    let mut h = Harness::new(
        &choreo_guardian_ceremony::PROTOCOL,
        &[("Guardian", 3)],
        CAPS,
    );
    let started = Instant::now();
    // Guardian[1] shares another key with the Initiator than the one it was given.
    let mut guardians: Vec<GuardianState> = (0..3).map(|k| guardian(k, false)).collect();
    guardians[1].initiator_key = crypto::digest("a key the initiator never had", &[]);
    let (outcome, state, guardians) = ceremony(&mut h, initiator(3, 2), guardians).await;
    let why = "the delivered share does not match its commitment";
    let culprit = Peer::member("Guardian", 1);
    assert_cancelled(&outcome, culprit, why);
    assert_eq!(state.account.epoch, 7, "the epoch does not advance");
    assert_refused(&guardians[1].0, why);
    assert!(guardians[1]
        .1
        .journal
        .contains(&CeremonyFact::ShareRejected { guardian: 1 }));
    // The share rounds run in member order: Guardian[0] had installed its
    // share and finished, Guardian[2] never got one.
    assert_eq!(guardians[0].0, Ok(GuardianOutcome::Installed { epoch: 8 }));
    assert_cancelled(&guardians[2].0, culprit, why);
    assert_eq!(guardians[2].1.share, None);
    assert!(started.elapsed() < TIMEOUT, "nobody waited for a timeout");
}
