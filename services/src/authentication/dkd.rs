//! DkdChoreography: derive a context-specific key from the account's
//! threshold root.
//!
//! Implements the seed entry **DkdChoreography** (CHOREO-AUTH-002, owner
//! `aura-authentication`, seed entry point `aura-authentication/src/dkd.rs`).
//! Decision sourcing as the seed says: every message derives from DKG state.
//!
//! The derivation root is a FROST key over Ristretto255: each participant
//! holds a share of it ([`tprf::Share`]), the Initiator its public package
//! ([`tprf::Public`]); nobody holds the root secret. The derived key is the
//! threshold PRF of [`crate::crypto::tprf`] at (context, path): each
//! participant evaluates its share there with a DLEq proof, commits to the
//! evaluation, and reveals it, sealed to the Initiator, only if its policy
//! releases shares for that context (withholding it, with its reason,
//! otherwise) and only once the commitment set holds one commitment per
//! participant, its own among them. The Initiator checks every reveal
//! against its commitment and its proof against the participant's verifying
//! share, and combines the root's threshold of valid partials (Lagrange
//! coefficients in the exponent) into the PRF output, the seed of an Ed25519
//! key. The key depends only on the root, the context and the path: any
//! threshold of participants derives the same one. The final payload names
//! the contributors and the participants that withheld their share; each
//! participant acknowledges it with a digest of the whole payload, which the
//! Initiator checks.
//!
//! A value of a peer that fails a check is `Unverified`, recorded nowhere,
//! and cancels the derivation for everyone: a request for another epoch
//! than the root shares' (`Epoch`); a commitment under another member's
//! index, a commitment set, reveal or key of another derivation (`Binding`);
//! a commitment set that is not one per participant or leaves out the
//! participant's own commitment, a reveal that does not open its
//! commitment (`Commitment`); a reveal that does not open for the Initiator
//! (`Decryption`); a partial that is not the evaluation of the sender's
//! share, or whose proof was made for another derivation (`Proof`); fewer
//! valid partials than the root's threshold (`Threshold`); a derived key
//! that misstates the participant's contribution, or an acknowledgement of
//! another payload (`Transcript`). A reveal that does not check out is not
//! reported in the final payload: it stops the derivation, as the protocol
//! says; only withheld shares are reported.
//!
//! Facts go to the node's journal (`DkdChoreography::<Variant>`): a withheld
//! share (by the withholding participant and the Initiator), the derived key
//! (by the Initiator and each contributor), a failed derivation (Initiator).
//!
//! # Who learns what
//!
//! - The Initiator learns the released partials and so the derived secret,
//!   which it returns to its caller ([`DkdOutcome::secret`]) and never
//!   sends; it keeps the public key. A partial is `s_i·X` for a hashed
//!   point `X`: it does not reveal the share `s_i`, and no number of
//!   partials reveals the root secret, so the Initiator cannot derive any
//!   other context's key without the participants.
//! - A participant learns the request, the commitment set (digests of a
//!   partial and a salt: they hide the partials; `leak` allows unlinkable
//!   commitments), the derived public key and who contributed. It never
//!   learns another participant's partial or the derived secret.
//! - A released partial travels sealed to a fresh X25519 key of the
//!   Initiator's for this derivation (ChaCha20-Poly1305 bound to the
//!   derivation and the participant), so only the Initiator opens it
//!   (`leak = "Group"`, budget `[0, 0, 1]`: the account group sees a
//!   ciphertext). Root shares, salt seeds and the derived secret are
//!   zeroized on drop and never leave their holder unsealed.

use choreo_dkd_choreography::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::tprf::{self, Input, Partial, Verified};
use crate::crypto::{self, seal_to, Digest, SealKey, SealPublic, Sealed, SecretKey};
use crate::crypto::{SigningKey, VerifyingKey};
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
    /// The sealed partial, or the participant's reason for withholding it.
    pub reveal: Reveal,
}

