//! GuardianSetup: hand the account's chosen guardians their recovery shares.
//!
//! Implements the seed entry **GuardianSetup** (CHOREO-REC-004, owner
//! `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: the setup request and the local key
//! state. Each guardian enrolls from its policy (how many accounts it
//! guards, the lowest threshold it serves under) and announces the key its
//! share is sealed to; a guardian that declines refuses the setup, which
//! cancels it for everyone (run it again with the guardians that serve: the
//! family is bound per run). The Account splits its recovery secret (a
//! FROST Ed25519 signing key) with FROST's verifiable secret sharing among
//! the guardians (`keys::split`: random coefficients from the OS, a VSS
//! commitment per share), `threshold` of them recovering it, and completes
//! the setup once every guardian confirmed its share; a share or
//! confirmation that does not check out cancels the setup.
//!
//! # Who learns what
//!
//! - Each guardian announces a fresh X25519 public key (public by design:
//!   the old `enrollment` was the symmetric sealing key itself, sent in
//!   clear). Its share travels sealed to that key (ephemeral X25519, BLAKE3
//!   key derivation, ChaCha20-Poly1305 bound to the setup id and guardian),
//!   so only that guardian opens it (`leak = "Group"`: the ciphertext).
//! - The Account knows the secret it shares; each guardian learns its own
//!   share, the VSS commitment (public) and the group key.
//! - A guardian confirms with a digest of its verifying share (public, so
//!   the confirmation leaks nothing), which the Account compares in
//!   constant time; the guardian checks that the announced group key is the
//!   one its share's commitment commits to before it keeps the share.

use choreo_guardian_setup::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, frost, seal_to, Digest, SealKey, SealPublic, Sealed};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
use crate::{family_size, index_of, own_index, reject, ServiceError};

/// The Account's invitation into the setup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupInvitation {
    /// Identifies this setup.
    pub setup_id: Digest,
    /// The account.
    pub account_id: Digest,
    /// Shares needed to recover.
    pub threshold: u16,
    /// Guardians invited.
    pub total: u16,
    /// The account epoch.
    pub epoch: u64,
}

/// A guardian's enrollment: the public key its share is sealed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianPublicKey {
    /// A fresh X25519 public key of this setup.
    pub sealing_key: SealPublic,
}

/// The guardians that enrolled, and the threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianRoster {
    /// The setup.
    pub setup_id: Digest,
    /// Member indices of the enrolled guardians.
    pub guardians: Vec<u16>,
    /// Shares needed to recover.
    pub threshold: u16,
}

/// A guardian's share, sealed to its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedKeyShare {
    /// The setup.
    pub setup_id: Digest,
    /// The share's FROST identifier (member index + 1).
    pub share_index: u16,
    /// The serialised FROST `SecretShare` (with its VSS commitment), sealed.
    pub sealed: Sealed,
}

/// Binds the protocol's payload types to this module's.
pub struct SetupTypes;

impl choreo_guardian_setup::Types for SetupTypes {
    type SetupInvitation = SetupInvitation;
    type GuardianPublicKey = GuardianPublicKey;
    type GuardianRoster = GuardianRoster;
    type EncryptedKeyShare = EncryptedKeyShare;
}

/// An account a guardian guards, with its share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guardianship {
    /// The account.
    pub account_id: Digest,
    /// The share, with its VSS commitment (zeroized on drop).
    pub share: frost::keys::SecretShare,
    /// Shares needed to recover.
    pub threshold: u16,
    /// The group's public key (the FROST verifying key's bytes).
    pub group_public_key: Digest,
    /// The epoch of the setup.
    pub epoch: u64,
}

/// A fact of guardian setup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetupFact {
    /// A guardian enrolled (`Ok`) or declined.
    Enrolled(u16, Result<(), String>),
    /// A guardian confirmed its share.
    ShareConfirmed(u16),
    /// The setup completed with this roster.
    Completed(Vec<u16>),
    /// The setup failed (a guardian declined, a share did not check out).
    Failed(String),
}

