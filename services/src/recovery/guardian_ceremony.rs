//! GuardianCeremony: rotate the account's guardian key shares.
//!
//! Implements the seed entry **GuardianCeremony** (CHOREO-REC-003, owner
//! `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: proposal, response, commit or abort
//! come from service state, and the Initiator's Commit/Abort from its policy
//! and its [`CeremonyTracker`]: it commits only when at least
//! `policy.threshold` guardians accepted and the ceremony was not superseded
//! by a newer one (starting a ceremony supersedes every open one of the
//! account, so the older one's commit is refused). Each guardian accepts or
//! declines from its own view and policy (the prestate it knows, the next
//! epoch, a minimum threshold). On Commit the Initiator deals a fresh FROST
//! key among the guardians that accepted (`threshold` of them can sign or
//! rebuild it), delivers each of them its share, and tells each guardian
//! that declined that it gets none.
//!
//! # Who learns what
//!
//! - Proposal, responses, commit and abort are signed (Ed25519) by their
//!   sender's identity key and checked by the receiver; they are public to
//!   the session's parties.
//! - A guardian that accepts sends a fresh X25519 key in its signed
//!   response. Its share travels sealed to that key (ephemeral X25519,
//!   BLAKE3 key derivation, ChaCha20-Poly1305 with the ceremony id, the
//!   share index and the guardian as associated data), so only that
//!   guardian opens it: the `leak = "Group"` of the share delivery is the
//!   ciphertext, the share itself reaches its holder only.
//! - The Initiator deals the shares, so it knows the new key while dealing
//!   (a trusted dealer, as in FROST's `generate_with_dealer`); it keeps only
//!   the public key package. Each guardian learns its own share, every
//!   verifying share and the group key (from the share's VSS commitment).
//! - A guardian installs a share only after checking: the commit's signature,
//!   that the Initiator's journal (merged with the commit) records the
//!   ceremony as committed and not superseded, that the share opens, is its
//!   own, and verifies against its VSS commitment for the announced group key.
//!
//! A value that does not check out makes the role that finds it refuse with
//! [`ServiceError::Unverified`], which cancels the ceremony for everyone and
//! records nothing of that step; a state that cannot run a ceremony is
//! refused before anything is sent.

use std::collections::BTreeMap;

use choreo_guardian_ceremony::choice::{AbortOrCommit, DeliverOrSkip};
use choreo_guardian_ceremony::{msg, Role};
use choreo_runtime::journal::ceremony::CeremonyStatus;
use choreo_runtime::journal::{CeremonyId, PrestateHash};
use choreo_runtime::{CeremonyTracker, Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{
    self, frost, seal_to, Digest, SealKey, SealPublic, Sealed, Signature, SigningKey, VerifyingKey,
};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::{family_size, index_of, own_index, reject, ServiceError};

/// The op type of guardian rotations in the ceremony tracker.
pub const OP_TYPE: &str = "guardian-rotation";

/// The rotation proposed against the account's current prestate, signed by
/// the Initiator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyProposal {
    /// Identifies the ceremony (digest of prestate, new epoch and attempt).
    pub ceremony_id: Digest,
    /// Digest of the account state the rotation applies to.
    pub prestate: Digest,
    /// The epoch the new shares belong to.
    pub new_epoch: u64,
    /// Shares needed to sign with (or rebuild) the new key.
    pub threshold: u16,
    /// Guardians asked.
    pub total: u16,
    /// The Initiator's signature over the fields above.
    pub signature: Signature,
}

/// A guardian's signed answer to the proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyResponse {
    /// The ceremony answered.
    pub ceremony_id: Digest,
    /// The key this guardian's share is sealed to, or why it declines.
    pub answer: Result<SealPublic, String>,
    /// The guardian's signature over the fields above.
    pub signature: Signature,
}

/// The Initiator's signed commit: the new epoch, who accepted, the new key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyCommit {
    /// The ceremony committed.
    pub ceremony_id: Digest,
    /// The epoch the shares now belong to.
    pub new_epoch: u64,
    /// Member indices of the guardians that accepted (and get a share).
    pub accepted_by: Vec<u16>,
    /// The new group verifying key (FROST, Ed25519).
    pub group_key: Vec<u8>,
    /// The Initiator's signature over the fields above.
    pub signature: Signature,
}

