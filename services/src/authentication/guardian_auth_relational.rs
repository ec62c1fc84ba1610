//! GuardianAuthRelational: an account authenticates to one of its guardians.
//!
//! Implements the seed entry **GuardianAuthRelational** (CHOREO-AUTH-001,
//! owner `aura-authentication`, seed entry point
//! `aura-authentication/src/guardian_auth_relational.rs`). Decision sourcing
//! as the seed says: challenge and response derive from auth state. The
//! Guardian serves a request only from a registered, unrevoked device of an
//! account it guards in that context (refusing otherwise, which cancels the
//! session and tells the Account why), issues a fresh nonce, and verifies
//! the device's Ed25519 proof over it against the device's registered key.
//! It attests with its own Ed25519 signature, which the Account checks
//! against the guardian key it knows; both sides derive the session id from
//! the attestation and check that they bound the same session. A value that
//! fails a check (a proof of another challenge, a forged signature, another
//! epoch, a binding or receipt of another session) is refused as
//! [`ServiceError::Unverified`] and cancels the session for both.
//!
//! # Who learns what
//!
//! - The request names the account, the context and the device: it reveals
//!   the relationship to the guardian, the one neighbour it is sent to
//!   (`leak = "neighbor:1"`, the only message with a leak annotation).
//! - The challenge (a fresh random nonce, the context, the expiry) is
//!   public. The proof is the device's Ed25519 signature over the nonce,
//!   context, account, device, epoch and expiry: it reveals nothing secret,
//!   and answers only this challenge, so a replayed proof fails.
//! - The attestation is the Guardian's Ed25519 signature over the nonce, the
//!   context, the account, the device and the epoch; the session id both
//!   derive from it is public to the two parties. No secret travels: each
//!   side keeps its signing key (zeroized on drop).
//! - Each side records in its node's journal what it attested or bound
//!   ([`AuthFact`]); the Account also records why an authentication failed.
//! - A challenge is good for the session it was issued in only: the
//!   Guardian accepts a proof of the nonce it issued in this session (the
//!   session's receive timeout bounds how long that is), and `expires_at`
//!   is signed with it.

use choreo_guardian_auth_relational::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest, Signature, SigningKey, VerifyingKey};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
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
    /// The device's signature over the challenge and the request.
    pub signature: Signature,
}

/// The Guardian's attestation that the proof verified (it refuses a proof
/// that does not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianAttestation {
    /// The context the attestation is for.
    pub context_id: Digest,
    /// The account epoch it holds in.
    pub epoch: u64,
    /// The challenge whose proof verified.
    pub nonce: Digest,
    /// The Guardian's signature over the challenge, context, account,
    /// device and epoch.
    pub signature: Signature,
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
    /// The Guardian attested a proof in this context (`Ok`), or refused the
    /// request by its policy; the Account records the attestation it checked.
    Attested(Digest, Result<(), String>),
    /// A session was bound.
    SessionBound(AuthenticatedSession),
    /// The Account's authentication failed, for this reason.
    Failed(String),
}

impl DomainFact for AuthFact {
    const PROTOCOL: &'static str = "GuardianAuthRelational";

    fn kind(&self) -> &'static str {
        match self {
            AuthFact::Attested(..) => "Attested",
            AuthFact::SessionBound(..) => "SessionBound",
            AuthFact::Failed(..) => "Failed",
        }
    }
}

const PROOF: &str = "choreo-services/guardian-auth/proof";
const ATTEST: &str = "choreo-services/guardian-auth/attest";

/// What a device signs to answer `challenge` for `request`.
fn proof_parts(request: &RelationalAuthRequest, challenge: &msg::AuthChallenge) -> Vec<Vec<u8>> {
    vec![
        challenge.nonce.to_vec(),
        challenge.context_id.to_vec(),
        challenge.expires_at.to_le_bytes().to_vec(),
        request.account_id.to_vec(),
        request.device_id.to_vec(),
        request.epoch.to_le_bytes().to_vec(),
    ]
}

