//! GuardianSetup: hand the account's chosen guardians their recovery shares.
//!
//! Implements the seed entry **GuardianSetup** (CHOREO-REC-004, owner
//! `aura-recovery`, seed entry point `handlers/recovery_service.rs`).
//! Decision sourcing as the seed says: the setup request and the local key
//! state. Each guardian enrolls or declines from its policy (how many
//! accounts it guards, the lowest threshold it serves under) and announces
//! the key its share is sealed to. The Account splits its recovery secret
//! with Shamir among the guardians that enrolled, `threshold` of them
//! recovering it, and completes the setup only if at least `threshold`
//! enrolled and every enrolled guardian confirmed its share.

use choreo_guardian_setup::msg;
use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::shamir::{self, Share};
use crate::{family_size, index_of, own_index, ServiceError};

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

/// A guardian's enrollment: the key its share is sealed to, or its refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianPublicKey {
    /// The sealing key, or why the guardian declines.
    pub enrollment: Result<Digest, String>,
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

/// A guardian's share, sealed to its key (empty for a guardian not in the roster).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedKeyShare {
    /// The setup.
    pub setup_id: Digest,
    /// The share's evaluation point (0 when there is none).
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
    /// The setup failed.
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

/// How a setup ended for the Account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupOutcome {
    /// Completed: the roster and the group key.
    Completed(Vec<u16>, Digest),
    /// Failed, and why.
    Failed(String),
}

/// One setup as the Account plays it.
struct AccountSession<'s> {
    state: &'s mut AccountState,
    invitation: SetupInvitation,
    keys: Vec<(u16, Digest)>,
    shares: Vec<(u16, Share)>,
    confirmed: Vec<u16>,
}

impl AccountSession<'_> {
    fn complete(&self) -> bool {
        !self.shares.is_empty() && self.confirmed.len() == self.shares.len()
    }
}

impl choreo_guardian_setup::Account<SetupTypes> for AccountSession<'_> {
    fn setup_invitation(&mut self, _to: &Peer) -> SetupInvitation {
        self.invitation.clone()
    }

    fn on_guardian_key_announcement(&mut self, from: &Peer, msg: GuardianPublicKey) {
        let who = index_of(from);
        if let Ok(key) = &msg.enrollment {
            self.keys.push((who, *key));
        }
        self.state
            .journal
            .record(SetupFact::Enrolled(who, msg.enrollment.map(|_| ())));
    }

    fn roster_announcement(&mut self, _to: &Peer) -> GuardianRoster {
        // Split among the enrolled guardians once, before the first announcement.
        if self.shares.is_empty() {
            let count = self.keys.len() as u16;
            let (secret, t, id) = (
                &self.state.secret,
                self.state.threshold,
                &self.invitation.setup_id,
            );
            let shares = shamir::split(secret, t, count, id).unwrap_or_default();
            self.shares = self.keys.iter().map(|(who, _)| *who).zip(shares).collect();
        }
        GuardianRoster {
            setup_id: self.invitation.setup_id,
            guardians: self.shares.iter().map(|(who, _)| *who).collect(),
            threshold: self.state.threshold,
        }
    }

    fn share_delivery(&mut self, to: &Peer) -> EncryptedKeyShare {
        let (who, id) = (index_of(to), self.invitation.setup_id);
        let share = self.shares.iter().find(|(w, _)| *w == who).map(|(_, s)| s);
        let key = self.keys.iter().find(|(w, _)| *w == who).map(|(_, k)| k);
        match (share, key) {
            (Some(share), Some(key)) => EncryptedKeyShare {
                setup_id: id,
                share_index: u16::from(share.index),
                sealed: crypto::seal(key, &id, &share.bytes),
                commitment: share_commitment(&id, &share.bytes),
            },
            _ => EncryptedKeyShare {
                setup_id: id,
                share_index: 0,
                sealed: Vec::new(),
                commitment: [0; 32],
            },
        }
    }

    fn on_share_accepted(&mut self, from: &Peer, msg: msg::ShareAccepted) {
        let who = index_of(from);
        let share = self.shares.iter().find(|(w, _)| *w == who).map(|(_, s)| s);
        if let Some(share) = share {
            let expected = share_commitment(&self.invitation.setup_id, &share.bytes);
            if msg.share_index == u16::from(share.index) && msg.commitment == expected {
                self.confirmed.push(who);
                self.state.journal.record(SetupFact::ShareConfirmed(who));
            }
        }
    }

    fn setup_complete(&mut self, _to: &Peer) -> msg::SetupComplete {
        let key = if self.complete() {
            group_public_key(&self.state.secret)
        } else {
            [0; 32]
        };
        msg::SetupComplete {
            group_public_key: key,
            threshold: self.state.threshold,
            epoch: self.state.epoch,
        }
    }
}