/// One guardian's new share, sealed to the key of its response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedKeyShare {
    /// The ceremony the share belongs to.
    pub ceremony_id: Digest,
    /// The share's FROST identifier (member index + 1).
    pub share_index: u16,
    /// The serialised FROST `SecretShare` (with its VSS commitment), sealed.
    pub sealed: Sealed,
}

/// The Initiator's signed abort and its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyAbort {
    /// The ceremony aborted.
    pub ceremony_id: Digest,
    /// Why.
    pub reason: String,
    /// The Initiator's signature over the fields above.
    pub signature: Signature,
}

/// Binds the protocol's payload types to this module's.
pub struct GuardianCeremonyTypes;

impl choreo_guardian_ceremony::Types for GuardianCeremonyTypes {
    type CeremonyProposal = CeremonyProposal;
    type CeremonyResponse = CeremonyResponse;
    type CeremonyCommit = CeremonyCommit;
    type EncryptedKeyShare = EncryptedKeyShare;
    type CeremonyAbort = CeremonyAbort;
}

const PROPOSAL: &str = "choreo-services/guardian-ceremony/proposal";
const RESPONSE: &str = "choreo-services/guardian-ceremony/response";
const COMMIT: &str = "choreo-services/guardian-ceremony/commit";
const ABORT: &str = "choreo-services/guardian-ceremony/abort";
const SHARE: &str = "choreo-services/guardian-ceremony/share";

/// A placeholder signature, replaced by [`sign`](CeremonyProposal::sign)
/// before anything is sent.
fn unsigned() -> Signature {
    Signature::from_bytes([0; 64])
}

macro_rules! signed_message {
    ($ty:ty, $domain:expr, |$m:ident| $fields:expr) => {
        impl $ty {
            fn signed_bytes(&self) -> Vec<u8> {
                let $m = self;
                crypto::encode(&$fields)
            }

            /// Signs the message with `key` (its sender's identity key).
            pub fn sign(mut self, key: &SigningKey) -> Self {
                self.signature = key.sign($domain, &[&self.signed_bytes()]);
                self
            }

            /// Checks the message's signature under `key`.
            pub fn verify(&self, key: &VerifyingKey) -> Result<(), crypto::CryptoError> {
                key.verify($domain, &[&self.signed_bytes()], &self.signature)
            }
        }
    };
}

signed_message!(CeremonyProposal, PROPOSAL, |p| (
    &p.ceremony_id,
    &p.prestate,
    p.new_epoch,
    p.threshold,
    p.total
));
signed_message!(CeremonyResponse, RESPONSE, |r| (&r.ceremony_id, &r.answer));
signed_message!(CeremonyCommit, COMMIT, |c| (
    &c.ceremony_id,
    c.new_epoch,
    &c.accepted_by,
    &c.group_key
));
signed_message!(CeremonyAbort, ABORT, |a| (&a.ceremony_id, &a.reason));

impl EncryptedKeyShare {
    /// `share` of ceremony `ceremony_id` for guardian `guardian`, sealed to `to`.
    pub fn seal(
        ceremony_id: Digest,
        guardian: u16,
        share: &frost::keys::SecretShare,
        to: &SealPublic,
    ) -> Result<Self, ServiceError> {
        let bytes = crypto::share_bytes(share).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let [a, b] = share_context(&ceremony_id, guardian);
        let sealed = seal_to(to, &[SHARE.as_bytes(), &a, &b], &bytes).map_err(|e| {
            ServiceError::unverified(Check::Decryption, format!("a sealing key: {e}"))
        })?;
        Ok(EncryptedKeyShare {
            ceremony_id,
            share_index: guardian + 1,
            sealed,
        })
    }
}

/// The associated data a share is sealed under.
fn share_context(ceremony_id: &Digest, guardian: u16) -> [Vec<u8>; 2] {
    [ceremony_id.to_vec(), guardian.to_le_bytes().to_vec()]
}

