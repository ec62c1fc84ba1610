//! AuraConsensus: threshold agreement on one operation over a witness family.
//!
//! Implements the seed entry **AuraConsensus** (CHOREO-CONS-001, owner
//! `aura-consensus`, seed entry point `runtime_bridge/consensus.rs`).
//! Decision sourcing as the seed says: every payload derives from
//! [`ConsensusParams`] and local consensus state. Each witness signs only an
//! operation whose prestate and epoch match its own view, and whose nonce set
//! holds its own commitment; the Coordinator verifies every share under the
//! witness's registered key and commits iff `threshold` valid shares arrived.

use choreo_aura_consensus::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::{family_size, index_of, own_index, ServiceError};

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

/// A witness's signature share, or its refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignShareMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// The share, when the witness signs.
    pub share: Option<Digest>,
    /// Why it does not, when it refuses.
    pub refusal: Option<String>,
}

/// The result: the threshold signature and the poststate, or a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusResultMsg {
    /// The instance.
    pub consensus_id: Digest,
    /// The aggregate of the valid shares, when `threshold` signed.
    pub signature: Option<Digest>,
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
    /// A witness signed (`true`) or refused.
    Signed(Digest, u16, bool),
    /// The operation was committed with these signers.
    Committed(Digest, Vec<u16>),
    /// Too few valid shares.
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

/// How an instance ended for the Coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsensusOutcome {
    /// Committed under a threshold signature.
    Committed {
        /// The state after the operation.
        poststate: Digest,
        /// The aggregate signature.
        signature: Digest,
        /// Whose shares it holds.
        signers: Vec<u16>,
    },
    /// Fewer than `threshold` valid shares.
    Failed {
        /// Whose shares were valid.
        signers: Vec<u16>,
    },
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
    fn result(&self) -> ConsensusResultMsg {
        let enough = self.signers.len() >= usize::from(self.state.params.threshold.max(1));
        let shares: Vec<&[u8]> = self.shares.iter().map(|s| s.as_slice()).collect();
        ConsensusResultMsg {
            consensus_id: self.execute.consensus_id,
            signature: enough.then(|| crypto::digest("consensus/aggregate", &shares)),
            signers: self.signers.clone(),
            poststate: poststate(&self.execute.prestate_hash, &self.execute.operation),
        }
    }
}

impl choreo_aura_consensus::Coordinator<ConsensusTypes> for CoordinatorSession<'_> {
    fn execute(&mut self, _to: &Peer) -> ExecuteMsg {
        self.execute.clone()
    }

    fn on_nonce_commit(&mut self, from: &Peer, msg: NonceCommitMsg) {
        if msg.consensus_id == self.execute.consensus_id {
            self.commitments.push((index_of(from), msg.commitment));
        }
    }

    fn sign_request(&mut self, _to: &Peer) -> SignRequestMsg {
        SignRequestMsg {
            consensus_id: self.execute.consensus_id,
            message: signing_message(&self.execute),
            commitments: self.commitments.clone(),
        }
    }

    fn on_sign_share(&mut self, from: &Peer, msg: SignShareMsg) {
        let witness = index_of(from);
        let key = self.state.params.witness_keys.get(usize::from(witness));
        let expected = key.map(|k| {
            let nonces = nonce_set_digest(&self.commitments);
            crypto::mac(k, &[&signing_message(&self.execute), &nonces])
        });
        let valid = msg.consensus_id == self.execute.consensus_id
            && msg.share.is_some()
            && msg.share == expected;
        if let (true, Some(share)) = (valid, msg.share) {
            self.signers.push(witness);
            self.shares.push(share);
        }
        let fact = ConsensusFact::Signed(self.execute.consensus_id, witness, valid);
        self.state.journal.record(fact);
    }

    fn consensus_result(&mut self, _to: &Peer) -> ConsensusResultMsg {
        self.result()
    }

    fn on_result_ack(&mut self, _from: &Peer, _msg: msg::ResultAck) {}
}

/// Runs the Coordinator: proposes `operation` against the current prestate,
/// collects nonce commitments and signature shares, and commits iff
/// `threshold` shares verify.
pub async fn run_coordinator<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut CoordinatorState,
    operation: Operation,
) -> Result<ConsensusOutcome, ServiceError> {
    let witnesses = family_size(adapter, "Witness")?;
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
    let execute = ExecuteMsg {
        consensus_id,
        prestate_hash: state.prestate_hash,
        operation,
        epoch,
    };
    state.journal.record(ConsensusFact::Proposed(consensus_id));
    let mut session = CoordinatorSession {
        state,
        execute,
        commitments: Vec::new(),
        signers: Vec::new(),
        shares: Vec::new(),
    };
    choreo_aura_consensus::execute_as::<ConsensusTypes, _>(
        choreo_aura_consensus::As::Coordinator(&mut session),
        adapter,
        &choreo_aura_consensus::Params::default(),
    )
    .await?;
    let result = session.result();
    let state = session.state;
    Ok(match result.signature {
        Some(signature) => {
            state.journal.record(ConsensusFact::Committed(
                consensus_id,
                result.signers.clone(),
            ));
            state.prestate_hash = result.poststate;
            let signers = result.signers;
            ConsensusOutcome::Committed {
                poststate: result.poststate,
                signature,
                signers,
            }
        }
        None => {
            let why = format!("{} valid shares", result.signers.len());
            state
                .journal
                .record(ConsensusFact::Failed(consensus_id, why));
            ConsensusOutcome::Failed {
                signers: result.signers,
            }
        }
    })
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

/// How an instance ended for a witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessOutcome {
    /// Whether it signed.
    pub signed: bool,
    /// Whether the operation was committed.
    pub committed: bool,
    /// Whether it applied the operation to its view.
    pub applied: bool,
}

