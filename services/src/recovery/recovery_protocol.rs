//! RecoveryProtocol: recover an account onto a new device with guardian shares.
//!
//! Implements the seed entry **RecoveryProtocol** (CHOREO-REC-001, owner
//! `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: every message derives from the
//! recovery request and journal state. Each guardian approves only for an
//! account it guards, a new device it verified out of band, and outside its
//! cooldown since its last approval, and takes the protocol's `Refuse`
//! branch with its reason otherwise; an approval carries its share (from
//! [`GuardianSetup`](super::guardian_setup)) sealed to the new device. With
//! fewer approvals than the threshold the Coordinator refuses to issue a
//! bundle, which cancels the recovery everywhere. The new device rebuilds
//! the secret from the bundle and checks it against the account's group key
//! before binding (refusing a bundle that does not rebuild it); the
//! Coordinator completes the recovery once the device bound its key.
//!
//! # Who learns what
//!
//! - The new device's key is an X25519 public key: it travels in clear
//!   (the old design sent the key its shares were sealed under), and each
//!   guardian approves only a device key it verified out of band.
//! - Each approving guardian seals its FROST share (from
//!   [`GuardianSetup`](super::guardian_setup)) to that key (ephemeral
//!   X25519, BLAKE3 key derivation, ChaCha20-Poly1305 bound to the
//!   recovery id, the account and the guardian). The Coordinator relays the
//!   sealed shares and learns only who approved (`leak = "Group"`): it
//!   cannot open them, so it cannot rebuild the account's secret.
//! - The new device learns the shares and the secret: it checks each share
//!   against its VSS commitment, rebuilds the secret with FROST's
//!   `reconstruct` (at least the threshold of shares) and compares its
//!   public key with the account's group key before binding.

use choreo_recovery_protocol::choice::ApproveOrRefuse;
use choreo_recovery_protocol::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, frost, seal_to, Digest, SealKey, SealPublic, Sealed};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::recovery::guardian_setup::Guardianship;
use crate::{index_of, own_index, reject, ServiceError};

/// The new device's request to recover the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRequest {
    /// The account.
    pub account_id: Digest,
    /// The new device's X25519 public key: shares are sealed to it.
    pub device_key: SealPublic,
    /// When the request was made.
    pub requested_at: u64,
}

/// The Coordinator's request for a guardian's approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianApprovalRequest {
    /// Identifies this recovery.
    pub recovery_id: Digest,
    /// The request being approved.
    pub request: RecoveryRequest,
}

/// A share sealed to the new device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedShare {
    /// The guardian's member index.
    pub guardian: u16,
    /// The serialised FROST `SecretShare`, sealed to the device key.
    pub sealed: Sealed,
}

/// A guardian's approval with its sealed share (a guardian that does not
/// approve refuses, with its reason).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianApproval {
    /// The recovery.
    pub recovery_id: Digest,
    /// The guardian's share, sealed to the new device.
    pub share: SealedShare,
}

/// The approved shares for the new device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryShareBundle {
    /// The recovery.
    pub recovery_id: Digest,
    /// The shares of the approving guardians (at least the threshold).
    pub shares: Vec<SealedShare>,
    /// The epoch the recovered account moves to.
    pub new_epoch: u64,
}

/// The completed recovery, as everyone is told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryOutcome {
    /// The recovery.
    pub recovery_id: Digest,
    /// The device now bound to the account.
    pub device_key: Digest,
    /// The account epoch afterwards.
    pub epoch: u64,
    /// Guardians that approved.
    pub approvals: Vec<u16>,
}

/// Binds the protocol's payload types to this module's.
pub struct RecoveryTypes;

impl choreo_recovery_protocol::Types for RecoveryTypes {
    type RecoveryRequest = RecoveryRequest;
    type GuardianApprovalRequest = GuardianApprovalRequest;
    type GuardianApproval = GuardianApproval;
    type RecoveryShareBundle = RecoveryShareBundle;
    type RecoveryOutcome = RecoveryOutcome;
}

/// A fact of recovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecoveryFact {
    /// A guardian approved (`Ok`) or refused.
    Approval(u16, Result<(), String>),
    /// The recovery completed (as everyone was told).
    Finished(RecoveryOutcome),
    /// The recovery failed, and why.
    Failed(String),
}

impl DomainFact for RecoveryFact {
    const PROTOCOL: &'static str = "RecoveryProtocol";

