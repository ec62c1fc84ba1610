//! RecoveryProtocol: recover an account onto a new device with guardian shares.
//!
//! Implements the seed entry **RecoveryProtocol** (CHOREO-REC-001, owner
//! `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: every message derives from the
//! recovery request and journal state. Each guardian approves only for an
//! account it guards, a new device it verified out of band, and outside its
//! cooldown since its last approval; an approval carries its share (from
//! [`GuardianSetup`](super::guardian_setup)) sealed to the new device. The
//! new device rebuilds the secret from the bundle and checks it against the
//! account's group key before binding; the Coordinator declares the recovery
//! complete only when the threshold approved and the device bound its key.

use choreo_recovery_protocol::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::recovery::guardian_setup::{group_public_key, Guardianship};
use crate::shamir::{self, Share};
use crate::{index_of, own_index, ServiceError};

/// The new device's request to recover the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRequest {
    /// The account.
    pub account_id: Digest,
    /// The new device's key, shares are sealed to it.
    pub device_key: Digest,
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
    /// The share's evaluation point.
    pub index: u8,
    /// The share's bytes, sealed to the device key.
    pub sealed: Vec<u8>,
}

/// A guardian's approval with its sealed share, or its refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianApproval {
    /// The recovery.
    pub recovery_id: Digest,
    /// The sealed share, or why the guardian refuses.
    pub approval: Result<SealedShare, String>,
}

/// The approved shares for the new device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryShareBundle {
    /// The recovery.
    pub recovery_id: Digest,
    /// The shares (empty when too few guardians approved).
    pub shares: Vec<SealedShare>,
    /// The epoch the recovered account moves to.
    pub new_epoch: u64,
}

/// How the recovery ended, as everyone is told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryOutcome {
    /// The recovery.
    pub recovery_id: Digest,
    /// The device now bound to the account, when recovered.
    pub device_key: Option<Digest>,
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
    /// The recovery ended (as everyone was told).
    Finished(RecoveryOutcome),
}

/// The sealing key of a share for `device_key`.
fn sealing_key(device_key: &Digest, recovery_id: &Digest) -> Digest {
    crypto::digest("recovery/seal", &[device_key, recovery_id])
}

/// The new device's state.
#[derive(Clone, Debug)]
pub struct RequesterState {
    /// The account to recover.
    pub account_id: Digest,
    /// The account's group public key, to check the rebuilt secret.
    pub group_public_key: Digest,
    /// This device's key.
    pub device_key: Digest,
    /// The current time.
    pub now: u64,
    /// The recovered secret, once recovered.
    pub recovered: Option<[u8; 32]>,
    /// Facts of every attempt.
    pub journal: Journal<RecoveryFact>,
}

/// One recovery as the new device plays it.
struct RequesterSession<'s> {
    state: &'s mut RequesterState,
    rebuilt: Option<([u8; 32], u64)>,
    outcome: Option<RecoveryOutcome>,
}

impl choreo_recovery_protocol::Requester<RecoveryTypes> for RequesterSession<'_> {
    fn recovery_request(&mut self, _to: &Peer) -> RecoveryRequest {
        let s = &self.state;
        RecoveryRequest {
            account_id: s.account_id,
            device_key: s.device_key,
            requested_at: s.now,
        }
    }

    fn on_recovery_bundle(&mut self, _from: &Peer, msg: RecoveryShareBundle) {
        let key = sealing_key(&self.state.device_key, &msg.recovery_id);
        let shares: Vec<Share> = (msg.shares.iter())
            .filter_map(|s| {
                let bytes = crypto::array32(&crypto::open(&key, &[s.index], &s.sealed))?;
                Some(Share {
                    index: s.index,
                    bytes,
                })
            })
            .collect();
        let secret = shamir::combine(&shares);
        self.rebuilt = secret
            .filter(|s| group_public_key(s) == self.state.group_public_key)
            .map(|s| (s, msg.new_epoch));
    }

    fn device_binding(&mut self, _to: &Peer) -> msg::DeviceBinding {
        // Bind only once the secret checked out; a zero key binds nothing.
        match self.rebuilt {
            Some((_, epoch)) => msg::DeviceBinding {
                device_key: self.state.device_key,
                epoch,
            },
            None => msg::DeviceBinding {
                device_key: [0; 32],
                epoch: 0,
            },
        }
    }

    fn on_recovery_complete(&mut self, _from: &Peer, msg: RecoveryOutcome) {
        self.outcome = Some(msg);
    }
}