/// A fact of the ceremony, as recorded by either role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CeremonyFact {
    /// The Initiator proposed the ceremony.
    Proposed {
        /// The ceremony.
        ceremony_id: Digest,
        /// Its epoch.
        new_epoch: u64,
    },
    /// A guardian answered (recorded by both sides).
    Responded {
        /// The guardian's member index.
        guardian: u16,
        /// Its answer.
        accepted: bool,
    },
    /// The ceremony was committed.
    Committed {
        /// The ceremony.
        ceremony_id: Digest,
        /// Its epoch.
        new_epoch: u64,
    },
    /// The ceremony was aborted.
    Aborted {
        /// The ceremony.
        ceremony_id: Digest,
        /// Why.
        reason: String,
    },
    /// A guardian installed its new share (recorded by both sides).
    ShareInstalled {
        /// The guardian's member index.
        guardian: u16,
        /// The share's epoch.
        new_epoch: u64,
    },
}

impl DomainFact for CeremonyFact {
    const PROTOCOL: &'static str = "GuardianCeremony";

    fn kind(&self) -> &'static str {
        match self {
            CeremonyFact::Proposed { .. } => "Proposed",
            CeremonyFact::Responded { .. } => "Responded",
            CeremonyFact::Committed { .. } => "Committed",
            CeremonyFact::Aborted { .. } => "Aborted",
            CeremonyFact::ShareInstalled { .. } => "ShareInstalled",
        }
    }
}

/// The account as a role knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountState {
    /// Digest of the current account state.
    pub prestate: Digest,
    /// The current epoch.
    pub epoch: u64,
}

/// When the Initiator commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeremonyPolicy {
    /// Acceptances needed to commit; also the new key's threshold (FROST
    /// needs at least 2).
    pub threshold: u16,
}

/// The Initiator's service state.
#[derive(Clone)]
pub struct InitiatorState {
    /// The account being rotated; its epoch advances on Commit.
    pub account: AccountState,
    /// The commit policy.
    pub policy: CeremonyPolicy,
    /// The Initiator's identity key; guardians know its public key.
    pub identity: SigningKey,
    /// Each guardian's identity key, by member index.
    pub guardians: Vec<VerifyingKey>,
    /// The ceremonies of this account, over the node's journal: shared by
    /// every ceremony the node runs (clone the state, not the tracker's journal).
    pub tracker: CeremonyTracker,
}

impl std::fmt::Debug for InitiatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorState")
            .field("account", &self.account)
            .field("policy", &self.policy)
            .field("identity", &self.identity)
            .field("guardians", &self.guardians)
            .field("tracker", &self.tracker.journal())
            .finish()
    }
}

/// How a ceremony ended for the Initiator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitiatorOutcome {
    /// Committed; shares were delivered to the guardians that accepted.
    Committed {
        /// The new epoch.
        new_epoch: u64,
        /// Guardians that accepted.
        accepted_by: Vec<u16>,
        /// Guardians that confirmed installing their share.
        installed_by: Vec<u16>,
        /// The new group key and every guardian's verifying share.
        public_keys: Box<frost::keys::PublicKeyPackage>,
    },
    /// Aborted, with the reason sent to the guardians.
    Aborted {
        /// Why.
        reason: String,
    },
}

/// One ceremony as the Initiator plays it.
struct InitiatorSession<'s> {
    state: &'s mut InitiatorState,
    log: FactLog,
    id: CeremonyId,
    proposal: CeremonyProposal,
    /// Each accepting guardian's sealing key, by member index.
    accepted: BTreeMap<u16, SealPublic>,
    /// The dealt shares, once committed.
    dealt: Option<(
        BTreeMap<u16, frost::keys::SecretShare>,
        frost::keys::PublicKeyPackage,
    )>,
    commit: Option<CeremonyCommit>,
    abort: Option<CeremonyAbort>,
    installed: Vec<u16>,
    /// The next member of the per-guardian Deliver/Skip rounds.
    round: u16,
}

