//! AuraConsensus: threshold agreement on one operation over a witness family.
//!
//! Implements the seed entry **AuraConsensus** (CHOREO-CONS-001, owner
//! `aura-consensus`, seed entry point `runtime_bridge/consensus.rs`).
//! Decision sourcing as the seed says: every payload derives from
//! [`ConsensusParams`] and local consensus state. The threshold signature is
//! FROST over Ed25519 (`frost-ed25519`): each witness holds a key package
//! (its signing share), the Coordinator only the public key package.
//!
//! A witness whose view (prestate, epoch) does not match the proposal says
//! so in its nonce commitment (it sends none) and later takes the
//! protocol's `Decline` branch; the others commit to fresh nonces. The
//! Coordinator builds the FROST signing package from the commitments it got
//! (at least `threshold`, or it refuses: too few willing witnesses); each
//! witness in it checks the package (the message is the proposed operation,
//! its own commitment is in it) and signs. The Coordinator verifies every
//! signature share against the witness's verifying share as it arrives and
//! aggregates them; the signature verifies under the group key, and every
//! witness checks that before applying the operation.
//!
//! # Who learns what
//!
//! - The Coordinator sees the proposal, nonce commitments, signature shares
//!   and the aggregate signature: all public values. It never holds a
//!   signing share or a nonce, so it cannot produce any witness's share or
//!   a signature (the "forge a share" is a share that fails
//!   `verify_signature_share`).
//! - Nonce commitments leak only what `leak = "pipelined_commitment"`
//!   allows: commitments to fresh random nonces, one per instance (nonces
//!   are used once and zeroized on drop).
//! - The published result (signature, signers, poststate) is visible to the
//!   witnesses (`leak = "Neighbor"`).
//!
//! A value that does not check out makes the role that finds it refuse with
//! [`ServiceError::Unverified`] (cancelling the instance), recording nothing
//! of that step.

use std::collections::BTreeMap;

use choreo_aura_consensus::choice::DeclineOrSign;
use choreo_aura_consensus::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, frost, Digest};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::{family_size, index_of, own_index, reject, ServiceError};

/// An account-level operation to agree on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// What it does (`"tree.add_device"`).
    pub kind: String,
    /// Its encoded arguments.
    pub payload: Vec<u8>,
}

/// The proposal: an operation bound to its prestate and epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecuteMsg {
    /// Identifies this instance.
    pub consensus_id: Digest,
    /// The state the operation applies to.
    pub prestate_hash: Digest,
    /// The operation.
    pub operation: Operation,
    /// The epoch it belongs to.
    pub epoch: u64,
}

/// A witness's FROST nonce commitments, or none when it will not sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceCommitMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// The serialised `SigningCommitments` of its fresh nonces; `None` when
    /// the proposal does not match its view (it declines later).
    pub commitments: Option<Vec<u8>>,
}

/// The FROST signing package: the message and the signers' commitments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequestMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// The serialised `SigningPackage`.
    pub signing_package: Vec<u8>,
}

/// A witness's FROST signature share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignShareMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// The serialised `SignatureShare`.
    pub share: Vec<u8>,
}

/// The committed result: the threshold signature and the poststate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusResultMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// The serialised FROST signature (verifies under the group key).
    pub signature: Vec<u8>,
    /// Member indices of the witnesses whose shares are in it.
    pub signers: Vec<u16>,
    /// The state after the operation.
    pub poststate: Digest,
}

/// Binds the protocol's payload types to this module's.
pub struct ConsensusTypes;

impl choreo_aura_consensus::Types for ConsensusTypes {
    type ExecuteMsg = ExecuteMsg;
    type NonceCommitMsg = NonceCommitMsg;
    type SignRequestMsg = SignRequestMsg;
    type SignShareMsg = SignShareMsg;
    type ConsensusResultMsg = ConsensusResultMsg;
}

/// A fact of consensus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsensusFact {
    /// An operation was proposed.
    Proposed(Digest),
    /// A witness gave a valid share (`true`), or declined (`false`).
    Signed(Digest, u16, bool),
    /// The operation was committed with these signers.
    Committed(Digest, Vec<u16>),
    /// The instance failed (too few willing witnesses, a refused value, a
    /// peer cancelled it).
    Failed(Digest, String),
    /// A witness applied the committed operation to its view.
    Applied(Digest, Digest),
}

impl DomainFact for ConsensusFact {
    const PROTOCOL: &'static str = "AuraConsensus";

