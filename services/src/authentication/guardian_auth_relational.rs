//! GuardianAuthRelational: an account authenticates to one of its guardians.
//!
//! Implements the seed entry **GuardianAuthRelational** (CHOREO-AUTH-001,
//! owner `aura-authentication`, seed entry point
//! `aura-authentication/src/guardian_auth_relational.rs`). Decision sourcing
//! as the seed says: challenge and response derive from auth state. The
//! Guardian issues a fresh nonce bound to the relational context and
//! verifies the proof against its view of the account (the relationship,
//! the epoch, the device's registered key, revocations); the Account binds a
//! session only to a verified attestation. A refusal travels in the payloads.

use choreo_guardian_auth_relational::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::ServiceError;

/// A session identifier.
pub type SessionId = [u8; 16];

/// The Account's request to authenticate in a relational context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationalAuthRequest {
    /// The account.
    pub account_id: Digest,
    /// The relational context shared with the guardian.
    pub context_id: Digest,
    /// The device acting for the account.
    pub device_id: Digest,
    /// The account epoch the device claims.
    pub epoch: u64,
}

/// The Account's answer to the challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationalProof {
    /// The challenge answered.
    pub nonce: Digest,
    /// MAC of nonce, context and epoch under the device's key.
    pub proof: Digest,
}

/// The Guardian's verdict on the proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianAttestation {
    /// The context the verdict is for.
    pub context_id: Digest,
    /// The account epoch it holds in.
    pub epoch: u64,
    /// Whether the proof verified, or why not.
    pub verdict: Result<(), String>,
    /// Digest binding the verdict to the challenge.
    pub attestation: Digest,
}

/// The Guardian's receipt for the session binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReceipt {
    /// The session.
    pub session_id: SessionId,
    /// Whether the Guardian bound it.
    pub bound: bool,
}

/// Binds the protocol's payload types to this module's.
pub struct AuthTypes;

impl choreo_guardian_auth_relational::Types for AuthTypes {
    type RelationalAuthRequest = RelationalAuthRequest;
    type RelationalProof = RelationalProof;
    type GuardianAttestation = GuardianAttestation;
    type SessionReceipt = SessionReceipt;
}

/// A session authenticated in a relational context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticatedSession {
    /// The session.
    pub session_id: SessionId,
    /// The account.
    pub account_id: Digest,
    /// The context.
    pub context_id: Digest,
    /// The epoch it is bound to.
    pub epoch: u64,
}

/// A fact of relational authentication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthFact {
    /// The Guardian attested a proof (`Ok`) or refused it.
    Attested(Digest, Result<(), String>),
    /// A session was bound.
    SessionBound(AuthenticatedSession),
}

/// How an authentication ended, for either role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticated and bound.
    Bound(AuthenticatedSession),
    /// Refused, with the Guardian's reason.
    Refused(String),
}

/// The Account device's auth state.
#[derive(Clone, Debug)]
pub struct AccountState {
    /// The account.
    pub account_id: Digest,
    /// This device.
    pub device_id: Digest,
    /// The device's key, registered in the account's tree.
    pub device_key: Digest,
    /// The relational context shared with the guardian.
    pub context_id: Digest,
    /// The account epoch this device is at.
    pub epoch: u64,
    /// Sessions bound so far.
    pub sessions: Vec<AuthenticatedSession>,
    /// Facts of every authentication.
    pub journal: Journal<AuthFact>,
}

/// One authentication as the Account plays it.
struct AccountSession<'s> {
    state: &'s mut AccountState,
    challenge: Option<msg::AuthChallenge>,
    attestation: Option<GuardianAttestation>,
    session_id: SessionId,
    receipt: Option<SessionReceipt>,
}

