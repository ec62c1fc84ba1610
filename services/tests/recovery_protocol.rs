//! RecoveryProtocol through the recovery service: 1 and 5 guardians holding
//! Shamir shares of the account's secret; the new device recovers the
//! secret iff the threshold of guardians approve by their policy, and below
//! it the Coordinator cancels the recovery for everyone at once.

mod common;

use choreo_runtime::Peer;
use choreo_services::recovery::guardian_setup::{group_public_key, Guardianship};
use choreo_services::recovery::recovery_protocol::{
    run_coordinator, run_guardian, run_requester, ApprovalPolicy, CoordinatorState, GuardianState,
    RecoveryFact, RecoveryOutcome, RequesterState,
};
use choreo_services::stand_in::{self as crypto, Digest};
use choreo_services::{shamir, ServiceError};
use common::{assert_cancelled, assert_refused, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Requester", &["recovery:initiate"]),
    ("Coordinator", &["recovery:finalize"]),
    ("Guardian", &["recovery:approve"]),
];
const REQUESTER: Peer = Peer::role("Requester");
const COORDINATOR: Peer = Peer::role("Coordinator");

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

struct Run {
    requester: (Result<RecoveryOutcome, ServiceError>, RequesterState),
    coordinator: (Result<RecoveryOutcome, ServiceError>, CoordinatorState),
    guardians: Vec<(Result<RecoveryOutcome, ServiceError>, GuardianState)>,
    harness: Harness,
}

/// One recovery with guardians set up as `guardians` say, all roles at once.
async fn recover(threshold: u16, guardians: &[Guardian]) -> Run {
    recover_checking(threshold, guardians, group_public_key(&secret())).await
}