    fn kind(&self) -> &'static str {
        match self {
            ConsensusFact::Proposed(..) => "Proposed",
            ConsensusFact::Signed(..) => "Signed",
            ConsensusFact::Committed(..) => "Committed",
            ConsensusFact::Failed(..) => "Failed",
            ConsensusFact::Applied(..) => "Applied",
        }
    }
}

/// The account's consensus parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusParams {
    /// Valid shares needed to commit (FROST's `min_signers`).
    pub threshold: u16,
    /// The current epoch.
    pub epoch: u64,
    /// The witnesses' verifying shares and the group key, from the key
    /// generation (witness `k` has FROST identifier `k + 1`).
    pub public_keys: frost::keys::PublicKeyPackage,
}

/// The Coordinator's consensus state.
#[derive(Clone, Debug)]
pub struct CoordinatorState {
    /// Parameters.
    pub params: ConsensusParams,
    /// The account state operations apply to; advances on commit.
    pub prestate_hash: Digest,
}

/// How a committed instance ended for the Coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusOutcome {
    /// The state after the operation.
    pub poststate: Digest,
    /// The threshold signature over [`signing_message`].
    pub signature: frost::Signature,
    /// Whose shares it holds.
    pub signers: Vec<u16>,
}

/// The message witnesses sign for `execute`.
pub fn signing_message(execute: &ExecuteMsg) -> Digest {
    let op = &execute.operation;
    let parts: [&[u8]; 5] = [
        &execute.consensus_id,
        &execute.prestate_hash,
        op.kind.as_bytes(),
        &op.payload,
        &execute.epoch.to_le_bytes(),
    ];
    crypto::digest("choreo-services/consensus/message", &parts)
}

/// The state after `operation` applies to `prestate`.
fn poststate(prestate: &Digest, operation: &Operation) -> Digest {
    let parts: [&[u8]; 3] = [prestate, operation.kind.as_bytes(), &operation.payload];
    crypto::digest("choreo-services/consensus/poststate", &parts)
}

fn identifier(peer: Peer) -> Result<frost::Identifier, ServiceError> {
    crypto::identifier(index_of(peer)?).map_err(|e| ServiceError::Invalid(e.to_string()))
}

/// Checks that a message names this instance.
fn ours(from: Peer, got: &Digest, ours: &Digest) -> Result<(), ServiceError> {
    if got == ours {
        Ok(())
    } else {
        Err(ServiceError::unverified(
            Check::Binding,
            format!("{from} answered another instance"),
        ))
    }
}

/// One instance as the Coordinator plays it.
struct CoordinatorSession<'s> {
    state: &'s mut CoordinatorState,
    log: FactLog,
    execute: ExecuteMsg,
    commitments: BTreeMap<frost::Identifier, frost::round1::SigningCommitments>,
    package: Option<frost::SigningPackage>,
    shares: BTreeMap<frost::Identifier, frost::round2::SignatureShare>,
    signers: Vec<u16>,
    result: Option<ConsensusResultMsg>,
}

impl CoordinatorSession<'_> {
    fn package(&self) -> Result<&frost::SigningPackage, ServiceError> {
        self.package
            .as_ref()
            .ok_or(ServiceError::Missing("signing package"))
    }

    /// The aggregate of every share of the signing package.
    fn aggregate(&self) -> Result<ConsensusResultMsg, ServiceError> {
        let package = self.package()?;
        if self.shares.len() != package.signing_commitments().len() {
            return Err(ServiceError::unverified(
                Check::Threshold,
                format!(
                    "{} of the {} witnesses of the signing set signed",
                    self.shares.len(),
                    package.signing_commitments().len()
                ),
            ));
        }
        let signature = frost::aggregate(package, &self.shares, &self.state.params.public_keys)
            .map_err(|e| ServiceError::unverified(Check::Signature, e.to_string()))?;
        Ok(ConsensusResultMsg {
            consensus_id: self.execute.consensus_id,
            signature: signature
                .serialize()
                .map_err(|e| ServiceError::Invalid(e.to_string()))?,
            signers: self.signers.clone(),
            poststate: poststate(&self.execute.prestate_hash, &self.execute.operation),
        })
    }
}