/// What a Guardian signs to attest the proof of `nonce` for `request`.
fn attestation_parts(request: &RelationalAuthRequest, nonce: &Digest) -> Vec<Vec<u8>> {
    vec![
        nonce.to_vec(),
        request.context_id.to_vec(),
        request.account_id.to_vec(),
        request.device_id.to_vec(),
        request.epoch.to_le_bytes().to_vec(),
    ]
}

fn borrowed(parts: &[Vec<u8>]) -> Vec<&[u8]> {
    parts.iter().map(Vec::as_slice).collect()
}

/// The proof the device holding `device` gives for `challenge` to `request`.
pub fn prove(
    device: &SigningKey,
    request: &RelationalAuthRequest,
    challenge: &msg::AuthChallenge,
) -> RelationalProof {
    let parts = proof_parts(request, challenge);
    RelationalProof {
        nonce: challenge.nonce,
        signature: device.sign(PROOF, &borrowed(&parts)),
    }
}

/// The attestation, by the guardian holding `guardian`, of the proof of
/// `nonce` for `request` (in its context and epoch).
pub fn attest(
    guardian: &SigningKey,
    request: &RelationalAuthRequest,
    nonce: Digest,
) -> GuardianAttestation {
    let parts = attestation_parts(request, &nonce);
    GuardianAttestation {
        context_id: request.context_id,
        epoch: request.epoch,
        nonce,
        signature: guardian.sign(ATTEST, &borrowed(&parts)),
    }
}

/// The session id both sides derive from the attestation of `request` by
/// the guardian holding `guardian`.
pub fn session_id(
    request: &RelationalAuthRequest,
    attestation: &GuardianAttestation,
    guardian: &VerifyingKey,
) -> SessionId {
    let signature = crypto::encode(&attestation.signature);
    let id = crypto::digest(
        "choreo-services/guardian-auth/session",
        &[
            &signature,
            &attestation.nonce,
            &request.account_id,
            &request.device_id,
            &guardian.0,
        ],
    );
    let mut session = [0; 16];
    session.copy_from_slice(&id[..16]);
    session
}

/// The Account device's auth state.
#[derive(Clone, Debug)]
pub struct AccountState {
    /// The account.
    pub account_id: Digest,
    /// This device.
    pub device_id: Digest,
    /// The device's signing key; its public key is registered in the
    /// account's tree (zeroized on drop).
    pub device_key: SigningKey,
    /// The key of the guardian it authenticates to.
    pub guardian_key: VerifyingKey,
    /// The relational context shared with the guardian.
    pub context_id: Digest,
    /// The account epoch this device is at.
    pub epoch: u64,
    /// Sessions bound so far.
    pub sessions: Vec<AuthenticatedSession>,
}

impl AccountState {
    /// The request this device sends.
    fn request(&self) -> RelationalAuthRequest {
        RelationalAuthRequest {
            account_id: self.account_id,
            context_id: self.context_id,
            device_id: self.device_id,
            epoch: self.epoch,
        }
    }
}

/// One authentication as the Account plays it.
struct AccountSession<'s> {
    state: &'s mut AccountState,
    log: FactLog,
    challenge: Option<msg::AuthChallenge>,
    session_id: Option<SessionId>,
    bound: bool,
}

impl AccountSession<'_> {
    fn session_id(&self) -> Result<SessionId, ServiceError> {
        self.session_id
            .ok_or(ServiceError::Missing("guardian attestation"))
    }

    fn challenge(&self) -> Result<&msg::AuthChallenge, ServiceError> {
        self.challenge
            .as_ref()
            .ok_or(ServiceError::Missing("challenge"))
    }
}