impl InitiatorSession<'_> {
    /// Why the ceremony cannot commit: too few acceptances, or superseded.
    fn objection(&self) -> Option<String> {
        let needed = self.state.policy.threshold;
        if self.accepted.len() < usize::from(needed) {
            return Some(format!(
                "{} of {} guardians accepted, the policy needs {needed}",
                self.accepted.len(),
                self.proposal.total
            ));
        }
        self.state
            .tracker
            .can_commit(&self.id)
            .err()
            .map(|e| format!("the ceremony cannot commit: {e}"))
    }

    /// Deals the new key among the accepting guardians and records the commit.
    async fn commit(&mut self) -> Result<Option<String>, ServiceError> {
        let ids = self
            .accepted
            .keys()
            .map(|g| crypto::identifier(*g))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let count = u16::try_from(ids.len())
            .map_err(|_| ServiceError::Invalid("too many guardians".into()))?;
        let (mut shares, public_keys) = frost::keys::generate_with_dealer(
            count,
            self.state.policy.threshold,
            frost::keys::IdentifierList::Custom(&ids),
            crypto::rng(),
        )
        .map_err(|e| ServiceError::Invalid(format!("cannot deal the new key: {e}")))?;
        let group_key = public_keys
            .verifying_key()
            .serialize()
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let mut by_member = BTreeMap::new();
        for g in self.accepted.keys() {
            let id = crypto::identifier(*g).map_err(|e| ServiceError::Invalid(e.to_string()))?;
            if let Some(share) = shares.remove(&id) {
                by_member.insert(*g, share);
            }
        }
        // Recorded before CommitCeremony is sent; a superseded ceremony is refused here.
        if let Err(e) = self.state.tracker.record_commit(&self.id).await {
            return Ok(Some(format!("the ceremony cannot commit: {e}")));
        }
        let commit = CeremonyCommit {
            ceremony_id: self.proposal.ceremony_id,
            new_epoch: self.proposal.new_epoch,
            accepted_by: self.accepted.keys().copied().collect(),
            group_key,
            signature: unsigned(),
        }
        .sign(&self.state.identity);
        self.log
            .record(CeremonyFact::Committed {
                ceremony_id: commit.ceremony_id,
                new_epoch: commit.new_epoch,
            })
            .await?;
        self.commit = Some(commit);
        self.dealt = Some((by_member, public_keys));
        Ok(None)
    }

    /// Records the abort for `reason` and prepares its message.
    async fn abort(&mut self, reason: String) -> Result<(), ServiceError> {
        let id = self.proposal.ceremony_id;
        self.state
            .tracker
            .record_abort(&self.id, &reason)
            .await
            .map_err(|e| ServiceError::Invalid(format!("cannot record the abort: {e}")))?;
        self.log
            .record(CeremonyFact::Aborted {
                ceremony_id: id,
                reason: reason.clone(),
            })
            .await?;
        let abort = CeremonyAbort {
            ceremony_id: id,
            reason,
            signature: unsigned(),
        }
        .sign(&self.state.identity);
        self.abort = Some(abort);
        Ok(())
    }
}

