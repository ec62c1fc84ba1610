//! GuardianAuthRelational through the authentication service: a registered
//! device authenticates and both sides bind the same session; a revoked or
//! unknown device, a stale epoch, a forged key or an unknown context is
//! refused by the Guardian, which cancels the session and tells the Account why.

mod common;

use choreo_runtime::Peer;
use choreo_services::authentication::guardian_auth_relational::{
    run_account, run_guardian, AccountState, AuthFact, AuthenticatedSession, GuardedAccount,
    GuardianState,
};
use choreo_services::crypto::{self, Digest};
use choreo_services::ServiceError;
use common::{assert_cancelled, assert_refused, Harness, TIMEOUT};
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Account", &["auth:guardian:request"]),
    ("Guardian", &["auth:guardian:attest"]),
];
const ACCOUNT: Peer = Peer::role("Account");
const GUARDIAN: Peer = Peer::role("Guardian");

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

type Side<S> = (Result<AuthenticatedSession, ServiceError>, S);

async fn authenticate(
    mut a: AccountState,
    mut g: GuardianState,
) -> (Side<AccountState>, Side<GuardianState>, Harness) {
    let mut h = Harness::new(&choreo_guardian_auth_relational::PROTOCOL, &[], CAPS);
    let mut sessions = h.join();
    let (sa, sg) = (sessions.take(ACCOUNT), sessions.take(GUARDIAN));
    sessions.done();
    let (account, guardian) = tokio::join!(run_account(sa, &mut a), run_guardian(sg, &mut g));
    ((account, a), (guardian, g), h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_device_binds_the_same_session_on_both_sides() {
    for device in ["laptop", "phone"] {
        let ((outcome, account), (guardian_outcome, guardian), h) =
            authenticate(account(device), guardian()).await;
        let Ok(session) = outcome else {
            panic!("{device}: {outcome:?}")
        };
        assert_eq!(guardian_outcome, Ok(session.clone()));
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
        assert_eq!(
            h.node(GUARDIAN)
                .journal()
                .count("AuthFact::GuardianAttested")
                .unwrap(),
            1
        );
        assert_eq!(
            h.node(ACCOUNT)
                .journal()
                .count("AuthFact::SessionBound")
                .unwrap(),
            1
        );
    }
}

#[tokio::test(start_paused = true)]
async fn every_refusal_cancels_the_session_and_binds_nothing() {
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
        let started = Instant::now();
        let ((outcome, account), (guardian_outcome, guardian), h) =
            authenticate(a, guardian()).await;
        assert_cancelled(&outcome, GUARDIAN, &why);
        assert_refused(&guardian_outcome, &why);
        assert!(
            account.sessions.is_empty() && guardian.sessions.is_empty(),
            "{why}"
        );
        assert!(account
            .journal
            .contains(&AuthFact::Attested(account.context_id, Err(why.clone()))));
        assert!(guardian
            .journal
            .contains(&AuthFact::Attested(account.context_id, Err(why.clone()))));
        // No attestation and no binding was ever sent, so neither fact exists.
        assert_eq!(
            h.node(GUARDIAN)
                .journal()
                .count("AuthFact::GuardianAttested")
                .unwrap(),
            0
        );
        assert_eq!(
            h.node(ACCOUNT)
                .journal()
                .count("AuthFact::SessionBound")
                .unwrap(),
            0
        );
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}
