//! GuardianSetup through the recovery service: 2 and 5 guardians that all
//! enroll hold shares that give the recovery secret back; a guardian whose
//! policy declines cancels the setup for everyone at once, and the setup
//! then completes among the guardians that do serve.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::frost;
use choreo_services::journal::facts;
use choreo_services::recovery::guardian_setup::{
    group_public_key, run_account, run_guardian, AccountState, GuardianPolicy, GuardianState,
    Guardianship, SetupFact, SetupOutcome,
};
use choreo_services::ServiceError;
use common::{assert_stopped_by, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Account", &["guardian:setup"]),
    ("Guardian", &["guardian:enroll"]),
];
const ACCOUNT: Peer = Peer::role("Account");

/// The recovery secret, the same in every test of a process.
fn secret() -> &'static frost::SigningKey {
    static SECRET: std::sync::OnceLock<frost::SigningKey> = std::sync::OnceLock::new();
    SECRET.get_or_init(|| frost::SigningKey::new(&mut choreo_services::crypto::rng()))
}

fn setup_facts(h: &Harness, peer: Peer) -> Vec<SetupFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

/// The secret `shares` rebuild (FROST's reconstruct, after VSS checks).
fn rebuild(shares: &[frost::keys::SecretShare]) -> Option<frost::SigningKey> {
    let packages: Vec<_> = shares
        .iter()
        .map(|s| frost::keys::KeyPackage::try_from(s.clone()).expect("a valid share"))
        .collect();
    frost::keys::reconstruct(&packages).ok()
}

