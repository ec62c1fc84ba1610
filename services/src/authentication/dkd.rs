//! DkdChoreography: derive a context-specific key from the account's shares.
//!
//! Implements the seed entry **DkdChoreography** (CHOREO-AUTH-002, owner
//! `aura-authentication`, seed entry point `aura-authentication/src/dkd.rs`).
//! Decision sourcing as the seed says: every message derives from DKG state.
//! Each participant derives its share for the requested context and path
//! from its root share, commits to it, and reveals it only if its policy
//! releases shares for that context (withholding it, with its reason,
//! otherwise), and only once the commitment set holds its own commitment
//! (refusing a set that leaves it out). The Initiator checks every reveal
//! against its commitment and derives the key iff its threshold of valid
//! shares arrived, refusing (and so cancelling the derivation everywhere)
//! otherwise; the key is bound to its contributors, which the final payload
//! names with the invalid ones.
//!
//! # Who learns what
//!
//! - Commitments are BLAKE3 digests of a share and a fresh salt: they hide
//!   the share (`leak` allows unlinkable commitments) and bind the reveal,
//!   which the Initiator checks in constant time.
//! - Revealed derivation shares go to the Initiator only (`leak = "Group"`,
//!   budget `[0, 0, 1]`), over the authenticated session link; the root
//!   shares never leave the participants. The derived key is public.
//! - Not yet done: the derivation shares are BLAKE3 derivations, not FROST
//!   key derivation, and the reveals travel unsealed over the session link.

use choreo_dkd_choreography::msg;
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::stand_in::Journal;
use crate::{index_of, own_index, reject, ServiceError};

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

/// A participant's revealed share, or why it withholds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivationShare {
    /// The derivation.
    pub derivation_id: Digest,
    /// The share, or the participant's reason for withholding it.
    pub reveal: Reveal,
}

/// What a participant reveals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reveal {
    /// The share and the salt of its commitment.
    Share([u8; 32], Digest),
    /// The participant's policy withholds the share, for this reason.
    Withheld(String),
}

/// The derived public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedPublicKey {
    /// The derivation.
    pub derivation_id: Digest,
    /// The key.
    pub public_key: Digest,
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
pub struct DkdOutcome {
    /// The derived key.
    pub key: DerivedKey,
    /// The participants that acknowledged it.
    pub confirmed: Vec<u16>,
}

/// One derivation as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut InitiatorState,
    request: DerivationRequest,
    commitments: Vec<(u16, Digest)>,
    valid: Vec<(u16, [u8; 32])>,
    invalid: Vec<u16>,
    confirmed: Vec<u16>,
}

impl InitiatorSession<'_> {
    /// The derived key, or why there is none (too few valid shares).
    fn result(&self) -> Result<DerivedPublicKey, ServiceError> {
        let needed = self.state.threshold.max(1);
        if self.valid.len() < usize::from(needed) {
            return Err(ServiceError::Refused(format!(
                "{} valid shares, {needed} needed",
                self.valid.len()
            )));
        }
        let mut valid = self.valid.clone();
        valid.sort();
        let shares: Vec<&[u8]> = valid.iter().map(|(_, s)| s.as_slice()).collect();
        let secret = crypto::digest("dkd/derived-secret", &shares);
        let mut invalid = self.invalid.clone();
        invalid.sort();
        Ok(DerivedPublicKey {
            derivation_id: self.request.derivation_id,
            public_key: crypto::digest("dkd/public", &[&secret]),
            contributors: valid.iter().map(|(p, _)| *p).collect(),
            invalid,
        })
    }
}