    fn kind(&self) -> &'static str {
        match self {
            RecoveryFact::Approval(..) => "Approval",
            RecoveryFact::Finished(..) => "Finished",
            RecoveryFact::Failed(..) => "Failed",
        }
    }
}

/// The associated data a guardian's share is sealed under.
fn share_context(recovery_id: &Digest, account_id: &Digest, guardian: u16) -> [Vec<u8>; 4] {
    [
        b"choreo-services/recovery/share".to_vec(),
        recovery_id.to_vec(),
        account_id.to_vec(),
        guardian.to_le_bytes().to_vec(),
    ]
}

impl SealedShare {
    /// `share` of guardian `guardian`, sealed to `device` for one recovery.
    pub fn seal(
        recovery_id: &Digest,
        account_id: &Digest,
        guardian: u16,
        share: &frost::keys::SecretShare,
        device: &SealPublic,
    ) -> Result<Self, ServiceError> {
        let bytes = crypto::share_bytes(share).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let [a, b, c, d] = share_context(recovery_id, account_id, guardian);
        let sealed = seal_to(device, &[&a, &b, &c, &d], &bytes).map_err(|e| {
            ServiceError::unverified(Check::Decryption, format!("the device key: {e}"))
        })?;
        Ok(SealedShare { guardian, sealed })
    }
}

/// Opens, checks and combines the shares of `bundle` with the device's key:
/// the rebuilt secret, whose public key must be `group_key`.
fn rebuild(
    device: &SealKey,
    account_id: &Digest,
    group_key: &Digest,
    bundle: &RecoveryShareBundle,
) -> Result<frost::SigningKey, ServiceError> {
    let mut packages = Vec::with_capacity(bundle.shares.len());
    for s in &bundle.shares {
        let [a, b, c, d] = share_context(&bundle.recovery_id, account_id, s.guardian);
        let what = || format!("the share of Guardian[{}]", s.guardian);
        let opened = device
            .open(&[&a, &b, &c, &d], &s.sealed)
            .map_err(|_| ServiceError::unverified(Check::Decryption, what()))?;
        let share = frost::keys::SecretShare::deserialize(&opened)
            .map_err(|_| ServiceError::unverified(Check::Decryption, what()))?;
        let package = frost::keys::KeyPackage::try_from(share)
            .map_err(|_| ServiceError::unverified(Check::Commitment, what()))?;
        packages.push(package);
    }
    let secret = frost::keys::reconstruct(&packages).map_err(|e| {
        ServiceError::unverified(Check::Threshold, format!("the approved shares: {e}"))
    })?;
    let rebuilt = crypto::group_key_bytes(&frost::VerifyingKey::from(&secret)).unwrap_or_default();
    crypto::ensure_eq(&rebuilt, group_key).map_err(|_| {
        ServiceError::unverified(
            Check::Commitment,
            "the approved shares do not rebuild the account's secret",
        )
    })?;
    Ok(secret)
}

/// The new device's state.
#[derive(Clone, Debug)]
pub struct RequesterState {
    /// The account to recover.
    pub account_id: Digest,
    /// The account's group public key, to check the rebuilt secret.
    pub group_public_key: Digest,
    /// This device's X25519 key (its public key is the device key).
    pub device: SealKey,
    /// The current time.
    pub now: u64,
    /// The recovered secret, once recovered (zeroized on drop).
    pub recovered: Option<frost::SigningKey>,
}

/// One recovery as the new device plays it.
struct RequesterSession<'s> {
    state: &'s mut RequesterState,
    rebuilt: Option<(frost::SigningKey, u64)>,
    outcome: Option<RecoveryOutcome>,
}

impl choreo_recovery_protocol::Requester for RequesterSession<'_> {
    type Types = RecoveryTypes;
    type Error = ServiceError;

    async fn recovery_request(&mut self, _to: Peer) -> Result<RecoveryRequest, ServiceError> {
        let s = &self.state;
        Ok(RecoveryRequest {
            account_id: s.account_id,
            device_key: s.device.public(),
            requested_at: s.now,
        })
    }

    async fn on_recovery_bundle(
        &mut self,
        _from: Peer,
        msg: RecoveryShareBundle,
    ) -> Result<(), ServiceError> {
        let s = &self.state;
        let secret = rebuild(&s.device, &s.account_id, &s.group_public_key, &msg)?;
        self.rebuilt = Some((secret, msg.new_epoch));
        Ok(())
    }

    async fn device_binding(&mut self, _to: Peer) -> Result<msg::DeviceBinding, ServiceError> {
        let (_, epoch) = self
            .rebuilt
            .as_ref()
            .ok_or(ServiceError::Missing("recovery bundle"))?;
        Ok(msg::DeviceBinding {
            device_key: self.state.device.public().0,
            epoch: *epoch,
        })
    }

    async fn on_recovery_complete(
        &mut self,
        _from: Peer,
        msg: RecoveryOutcome,
    ) -> Result<(), ServiceError> {
        if msg.device_key != self.state.device.public().0 {
            return Err(ServiceError::unverified(
                Check::Binding,
                "the recovery bound another device",
            ));
        }
        self.outcome = Some(msg);
        Ok(())
    }
}

