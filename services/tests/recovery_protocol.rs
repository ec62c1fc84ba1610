//! RecoveryProtocol through the recovery service: 2 and 5 guardians holding
//! FROST shares of the account's secret (sealed to the new device, which
//! alone can open them); the new device recovers the
//! secret iff the threshold of guardians approve by their policy, and below
//! it the Coordinator cancels the recovery for everyone at once.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::{self, frost, Digest, SealKey};
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::recovery::guardian_setup::{group_public_key, Guardianship};
use choreo_services::recovery::recovery_protocol::{
    run_coordinator, run_guardian, run_requester, ApprovalPolicy, CoordinatorState, GuardianState,
    RecoveryFact, RecoveryOutcome, RequesterState,
};
use choreo_services::recovery::recovery_protocol::{
    GuardianApproval, GuardianApprovalRequest, RecoveryTypes, SealedShare,
};
use choreo_services::ServiceError;
use common::{assert_cancelled, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Requester", &["recovery:initiate"]),
    ("Coordinator", &["recovery:finalize"]),
    ("Guardian", &["recovery:approve"]),
];
const REQUESTER: Peer = Peer::role("Requester");
const COORDINATOR: Peer = Peer::role("Coordinator");

fn account() -> Digest {
    crypto::digest("account", &[])
}

/// The new device's key, the same in every test of a process.
fn new_device() -> &'static SealKey {
    static DEVICE: std::sync::OnceLock<SealKey> = std::sync::OnceLock::new();
    DEVICE.get_or_init(SealKey::generate)
}

fn device_key() -> Digest {
    new_device().public().0
}

fn recovery_facts(h: &Harness, peer: Peer) -> Vec<RecoveryFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

/// Asserts that `outcome` is a refusal of a value failing `check`, saying `what`.
#[track_caller]
fn assert_unverified<T: std::fmt::Debug>(
    outcome: &Result<T, ServiceError>,
    check: Check,
    what: &str,
) {
    match outcome {
        Err(e) => {
            assert_eq!(e.failed_check(), Some(check), "{e}");
            assert!(e.to_string().contains(what), "`{e}` does not say `{what}`");
        }
        Ok(o) => panic!("expected a refusal ({check}), got {o:?}"),
    }
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
    secret: frost::SigningKey,
}

/// The secret and its shares among `n` guardians, as GuardianSetup deals them.
fn deal(threshold: u16, n: u16) -> (frost::SigningKey, Vec<frost::keys::SecretShare>) {
    let secret = frost::SigningKey::new(&mut crypto::rng());
    let (shares, _) = frost::keys::split(
        &secret,
        n,
        threshold,
        frost::keys::IdentifierList::Default,
        &mut crypto::rng(),
    )
    .expect("valid sharing");
    (secret, shares.into_values().collect())
}

/// The guardians' states: each holds its share of `secret`, with a policy as
/// its kind says.
fn guardian_states(
    threshold: u16,
    guardians: &[Guardian],
    secret: &frost::SigningKey,
    shares: Vec<frost::keys::SecretShare>,
) -> Vec<GuardianState> {
    guardians
        .iter()
        .zip(shares)
        .map(|(kind, share)| GuardianState {
            guardianships: vec![Guardianship {
                account_id: account(),
                share,
                threshold,
                group_public_key: group_public_key(secret),
                epoch: 1,
            }],
            policy: ApprovalPolicy {
                verified_devices: if *kind == Guardian::Unverified {
                    vec![]
                } else {
                    vec![device_key()]
                },
                cooldown: 3_600,
            },
            last_approval: (*kind == Guardian::CoolingDown).then_some(9_000),
        })
        .collect()
}

/// One recovery with guardians set up as `guardians` say, all roles at once.
async fn recover(threshold: u16, guardians: &[Guardian]) -> Run {
    recover_checking(threshold, guardians, None).await
}