impl choreo_dkd_choreography::Initiator for InitiatorSession<'_> {
    type Types = DkdTypes;
    type Error = ServiceError;

    async fn derivation_request(&mut self, _to: Peer) -> Result<DerivationRequest, ServiceError> {
        Ok(self.request.clone())
    }

    async fn on_share_commitment(
        &mut self,
        from: Peer,
        msg: msg::ShareCommitment,
    ) -> Result<(), ServiceError> {
        // The member index is authoritative.
        if msg.participant_id != index_of(from)? {
            return Err(ServiceError::Refused(format!(
                "{from} commits as participant {}",
                msg.participant_id
            )));
        }
        self.commitments.push((msg.participant_id, msg.commitment));
        Ok(())
    }

    async fn commitment_set(&mut self, _to: Peer) -> Result<CommitmentSet, ServiceError> {
        Ok(CommitmentSet {
            derivation_id: self.request.derivation_id,
            commitments: self.commitments.clone(),
        })
    }

    async fn on_share_reveal(
        &mut self,
        from: Peer,
        msg: DerivationShare,
    ) -> Result<(), ServiceError> {
        if msg.derivation_id != self.request.derivation_id {
            return Err(ServiceError::Refused(format!(
                "{from} reveals for another derivation"
            )));
        }
        let who = index_of(from)?;
        let committed = self.commitments.iter().find(|(p, _)| *p == who);
        match (msg.reveal, committed) {
            (Reveal::Share(share, salt), Some((_, c)))
                if crypto::ensure_eq(&commitment(&share, &salt), c).is_ok() =>
            {
                self.valid.push((who, share));
            }
            // A reveal that does not open its commitment counts as invalid.
            (Reveal::Share(..), _) => self.invalid.push(who),
            (Reveal::Withheld(why), _) => {
                self.state.journal.record(DkdFact::ShareWithheld(why));
                self.invalid.push(who);
            }
        }
        Ok(())
    }

    async fn derived_key(&mut self, _to: Peer) -> Result<DerivedPublicKey, ServiceError> {
        self.result()
    }

    async fn on_derivation_ack(
        &mut self,
        from: Peer,
        msg: msg::DerivationAck,
    ) -> Result<(), ServiceError> {
        let key = self.result()?.public_key;
        if crypto::ensure_eq(&crypto::digest("dkd/ack", &[&key]), &msg.key_digest).is_err() {
            return Err(ServiceError::Refused(format!(
                "{from} acknowledges another key"
            )));
        }
        self.confirmed.push(index_of(from)?);
        Ok(())
    }
}

/// Runs the Initiator: derives the key for `context` and `path` from the
/// participants' committed-then-revealed shares; with fewer valid shares
/// than its threshold it cancels the derivation.
pub async fn run_initiator<T: Transport>(
    session: Session<'_, T>,
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
    let mut code = InitiatorSession {
        state,
        request,
        commitments: Vec::new(),
        valid: Vec::new(),
        invalid: Vec::new(),
        confirmed: Vec::new(),
    };
    let run = choreo_dkd_choreography::execute_as(
        choreo_dkd_choreography::As::Initiator(&mut code),
        session,
        &choreo_dkd_choreography::Params::default(),
    )
    .await;
    let result = run.map_err(ServiceError::from).and_then(|_| code.result());
    let InitiatorSession {
        state,
        request,
        mut invalid,
        confirmed,
        ..
    } = code;
    match result {
        Ok(result) => {
            let key = DerivedKey {
                context: request.context,
                path: request.path,
                public_key: result.public_key,
                contributors: result.contributors,
            };
            state.journal.record(DkdFact::KeyDerived(key.clone()));
            state.keys.push(key.clone());
            Ok(DkdOutcome { key, confirmed })
        }
        Err(e) => {
            invalid.sort();
            state.journal.record(DkdFact::Failed(invalid));
            Err(e)
        }
    }
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
    /// The derived public key.
    pub public_key: Digest,
}

/// One derivation as a participant plays it.
struct ParticipantSession<'s> {
    state: &'s mut ParticipantState,
    me: u16,
    job: Option<Job>,
    derived: Option<DerivedPublicKey>,
}

/// What a participant derived for the request it received.
struct Job {
    request: DerivationRequest,
    share: [u8; 32],
    salt: Digest,
    released: Result<(), String>,
}

impl Job {
    fn commitment(&self) -> Digest {
        commitment(&self.share, &self.salt)
    }
}

impl ParticipantSession<'_> {
    fn job(&self) -> Result<&Job, ServiceError> {
        self.job
            .as_ref()
            .ok_or(ServiceError::Missing("derivation request"))
    }
}

