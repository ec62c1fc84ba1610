//! GuardianSetup through the recovery service: 1 and 5 guardians that all
//! enroll hold shares that give the recovery secret back; a guardian whose
//! policy declines cancels the setup for everyone at once, and the setup
//! then completes among the guardians that do serve.

mod common;

use choreo_runtime::Peer;
use choreo_services::recovery::guardian_setup::{
    group_public_key, run_account, run_guardian, AccountState, GuardianPolicy, GuardianState,
    Guardianship, SetupFact, SetupOutcome,
};
use choreo_services::stand_in as crypto;
use choreo_services::{shamir, ServiceError};
use common::{assert_stopped_by, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Account", &["guardian:setup"]),
    ("Guardian", &["guardian:enroll"]),
];
const ACCOUNT: Peer = Peer::role("Account");

fn secret() -> [u8; 32] {
    crypto::digest("recovery secret", &[])
}

/// Guardian `k`; a busy one already guards as many accounts as it may.
fn guardian(k: u32, busy: bool) -> GuardianState {
    GuardianState {
        enrollment_secret: crypto::digest("enrollment", &[&k.to_le_bytes()]),
        policy: GuardianPolicy {
            max_guardianships: if busy { 0 } else { 3 },
            min_threshold: 1,
        },
        guardianships: Vec::new(),
        journal: Default::default(),
    }
}

type Guardians = Vec<(Result<Guardianship, ServiceError>, GuardianState)>;

/// One setup among the guardians `ks` (member `i` of the family is guardian
/// `ks[i]`), the busy ones declining; all roles at once.
async fn setup(
    ks: &[u32],
    threshold: u16,
    busy: &[u32],
) -> (
    Result<SetupOutcome, ServiceError>,
    AccountState,
    Guardians,
    Harness,
) {
    let n = ks.len() as u32;
    let mut h = Harness::new(&choreo_guardian_setup::PROTOCOL, &[("Guardian", n)], CAPS);
    let mut guardians: Vec<GuardianState> =
        ks.iter().map(|k| guardian(*k, busy.contains(k))).collect();
    let mut state = AccountState {
        account_id: crypto::digest("account", &[]),
        secret: secret(),
        threshold,
        epoch: 1,
        guardians: Vec::new(),
        journal: Default::default(),
    };
    let mut sessions = h.join();
    let lead = sessions.take(ACCOUNT);
    let members = sessions.members("Guardian", n);
    sessions.done();
    let (outcome, outcomes) = tokio::join!(
        run_account(lead, &mut state),
        join_all(
            members
                .into_iter()
                .zip(guardians.iter_mut())
                .map(|(s, g)| run_guardian(s, g))
        ),
    );
    (
        outcome,
        state,
        outcomes.into_iter().zip(guardians).collect(),
        h,
    )
}

/// Checks a completed setup among `n` guardians and returns their shares.
fn completed(
    n: u32,
    threshold: u16,
    outcome: Result<SetupOutcome, ServiceError>,
    account: &AccountState,
    guardians: Guardians,
) -> Vec<shamir::Share> {
    let everyone: Vec<u16> = (0..n as u16).collect();
    assert_eq!(
        outcome,
        Ok(SetupOutcome {
            guardians: everyone.clone(),
            group_public_key: group_public_key(&secret())
        })
    );
    assert_eq!(account.guardians, everyone);
    assert!(account.journal.contains(&SetupFact::Completed(everyone)));
    let mut shares = Vec::new();
    for (k, (outcome, state)) in guardians.into_iter().enumerate() {
        let held = outcome.unwrap_or_else(|e| panic!("Guardian[{k}]: {e}"));
        assert_eq!((held.threshold, held.epoch), (threshold, 1));
        assert_eq!(held.group_public_key, group_public_key(&secret()));
        assert_eq!(state.guardianships, vec![held.clone()]);
        shares.push(held.share);
    }
    shares
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_guardians_hold_shares_that_recover_the_secret() {
    for (n, threshold) in [(1, 1), (5, 3)] {
        let ks: Vec<u32> = (0..n).collect();
        let (outcome, account, guardians, h) = setup(&ks, threshold, &[]).await;
        let shares = completed(n, threshold, outcome, &account, guardians);
        assert_eq!(
            h.node(ACCOUNT)
                .journal()
                .count("GuardianFact::SetupStarted")
                .unwrap(),
            u64::from(n)
        );
        assert_eq!(
            h.node(ACCOUNT)
                .journal()
                .count("GuardianFact::SetupCompleted")
                .unwrap(),
            u64::from(n)
        );
        let t = usize::from(threshold);
        assert_eq!(shamir::combine(&shares[..t]), Some(secret()));
        assert_eq!(shamir::combine(&shares[shares.len() - t..]), Some(secret()));
        if t > 1 {
            assert_ne!(shamir::combine(&shares[..t - 1]), Some(secret()));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_declining_guardian_cancels_the_setup_and_nobody_holds_a_share() {
    let why = "guards as many accounts as its policy allows";
    for (n, threshold, busy) in [(1, 1, 0), (5, 3, 2)] {
        let started = Instant::now();
        let ks: Vec<u32> = (0..n).collect();
        let (outcome, account, guardians, h) = setup(&ks, threshold, &[busy]).await;
        let refuser = Peer::member("Guardian", busy);
        assert_stopped_by(&outcome, ACCOUNT, refuser, why);
        assert!(account.guardians.is_empty());
        assert!(account.journal.contains(&SetupFact::Failed(why.into())));
        for (k, (outcome, state)) in guardians.iter().enumerate() {
            assert_stopped_by(outcome, Peer::member("Guardian", k as u32), refuser, why);
            assert!(state.guardianships.is_empty(), "Guardian[{k}]");
        }
        assert_eq!(
            h.node(ACCOUNT)
                .journal()
                .count("GuardianFact::SetupCompleted")
                .unwrap(),
            0
        );
        assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_completes_among_the_guardians_that_serve() {
    // Guardian 1 is busy: the account runs the setup with the other four.
    let (outcome, _, _, _) = setup(&[0, 1, 2, 3, 4], 3, &[1]).await;
    assert!(outcome.is_err(), "with the busy guardian it is cancelled");
    let (outcome, account, guardians, _) = setup(&[0, 2, 3, 4], 3, &[1]).await;
    let shares = completed(4, 3, outcome, &account, guardians);
    assert_eq!(shamir::combine(&shares[1..]), Some(secret()));
}
