//! GuardianSetup: hand the account's chosen guardians their recovery shares.
//!
//! Implements the seed entry **GuardianSetup** (CHOREO-REC-004, owner
//! `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: the setup request and the local key
//! state. Each guardian enrolls from its policy (how many accounts it
//! guards, the lowest threshold it serves under) and announces the key its
//! share is sealed to; a guardian that declines refuses the setup, which
//! cancels it for everyone (run it again with the guardians that serve: the
//! family is bound per run). The Account splits its recovery secret with
//! Shamir among the guardians, `threshold` of them recovering it, and
//! completes the setup once every guardian confirmed its share; a share or
//! confirmation that does not match its commitment cancels the setup.

use choreo_guardian_setup::{msg, Role};
use choreo_runtime::{Peer, Session, Transport};
use serde::{Deserialize, Serialize};

use crate::shamir::{self, Share};
use crate::stand_in::Journal;
use crate::stand_in::{self as crypto, Digest};
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

/// A guardian's enrollment: the key its share is sealed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianPublicKey {
    /// The sealing key.
    pub sealing_key: Digest,
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
    /// The share's evaluation point.
    pub share_index: u16,
    /// The share's bytes, sealed.
    pub sealed: Vec<u8>,
    /// Commitment to the plaintext share.
    pub commitment: Digest,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guardianship {
    /// The account.
    pub account_id: Digest,
    /// The share.
    pub share: Share,
    /// Shares needed to recover.
    pub threshold: u16,
    /// The group's public key (commitment to the secret).
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

fn share_commitment(setup_id: &Digest, share: &[u8]) -> Digest {
    crypto::digest("guardian-setup/share", &[setup_id, share])
}

/// The group public key of a recovery secret.
pub fn group_public_key(secret: &[u8; 32]) -> Digest {
    crypto::digest("guardian-setup/group", &[secret])
}

/// The Account's setup state.
#[derive(Clone, Debug)]
pub struct AccountState {
    /// The account.
    pub account_id: Digest,
    /// The recovery secret to share.
    pub secret: [u8; 32],
    /// Shares needed to recover.
    pub threshold: u16,
    /// The account epoch.
    pub epoch: u64,
    /// The guardians of the completed setup.
    pub guardians: Vec<u16>,
    /// Facts of every setup.
    pub journal: Journal<SetupFact>,
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
    invitation: SetupInvitation,
    /// The share of each guardian, by member index.
    shares: Vec<Share>,
    keys: Vec<(u16, Digest)>,
    confirmed: Vec<u16>,
}

impl AccountSession<'_> {
    /// The share of guardian `peer`, and the key it is sealed to.
    fn share_for(&self, peer: Peer) -> Result<(&Share, &Digest), ServiceError> {
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
        self.state.journal.record(SetupFact::Enrolled(who, Ok(())));
        Ok(())
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
        let id = self.invitation.setup_id;
        let (share, key) = self.share_for(to)?;
        Ok(EncryptedKeyShare {
            setup_id: id,
            share_index: u16::from(share.index),
            sealed: crypto::seal(key, &id, &share.bytes),
            commitment: share_commitment(&id, &share.bytes),
        })
    }

    async fn on_share_accepted(
        &mut self,
        from: Peer,
        msg: msg::ShareAccepted,
    ) -> Result<(), ServiceError> {
        let (share, _) = self.share_for(from)?;
        let expected = share_commitment(&self.invitation.setup_id, &share.bytes);
        if msg.share_index != u16::from(share.index) || msg.commitment != expected {
            return Err(ServiceError::Refused(format!(
                "{from} confirms a share it was not sent"
            )));
        }
        let who = index_of(from)?;
        self.confirmed.push(who);
        self.state.journal.record(SetupFact::ShareConfirmed(who));
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
) -> Result<(SetupInvitation, Vec<Share>), ServiceError> {
    let epoch = state.epoch.to_le_bytes();
    let setup_id = crypto::digest("guardian-setup/id", &[&state.account_id, &epoch]);
    let threshold = state.threshold;
    let shares = shamir::split(&state.secret, threshold, total, &setup_id).ok_or_else(|| {
        ServiceError::Invalid(format!("threshold {threshold} of {total} guardians"))
    })?;
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
    let mut code = AccountSession {
        state,
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
        state.journal.record(SetupFact::Failed(e.reason()));
        return Err(e);
    }
    confirmed.sort();
    state
        .journal
        .record(SetupFact::Completed(confirmed.clone()));
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
    /// Secret its sealing keys derive from.
    pub enrollment_secret: Digest,
    /// Its policy.
    pub policy: GuardianPolicy,
    /// The accounts it guards.
    pub guardianships: Vec<Guardianship>,
    /// Facts of every setup.
    pub journal: Journal<SetupFact>,
}

/// One setup as a guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    me: u16,
    /// The invitation, and the key this guardian's share is sealed to.
    enrolled: Option<(SetupInvitation, Digest)>,
    pending: Option<(Share, Digest)>,
    completed: Option<msg::SetupComplete>,
}

