//! DkdChoreography: derive a context-specific key from the account's shares.
//!
//! Implements the seed entry **DkdChoreography** (CHOREO-AUTH-002, owner
//! `aura-authentication`, seed entry point `aura-authentication/src/dkd.rs`).
//! Decision sourcing as the seed says: every message derives from DKG state.
//! Each participant derives its share for the requested context and path
//! from its root share, commits to it, and reveals it only if its policy
//! releases shares for that context (withholding it, with its reason,
//! otherwise), and only once the commitment set holds one commitment per
//! participant, its own among them. The Initiator checks every reveal
//! against its commitment and derives the key iff its threshold of valid
//! shares arrived; the key is bound to its contributors, which the final
//! payload names with the participants that withheld their share. Each
//! participant acknowledges the derived key with a digest of the whole
//! payload, which the Initiator checks.
//!
//! A value of a peer that fails a check is `Unverified`, recorded nowhere,
//! and cancels the derivation for everyone: a request for another epoch
//! than the root shares' (`Epoch`); a commitment under another member's
//! index, a commitment set, reveal or key of another derivation (`Binding`);
//! a commitment set that is not one per participant or leaves out the
//! participant's own commitment, a reveal that does not open its
//! commitment (`Commitment`); a reveal that does not open for the Initiator
//! (`Decryption`); fewer valid shares than the threshold (`Threshold`); a
//! derived key that misstates the participant's contribution, or an
//! acknowledgement of another payload (`Transcript`). A reveal that does not
//! match its commitment is not reported in the final payload: it stops the
//! derivation, as the protocol says; only withheld shares are reported.
//!
//! Facts go to the node's journal (`DkdChoreography::<Variant>`): a withheld
//! share (by the withholding participant and the Initiator), the derived key
//! (by the Initiator and each contributor), a failed derivation (Initiator).
//!
//! # Who learns what
//!
//! - The Initiator learns every released derivation share, hence the derived
//!   secret, and the participants' commitments; it keeps only the public key.
//! - A participant learns the request, the commitment set (digests of a
//!   share and a salt: they hide the shares; `leak` allows unlinkable
//!   commitments), the derived public key and who contributed. It never
//!   learns another participant's share.
//! - A released share travels sealed to a fresh X25519 key of the
//!   Initiator's for this derivation (ChaCha20-Poly1305 bound to the
//!   derivation and the participant), so only the Initiator opens it
//!   (`leak = "Group"`, budget `[0, 0, 1]`: the account group sees a
//!   ciphertext). Root shares, salt seeds and derivation shares are
//!   zeroized (`SecretKey`) and never leave their holder unsealed.
//! - Not yet done: the derivation shares are BLAKE3 derivations and the
//!   "public key" a digest of the derived secret, not FROST key derivation.

use choreo_dkd_choreography::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{self, seal_to, Digest, SealKey, SealPublic, Sealed, SecretKey};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::{family_size, index_of, own_index, reject, ServiceError};

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
    /// The Initiator's key of this derivation, the reveals are sealed to.
    pub sealing_key: SealPublic,
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
    /// The sealed share, or the participant's reason for withholding it.
    pub reveal: Reveal,
}

/// What a participant reveals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reveal {
    /// The share and the salt of its commitment, sealed to the Initiator.
    Sealed(Sealed),
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
    /// Participants that withheld their share.
    pub withheld: Vec<u16>,
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
    /// This participant withheld its share, with its reason.
    ShareWithheld(u16, String),
    /// The derivation failed, for this reason.
    Failed(String),
}

impl DomainFact for DkdFact {
    const PROTOCOL: &'static str = "DkdChoreography";

    fn kind(&self) -> &'static str {
        match self {
            DkdFact::KeyDerived(..) => "KeyDerived",
            DkdFact::ShareWithheld(..) => "ShareWithheld",
            DkdFact::Failed(..) => "Failed",
        }
    }
}

/// The digest a participant commits to: its share and a salt.
pub fn commitment(share: &SecretKey, salt: &Digest) -> Digest {
    crypto::digest("dkd/commitment", &[share.expose(), salt])
}

/// What a participant acknowledges a derived key with: a digest of the
/// whole payload (derivation, key, contributors, withheld).
pub fn ack_digest(key: &DerivedPublicKey) -> Digest {
    crypto::digest("dkd/ack", &[&crypto::encode(key)])
}

/// The associated data of participant `who`'s reveal in `derivation_id`.
fn reveal_context(derivation_id: &Digest, who: u16) -> [Vec<u8>; 3] {
    [
        b"dkd/reveal".to_vec(),
        derivation_id.to_vec(),
        who.to_le_bytes().to_vec(),
    ]
}