impl choreo_guardian_ceremony::Initiator for InitiatorSession<'_> {
    type Types = GuardianCeremonyTypes;
    type Error = ServiceError;

    async fn propose_rotation(&mut self, _to: Peer) -> Result<CeremonyProposal, ServiceError> {
        Ok(self.proposal.clone())
    }

    async fn on_ceremony_response(
        &mut self,
        from: Peer,
        msg: CeremonyResponse,
    ) -> Result<(), ServiceError> {
        let guardian = index_of(from)?;
        let key = self
            .state
            .guardians
            .get(usize::from(guardian))
            .ok_or_else(|| ServiceError::Invalid(format!("no identity key for {from}")))?;
        msg.verify(key).map_err(|_| {
            ServiceError::unverified(Check::Signature, format!("{from}'s response"))
        })?;
        if msg.ceremony_id != self.proposal.ceremony_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                format!("{from} answered another ceremony"),
            ));
        }
        let accepted = msg.answer.is_ok();
        if let Ok(key) = msg.answer {
            self.accepted.insert(guardian, key);
        }
        self.log
            .record(CeremonyFact::Responded { guardian, accepted })
            .await
    }

    async fn choose_abort_or_commit(&mut self) -> Result<AbortOrCommit, ServiceError> {
        let refused = match self.objection() {
            Some(reason) => Some(reason),
            None => self.commit().await?,
        };
        match refused {
            Some(reason) => {
                self.abort(reason).await?;
                Ok(AbortOrCommit::Abort)
            }
            None => Ok(AbortOrCommit::Commit),
        }
    }

    async fn abort_ceremony(&mut self, _to: Peer) -> Result<CeremonyAbort, ServiceError> {
        self.abort
            .clone()
            .ok_or(ServiceError::Missing("abort decision"))
    }

    async fn commit_ceremony(&mut self, _to: Peer) -> Result<CeremonyCommit, ServiceError> {
        self.commit
            .clone()
            .ok_or(ServiceError::Missing("commit decision"))
    }

    async fn choose_deliver_or_skip(&mut self) -> Result<DeliverOrSkip, ServiceError> {
        let g = self.round;
        self.round += 1;
        Ok(if self.accepted.contains_key(&g) {
            DeliverOrSkip::Deliver
        } else {
            DeliverOrSkip::Skip
        })
    }

    async fn key_share_delivery(&mut self, to: Peer) -> Result<EncryptedKeyShare, ServiceError> {
        let guardian = index_of(to)?;
        let (shares, _) = self
            .dealt
            .as_ref()
            .ok_or(ServiceError::Missing("dealt shares"))?;
        let (Some(share), Some(key)) = (shares.get(&guardian), self.accepted.get(&guardian)) else {
            return Err(ServiceError::Invalid(format!("no share for {to}")));
        };
        EncryptedKeyShare::seal(self.proposal.ceremony_id, guardian, share, key)
    }

    async fn on_share_installed(
        &mut self,
        from: Peer,
        msg: msg::ShareInstalled,
    ) -> Result<(), ServiceError> {
        let guardian = index_of(from)?;
        if msg.ceremony_id != self.proposal.ceremony_id || msg.share_index != guardian + 1 {
            return Err(ServiceError::unverified(
                Check::Binding,
                format!("{from} confirms a share it was not sent"),
            ));
        }
        self.installed.push(guardian);
        let new_epoch = self.proposal.new_epoch;
        self.log
            .record(CeremonyFact::ShareInstalled {
                guardian,
                new_epoch,
            })
            .await
    }

    async fn no_share(&mut self, _to: Peer) -> Result<msg::NoShare, ServiceError> {
        Ok(msg::NoShare {
            ceremony_id: self.proposal.ceremony_id,
        })
    }
}

/// The signed proposal for a ceremony among `total` guardians, attempt
/// `attempt` on this prestate.
fn prepare(
    state: &InitiatorState,
    total: u16,
    attempt: usize,
) -> Result<CeremonyProposal, ServiceError> {
    if state.guardians.len() < usize::from(total) {
        return Err(ServiceError::Invalid(format!(
            "{} guardian keys for {total} guardians",
            state.guardians.len()
        )));
    }
    let threshold = state.policy.threshold;
    if threshold < 2 || threshold > total {
        return Err(ServiceError::Invalid(format!(
            "threshold {threshold} of {total} guardians (a FROST key needs 2 or more)"
        )));
    }
    let new_epoch = state.account.epoch + 1;
    let ceremony_id = crypto::digest(
        "choreo-services/guardian-ceremony/id",
        &[
            &state.account.prestate,
            &new_epoch.to_le_bytes(),
            &(attempt as u64).to_le_bytes(),
        ],
    );
    Ok(CeremonyProposal {
        ceremony_id,
        prestate: state.account.prestate,
        new_epoch,
        threshold,
        total,
        signature: unsigned(),
    }
    .sign(&state.identity))
}

/// Checks the state against the session, starts the ceremony in the tracker
/// (superseding every open one of the account) and returns its proposal.
async fn start<T: Transport>(
    session: &Session<'_, T>,
    state: &InitiatorState,
) -> Result<CeremonyProposal, ServiceError> {
    if state.tracker.journal().origin() != session.node().id() {
        return Err(ServiceError::Invalid(
            "the ceremony tracker is not over this node's journal".into(),
        ));
    }
    let total = family_size(session, Role::Guardian.index())?;
    let prestate = PrestateHash(state.account.prestate);
    let attempt = state
        .tracker
        .ceremonies_on(&prestate, OP_TYPE)
        .map_err(|e| ServiceError::Invalid(e.to_string()))?
        .len();
    let proposal = prepare(state, total, attempt)?;
    state
        .tracker
        .start(CeremonyId(proposal.ceremony_id), prestate, OP_TYPE)
        .await
        .map_err(|e| ServiceError::Invalid(format!("cannot start the ceremony: {e}")))?;
    Ok(proposal)
}

