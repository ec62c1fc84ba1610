//! DkdChoreography: derive a context-specific key from the account's shares.
//!
//! Implements the seed entry **DkdChoreography** (CHOREO-AUTH-002, owner
//! `aura-authentication`, seed entry point `aura-authentication/src/dkd.rs`).
//! Decision sourcing as the seed says: every message derives from DKG state.
//! Each participant derives its share for the requested context and path
//! from its root share, commits to it, and reveals it only if its policy
//! releases shares for that context and the commitment set holds its own
//! commitment. The Initiator checks every reveal against its commitment and
//! derives the key iff its threshold of valid shares arrived; the key is
//! bound to its contributors, which the final payload names with the invalid ones.

use choreo_dkd_choreography::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::{index_of, own_index, ServiceError};

/// The derivation context and path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivationRequest {
    /// Identifies this derivation.
    pub derivation_id: Digest,
    /// The application context (`"storage/photos"`).
    pub context: String,
    /// The derivation path below the context.
    pub path: Vec<u32>,
    /// The account epoch of the root shares.
    pub epoch: u64,
}

/// Every participant's commitment, sent back before any reveal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitmentSet {
    /// The derivation.
    pub derivation_id: Digest,
    /// (participant, commitment), in member order.
    pub commitments: Vec<(u16, Digest)>,
}

/// A participant's revealed share, or its refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivationShare {
    /// The derivation.
    pub derivation_id: Digest,
    /// The share and the salt of its commitment, when released.
    pub share: Option<([u8; 32], Digest)>,
    /// Why not, when it is not.
    pub refusal: Option<String>,
}

/// The derived public key, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedPublicKey {
    /// The derivation.
    pub derivation_id: Digest,
    /// The key, when the threshold of valid shares arrived.
    pub public_key: Option<Digest>,
    /// Participants whose shares it is derived from.
    pub contributors: Vec<u16>,
    /// Participants whose reveal did not match their commitment or was withheld.
    pub invalid: Vec<u16>,
}

/// Binds the protocol's payload types to this module's.
pub struct DkdTypes;

impl choreo_dkd_choreography::Types for DkdTypes {
    type DerivationRequest = DerivationRequest;
    type CommitmentSet = CommitmentSet;
    type DerivationShare = DerivationShare;
    type DerivedPublicKey = DerivedPublicKey;
}

/// A key derived for a context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedKey {
    /// The context.
    pub context: String,
    /// The path.
    pub path: Vec<u32>,
    /// The public key.
    pub public_key: Digest,
    /// Who contributed.
    pub contributors: Vec<u16>,
}

/// A fact of key derivation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DkdFact {
    /// A key was derived.
    KeyDerived(DerivedKey),
    /// A participant withheld its share, with its reason.
    ShareWithheld(String),
    /// The derivation failed, with the invalid participants.
    Failed(Vec<u16>),
}

/// The digest a participant commits to.
fn commitment(share: &[u8; 32], salt: &Digest) -> Digest {
    crypto::digest("dkd/commitment", &[share, salt])
}

/// The Initiator's derivation policy and state.
#[derive(Clone, Debug)]
pub struct InitiatorState {
    /// Valid shares needed to derive.
    pub threshold: u16,
    /// The account epoch.
    pub epoch: u64,
    /// Keys derived so far.
    pub keys: Vec<DerivedKey>,
    /// Facts of every derivation.
    pub journal: Journal<DkdFact>,
}

/// How a derivation ended for the Initiator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DkdOutcome {
    /// The derived key, confirmed by these participants.
    Derived(DerivedKey, Vec<u16>),
    /// Too few valid shares; the invalid participants.
    Failed(Vec<u16>),
}

/// One derivation as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut InitiatorState,
    request: DerivationRequest,
    commitments: Vec<(u16, Digest)>,
    valid: Vec<(u16, [u8; 32])>,
    invalid: Vec<u16>,
    result: Option<DerivedPublicKey>,
    confirmed: Vec<u16>,
}

impl InitiatorSession<'_> {
    fn result(&mut self) -> DerivedPublicKey {
        if let Some(result) = &self.result {
            return result.clone();
        }
        self.valid.sort();
        let enough = self.valid.len() >= usize::from(self.state.threshold.max(1));
        let shares: Vec<&[u8]> = self.valid.iter().map(|(_, s)| s.as_slice()).collect();
        let secret = crypto::digest("dkd/derived-secret", &shares);
        self.invalid.sort();
        let result = DerivedPublicKey {
            derivation_id: self.request.derivation_id,
            public_key: enough.then(|| crypto::digest("dkd/public", &[&secret])),
            contributors: self.valid.iter().map(|(p, _)| *p).collect(),
            invalid: self.invalid.clone(),
        };
        self.result = Some(result.clone());
        result
    }
}