impl DomainFact for SetupFact {
    const PROTOCOL: &'static str = "GuardianSetup";

    fn kind(&self) -> &'static str {
        match self {
            SetupFact::Enrolled(..) => "Enrolled",
            SetupFact::ShareConfirmed(..) => "ShareConfirmed",
            SetupFact::Completed(..) => "Completed",
            SetupFact::Failed(..) => "Failed",
        }
    }
}

const SHARE: &str = "choreo-services/guardian-setup/share";

/// What a guardian confirms for its share: a digest of its verifying share
/// (public), bound to the setup.
pub fn share_confirmation(setup_id: &Digest, share: &frost::keys::SecretShare) -> Digest {
    let verifying = frost::keys::VerifyingShare::from(*share.signing_share());
    let bytes = verifying.serialize().unwrap_or_default();
    crypto::digest(
        "choreo-services/guardian-setup/confirm",
        &[setup_id, &bytes],
    )
}

/// The associated data a share is sealed under.
fn share_context(setup_id: &Digest, guardian: u16) -> [Vec<u8>; 3] {
    [
        SHARE.as_bytes().to_vec(),
        setup_id.to_vec(),
        guardian.to_le_bytes().to_vec(),
    ]
}

impl EncryptedKeyShare {
    /// `share` of setup `setup_id` for guardian `guardian`, sealed to `to`.
    pub fn seal(
        setup_id: Digest,
        guardian: u16,
        share: &frost::keys::SecretShare,
        to: &SealPublic,
    ) -> Result<Self, ServiceError> {
        let bytes = crypto::share_bytes(share).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let [a, b, c] = share_context(&setup_id, guardian);
        let sealed = seal_to(to, &[&a, &b, &c], &bytes).map_err(|e| {
            ServiceError::unverified(Check::Decryption, format!("a sealing key: {e}"))
        })?;
        Ok(EncryptedKeyShare {
            setup_id,
            share_index: guardian + 1,
            sealed,
        })
    }
}

/// The group public key of a recovery secret (the serialised verifying key).
pub fn group_public_key(secret: &frost::SigningKey) -> Digest {
    crypto::group_key_bytes(&frost::VerifyingKey::from(secret)).unwrap_or_default()
}

/// The Account's setup state.
#[derive(Clone, Debug)]
pub struct AccountState {
    /// The account.
    pub account_id: Digest,
    /// The recovery secret to share (zeroized on drop).
    pub secret: frost::SigningKey,
    /// Shares needed to recover.
    pub threshold: u16,
    /// The account epoch.
    pub epoch: u64,
    /// The guardians of the completed setup.
    pub guardians: Vec<u16>,
}

/// How a completed setup ended for the Account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupOutcome {
    /// The guardians holding a share, by member index.
    pub guardians: Vec<u16>,
    /// The group key of the shared secret.
    pub group_public_key: Digest,
}

/// One setup as the Account plays it.
struct AccountSession<'s> {
    state: &'s mut AccountState,
    log: FactLog,
    invitation: SetupInvitation,
    /// The share of each guardian, by member index.
    shares: Vec<frost::keys::SecretShare>,
    keys: Vec<(u16, SealPublic)>,
    confirmed: Vec<u16>,
}

impl AccountSession<'_> {
    /// The share of guardian `peer`, and the key it is sealed to.
    fn share_for(
        &self,
        peer: Peer,
    ) -> Result<(&frost::keys::SecretShare, &SealPublic), ServiceError> {
        let who = index_of(peer)?;
        let share = self
            .shares
            .get(usize::from(who))
            .ok_or_else(|| ServiceError::Invalid(format!("no share for {peer}")))?;
        let key = (self.keys.iter())
            .find(|(w, _)| *w == who)
            .map(|(_, k)| k)
            .ok_or(ServiceError::Missing("guardian key announcement"))?;
        Ok((share, key))
    }
}

