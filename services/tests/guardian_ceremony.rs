//! GuardianCeremony through the recovery service: Commit and Abort, with 1
//! and 5 guardians, decided from the Initiator's threshold policy and each
//! guardian's view of the account.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto::{self, Digest};
use choreo_services::recovery::guardian_ceremony::{
    run_guardian, run_initiator, AccountState, CeremonyFact, CeremonyPolicy, GuardianOutcome,
    GuardianPolicy, GuardianState, InitiatorOutcome, InitiatorState,
};
use choreo_services::shamir;
use choreo_services::ServiceError;
use common::{session, take, Local, BUDGET};

const INITIATOR_CAPS: &[&str] = &["ceremony:propose", "ceremony:commit", "ceremony:abort"];
const GUARDIAN_CAPS: &[&str] = &["ceremony:respond"];

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

type GuardianRun = (GuardianOutcome, GuardianState, Local);

async fn run(
    n: u32,
    threshold: u16,
    stale: u32,
) -> (InitiatorOutcome, InitiatorState, Local, Vec<GuardianRun>) {
    let roster = Roster::new()
        .with_role("Initiator")
        .with_family("Guardian", n);
    let caps = [("Initiator", INITIATOR_CAPS), ("Guardian", GUARDIAN_CAPS)];
    let mut adapters = session(choreo_guardian_ceremony::PROTOCOL, &roster, &caps);
    let mut tasks = Vec::new();
    for k in 0..n {
        let mut adapter = take(&mut adapters, &Peer::member("Guardian", k));
        // The last `stale` guardians decline.
        let mut state = guardian(k, k >= n - stale);
        tasks.push(tokio::spawn(async move {
            let outcome = run_guardian(&mut adapter, &mut state)
                .await
                .expect("guardian runs");
            (outcome, state, adapter)
        }));
    }
    let mut adapter = take(&mut adapters, &Peer::role("Initiator"));
    let mut state = initiator(n, threshold);
    let outcome = run_initiator(&mut adapter, &mut state)
        .await
        .expect("initiator runs");
    let mut guardians = Vec::new();
    for task in tasks {
        guardians.push(task.await.expect("no guardian panics"));
    }
    (outcome, state, adapter, guardians)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_installs_a_share_of_the_new_secret_at_every_guardian() {
    for (n, threshold, stale) in [(1, 1, 0), (5, 3, 0), (5, 3, 2)] {
        let (outcome, state, adapter, guardians) = run(n, threshold, stale).await;
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
        let ctx = adapter.context();
        assert_eq!(ctx.journal().count("CeremonyFact::Committed"), n as usize);
        // Proposal 100, commit 50, share 50 to each guardian.
        assert_eq!(
            ctx.remaining_budget(&Peer::member("Guardian", 0)),
            BUDGET - 200
        );

        let mut shares = Vec::new();
        for (k, (outcome, state, _)) in guardians.iter().enumerate() {
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
        let (outcome, state, adapter, guardians) = run(n, threshold, stale).await;
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
        assert_eq!(
            adapter.context().journal().count("CeremonyFact::Aborted"),
            n as usize
        );
        assert_eq!(
            adapter.context().journal().count("CeremonyFact::Committed"),
            0
        );
        for (k, (outcome, state, _)) in guardians.iter().enumerate() {
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

#[tokio::test]
async fn a_threshold_above_the_family_is_refused_before_anything_is_sent() {
    let roster = Roster::new()
        .with_role("Initiator")
        .with_family("Guardian", 2);
    let caps = [("Initiator", INITIATOR_CAPS)];
    let mut adapters = session(choreo_guardian_ceremony::PROTOCOL, &roster, &caps);
    let mut adapter = take(&mut adapters, &Peer::role("Initiator"));
    let mut state = initiator(2, 3);
    let err = run_initiator(&mut adapter, &mut state)
        .await
        .expect_err("refused");
    assert!(
        matches!(err, ServiceError::Invalid(ref why) if why.contains("threshold 3 of 2")),
        "{err}"
    );
    assert!(state.journal.is_empty());
    assert_eq!(adapter.context().journal().len(), 0);
}