/// Runs the new device: asks for recovery, rebuilds and checks the secret
/// from the approved shares, and binds its key to the account.
pub async fn run_requester<T: Transport>(
    session: Session<'_, T>,
    state: &mut RequesterState,
) -> Result<RecoveryOutcome, ServiceError> {
    let log = FactLog::of(&session);
    let mut code = RequesterSession {
        state,
        rebuilt: None,
        outcome: None,
    };
    let run = choreo_recovery_protocol::execute_as(
        choreo_recovery_protocol::As::Requester(&mut code),
        session,
        &choreo_recovery_protocol::Params::default(),
    )
    .await;
    let RequesterSession {
        state,
        rebuilt,
        outcome,
    } = code;
    let done = run.map_err(ServiceError::from).map(|_| (rebuilt, outcome));
    match done {
        Ok((Some((secret, _)), Some(outcome))) => {
            log.record(RecoveryFact::Finished(outcome.clone())).await?;
            state.recovered = Some(secret);
            Ok(outcome)
        }
        Ok(_) => Err(ServiceError::Missing("recovery outcome")),
        Err(e) => {
            log.record(RecoveryFact::Failed(e.reason())).await?;
            Err(e)
        }
    }
}

/// The Coordinator's recovery state for the account.
#[derive(Clone, Debug)]
pub struct CoordinatorState {
    /// The account.
    pub account_id: Digest,
    /// Approvals needed.
    pub threshold: u16,
    /// The account epoch; advances on recovery.
    pub epoch: u64,
    /// Devices bound by recovery.
    pub devices: Vec<Digest>,
}

/// One recovery as the Coordinator plays it.
struct CoordinatorSession<'s> {
    state: &'s mut CoordinatorState,
    log: FactLog,
    request: Option<(RecoveryRequest, Digest)>,
    approvals: Vec<(u16, SealedShare)>,
    bound: Option<Digest>,
}

impl CoordinatorSession<'_> {
    /// The request and the recovery id it was given.
    fn request(&self) -> Result<&(RecoveryRequest, Digest), ServiceError> {
        self.request
            .as_ref()
            .ok_or(ServiceError::Missing("recovery request"))
    }

    fn ours(&self, from: Peer, recovery_id: &Digest) -> Result<(), ServiceError> {
        if *recovery_id == self.request()?.1 {
            Ok(())
        } else {
            Err(ServiceError::unverified(
                Check::Binding,
                format!("{from} answered another recovery"),
            ))
        }
    }

    fn outcome(&self) -> Result<RecoveryOutcome, ServiceError> {
        let recovery_id = self.request()?.1;
        let device_key = self.bound.ok_or(ServiceError::Missing("device binding"))?;
        Ok(RecoveryOutcome {
            recovery_id,
            device_key,
            epoch: self.state.epoch + 1,
            approvals: self.approvals.iter().map(|(g, _)| *g).collect(),
        })
    }
}