impl choreo_guardian_auth_relational::Account for AccountSession<'_> {
    type Types = AuthTypes;
    type Error = ServiceError;

    async fn relational_auth_request(
        &mut self,
        _to: Peer,
    ) -> Result<RelationalAuthRequest, ServiceError> {
        Ok(self.state.request())
    }

    async fn on_auth_challenge(
        &mut self,
        _from: Peer,
        msg: msg::AuthChallenge,
    ) -> Result<(), ServiceError> {
        if msg.context_id != self.state.context_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a challenge for another context",
            ));
        }
        self.challenge = Some(msg);
        Ok(())
    }

    async fn auth_proof(&mut self, _to: Peer) -> Result<RelationalProof, ServiceError> {
        let challenge = self.challenge()?;
        Ok(prove(
            &self.state.device_key,
            &self.state.request(),
            challenge,
        ))
    }

    async fn on_auth_attestation(
        &mut self,
        _from: Peer,
        msg: GuardianAttestation,
    ) -> Result<(), ServiceError> {
        let request = self.state.request();
        if msg.context_id != request.context_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "an attestation for another context",
            ));
        }
        if msg.epoch != request.epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!("an attestation for epoch {}", msg.epoch),
            ));
        }
        if msg.nonce != self.challenge()?.nonce {
            return Err(ServiceError::unverified(
                Check::Nonce,
                "an attestation of another challenge",
            ));
        }
        let parts = attestation_parts(&request, &msg.nonce);
        (self.state.guardian_key)
            .verify(ATTEST, &borrowed(&parts), &msg.signature)
            .map_err(|_| {
                ServiceError::unverified(Check::Signature, "the guardian's attestation")
            })?;
        self.log
            .record(AuthFact::Attested(msg.context_id, Ok(())))
            .await?;
        self.session_id = Some(session_id(&request, &msg, &self.state.guardian_key));
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
            return Err(ServiceError::unverified(
                Check::Binding,
                "the guardian bound another session",
            ));
        }
        self.bound = true;
        Ok(())
    }
}

/// Runs the Account: asks the guardian to authenticate this device in the
/// relational context, answers the challenge, checks the attestation and
/// binds a session. When the session fails (the Guardian refused, or a value
/// of the Guardian did not check out) the reason is recorded and returned.
pub async fn run_account<T: Transport>(
    session: Session<'_, T>,
    state: &mut AccountState,
) -> Result<AuthenticatedSession, ServiceError> {
    let log = FactLog::of(&session);
    let mut code = AccountSession {
        state,
        log: log.clone(),
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
        log.record(AuthFact::Failed(e.reason())).await?;
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
    log.record(AuthFact::SessionBound(bound.clone())).await?;
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
    /// Its devices' registered public keys: (device id, key).
    pub devices: Vec<(Digest, VerifyingKey)>,
    /// Devices removed from its tree.
    pub revoked: Vec<Digest>,
}

/// The Guardian's auth state.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// The key it attests with (zeroized on drop).
    pub signing_key: SigningKey,
    /// The accounts it guards.
    pub accounts: Vec<GuardedAccount>,
    /// The current time.
    pub now: u64,
    /// How long a challenge stays valid.
    pub challenge_ttl: u64,
    /// Sessions it bound.
    pub sessions: Vec<AuthenticatedSession>,
}

/// One authentication as the Guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    log: FactLog,
    /// The request it serves, and the requesting device's registered key.
    request: Option<(RelationalAuthRequest, VerifyingKey)>,
    challenge: Option<msg::AuthChallenge>,
    attestation: Option<GuardianAttestation>,
    binding: Option<AuthenticatedSession>,
}

