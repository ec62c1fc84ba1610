//! AuraConsensus: threshold agreement on one operation over a witness family.
//!
//! Implements the seed entry **AuraConsensus** (CHOREO-CONS-001, owner
//! `aura-consensus`, seed entry point `runtime_bridge/consensus.rs`).
//! Decision sourcing as the seed says: every payload derives from
//! [`ConsensusParams`] and local consensus state. Each witness signs only an
//! operation whose prestate and epoch match its own view, and whose nonce set
//! holds its own commitment; otherwise it takes the protocol's `Decline`
//! branch with its reason. The Coordinator verifies every share under the
//! witness's registered key and commits iff `threshold` valid shares
//! arrived; with fewer it refuses to publish a result, which cancels the
//! instance for every witness.

use choreo_aura_consensus::choice::DeclineOrSign;
use choreo_aura_consensus::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::stand_in::Journal;
use crate::stand_in::{self as crypto, Digest};
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

/// A witness's commitment to its signing nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceCommitMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// Digest of the witness's fresh nonce.
    pub commitment: Digest,
}

/// The nonce set and the message to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequestMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// Digest of (prestate, operation, epoch): what is signed.
    pub message: Digest,
    /// Every witness's nonce commitment, by member index.
    pub commitments: Vec<(u16, Digest)>,
}

/// A witness's signature share (a witness that does not sign declines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignShareMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// The share.
    pub share: Digest,
}

/// The committed result: the threshold signature and the poststate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusResultMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// The aggregate of the valid shares.
    pub signature: Digest,
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
    /// A witness gave a valid share (`true`), or declined or gave an invalid one.
    Signed(Digest, u16, bool),
    /// The operation was committed with these signers.
    Committed(Digest, Vec<u16>),
    /// The instance failed (too few valid shares, or a peer cancelled it).
    Failed(Digest, String),
    /// A witness applied the committed operation to its view.
    Applied(Digest, Digest),
}

/// The account's consensus parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusParams {
    /// Valid shares needed to commit.
    pub threshold: u16,
    /// The current epoch.
    pub epoch: u64,
    /// Each witness's registered signing key, by member index.
    pub witness_keys: Vec<Digest>,
}

/// The Coordinator's consensus state.
#[derive(Clone, Debug)]
pub struct CoordinatorState {
    /// Parameters.
    pub params: ConsensusParams,
    /// The account state operations apply to; advances on commit.
    pub prestate_hash: Digest,
    /// Facts of every instance.
    pub journal: Journal<ConsensusFact>,
}

/// How a committed instance ended for the Coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusOutcome {
    /// The state after the operation.
    pub poststate: Digest,
    /// The aggregate signature.
    pub signature: Digest,
    /// Whose shares it holds.
    pub signers: Vec<u16>,
}

/// The message witnesses sign.
fn signing_message(execute: &ExecuteMsg) -> Digest {
    let op = &execute.operation;
    let epoch = execute.epoch.to_le_bytes();
    let parts: [&[u8]; 4] = [
        &execute.prestate_hash,
        op.kind.as_bytes(),
        &op.payload,
        &epoch,
    ];
    crypto::digest("consensus/message", &parts)
}

/// The state after `operation` applies to `prestate`.
fn poststate(prestate: &Digest, operation: &Operation) -> Digest {
    let parts: [&[u8]; 3] = [prestate, operation.kind.as_bytes(), &operation.payload];
    crypto::digest("consensus/poststate", &parts)
}

/// Digest of a nonce commitment set, bound into every share.
fn nonce_set_digest(commitments: &[(u16, Digest)]) -> Digest {
    let parts: Vec<Vec<u8>> = commitments
        .iter()
        .map(|(i, c)| [&i.to_le_bytes()[..], c].concat())
        .collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    crypto::digest("consensus/nonces", &refs)
}

/// One instance as the Coordinator plays it.
struct CoordinatorSession<'s> {
    state: &'s mut CoordinatorState,
    execute: ExecuteMsg,
    commitments: Vec<(u16, Digest)>,
    signers: Vec<u16>,
    shares: Vec<Digest>,
}