impl choreo_guardian_auth_relational::Account<AuthTypes> for AccountSession<'_> {
    fn relational_auth_request(&mut self, _to: &Peer) -> RelationalAuthRequest {
        let s = &self.state;
        RelationalAuthRequest {
            account_id: s.account_id,
            context_id: s.context_id,
            device_id: s.device_id,
            epoch: s.epoch,
        }
    }

    fn on_auth_challenge(&mut self, _from: &Peer, msg: msg::AuthChallenge) {
        self.challenge = Some(msg);
    }

    fn auth_proof(&mut self, _to: &Peer) -> RelationalProof {
        let nonce = self.challenge.as_ref().map(|c| c.nonce).unwrap_or_default();
        let proof = device_proof(
            &self.state.device_key,
            &nonce,
            &self.state.context_id,
            self.state.epoch,
        );
        RelationalProof { nonce, proof }
    }

    fn on_auth_attestation(&mut self, _from: &Peer, msg: GuardianAttestation) {
        let fact = AuthFact::Attested(msg.context_id, msg.verdict.clone());
        self.state.journal.record(fact);
        if msg.verdict.is_ok() && msg.context_id == self.state.context_id {
            let id = crypto::digest("auth/session", &[&msg.attestation, &self.state.device_id]);
            self.session_id.copy_from_slice(&id[..16]);
        }
        self.attestation = Some(msg);
    }

    fn session_binding(&mut self, _to: &Peer) -> msg::SessionBinding {
        // An all-zero session id binds nothing.
        msg::SessionBinding {
            session_id: self.session_id,
            epoch: self.state.epoch,
        }
    }

    fn on_session_bound(&mut self, _from: &Peer, msg: SessionReceipt) {
        self.receipt = Some(msg);
    }
}

/// The proof a device gives for a challenge.
fn device_proof(key: &Digest, nonce: &Digest, context: &Digest, epoch: u64) -> Digest {
    crypto::mac(key, &[nonce, context, &epoch.to_le_bytes()])
}

/// Runs the Account: asks the guardian to authenticate this device in the
/// relational context, answers the challenge and binds a session.
pub async fn run_account<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut AccountState,
) -> Result<AuthOutcome, ServiceError> {
    let mut session = AccountSession {
        state,
        challenge: None,
        attestation: None,
        session_id: [0; 16],
        receipt: None,
    };
    choreo_guardian_auth_relational::execute_as::<AuthTypes, _>(
        choreo_guardian_auth_relational::As::Account(&mut session),
        adapter,
        &choreo_guardian_auth_relational::Params::default(),
    )
    .await?;
    let AccountSession {
        state,
        attestation,
        session_id,
        receipt,
        ..
    } = session;
    let verdict = attestation
        .map(|a| a.verdict)
        .unwrap_or_else(|| Err("no attestation".into()));
    Ok(match (verdict, receipt) {
        (Ok(()), Some(r)) if r.bound && r.session_id == session_id => {
            let bound = AuthenticatedSession {
                session_id,
                account_id: state.account_id,
                context_id: state.context_id,
                epoch: state.epoch,
            };
            state.journal.record(AuthFact::SessionBound(bound.clone()));
            state.sessions.push(bound.clone());
            AuthOutcome::Bound(bound)
        }
        (Ok(()), _) => AuthOutcome::Refused("the guardian did not bind the session".into()),
        (Err(why), _) => AuthOutcome::Refused(why),
    })
}

/// What a guardian knows of an account it guards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardedAccount {
    /// The account.
    pub account_id: Digest,
    /// The relational context shared with it.
    pub context_id: Digest,
    /// Its current epoch.
    pub epoch: u64,
    /// Its devices' registered keys: (device id, key).
    pub devices: Vec<(Digest, Digest)>,
    /// Devices removed from its tree.
    pub revoked: Vec<Digest>,
}

/// The Guardian's auth state.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// Secret its challenges derive from.
    pub secret: Digest,
    /// The accounts it guards.
    pub accounts: Vec<GuardedAccount>,
    /// The current time.
    pub now: u64,
    /// How long a challenge stays valid.
    pub challenge_ttl: u64,
    /// Sessions it bound.
    pub sessions: Vec<AuthenticatedSession>,
    /// Facts of every authentication.
    pub journal: Journal<AuthFact>,
}

/// One authentication as the Guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    request: Option<RelationalAuthRequest>,
    challenge: Option<msg::AuthChallenge>,
    verdict: Result<(), String>,
    binding: Option<AuthenticatedSession>,
}