/// Guardian `k`; a busy one already guards as many accounts as it may.
fn guardian(k: u32, busy: bool) -> GuardianState {
    let _ = k;
    GuardianState {
        policy: GuardianPolicy {
            max_guardianships: if busy { 0 } else { 3 },
            min_threshold: 2,
        },
        guardianships: Vec::new(),
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
        account_id: choreo_services::crypto::digest("account", &[]),
        secret: secret().clone(),
        threshold,
        epoch: 1,
        guardians: Vec::new(),
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
    h: &Harness,
) -> Vec<frost::keys::SecretShare> {
    let everyone: Vec<u16> = (0..n as u16).collect();
    assert_eq!(
        outcome,
        Ok(SetupOutcome {
            guardians: everyone.clone(),
            group_public_key: group_public_key(secret())
        })
    );
    assert_eq!(account.guardians, everyone);
    assert!(setup_facts(h, ACCOUNT).contains(&SetupFact::Completed(everyone)));
    let mut shares = Vec::new();
    for (k, (outcome, state)) in guardians.into_iter().enumerate() {
        let held = outcome.unwrap_or_else(|e| panic!("Guardian[{k}]: {e}"));
        assert_eq!((held.threshold, held.epoch), (threshold, 1));
        assert_eq!(held.group_public_key, group_public_key(secret()));
        assert_eq!(state.guardianships, vec![held.clone()]);
        let theirs = setup_facts(h, Peer::member("Guardian", k as u32));
        assert!(theirs.contains(&SetupFact::Enrolled(k as u16, Ok(()))));
        shares.push(held.share);
    }
    shares
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_guardians_hold_shares_that_recover_the_secret() {
    for (n, threshold) in [(2, 2), (5, 3)] {
        let ks: Vec<u32> = (0..n).collect();
        let (outcome, account, guardians, h) = setup(&ks, threshold, &[]).await;
        let shares = completed(n, threshold, outcome, &account, guardians, &h);
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
        assert_eq!(rebuild(&shares[..t]).as_ref(), Some(secret()));
        assert_eq!(
            rebuild(&shares[shares.len() - t..]).as_ref(),
            Some(secret())
        );
        assert_eq!(rebuild(&shares[..t - 1]), None, "fewer than the threshold");
    }
}

#[tokio::test(start_paused = true)]
async fn a_declining_guardian_cancels_the_setup_and_nobody_holds_a_share() {
    let why = "guards as many accounts as its policy allows";
    for (n, threshold, busy) in [(2, 2, 0), (5, 3, 2)] {
        let started = Instant::now();
        let ks: Vec<u32> = (0..n).collect();
        let (outcome, account, guardians, h) = setup(&ks, threshold, &[busy]).await;
        let refuser = Peer::member("Guardian", busy);
        assert_stopped_by(&outcome, ACCOUNT, refuser, why);
        assert!(account.guardians.is_empty());
        assert!(setup_facts(&h, ACCOUNT).contains(&SetupFact::Failed(why.into())));
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
    let (outcome, account, guardians, h) = setup(&[0, 2, 3, 4], 3, &[1]).await;
    let shares = completed(4, 3, outcome, &account, guardians, &h);
    assert_eq!(rebuild(&shares[1..]).as_ref(), Some(secret()));
}

/// An Account of the test's own that deals Guardian[1] a share of another
/// secret (its own commitment, consistent) and announces the real group key.
struct HostileAccount {
    lie: SetupLie,
    invitation: choreo_services::recovery::guardian_setup::SetupInvitation,
    real: Vec<frost::keys::SecretShare>,
    foreign: Vec<frost::keys::SecretShare>,
    keys: std::collections::BTreeMap<u16, choreo_services::crypto::SealPublic>,
}

/// What the hostile Account gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetupLie {
    /// Deals Guardian[1] a share of another secret.
    ForeignShare,
    /// Labels Guardian[1]'s share with another index.
    WrongIndex,
    /// Completes the setup for another epoch.
    StaleComplete,
}

fn split(secret: &frost::SigningKey, n: u16) -> Vec<frost::keys::SecretShare> {
    let ids = frost::keys::IdentifierList::Default;
    let (shares, _) =
        frost::keys::split(secret, n, 2, ids, &mut choreo_services::crypto::rng()).unwrap();
    shares.into_values().collect()
}

impl choreo_guardian_setup::Account for HostileAccount {
    type Types = choreo_services::recovery::guardian_setup::SetupTypes;
    type Error = ServiceError;

    async fn setup_invitation(
        &mut self,
        _: Peer,
    ) -> Result<choreo_services::recovery::guardian_setup::SetupInvitation, ServiceError> {
        Ok(self.invitation.clone())
    }

    async fn on_guardian_key_announcement(
        &mut self,
        from: Peer,
        msg: choreo_services::recovery::guardian_setup::GuardianPublicKey,
    ) -> Result<(), ServiceError> {
        self.keys
            .insert(from.index().unwrap() as u16, msg.sealing_key);
        Ok(())
    }

    async fn roster_announcement(
        &mut self,
        _: Peer,
    ) -> Result<choreo_services::recovery::guardian_setup::GuardianRoster, ServiceError> {
        Ok(choreo_services::recovery::guardian_setup::GuardianRoster {
            setup_id: self.invitation.setup_id,
            guardians: vec![0, 1],
            threshold: 2,
        })
    }

    async fn share_delivery(
        &mut self,
        to: Peer,
    ) -> Result<choreo_services::recovery::guardian_setup::EncryptedKeyShare, ServiceError> {
        let g = to.index().unwrap() as u16;
        let share = match (g, self.lie) {
            (1, SetupLie::ForeignShare) => &self.foreign[1],
            _ => &self.real[usize::from(g)],
        };
        let mut sealed = choreo_services::recovery::guardian_setup::EncryptedKeyShare::seal(
            self.invitation.setup_id,
            g,
            share,
            &self.keys[&g],
        )?;
        if (g, self.lie) == (1, SetupLie::WrongIndex) {
            sealed.share_index = 5;
        }
        Ok(sealed)
    }

    async fn on_share_accepted(
        &mut self,
        _: Peer,
        _: choreo_guardian_setup::msg::ShareAccepted,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn setup_complete(
        &mut self,
        _: Peer,
    ) -> Result<choreo_guardian_setup::msg::SetupComplete, ServiceError> {
        Ok(choreo_guardian_setup::msg::SetupComplete {
            group_public_key: group_public_key(secret()),
            threshold: 2,
            epoch: if self.lie == SetupLie::StaleComplete {
                2
            } else {
                1
            },
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_refuse_a_hostile_accounts_share_or_completion() {
    use choreo_services::error::Check;
    for (lie, check) in [
        (SetupLie::ForeignShare, Check::Commitment),
        (SetupLie::WrongIndex, Check::Binding),
        (SetupLie::StaleComplete, Check::Epoch),
    ] {
        let mut h = Harness::new(&choreo_guardian_setup::PROTOCOL, &[("Guardian", 2)], CAPS);
        let other = frost::SigningKey::new(&mut choreo_services::crypto::rng());
        let mut hostile = HostileAccount {
            lie,
            invitation: choreo_services::recovery::guardian_setup::SetupInvitation {
                setup_id: choreo_services::crypto::digest("setup", &[]),
                account_id: choreo_services::crypto::digest("account", &[]),
                threshold: 2,
                total: 2,
                epoch: 1,
            },
            real: split(secret(), 2),
            foreign: split(&other, 2),
            keys: Default::default(),
        };
        let mut guardians: Vec<GuardianState> = (0..2).map(|k| guardian(k, false)).collect();
        let params = choreo_guardian_setup::Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(ACCOUNT);
        let members = sessions.members("Guardian", 2);
        sessions.done();
        let (_, outcomes) = tokio::join!(
            choreo_guardian_setup::execute_as(
                choreo_guardian_setup::As::Account(&mut hostile),
                lead,
                &params
            ),
            join_all(
                members
                    .into_iter()
                    .zip(guardians.iter_mut())
                    .map(|(s, g)| run_guardian(s, g))
            ),
        );
        // The refused value may be the Account's last send, so the refusal
        // shows on the guardian's side.
        let refused = outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .find(|e| e.failed_check().is_some())
            .unwrap_or_else(|| panic!("{lie:?}: no guardian refused: {outcomes:?}"));
        assert_eq!(refused.failed_check(), Some(check), "{lie:?}: {refused}");
        assert!(
            guardians[1].guardianships.is_empty(),
            "{lie:?}: Guardian[1] keeps nothing"
        );
        let kept = |k: usize| !guardians[k].guardianships.is_empty();
        // Only Guardian[0], given a share of the announced key, may keep it.
        assert!(lie != SetupLie::StaleComplete || !kept(0), "{lie:?}");
    }
}

/// A guardian of the test's own that confirms a share it was not sent.
struct FalseConfirmer {
    key: choreo_services::crypto::SealKey,
}

impl choreo_guardian_setup::Guardian for FalseConfirmer {
    type Types = choreo_services::recovery::guardian_setup::SetupTypes;
    type Error = ServiceError;

    async fn on_setup_invitation(
        &mut self,
        _: Peer,
        _: choreo_services::recovery::guardian_setup::SetupInvitation,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn guardian_key_announcement(
        &mut self,
        _: Peer,
    ) -> Result<choreo_services::recovery::guardian_setup::GuardianPublicKey, ServiceError> {
        Ok(
            choreo_services::recovery::guardian_setup::GuardianPublicKey {
                sealing_key: self.key.public(),
            },
        )
    }

    async fn on_roster_announcement(
        &mut self,
        _: Peer,
        _: choreo_services::recovery::guardian_setup::GuardianRoster,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn on_share_delivery(
        &mut self,
        _: Peer,
        _: choreo_services::recovery::guardian_setup::EncryptedKeyShare,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn share_accepted(
        &mut self,
        _: Peer,
    ) -> Result<choreo_guardian_setup::msg::ShareAccepted, ServiceError> {
        // Its own index (Guardian[1] holds share 2), a made-up confirmation.
        Ok(choreo_guardian_setup::msg::ShareAccepted {
            share_index: 2,
            commitment: choreo_services::crypto::digest("a share it never got", &[]),
        })
    }

    async fn on_setup_complete(
        &mut self,
        _: Peer,
        _: choreo_guardian_setup::msg::SetupComplete,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_refuses_a_confirmation_of_a_share_it_did_not_send() {
    let mut h = Harness::new(&choreo_guardian_setup::PROTOCOL, &[("Guardian", 2)], CAPS);
    let mut state = AccountState {
        account_id: choreo_services::crypto::digest("account", &[]),
        secret: secret().clone(),
        threshold: 2,
        epoch: 1,
        guardians: Vec::new(),
    };
    let mut honest = guardian(0, false);
    let mut hostile = FalseConfirmer {
        key: choreo_services::crypto::SealKey::generate(),
    };
    let params = choreo_guardian_setup::Params::default();
    let mut sessions = h.join();
    let lead = sessions.take(ACCOUNT);
    let mut members = sessions.members("Guardian", 2);
    sessions.done();
    let second = members.pop().unwrap();
    let first = members.pop().unwrap();
    drop(members);
    let (outcome, _, end) = tokio::join!(
        run_account(lead, &mut state),
        run_guardian(first, &mut honest),
        choreo_guardian_setup::execute_as(
            choreo_guardian_setup::As::Guardian(&mut hostile),
            second,
            &params
        ),
    );
    let e = outcome.expect_err("the Account refuses");
    assert_eq!(
        e.failed_check(),
        Some(choreo_services::error::Check::Commitment),
        "{e}"
    );
    let end = ServiceError::from(end.expect_err("cancelled"));
    assert_eq!(end.cancelled_by(), Some(ACCOUNT));
    assert!(state.guardians.is_empty());
    let mine = setup_facts(&h, ACCOUNT);
    assert!(!mine.contains(&SetupFact::ShareConfirmed(1)), "{mine:?}");
    assert!(!mine.iter().any(|f| matches!(f, SetupFact::Completed(_))));
}