impl CoordinatorSession<'_> {
    /// The result to publish, or why there is none (too few valid shares).
    fn result(&self) -> Result<ConsensusResultMsg, ServiceError> {
        let needed = self.state.params.threshold.max(1);
        if self.signers.len() < usize::from(needed) {
            return Err(ServiceError::Refused(format!(
                "{} valid shares, {needed} needed",
                self.signers.len()
            )));
        }
        let shares: Vec<&[u8]> = self.shares.iter().map(|s| s.as_slice()).collect();
        Ok(ConsensusResultMsg {
            consensus_id: self.execute.consensus_id,
            signature: crypto::digest("consensus/aggregate", &shares),
            signers: self.signers.clone(),
            poststate: poststate(&self.execute.prestate_hash, &self.execute.operation),
        })
    }

    /// Checks that a witness's message is about this instance.
    fn ours(&self, from: Peer, consensus_id: &Digest) -> Result<(), ServiceError> {
        if *consensus_id == self.execute.consensus_id {
            Ok(())
        } else {
            Err(ServiceError::Refused(format!(
                "{from} answered another instance"
            )))
        }
    }

    fn record(&mut self, witness: u16, valid: bool) {
        let fact = ConsensusFact::Signed(self.execute.consensus_id, witness, valid);
        self.state.journal.record(fact);
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
        self.ours(from, &msg.consensus_id)?;
        self.commitments.push((index_of(from)?, msg.commitment));
        Ok(())
    }

    async fn sign_request(&mut self, _to: Peer) -> Result<SignRequestMsg, ServiceError> {
        Ok(SignRequestMsg {
            consensus_id: self.execute.consensus_id,
            message: signing_message(&self.execute),
            commitments: self.commitments.clone(),
        })
    }

    async fn on_sign_share(&mut self, from: Peer, msg: SignShareMsg) -> Result<(), ServiceError> {
        self.ours(from, &msg.consensus_id)?;
        let witness = index_of(from)?;
        let key = self.state.params.witness_keys.get(usize::from(witness));
        let expected = key.map(|k| {
            let nonces = nonce_set_digest(&self.commitments);
            crypto::mac(k, &[&signing_message(&self.execute), &nonces])
        });
        // A share that does not verify is left out, like a declined one.
        let valid = expected == Some(msg.share);
        if valid {
            self.signers.push(witness);
            self.shares.push(msg.share);
        }
        self.record(witness, valid);
        Ok(())
    }

    async fn on_sign_decline(
        &mut self,
        from: Peer,
        msg: msg::SignDecline,
    ) -> Result<(), ServiceError> {
        self.ours(from, &msg.consensus_id)?;
        self.record(index_of(from)?, false);
        Ok(())
    }

    async fn consensus_result(&mut self, _to: Peer) -> Result<ConsensusResultMsg, ServiceError> {
        self.result()
    }

    async fn on_result_ack(&mut self, from: Peer, msg: msg::ResultAck) -> Result<(), ServiceError> {
        self.ours(from, &msg.consensus_id)
    }
}