impl GuardianSession<'_> {
    fn verify(&self, proof: &RelationalProof) -> Result<(), String> {
        let (Some(req), Some(challenge)) = (&self.request, &self.challenge) else {
            return Err("no request".into());
        };
        let account = (self.state.accounts.iter())
            .find(|a| a.account_id == req.account_id && a.context_id == req.context_id)
            .ok_or("no relationship with this account in this context")?;
        if req.epoch != account.epoch {
            return Err(format!(
                "epoch {} is not the account's {}",
                req.epoch, account.epoch
            ));
        }
        if account.revoked.contains(&req.device_id) {
            return Err("device revoked".into());
        }
        let key = (account.devices.iter())
            .find(|(d, _)| *d == req.device_id)
            .map(|(_, k)| k)
            .ok_or("unknown device")?;
        if proof.nonce != challenge.nonce || self.state.now > challenge.expires_at {
            return Err("stale challenge".into());
        }
        if proof.proof != device_proof(key, &challenge.nonce, &req.context_id, req.epoch) {
            return Err("proof does not verify".into());
        }
        Ok(())
    }
}

impl choreo_guardian_auth_relational::Guardian<AuthTypes> for GuardianSession<'_> {
    fn on_relational_auth_request(&mut self, _from: &Peer, msg: RelationalAuthRequest) {
        self.request = Some(msg);
    }

    fn auth_challenge(&mut self, _to: &Peer) -> msg::AuthChallenge {
        let context_id = self
            .request
            .as_ref()
            .map(|r| r.context_id)
            .unwrap_or_default();
        let count = (self.state.journal.len() as u64).to_le_bytes();
        let challenge = msg::AuthChallenge {
            nonce: crypto::digest("auth/nonce", &[&self.state.secret, &context_id, &count]),
            context_id,
            expires_at: self.state.now + self.state.challenge_ttl,
        };
        self.challenge = Some(challenge.clone());
        challenge
    }

    fn on_auth_proof(&mut self, _from: &Peer, msg: RelationalProof) {
        self.verdict = self.verify(&msg);
    }

    fn auth_attestation(&mut self, _to: &Peer) -> GuardianAttestation {
        let req = self.request.clone();
        let context_id = req.as_ref().map(|r| r.context_id).unwrap_or_default();
        let nonce = self.challenge.as_ref().map(|c| c.nonce).unwrap_or_default();
        let ok = [u8::from(self.verdict.is_ok())];
        self.state
            .journal
            .record(AuthFact::Attested(context_id, self.verdict.clone()));
        GuardianAttestation {
            context_id,
            epoch: req.map(|r| r.epoch).unwrap_or_default(),
            verdict: self.verdict.clone(),
            attestation: crypto::mac(&self.state.secret, &[&nonce, &context_id, &ok]),
        }
    }

    fn on_session_binding(&mut self, _from: &Peer, msg: msg::SessionBinding) {
        match &self.request {
            Some(req)
                if self.verdict.is_ok() && msg.session_id != [0; 16] && msg.epoch == req.epoch =>
            {
                self.binding = Some(AuthenticatedSession {
                    session_id: msg.session_id,
                    account_id: req.account_id,
                    context_id: req.context_id,
                    epoch: msg.epoch,
                });
            }
            _ => {}
        }
    }

    fn session_bound(&mut self, _to: &Peer) -> SessionReceipt {
        match &self.binding {
            Some(b) => SessionReceipt {
                session_id: b.session_id,
                bound: true,
            },
            None => SessionReceipt {
                session_id: [0; 16],
                bound: false,
            },
        }
    }
}

/// Runs the Guardian: challenges the account, verifies its proof against
/// what the guardian knows of the account, attests, and binds the session.
pub async fn run_guardian<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut GuardianState,
) -> Result<AuthOutcome, ServiceError> {
    let mut session = GuardianSession {
        state,
        request: None,
        challenge: None,
        verdict: Err("no proof".into()),
        binding: None,
    };
    choreo_guardian_auth_relational::execute_as::<AuthTypes, _>(
        choreo_guardian_auth_relational::As::Guardian(&mut session),
        adapter,
        &choreo_guardian_auth_relational::Params::default(),
    )
    .await?;
    let GuardianSession {
        state,
        verdict,
        binding,
        ..
    } = session;
    Ok(match (verdict, binding) {
        (Ok(()), Some(bound)) => {
            state.journal.record(AuthFact::SessionBound(bound.clone()));
            state.sessions.push(bound.clone());
            AuthOutcome::Bound(bound)
        }
        (Ok(()), None) => AuthOutcome::Refused("no session was bound".into()),
        (Err(why), _) => AuthOutcome::Refused(why),
    })
}
