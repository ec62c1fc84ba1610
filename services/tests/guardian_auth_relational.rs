//! GuardianAuthRelational through the authentication service: a registered
//! device authenticates and both sides bind the same session; a revoked or
//! unknown device, a stale epoch, a forged key or an unknown context is refused.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::authentication::guardian_auth_relational::{
    run_account, run_guardian, AccountState, AuthFact, AuthOutcome, GuardedAccount, GuardianState,
};
use choreo_services::crypto::{self, Digest};
use common::{session, take};

fn d(label: &str) -> Digest {
    crypto::digest("test", &[label.as_bytes()])
}

fn account(device: &str) -> AccountState {
    AccountState {
        account_id: d("account"),
        device_id: d(device),
        device_key: d(&format!("{device} key")),
        context_id: d("context"),
        epoch: 6,
        sessions: Vec::new(),
        journal: Default::default(),
    }
}

fn guardian() -> GuardianState {
    GuardianState {
        secret: d("guardian secret"),
        accounts: vec![GuardedAccount {
            account_id: d("account"),
            context_id: d("context"),
            epoch: 6,
            devices: ["laptop", "phone", "old tablet"]
                .map(|n| (d(n), d(&format!("{n} key"))))
                .to_vec(),
            revoked: vec![d("old tablet")],
        }],
        now: 50,
        challenge_ttl: 30,
        sessions: Vec::new(),
        journal: Default::default(),
    }
}

async fn authenticate(
    mut a: AccountState,
    mut g: GuardianState,
) -> (AuthOutcome, AccountState, AuthOutcome, GuardianState) {
    let roster = Roster::new().with_role("Account").with_role("Guardian");
    let caps: [(&str, &[&str]); 2] = [
        ("Account", &["auth:guardian:request"]),
        ("Guardian", &["auth:guardian:attest"]),
    ];
    let mut adapters = session(choreo_guardian_auth_relational::PROTOCOL, &roster, &caps);
    let mut ga = take(&mut adapters, &Peer::role("Guardian"));
    let task = tokio::spawn(async move {
        let outcome = run_guardian(&mut ga, &mut g).await.expect("guardian runs");
        (outcome, g)
    });
    let mut aa = take(&mut adapters, &Peer::role("Account"));
    let outcome = run_account(&mut aa, &mut a).await.expect("account runs");
    let (guardian_outcome, g) = task.await.expect("no guardian panic");
    (outcome, a, guardian_outcome, g)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_device_binds_the_same_session_on_both_sides() {
    for device in ["laptop", "phone"] {
        let (outcome, account, guardian_outcome, guardian) =
            authenticate(account(device), guardian()).await;
        let AuthOutcome::Bound(session) = outcome else {
            panic!("{device}: {outcome:?}")
        };
        assert_eq!(guardian_outcome, AuthOutcome::Bound(session.clone()));
        assert_ne!(session.session_id, [0; 16]);
        assert_eq!(
            (session.account_id, session.context_id, session.epoch),
            (d("account"), d("context"), 6)
        );
        assert_eq!(account.sessions, vec![session.clone()]);
        assert_eq!(guardian.sessions, vec![session.clone()]);
        assert!(guardian
            .journal
            .contains(&AuthFact::Attested(d("context"), Ok(()))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_binds_nothing() {
    let mut stale = account("laptop");
    stale.epoch = 5;
    let mut forged = account("laptop");
    forged.device_key = d("a key the tree does not hold");
    let mut stranger = account("laptop");
    stranger.context_id = d("another context");
    let cases = [
        (account("old tablet"), "device revoked".to_string()),
        (account("unregistered"), "unknown device".into()),
        (stale, "epoch 5 is not the account's 6".into()),
        (forged, "proof does not verify".into()),
        (
            stranger,
            "no relationship with this account in this context".into(),
        ),
    ];
    for (a, why) in cases {
        let (outcome, account, guardian_outcome, guardian) = authenticate(a, guardian()).await;
        assert_eq!(outcome, AuthOutcome::Refused(why.clone()));
        assert_eq!(guardian_outcome, AuthOutcome::Refused(why.clone()));
        assert!(
            account.sessions.is_empty() && guardian.sessions.is_empty(),
            "{why}"
        );
        assert!(account
            .journal
            .contains(&AuthFact::Attested(account.context_id, Err(why))));
    }
}