impl DerivationShare {
    /// Participant `who`'s `share` and `salt` for `request`, sealed to the
    /// request's sealing key.
    pub fn seal(
        request: &DerivationRequest,
        who: u16,
        share: &SecretKey,
        salt: &Digest,
    ) -> Result<Self, ServiceError> {
        let plain = Zeroizing::new(crypto::encode(&(share, salt)));
        let [a, b, c] = reveal_context(&request.derivation_id, who);
        let sealed = seal_to(&request.sealing_key, &[&a, &b, &c], &plain).map_err(|e| {
            ServiceError::unverified(Check::Decryption, format!("the sealing key: {e}"))
        })?;
        Ok(DerivationShare {
            derivation_id: request.derivation_id,
            reveal: Reveal::Sealed(sealed),
        })
    }
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
    log: FactLog,
    request: DerivationRequest,
    /// The key the reveals are sealed to.
    key: SealKey,
    commitments: Vec<(u16, Digest)>,
    valid: Vec<(u16, SecretKey)>,
    withheld: Vec<u16>,
    confirmed: Vec<u16>,
}

impl InitiatorSession<'_> {
    /// The derived key, or why there is none (too few valid shares).
    fn result(&self) -> Result<DerivedPublicKey, ServiceError> {
        let needed = self.state.threshold.max(1);
        if self.valid.len() < usize::from(needed) {
            return Err(ServiceError::unverified(
                Check::Threshold,
                format!("{} valid shares, {needed} needed", self.valid.len()),
            ));
        }
        let mut valid: Vec<&(u16, SecretKey)> = self.valid.iter().collect();
        valid.sort_by_key(|(p, _)| *p);
        let shares: Vec<&[u8]> = valid.iter().map(|(_, s)| s.expose().as_slice()).collect();
        let secret = SecretKey::derive("dkd/derived-secret", &shares);
        let mut withheld = self.withheld.clone();
        withheld.sort();
        Ok(DerivedPublicKey {
            derivation_id: self.request.derivation_id,
            public_key: crypto::digest("dkd/public", &[secret.expose()]),
            contributors: valid.iter().map(|(p, _)| *p).collect(),
            withheld,
        })
    }

    /// The share and salt `from` revealed, checked against its commitment.
    fn check_reveal(&self, from: Peer, sealed: &Sealed) -> Result<SecretKey, ServiceError> {
        let who = index_of(from)?;
        let [a, b, c] = reveal_context(&self.request.derivation_id, who);
        let unopened = || ServiceError::unverified(Check::Decryption, format!("{from}'s reveal"));
        let opened = self
            .key
            .open(&[&a, &b, &c], sealed)
            .map_err(|_| unopened())?;
        let (share, salt): (SecretKey, Digest) =
            postcard::from_bytes(&opened).map_err(|_| unopened())?;
        let (_, committed) = (self.commitments.iter())
            .find(|(p, _)| *p == who)
            .ok_or(ServiceError::Missing("share commitment"))?;
        if crypto::ensure_eq(&commitment(&share, &salt), committed).is_err() {
            return Err(ServiceError::unverified(
                Check::Commitment,
                format!("{from}'s reveal does not open its commitment"),
            ));
        }
        Ok(share)
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
            return Err(ServiceError::unverified(
                Check::Binding,
                format!("{from} commits as participant {}", msg.participant_id),
            ));
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
            return Err(ServiceError::unverified(
                Check::Binding,
                format!("{from} reveals for another derivation"),
            ));
        }
        let who = index_of(from)?;
        match msg.reveal {
            Reveal::Sealed(sealed) => {
                let share = self.check_reveal(from, &sealed)?;
                self.valid.push((who, share));
            }
            Reveal::Withheld(why) => {
                self.log.record(DkdFact::ShareWithheld(who, why)).await?;
                self.withheld.push(who);
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
        let expected = ack_digest(&self.result()?);
        if crypto::ensure_eq(&expected, &msg.key_digest).is_err() {
            return Err(ServiceError::unverified(
                Check::Transcript,
                format!("{from} acknowledges another key"),
            ));
        }
        self.confirmed.push(index_of(from)?);
        Ok(())
    }
}

/// Runs the Initiator: derives the key for `context` and `path` from the
/// participants' committed-then-revealed shares; with fewer valid shares
/// than its threshold, or a share or acknowledgement that does not check
/// out, it cancels the derivation.
pub async fn run_initiator<T: Transport>(
    session: Session<'_, T>,
    state: &mut InitiatorState,
    context: &str,
    path: Vec<u32>,
) -> Result<DkdOutcome, ServiceError> {
    let path_bytes: Vec<u8> = path.iter().flat_map(|p| p.to_le_bytes()).collect();
    let nonce = crypto::random::<16>();
    let derivation_id = crypto::digest("dkd/id", &[context.as_bytes(), &path_bytes, &nonce]);
    let key = SealKey::generate();
    let request = DerivationRequest {
        derivation_id,
        context: context.into(),
        path,
        epoch: state.epoch,
        sealing_key: key.public(),
    };
    let log = FactLog::of(&session);
    let mut code = InitiatorSession {
        state,
        log: log.clone(),
        request,
        key,
        commitments: Vec::new(),
        valid: Vec::new(),
        withheld: Vec::new(),
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
            log.record(DkdFact::KeyDerived(key.clone())).await?;
            state.keys.push(key.clone());
            Ok(DkdOutcome { key, confirmed })
        }
        Err(e) => {
            log.record(DkdFact::Failed(e.reason())).await?;
            Err(e)
        }
    }
}