/// The proposal of `operation`, checked against the parameters for `witnesses`.
fn propose(
    state: &CoordinatorState,
    witnesses: u16,
    operation: Operation,
) -> Result<ExecuteMsg, ServiceError> {
    let params = &state.params;
    if params.witness_keys.len() < usize::from(witnesses) || params.threshold > witnesses {
        return Err(ServiceError::Invalid(format!(
            "threshold {} and {} witness keys for {witnesses} witnesses",
            params.threshold,
            params.witness_keys.len()
        )));
    }
    let epoch = params.epoch;
    let consensus_id = crypto::digest(
        "consensus/id",
        &[
            &state.prestate_hash,
            operation.kind.as_bytes(),
            &operation.payload,
            &epoch.to_le_bytes(),
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
/// `threshold` shares verify; with fewer it cancels the instance.
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
    let consensus_id = execute.consensus_id;
    state.journal.record(ConsensusFact::Proposed(consensus_id));
    let mut code = CoordinatorSession {
        state,
        execute,
        commitments: Vec::new(),
        signers: Vec::new(),
        shares: Vec::new(),
    };
    let run = choreo_aura_consensus::execute_as(
        choreo_aura_consensus::As::Coordinator(&mut code),
        session,
        &choreo_aura_consensus::Params::default(),
    )
    .await;
    let result = run.map_err(ServiceError::from).and_then(|_| code.result());
    let state = code.state;
    match result {
        Ok(result) => {
            let signers = result.signers;
            state
                .journal
                .record(ConsensusFact::Committed(consensus_id, signers.clone()));
            state.prestate_hash = result.poststate;
            Ok(ConsensusOutcome {
                poststate: result.poststate,
                signature: result.signature,
                signers,
            })
        }
        Err(e) => {
            state
                .journal
                .record(ConsensusFact::Failed(consensus_id, e.reason()));
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
    /// Its signing key (registered with the account).
    pub signing_key: Digest,
    /// Seed of its per-instance signing nonces.
    pub nonce_seed: Digest,
    /// Its view; advances when a committed operation applies to it.
    pub view: WitnessView,
    /// Facts of every instance it took part in.
    pub journal: Journal<ConsensusFact>,
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
    me: u16,
    execute: Option<ExecuteMsg>,
    commitment: Option<Digest>,
    request: Option<SignRequestMsg>,
    signed: bool,
    result: Option<ConsensusResultMsg>,
}

impl WitnessSession<'_> {
    fn execute(&self) -> Result<&ExecuteMsg, ServiceError> {
        self.execute
            .as_ref()
            .ok_or(ServiceError::Missing("proposal"))
    }

    /// Why this witness declines to sign (`Err`), or the share it signs.
    fn decide(&self) -> Result<Result<Digest, String>, ServiceError> {
        let execute = self.execute()?;
        let request = self
            .request
            .as_ref()
            .ok_or(ServiceError::Missing("signing request"))?;
        let commitment = self.commitment.ok_or(ServiceError::Missing("proposal"))?;
        let view = &self.state.view;
        let objection =
            if execute.prestate_hash != view.prestate_hash || execute.epoch != view.epoch {
                Some("the prestate or epoch does not match this witness's view")
            } else if request.message != signing_message(execute) {
                Some("the signing request is not for the proposed operation")
            } else if !request.commitments.contains(&(self.me, commitment)) {
                Some("the nonce set leaves out this witness's commitment")
            } else {
                None
            };
        Ok(match objection {
            Some(why) => Err(why.into()),
            None => {
                let nonces = nonce_set_digest(&request.commitments);
                Ok(crypto::mac(
                    &self.state.signing_key,
                    &[&request.message, &nonces],
                ))
            }
        })
    }

    fn record(&mut self, signed: bool) -> Result<Digest, ServiceError> {
        let consensus_id = self.execute()?.consensus_id;
        self.signed = signed;
        let fact = ConsensusFact::Signed(consensus_id, self.me, signed);
        self.state.journal.record(fact);
        Ok(consensus_id)
    }
}

impl choreo_aura_consensus::Witness for WitnessSession<'_> {
    type Types = ConsensusTypes;
    type Error = ServiceError;

    async fn on_execute(&mut self, _from: Peer, msg: ExecuteMsg) -> Result<(), ServiceError> {
        let nonce = crypto::digest(
            "consensus/nonce",
            &[&self.state.nonce_seed, &msg.consensus_id],
        );
        self.commitment = Some(crypto::digest("consensus/nonce-commit", &[&nonce]));
        self.execute = Some(msg);
        Ok(())
    }

    async fn nonce_commit(&mut self, _to: Peer) -> Result<NonceCommitMsg, ServiceError> {
        Ok(NonceCommitMsg {
            consensus_id: self.execute()?.consensus_id,
            commitment: self.commitment.ok_or(ServiceError::Missing("proposal"))?,
        })
    }

    async fn on_sign_request(
        &mut self,
        _from: Peer,
        msg: SignRequestMsg,
    ) -> Result<(), ServiceError> {
        if msg.consensus_id != self.execute()?.consensus_id {
            return Err(ServiceError::Refused(
                "a signing request for another instance".into(),
            ));
        }
        self.request = Some(msg);
        Ok(())
    }

    async fn choose_decline_or_sign(&mut self) -> Result<DeclineOrSign, ServiceError> {
        Ok(match self.decide()? {
            Ok(_) => DeclineOrSign::Sign,
            Err(_) => DeclineOrSign::Decline,
        })
    }

    async fn sign_share(&mut self, _to: Peer) -> Result<SignShareMsg, ServiceError> {
        let share = self.decide()?.map_err(|why| {
            ServiceError::Invalid(format!("asked to sign what it declines: {why}"))
        })?;
        let consensus_id = self.record(true)?;
        Ok(SignShareMsg {
            consensus_id,
            share,
        })
    }

    async fn sign_decline(&mut self, _to: Peer) -> Result<msg::SignDecline, ServiceError> {
        let Err(reason) = self.decide()? else {
            return Err(ServiceError::Invalid(
                "asked to decline what it signs".into(),
            ));
        };
        let consensus_id = self.record(false)?;
        Ok(msg::SignDecline {
            consensus_id,
            reason,
        })
    }

    async fn on_consensus_result(
        &mut self,
        _from: Peer,
        msg: ConsensusResultMsg,
    ) -> Result<(), ServiceError> {
        if msg.consensus_id != self.execute()?.consensus_id {
            return Err(ServiceError::Refused(
                "a result for another instance".into(),
            ));
        }
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

/// Runs a witness: commits to a nonce, signs iff the operation matches its
/// view (declining otherwise), and applies the committed operation to its
/// view when it follows from it.
pub async fn run_witness<T: Transport>(
    session: Session<'_, T>,
    state: &mut WitnessState,
) -> Result<WitnessOutcome, ServiceError> {
    let me = match own_index(&session, Role::Witness.name()) {
        Ok(me) => me,
        Err(e) => return Err(reject(session, e)),
    };
    let mut code = WitnessSession {
        state,
        me,
        execute: None,
        commitment: None,
        request: None,
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
        state.view.prestate_hash = result.poststate;
        state.journal.record(ConsensusFact::Applied(
            execute.consensus_id,
            result.poststate,
        ));
    }
    Ok(WitnessOutcome { signed, applied })
}