/// The same, the new device checking the rebuilt secret against `group_key`.
async fn recover_checking(threshold: u16, guardians: &[Guardian], group_key: Digest) -> Run {
    let n = guardians.len() as u32;
    let shares = shamir::split(&secret(), threshold, n as u16, &crypto::digest("seed", &[]))
        .expect("valid sharing");
    let mut h = Harness::new(
        &choreo_recovery_protocol::PROTOCOL,
        &[("Guardian", n)],
        CAPS,
    );
    let mut states: Vec<GuardianState> = guardians
        .iter()
        .zip(shares)
        .map(|(kind, share)| GuardianState {
            guardianships: vec![Guardianship {
                account_id: account(),
                share,
                threshold,
                group_public_key: group_public_key(&secret()),
                epoch: 1,
            }],
            policy: ApprovalPolicy {
                verified_devices: if *kind == Guardian::Unverified {
                    vec![]
                } else {
                    vec![new_device()]
                },
                cooldown: 3_600,
            },
            last_approval: (*kind == Guardian::CoolingDown).then_some(9_000),
            journal: Default::default(),
        })
        .collect();
    let mut coordinator = CoordinatorState {
        account_id: account(),
        threshold,
        epoch: 1,
        devices: Vec::new(),
        journal: Default::default(),
    };
    let mut requester = RequesterState {
        account_id: account(),
        group_public_key: group_key,
        device_key: new_device(),
        now: 10_000,
        recovered: None,
        journal: Default::default(),
    };
    let mut sessions = h.join();
    let (r, c) = (sessions.take(REQUESTER), sessions.take(COORDINATOR));
    let members = sessions.members("Guardian", n);
    sessions.done();
    let (requested, coordinated, outcomes) = tokio::join!(
        run_requester(r, &mut requester),
        run_coordinator(c, &mut coordinator),
        join_all(
            members
                .into_iter()
                .zip(states.iter_mut())
                .map(|(s, g)| run_guardian(s, g))
        ),
    );
    Run {
        requester: (requested, requester),
        coordinator: (coordinated, coordinator),
        guardians: outcomes.into_iter().zip(states).collect(),
        harness: h,
    }
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
        let run = recover(threshold, &guardians).await;
        let outcome = run.requester.0.clone().expect("the requester recovers");
        assert_eq!(
            run.coordinator.0,
            Ok(outcome.clone()),
            "the coordinator tells the requester what it decided"
        );
        let approvals: Vec<u16> = (0..guardians.len() as u16)
            .filter(|k| guardians[usize::from(*k)] == Approves)
            .collect();
        assert_eq!(outcome.device_key, new_device());
        assert_eq!(
            (outcome.epoch, outcome.approvals.clone()),
            (2, approvals.clone())
        );
        assert_eq!(
            run.requester.1.recovered,
            Some(secret()),
            "the new device holds the account secret"
        );
        let coordinator = &run.coordinator.1;
        assert_eq!(
            (coordinator.epoch, coordinator.devices.clone()),
            (2, vec![new_device()])
        );
        for (k, (guardian_outcome, state)) in run.guardians.iter().enumerate() {
            assert_eq!(
                guardian_outcome,
                &Ok(outcome.clone()),
                "every guardian is told the same outcome"
            );
            let verdict = match guardians[k] {
                Approves => Ok(()),
                Unverified => Err("new device not verified".to_string()),
                CoolingDown => Err("within the cooldown of the last approval".to_string()),
            };
            assert!(
                state
                    .journal
                    .contains(&RecoveryFact::Approval(k as u16, verdict.clone())),
                "Guardian[{k}]"
            );
            assert!(coordinator
                .journal
                .contains(&RecoveryFact::Approval(k as u16, verdict)));
            assert!(state
                .journal
                .contains(&RecoveryFact::Finished(outcome.clone())));
            // Only an approving guardian's send records the Approved fact.
            let approved = run
                .harness
                .node(Peer::member("Guardian", k as u32))
                .journal()
                .count("RecoveryFact::Approved")
                .unwrap();
            assert_eq!(
                approved,
                u64::from(guardians[k] == Approves),
                "Guardian[{k}]"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn too_few_approvals_cancel_the_recovery_and_recover_nothing() {
    use Guardian::*;
    for (threshold, guardians) in [
        (1, vec![Unverified]),
        (
            3,
            vec![Approves, CoolingDown, Unverified, Approves, Unverified],
        ),
    ] {
        let started = Instant::now();
        let run = recover(threshold, &guardians).await;
        let approvals = guardians.iter().filter(|g| **g == Approves).count();
        let why = format!("{approvals} approvals, {threshold} needed");
        assert_refused(&run.coordinator.0, &why);
        assert_cancelled(&run.requester.0, COORDINATOR, &why);
        for (outcome, state) in &run.guardians {
            assert_cancelled(outcome, COORDINATOR, &why);
            assert!(state.journal.contains(&RecoveryFact::Failed(why.clone())));
        }
        let (requester, coordinator) = (&run.requester.1, &run.coordinator.1);
        assert_eq!(requester.recovered, None);
        assert!(requester
            .journal
            .contains(&RecoveryFact::Failed(why.clone())));
        assert_eq!(coordinator.epoch, 1, "the epoch does not move");
        assert!(coordinator.devices.is_empty());
        let approved = |f: &RecoveryFact| matches!(f, RecoveryFact::Approval(_, Ok(())));
        assert_eq!(coordinator.journal.count(approved), approvals);
        let journal = run.harness.node(COORDINATOR).journal();
        assert_eq!(journal.count("RecoveryFact::Completed").unwrap(), 0);
        assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
    }
}

#[tokio::test(start_paused = true)]
async fn a_bundle_that_does_not_rebuild_the_secret_is_refused_by_the_new_device() {
    use Guardian::*;
    let started = Instant::now();
    // The new device expects another account's group key.
    let run = recover_checking(2, &[Approves, Approves, Approves], crypto::digest("x", &[])).await;
    let why = "the approved shares do not rebuild the account's secret";
    assert_refused(&run.requester.0, why);
    assert_cancelled(&run.coordinator.0, REQUESTER, why);
    for (outcome, _) in &run.guardians {
        // The guardians approved and wait for the outcome: they are told.
        assert_cancelled(outcome, REQUESTER, why);
    }
    assert_eq!(run.requester.1.recovered, None);
    assert_eq!(run.coordinator.1.epoch, 1, "the epoch does not move");
    assert!(run.coordinator.1.devices.is_empty());
    assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
}