/// Runs the Initiator: starts the ceremony (superseding any open one of the
/// account), proposes the rotation to every guardian, and commits when the
/// policy threshold accepted and the ceremony was not superseded meanwhile
/// (dealing the new key among the guardians that accepted), otherwise
/// aborts. A state that cannot run the ceremony is refused before anything
/// is sent, and the guardians are told why.
pub async fn run_initiator<T: Transport>(
    session: Session<'_, T>,
    state: &mut InitiatorState,
) -> Result<InitiatorOutcome, ServiceError> {
    let proposal = match start(&session, state).await {
        Ok(proposal) => proposal,
        Err(e) => return Err(reject(session, e)),
    };
    let log = FactLog::of(&session);
    let fact = CeremonyFact::Proposed {
        ceremony_id: proposal.ceremony_id,
        new_epoch: proposal.new_epoch,
    };
    if let Err(e) = log.record(fact).await {
        return Err(reject(session, e));
    }
    let mut code = InitiatorSession {
        state,
        log,
        id: CeremonyId(proposal.ceremony_id),
        proposal,
        accepted: BTreeMap::new(),
        dealt: None,
        commit: None,
        abort: None,
        installed: Vec::new(),
        round: 0,
    };
    choreo_guardian_ceremony::execute_as(
        choreo_guardian_ceremony::As::Initiator(&mut code),
        session,
        &choreo_guardian_ceremony::Params::default(),
    )
    .await?;
    let InitiatorSession {
        state,
        proposal,
        accepted,
        dealt,
        commit,
        abort,
        installed,
        ..
    } = code;
    match (commit, dealt, abort) {
        (Some(commit), Some((_, public_keys)), None) => {
            state.account.epoch = proposal.new_epoch;
            Ok(InitiatorOutcome::Committed {
                new_epoch: commit.new_epoch,
                accepted_by: accepted.into_keys().collect(),
                installed_by: installed,
                public_keys: Box::new(public_keys),
            })
        }
        (None, _, Some(abort)) => Ok(InitiatorOutcome::Aborted {
            reason: abort.reason,
        }),
        _ => Err(ServiceError::Missing("commit or abort")),
    }
}

/// When a guardian takes part in a ceremony.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardianPolicy {
    /// The lowest threshold this guardian accepts to share a key under.
    pub min_threshold: u16,
}

/// A share a guardian holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledShare {
    /// The epoch of the sharing.
    pub epoch: u64,
    /// The FROST key package: this guardian's signing share (zeroized on
    /// drop), its verifying share and the group key.
    pub key_package: frost::keys::KeyPackage,
}

/// A guardian's service state.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// The account state this guardian last saw.
    pub view: AccountState,
    /// Its policy.
    pub policy: GuardianPolicy,
    /// Its identity key; the Initiator knows its public key.
    pub identity: SigningKey,
    /// The Initiator's identity key.
    pub initiator: VerifyingKey,
    /// The share it holds, replaced on Commit.
    pub share: Option<InstalledShare>,
}

/// How a ceremony ended for a guardian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardianOutcome {
    /// Committed and the new share installed.
    Installed {
        /// The new epoch.
        epoch: u64,
    },
    /// Committed among the others: this guardian declined and got no share.
    Declined {
        /// The epoch the others moved to.
        epoch: u64,
    },
    /// Aborted by the Initiator.
    Aborted {
        /// The Initiator's reason.
        reason: String,
    },
}

/// One ceremony as a guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    log: FactLog,
    tracker: CeremonyTracker,
    me: u16,
    proposal: Option<CeremonyProposal>,
    /// The key its share is sealed to, when it accepted.
    sealing: Option<SealKey>,
    committed: Option<CeremonyCommit>,
    outcome: Option<GuardianOutcome>,
}