/// One instance as a witness plays it.
struct WitnessSession<'s> {
    state: &'s mut WitnessState,
    me: u16,
    execute: Option<ExecuteMsg>,
    commitment: Digest,
    request: Option<SignRequestMsg>,
    signed: bool,
    result: Option<ConsensusResultMsg>,
}

impl WitnessSession<'_> {
    /// Why this witness refuses to sign, if it does.
    fn objection(&self) -> Option<String> {
        let (Some(execute), Some(request)) = (&self.execute, &self.request) else {
            return Some("incomplete instance".into());
        };
        let view = &self.state.view;
        if execute.prestate_hash != view.prestate_hash || execute.epoch != view.epoch {
            Some("the prestate or epoch does not match this witness's view".into())
        } else if request.message != signing_message(execute) {
            Some("the signing request is not for the proposed operation".into())
        } else if !request.commitments.contains(&(self.me, self.commitment)) {
            Some("the nonce set leaves out this witness's commitment".into())
        } else {
            None
        }
    }
}

impl choreo_aura_consensus::Witness<ConsensusTypes> for WitnessSession<'_> {
    fn on_execute(&mut self, _from: &Peer, msg: ExecuteMsg) {
        let nonce = crypto::digest(
            "consensus/nonce",
            &[&self.state.nonce_seed, &msg.consensus_id],
        );
        self.commitment = crypto::digest("consensus/nonce-commit", &[&nonce]);
        self.execute = Some(msg);
    }

    fn nonce_commit(&mut self, _to: &Peer) -> NonceCommitMsg {
        let consensus_id = self
            .execute
            .as_ref()
            .map(|e| e.consensus_id)
            .unwrap_or_default();
        NonceCommitMsg {
            consensus_id,
            commitment: self.commitment,
        }
    }

    fn on_sign_request(&mut self, _from: &Peer, msg: SignRequestMsg) {
        self.request = Some(msg);
    }

    fn sign_share(&mut self, _to: &Peer) -> SignShareMsg {
        let refusal = self.objection();
        let consensus_id = self
            .execute
            .as_ref()
            .map(|e| e.consensus_id)
            .unwrap_or_default();
        let share = match (&refusal, &self.request) {
            (None, Some(request)) => {
                let nonces = nonce_set_digest(&request.commitments);
                Some(crypto::mac(
                    &self.state.signing_key,
                    &[&request.message, &nonces],
                ))
            }
            _ => None,
        };
        self.signed = share.is_some();
        self.state
            .journal
            .record(ConsensusFact::Signed(consensus_id, self.me, self.signed));
        SignShareMsg {
            consensus_id,
            share,
            refusal,
        }
    }

    fn on_consensus_result(&mut self, _from: &Peer, msg: ConsensusResultMsg) {
        self.result = Some(msg);
    }

    fn result_ack(&mut self, _to: &Peer) -> msg::ResultAck {
        let consensus_id = self
            .execute
            .as_ref()
            .map(|e| e.consensus_id)
            .unwrap_or_default();
        msg::ResultAck {
            consensus_id,
            epoch: self.state.view.epoch,
        }
    }
}

/// Runs a witness: commits to a nonce, signs iff the operation matches its
/// view, and applies the committed operation to its view.
pub async fn run_witness<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut WitnessState,
) -> Result<WitnessOutcome, ServiceError> {
    let me = own_index(adapter, "Witness")?;
    let mut session = WitnessSession {
        state,
        me,
        execute: None,
        commitment: [0; 32],
        request: None,
        signed: false,
        result: None,
    };
    choreo_aura_consensus::execute_as::<ConsensusTypes, _>(
        choreo_aura_consensus::As::Witness(&mut session),
        adapter,
        &choreo_aura_consensus::Params::default(),
    )
    .await?;
    let WitnessSession {
        state,
        execute,
        signed,
        result,
        ..
    } = session;
    let (Some(execute), Some(result)) = (execute, result) else {
        return Err(ServiceError::Invalid(
            "the instance ended without a result".into(),
        ));
    };
    let committed = result.consensus_id == execute.consensus_id && result.signature.is_some();
    // Apply only what follows from this witness's own view of the state.
    let applies = committed
        && execute.prestate_hash == state.view.prestate_hash
        && poststate(&state.view.prestate_hash, &execute.operation) == result.poststate;
    if applies {
        state.view.prestate_hash = result.poststate;
        state.journal.record(ConsensusFact::Applied(
            execute.consensus_id,
            result.poststate,
        ));
    }
    Ok(WitnessOutcome {
        signed,
        committed,
        applied: applies,
    })
}