/// The same, the new device checking the rebuilt secret against `group_key`
/// (the account's own when `None`).
async fn recover_checking(
    threshold: u16,
    guardians: &[Guardian],
    group_key: Option<Digest>,
) -> Run {
    let n = guardians.len() as u32;
    let (secret, shares) = deal(threshold, n as u16);
    let group_key = group_key.unwrap_or_else(|| group_public_key(&secret));
    let mut h = Harness::new(
        &choreo_recovery_protocol::PROTOCOL,
        &[("Guardian", n)],
        CAPS,
    );
    let mut states = guardian_states(threshold, guardians, &secret, shares);
    let mut coordinator = CoordinatorState {
        account_id: account(),
        threshold,
        epoch: 1,
        devices: Vec::new(),
    };
    let mut requester = RequesterState {
        account_id: account(),
        group_public_key: group_key,
        device: new_device().clone(),
        now: 10_000,
        recovered: None,
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
        secret,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_threshold_of_approvals_recovers_the_secret_onto_the_new_device() {
    use Guardian::*;
    for (threshold, guardians) in [
        (2, vec![Approves; 2]),
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
        assert_eq!(outcome.device_key, device_key());
        assert_eq!(
            (outcome.epoch, outcome.approvals.clone()),
            (2, approvals.clone())
        );
        assert_eq!(
            run.requester.1.recovered,
            Some(run.secret.clone()),
            "the new device holds the account secret"
        );
        let coordinator = &run.coordinator.1;
        assert_eq!(
            (coordinator.epoch, coordinator.devices.clone()),
            (2, vec![device_key()])
        );
        let mine = recovery_facts(&run.harness, COORDINATOR);
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
            let _ = state;
            let theirs = recovery_facts(&run.harness, Peer::member("Guardian", k as u32));
            assert!(
                theirs.contains(&RecoveryFact::Approval(k as u16, verdict.clone())),
                "Guardian[{k}]"
            );
            assert!(mine.contains(&RecoveryFact::Approval(k as u16, verdict)));
            assert!(theirs.contains(&RecoveryFact::Finished(outcome.clone())));
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
        (2, vec![Unverified, Approves]),
        (
            3,
            vec![Approves, CoolingDown, Unverified, Approves, Unverified],
        ),
    ] {
        let started = Instant::now();
        let run = recover(threshold, &guardians).await;
        let approvals = guardians.iter().filter(|g| **g == Approves).count();
        let why = format!("{approvals} approvals, {threshold} needed");
        assert_unverified(&run.coordinator.0, Check::Threshold, &why);
        assert_cancelled(&run.requester.0, COORDINATOR, &why);
        let h = &run.harness;
        for (k, (outcome, _)) in run.guardians.iter().enumerate() {
            assert_cancelled(outcome, COORDINATOR, &why);
            let theirs = recovery_facts(h, Peer::member("Guardian", k as u32));
            assert!(theirs
                .iter()
                .any(|f| matches!(f, RecoveryFact::Failed(r) if r.contains(&why))));
        }
        let (requester, coordinator) = (&run.requester.1, &run.coordinator.1);
        assert_eq!(requester.recovered, None);
        assert!(recovery_facts(h, REQUESTER)
            .iter()
            .any(|f| matches!(f, RecoveryFact::Failed(r) if r.contains(&why))));
        assert_eq!(coordinator.epoch, 1, "the epoch does not move");
        assert!(coordinator.devices.is_empty());
        let approved = |f: &&RecoveryFact| matches!(f, RecoveryFact::Approval(_, Ok(())));
        assert_eq!(
            recovery_facts(h, COORDINATOR)
                .iter()
                .filter(approved)
                .count(),
            approvals
        );
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
    let other = group_public_key(&frost::SigningKey::new(&mut crypto::rng()));
    let run = recover_checking(2, &[Approves, Approves, Approves], Some(other)).await;
    let why = "the approved shares do not rebuild the account's secret";
    assert_unverified(&run.requester.0, Check::Commitment, why);
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

/// What a hostile guardian sends as its approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lie {
    /// A share whose value does not match its VSS commitment.
    BadShare,
    /// Its share as sealed for an earlier recovery, replayed.
    Replayed,
    /// Its share, claimed as another guardian's.
    Impersonates,
}

/// A guardian of the test's own that approves with a bad share.
struct HostileGuardian {
    lie: Lie,
    me: u16,
    share: frost::keys::SecretShare,
    other: frost::keys::SecretShare,
    request: Option<GuardianApprovalRequest>,
}

impl choreo_recovery_protocol::Guardian for HostileGuardian {
    type Types = RecoveryTypes;
    type Error = ServiceError;

    async fn on_approval_request(
        &mut self,
        _: Peer,
        msg: GuardianApprovalRequest,
    ) -> Result<(), ServiceError> {
        self.request = Some(msg);
        Ok(())
    }

    async fn choose_approve_or_refuse(
        &mut self,
    ) -> Result<choreo_recovery_protocol::choice::ApproveOrRefuse, ServiceError> {
        Ok(choreo_recovery_protocol::choice::ApproveOrRefuse::Approve)
    }

    async fn guardian_approval(&mut self, _: Peer) -> Result<GuardianApproval, ServiceError> {
        let req = self.request.as_ref().unwrap();
        let (id, account, device) = (
            req.recovery_id,
            req.request.account_id,
            req.request.device_key,
        );
        let share = match self.lie {
            Lie::BadShare => {
                // Its identifier and commitment, another share's value.
                let bad = frost::keys::SecretShare::new(
                    *self.share.identifier(),
                    *self.other.signing_share(),
                    self.share.commitment().clone(),
                );
                SealedShare::seal(&id, &account, self.me, &bad, &device)?
            }
            Lie::Replayed => {
                let earlier = crypto::digest("an earlier recovery", &[]);
                SealedShare::seal(&earlier, &account, self.me, &self.share, &device)?
            }
            Lie::Impersonates => SealedShare::seal(&id, &account, 0, &self.share, &device)?,
        };
        Ok(GuardianApproval {
            recovery_id: id,
            share,
        })
    }

    async fn approval_refused(
        &mut self,
        _: Peer,
    ) -> Result<choreo_recovery_protocol::msg::ApprovalRefused, ServiceError> {
        unreachable!("the hostile guardian approves")
    }

    async fn on_recovery_finalized(
        &mut self,
        _: Peer,
        _: RecoveryOutcome,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_guardians_share_is_refused_and_nothing_is_recovered() {
    for (lie, refuser, check, what) in [
        (
            Lie::BadShare,
            REQUESTER,
            Check::Commitment,
            "the share of Guardian[2]",
        ),
        (
            Lie::Replayed,
            REQUESTER,
            Check::Decryption,
            "the share of Guardian[2]",
        ),
        (
            Lie::Impersonates,
            COORDINATOR,
            Check::Binding,
            "Guardian[2] sent another",
        ),
    ] {
        let mut h = Harness::new(
            &choreo_recovery_protocol::PROTOCOL,
            &[("Guardian", 3)],
            CAPS,
        );
        let (secret, shares) = deal(2, 3);
        let mut honest: Vec<GuardianState> = shares[..2]
            .iter()
            .map(|share| GuardianState {
                guardianships: vec![Guardianship {
                    account_id: account(),
                    share: share.clone(),
                    threshold: 2,
                    group_public_key: group_public_key(&secret),
                    epoch: 1,
                }],
                policy: ApprovalPolicy {
                    verified_devices: vec![device_key()],
                    cooldown: 0,
                },
                last_approval: None,
            })
            .collect();
        let mut hostile = HostileGuardian {
            lie,
            me: 2,
            share: shares[2].clone(),
            other: shares[0].clone(),
            request: None,
        };
        let mut coordinator = CoordinatorState {
            account_id: account(),
            threshold: 2,
            epoch: 1,
            devices: Vec::new(),
        };
        let mut requester = RequesterState {
            account_id: account(),
            group_public_key: group_public_key(&secret),
            device: new_device().clone(),
            now: 10_000,
            recovered: None,
        };
        let params = choreo_recovery_protocol::Params::default();
        let mut sessions = h.join();
        let (r, c) = (sessions.take(REQUESTER), sessions.take(COORDINATOR));
        let mut members = sessions.members("Guardian", 3);
        sessions.done();
        let third = members.pop().unwrap();
        let (requested, coordinated, outcomes, end) = tokio::join!(
            run_requester(r, &mut requester),
            run_coordinator(c, &mut coordinator),
            join_all(
                members
                    .into_iter()
                    .zip(honest.iter_mut())
                    .map(|(s, g)| run_guardian(s, g))
            ),
            choreo_recovery_protocol::execute_as(
                choreo_recovery_protocol::As::Guardian(&mut hostile),
                third,
                &params
            ),
        );
        let refused = if refuser == REQUESTER {
            &requested
        } else {
            &coordinated
        };
        assert_unverified(refused, check, what);
        let end = ServiceError::from(end.expect_err("the hostile guardian is stopped"));
        assert_eq!(end.cancelled_by(), Some(refuser), "{lie:?}: {end}");
        for o in &outcomes {
            assert_cancelled(o, refuser, what);
        }
        assert_eq!(requester.recovered, None, "{lie:?}");
        assert_eq!(coordinator.epoch, 1);
        assert!(coordinator.devices.is_empty());
        let finished = |f: &RecoveryFact| matches!(f, RecoveryFact::Finished(_));
        for peer in [REQUESTER, COORDINATOR] {
            assert!(
                !recovery_facts(&h, peer).iter().any(finished),
                "{lie:?}: {peer}"
            );
        }
        if lie == Lie::Impersonates {
            // The refused approval was not recorded.
            assert!(!recovery_facts(&h, COORDINATOR).contains(&RecoveryFact::Approval(2, Ok(()))));
        }
    }
}

/// What a hostile new device puts in its binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BindingLie {
    /// Another device's key, for the right epoch.
    OtherDevice,
    /// Its own key, for an epoch after the next one.
    LaterEpoch,
}

/// A new device of the test's own: honest request, then a false binding.
struct HostileRequester {
    lie: BindingLie,
    epoch: u64,
}

impl choreo_recovery_protocol::Requester for HostileRequester {
    type Types = RecoveryTypes;
    type Error = ServiceError;

    async fn recovery_request(
        &mut self,
        _: Peer,
    ) -> Result<choreo_services::recovery::recovery_protocol::RecoveryRequest, ServiceError> {
        Ok(
            choreo_services::recovery::recovery_protocol::RecoveryRequest {
                account_id: account(),
                device_key: new_device().public(),
                requested_at: 10_000,
            },
        )
    }

    async fn on_recovery_bundle(
        &mut self,
        _: Peer,
        msg: choreo_services::recovery::recovery_protocol::RecoveryShareBundle,
    ) -> Result<(), ServiceError> {
        self.epoch = msg.new_epoch;
        Ok(())
    }

    async fn device_binding(
        &mut self,
        _: Peer,
    ) -> Result<choreo_recovery_protocol::msg::DeviceBinding, ServiceError> {
        Ok(match self.lie {
            BindingLie::OtherDevice => choreo_recovery_protocol::msg::DeviceBinding {
                device_key: SealKey::generate().public().0,
                epoch: self.epoch,
            },
            BindingLie::LaterEpoch => choreo_recovery_protocol::msg::DeviceBinding {
                device_key: new_device().public().0,
                epoch: self.epoch + 1,
            },
        })
    }

    async fn on_recovery_complete(
        &mut self,
        _: Peer,
        _: RecoveryOutcome,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_refuses_a_binding_of_another_device_or_epoch() {
    for lie in [BindingLie::OtherDevice, BindingLie::LaterEpoch] {
        let kinds = [Guardian::Approves, Guardian::Approves];
        let (secret, shares) = deal(2, 2);
        let mut states = guardian_states(2, &kinds, &secret, shares);
        let mut h = Harness::new(
            &choreo_recovery_protocol::PROTOCOL,
            &[("Guardian", 2)],
            CAPS,
        );
        let mut coordinator = CoordinatorState {
            account_id: account(),
            threshold: 2,
            epoch: 1,
            devices: Vec::new(),
        };
        let mut hostile = HostileRequester { lie, epoch: 0 };
        let params = choreo_recovery_protocol::Params::default();
        let mut sessions = h.join();
        let (r, c) = (sessions.take(REQUESTER), sessions.take(COORDINATOR));
        let members = sessions.members("Guardian", 2);
        sessions.done();
        let (requested, coordinated, _) = tokio::join!(
            choreo_recovery_protocol::execute_as(
                choreo_recovery_protocol::As::Requester(&mut hostile),
                r,
                &params
            ),
            run_coordinator(c, &mut coordinator),
            join_all(
                members
                    .into_iter()
                    .zip(states.iter_mut())
                    .map(|(s, g)| run_guardian(s, g))
            ),
        );
        let e = coordinated.expect_err("the binding is refused");
        assert_eq!(e.failed_check(), Some(Check::Binding), "{lie:?}: {e}");
        let end = ServiceError::from(requested.expect_err("cancelled"));
        assert_eq!(end.cancelled_by(), Some(COORDINATOR), "{lie:?}");
        assert!(coordinator.devices.is_empty(), "{lie:?}: no device bound");
        assert!(
            !recovery_facts(&h, COORDINATOR)
                .iter()
                .any(|f| matches!(f, RecoveryFact::Finished(..))),
            "{lie:?}"
        );
    }
}
