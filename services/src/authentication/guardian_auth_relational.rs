//! GuardianAuthRelational: an account authenticates to one of its guardians.
//!
//! Implements the seed entry **GuardianAuthRelational** (CHOREO-AUTH-001,
//! owner `aura-authentication`, seed entry point
//! `aura-authentication/src/guardian_auth_relational.rs`). Decision sourcing
//! as the seed says: challenge and response derive from auth state. The
//! Guardian issues a fresh nonce bound to the relational context and
//! verifies the proof against its view of the account (the relationship,
//! the epoch, the device's registered key, revocations); a proof that does
//! not verify makes the Guardian refuse, which cancels the session and tells
//! the Account why. The Account binds a session only to an attestation of
//! its own context, and both sides check that they bound the same session.
//!
//! # Who learns what
//!
//! - The Guardian's challenge (a fresh nonce, the context, the expiry) is
//!   public; the Account's proof is a keyed BLAKE3 MAC under the device's
//!   registered key over the nonce, context and epoch, checked in constant
//!   time, so a replayed or forged proof fails.
//! - The attestation and the bound session id are known to both parties
//!   only (`leak = "neighbor:1"` on the request).
//! - Not yet done: the device key is a shared MAC key, not an Ed25519 key.

use choreo_guardian_auth_relational::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::stand_in::Journal;
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

/// The Guardian's attestation that the proof verified (it refuses a proof
/// that does not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianAttestation {
    /// The context the attestation is for.
    pub context_id: Digest,
    /// The account epoch it holds in.
    pub epoch: u64,
    /// Digest binding the attestation to the challenge.
    pub attestation: Digest,
}

/// The Guardian's receipt for the session it bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReceipt {
    /// The session.
    pub session_id: SessionId,
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

/// The session id both sides derive from the attestation and the device.
fn session_id(attestation: &Digest, device: &Digest) -> SessionId {
    let id = crypto::digest("auth/session", &[attestation, device]);
    let mut session = [0; 16];
    session.copy_from_slice(&id[..16]);
    session
}

/// One authentication as the Account plays it.
struct AccountSession<'s> {
    state: &'s mut AccountState,
    challenge: Option<msg::AuthChallenge>,
    session_id: Option<SessionId>,
    bound: bool,
}

impl AccountSession<'_> {
    fn session_id(&self) -> Result<SessionId, ServiceError> {
        self.session_id
            .ok_or(ServiceError::Missing("guardian attestation"))
    }
}

impl choreo_guardian_auth_relational::Account for AccountSession<'_> {
    type Types = AuthTypes;
    type Error = ServiceError;

    async fn relational_auth_request(
        &mut self,
        _to: Peer,
    ) -> Result<RelationalAuthRequest, ServiceError> {
        let s = &self.state;
        Ok(RelationalAuthRequest {
            account_id: s.account_id,
            context_id: s.context_id,
            device_id: s.device_id,
            epoch: s.epoch,
        })
    }

    async fn on_auth_challenge(
        &mut self,
        _from: Peer,
        msg: msg::AuthChallenge,
    ) -> Result<(), ServiceError> {
        if msg.context_id != self.state.context_id {
            return Err(ServiceError::Refused(
                "a challenge for another context".into(),
            ));
        }
        self.challenge = Some(msg);
        Ok(())
    }

    async fn auth_proof(&mut self, _to: Peer) -> Result<RelationalProof, ServiceError> {
        let challenge = self
            .challenge
            .as_ref()
            .ok_or(ServiceError::Missing("challenge"))?;
        let proof = device_proof(
            &self.state.device_key,
            &challenge.nonce,
            &self.state.context_id,
            self.state.epoch,
        );
        Ok(RelationalProof {
            nonce: challenge.nonce,
            proof,
        })
    }

    async fn on_auth_attestation(
        &mut self,
        _from: Peer,
        msg: GuardianAttestation,
    ) -> Result<(), ServiceError> {
        if msg.context_id != self.state.context_id || msg.epoch != self.state.epoch {
            return Err(ServiceError::Refused(
                "an attestation for another context or epoch".into(),
            ));
        }
        let fact = AuthFact::Attested(msg.context_id, Ok(()));
        self.state.journal.record(fact);
        self.session_id = Some(session_id(&msg.attestation, &self.state.device_id));
        Ok(())
    }

    async fn session_binding(&mut self, _to: Peer) -> Result<msg::SessionBinding, ServiceError> {
        Ok(msg::SessionBinding {
            session_id: self.session_id()?,
            epoch: self.state.epoch,
        })
    }

    async fn on_session_bound(
        &mut self,
        _from: Peer,
        msg: SessionReceipt,
    ) -> Result<(), ServiceError> {
        if msg.session_id != self.session_id()? {
            return Err(ServiceError::Refused(
                "the guardian bound another session".into(),
            ));
        }
        self.bound = true;
        Ok(())
    }
}