impl choreo_guardian_setup::Account for AccountSession<'_> {
    type Types = SetupTypes;
    type Error = ServiceError;

    async fn setup_invitation(&mut self, _to: Peer) -> Result<SetupInvitation, ServiceError> {
        Ok(self.invitation.clone())
    }

    async fn on_guardian_key_announcement(
        &mut self,
        from: Peer,
        msg: GuardianPublicKey,
    ) -> Result<(), ServiceError> {
        let who = index_of(from)?;
        self.keys.push((who, msg.sealing_key));
        self.log.record(SetupFact::Enrolled(who, Ok(()))).await
    }

    async fn roster_announcement(&mut self, _to: Peer) -> Result<GuardianRoster, ServiceError> {
        let mut guardians: Vec<u16> = self.keys.iter().map(|(who, _)| *who).collect();
        guardians.sort();
        Ok(GuardianRoster {
            setup_id: self.invitation.setup_id,
            guardians,
            threshold: self.state.threshold,
        })
    }

    async fn share_delivery(&mut self, to: Peer) -> Result<EncryptedKeyShare, ServiceError> {
        let (share, key) = self.share_for(to)?;
        EncryptedKeyShare::seal(self.invitation.setup_id, index_of(to)?, share, key)
    }

    async fn on_share_accepted(
        &mut self,
        from: Peer,
        msg: msg::ShareAccepted,
    ) -> Result<(), ServiceError> {
        let (share, _) = self.share_for(from)?;
        let who = index_of(from)?;
        let expected = share_confirmation(&self.invitation.setup_id, share);
        if msg.share_index != who + 1 || crypto::ensure_eq(&msg.commitment, &expected).is_err() {
            return Err(ServiceError::unverified(
                Check::Commitment,
                format!("{from} confirms a share it was not sent"),
            ));
        }
        self.log.record(SetupFact::ShareConfirmed(who)).await?;
        self.confirmed.push(who);
        Ok(())
    }

    async fn setup_complete(&mut self, _to: Peer) -> Result<msg::SetupComplete, ServiceError> {
        if self.confirmed.len() != self.shares.len() {
            return Err(ServiceError::Missing("share confirmation"));
        }
        Ok(msg::SetupComplete {
            group_public_key: group_public_key(&self.state.secret),
            threshold: self.state.threshold,
            epoch: self.state.epoch,
        })
    }
}

/// The invitation and the shares of a setup among `total` guardians.
fn prepare(
    state: &AccountState,
    total: u16,
) -> Result<(SetupInvitation, Vec<frost::keys::SecretShare>), ServiceError> {
    let epoch = state.epoch.to_le_bytes();
    let setup_id = crypto::digest(
        "choreo-services/guardian-setup/id",
        &[&state.account_id, &epoch, &crypto::random::<16>()],
    );
    let threshold = state.threshold;
    let refused = || {
        ServiceError::Invalid(format!(
            "threshold {threshold} of {total} guardians (FROST needs 2 or more)"
        ))
    };
    let (shares, _) = frost::keys::split(
        &state.secret,
        total,
        threshold,
        frost::keys::IdentifierList::Default,
        &mut crypto::rng(),
    )
    .map_err(|_| refused())?;
    // `split` numbers the shares 1..=total: member k holds identifier k + 1.
    let shares: Vec<_> = shares.into_values().collect();
    let invitation = SetupInvitation {
        setup_id,
        account_id: state.account_id,
        threshold,
        total,
        epoch: state.epoch,
    };
    Ok((invitation, shares))
}

