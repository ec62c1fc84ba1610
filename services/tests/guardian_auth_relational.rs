//! GuardianAuthRelational through the authentication service: a registered
//! device authenticates and both sides bind the same session; a revoked or
//! unknown device or an unknown context is refused by the Guardian's policy,
//! and a stale epoch or a forged device key fails its check; either cancels
//! the session and tells the Account why. Hostile Accounts (a replayed
//! proof, a binding of another session or epoch) and hostile Guardians (a
//! challenge of another context, a forged, misdirected or stale attestation,
//! a receipt of another session) are refused by the honest side.

mod common;

use choreo_guardian_auth_relational::msg;
use choreo_runtime::Peer;
use choreo_services::authentication::guardian_auth_relational::{
    attest, prove, run_account, run_guardian, session_id, AccountState, AuthFact, AuthTypes,
    AuthenticatedSession, GuardedAccount, GuardianAttestation, GuardianState,
    RelationalAuthRequest, RelationalProof, SessionReceipt,
};
use choreo_services::crypto::{self, Digest, SigningKey};
use choreo_services::error::Check;
use choreo_services::journal::facts;
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

/// The signing key of a device (or guardian) named `name`.
fn key(name: &str) -> SigningKey {
    SigningKey::from_seed(&d(&format!("{name} key")))
}

fn account(device: &str) -> AccountState {
    AccountState {
        account_id: d("account"),
        device_id: d(device),
        device_key: key(device),
        guardian_key: key("guardian").verifying_key(),
        context_id: d("context"),
        epoch: 6,
        sessions: Vec::new(),
    }
}

fn guardian() -> GuardianState {
    GuardianState {
        signing_key: key("guardian"),
        accounts: vec![GuardedAccount {
            account_id: d("account"),
            context_id: d("context"),
            epoch: 6,
            devices: ["laptop", "phone", "old tablet"]
                .map(|n| (d(n), key(n).verifying_key()))
                .to_vec(),
            revoked: vec![d("old tablet")],
        }],
        now: 50,
        challenge_ttl: 30,
        sessions: Vec::new(),
    }
}