/// The proof a device gives for a challenge.
fn device_proof(key: &Digest, nonce: &Digest, context: &Digest, epoch: u64) -> Digest {
    crypto::mac(key, &[nonce, context, &epoch.to_le_bytes()])
}

/// Runs the Account: asks the guardian to authenticate this device in the
/// relational context, answers the challenge and binds a session. When the
/// Guardian refuses the proof, its reason is recorded and returned as the
/// cancellation.
pub async fn run_account<T: Transport>(
    session: Session<'_, T>,
    state: &mut AccountState,
) -> Result<AuthenticatedSession, ServiceError> {
    let mut code = AccountSession {
        state,
        challenge: None,
        session_id: None,
        bound: false,
    };
    let run = choreo_guardian_auth_relational::execute_as(
        choreo_guardian_auth_relational::As::Account(&mut code),
        session,
        &choreo_guardian_auth_relational::Params::default(),
    )
    .await;
    let AccountSession {
        state,
        session_id,
        bound,
        ..
    } = code;
    if let Err(e) = run {
        let e = ServiceError::from(e);
        if session_id.is_none() {
            let fact = AuthFact::Attested(state.context_id, Err(e.reason()));
            state.journal.record(fact);
        }
        return Err(e);
    }
    let (Some(session_id), true) = (session_id, bound) else {
        return Err(ServiceError::Missing("session receipt"));
    };
    let bound = AuthenticatedSession {
        session_id,
        account_id: state.account_id,
        context_id: state.context_id,
        epoch: state.epoch,
    };
    state.journal.record(AuthFact::SessionBound(bound.clone()));
    state.sessions.push(bound.clone());
    Ok(bound)
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
    attestation: Option<Digest>,
    binding: Option<AuthenticatedSession>,
}

impl GuardianSession<'_> {
    fn request(&self) -> Result<&RelationalAuthRequest, ServiceError> {
        self.request
            .as_ref()
            .ok_or(ServiceError::Missing("auth request"))
    }

    /// Why `proof` does not authenticate the requesting device, if it does not.
    fn verify(&self, proof: &RelationalProof) -> Result<Result<(), String>, ServiceError> {
        let req = self.request()?;
        let challenge = self
            .challenge
            .as_ref()
            .ok_or(ServiceError::Missing("challenge"))?;
        let Some(account) = (self.state.accounts.iter())
            .find(|a| a.account_id == req.account_id && a.context_id == req.context_id)
        else {
            return Ok(Err(
                "no relationship with this account in this context".into()
            ));
        };
        if req.epoch != account.epoch {
            return Ok(Err(format!(
                "epoch {} is not the account's {}",
                req.epoch, account.epoch
            )));
        }
        if account.revoked.contains(&req.device_id) {
            return Ok(Err("device revoked".into()));
        }
        let Some((_, key)) = (account.devices.iter()).find(|(d, _)| *d == req.device_id) else {
            return Ok(Err("unknown device".into()));
        };
        if proof.nonce != challenge.nonce || self.state.now > challenge.expires_at {
            return Ok(Err("stale challenge".into()));
        }
        if crypto::ensure_eq(
            &proof.proof,
            &device_proof(key, &challenge.nonce, &req.context_id, req.epoch),
        )
        .is_err()
        {
            return Ok(Err("proof does not verify".into()));
        }
        Ok(Ok(()))
    }
}