/// Runs the Account: invites every guardian, shares the recovery secret among
/// them, and completes the setup when each confirmed its share. A guardian
/// that declines cancels the setup, which is recorded as failed.
pub async fn run_account<T: Transport>(
    session: Session<'_, T>,
    state: &mut AccountState,
) -> Result<SetupOutcome, ServiceError> {
    let prepared = family_size(&session, Role::Guardian.index()).and_then(|n| prepare(state, n));
    let (invitation, shares) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return Err(reject(session, e)),
    };
    let log = FactLog::of(&session);
    let mut code = AccountSession {
        state,
        log: log.clone(),
        invitation,
        shares,
        keys: Vec::new(),
        confirmed: Vec::new(),
    };
    let run = choreo_guardian_setup::execute_as(
        choreo_guardian_setup::As::Account(&mut code),
        session,
        &choreo_guardian_setup::Params::default(),
    )
    .await;
    let AccountSession {
        state,
        mut confirmed,
        ..
    } = code;
    if let Err(e) = run {
        let e = ServiceError::from(e);
        log.record(SetupFact::Failed(e.reason())).await?;
        return Err(e);
    }
    confirmed.sort();
    log.record(SetupFact::Completed(confirmed.clone())).await?;
    state.guardians = confirmed.clone();
    Ok(SetupOutcome {
        guardians: confirmed,
        group_public_key: group_public_key(&state.secret),
    })
}

/// When a guardian enrolls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardianPolicy {
    /// Accounts it guards at most.
    pub max_guardianships: usize,
    /// The lowest threshold it serves under.
    pub min_threshold: u16,
}

/// A guardian's setup state.
#[derive(Clone, Debug)]
pub struct GuardianState {
    /// Its policy.
    pub policy: GuardianPolicy,
    /// The accounts it guards.
    pub guardianships: Vec<Guardianship>,
}

/// One setup as a guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    log: FactLog,
    me: u16,
    /// The invitation, and the key this guardian's share is sealed to.
    enrolled: Option<(SetupInvitation, SealKey)>,
    /// The checked share, the group key its commitment commits to, and the
    /// confirmation to send.
    pending: Option<(frost::keys::SecretShare, Digest, Digest)>,
    completed: Option<msg::SetupComplete>,
}

impl GuardianSession<'_> {
    fn enrolled(&self) -> Result<&(SetupInvitation, SealKey), ServiceError> {
        self.enrolled
            .as_ref()
            .ok_or(ServiceError::Missing("setup invitation"))
    }

    /// Why this guardian declines `invitation`, if it does.
    fn objection(&self, invitation: &SetupInvitation) -> Option<String> {
        let policy = &self.state.policy;
        if self.state.guardianships.len() >= policy.max_guardianships {
            Some("guards as many accounts as its policy allows".into())
        } else if invitation.threshold < policy.min_threshold
            || invitation.threshold > invitation.total
        {
            Some(format!(
                "threshold {} of {} is outside policy",
                invitation.threshold, invitation.total
            ))
        } else {
            None
        }
    }
}