impl GuardianSession<'_> {
    /// Why this guardian declines `p`, if it does.
    fn objection(&self, p: &CeremonyProposal) -> Option<String> {
        let view = &self.state.view;
        if p.prestate != view.prestate {
            Some("proposal is not against the prestate this guardian knows".into())
        } else if p.new_epoch != view.epoch + 1 {
            Some(format!(
                "epoch {} does not follow {}",
                p.new_epoch, view.epoch
            ))
        } else if p.threshold < self.state.policy.min_threshold || p.threshold > p.total {
            Some(format!(
                "threshold {} of {} is outside policy",
                p.threshold, p.total
            ))
        } else {
            None
        }
    }

    fn proposal(&self) -> Result<&CeremonyProposal, ServiceError> {
        self.proposal
            .as_ref()
            .ok_or(ServiceError::Missing("ceremony proposal"))
    }

    fn commit(&self) -> Result<&CeremonyCommit, ServiceError> {
        self.committed
            .as_ref()
            .ok_or(ServiceError::Missing("ceremony commit"))
    }

    /// Opens and checks a delivered share: its own, for this ceremony, and
    /// consistent with its VSS commitment for the announced group key.
    fn check_share(
        &self,
        msg: &EncryptedKeyShare,
    ) -> Result<frost::keys::KeyPackage, ServiceError> {
        let commit = self.commit()?;
        let sealing = self.sealing.as_ref().ok_or_else(|| {
            ServiceError::unverified(Check::Binding, "a share for a guardian that declined")
        })?;
        if msg.ceremony_id != commit.ceremony_id || msg.share_index != self.me + 1 {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a share of another ceremony or guardian",
            ));
        }
        let [a, b] = share_context(&commit.ceremony_id, self.me);
        let opened = sealing
            .open(&[SHARE.as_bytes(), &a, &b], &msg.sealed)
            .map_err(|_| ServiceError::unverified(Check::Decryption, "the delivered share"))?;
        let share = frost::keys::SecretShare::deserialize(&opened)
            .map_err(|_| ServiceError::unverified(Check::Decryption, "the delivered share"))?;
        let mine = crypto::identifier(self.me).ok();
        if Some(*share.identifier()) != mine {
            return Err(ServiceError::unverified(
                Check::Binding,
                "the delivered share is another guardian's",
            ));
        }
        let (_, group_key) = share
            .verify()
            .map_err(|_| ServiceError::unverified(Check::Commitment, "the delivered share"))?;
        if group_key.serialize().ok().as_deref() != Some(commit.group_key.as_slice()) {
            return Err(ServiceError::unverified(
                Check::Commitment,
                "the delivered share is not of the announced group key",
            ));
        }
        frost::keys::KeyPackage::try_from(share)
            .map_err(|_| ServiceError::unverified(Check::Commitment, "the delivered share"))
    }
}