impl choreo_dkd_choreography::Participant for ParticipantSession<'_> {
    type Types = DkdTypes;
    type Error = ServiceError;

    async fn on_derivation_request(
        &mut self,
        _from: Peer,
        msg: DerivationRequest,
    ) -> Result<(), ServiceError> {
        let path: Vec<u8> = msg.path.iter().flat_map(|p| p.to_le_bytes()).collect();
        let root = &self.state.root_share;
        let share = crypto::digest("dkd/share", &[root, msg.context.as_bytes(), &path]);
        let salt = crypto::digest("dkd/salt", &[&self.state.salt_seed, &msg.derivation_id]);
        let allowed = self
            .state
            .allowed_contexts
            .iter()
            .any(|c| msg.context.starts_with(c.as_str()));
        let released = if !allowed {
            Err(format!(
                "context `{}` is not released by policy",
                msg.context
            ))
        } else if msg.epoch != self.state.epoch {
            Err(format!("epoch {} is not {}", msg.epoch, self.state.epoch))
        } else {
            Ok(())
        };
        self.job = Some(Job {
            request: msg,
            share,
            salt,
            released,
        });
        Ok(())
    }

    async fn share_commitment(&mut self, _to: Peer) -> Result<msg::ShareCommitment, ServiceError> {
        Ok(msg::ShareCommitment {
            commitment: self.job()?.commitment(),
            participant_id: self.me,
        })
    }

    async fn on_commitment_set(
        &mut self,
        _from: Peer,
        msg: CommitmentSet,
    ) -> Result<(), ServiceError> {
        // Reveal only once the set binds this participant's own commitment.
        let job = self.job()?;
        let mine = (self.me, job.commitment());
        if msg.derivation_id != job.request.derivation_id || !msg.commitments.contains(&mine) {
            return Err(ServiceError::Refused(
                "the commitment set leaves out this participant".into(),
            ));
        }
        Ok(())
    }

    async fn share_reveal(&mut self, _to: Peer) -> Result<DerivationShare, ServiceError> {
        let job = self.job()?;
        let derivation_id = job.request.derivation_id;
        let reveal = match &job.released {
            Ok(()) => Reveal::Share(job.share, job.salt),
            Err(why) => Reveal::Withheld(why.clone()),
        };
        if let Reveal::Withheld(why) = &reveal {
            self.state
                .journal
                .record(DkdFact::ShareWithheld(why.clone()));
        }
        Ok(DerivationShare {
            derivation_id,
            reveal,
        })
    }

    async fn on_derived_key(
        &mut self,
        _from: Peer,
        msg: DerivedPublicKey,
    ) -> Result<(), ServiceError> {
        if msg.derivation_id != self.job()?.request.derivation_id {
            return Err(ServiceError::Refused("a key of another derivation".into()));
        }
        self.derived = Some(msg);
        Ok(())
    }

    async fn derivation_ack(&mut self, _to: Peer) -> Result<msg::DerivationAck, ServiceError> {
        let derived = self
            .derived
            .as_ref()
            .ok_or(ServiceError::Missing("derived key"))?;
        Ok(msg::DerivationAck {
            key_digest: crypto::digest("dkd/ack", &[&derived.public_key]),
        })
    }
}

/// Runs a participant: commits to its share for the requested context, then
/// reveals it if its policy allows (withholding it otherwise) and the
/// commitment set holds its own; records the key it contributed to.
pub async fn run_participant<T: Transport>(
    session: Session<'_, T>,
    state: &mut ParticipantState,
) -> Result<ParticipantOutcome, ServiceError> {
    let me = match own_index(&session, choreo_dkd_choreography::Role::Participant.name()) {
        Ok(me) => me,
        Err(e) => return Err(reject(session, e)),
    };
    let mut code = ParticipantSession {
        state,
        me,
        job: None,
        derived: None,
    };
    choreo_dkd_choreography::execute_as(
        choreo_dkd_choreography::As::Participant(&mut code),
        session,
        &choreo_dkd_choreography::Params::default(),
    )
    .await?;
    let ParticipantSession {
        state,
        me,
        job,
        derived,
    } = code;
    let (
        Some(Job {
            request, released, ..
        }),
        Some(derived),
    ) = (job, derived)
    else {
        return Err(ServiceError::Missing("derived key"));
    };
    if derived.contributors.contains(&me) {
        let key = DerivedKey {
            context: request.context,
            path: request.path,
            public_key: derived.public_key,
            contributors: derived.contributors,
        };
        state.journal.record(DkdFact::KeyDerived(key.clone()));
        state.keys.push(key);
    }
    Ok(ParticipantOutcome {
        released,
        public_key: derived.public_key,
    })
}