impl choreo_aura_consensus::Coordinator for CoordinatorSession<'_> {
    type Types = ConsensusTypes;
    type Error = ServiceError;

    async fn execute(&mut self, _to: Peer) -> Result<ExecuteMsg, ServiceError> {
        Ok(self.execute.clone())
    }

    async fn on_nonce_commit(
        &mut self,
        from: Peer,
        msg: NonceCommitMsg,
    ) -> Result<(), ServiceError> {
        ours(from, &msg.consensus_id, &self.execute.consensus_id)?;
        if let Some(bytes) = msg.commitments {
            let commitments =
                frost::round1::SigningCommitments::deserialize(&bytes).map_err(|_| {
                    ServiceError::unverified(Check::Nonce, format!("{from}'s nonce commitments"))
                })?;
            self.commitments.insert(identifier(from)?, commitments);
        }
        Ok(())
    }

    async fn sign_request(&mut self, _to: Peer) -> Result<SignRequestMsg, ServiceError> {
        if self.package.is_none() {
            let needed = self.state.params.threshold;
            if self.commitments.len() < usize::from(needed) {
                return Err(ServiceError::unverified(
                    Check::Threshold,
                    format!(
                        "{} witnesses will sign, {needed} needed",
                        self.commitments.len()
                    ),
                ));
            }
            let message = signing_message(&self.execute);
            self.package = Some(frost::SigningPackage::new(
                self.commitments.clone(),
                &message,
            ));
        }
        Ok(SignRequestMsg {
            consensus_id: self.execute.consensus_id,
            signing_package: self
                .package()?
                .serialize()
                .map_err(|e| ServiceError::Invalid(e.to_string()))?,
        })
    }

    async fn on_sign_share(&mut self, from: Peer, msg: SignShareMsg) -> Result<(), ServiceError> {
        ours(from, &msg.consensus_id, &self.execute.consensus_id)?;
        let id = identifier(from)?;
        let forged = || ServiceError::unverified(Check::Signature, format!("{from}'s share"));
        let share = frost::round2::SignatureShare::deserialize(&msg.share).map_err(|_| forged())?;
        let public = &self.state.params.public_keys;
        let verifying_share = public.verifying_shares().get(&id).ok_or_else(forged)?;
        frost_core::verify_signature_share(
            id,
            verifying_share,
            &share,
            self.package()?,
            public.verifying_key(),
        )
        .map_err(|_| forged())?;
        let witness = index_of(from)?;
        self.log
            .record(ConsensusFact::Signed(
                self.execute.consensus_id,
                witness,
                true,
            ))
            .await?;
        self.shares.insert(id, share);
        self.signers.push(witness);
        Ok(())
    }

    async fn on_sign_decline(
        &mut self,
        from: Peer,
        msg: msg::SignDecline,
    ) -> Result<(), ServiceError> {
        ours(from, &msg.consensus_id, &self.execute.consensus_id)?;
        let fact = ConsensusFact::Signed(self.execute.consensus_id, index_of(from)?, false);
        self.log.record(fact).await
    }

    async fn consensus_result(&mut self, _to: Peer) -> Result<ConsensusResultMsg, ServiceError> {
        if self.result.is_none() {
            let result = self.aggregate()?;
            let fact = ConsensusFact::Committed(self.execute.consensus_id, result.signers.clone());
            self.log.record(fact).await?;
            self.result = Some(result);
        }
        self.result.clone().ok_or(ServiceError::Missing("result"))
    }

    async fn on_result_ack(&mut self, from: Peer, msg: msg::ResultAck) -> Result<(), ServiceError> {
        ours(from, &msg.consensus_id, &self.execute.consensus_id)
    }
}

/// The proposal of `operation`, checked against the parameters for `witnesses`.
fn propose(
    state: &CoordinatorState,
    witnesses: u16,
    operation: Operation,
) -> Result<ExecuteMsg, ServiceError> {
    let params = &state.params;
    let keys = params.public_keys.verifying_shares().len();
    if keys < usize::from(witnesses) || params.threshold < 2 || params.threshold > witnesses {
        return Err(ServiceError::Invalid(format!(
            "threshold {} and {keys} witness keys for {witnesses} witnesses",
            params.threshold,
        )));
    }
    let epoch = params.epoch;
    let consensus_id = crypto::digest(
        "choreo-services/consensus/id",
        &[
            &state.prestate_hash,
            operation.kind.as_bytes(),
            &operation.payload,
            &epoch.to_le_bytes(),
            &crypto::random::<16>(),
        ],
    );
    Ok(ExecuteMsg {
        consensus_id,
        prestate_hash: state.prestate_hash,
        operation,
        epoch,
    })
}