/// What a participant reveals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reveal {
    /// The partial evaluation and the salt of its commitment, sealed to the
    /// Initiator.
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
    pub public_key: VerifyingKey,
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
    pub public_key: VerifyingKey,
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

/// The digest a participant commits to: its partial evaluation and a salt.
pub fn commitment(partial: &Partial, salt: &Digest) -> Digest {
    crypto::digest("dkd/commitment", &[&crypto::encode(partial), salt])
}

/// The PRF input of `request` under the root whose group key is `root`:
/// its context and path, not the derivation, so every derivation of a
/// context and path gives the same key.
pub fn input(
    root: &tprf::frost::VerifyingKey,
    request: &DerivationRequest,
) -> Result<Input, ServiceError> {
    let path: Vec<u8> = request.path.iter().flat_map(|p| p.to_le_bytes()).collect();
    Input::new(root, "dkd/input", &[request.context.as_bytes(), &path])
        .map_err(|e| ServiceError::Invalid(format!("the derivation root: {e}")))
}

/// What participant `who`'s proof in `derivation_id` is bound to.
pub fn binding(derivation_id: &Digest, who: u16) -> Vec<u8> {
    [&derivation_id[..], &who.to_le_bytes()].concat()
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
    /// Participant `who`'s `partial` and `salt` for `request`, sealed to the
    /// request's sealing key.
    pub fn seal(
        request: &DerivationRequest,
        who: u16,
        partial: &Partial,
        salt: &Digest,
    ) -> Result<Self, ServiceError> {
        let plain = Zeroizing::new(crypto::encode(&(partial, salt)));
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
    /// The derivation root's public package; its threshold is the number of
    /// valid partials needed.
    pub root: tprf::Public,
    /// The account epoch.
    pub epoch: u64,
    /// Keys derived so far.
    pub keys: Vec<DerivedKey>,
}

/// How a derivation ended for the Initiator.
#[derive(Clone, Debug)]
pub struct DkdOutcome {
    /// The derived key.
    pub key: DerivedKey,
    /// Its secret half, for the Initiator's caller alone (zeroized on drop).
    pub secret: SigningKey,
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
    /// The request's PRF input.
    input: Input,
    commitments: Vec<(u16, Digest)>,
    valid: Vec<(u16, Verified)>,
    withheld: Vec<u16>,
    confirmed: Vec<u16>,
    /// The payload and secret once derived.
    derived: Option<(DerivedPublicKey, SigningKey)>,
}

impl InitiatorSession<'_> {
    /// The derived key and its payload, or why there is none (fewer valid
    /// partials than the root's threshold).
    fn result(&mut self) -> Result<&(DerivedPublicKey, SigningKey), ServiceError> {
        let derived = match self.derived.take() {
            Some(derived) => derived,
            None => self.derive()?,
        };
        Ok(self.derived.insert(derived))
    }

    fn derive(&self) -> Result<(DerivedPublicKey, SigningKey), ServiceError> {
        let needed = self.state.root.min_signers().unwrap_or(u16::MAX);
        if self.valid.len() < usize::from(needed) {
            return Err(ServiceError::unverified(
                Check::Threshold,
                format!("{} valid shares, {needed} needed", self.valid.len()),
            ));
        }
        let mut valid: Vec<&(u16, Verified)> = self.valid.iter().collect();
        valid.sort_by_key(|(p, _)| *p);
        let partials: Vec<Verified> = valid.iter().map(|(_, v)| v.clone()).collect();
        let output = tprf::combine(&self.state.root, &self.input, &partials)
            .map_err(|e| ServiceError::unverified(Check::Threshold, format!("combining: {e}")))?;
        let secret = SigningKey::from_seed(output.expose());
        let mut withheld = self.withheld.clone();
        withheld.sort();
        let payload = DerivedPublicKey {
            derivation_id: self.request.derivation_id,
            public_key: secret.verifying_key(),
            contributors: valid.iter().map(|(p, _)| *p).collect(),
            withheld,
        };
        Ok((payload, secret))
    }

    /// The partial `from` revealed, checked against its commitment and its
    /// proof against `from`'s verifying share.
    fn check_reveal(&self, from: Peer, sealed: &Sealed) -> Result<Verified, ServiceError> {
        let who = index_of(from)?;
        let [a, b, c] = reveal_context(&self.request.derivation_id, who);
        let unopened = || ServiceError::unverified(Check::Decryption, format!("{from}'s reveal"));
        let opened = self
            .key
            .open(&[&a, &b, &c], sealed)
            .map_err(|_| unopened())?;
        let (partial, salt): (Partial, Digest) =
            postcard::from_bytes(&opened).map_err(|_| unopened())?;
        let (_, committed) = (self.commitments.iter())
            .find(|(p, _)| *p == who)
            .ok_or(ServiceError::Missing("share commitment"))?;
        if crypto::ensure_eq(&commitment(&partial, &salt), committed).is_err() {
            return Err(ServiceError::unverified(
                Check::Commitment,
                format!("{from}'s reveal does not open its commitment"),
            ));
        }
        let id = crypto::identifier(who).map_err(|_| unopened())?;
        let binding = binding(&self.request.derivation_id, who);
        tprf::verify(&self.state.root, id, &self.input, &binding, &partial).map_err(|e| {
            ServiceError::unverified(
                Check::Proof,
                format!("{from}'s partial is not of its share: {e}"),
            )
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
                let partial = self.check_reveal(from, &sealed)?;
                self.valid.push((who, partial));
            }
            Reveal::Withheld(why) => {
                self.log.record(DkdFact::ShareWithheld(who, why)).await?;
                self.withheld.push(who);
            }
        }
        Ok(())
    }

    async fn derived_key(&mut self, _to: Peer) -> Result<DerivedPublicKey, ServiceError> {
        Ok(self.result()?.0.clone())
    }

    async fn on_derivation_ack(
        &mut self,
        from: Peer,
        msg: msg::DerivationAck,
    ) -> Result<(), ServiceError> {
        let expected = ack_digest(&self.result()?.0);
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
    let input = match input(state.root.verifying_key(), &request) {
        Ok(input) => input,
        Err(e) => return Err(reject(session, e)),
    };
    let log = FactLog::of(&session);
    let mut code = InitiatorSession {
        state,
        log: log.clone(),
        request,
        key,
        input,
        commitments: Vec::new(),
        valid: Vec::new(),
        withheld: Vec::new(),
        confirmed: Vec::new(),
        derived: None,
    };
    let run = choreo_dkd_choreography::execute_as(
        choreo_dkd_choreography::As::Initiator(&mut code),
        session,
        &choreo_dkd_choreography::Params::default(),
    )
    .await;
    let result = run
        .map_err(ServiceError::from)
        .and_then(|_| code.result().cloned());
    let InitiatorSession {
        state,
        request,
        confirmed,
        ..
    } = code;
    match result {
        Ok((payload, secret)) => {
            let key = DerivedKey {
                context: request.context,
                path: request.path,
                public_key: payload.public_key,
                contributors: payload.contributors,
            };
            log.record(DkdFact::KeyDerived(key.clone())).await?;
            state.keys.push(key.clone());
            Ok(DkdOutcome {
                key,
                secret,
                confirmed,
            })
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
    /// Its share of the derivation root (zeroized on drop).
    pub root_share: tprf::Share,
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
    pub public_key: VerifyingKey,
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
    partial: Partial,
    salt: Digest,
    released: Result<(), String>,
}

impl Job {
    fn commitment(&self) -> Digest {
        commitment(&self.partial, &self.salt)
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
        let root = &self.state.root_share;
        let input = input(root.verifying_key(), &msg)?;
        let partial = tprf::evaluate(root, &input, &binding(&msg.derivation_id, self.me));
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
            partial,
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
            Ok(()) => DerivationShare::seal(&job.request, self.me, &job.partial, &job.salt),
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
