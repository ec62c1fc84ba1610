//! GuardianSetup through the recovery service: 1 and 5 guardians, every
//! guardian enrolled or some declining by policy, above and below the
//! threshold; the installed shares must give the recovery secret back.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto;
use choreo_services::recovery::guardian_setup::{
    group_public_key, run_account, run_guardian, AccountState, GuardianOutcome, GuardianPolicy,
    GuardianState, SetupFact, SetupOutcome,
};
use choreo_services::shamir;
use common::{session, take};

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

async fn setup(
    n: u32,
    threshold: u16,
    busy: &[u32],
) -> (
    SetupOutcome,
    AccountState,
    Vec<(GuardianOutcome, GuardianState)>,
) {
    let roster = Roster::new()
        .with_role("Account")
        .with_family("Guardian", n);
    let caps: [(&str, &[&str]); 2] = [
        ("Account", &["guardian:setup"]),
        ("Guardian", &["guardian:enroll"]),
    ];
    let mut adapters = session(choreo_guardian_setup::PROTOCOL, &roster, &caps);
    let mut tasks = Vec::new();
    for k in 0..n {
        let mut adapter = take(&mut adapters, &Peer::member("Guardian", k));
        let mut state = guardian(k, busy.contains(&k));
        tasks.push(tokio::spawn(async move {
            let outcome = run_guardian(&mut adapter, &mut state)
                .await
                .expect("guardian runs");
            (outcome, state)
        }));
    }
    let mut adapter = take(&mut adapters, &Peer::role("Account"));
    let mut state = AccountState {
        account_id: crypto::digest("account", &[]),
        secret: secret(),
        threshold,
        epoch: 1,
        guardians: Vec::new(),
        journal: Default::default(),
    };
    let outcome = run_account(&mut adapter, &mut state)
        .await
        .expect("account runs");
    assert_eq!(
        adapter
            .context()
            .journal()
            .count("GuardianFact::SetupStarted"),
        n as usize
    );
    let mut guardians = Vec::new();
    for task in tasks {
        guardians.push(task.await.expect("no guardian panics"));
    }
    (outcome, state, guardians)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_guardians_hold_shares_that_recover_the_secret() {
    for (n, threshold, busy) in [(1, 1, vec![]), (5, 3, vec![]), (5, 3, vec![1])] {
        let (outcome, account, guardians) = setup(n, threshold, &busy).await;
        let enrolled: Vec<u16> = (0..n as u16)
            .filter(|k| !busy.contains(&u32::from(*k)))
            .collect();
        assert_eq!(
            outcome,
            SetupOutcome::Completed(enrolled.clone(), group_public_key(&secret()))
        );
        assert_eq!(account.guardians, enrolled);
        assert!(account
            .journal
            .contains(&SetupFact::Completed(enrolled.clone())));
        let mut shares = Vec::new();
        for (k, (outcome, state)) in guardians.into_iter().enumerate() {
            if busy.contains(&(k as u32)) {
                assert!(
                    matches!(outcome, GuardianOutcome::Declined(_)),
                    "Guardian[{k}]: {outcome:?}"
                );
                assert!(state.guardianships.is_empty());
                continue;
            }
            let GuardianOutcome::Enrolled(held) = outcome else {
                panic!("Guardian[{k}]: {outcome:?}")
            };
            assert_eq!((held.threshold, held.epoch), (threshold, 1));
            assert_eq!(held.group_public_key, group_public_key(&secret()));
            assert_eq!(state.guardianships, vec![held.clone()]);
            shares.push(held.share);
        }
        let t = usize::from(threshold);
        assert_eq!(shamir::combine(&shares[..t]), Some(secret()));
        assert_eq!(shamir::combine(&shares[shares.len() - t..]), Some(secret()));
        if t > 1 {
            assert_ne!(shamir::combine(&shares[..t - 1]), Some(secret()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_enrollments_fail_the_setup_and_nobody_holds_a_share() {
    for (n, threshold, busy) in [(1, 1, vec![0]), (5, 3, vec![0, 2, 4])] {
        let (outcome, account, guardians) = setup(n, threshold, &busy).await;
        let enrolled = n as usize - busy.len();
        assert_eq!(
            outcome,
            SetupOutcome::Failed(format!("{enrolled} of {n} guardians enrolled, 0 confirmed"))
        );
        assert!(account.guardians.is_empty());
        for (k, (outcome, state)) in guardians.into_iter().enumerate() {
            let expected_setup_failed = !busy.contains(&(k as u32));
            assert_eq!(
                outcome == GuardianOutcome::SetupFailed,
                expected_setup_failed,
                "Guardian[{k}]: {outcome:?}"
            );
            assert!(state.guardianships.is_empty());
        }
    }
}
