//! Services that wire every protocol of `protocols/` into the runtime.
//!
//! One module per protocol, laid out like `protocols/<category>/<file>.choreo`
//! (`recovery::guardian_ceremony` for `protocols/recovery/guardian_ceremony.choreo`).
//! Each module
//!
//! - defines the domain payload types the protocol names (`CeremonyProposal`,
//!   ...) and binds them to the generated crate through its `Types` trait;
//! - holds each role's state (parameters, a [`journal::Journal`] of domain
//!   facts, a policy) and implements the role's generated trait, taking every
//!   payload and decision from that state, as the seed's Decision Sourcing
//!   table says;
//! - exposes one `run_<role>` function per role: the runtime entry point that
//!   runs the role through the generated crate's `execute_as` and returns the
//!   role's domain outcome.
//!
//! Where a protocol names its payloads under another path
//! (`crate::sessions::SessionRequest`, `crate::amp::AmpEnvelope`,
//! `crate::consensus::ExecuteMsg`), that path is re-exported here, so every
//! type a `.choreo` file names exists under that name (`tests/payload_paths.rs`).
//!
//! | protocol | module | roles (`run_*`) |
//! |---|---|---|
//! | AuraConsensus | [`consensus::aura_consensus`] | coordinator, witness |
//! | AmpTransport | [`transport::amp_transport`] | sender, receiver |
//! | RendezvousExchange | [`rendezvous::rendezvous_exchange`] | initiator, responder |
//! | RelayedRendezvous | [`rendezvous::relayed_rendezvous`] | initiator, relay, responder |
//! | GuardianAuthRelational | [`authentication::guardian_auth_relational`] | account, guardian |
//! | DkdChoreography | [`authentication::dkd`] | initiator, participant |
//! | RecoveryProtocol | [`recovery::recovery_protocol`] | requester, coordinator, guardian |
//! | GuardianMembershipChange | [`recovery::guardian_membership`] | account, guardian, candidate |
//! | GuardianCeremony | [`recovery::guardian_ceremony`] | initiator, guardian |
//! | GuardianSetup | [`recovery::guardian_setup`] | account, guardian |
//! | InvitationExchange | [`invitation::invitation_exchange`] | sender, receiver |
//! | GuardianInvitation | [`invitation::guardian_invitation`] | inviter, invitee, guardian |
//! | EpochRotationProtocol | [`sync::epochs`] | coordinator, participant |
//! | SessionCoordinationChoreography | [`demo::coordination`] | coordinator, participant |
//!
//! Cryptography is modelled by the deterministic stand-ins of [`crypto`]
//! (digests, MACs, keystream seals; not secure) and real Shamir sharing in
//! [`shamir`].
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod authentication;
pub mod consensus;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod invitation;
pub mod journal;
pub mod recovery;
pub mod rendezvous;
pub mod shamir;
pub mod sync;
pub mod transport;

pub use error::ServiceError;

pub use authentication::{dkd, guardian_auth_relational};
pub use demo::coordination as sessions;
pub use invitation::guardian_invitation;
pub use recovery::{guardian_ceremony, guardian_membership, guardian_setup};
pub use sync::epochs;
pub use transport::amp_transport as amp;

use choreo_runtime::{Adapter, ChoreographicEffects, Peer};

/// The member index of `peer` as a protocol field (0 for a peer outside a family).
pub(crate) fn index_of(peer: &Peer) -> u16 {
    peer.index()
        .and_then(|i| u16::try_from(i).ok())
        .unwrap_or(0)
}

/// The member index this adapter runs as, or an error naming `family`.
pub(crate) fn own_index<E: ChoreographicEffects>(
    adapter: &Adapter<E>,
    family: &str,
) -> Result<u16, ServiceError> {
    let me = adapter.role();
    match me.index().map(u16::try_from) {
        Some(Ok(index)) if me.name() == family => Ok(index),
        _ => Err(ServiceError::Invalid(format!(
            "{me} does not run as a member of `{family}`"
        ))),
    }
}

/// The size of `family` in the adapter's roster, as a protocol field.
pub(crate) fn family_size<E: ChoreographicEffects>(
    adapter: &Adapter<E>,
    family: &str,
) -> Result<u16, ServiceError> {
    let size = adapter.members(family)?.len();
    u16::try_from(size)
        .map_err(|_| ServiceError::Invalid(format!("family `{family}` has {size} members")))
}