/// Runs the Coordinator: proposes `operation` against the current prestate,
/// collects nonce commitments and signature shares, and commits iff
/// `threshold` witnesses signed and every share verified; otherwise it
/// cancels the instance.
pub async fn run_coordinator<T: Transport>(
    session: Session<'_, T>,
    state: &mut CoordinatorState,
    operation: Operation,
) -> Result<ConsensusOutcome, ServiceError> {
    let proposed =
        family_size(&session, Role::Witness.index()).and_then(|n| propose(state, n, operation));
    let execute = match proposed {
        Ok(execute) => execute,
        Err(e) => return Err(reject(session, e)),
    };
    let log = FactLog::of(&session);
    let consensus_id = execute.consensus_id;
    if let Err(e) = log.record(ConsensusFact::Proposed(consensus_id)).await {
        return Err(reject(session, e));
    }
    let mut code = CoordinatorSession {
        state,
        log: log.clone(),
        execute,
        commitments: BTreeMap::new(),
        package: None,
        shares: BTreeMap::new(),
        signers: Vec::new(),
        result: None,
    };
    let run = choreo_aura_consensus::execute_as(
        choreo_aura_consensus::As::Coordinator(&mut code),
        session,
        &choreo_aura_consensus::Params::default(),
    )
    .await;
    let result = run
        .map_err(ServiceError::from)
        .and_then(|_| code.result.clone().ok_or(ServiceError::Missing("result")));
    let state = code.state;
    match result {
        Ok(result) => {
            let signature = frost::Signature::deserialize(&result.signature)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            state.prestate_hash = result.poststate;
            Ok(ConsensusOutcome {
                poststate: result.poststate,
                signature,
                signers: result.signers,
            })
        }
        Err(e) => {
            log.record(ConsensusFact::Failed(consensus_id, e.reason()))
                .await?;
            Err(e)
        }
    }
}

/// What a witness believes the account state is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessView {
    /// The account state it last saw committed.
    pub prestate_hash: Digest,
    /// The current epoch.
    pub epoch: u64,
}

/// A witness's consensus state.
#[derive(Clone, Debug)]
pub struct WitnessState {
    /// Its FROST key package (signing share zeroized on drop, verifying
    /// share, group key).
    pub key_package: frost::keys::KeyPackage,
    /// Its view; advances when a committed operation applies to it.
    pub view: WitnessView,
}

/// How a committed instance ended for a witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessOutcome {
    /// Whether it signed.
    pub signed: bool,
    /// Whether it applied the operation to its view.
    pub applied: bool,
}

/// One instance as a witness plays it.
struct WitnessSession<'s> {
    state: &'s mut WitnessState,
    log: FactLog,
    me: u16,
    execute: Option<ExecuteMsg>,
    /// This instance's nonces (used once, zeroized on drop), when it signs.
    nonces: Option<frost::round1::SigningNonces>,
    objection: Option<String>,
    package: Option<frost::SigningPackage>,
    signed: bool,
    result: Option<ConsensusResultMsg>,
}

impl WitnessSession<'_> {
    fn execute(&self) -> Result<&ExecuteMsg, ServiceError> {
        self.execute
            .as_ref()
            .ok_or(ServiceError::Missing("proposal"))
    }

    /// Why this witness does not sign `execute`, if it does not.
    fn objection(&self, execute: &ExecuteMsg) -> Option<String> {
        let view = &self.state.view;
        (execute.prestate_hash != view.prestate_hash || execute.epoch != view.epoch)
            .then(|| "the prestate or epoch does not match this witness's view".into())
    }
}

