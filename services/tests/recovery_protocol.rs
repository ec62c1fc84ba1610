//! RecoveryProtocol through the recovery service: 1 and 5 guardians holding
//! Shamir shares of the account's secret; the new device recovers the
//! secret iff the threshold of guardians approve by their policy.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto::{self, Digest};
use choreo_services::recovery::guardian_setup::{group_public_key, Guardianship};
use choreo_services::recovery::recovery_protocol::{
    run_coordinator, run_guardian, run_requester, ApprovalPolicy, CoordinatorState, GuardianState,
    RecoveryFact, RecoveryOutcome, RequesterState,
};
use choreo_services::shamir;
use common::{session, take};

fn secret() -> [u8; 32] {
    crypto::digest("account secret", &[])
}

fn account() -> Digest {
    crypto::digest("account", &[])
}

fn new_device() -> Digest {
    crypto::digest("new phone", &[])
}

/// How a guardian is set up to answer.
#[derive(Clone, Copy, PartialEq)]
enum Guardian {
    /// Verified the new device and has not approved lately.
    Approves,
    /// Has not verified the new device.
    Unverified,
    /// Approved another recovery within its cooldown.
    CoolingDown,
}

async fn recover(
    threshold: u16,
    guardians: &[Guardian],
) -> (
    RecoveryOutcome,
    RequesterState,
    CoordinatorState,
    Vec<(RecoveryOutcome, GuardianState)>,
) {
    let n = guardians.len() as u32;
    let shares = shamir::split(&secret(), threshold, n as u16, &crypto::digest("seed", &[]))
        .expect("valid sharing");
    let roster = Roster::new()
        .with_role("Requester")
        .with_role("Coordinator")
        .with_family("Guardian", n);
    let caps: [(&str, &[&str]); 3] = [
        ("Requester", &["recovery:initiate"]),
        ("Coordinator", &["recovery:finalize"]),
        ("Guardian", &["recovery:approve"]),
    ];
    let mut adapters = session(choreo_recovery_protocol::PROTOCOL, &roster, &caps);
    let mut tasks = Vec::new();
    for (k, (kind, share)) in guardians.iter().zip(shares).enumerate() {
        let mut adapter = take(&mut adapters, &Peer::member("Guardian", k as u32));
        let verified = if *kind == Guardian::Unverified {
            vec![]
        } else {
            vec![new_device()]
        };
        let mut state = GuardianState {
            guardianships: vec![Guardianship {
                account_id: account(),
                share,
                threshold,
                group_public_key: group_public_key(&secret()),
                epoch: 1,
            }],
            policy: ApprovalPolicy {
                verified_devices: verified,
                cooldown: 3_600,
            },
            last_approval: (*kind == Guardian::CoolingDown).then_some(9_000),
            journal: Default::default(),
        };
        tasks.push(tokio::spawn(async move {
            let outcome = run_guardian(&mut adapter, &mut state)
                .await
                .expect("guardian runs");
            (outcome, state)
        }));
    }
    let mut coordinator = CoordinatorState {
        account_id: account(),
        threshold,
        epoch: 1,
        devices: Vec::new(),
        journal: Default::default(),
    };
    let mut c = take(&mut adapters, &Peer::role("Coordinator"));
    let coordinator_task = tokio::spawn(async move {
        let outcome = run_coordinator(&mut c, &mut coordinator)
            .await
            .expect("coordinator runs");
        (outcome, coordinator)
    });
    let mut requester = RequesterState {
        account_id: account(),
        group_public_key: group_public_key(&secret()),
        device_key: new_device(),
        now: 10_000,
        recovered: None,
        journal: Default::default(),
    };
    let mut r = take(&mut adapters, &Peer::role("Requester"));
    let outcome = run_requester(&mut r, &mut requester)
        .await
        .expect("requester runs");
    let (coordinator_outcome, coordinator) = coordinator_task.await.expect("no coordinator panic");
    assert_eq!(
        coordinator_outcome, outcome,
        "the coordinator tells the requester what it decided"
    );
    let mut results = Vec::new();
    for task in tasks {
        let (guardian_outcome, state) = task.await.expect("no guardian panics");
        assert_eq!(
            guardian_outcome, outcome,
            "every guardian is told the same outcome"
        );
        results.push((guardian_outcome, state));
    }
    (outcome, requester, coordinator, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_threshold_of_approvals_recovers_the_secret_onto_the_new_device() {
    use Guardian::*;
    for (threshold, guardians) in [
        (1, vec![Approves]),
        (5, vec![Approves; 5]),
        (
            3,
            vec![Unverified, Approves, CoolingDown, Approves, Approves],
        ),
    ] {
        let (outcome, requester, coordinator, results) = recover(threshold, &guardians).await;
        let approvals: Vec<u16> = (0..guardians.len() as u16)
            .filter(|k| guardians[usize::from(*k)] == Approves)
            .collect();
        assert_eq!(outcome.device_key, Some(new_device()));
        assert_eq!((outcome.epoch, outcome.approvals.clone()), (2, approvals));
        assert_eq!(
            requester.recovered,
            Some(secret()),
            "the new device holds the account secret"
        );
        assert_eq!(
            (coordinator.epoch, coordinator.devices.clone()),
            (2, vec![new_device()])
        );
        for (k, (_, state)) in results.iter().enumerate() {
            let verdict = match guardians[k] {
                Approves => Ok(()),
                Unverified => Err("new device not verified".to_string()),
                CoolingDown => Err("within the cooldown of the last approval".to_string()),
            };
            assert!(
                state
                    .journal
                    .contains(&RecoveryFact::Approval(k as u16, verdict)),
                "Guardian[{k}]"
            );
            assert!(state
                .journal
                .contains(&RecoveryFact::Finished(outcome.clone())));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_approvals_recover_nothing() {
    use Guardian::*;
    for (threshold, guardians) in [
        (1, vec![Unverified]),
        (
            3,
            vec![Approves, CoolingDown, Unverified, Approves, Unverified],
        ),
    ] {
        let (outcome, requester, coordinator, _) = recover(threshold, &guardians).await;
        assert_eq!(outcome.device_key, None);
        assert_eq!(outcome.epoch, 1, "the epoch does not move");
        assert_eq!(requester.recovered, None);
        assert!(coordinator.devices.is_empty());
        let approvals = guardians.iter().filter(|g| **g == Approves).count();
        assert_eq!(outcome.approvals.len(), approvals);
    }
}