/// Runs the new device: asks for recovery, rebuilds and checks the secret
/// from the approved shares, and binds its key to the account.
pub async fn run_requester<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut RequesterState,
) -> Result<RecoveryOutcome, ServiceError> {
    let mut session = RequesterSession {
        state,
        rebuilt: None,
        outcome: None,
    };
    choreo_recovery_protocol::execute_as::<RecoveryTypes, _>(
        choreo_recovery_protocol::As::Requester(&mut session),
        adapter,
        &choreo_recovery_protocol::Params::default(),
    )
    .await?;
    let RequesterSession {
        state,
        rebuilt,
        outcome,
    } = session;
    let outcome = outcome.ok_or_else(|| ServiceError::Invalid("no recovery outcome".into()))?;
    if outcome.device_key == Some(state.device_key) {
        state.recovered = rebuilt.map(|(secret, _)| secret);
    }
    state
        .journal
        .record(RecoveryFact::Finished(outcome.clone()));
    Ok(outcome)
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
    /// Facts of every recovery.
    pub journal: Journal<RecoveryFact>,
}

/// One recovery as the Coordinator plays it.
struct CoordinatorSession<'s> {
    state: &'s mut CoordinatorState,
    request: Option<RecoveryRequest>,
    approvals: Vec<(u16, SealedShare)>,
    bound: Option<Digest>,
}

impl CoordinatorSession<'_> {
    fn recovery_id(&self) -> Digest {
        let req = self.request.as_ref();
        let device = req.map(|r| r.device_key).unwrap_or_default();
        let at = req
            .map(|r| r.requested_at)
            .unwrap_or_default()
            .to_le_bytes();
        crypto::digest("recovery/id", &[&self.state.account_id, &device, &at])
    }

    fn enough(&self) -> bool {
        self.approvals.len() >= usize::from(self.state.threshold.max(1))
    }

    fn outcome(&self) -> RecoveryOutcome {
        let epoch = self.state.epoch + u64::from(self.bound.is_some());
        RecoveryOutcome {
            recovery_id: self.recovery_id(),
            device_key: self.bound,
            epoch,
            approvals: self.approvals.iter().map(|(g, _)| *g).collect(),
        }
    }
}

impl choreo_recovery_protocol::Coordinator<RecoveryTypes> for CoordinatorSession<'_> {
    fn on_recovery_request(&mut self, _from: &Peer, msg: RecoveryRequest) {
        self.request = Some(msg);
    }

    fn approval_request(&mut self, _to: &Peer) -> GuardianApprovalRequest {
        let request = self.request.clone().unwrap_or(RecoveryRequest {
            account_id: [0; 32],
            device_key: [0; 32],
            requested_at: 0,
        });
        GuardianApprovalRequest {
            recovery_id: self.recovery_id(),
            request,
        }
    }

    fn on_guardian_approval(&mut self, from: &Peer, msg: GuardianApproval) {
        let who = index_of(from);
        let verdict = msg.approval.as_ref().map(|_| ()).map_err(Clone::clone);
        if let (Ok(share), true) = (msg.approval, msg.recovery_id == self.recovery_id()) {
            self.approvals.push((who, share));
        }
        self.state
            .journal
            .record(RecoveryFact::Approval(who, verdict));
    }

    fn recovery_bundle(&mut self, _to: &Peer) -> RecoveryShareBundle {
        let shares = if self.enough() {
            self.approvals.iter().map(|(_, s)| s.clone()).collect()
        } else {
            Vec::new()
        };
        RecoveryShareBundle {
            recovery_id: self.recovery_id(),
            shares,
            new_epoch: self.state.epoch + 1,
        }
    }

    fn on_device_binding(&mut self, _from: &Peer, msg: msg::DeviceBinding) {
        let requested = self.request.as_ref().map(|r| r.device_key);
        let valid =
            self.enough() && Some(msg.device_key) == requested && msg.epoch == self.state.epoch + 1;
        self.bound = valid.then_some(msg.device_key);
    }

    fn recovery_finalized(&mut self, _to: &Peer) -> RecoveryOutcome {
        self.outcome()
    }

    fn recovery_complete(&mut self, _to: &Peer) -> RecoveryOutcome {
        self.outcome()
    }
}