impl choreo_aura_consensus::Witness for WitnessSession<'_> {
    type Types = ConsensusTypes;
    type Error = ServiceError;

    async fn on_execute(&mut self, _from: Peer, msg: ExecuteMsg) -> Result<(), ServiceError> {
        self.objection = self.objection(&msg);
        self.execute = Some(msg);
        Ok(())
    }

    async fn nonce_commit(&mut self, _to: Peer) -> Result<NonceCommitMsg, ServiceError> {
        let consensus_id = self.execute()?.consensus_id;
        let commitments = match self.objection {
            Some(_) => None,
            None => {
                let share = self.state.key_package.signing_share();
                let (nonces, commitments) = frost::round1::commit(share, &mut crypto::rng());
                self.nonces = Some(nonces);
                Some(
                    commitments
                        .serialize()
                        .map_err(|e| ServiceError::Invalid(e.to_string()))?,
                )
            }
        };
        Ok(NonceCommitMsg {
            consensus_id,
            commitments,
        })
    }

    async fn on_sign_request(
        &mut self,
        from: Peer,
        msg: SignRequestMsg,
    ) -> Result<(), ServiceError> {
        let execute = self.execute()?;
        ours(from, &msg.consensus_id, &execute.consensus_id)?;
        let package = frost::SigningPackage::deserialize(&msg.signing_package)
            .map_err(|_| ServiceError::unverified(Check::Transcript, "the signing package"))?;
        if package.message().as_slice() != signing_message(execute) {
            return Err(ServiceError::unverified(
                Check::Transcript,
                "the signing package is not for the proposed operation",
            ));
        }
        self.package = Some(package);
        Ok(())
    }

    async fn choose_decline_or_sign(&mut self) -> Result<DeclineOrSign, ServiceError> {
        Ok(match self.nonces {
            Some(_) => DeclineOrSign::Sign,
            None => DeclineOrSign::Decline,
        })
    }

    async fn sign_share(&mut self, _to: Peer) -> Result<SignShareMsg, ServiceError> {
        let package = self
            .package
            .as_ref()
            .ok_or(ServiceError::Missing("signing package"))?;
        let nonces = self.nonces.take().ok_or(ServiceError::Missing("nonces"))?;
        // FROST checks that this witness's own commitment is in the package.
        let share =
            frost::round2::sign(package, &nonces, &self.state.key_package).map_err(|e| {
                ServiceError::unverified(Check::Nonce, format!("the signing package: {e}"))
            })?;
        let consensus_id = self.execute()?.consensus_id;
        self.log
            .record(ConsensusFact::Signed(consensus_id, self.me, true))
            .await?;
        self.signed = true;
        Ok(SignShareMsg {
            consensus_id,
            share: share.serialize(),
        })
    }

    async fn sign_decline(&mut self, _to: Peer) -> Result<msg::SignDecline, ServiceError> {
        let reason = self
            .objection
            .clone()
            .ok_or_else(|| ServiceError::Invalid("asked to decline what it signs".into()))?;
        let consensus_id = self.execute()?.consensus_id;
        self.log
            .record(ConsensusFact::Signed(consensus_id, self.me, false))
            .await?;
        Ok(msg::SignDecline {
            consensus_id,
            reason,
        })
    }

    async fn on_consensus_result(
        &mut self,
        from: Peer,
        msg: ConsensusResultMsg,
    ) -> Result<(), ServiceError> {
        let execute = self.execute()?;
        ours(from, &msg.consensus_id, &execute.consensus_id)?;
        let forged = || ServiceError::unverified(Check::Signature, "the result's signature");
        let signature = frost::Signature::deserialize(&msg.signature).map_err(|_| forged())?;
        self.state
            .key_package
            .verifying_key()
            .verify(&signing_message(execute), &signature)
            .map_err(|_| forged())?;
        self.result = Some(msg);
        Ok(())
    }

    async fn result_ack(&mut self, _to: Peer) -> Result<msg::ResultAck, ServiceError> {
        Ok(msg::ResultAck {
            consensus_id: self.execute()?.consensus_id,
            epoch: self.state.view.epoch,
        })
    }
}

/// Runs a witness: commits to fresh nonces and signs iff the operation
/// matches its view (declining otherwise), checks the threshold signature,
/// and applies the committed operation to its view when it follows from it.
pub async fn run_witness<T: Transport>(
    session: Session<'_, T>,
    state: &mut WitnessState,
) -> Result<WitnessOutcome, ServiceError> {
    let me = match own_index(&session, Role::Witness.name()) {
        Ok(me) => me,
        Err(e) => return Err(reject(session, e)),
    };
    let log = FactLog::of(&session);
    let mut code = WitnessSession {
        state,
        log: log.clone(),
        me,
        execute: None,
        nonces: None,
        objection: None,
        package: None,
        signed: false,
        result: None,
    };
    choreo_aura_consensus::execute_as(
        choreo_aura_consensus::As::Witness(&mut code),
        session,
        &choreo_aura_consensus::Params::default(),
    )
    .await?;
    let WitnessSession {
        state,
        execute,
        signed,
        result,
        ..
    } = code;
    let (Some(execute), Some(result)) = (execute, result) else {
        return Err(ServiceError::Missing("consensus result"));
    };
    // Apply only what follows from this witness's own view of the state.
    let applied = execute.prestate_hash == state.view.prestate_hash
        && poststate(&state.view.prestate_hash, &execute.operation) == result.poststate;
    if applied {
        log.record(ConsensusFact::Applied(
            execute.consensus_id,
            result.poststate,
        ))
        .await?;
        state.view.prestate_hash = result.poststate;
    }
    Ok(WitnessOutcome { signed, applied })
}