impl GuardianSession<'_> {
    fn request(&self) -> Result<&(RelationalAuthRequest, VerifyingKey), ServiceError> {
        self.request
            .as_ref()
            .ok_or(ServiceError::Missing("auth request"))
    }

    fn challenge(&self) -> Result<&msg::AuthChallenge, ServiceError> {
        self.challenge
            .as_ref()
            .ok_or(ServiceError::Missing("challenge"))
    }

    /// The registered key of the requesting device, or why this guardian
    /// does not serve `req` (its policy) or refuses it (another epoch).
    fn device_key(
        &self,
        req: &RelationalAuthRequest,
    ) -> Result<Result<VerifyingKey, String>, ServiceError> {
        let Some(account) = (self.state.accounts.iter())
            .find(|a| a.account_id == req.account_id && a.context_id == req.context_id)
        else {
            return Ok(Err(
                "no relationship with this account in this context".into()
            ));
        };
        if req.epoch != account.epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!("epoch {} is not the account's {}", req.epoch, account.epoch),
            ));
        }
        if account.revoked.contains(&req.device_id) {
            return Ok(Err("device revoked".into()));
        }
        Ok((account.devices.iter())
            .find(|(d, _)| *d == req.device_id)
            .map(|(_, key)| *key)
            .ok_or_else(|| "unknown device".to_string()))
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
        match self.device_key(&msg)? {
            Ok(key) => {
                self.request = Some((msg, key));
                Ok(())
            }
            Err(why) => {
                let fact = AuthFact::Attested(msg.context_id, Err(why.clone()));
                self.log.record(fact).await?;
                Err(ServiceError::Refused(why))
            }
        }
    }

    async fn auth_challenge(&mut self, _to: Peer) -> Result<msg::AuthChallenge, ServiceError> {
        let context_id = self.request()?.0.context_id;
        let challenge = msg::AuthChallenge {
            nonce: crypto::random::<32>(),
            context_id,
            expires_at: self.state.now.saturating_add(self.state.challenge_ttl),
        };
        self.challenge = Some(challenge.clone());
        Ok(challenge)
    }

    async fn on_auth_proof(
        &mut self,
        _from: Peer,
        msg: RelationalProof,
    ) -> Result<(), ServiceError> {
        let (req, key) = self.request()?;
        let challenge = self.challenge()?;
        if msg.nonce != challenge.nonce {
            return Err(ServiceError::unverified(
                Check::Nonce,
                "a proof of another challenge",
            ));
        }
        let parts = proof_parts(req, challenge);
        key.verify(PROOF, &borrowed(&parts), &msg.signature)
            .map_err(|_| ServiceError::unverified(Check::Signature, "the device's proof"))?;
        let fact = AuthFact::Attested(req.context_id, Ok(()));
        self.log.record(fact).await
    }

    async fn auth_attestation(&mut self, _to: Peer) -> Result<GuardianAttestation, ServiceError> {
        let (req, _) = self.request()?;
        let attestation = attest(&self.state.signing_key, req, self.challenge()?.nonce);
        self.attestation = Some(attestation.clone());
        Ok(attestation)
    }

    async fn on_session_binding(
        &mut self,
        _from: Peer,
        msg: msg::SessionBinding,
    ) -> Result<(), ServiceError> {
        let (req, _) = self.request()?;
        let attestation = (self.attestation.as_ref()).ok_or(ServiceError::Missing("proof"))?;
        if msg.epoch != req.epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!("a binding for epoch {}", msg.epoch),
            ));
        }
        let guardian = self.state.signing_key.verifying_key();
        if msg.session_id != session_id(req, attestation, &guardian) {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a binding for another session",
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

/// Runs the Guardian: serves a registered device of an account it guards
/// (refusing others, with the reason), challenges it, verifies its proof,
/// attests, and binds the session.
pub async fn run_guardian<T: Transport>(
    session: Session<'_, T>,
    state: &mut GuardianState,
) -> Result<AuthenticatedSession, ServiceError> {
    let log = FactLog::of(&session);
    let mut code = GuardianSession {
        state,
        log: log.clone(),
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
    log.record(AuthFact::SessionBound(bound.clone())).await?;
    state.sessions.push(bound.clone());
    Ok(bound)
}