impl choreo_guardian_ceremony::Guardian for GuardianSession<'_> {
    type Types = GuardianCeremonyTypes;
    type Error = ServiceError;

    async fn on_propose_rotation(
        &mut self,
        _from: Peer,
        msg: CeremonyProposal,
    ) -> Result<(), ServiceError> {
        msg.verify(&self.state.initiator)
            .map_err(|_| ServiceError::unverified(Check::Signature, "the proposal"))?;
        self.proposal = Some(msg);
        Ok(())
    }

    async fn ceremony_response(&mut self, _to: Peer) -> Result<CeremonyResponse, ServiceError> {
        let p = self.proposal()?;
        let (ceremony_id, objection) = (p.ceremony_id, self.objection(p));
        let answer = match objection {
            Some(why) => Err(why),
            None => {
                let key = SealKey::generate();
                let public = key.public();
                self.sealing = Some(key);
                Ok(public)
            }
        };
        let response = CeremonyResponse {
            ceremony_id,
            answer,
            signature: unsigned(),
        }
        .sign(&self.state.identity);
        let fact = CeremonyFact::Responded {
            guardian: self.me,
            accepted: response.answer.is_ok(),
        };
        self.log.record(fact).await?;
        Ok(response)
    }

    async fn on_abort_ceremony(
        &mut self,
        _from: Peer,
        msg: CeremonyAbort,
    ) -> Result<(), ServiceError> {
        msg.verify(&self.state.initiator)
            .map_err(|_| ServiceError::unverified(Check::Signature, "the abort"))?;
        if msg.ceremony_id != self.proposal()?.ceremony_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "abort of another ceremony",
            ));
        }
        self.sealing = None;
        let reason = msg.reason.clone();
        self.log
            .record(CeremonyFact::Aborted {
                ceremony_id: msg.ceremony_id,
                reason,
            })
            .await?;
        self.outcome = Some(GuardianOutcome::Aborted { reason: msg.reason });
        Ok(())
    }

    async fn on_commit_ceremony(
        &mut self,
        _from: Peer,
        msg: CeremonyCommit,
    ) -> Result<(), ServiceError> {
        msg.verify(&self.state.initiator)
            .map_err(|_| ServiceError::unverified(Check::Signature, "the commit"))?;
        let p = self.proposal()?;
        if msg.ceremony_id != p.ceremony_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "commit of another ceremony",
            ));
        }
        if msg.new_epoch != p.new_epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                "commit of another epoch",
            ));
        }
        if msg.accepted_by.contains(&self.me) != self.sealing.is_some() {
            return Err(ServiceError::unverified(
                Check::Binding,
                "the commit misstates this guardian's answer",
            ));
        }
        // The commit shipped the Initiator's journal: it must record this
        // ceremony as committed, hence not superseded.
        let status = self
            .tracker
            .status(&CeremonyId(msg.ceremony_id))
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        if status != Some(CeremonyStatus::Committed) {
            return Err(ServiceError::unverified(
                Check::Supersession,
                format!("the Initiator's journal does not record the commit ({status:?})"),
            ));
        }
        let (ceremony_id, new_epoch) = (msg.ceremony_id, msg.new_epoch);
        self.log
            .record(CeremonyFact::Committed {
                ceremony_id,
                new_epoch,
            })
            .await?;
        self.committed = Some(msg);
        Ok(())
    }

    async fn on_key_share_delivery(
        &mut self,
        _from: Peer,
        msg: EncryptedKeyShare,
    ) -> Result<(), ServiceError> {
        let key_package = self.check_share(&msg)?;
        let epoch = self.commit()?.new_epoch;
        self.log
            .record(CeremonyFact::ShareInstalled {
                guardian: self.me,
                new_epoch: epoch,
            })
            .await?;
        self.state.share = Some(InstalledShare { epoch, key_package });
        self.state.view.epoch = epoch;
        self.sealing = None;
        self.outcome = Some(GuardianOutcome::Installed { epoch });
        Ok(())
    }

    async fn share_installed(&mut self, _to: Peer) -> Result<msg::ShareInstalled, ServiceError> {
        match (&self.committed, &self.outcome) {
            (Some(commit), Some(GuardianOutcome::Installed { .. })) => Ok(msg::ShareInstalled {
                ceremony_id: commit.ceremony_id,
                share_index: self.me + 1,
            }),
            _ => Err(ServiceError::Missing("key share")),
        }
    }

    async fn on_no_share(&mut self, _from: Peer, msg: msg::NoShare) -> Result<(), ServiceError> {
        let commit = self.commit()?;
        if msg.ceremony_id != commit.ceremony_id || self.sealing.is_some() {
            return Err(ServiceError::unverified(
                Check::Binding,
                "no share for a guardian that accepted",
            ));
        }
        self.outcome = Some(GuardianOutcome::Declined {
            epoch: commit.new_epoch,
        });
        Ok(())
    }
}

/// Runs a guardian: answers the proposal from its policy, then, on Commit,
/// installs its new share if it accepted (checked as the module docs say),
/// or discards the ceremony on Abort. A value that does not check out
/// cancels the ceremony.
pub async fn run_guardian<T: Transport>(
    session: Session<'_, T>,
    state: &mut GuardianState,
) -> Result<GuardianOutcome, ServiceError> {
    let me = match own_index(&session, Role::Guardian.name()) {
        Ok(me) => me,
        Err(e) => return Err(reject(session, e)),
    };
    let mut code = GuardianSession {
        state,
        log: FactLog::of(&session),
        tracker: CeremonyTracker::new(session.node().journal().clone()),
        me,
        proposal: None,
        sealing: None,
        committed: None,
        outcome: None,
    };
    choreo_guardian_ceremony::execute_as(
        choreo_guardian_ceremony::As::Guardian(&mut code),
        session,
        &choreo_guardian_ceremony::Params::default(),
    )
    .await?;
    code.outcome.ok_or(ServiceError::Missing("commit or abort"))
}