fn auth_facts(h: &Harness, peer: Peer) -> Vec<AuthFact> {
    facts(h.node(peer).journal()).expect("facts decode")
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
        let bound = vec![
            AuthFact::Attested(d("context"), Ok(())),
            AuthFact::SessionBound(session.clone()),
        ];
        assert_eq!(auth_facts(&h, GUARDIAN), bound);
        assert_eq!(auth_facts(&h, ACCOUNT), bound);
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
    let mut stranger = account("laptop");
    stranger.context_id = d("another context");
    let cases = [
        (account("old tablet"), "device revoked".to_string()),
        (account("unregistered"), "unknown device".into()),
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
        assert_eq!(auth_facts(&h, ACCOUNT), vec![AuthFact::Failed(why.clone())]);
        assert_eq!(
            auth_facts(&h, GUARDIAN),
            vec![AuthFact::Attested(account.context_id, Err(why.clone()))]
        );
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

#[tokio::test(start_paused = true)]
async fn a_stale_epoch_or_a_forged_device_key_fails_its_check() {
    let mut stale = account("laptop");
    stale.epoch = 5;
    let mut forged = account("laptop");
    forged.device_key = key("a key the tree does not hold");
    for (a, check) in [(stale, Check::Epoch), (forged, Check::Signature)] {
        let started = Instant::now();
        let ((outcome, account), (guardian_outcome, guardian), h) =
            authenticate(a, guardian()).await;
        let e = guardian_outcome.expect_err("the Guardian refuses");
        assert_eq!(e.failed_check(), Some(check), "{e}");
        assert_cancelled(&outcome, GUARDIAN, &e.to_string());
        assert!(account.sessions.is_empty() && guardian.sessions.is_empty());
        assert_eq!(
            auth_facts(&h, GUARDIAN),
            vec![],
            "{check}: nothing attested"
        );
        assert_eq!(
            auth_facts(&h, ACCOUNT),
            vec![AuthFact::Failed(e.to_string())]
        );
        assert!(started.elapsed() < TIMEOUT, "{check}: a timeout elapsed");
    }
}

/// What a hostile Account gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AccountLie {
    /// Answers with a (validly signed) proof of an earlier challenge.
    ReplayedProof,
    /// Binds a session derived from another attestation.
    OtherSession,
    /// Binds the right session to another epoch.
    OtherEpoch,
}

/// An Account of the test's own: the registered laptop, lying as `lie` says.
struct HostileAccount {
    lie: AccountLie,
    state: AccountState,
    challenge: Option<msg::AuthChallenge>,
    attestation: Option<GuardianAttestation>,
}

impl HostileAccount {
    fn request(&self) -> RelationalAuthRequest {
        RelationalAuthRequest {
            account_id: self.state.account_id,
            context_id: self.state.context_id,
            device_id: self.state.device_id,
            epoch: self.state.epoch,
        }
    }
}

impl choreo_guardian_auth_relational::Account for HostileAccount {
    type Types = AuthTypes;
    type Error = ServiceError;

    async fn relational_auth_request(
        &mut self,
        _: Peer,
    ) -> Result<RelationalAuthRequest, ServiceError> {
        Ok(self.request())
    }

    async fn on_auth_challenge(
        &mut self,
        _: Peer,
        msg: msg::AuthChallenge,
    ) -> Result<(), ServiceError> {
        self.challenge = Some(msg);
        Ok(())
    }

    async fn auth_proof(&mut self, _: Peer) -> Result<RelationalProof, ServiceError> {
        let mut challenge = self.challenge.clone().unwrap();
        if self.lie == AccountLie::ReplayedProof {
            challenge.nonce = d("the nonce of an earlier session");
        }
        Ok(prove(&self.state.device_key, &self.request(), &challenge))
    }

    async fn on_auth_attestation(
        &mut self,
        _: Peer,
        msg: GuardianAttestation,
    ) -> Result<(), ServiceError> {
        self.attestation = Some(msg);
        Ok(())
    }

    async fn session_binding(&mut self, _: Peer) -> Result<msg::SessionBinding, ServiceError> {
        let mut attestation = self.attestation.clone().unwrap();
        if self.lie == AccountLie::OtherSession {
            attestation.nonce = d("another challenge");
        }
        let epoch = match self.lie {
            AccountLie::OtherEpoch => self.state.epoch + 1,
            _ => self.state.epoch,
        };
        Ok(msg::SessionBinding {
            session_id: session_id(&self.request(), &attestation, &self.state.guardian_key),
            epoch,
        })
    }

    async fn on_session_bound(&mut self, _: Peer, _: SessionReceipt) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_guardian_refuses_a_replayed_proof_or_a_binding_of_another_session() {
    for (lie, check, attested) in [
        (AccountLie::ReplayedProof, Check::Nonce, false),
        (AccountLie::OtherSession, Check::Binding, true),
        (AccountLie::OtherEpoch, Check::Epoch, true),
    ] {
        let started = Instant::now();
        let mut h = Harness::new(&choreo_guardian_auth_relational::PROTOCOL, &[], CAPS);
        let mut hostile = HostileAccount {
            lie,
            state: account("laptop"),
            challenge: None,
            attestation: None,
        };
        let mut g = guardian();
        let params = choreo_guardian_auth_relational::Params::default();
        let mut sessions = h.join();
        let (sa, sg) = (sessions.take(ACCOUNT), sessions.take(GUARDIAN));
        sessions.done();
        let (end, outcome) = tokio::join!(
            choreo_guardian_auth_relational::execute_as(
                choreo_guardian_auth_relational::As::Account(&mut hostile),
                sa,
                &params
            ),
            run_guardian(sg, &mut g),
        );
        let e = outcome.expect_err("the Guardian refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        let end = ServiceError::from(end.expect_err("cancelled"));
        assert_eq!(end.cancelled_by(), Some(GUARDIAN), "{lie:?}");
        assert!(g.sessions.is_empty(), "{lie:?}");
        let expected = if attested {
            vec![AuthFact::Attested(d("context"), Ok(()))]
        } else {
            vec![]
        };
        assert_eq!(auth_facts(&h, GUARDIAN), expected, "{lie:?}");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}

/// What a hostile Guardian gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GuardianLie {
    /// Challenges for another context.
    OtherContext,
    /// Attests with a key the Account does not know.
    ForgedAttestation,
    /// Attests (validly signed) the proof of another challenge.
    OtherChallenge,
    /// Attests (validly signed) in another context.
    AttestsOtherContext,
    /// Attests (validly signed) for another epoch.
    StaleAttestation,
    /// Sends the receipt of another session.
    OtherReceipt,
}

/// A Guardian of the test's own, lying as `lie` says.
struct HostileGuardian {
    lie: GuardianLie,
    key: SigningKey,
    request: Option<RelationalAuthRequest>,
}

impl choreo_guardian_auth_relational::Guardian for HostileGuardian {
    type Types = AuthTypes;
    type Error = ServiceError;

    async fn on_relational_auth_request(
        &mut self,
        _: Peer,
        msg: RelationalAuthRequest,
    ) -> Result<(), ServiceError> {
        self.request = Some(msg);
        Ok(())
    }

    async fn auth_challenge(&mut self, _: Peer) -> Result<msg::AuthChallenge, ServiceError> {
        let context_id = match self.lie {
            GuardianLie::OtherContext => d("another context"),
            _ => d("context"),
        };
        Ok(msg::AuthChallenge {
            nonce: d("nonce"),
            context_id,
            expires_at: 80,
        })
    }

    async fn on_auth_proof(&mut self, _: Peer, _: RelationalProof) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn auth_attestation(&mut self, _: Peer) -> Result<GuardianAttestation, ServiceError> {
        let mut request = self.request.clone().unwrap();
        let (mut key, mut nonce) = (self.key.clone(), d("nonce"));
        match self.lie {
            GuardianLie::ForgedAttestation => key = SigningKey::generate(),
            GuardianLie::OtherChallenge => nonce = d("another nonce"),
            GuardianLie::AttestsOtherContext => request.context_id = d("another context"),
            GuardianLie::StaleAttestation => request.epoch -= 1,
            _ => {}
        }
        Ok(attest(&key, &request, nonce))
    }

    async fn on_session_binding(
        &mut self,
        _: Peer,
        _: msg::SessionBinding,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn session_bound(&mut self, _: Peer) -> Result<SessionReceipt, ServiceError> {
        let request = self.request.clone().unwrap();
        let attestation = attest(&self.key, &request, d("nonce"));
        let mut session_id = session_id(&request, &attestation, &self.key.verifying_key());
        if self.lie == GuardianLie::OtherReceipt {
            session_id[0] ^= 1;
        }
        Ok(SessionReceipt { session_id })
    }
}

#[tokio::test(start_paused = true)]
async fn the_account_refuses_a_hostile_guardians_challenge_attestation_or_receipt() {
    use GuardianLie::*;
    for (lie, check) in [
        (OtherContext, Check::Binding),
        (ForgedAttestation, Check::Signature),
        (OtherChallenge, Check::Nonce),
        (AttestsOtherContext, Check::Binding),
        (StaleAttestation, Check::Epoch),
        (OtherReceipt, Check::Binding),
    ] {
        let started = Instant::now();
        let mut h = Harness::new(&choreo_guardian_auth_relational::PROTOCOL, &[], CAPS);
        let mut hostile = HostileGuardian {
            lie,
            key: key("guardian"),
            request: None,
        };
        let mut a = account("laptop");
        let params = choreo_guardian_auth_relational::Params::default();
        let mut sessions = h.join();
        let (sa, sg) = (sessions.take(ACCOUNT), sessions.take(GUARDIAN));
        sessions.done();
        let (outcome, end) = tokio::join!(
            run_account(sa, &mut a),
            choreo_guardian_auth_relational::execute_as(
                choreo_guardian_auth_relational::As::Guardian(&mut hostile),
                sg,
                &params
            ),
        );
        let e = outcome.expect_err("the Account refuses");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        if lie != OtherReceipt {
            // The receipt is the Guardian's last send: it has ended by then.
            let end = ServiceError::from(end.expect_err("cancelled"));
            assert_eq!(end.cancelled_by(), Some(ACCOUNT), "{lie:?}");
        }
        assert!(a.sessions.is_empty(), "{lie:?}");
        let mut expected = vec![AuthFact::Failed(e.to_string())];
        if lie == OtherReceipt {
            expected.insert(0, AuthFact::Attested(d("context"), Ok(())));
        }
        assert_eq!(auth_facts(&h, ACCOUNT), expected, "{lie:?}");
        assert!(started.elapsed() < TIMEOUT, "{lie:?}: a timeout elapsed");
    }
}