impl choreo_dkd_choreography::Initiator<DkdTypes> for InitiatorSession<'_> {
    fn derivation_request(&mut self, _to: &Peer) -> DerivationRequest {
        self.request.clone()
    }

    fn on_share_commitment(&mut self, from: &Peer, msg: msg::ShareCommitment) {
        // The member index is authoritative; a mismatching id is left out.
        if msg.participant_id == index_of(from) {
            self.commitments.push((msg.participant_id, msg.commitment));
        }
    }

    fn commitment_set(&mut self, _to: &Peer) -> CommitmentSet {
        CommitmentSet {
            derivation_id: self.request.derivation_id,
            commitments: self.commitments.clone(),
        }
    }

    fn on_share_reveal(&mut self, from: &Peer, msg: DerivationShare) {
        let who = index_of(from);
        let committed = self
            .commitments
            .iter()
            .find(|(p, _)| *p == who)
            .map(|(_, c)| c);
        match (msg.share, committed) {
            (Some((share, salt)), Some(c)) if commitment(&share, &salt) == *c => {
                self.valid.push((who, share));
            }
            _ => self.invalid.push(who),
        }
        if let Some(why) = msg.refusal {
            self.state.journal.record(DkdFact::ShareWithheld(why));
        }
    }

    fn derived_key(&mut self, _to: &Peer) -> DerivedPublicKey {
        self.result()
    }

    fn on_derivation_ack(&mut self, from: &Peer, msg: msg::DerivationAck) {
        let key = self.result().public_key;
        if key.is_some_and(|k| crypto::digest("dkd/ack", &[&k]) == msg.key_digest) {
            self.confirmed.push(index_of(from));
        }
    }
}

/// Runs the Initiator: derives the key for `context` and `path` from the
/// participants' committed-then-revealed shares.
pub async fn run_initiator<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut InitiatorState,
    context: &str,
    path: Vec<u32>,
) -> Result<DkdOutcome, ServiceError> {
    let path_bytes: Vec<u8> = path.iter().flat_map(|p| p.to_le_bytes()).collect();
    let count = (state.journal.len() as u64).to_le_bytes();
    let derivation_id = crypto::digest("dkd/id", &[context.as_bytes(), &path_bytes, &count]);
    let request = DerivationRequest {
        derivation_id,
        context: context.into(),
        path,
        epoch: state.epoch,
    };
    let mut session = InitiatorSession {
        state,
        request,
        commitments: Vec::new(),
        valid: Vec::new(),
        invalid: Vec::new(),
        result: None,
        confirmed: Vec::new(),
    };
    choreo_dkd_choreography::execute_as::<DkdTypes, _>(
        choreo_dkd_choreography::As::Initiator(&mut session),
        adapter,
        &choreo_dkd_choreography::Params::default(),
    )
    .await?;
    let result = session.result();
    let InitiatorSession {
        state,
        request,
        confirmed,
        ..
    } = session;
    Ok(match result.public_key {
        Some(public_key) => {
            let key = DerivedKey {
                context: request.context,
                path: request.path,
                public_key,
                contributors: result.contributors,
            };
            state.journal.record(DkdFact::KeyDerived(key.clone()));
            state.keys.push(key.clone());
            DkdOutcome::Derived(key, confirmed)
        }
        None => {
            state
                .journal
                .record(DkdFact::Failed(result.invalid.clone()));
            DkdOutcome::Failed(result.invalid)
        }
    })
}

/// A participant's derivation state.
#[derive(Clone, Debug)]
pub struct ParticipantState {
    /// Its share of the account root.
    pub root_share: [u8; 32],
    /// Seed of its commitment salts.
    pub salt_seed: Digest,
    /// Context prefixes it releases shares for.
    pub allowed_contexts: Vec<String>,
    /// The account epoch of its root share.
    pub epoch: u64,
    /// Keys it contributed to.
    pub keys: Vec<DerivedKey>,
    /// Facts of every derivation.
    pub journal: Journal<DkdFact>,
}

/// How a derivation ended for a participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantOutcome {
    /// Whether it released its share, or why not.
    pub released: Result<(), String>,
    /// The derived public key, if any.
    pub public_key: Option<Digest>,
}