impl choreo_recovery_protocol::Coordinator for CoordinatorSession<'_> {
    type Types = RecoveryTypes;
    type Error = ServiceError;

    async fn on_recovery_request(
        &mut self,
        _from: Peer,
        msg: RecoveryRequest,
    ) -> Result<(), ServiceError> {
        if msg.account_id != self.state.account_id {
            return Err(ServiceError::Refused(
                "not an account this coordinator recovers".into(),
            ));
        }
        let at = msg.requested_at.to_le_bytes();
        let id = crypto::digest(
            "choreo-services/recovery/id",
            &[
                &self.state.account_id,
                &msg.device_key.0,
                &at,
                &crypto::random::<16>(),
            ],
        );
        self.request = Some((msg, id));
        Ok(())
    }

    async fn approval_request(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianApprovalRequest, ServiceError> {
        let (request, recovery_id) = self.request()?.clone();
        Ok(GuardianApprovalRequest {
            recovery_id,
            request,
        })
    }

    async fn on_guardian_approval(
        &mut self,
        from: Peer,
        msg: GuardianApproval,
    ) -> Result<(), ServiceError> {
        self.ours(from, &msg.recovery_id)?;
        let who = index_of(from)?;
        if msg.share.guardian != who {
            return Err(ServiceError::unverified(
                Check::Binding,
                format!("{from} sent another guardian's share"),
            ));
        }
        self.log.record(RecoveryFact::Approval(who, Ok(()))).await?;
        self.approvals.push((who, msg.share));
        Ok(())
    }

    async fn on_approval_refused(
        &mut self,
        from: Peer,
        msg: msg::ApprovalRefused,
    ) -> Result<(), ServiceError> {
        self.ours(from, &msg.recovery_id)?;
        let fact = RecoveryFact::Approval(index_of(from)?, Err(msg.reason));
        self.log.record(fact).await
    }

    async fn recovery_bundle(&mut self, _to: Peer) -> Result<RecoveryShareBundle, ServiceError> {
        let needed = self.state.threshold.max(1);
        if self.approvals.len() < usize::from(needed) {
            return Err(ServiceError::unverified(
                Check::Threshold,
                format!("{} approvals, {needed} needed", self.approvals.len()),
            ));
        }
        Ok(RecoveryShareBundle {
            recovery_id: self.request()?.1,
            shares: self.approvals.iter().map(|(_, s)| s.clone()).collect(),
            new_epoch: self.state.epoch + 1,
        })
    }

    async fn on_device_binding(
        &mut self,
        _from: Peer,
        msg: msg::DeviceBinding,
    ) -> Result<(), ServiceError> {
        let requested = self.request()?.0.device_key;
        if msg.device_key != requested.0 || msg.epoch != self.state.epoch + 1 {
            return Err(ServiceError::unverified(
                Check::Binding,
                "the binding is not for the requesting device and the next epoch",
            ));
        }
        self.bound = Some(msg.device_key);
        Ok(())
    }

    async fn recovery_finalized(&mut self, _to: Peer) -> Result<RecoveryOutcome, ServiceError> {
        self.outcome()
    }

    async fn recovery_complete(&mut self, _to: Peer) -> Result<RecoveryOutcome, ServiceError> {
        self.outcome()
    }
}

/// Runs the Coordinator: collects guardian approvals for the request, hands
/// the approved shares to the new device (cancelling the recovery when fewer
/// than the threshold approved), and finalizes once it bound its key.
pub async fn run_coordinator<T: Transport>(
    session: Session<'_, T>,
    state: &mut CoordinatorState,
) -> Result<RecoveryOutcome, ServiceError> {
    let log = FactLog::of(&session);
    let mut code = CoordinatorSession {
        state,
        log: log.clone(),
        request: None,
        approvals: Vec::new(),
        bound: None,
    };
    let run = choreo_recovery_protocol::execute_as(
        choreo_recovery_protocol::As::Coordinator(&mut code),
        session,
        &choreo_recovery_protocol::Params::default(),
    )
    .await;
    let result = run.map_err(ServiceError::from).and_then(|_| code.outcome());
    let state = code.state;
    match result {
        Ok(outcome) => {
            log.record(RecoveryFact::Finished(outcome.clone())).await?;
            state.epoch = outcome.epoch;
            state.devices.push(outcome.device_key);
            Ok(outcome)
        }
        Err(e) => {
            log.record(RecoveryFact::Failed(e.reason())).await?;
            Err(e)
        }
    }
}

/// When a guardian approves a recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// New devices it verified out of band (a call, a meeting).
    pub verified_devices: Vec<Digest>,
    /// Time that must pass between two approvals.
    pub cooldown: u64,
}

/// A guardian's recovery state.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// The accounts it guards, with their shares.
    pub guardianships: Vec<Guardianship>,
    /// Its policy.
    pub policy: ApprovalPolicy,
    /// When it last approved a recovery.
    pub last_approval: Option<u64>,
}

/// One recovery as a guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    log: FactLog,
    me: u16,
    request: Option<GuardianApprovalRequest>,
    finalized: Option<RecoveryOutcome>,
}