/// Runs the Account: invites every guardian, shares the recovery secret among
/// those that enroll, and completes the setup when each confirmed its share.
pub async fn run_account<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut AccountState,
) -> Result<SetupOutcome, ServiceError> {
    let total = family_size(adapter, "Guardian")?;
    let epoch = state.epoch.to_le_bytes();
    let setup_id = crypto::digest("guardian-setup/id", &[&state.account_id, &epoch]);
    let invitation = SetupInvitation {
        setup_id,
        account_id: state.account_id,
        threshold: state.threshold,
        total,
        epoch: state.epoch,
    };
    let mut session = AccountSession {
        state,
        invitation,
        keys: Vec::new(),
        shares: Vec::new(),
        confirmed: Vec::new(),
    };
    choreo_guardian_setup::execute_as::<SetupTypes, _>(
        choreo_guardian_setup::As::Account(&mut session),
        adapter,
        &choreo_guardian_setup::Params::default(),
    )
    .await?;
    let complete = session.complete();
    let AccountSession {
        state,
        keys,
        confirmed,
        ..
    } = session;
    Ok(if complete {
        state
            .journal
            .record(SetupFact::Completed(confirmed.clone()));
        state.guardians = confirmed.clone();
        SetupOutcome::Completed(confirmed, group_public_key(&state.secret))
    } else {
        let why = format!(
            "{} of {total} guardians enrolled, {} confirmed",
            keys.len(),
            confirmed.len()
        );
        state.journal.record(SetupFact::Failed(why.clone()));
        SetupOutcome::Failed(why)
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

/// How a setup ended for a guardian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardianOutcome {
    /// It guards the account now.
    Enrolled(Guardianship),
    /// It declined, and why.
    Declined(String),
    /// It enrolled but the setup did not complete.
    SetupFailed,
}

/// One setup as a guardian plays it.
struct GuardianSession<'s> {
    state: &'s mut GuardianState,
    me: u16,
    invitation: Option<SetupInvitation>,
    enrollment: Result<Digest, String>,
    pending: Option<Share>,
    commitment: Digest,
    completed: Option<msg::SetupComplete>,
}

impl choreo_guardian_setup::Guardian<SetupTypes> for GuardianSession<'_> {
    fn on_setup_invitation(&mut self, _from: &Peer, msg: SetupInvitation) {
        let policy = &self.state.policy;
        self.enrollment = if self.state.guardianships.len() >= policy.max_guardianships {
            Err("guards as many accounts as its policy allows".into())
        } else if msg.threshold < policy.min_threshold || msg.threshold > msg.total {
            Err(format!(
                "threshold {} of {} is outside policy",
                msg.threshold, msg.total
            ))
        } else {
            Ok(crypto::digest(
                "guardian-setup/seal",
                &[&self.state.enrollment_secret, &msg.setup_id],
            ))
        };
        let fact = SetupFact::Enrolled(self.me, self.enrollment.clone().map(|_| ()));
        self.state.journal.record(fact);
        self.invitation = Some(msg);
    }

    fn guardian_key_announcement(&mut self, _to: &Peer) -> GuardianPublicKey {
        GuardianPublicKey {
            enrollment: self.enrollment.clone(),
        }
    }

    fn on_roster_announcement(&mut self, _from: &Peer, msg: GuardianRoster) {
        // An empty roster means the setup cannot go on: not this guardian's doing.
        if !msg.guardians.is_empty() && !msg.guardians.contains(&self.me) {
            self.enrollment = self
                .enrollment
                .clone()
                .and(Err("left out of the roster".into()));
        }
    }

    fn on_share_delivery(&mut self, _from: &Peer, msg: EncryptedKeyShare) {
        let (Ok(key), Some(inv)) = (&self.enrollment, &self.invitation) else {
            return;
        };
        let opened = crypto::open(key, &inv.setup_id, &msg.sealed);
        let valid = msg.setup_id == inv.setup_id
            && share_commitment(&inv.setup_id, &opened) == msg.commitment;
        if let (true, Some(bytes), Ok(index)) = (
            valid,
            crypto::array32(&opened),
            u8::try_from(msg.share_index),
        ) {
            self.pending = Some(Share { index, bytes });
            self.commitment = msg.commitment;
        }
    }

    fn share_accepted(&mut self, _to: &Peer) -> msg::ShareAccepted {
        match &self.pending {
            Some(share) => msg::ShareAccepted {
                share_index: u16::from(share.index),
                commitment: self.commitment,
            },
            None => msg::ShareAccepted {
                share_index: 0,
                commitment: [0; 32],
            },
        }
    }

    fn on_setup_complete(&mut self, _from: &Peer, msg: msg::SetupComplete) {
        self.completed = Some(msg);
    }
}

/// Runs a guardian: enrolls from its policy, installs its share, and keeps
/// the guardianship once the Account completes the setup.
pub async fn run_guardian<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut GuardianState,
) -> Result<GuardianOutcome, ServiceError> {
    let me = own_index(adapter, "Guardian")?;
    let mut session = GuardianSession {
        state,
        me,
        invitation: None,
        enrollment: Err("no invitation".into()),
        pending: None,
        commitment: [0; 32],
        completed: None,
    };
    choreo_guardian_setup::execute_as::<SetupTypes, _>(
        choreo_guardian_setup::As::Guardian(&mut session),
        adapter,
        &choreo_guardian_setup::Params::default(),
    )
    .await?;
    let GuardianSession {
        state,
        invitation,
        enrollment,
        pending,
        completed,
        ..
    } = session;
    if let Err(why) = enrollment {
        return Ok(GuardianOutcome::Declined(why));
    }
    match (invitation, pending, completed) {
        (Some(inv), Some(share), Some(done)) if done.group_public_key != [0; 32] => {
            let guardianship = Guardianship {
                account_id: inv.account_id,
                share,
                threshold: done.threshold,
                group_public_key: done.group_public_key,
                epoch: done.epoch,
            };
            state.guardianships.push(guardianship.clone());
            Ok(GuardianOutcome::Enrolled(guardianship))
        }
        _ => Ok(GuardianOutcome::SetupFailed),
    }
}