/// One derivation as a participant plays it.
struct ParticipantSession<'s> {
    state: &'s mut ParticipantState,
    me: u16,
    request: Option<DerivationRequest>,
    share: [u8; 32],
    salt: Digest,
    released: Result<(), String>,
    derived: Option<DerivedPublicKey>,
}

impl choreo_dkd_choreography::Participant<DkdTypes> for ParticipantSession<'_> {
    fn on_derivation_request(&mut self, _from: &Peer, msg: DerivationRequest) {
        let path: Vec<u8> = msg.path.iter().flat_map(|p| p.to_le_bytes()).collect();
        let root = &self.state.root_share;
        self.share = crypto::digest("dkd/share", &[root, msg.context.as_bytes(), &path]);
        self.salt = crypto::digest("dkd/salt", &[&self.state.salt_seed, &msg.derivation_id]);
        let allowed = self
            .state
            .allowed_contexts
            .iter()
            .any(|c| msg.context.starts_with(c.as_str()));
        self.released = if !allowed {
            Err(format!(
                "context `{}` is not released by policy",
                msg.context
            ))
        } else if msg.epoch != self.state.epoch {
            Err(format!("epoch {} is not {}", msg.epoch, self.state.epoch))
        } else {
            Ok(())
        };
        self.request = Some(msg);
    }

    fn share_commitment(&mut self, _to: &Peer) -> msg::ShareCommitment {
        msg::ShareCommitment {
            commitment: commitment(&self.share, &self.salt),
            participant_id: self.me,
        }
    }

    fn on_commitment_set(&mut self, _from: &Peer, msg: CommitmentSet) {
        // Reveal only once the set binds this participant's own commitment.
        let mine = (self.me, commitment(&self.share, &self.salt));
        if self.released.is_ok() && !msg.commitments.contains(&mine) {
            self.released = Err("the commitment set leaves out this participant".into());
        }
    }

    fn share_reveal(&mut self, _to: &Peer) -> DerivationShare {
        let derivation_id = self
            .request
            .as_ref()
            .map(|r| r.derivation_id)
            .unwrap_or_default();
        match &self.released {
            Ok(()) => DerivationShare {
                derivation_id,
                share: Some((self.share, self.salt)),
                refusal: None,
            },
            Err(why) => {
                self.state
                    .journal
                    .record(DkdFact::ShareWithheld(why.clone()));
                DerivationShare {
                    derivation_id,
                    share: None,
                    refusal: Some(why.clone()),
                }
            }
        }
    }

    fn on_derived_key(&mut self, _from: &Peer, msg: DerivedPublicKey) {
        self.derived = Some(msg);
    }

    fn derivation_ack(&mut self, _to: &Peer) -> msg::DerivationAck {
        let key = self.derived.as_ref().and_then(|d| d.public_key);
        let key_digest = key
            .map(|k| crypto::digest("dkd/ack", &[&k]))
            .unwrap_or_default();
        msg::DerivationAck { key_digest }
    }
}

/// Runs a participant: commits to its share for the requested context, then
/// reveals it if its policy allows and the commitment set holds its own.
pub async fn run_participant<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut ParticipantState,
) -> Result<ParticipantOutcome, ServiceError> {
    let me = own_index(adapter, "Participant")?;
    let mut session = ParticipantSession {
        state,
        me,
        request: None,
        share: [0; 32],
        salt: [0; 32],
        released: Err("no request".into()),
        derived: None,
    };
    choreo_dkd_choreography::execute_as::<DkdTypes, _>(
        choreo_dkd_choreography::As::Participant(&mut session),
        adapter,
        &choreo_dkd_choreography::Params::default(),
    )
    .await?;
    let ParticipantSession {
        state,
        me,
        request,
        released,
        derived,
        ..
    } = session;
    let public_key = derived.as_ref().and_then(|d| d.public_key);
    let derived = derived.filter(|d| d.contributors.contains(&me));
    if let (Some(request), Some(d)) = (request, &derived) {
        if let Some(public_key) = d.public_key {
            let contributors = d.contributors.clone();
            let key = DerivedKey {
                context: request.context,
                path: request.path,
                public_key,
                contributors,
            };
            state.journal.record(DkdFact::KeyDerived(key.clone()));
            state.keys.push(key);
        }
    }
    Ok(ParticipantOutcome {
        released,
        public_key,
    })
}