/// A participant's derivation state.
#[derive(Clone, Debug)]
pub struct ParticipantState {
    /// Its share of the account root (zeroized on drop).
    pub root_share: SecretKey,
    /// Seed of its commitment salts (zeroized on drop).
    pub salt_seed: SecretKey,
    /// Context prefixes it releases shares for.
    pub allowed_contexts: Vec<String>,
    /// The account epoch of its root share.
    pub epoch: u64,
    /// Keys it contributed to.
    pub keys: Vec<DerivedKey>,
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
    log: FactLog,
    me: u16,
    /// Participants in the family.
    members: u16,
    job: Option<Job>,
    derived: Option<DerivedPublicKey>,
}

/// What a participant derived for the request it received.
struct Job {
    request: DerivationRequest,
    share: SecretKey,
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
        if msg.epoch != self.state.epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                format!(
                    "a derivation at epoch {} from root shares of epoch {}",
                    msg.epoch, self.state.epoch
                ),
            ));
        }
        let path: Vec<u8> = msg.path.iter().flat_map(|p| p.to_le_bytes()).collect();
        let root = self.state.root_share.expose();
        let share = SecretKey::derive("dkd/share", &[root, msg.context.as_bytes(), &path]);
        let seed = self.state.salt_seed.expose();
        let salt = crypto::digest("dkd/salt", &[seed, &msg.derivation_id]);
        let allowed = self
            .state
            .allowed_contexts
            .iter()
            .any(|c| msg.context.starts_with(c.as_str()));
        let released = if allowed {
            Ok(())
        } else {
            Err(format!(
                "context `{}` is not released by policy",
                msg.context
            ))
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
        // Reveal only once the set binds every participant, this one with
        // its own commitment.
        let job = self.job()?;
        if msg.derivation_id != job.request.derivation_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a commitment set of another derivation",
            ));
        }
        let members = msg.commitments.iter().map(|(p, _)| *p);
        if !members.eq(0..self.members) {
            return Err(ServiceError::unverified(
                Check::Commitment,
                "the commitment set is not one per participant",
            ));
        }
        if !msg.commitments.contains(&(self.me, job.commitment())) {
            return Err(ServiceError::unverified(
                Check::Commitment,
                "the commitment set leaves out this participant's commitment",
            ));
        }
        Ok(())
    }

    async fn share_reveal(&mut self, _to: Peer) -> Result<DerivationShare, ServiceError> {
        let job = self.job()?;
        match &job.released {
            Ok(()) => DerivationShare::seal(&job.request, self.me, &job.share, &job.salt),
            Err(why) => {
                let fact = DkdFact::ShareWithheld(self.me, why.clone());
                self.log.record(fact).await?;
                Ok(DerivationShare {
                    derivation_id: job.request.derivation_id,
                    reveal: Reveal::Withheld(why.clone()),
                })
            }
        }
    }

    async fn on_derived_key(
        &mut self,
        _from: Peer,
        msg: DerivedPublicKey,
    ) -> Result<(), ServiceError> {
        let job = self.job()?;
        if msg.derivation_id != job.request.derivation_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a key of another derivation",
            ));
        }
        if msg.contributors.contains(&self.me) != job.released.is_ok() {
            return Err(ServiceError::unverified(
                Check::Transcript,
                "the derived key misstates this participant's share",
            ));
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
            key_digest: ack_digest(derived),
        })
    }
}

/// Runs a participant: commits to its share for the requested context, then
/// reveals it sealed to the Initiator if its policy allows (withholding it
/// otherwise) and the commitment set holds its own; records the key it
/// contributed to.
pub async fn run_participant<T: Transport>(
    session: Session<'_, T>,
    state: &mut ParticipantState,
) -> Result<ParticipantOutcome, ServiceError> {
    let joined = own_index(&session, Role::Participant.name())
        .and_then(|me| Ok((me, family_size(&session, Role::Participant.index())?)));
    let (me, members) = match joined {
        Ok(joined) => joined,
        Err(e) => return Err(reject(session, e)),
    };
    let log = FactLog::of(&session);
    let mut code = ParticipantSession {
        state,
        log: log.clone(),
        me,
        members,
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
        job,
        derived,
        ..
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
        log.record(DkdFact::KeyDerived(key.clone())).await?;
        state.keys.push(key);
    }
    Ok(ParticipantOutcome {
        released,
        public_key: derived.public_key,
    })
}