impl GuardianSession<'_> {
    fn enrolled(&self) -> Result<&(SetupInvitation, Digest), ServiceError> {
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
        self.state.journal.record(fact);
        verdict.map_err(ServiceError::Refused)?;
        let key = crypto::digest(
            "guardian-setup/seal",
            &[&self.state.enrollment_secret, &msg.setup_id],
        );
        self.enrolled = Some((msg, key));
        Ok(())
    }

    async fn guardian_key_announcement(
        &mut self,
        _to: Peer,
    ) -> Result<GuardianPublicKey, ServiceError> {
        Ok(GuardianPublicKey {
            sealing_key: self.enrolled()?.1,
        })
    }

    async fn on_roster_announcement(
        &mut self,
        _from: Peer,
        msg: GuardianRoster,
    ) -> Result<(), ServiceError> {
        let (invitation, _) = self.enrolled()?;
        if msg.setup_id != invitation.setup_id || !msg.guardians.contains(&self.me) {
            return Err(ServiceError::Refused("left out of the roster".into()));
        }
        Ok(())
    }

    async fn on_share_delivery(
        &mut self,
        _from: Peer,
        msg: EncryptedKeyShare,
    ) -> Result<(), ServiceError> {
        let (inv, key) = self.enrolled()?;
        let opened = crypto::open(key, &inv.setup_id, &msg.sealed);
        let valid = msg.setup_id == inv.setup_id
            && share_commitment(&inv.setup_id, &opened) == msg.commitment;
        let (true, Some(bytes), Ok(index)) = (
            valid,
            crypto::array32(&opened),
            u8::try_from(msg.share_index),
        ) else {
            return Err(ServiceError::Refused(
                "the delivered share does not match its commitment".into(),
            ));
        };
        self.pending = Some((Share { index, bytes }, msg.commitment));
        Ok(())
    }

    async fn share_accepted(&mut self, _to: Peer) -> Result<msg::ShareAccepted, ServiceError> {
        let (share, commitment) = self
            .pending
            .as_ref()
            .ok_or(ServiceError::Missing("share delivery"))?;
        Ok(msg::ShareAccepted {
            share_index: u16::from(share.index),
            commitment: *commitment,
        })
    }

    async fn on_setup_complete(
        &mut self,
        _from: Peer,
        msg: msg::SetupComplete,
    ) -> Result<(), ServiceError> {
        let (inv, _) = self.enrolled()?;
        if msg.threshold != inv.threshold || msg.epoch != inv.epoch {
            return Err(ServiceError::Refused(
                "the completed setup is not the one it enrolled in".into(),
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
    let (Some((inv, _)), Some((share, _)), Some(done)) = (enrolled, pending, completed) else {
        return Err(ServiceError::Missing("setup completion"));
    };
    let guardianship = Guardianship {
        account_id: inv.account_id,
        share,
        threshold: done.threshold,
        group_public_key: done.group_public_key,
        epoch: done.epoch,
    };
    state.guardianships.push(guardianship.clone());
    Ok(guardianship)
}