/// Runs the Coordinator: collects guardian approvals for the request, hands
/// the approved shares to the new device, and finalizes once it bound its key.
pub async fn run_coordinator<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut CoordinatorState,
) -> Result<RecoveryOutcome, ServiceError> {
    let mut session = CoordinatorSession {
        state,
        request: None,
        approvals: Vec::new(),
        bound: None,
    };
    choreo_recovery_protocol::execute_as::<RecoveryTypes, _>(
        choreo_recovery_protocol::As::Coordinator(&mut session),
        adapter,
        &choreo_recovery_protocol::Params::default(),
    )
    .await?;
    let outcome = session.outcome();
    let state = session.state;
    if let Some(device) = outcome.device_key {
        state.epoch = outcome.epoch;
        state.devices.push(device);
    }
    state
        .journal
        .record(RecoveryFact::Finished(outcome.clone()));
    Ok(outcome)
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
    /// Facts of every recovery it was asked about.
    pub journal: Journal<RecoveryFact>,
}

/// One recovery as a guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    me: u16,
    request: Option<GuardianApprovalRequest>,
    finalized: Option<RecoveryOutcome>,
}

impl GuardianSession<'_> {
    fn decide(&self) -> Result<SealedShare, String> {
        let req = self.request.as_ref().ok_or("no request")?;
        let r = &req.request;
        let held = (self.state.guardianships.iter())
            .find(|g| g.account_id == r.account_id)
            .ok_or("does not guard this account")?;
        if !self.state.policy.verified_devices.contains(&r.device_key) {
            return Err("new device not verified".into());
        }
        if self
            .state
            .last_approval
            .is_some_and(|t| r.requested_at < t + self.state.policy.cooldown)
        {
            return Err("within the cooldown of the last approval".into());
        }
        let key = sealing_key(&r.device_key, &req.recovery_id);
        let sealed = crypto::seal(&key, &[held.share.index], &held.share.bytes);
        Ok(SealedShare {
            index: held.share.index,
            sealed,
        })
    }
}

impl choreo_recovery_protocol::Guardian<RecoveryTypes> for GuardianSession<'_> {
    fn on_approval_request(&mut self, _from: &Peer, msg: GuardianApprovalRequest) {
        self.request = Some(msg);
    }

    fn guardian_approval(&mut self, _to: &Peer) -> GuardianApproval {
        let approval = self.decide();
        if approval.is_ok() {
            self.state.last_approval = self.request.as_ref().map(|r| r.request.requested_at);
        }
        let verdict = approval.as_ref().map(|_| ()).map_err(Clone::clone);
        self.state
            .journal
            .record(RecoveryFact::Approval(self.me, verdict));
        let recovery_id = self
            .request
            .as_ref()
            .map(|r| r.recovery_id)
            .unwrap_or_default();
        GuardianApproval {
            recovery_id,
            approval,
        }
    }

    fn on_recovery_finalized(&mut self, _from: &Peer, msg: RecoveryOutcome) {
        self.finalized = Some(msg);
    }
}

/// Runs a guardian: approves the recovery from its policy, releasing its
/// share sealed to the new device, and learns how the recovery ended.
pub async fn run_guardian<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut GuardianState,
) -> Result<RecoveryOutcome, ServiceError> {
    let me = own_index(adapter, "Guardian")?;
    let mut session = GuardianSession {
        state,
        me,
        request: None,
        finalized: None,
    };
    choreo_recovery_protocol::execute_as::<RecoveryTypes, _>(
        choreo_recovery_protocol::As::Guardian(&mut session),
        adapter,
        &choreo_recovery_protocol::Params::default(),
    )
    .await?;
    let outcome = session
        .finalized
        .ok_or_else(|| ServiceError::Invalid("no recovery outcome".into()))?;
    session
        .state
        .journal
        .record(RecoveryFact::Finished(outcome.clone()));
    Ok(outcome)
}