impl choreo_guardian_auth_relational::Guardian for GuardianSession<'_> {
    type Types = AuthTypes;
    type Error = ServiceError;

    async fn on_relational_auth_request(
        &mut self,
        _from: Peer,
        msg: RelationalAuthRequest,
    ) -> Result<(), ServiceError> {
        self.request = Some(msg);
        Ok(())
    }

    async fn auth_challenge(&mut self, _to: Peer) -> Result<msg::AuthChallenge, ServiceError> {
        let context_id = self.request()?.context_id;
        let count = (self.state.journal.len() as u64).to_le_bytes();
        let challenge = msg::AuthChallenge {
            nonce: crypto::digest("auth/nonce", &[&self.state.secret, &context_id, &count]),
            context_id,
            expires_at: self.state.now + self.state.challenge_ttl,
        };
        self.challenge = Some(challenge.clone());
        Ok(challenge)
    }

    async fn on_auth_proof(
        &mut self,
        _from: Peer,
        msg: RelationalProof,
    ) -> Result<(), ServiceError> {
        let verdict = self.verify(&msg)?;
        let context_id = self.request()?.context_id;
        self.state
            .journal
            .record(AuthFact::Attested(context_id, verdict.clone()));
        verdict.map_err(ServiceError::Refused)
    }

    async fn auth_attestation(&mut self, _to: Peer) -> Result<GuardianAttestation, ServiceError> {
        let req = self.request()?;
        let (context_id, epoch) = (req.context_id, req.epoch);
        let nonce = self
            .challenge
            .as_ref()
            .ok_or(ServiceError::Missing("challenge"))?
            .nonce;
        let attestation = crypto::mac(&self.state.secret, &[&nonce, &context_id]);
        self.attestation = Some(attestation);
        Ok(GuardianAttestation {
            context_id,
            epoch,
            attestation,
        })
    }

    async fn on_session_binding(
        &mut self,
        _from: Peer,
        msg: msg::SessionBinding,
    ) -> Result<(), ServiceError> {
        let req = self.request()?;
        let attestation = self.attestation.ok_or(ServiceError::Missing("proof"))?;
        if msg.session_id != session_id(&attestation, &req.device_id) || msg.epoch != req.epoch {
            return Err(ServiceError::Refused(
                "a binding for another session".into(),
            ));
        }
        self.binding = Some(AuthenticatedSession {
            session_id: msg.session_id,
            account_id: req.account_id,
            context_id: req.context_id,
            epoch: msg.epoch,
        });
        Ok(())
    }

    async fn session_bound(&mut self, _to: Peer) -> Result<SessionReceipt, ServiceError> {
        let binding = self
            .binding
            .as_ref()
            .ok_or(ServiceError::Missing("session binding"))?;
        Ok(SessionReceipt {
            session_id: binding.session_id,
        })
    }
}

/// Runs the Guardian: challenges the account, verifies its proof against
/// what the guardian knows of the account (refusing, with the reason, a
/// proof that does not verify), attests, and binds the session.
pub async fn run_guardian<T: Transport>(
    session: Session<'_, T>,
    state: &mut GuardianState,
) -> Result<AuthenticatedSession, ServiceError> {
    let mut code = GuardianSession {
        state,
        request: None,
        challenge: None,
        attestation: None,
        binding: None,
    };
    choreo_guardian_auth_relational::execute_as(
        choreo_guardian_auth_relational::As::Guardian(&mut code),
        session,
        &choreo_guardian_auth_relational::Params::default(),
    )
    .await?;
    let GuardianSession { state, binding, .. } = code;
    let bound = binding.ok_or(ServiceError::Missing("session binding"))?;
    state.journal.record(AuthFact::SessionBound(bound.clone()));
    state.sessions.push(bound.clone());
    Ok(bound)
}