impl choreo_guardian_setup::Guardian for GuardianSession<'_> {
    type Types = SetupTypes;
    type Error = ServiceError;

    async fn on_setup_invitation(
        &mut self,
        _from: Peer,
        msg: SetupInvitation,
    ) -> Result<(), ServiceError> {
        let verdict = self.objection(&msg).map_or(Ok(()), Err);
        let fact = SetupFact::Enrolled(self.me, verdict.clone());
        self.log.record(fact).await?;
        verdict.map_err(ServiceError::Refused)?;
        self.enrolled = Some((msg, SealKey::generate()));
        Ok(())
    }

    async fn guardian_key_announcement(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianPublicKey, ServiceError> {
        Ok(GuardianPublicKey {
            sealing_key: self.enrolled()?.1.public(),
        })
    }

    async fn on_roster_announcement(
        &mut self,
        _from: Peer,
        msg: GuardianRoster,
    ) -> Result<(), ServiceError> {
        let (invitation, _) = self.enrolled()?;
        if msg.setup_id != invitation.setup_id || !msg.guardians.contains(&self.me) {
            return Err(ServiceError::unverified(
                Check::Binding,
                "left out of the roster",
            ));
        }
        Ok(())
    }

    async fn on_share_delivery(
        &mut self,
        _from: Peer,
        msg: EncryptedKeyShare,
    ) -> Result<(), ServiceError> {
        let (inv, key) = self.enrolled()?;
        if msg.setup_id != inv.setup_id || msg.share_index != self.me + 1 {
            return Err(ServiceError::unverified(
                Check::Binding,
                "a share of another setup or guardian",
            ));
        }
        let [a, b, c] = share_context(&inv.setup_id, self.me);
        let unopened = || ServiceError::unverified(Check::Decryption, "the delivered share");
        let opened = key
            .open(&[&a, &b, &c], &msg.sealed)
            .map_err(|_| unopened())?;
        let share = frost::keys::SecretShare::deserialize(&opened).map_err(|_| unopened())?;
        if crypto::identifier(self.me).ok() != Some(*share.identifier()) {
            return Err(ServiceError::unverified(
                Check::Binding,
                "the delivered share is another guardian's",
            ));
        }
        let (_, group_key) = share
            .verify()
            .map_err(|_| ServiceError::unverified(Check::Commitment, "the delivered share"))?;
        let group_key = crypto::group_key_bytes(&group_key)
            .map_err(|_| ServiceError::unverified(Check::Commitment, "the delivered share"))?;
        let confirmation = share_confirmation(&inv.setup_id, &share);
        self.pending = Some((share, group_key, confirmation));
        Ok(())
    }

    async fn share_accepted(&mut self, _to: Peer) -> Result<msg::ShareAccepted, ServiceError> {
        let (_, _, confirmation) = self
            .pending
            .as_ref()
            .ok_or(ServiceError::Missing("share delivery"))?;
        Ok(msg::ShareAccepted {
            share_index: self.me + 1,
            commitment: *confirmation,
        })
    }

    async fn on_setup_complete(
        &mut self,
        _from: Peer,
        msg: msg::SetupComplete,
    ) -> Result<(), ServiceError> {
        let (inv, _) = self.enrolled()?;
        if msg.threshold != inv.threshold || msg.epoch != inv.epoch {
            return Err(ServiceError::unverified(
                Check::Epoch,
                "the completed setup is not the one it enrolled in",
            ));
        }
        let (_, group_key, _) = self
            .pending
            .as_ref()
            .ok_or(ServiceError::Missing("share delivery"))?;
        if crypto::ensure_eq(group_key, &msg.group_public_key).is_err() {
            return Err(ServiceError::unverified(
                Check::Commitment,
                "the announced group key is not the one the share commits to",
            ));
        }
        self.completed = Some(msg);
        Ok(())
    }
}

/// Runs a guardian: enrolls from its policy (declining cancels the setup),
/// installs its share, and keeps the guardianship once the Account completes
/// the setup.
pub async fn run_guardian<T: Transport>(
    session: Session<'_, T>,
    state: &mut GuardianState,
) -> Result<Guardianship, ServiceError> {
    let me = match own_index(&session, Role::Guardian.name()) {
        Ok(me) => me,
        Err(e) => return Err(reject(session, e)),
    };
    let mut code = GuardianSession {
        state,
        log: FactLog::of(&session),
        me,
        enrolled: None,
        pending: None,
        completed: None,
    };
    choreo_guardian_setup::execute_as(
        choreo_guardian_setup::As::Guardian(&mut code),
        session,
        &choreo_guardian_setup::Params::default(),
    )
    .await?;
    let GuardianSession {
        state,
        enrolled,
        pending,
        completed,
        ..
    } = code;
    let (Some((inv, _)), Some((share, group_public_key, _)), Some(done)) =
        (enrolled, pending, completed)
    else {
        return Err(ServiceError::Missing("setup completion"));
    };
    let guardianship = Guardianship {
        account_id: inv.account_id,
        share,
        threshold: done.threshold,
        group_public_key,
        epoch: done.epoch,
    };
    state.guardianships.push(guardianship.clone());
    Ok(guardianship)
}