impl GuardianSession<'_> {
    fn request(&self) -> Result<&GuardianApprovalRequest, ServiceError> {
        self.request
            .as_ref()
            .ok_or(ServiceError::Missing("approval request"))
    }

    /// The share this guardian releases, or why it refuses.
    fn decide(&self) -> Result<Result<SealedShare, String>, ServiceError> {
        let req = self.request()?;
        let r = &req.request;
        let Some(held) = (self.state.guardianships.iter()).find(|g| g.account_id == r.account_id)
        else {
            return Ok(Err("does not guard this account".into()));
        };
        if !self.state.policy.verified_devices.contains(&r.device_key.0) {
            return Ok(Err("new device not verified".into()));
        }
        if self
            .state
            .last_approval
            .is_some_and(|t| r.requested_at < t + self.state.policy.cooldown)
        {
            return Ok(Err("within the cooldown of the last approval".into()));
        }
        let sealed = SealedShare::seal(
            &req.recovery_id,
            &r.account_id,
            self.me,
            &held.share,
            &r.device_key,
        )?;
        Ok(Ok(sealed))
    }
}

impl choreo_recovery_protocol::Guardian for GuardianSession<'_> {
    type Types = RecoveryTypes;
    type Error = ServiceError;

    async fn on_approval_request(
        &mut self,
        _from: Peer,
        msg: GuardianApprovalRequest,
    ) -> Result<(), ServiceError> {
        self.request = Some(msg);
        Ok(())
    }

    async fn choose_approve_or_refuse(&mut self) -> Result<ApproveOrRefuse, ServiceError> {
        Ok(match self.decide()? {
            Ok(_) => ApproveOrRefuse::Approve,
            Err(_) => ApproveOrRefuse::Refuse,
        })
    }

    async fn guardian_approval(&mut self, _to: Peer) -> Result<GuardianApproval, ServiceError> {
        let share = self.decide()?.map_err(|why| {
            ServiceError::Invalid(format!("asked to approve what it refuses: {why}"))
        })?;
        let req = self.request()?;
        let (recovery_id, at) = (req.recovery_id, req.request.requested_at);
        self.log
            .record(RecoveryFact::Approval(self.me, Ok(())))
            .await?;
        self.state.last_approval = Some(at);
        Ok(GuardianApproval { recovery_id, share })
    }

    async fn approval_refused(&mut self, _to: Peer) -> Result<msg::ApprovalRefused, ServiceError> {
        let Err(reason) = self.decide()? else {
            return Err(ServiceError::Invalid(
                "asked to refuse what it approves".into(),
            ));
        };
        self.log
            .record(RecoveryFact::Approval(self.me, Err(reason.clone())))
            .await?;
        Ok(msg::ApprovalRefused {
            recovery_id: self.request()?.recovery_id,
            reason,
        })
    }

    async fn on_recovery_finalized(
        &mut self,
        _from: Peer,
        msg: RecoveryOutcome,
    ) -> Result<(), ServiceError> {
        if msg.recovery_id != self.request()?.recovery_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "the outcome of another recovery",
            ));
        }
        self.finalized = Some(msg);
        Ok(())
    }
}

/// Runs a guardian: approves the recovery from its policy (releasing its
/// share sealed to the new device) or refuses it, and learns how the
/// recovery ended.
pub async fn run_guardian<T: Transport>(
    session: Session<'_, T>,
    state: &mut GuardianState,
) -> Result<RecoveryOutcome, ServiceError> {
    let me = match own_index(&session, choreo_recovery_protocol::Role::Guardian.name()) {
        Ok(me) => me,
        Err(e) => return Err(reject(session, e)),
    };
    let log = FactLog::of(&session);
    let mut code = GuardianSession {
        state,
        log: log.clone(),
        me,
        request: None,
        finalized: None,
    };
    let run = choreo_recovery_protocol::execute_as(
        choreo_recovery_protocol::As::Guardian(&mut code),
        session,
        &choreo_recovery_protocol::Params::default(),
    )
    .await;
    let GuardianSession { finalized, .. } = code;
    match run
        .map_err(ServiceError::from)
        .and_then(|_| finalized.ok_or(ServiceError::Missing("recovery outcome")))
    {
        Ok(outcome) => {
            log.record(RecoveryFact::Finished(outcome.clone())).await?;
            Ok(outcome)
        }
        Err(e) => {
            log.record(RecoveryFact::Failed(e.reason())).await?;
            Err(e)
        }
    }
}
